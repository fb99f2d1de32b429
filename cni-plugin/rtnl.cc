#include "cni-plugin/rtnl.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace xvr::cni {
namespace {

struct NlObjectDeleter {
  void operator()(void* o) const { nl_object_put(static_cast<nl_object*>(o)); }
};
template <typename T>
using NlObject = std::unique_ptr<T, NlObjectDeleter>;

struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;

struct NlCacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using NlCache = std::unique_ptr<nl_cache, NlCacheDeleter>;

// libnl's negative NLE_* error as a Status naming the call.
absl::Status NlStatus(int err, absl::string_view what) {
  const std::string msg = absl::StrCat(what, ": ", nl_geterror(err));
  switch (err < 0 ? -err : err) {
    case NLE_EXIST:
      return absl::AlreadyExistsError(msg);
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::NotFoundError(msg);
    case NLE_PERM:
    case NLE_NOACCESS:
      return absl::PermissionDeniedError(msg);
    case NLE_INVAL:
      return absl::InvalidArgumentError(msg);
    case NLE_BUSY:
    case NLE_AGAIN:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<NlAddr> ParseAddr(const std::string& s, int family) {
  nl_addr* a = nullptr;
  if (int err = nl_addr_parse(s.c_str(), family, &a); err < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad address \"", s, "\": ", nl_geterror(err)));
  }
  return NlAddr(a);
}

std::string Ipv4String(nl_addr* a) {
  if (a == nullptr || nl_addr_get_len(a) != 4) return "0.0.0.0";
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, nl_addr_get_binary_addr(a), buf, sizeof(buf));
  return buf;
}

LinkInfo ToLinkInfo(rtnl_link* l) {
  LinkInfo out;
  out.ifindex = rtnl_link_get_ifindex(l);
  if (const char* n = rtnl_link_get_name(l)) out.name = n;
  if (const char* t = rtnl_link_get_type(l)) out.kind = t;
  if (nl_addr* a = rtnl_link_get_addr(l); a != nullptr && nl_addr_get_len(a) == 6) {
    char buf[32] = {};
    nl_addr2str(a, buf, sizeof(buf));
    out.mac = buf;
  }
  out.mtu = rtnl_link_get_mtu(l);
  out.flags = rtnl_link_get_flags(l);
  return out;
}

}  // namespace

void NlSockDeleter::operator()(nl_sock* s) const { nl_socket_free(s); }

bool LinkInfo::up() const { return (flags & IFF_UP) != 0; }

absl::StatusOr<Rtnl> Rtnl::Open() {
  std::unique_ptr<nl_sock, NlSockDeleter> s(nl_socket_alloc());
  if (!s) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  if (int err = nl_connect(s.get(), NETLINK_ROUTE); err < 0) {
    return NlStatus(err, "connect NETLINK_ROUTE");
  }
  return Rtnl(s.release());
}

absl::StatusOr<LinkInfo> Rtnl::GetLink(const std::string& name) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &raw); err < 0) {
    return NlStatus(err, absl::StrCat("get link ", name));
  }
  NlObject<rtnl_link> l(raw);
  return ToLinkInfo(l.get());
}

absl::StatusOr<std::vector<LinkInfo>> Rtnl::ListLinks() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw); err < 0) {
    return NlStatus(err, "list links");
  }
  NlCache cache(raw);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    out.push_back(ToLinkInfo(reinterpret_cast<rtnl_link*>(o)));
  }
  return out;
}

absl::Status Rtnl::CreateVeth(const std::string& name, const std::string& peer_name) {
  NlObject<rtnl_link> link(rtnl_link_veth_alloc());
  if (!link) return absl::ResourceExhaustedError("rtnl_link_veth_alloc failed");
  rtnl_link_set_name(link.get(), name.c_str());
  NlObject<rtnl_link> peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(peer.get(), peer_name.c_str());
  if (int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return NlStatus(err, absl::StrCat("create veth ", name, " peer ", peer_name));
  }
  return absl::OkStatus();
}

absl::Status Rtnl::Change(const std::string& name, absl::string_view what,
                          absl::FunctionRef<void(rtnl_link*)> set) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), &raw); err < 0) {
    return NlStatus(err, absl::StrCat(what, " ", name));
  }
  NlObject<rtnl_link> orig(raw);
  NlObject<rtnl_link> change(rtnl_link_alloc());
  if (!change) return absl::ResourceExhaustedError("rtnl_link_alloc failed");
  set(change.get());
  if (int err = rtnl_link_change(sock_.get(), orig.get(), change.get(), 0); err < 0) {
    return NlStatus(err, absl::StrCat(what, " ", name));
  }
  return absl::OkStatus();
}

absl::Status Rtnl::MoveToNetns(const std::string& name, int netns_fd) {
  return Change(name, "move to netns", [&](rtnl_link* c) { rtnl_link_set_ns_fd(c, netns_fd); });
}

absl::Status Rtnl::Rename(const std::string& name, const std::string& new_name) {
  return Change(name, absl::StrCat("rename to ", new_name),
                [&](rtnl_link* c) { rtnl_link_set_name(c, new_name.c_str()); });
}

absl::Status Rtnl::SetMtu(const std::string& name, uint32_t mtu) {
  return Change(name, absl::StrCat("set mtu ", mtu),
                [&](rtnl_link* c) { rtnl_link_set_mtu(c, mtu); });
}

absl::Status Rtnl::SetUp(const std::string& name) {
  return Change(name, "set up", [](rtnl_link* c) { rtnl_link_set_flags(c, IFF_UP); });
}

absl::Status Rtnl::DeleteLink(const std::string& name) {
  NlObject<rtnl_link> link(rtnl_link_alloc());
  if (!link) return absl::ResourceExhaustedError("rtnl_link_alloc failed");
  rtnl_link_set_name(link.get(), name.c_str());
  if (int err = rtnl_link_delete(sock_.get(), link.get()); err < 0) {
    return NlStatus(err, absl::StrCat("delete link ", name));
  }
  return absl::OkStatus();
}

absl::Status Rtnl::AddAddress(int ifindex, const std::string& cidr) {
  ASSIGN_OR_RETURN(NlAddr local, ParseAddr(cidr, AF_INET));
  NlObject<rtnl_addr> addr(rtnl_addr_alloc());
  if (!addr) return absl::ResourceExhaustedError("rtnl_addr_alloc failed");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return NlStatus(err, absl::StrCat("address ", cidr));
  }
  rtnl_addr_set_prefixlen(addr.get(), nl_addr_get_prefixlen(local.get()));
  if (int err = rtnl_addr_add(sock_.get(), addr.get(), NLM_F_EXCL); err < 0) {
    return NlStatus(err, absl::StrCat("add address ", cidr, " to ifindex ", ifindex));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AddrInfo>> Rtnl::ListAddresses() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock_.get(), &raw); err < 0) {
    return NlStatus(err, "list addresses");
  }
  NlCache cache(raw);
  std::vector<AddrInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(a) != AF_INET) continue;
    out.push_back({rtnl_addr_get_ifindex(a), Ipv4String(rtnl_addr_get_local(a)),
                   rtnl_addr_get_prefixlen(a)});
  }
  return out;
}

absl::Status Rtnl::AddRoute(const RouteSpec& r) {
  const std::string what = absl::StrCat("add route ", r.dst, r.gw.empty() ? "" : " via ",
                                        r.gw, " oif ", r.oif);
  ASSIGN_OR_RETURN(NlAddr dst, ParseAddr(r.dst, AF_INET));
  NlObject<rtnl_route> route(rtnl_route_alloc());
  if (!route) return absl::ResourceExhaustedError("rtnl_route_alloc failed");
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_route_set_scope(route.get(), static_cast<uint8_t>(r.scope));
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) return NlStatus(err, what);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();  // owned by the route once added
  if (nh == nullptr) return absl::ResourceExhaustedError("rtnl_route_nh_alloc failed");
  rtnl_route_nh_set_ifindex(nh, r.oif);
  if (!r.gw.empty()) {
    absl::StatusOr<NlAddr> gw = ParseAddr(r.gw, AF_INET);
    if (!gw.ok()) {
      rtnl_route_nh_free(nh);
      return gw.status();
    }
    rtnl_route_nh_set_gateway(nh, gw->get());  // takes its own reference
  }
  rtnl_route_add_nexthop(route.get(), nh);
  if (int err = rtnl_route_add(sock_.get(), route.get(), NLM_F_EXCL); err < 0) {
    return NlStatus(err, what);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RouteInfo>> Rtnl::ListRoutes() {
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_.get(), AF_INET, 0, &raw); err < 0) {
    return NlStatus(err, "list routes");
  }
  NlCache cache(raw);
  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* rt = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN) continue;
    RouteInfo info;
    nl_addr* dst = rtnl_route_get_dst(rt);
    info.dst = absl::StrCat(Ipv4String(dst), "/", dst ? nl_addr_get_prefixlen(dst) : 0);
    info.table = rtnl_route_get_table(rt);
    info.scope = rtnl_route_get_scope(rt);
    if (rtnl_route_get_nnexthops(rt) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(rt, 0);
      info.oif = rtnl_route_nh_get_ifindex(nh);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) info.gw = Ipv4String(gw);
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace xvr::cni

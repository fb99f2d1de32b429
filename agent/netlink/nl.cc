#include "agent/netlink/nl.h"

#include <linux/if.h>
#include <netlink/route/addr.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include <cstring>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {

absl::Status NlStatus(int nlerr, const std::string& what) {
  if (nlerr >= 0) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", nl_geterror(nlerr));
  switch (-nlerr) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::NotFoundError(msg);
    case NLE_EXIST:
      return absl::AlreadyExistsError(msg);
    case NLE_PERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<NlSock> ConnectRoute() {
  NlSock sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("nl_socket_alloc");
  RETURN_IF_ERROR(NlStatus(nl_connect(sock.get(), NETLINK_ROUTE), "nl_connect(NETLINK_ROUTE)"));
  return sock;
}

absl::StatusOr<LinkAttrs> GetLink(nl_sock* sock, const std::string& ifname) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, ifname.c_str(), &raw);
  if (err < 0) {
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
      return absl::NotFoundError(absl::StrCat("link ", ifname, " not found"));
    }
    return NlStatus(err, absl::StrCat("get link ", ifname));
  }
  NlObject<rtnl_link> link(raw);
  LinkAttrs a;
  a.ifindex = rtnl_link_get_ifindex(link.get());
  a.flags = rtnl_link_get_flags(link.get());
  a.mtu = rtnl_link_get_mtu(link.get());
  if (nl_addr* ll = rtnl_link_get_addr(link.get()); ll && nl_addr_get_len(ll) == 6) {
    a.mac = MacAddr(static_cast<const uint8_t*>(nl_addr_get_binary_addr(ll)));
  }
  return a;
}

absl::StatusOr<Ipv4Addr> FirstIpv4(nl_sock* sock, uint32_t ifindex) {
  nl_cache* raw = nullptr;
  RETURN_IF_ERROR(NlStatus(rtnl_addr_alloc_cache(sock, &raw), "dump addresses"));
  std::unique_ptr<nl_cache, void (*)(nl_cache*)> cache(raw, nl_cache_free);
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(addr) != AF_INET ||
        static_cast<uint32_t>(rtnl_addr_get_ifindex(addr)) != ifindex) {
      continue;
    }
    nl_addr* local = rtnl_addr_get_local(addr);
    if (!local || nl_addr_get_len(local) != 4) continue;
    uint32_t be = 0;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    return Ipv4Addr::FromBe(be);
  }
  return absl::NotFoundError(absl::StrCat("no IPv4 address on ifindex ", ifindex));
}

static absl::Status SetUp(nl_sock* sock, const std::string& ifname, unsigned extra_flags,
                          uint32_t mtu) {
  rtnl_link* raw = nullptr;
  RETURN_IF_ERROR(NlStatus(rtnl_link_get_kernel(sock, 0, ifname.c_str(), &raw),
                           absl::StrCat("get link ", ifname)));
  NlObject<rtnl_link> link(raw);
  NlObject<rtnl_link> change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP | extra_flags);
  if (mtu) rtnl_link_set_mtu(change.get(), mtu);
  return NlStatus(rtnl_link_change(sock, link.get(), change.get(), 0),
                  absl::StrCat("set ", ifname, " up"));
}

namespace {
// `prefix dev ifindex scope link src pref_src`, created or replaced.
absl::Status ReplaceLinkRoute(nl_sock* sock, const Ipv4Prefix& prefix, uint32_t ifindex,
                              Ipv4Addr pref_src) {
  NlObject<rtnl_route> route(rtnl_route_alloc());
  uint32_t net_be = prefix.network().be();
  NlAddr dst(nl_addr_build(AF_INET, &net_be, 4));
  nl_addr_set_prefixlen(dst.get(), prefix.length());
  uint32_t src_be = pref_src.be();
  NlAddr src(nl_addr_build(AF_INET, &src_be, 4));
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_dst(route.get(), dst.get());
  rtnl_route_set_scope(route.get(), RT_SCOPE_LINK);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_pref_src(route.get(), src.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
  return NlStatus(rtnl_route_add(sock, route.get(), NLM_F_CREATE | NLM_F_REPLACE),
                  absl::StrCat("route ", prefix.ToString(), " dev ", ifindex));
}
}  // namespace

absl::Status EnsureHostRoute(const std::string& host, const Ipv4Prefix& prefix, Ipv4Addr src) {
  ASSIGN_OR_RETURN(NlSock sock, ConnectRoute());
  ASSIGN_OR_RETURN(LinkAttrs attrs, GetLink(sock.get(), host));
  return ReplaceLinkRoute(sock.get(), prefix, attrs.ifindex, src);
}

absl::StatusOr<LinkAttrs> EnsureHostPair(const std::string& host, const std::string& peer,
                                         Ipv4Addr gateway, const Ipv4Prefix& pod_cidr,
                                         uint32_t mtu) {
  ASSIGN_OR_RETURN(NlSock sock, ConnectRoute());
  if (!GetLink(sock.get(), host).ok()) {
    NlObject<rtnl_link> veth(rtnl_link_veth_alloc());
    if (!veth) return absl::ResourceExhaustedError("rtnl_link_veth_alloc");
    rtnl_link_set_name(veth.get(), host.c_str());
    rtnl_link_set_name(rtnl_link_veth_get_peer(veth.get()), peer.c_str());
    RETURN_IF_ERROR(NlStatus(rtnl_link_add(sock.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL),
                             absl::StrCat("create veth pair ", host, "/", peer)));
    spdlog::info("created host loopback pair {}/{}", host, peer);
  }
  // ARP off: the kernel then addresses frames to the device's own MAC and
  // never waits for a neighbour; tc_host_egress rewrites them per pod.
  RETURN_IF_ERROR(SetUp(sock.get(), host, IFF_NOARP, mtu));
  RETURN_IF_ERROR(SetUp(sock.get(), peer, IFF_NOARP, mtu));
  ASSIGN_OR_RETURN(LinkAttrs attrs, GetLink(sock.get(), host));

  NlObject<rtnl_addr> addr(rtnl_addr_alloc());
  NlAddr local;
  {
    uint32_t be = gateway.be();
    local.reset(nl_addr_build(AF_INET, &be, 4));
  }
  nl_addr_set_prefixlen(local.get(), 32);
  rtnl_addr_set_local(addr.get(), local.get());
  rtnl_addr_set_ifindex(addr.get(), attrs.ifindex);
  int err = rtnl_addr_add(sock.get(), addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) return NlStatus(err, "add gateway address");

  RETURN_IF_ERROR(ReplaceLinkRoute(sock.get(), pod_cidr, attrs.ifindex, gateway));
  return attrs;
}

absl::Status SetIpv4ConfSysctl(const std::string& ifname, const std::string& key,
                               const std::string& value) {
  const std::string path = absl::StrCat("/proc/sys/net/ipv4/conf/", ifname, "/", key);
  std::ofstream f(path);
  if (!f) return absl::NotFoundError(absl::StrCat("open ", path));
  f << value;
  f.flush();
  if (!f) return absl::InternalError(absl::StrCat("write ", path));
  return absl::OkStatus();
}

}  // namespace xvr

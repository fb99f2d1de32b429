#include "agent/netlink/route_watcher.h"

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>

#include <algorithm>
#include <cstring>

#include "spdlog/spdlog.h"

namespace xvr {
namespace {

// Reads an AF_INET nl_addr (4 bytes, or 0 bytes for 0.0.0.0/0).
bool ReadIpv4(nl_addr* a, Ipv4Addr* out) {
  if (!a || nl_addr_get_family(a) != AF_INET) return false;
  const unsigned len = nl_addr_get_len(a);
  if (len == 0) {
    *out = Ipv4Addr(0);
    return true;
  }
  if (len != 4) return false;
  uint32_t be;
  std::memcpy(&be, nl_addr_get_binary_addr(a), 4);
  *out = Ipv4Addr::FromBe(be);
  return true;
}

}  // namespace

ClassifiedRoute ClassifyRoute(rtnl_route* r, const RouteWatcherOptions& opts) {
  ClassifiedRoute c;
  if (rtnl_route_get_family(r) != AF_INET) return c;
  if (rtnl_route_get_table(r) != opts.table) return c;
  if (rtnl_route_get_tos(r) != 0) return c;
  if (rtnl_route_get_flags(r) & RTM_F_CLONED) return c;
  const uint8_t proto = rtnl_route_get_protocol(r);
  if (std::find(opts.ignore_protocols.begin(), opts.ignore_protocols.end(), proto) !=
      opts.ignore_protocols.end()) {
    return c;
  }
  nl_addr* dst = rtnl_route_get_dst(r);
  Ipv4Addr net;
  if (!ReadIpv4(dst, &net)) return c;
  const int len = static_cast<int>(nl_addr_get_prefixlen(dst));
  if (len < 0 || len > 32) return c;
  const Ipv4Prefix shape(Ipv4Addr(0), len);
  c.route.dst = Ipv4Prefix(Ipv4Addr(net.value() & shape.mask()), len);
  c.route.priority = rtnl_route_get_priority(r);
  c.route.protocol = proto;
  c.cls = RouteClass::kShadow;

  if (rtnl_route_get_type(r) != RTN_UNICAST) return c;
  // The first nexthop that is not dead (multipath keeps dead ones, flagged,
  // when their link goes down). None: a nexthop object (nhid) or all dead.
  rtnl_nexthop* nh = nullptr;
  for (int i = 0; i < rtnl_route_get_nnexthops(r) && !nh; ++i) {
    rtnl_nexthop* cand = rtnl_route_nexthop_n(r, i);
    if (cand && !(rtnl_route_nh_get_flags(cand) & RTNH_F_DEAD)) nh = cand;
  }
  if (!nh) return c;
  if (rtnl_route_nh_get_via(nh) || rtnl_route_nh_get_newdst(nh) ||
      rtnl_route_nh_get_encap_mpls_dst(nh)) {
    return c;
  }
  if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) {
    if (!ReadIpv4(gw, &c.route.gateway) || nl_addr_get_len(gw) != 4) return c;
  }
  const int ifindex = rtnl_route_nh_get_ifindex(nh);
  if (ifindex <= 0) return c;
  c.route.ifindex = static_cast<uint32_t>(ifindex);
  c.cls = RouteClass::kMirror;
  return c;
}

RouteWatcher::RouteWatcher(KernelRouteSink* sink, RouteWatcherOptions opts)
    : sink_(sink),
      opts_(std::move(opts)),
      mirror_("route watcher", this, {RTNLGRP_IPV4_ROUTE, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR},
              RTM_GETROUTE, AF_INET, opts_.mirror) {}

void RouteWatcher::DumpBegin() {
  dump_.clear();
  dump_keys_.clear();
  dump_alternates_.clear();
}

void RouteWatcher::DumpObject(nl_object* obj) {
  if (nl_object_get_msgtype(obj) != RTM_NEWROUTE) return;
  const ClassifiedRoute c = ClassifyRoute(reinterpret_cast<rtnl_route*>(obj), opts_);
  if (c.cls == RouteClass::kIgnore) return;
  // The dump lists routes to one key in the kernel's order; the first is
  // the one it uses.
  if (!dump_keys_.insert(c.route.key()).second) {
    dump_alternates_.insert(c.route.key());
    return;
  }
  if (c.cls == RouteClass::kMirror) dump_.push_back(c.route);
}

void RouteWatcher::DumpCommit() {
  alternates_ = std::move(dump_alternates_);
  dump_alternates_.clear();
  spdlog::debug("route watcher: dump of {} routes ({} keys with alternates)", dump_.size(),
                alternates_.size());
  sink_->ReplaceKernelRoutes(dump_);
  dump_.clear();
  dump_.shrink_to_fit();
  dump_keys_.clear();
}

void RouteWatcher::OnRoute(rtnl_route* r, int type, int flags) {
  const ClassifiedRoute c = ClassifyRoute(r, opts_);
  if (c.cls == RouteClass::kIgnore) return;
  const KernelRouteKey key = c.route.key();
  if (type == RTM_NEWROUTE) {
    if (flags & NLM_F_APPEND) {
      // An alternate behind the route in use; the kernel ignores it too.
      alternates_.insert(key);
      return;
    }
    if (c.cls == RouteClass::kMirror) {
      sink_->UpsertKernelRoute(c.route);
    } else if (flags & NLM_F_REPLACE) {
      // A mirrored route may have been replaced by one we cannot mirror.
      mirror_.RequestResync(opts_.mirror.resync_debounce);
    }
    return;
  }
  // RTM_DELROUTE
  if (c.cls == RouteClass::kMirror) sink_->RemoveKernelRoute(c.route);
  if (alternates_.erase(key) > 0) {
    // The kernel may now use an alternate for this key: read the table.
    mirror_.RequestResync(opts_.mirror.resync_debounce);
  }
}

void RouteWatcher::Event(nl_object* obj, int type, int flags) {
  switch (type) {
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      OnRoute(reinterpret_cast<rtnl_route*>(obj), type, flags);
      return;
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      auto* link = reinterpret_cast<rtnl_link*>(obj);
      const int ifindex = rtnl_link_get_ifindex(link);
      const bool gone = type == RTM_DELLINK || !(rtnl_link_get_flags(link) & IFF_UP);
      if (gone && ifindex > 0 && sink_->HasKernelRoutesVia(static_cast<uint32_t>(ifindex))) {
        spdlog::debug("route watcher: link {} down or deleted, resyncing", ifindex);
        mirror_.RequestResync(opts_.mirror.resync_debounce);
      }
      return;
    }
    case RTM_DELADDR:
      if (rtnl_addr_get_family(reinterpret_cast<rtnl_addr*>(obj)) == AF_INET) {
        mirror_.RequestResync(opts_.mirror.resync_debounce);
      }
      return;
    default:
      return;
  }
}

}  // namespace xvr

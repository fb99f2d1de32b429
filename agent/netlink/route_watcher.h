// Mirrors the kernel's IPv4 main routing table into a KernelRouteSink
// (RouteTable → xvr_routes): a full dump at start, every change after, and a
// resync (dump + diff) whenever notifications were lost.
//
// What is mirrored: IPv4, table main (configurable), tos 0, type unicast,
// not cloned, protocol not in ignore_protocols. The nexthop is the first
// one not marked dead: gateway (0 = on-link) and output interface; a
// multipath route is reduced to that one nexthop (no ECMP in the map). Not
// mirrored, because libnl 3.7 cannot
// describe them or XDP cannot forward them: routes through nexthop objects
// (`nhid`), IPv6 gateways for IPv4 routes (RTA_VIA), MPLS encapsulation.
// Such routes, and blackhole/unreachable/prohibit routes, are simply absent
// from the map; the data path then hands those packets to the kernel.
//
// Kernel behaviours handled beyond plain add/delete notifications:
//  - `ip route replace` arrives as RTM_NEWROUTE|NLM_F_REPLACE: an upsert of
//    the same (dst, metric); replacing by a non-unicast route → resync.
//  - `ip route append` adds an alternate the kernel does not use
//    (NLM_F_APPEND): ignored, and the key is remembered, because deleting
//    the active route later makes the alternate active → resync then.
//  - IPv4 flushes routes without any notification when their interface goes
//    down or away, or an address they depend on is removed: on RTM_NEWLINK
//    without IFF_UP or RTM_DELLINK for an interface that carries routes, and
//    on every IPv4 RTM_DELADDR, a resync is scheduled (debounced).
#pragma once

#include <netlink/route/route.h>

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "agent/routing/kernel_route.h"
#include "agent/routing/rtnl_mirror.h"

namespace xvr {

struct RouteWatcherOptions {
  RtnlMirrorOptions mirror;
  uint32_t table = 254;  // RT_TABLE_MAIN
  // RTPROT_* values of routes the agent installs itself: not mirrored.
  std::vector<uint8_t> ignore_protocols;
};

// How one route from libnl is treated.
enum class RouteClass {
  kIgnore,  // another family/table/tos, cloned, or an ignored protocol
  kMirror,  // goes into the map
  kShadow,  // occupies a main-table key but cannot be mirrored (blackhole,
            // nhid, IPv6 gateway, …)
};
struct ClassifiedRoute {
  RouteClass cls = RouteClass::kIgnore;
  KernelRoute route;  // dst/priority set unless kIgnore; the rest for kMirror
};
ClassifiedRoute ClassifyRoute(rtnl_route* r, const RouteWatcherOptions& opts);

class RouteWatcher : private RtnlMirror::Handler {
 public:
  // The sink must outlive the watcher; it is called from the watcher thread.
  explicit RouteWatcher(KernelRouteSink* sink, RouteWatcherOptions opts = {});
  ~RouteWatcher() override { Stop(); }
  RouteWatcher(const RouteWatcher&) = delete;
  RouteWatcher& operator=(const RouteWatcher&) = delete;

  // Subscribes, dumps, hands the dump to the sink, then returns; changes
  // follow on the watcher thread until Stop().
  absl::Status Start() { return mirror_.Start(); }
  void Stop() { mirror_.Stop(); }
  // Re-dump and diff now (any thread).
  void RequestResync() { mirror_.RequestResync(); }
  RtnlMirrorStats stats() const { return mirror_.stats(); }

 private:
  void DumpBegin() override;
  void DumpObject(nl_object* obj) override;
  void DumpCommit() override;
  void Event(nl_object* obj, int type, int flags) override;
  void OnRoute(rtnl_route* r, int type, int flags);

  KernelRouteSink* const sink_;
  const RouteWatcherOptions opts_;
  // Watcher thread only.
  std::vector<KernelRoute> dump_;
  absl::flat_hash_set<KernelRouteKey> dump_keys_;
  absl::flat_hash_set<KernelRouteKey> dump_alternates_;
  absl::flat_hash_set<KernelRouteKey> alternates_;  // keys with more than one route
  RtnlMirror mirror_;  // last: its thread is gone before the members above
};

}  // namespace xvr

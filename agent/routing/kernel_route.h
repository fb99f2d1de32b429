// Routes as the kernel's main table holds them, and the interface through
// which the netlink route watcher hands them on (to RouteTable).
#pragma once

#include <cstdint>
#include <vector>

#include "agent/common/net_types.h"

namespace xvr {

// A main-table route is identified, as in the kernel's FIB, by destination
// and metric (tos is always 0: routes with a tos are not mirrored).
struct KernelRouteKey {
  Ipv4Prefix dst;
  uint32_t priority = 0;

  bool operator==(const KernelRouteKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const KernelRouteKey& k) {
    return H::combine(std::move(h), k.dst.network().value(), k.dst.length(), k.priority);
  }
};

// One IPv4 unicast route of the main table. Multipath routes are reduced to
// their first nexthop.
struct KernelRoute {
  Ipv4Prefix dst;
  uint32_t priority = 0;  // metric: the lowest wins among routes to the same dst
  Ipv4Addr gateway;       // 0.0.0.0 when the destination is on-link
  uint32_t ifindex = 0;   // output interface
  uint8_t protocol = 0;   // RTPROT_* (informational)

  KernelRouteKey key() const { return {dst, priority}; }
  bool operator==(const KernelRoute&) const = default;
};

// Receives the kernel's routes. Called from the watcher's thread; an
// implementation must be thread-safe if anything else touches it.
class KernelRouteSink {
 public:
  virtual ~KernelRouteSink() = default;
  // A route was added or replaced (same dst and metric, new nexthop).
  virtual void UpsertKernelRoute(const KernelRoute& route) = 0;
  // A route was deleted. Only removes the entry at route.key() if it goes
  // via the same gateway and interface: deleting an alternate (`ip route
  // append`) leaves the route the kernel uses in place.
  virtual void RemoveKernelRoute(const KernelRoute& route) = 0;
  // A full dump: afterwards exactly these routes are known (initial sync and
  // resync after lost events). For equal keys the first one wins.
  virtual void ReplaceKernelRoutes(const std::vector<KernelRoute>& routes) = 0;
  // Whether any known route leaves through ifindex. The watcher asks when a
  // link goes down or away: IPv4 flushes such routes without notifying.
  virtual bool HasKernelRoutesVia(uint32_t ifindex) const = 0;
};

}  // namespace xvr

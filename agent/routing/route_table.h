// The route LPM map (xvr_routes), merged from three sources:
//
//   LOCAL   this node's pod CIDR (the endpoint map decides delivery),
//   TUNNEL  remote nodes' pod CIDRs, set by the agent from the cluster's Nodes,
//   KERNEL  the kernel's main table, fed by RouteWatcher.
//
// For one prefix the first present source in that order is written to the
// map; removing it uncovers the next. Among kernel routes to one prefix the
// lowest metric wins, as in the kernel. Only keys whose value changes are
// written. All methods are thread-safe (one mutex; map writes happen under
// it, so the map never goes backwards).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/common/net_types.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/routing/kernel_route.h"
#include "xvr/abi.h"

namespace xvr {

using RouteMapOps = MapOps<xvr_route_key, xvr_route>;

struct TunnelRoute {
  Ipv4Prefix pod_cidr;
  Ipv4Addr node_ip;
};

// One prefix as xvrctl shows it.
struct RouteEntry {
  Ipv4Prefix prefix;
  uint32_t type = 0;     // XVR_RT_* of the winning source
  Ipv4Addr nexthop;      // KERNEL: gateway (0 = on-link)
  Ipv4Addr tunnel_dst;   // TUNNEL: remote node
  uint32_t ifindex = 0;  // KERNEL: output interface
  uint32_t metric = 0;   // KERNEL: metric of the winning route
  uint8_t protocol = 0;  // KERNEL: RTPROT_*
  uint32_t sources = 0;  // bit (1 << XVR_RT_*) per source present, shadowed ones included
  bool in_map = false;   // false while a failed map write awaits Reconcile()
};

struct RouteTableStats {
  uint64_t prefixes = 0;       // prefixes with at least one source
  uint64_t kernel_routes = 0;  // (prefix, metric) pairs from the kernel
  uint64_t tunnel_routes = 0;
  uint64_t in_map = 0;       // entries this table has in the map
  uint64_t map_updates = 0;  // successful writes, since start
  uint64_t map_deletes = 0;
  uint64_t map_errors = 0;      // failed writes/deletes (the map is then repaired by Reconcile)
  uint64_t kernel_resyncs = 0;  // full kernel dumps applied
};

class RouteTable : public KernelRouteSink {
 public:
  // The map must outlive the table. Nothing is written until a source is set.
  explicit RouteTable(RouteMapOps* map) : map_(map) {}
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // This node's pod CIDR (XVR_RT_LOCAL); nullopt removes it. Host bits are
  // cleared. Returns the first map error, if any (the table state is
  // updated regardless; Reconcile() repairs the map).
  absl::Status SetLocalPodCidr(std::optional<Ipv4Prefix> cidr);

  // Replaces the whole set of tunnel routes (XVR_RT_TUNNEL). If a pod CIDR
  // appears twice the lowest node IP wins (logged): the result does not
  // depend on the order of Nodes.
  absl::Status SetTunnelRoutes(const std::vector<TunnelRoute>& routes);

  // KernelRouteSink (called by RouteWatcher). Map errors are logged and
  // counted. The first ReplaceKernelRoutes() also reconciles the map, so a
  // pinned map left by an earlier agent ends up equal to this table.
  void UpsertKernelRoute(const KernelRoute& route) override;
  void RemoveKernelRoute(const KernelRoute& route) override;
  void ReplaceKernelRoutes(const std::vector<KernelRoute>& routes) override;
  bool HasKernelRoutesVia(uint32_t ifindex) const override;

  // Makes the map equal to the table: deletes keys the table does not have,
  // writes missing and differing values. Runs on its own after the first
  // kernel dump and after any resync that follows a failed write.
  absl::Status Reconcile();

  // Every prefix, sorted by (address, length).
  std::vector<RouteEntry> Snapshot() const;
  RouteTableStats stats() const;

  // The value written for an entry (exposed for tests and tools).
  static xvr_route_key MapKey(const Ipv4Prefix& p);

 private:
  struct KernelNh {
    uint32_t priority = 0;
    Ipv4Addr gateway;
    uint32_t ifindex = 0;
    uint8_t protocol = 0;
    bool operator==(const KernelNh&) const = default;
  };
  struct PrefixState {
    bool local = false;
    bool tunnel = false;
    Ipv4Addr tunnel_dst;
    absl::InlinedVector<KernelNh, 1> kernel;  // sorted by priority, unique priorities
    bool in_map = false;                      // `programmed` is in the map
    xvr_route programmed{};
  };
  struct PrefixKey {
    uint32_t net = 0;  // host order
    uint8_t len = 0;
    bool operator==(const PrefixKey&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const PrefixKey& k) {
      return H::combine(std::move(h), k.net, k.len);
    }
  };
  using Map = absl::flat_hash_map<PrefixKey, PrefixState>;

  static PrefixKey KeyOf(const Ipv4Prefix& p);
  static Ipv4Prefix PrefixOf(const PrefixKey& k);
  static std::optional<xvr_route> Desired(const PrefixState& s);

  // Writes the prefix's desired value if it differs from what is in the map,
  // and drops the state when no source is left. Invalidates iterators.
  absl::Status SyncLocked(const PrefixKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddKernelLocked(const KernelRoute& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReconcileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CountIfindex(uint32_t ifindex, int delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RouteMapOps* const map_;
  mutable absl::Mutex mu_;
  Map prefixes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, uint32_t> kernel_per_ifindex_ ABSL_GUARDED_BY(mu_);
  std::optional<PrefixKey> local_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PrefixKey, Ipv4Addr> tunnels_ ABSL_GUARDED_BY(mu_);
  bool needs_reconcile_ ABSL_GUARDED_BY(mu_) =
      true;  // until the first full sync, or after an error
  RouteTableStats stats_ ABSL_GUARDED_BY(mu_);
};

const char* RouteTypeName(uint32_t type);  // "local", "tunnel", "kernel", "?"

}  // namespace xvr

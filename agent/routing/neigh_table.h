// The neighbour map (xvr_neigh): IPv4 → MAC, mirrored from the kernel's ARP
// table through NeighWatcher.
//
// Usable entries have a link-layer address and a state in
// REACHABLE|STALE|DELAY|PROBE|PERMANENT|NOARP; an entry turning FAILED or
// INCOMPLETE, or deleted, leaves the map. The kernel keys neighbours by
// (interface, address) but the map by address only: when one address is
// known on several interfaces the most confirmed state wins
// (PERMANENT/NOARP > REACHABLE > DELAY/PROBE > STALE), then the lowest
// ifindex. Only keys whose value changes are written. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/routing/kernel_neigh.h"
#include "xvr/abi.h"

namespace xvr {

using NeighMapOps = MapOps<__be32, xvr_neigh>;

struct NeighEntry {
  Ipv4Addr ip;
  MacAddr mac;
  uint32_t ifindex = 0;
  uint16_t state = 0;       // NUD_*
  uint32_t candidates = 0;  // interfaces the address is usable on
  bool in_map = false;
};

struct NeighTableStats {
  uint64_t entries = 0;  // usable (ip, ifindex) entries
  uint64_t in_map = 0;
  uint64_t map_updates = 0;
  uint64_t map_deletes = 0;
  uint64_t map_errors = 0;
  uint64_t resyncs = 0;
};

// NUD states whose link-layer address can be used to send.
bool IsUsableNeighState(uint16_t state);
// "reachable", "stale", "permanent|noarp", …
std::string NeighStateName(uint16_t state);

class NeighTable : public KernelNeighSink {
 public:
  explicit NeighTable(NeighMapOps* map) : map_(map) {}
  NeighTable(const NeighTable&) = delete;
  NeighTable& operator=(const NeighTable&) = delete;

  // KernelNeighSink (called by NeighWatcher). The first
  // ReplaceKernelNeighs() also reconciles the map.
  void UpsertKernelNeigh(const KernelNeigh& neigh) override;
  void RemoveKernelNeigh(Ipv4Addr ip, uint32_t ifindex) override;
  void ReplaceKernelNeighs(const std::vector<KernelNeigh>& neighs) override;

  // Makes the map equal to the table (deletes foreign keys, writes missing
  // or differing values).
  absl::Status Reconcile();

  std::vector<NeighEntry> Snapshot() const;  // sorted by address
  NeighTableStats stats() const;

 private:
  struct Candidate {
    uint32_t ifindex = 0;
    MacAddr mac;
    uint16_t state = 0;
    bool operator==(const Candidate&) const = default;
  };
  struct IpState {
    absl::InlinedVector<Candidate, 1> cands;  // usable entries, by ifindex
    bool in_map = false;
    xvr_neigh programmed{};
  };

  static std::optional<xvr_neigh> Desired(const IpState& s);
  void SetLocked(Ipv4Addr ip, uint32_t ifindex, const Candidate* c)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SyncLocked(uint32_t ip) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReconcileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  NeighMapOps* const map_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, IpState> ips_ ABSL_GUARDED_BY(mu_);  // host-order IP
  bool needs_reconcile_ ABSL_GUARDED_BY(mu_) = true;
  NeighTableStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xvr

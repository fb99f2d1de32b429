// IPv4 neighbours (ARP entries) as the kernel holds them, and the interface
// through which the netlink neighbour watcher hands them on (to NeighTable).
#pragma once

#include <cstdint>
#include <vector>

#include "agent/common/net_types.h"

namespace xvr {

// The kernel keys a neighbour by (interface, address).
struct KernelNeigh {
  Ipv4Addr ip;
  uint32_t ifindex = 0;
  MacAddr mac;  // meaningful only if has_lladdr
  bool has_lladdr = false;
  uint16_t state = 0;  // NUD_* bits

  bool operator==(const KernelNeigh&) const = default;
};

// Called from the watcher's thread. Every entry is passed on whatever its
// state; the sink decides what is usable (an entry turning FAILED or
// INCOMPLETE arrives as an upsert and must take the old one out).
class KernelNeighSink {
 public:
  virtual ~KernelNeighSink() = default;
  virtual void UpsertKernelNeigh(const KernelNeigh& neigh) = 0;
  virtual void RemoveKernelNeigh(Ipv4Addr ip, uint32_t ifindex) = 0;
  // A full dump: afterwards exactly these entries are known.
  virtual void ReplaceKernelNeighs(const std::vector<KernelNeigh>& neighs) = 0;
};

}  // namespace xvr

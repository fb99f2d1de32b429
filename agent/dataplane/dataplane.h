// The data path as the rest of the agent sees it. The production
// implementation (bpf_dataplane.h) writes pinned BPF maps and attaches
// programs; unit tests use an in-memory fake.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/net_types.h"

namespace xvr {

// What the data path needs to know about one pod attachment.
struct DpEndpoint {
  uint32_t id = 0;
  Ipv4Addr ip;
  MacAddr mac;            // pod-side MAC
  std::string host_ifname;
  uint32_t host_ifindex = 0;
  MacAddr host_mac;       // host-side veth MAC (the pod's gateway MAC)
  std::string netns;      // the pod's netns path (CNI_NETNS)
  std::string pod_ifname; // the pod-side interface (CNI_IFNAME)
};

struct LinkInfo {
  uint32_t ifindex = 0;
  MacAddr mac;
};

// One non-zero (hook, verdict, reason) counter summed over CPUs.
struct CounterRow {
  std::string hook;
  std::string verdict;
  std::string reason;
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

class Dataplane {
 public:
  virtual ~Dataplane() = default;
  // Host-side link lookup by name in the agent's netns (NotFound if absent).
  virtual absl::StatusOr<LinkInfo> ResolveLink(const std::string& ifname) = 0;
  // Writes the endpoint maps and attaches the pod program to the host veth.
  // Idempotent: upserting the same endpoint twice is not an error.
  virtual absl::Status UpsertEndpoint(const DpEndpoint& ep) = 0;
  // Removes the map entries and detaches; succeeds if the veth is gone.
  virtual absl::Status RemoveEndpoint(const DpEndpoint& ep) = 0;
  virtual absl::StatusOr<std::vector<CounterRow>> ReadCounters() = 0;
};

}  // namespace xvr

// Pod IPv4 → "namespace/name" for flows, drops and the flow log: this
// node's endpoint records first (they know a pod before the API server
// reports its IP), then every pod of the cluster the agent watches. The
// index is rebuilt when the cluster state changes (at most every 200 ms)
// and every `refresh` otherwise (endpoints come and go without a
// generation).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "agent/state/endpoint_record.h"

namespace xvr {

namespace k8s {
class ClusterState;
}

class PodNames {
 public:
  // Either source may be null/empty. `cluster` must outlive this object.
  PodNames(std::function<std::vector<EndpointRecord>()> endpoints,
           const k8s::ClusterState* cluster, absl::Duration refresh = absl::Seconds(2));

  // "ns/name", or "" for an address no pod has.
  std::string Resolve(uint32_t ip_be);
  // Resolve as a function (for FlowTable, FlowLog, the API views).
  std::function<std::string(uint32_t)> AsFunction() {
    return [this](uint32_t ip_be) { return Resolve(ip_be); };
  }

 private:
  void RebuildLocked(uint64_t generation, absl::Time now);

  std::function<std::vector<EndpointRecord>()> endpoints_;
  const k8s::ClusterState* cluster_;
  absl::Duration refresh_;
  std::mutex mu_;
  bool built_ = false;
  uint64_t generation_ = 0;
  absl::Time built_at_;
  absl::flat_hash_map<uint32_t, std::string> by_ip_;  // network order
};

}  // namespace xvr

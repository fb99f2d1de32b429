#include "agent/flows/pod_names.h"

#include "absl/strings/str_cat.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/objects.h"

namespace xvr {

PodNames::PodNames(std::function<std::vector<EndpointRecord>()> endpoints,
                   const k8s::ClusterState* cluster, absl::Duration refresh)
    : endpoints_(std::move(endpoints)), cluster_(cluster), refresh_(refresh) {}

std::string PodNames::Resolve(uint32_t ip_be) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t gen = cluster_ ? cluster_->generation() : 0;
  const absl::Time now = absl::Now();
  // A busy cluster changes often: at most a rebuild per kMinRebuild for it.
  constexpr absl::Duration kMinRebuild = absl::Milliseconds(200);
  const absl::Duration age = now - built_at_;
  if (!built_ || age >= refresh_ || (gen != generation_ && age >= kMinRebuild)) {
    RebuildLocked(gen, now);
  }
  auto it = by_ip_.find(ip_be);
  return it == by_ip_.end() ? std::string() : it->second;
}

void PodNames::RebuildLocked(uint64_t generation, absl::Time now) {
  by_ip_.clear();
  if (cluster_) {
    for (const auto& pod : cluster_->List<k8s::Pod>()) {
      if (pod->host_network) continue;  // shares the node's address
      // A finished pod's address may already belong to a new pod.
      if (pod->phase == k8s::PodPhase::kSucceeded || pod->phase == k8s::PodPhase::kFailed) {
        continue;
      }
      for (const std::string& ip : pod->pod_ips) {
        absl::StatusOr<Ipv4Addr> a = Ipv4Addr::Parse(ip);
        if (a.ok()) by_ip_[a->be()] = absl::StrCat(pod->meta.namespace_name, "/", pod->meta.name);
      }
    }
  }
  // This node's endpoints win: they are what the data path forwards to.
  if (endpoints_) {
    for (const EndpointRecord& ep : endpoints_()) {
      if (ep.pod_name.empty()) continue;
      by_ip_[ep.ip.be()] = absl::StrCat(ep.pod_namespace, "/", ep.pod_name);
    }
  }
  built_ = true;
  generation_ = generation;
  built_at_ = now;
}

}  // namespace xvr

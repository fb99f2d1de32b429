#include "agent/policy/policy_manager.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr::policy {
namespace {

bool Same(const xvr_ident& a, const xvr_ident& b) {
  return a.identity == b.identity && a.flags == b.flags;
}
bool Same(const xvr_policy_val& a, const xvr_policy_val& b) {
  return a.rule == b.rule && a.flags == b.flags;
}
bool Same(uint32_t a, uint32_t b) { return a == b; }

bool Relevant(k8s::Kind kind) {
  return kind == k8s::Kind::kPod || kind == k8s::Kind::kNamespace ||
         kind == k8s::Kind::kNetworkPolicy || kind == k8s::Kind::kNode;
}

// Writes what `want` has and `have` lacks or holds differently; `have`
// follows every successful write.
template <typename K, typename V, typename Fn>
absl::Status Upsert(const std::map<K, V>& want, std::map<K, V>* have, Fn&& write,
                    uint64_t* writes) {
  for (const auto& [k, v] : want) {
    auto it = have->find(k);
    if (it != have->end() && Same(it->second, v)) continue;
    RETURN_IF_ERROR(write(k, v));
    (*have)[k] = v;
    ++*writes;
  }
  return absl::OkStatus();
}

// Deletes what `have` has and `want` lacks.
template <typename K, typename V, typename Fn>
absl::Status Prune(const std::map<K, V>& want, std::map<K, V>* have, Fn&& erase,
                   uint64_t* deletes) {
  for (auto it = have->begin(); it != have->end();) {
    if (want.contains(it->first)) {
      ++it;
      continue;
    }
    RETURN_IF_ERROR(erase(it->first));
    it = have->erase(it);
    ++*deletes;
  }
  return absl::OkStatus();
}

}  // namespace

PolicyManager::PolicyManager(k8s::ClusterState* state, PolicyMaps* maps, PolicyManagerOptions opts,
                             EndpointLister endpoints, GenBumper bump_policy_gen)
    : state_(state),
      maps_(maps),
      opts_(std::move(opts)),
      endpoints_(std::move(endpoints)),
      bump_policy_gen_(std::move(bump_policy_gen)),
      reconciler_(state_,
                  {.log_name = "policy",
                   .debounce = opts_.debounce,
                   .retry_delay = opts_.retry_delay,
                   .tick_interval = endpoints_ ? opts_.endpoint_poll : absl::ZeroDuration()},
                  {.relevant = [](const k8s::Change& c) { return Relevant(c.key.kind); },
                   .reconcile =
                       [this](std::optional<absl::Time> changed_at) {
                         return ReconcileState(changed_at);
                       },
                   .synced = [this] { return stats().synced; },
                   .tick = [this] { return EndpointsChanged(); }}) {}

PolicyManager::~PolicyManager() { Stop(); }

absl::Status PolicyManager::Start() {
  if (state_ == nullptr) return absl::FailedPreconditionError("PolicyManager: no ClusterState");
  reconciler_.Start();
  return absl::OkStatus();
}

void PolicyManager::Stop() { reconciler_.Stop(); }

void PolicyManager::Trigger() { reconciler_.MarkDirty(); }

std::vector<LocalEndpoint> PolicyManager::ListEndpoints() const {
  std::vector<LocalEndpoint> eps;
  if (endpoints_) eps = endpoints_();
  std::sort(eps.begin(), eps.end());
  return eps;
}

bool PolicyManager::EndpointsChanged() {
  const std::vector<LocalEndpoint> now = ListEndpoints();
  absl::MutexLock l(&desired_mu_);
  return compiled_endpoints_ && *compiled_endpoints_ != now;
}

absl::Status PolicyManager::Reconcile() { return ReconcileState(std::nullopt); }

absl::Status PolicyManager::ReconcileState(std::optional<absl::Time> changed_at) {
  if (state_ == nullptr) return absl::FailedPreconditionError("PolicyManager: no ClusterState");
  const bool synced =
      !opts_.wait_for_sync ||
      (state_->Synced(k8s::Kind::kPod) && state_->Synced(k8s::Kind::kNamespace) &&
       state_->Synced(k8s::Kind::kNetworkPolicy) && state_->Synced(k8s::Kind::kNode));
  {
    absl::MutexLock l(&stats_mu_);
    stats_.synced = synced;
  }
  if (!synced) {
    return absl::UnavailableError(
        "waiting for Pods, Namespaces, NetworkPolicies and Nodes to be listed");
  }
  NodeContext node = opts_.node;
  node.endpoints = ListEndpoints();
  const k8s::Snapshot snap = state_->GetSnapshot();
  const absl::Time start = absl::Now();
  auto desired = std::make_shared<DesiredPolicy>(CompilePolicy(snap, node));
  const absl::Duration compile = absl::Now() - start;
  {
    absl::MutexLock l(&desired_mu_);
    compiled_endpoints_ = std::move(node.endpoints);
  }
  {
    absl::MutexLock l(&stats_mu_);
    stats_.last_compile_duration = compile;
  }
  absl::MutexLock l(&mu_);
  return ProgramLocked(std::move(desired), changed_at);
}

absl::Status PolicyManager::Program(DesiredPolicy desired) {
  absl::MutexLock l(&mu_);
  return ProgramLocked(std::make_shared<DesiredPolicy>(std::move(desired)), std::nullopt);
}

absl::Status PolicyManager::ProgramLocked(std::shared_ptr<const DesiredPolicy> desired,
                                          std::optional<absl::Time> changed_at) {
  const absl::Time start = absl::Now();
  Delta delta;
  absl::Status s = adopted_ ? absl::OkStatus() : AdoptLocked();
  if (s.ok()) s = ApplyLocked(*desired, &delta);
  pending_bump_ |= delta.writes + delta.deletes > 0;
  std::optional<uint32_t> gen;
  if (s.ok() && pending_bump_) {
    // Only once the maps hold the whole new state: a flow re-evaluated in
    // between would see a half-written policy.
    if (bump_policy_gen_) gen = bump_policy_gen_();
    pending_bump_ = false;
  }
  const absl::Time end = absl::Now();

  // Log a warning once, not on every reconcile that still has it.
  const std::set<std::string> before(warnings_.begin(), warnings_.end());
  for (const std::string& w : desired->warnings) {
    if (!before.contains(w)) spdlog::warn("policy: {}", w);
  }
  warnings_ = desired->warnings;
  const uint64_t generation = desired->generation;
  {
    absl::MutexLock dl(&desired_mu_);
    desired_ = std::move(desired);
  }
  if (delta.writes + delta.deletes > 0) {
    spdlog::info("policy: {} writes, {} deletes in {}{}", delta.writes, delta.deletes,
                 absl::FormatDuration(end - start),
                 gen ? absl::StrCat("; policy generation ", *gen) : std::string());
  }

  absl::MutexLock sl(&stats_mu_);
  stats_.last_reconcile_duration = end - start + stats_.last_compile_duration;
  stats_.writes += delta.writes;
  stats_.deletes += delta.deletes;
  stats_.ipcache_entries = ipcache_.size();
  stats_.cidr_entries = cidrs_.size();
  stats_.policy_entries = policy_.size();
  stats_.warnings = warnings_.size();
  if (gen) {
    ++stats_.gen_bumps;
    stats_.policy_gen = *gen;
  }
  if (!s.ok()) {
    ++stats_.errors;
    stats_.last_error = s.ToString();
    return s;
  }
  ++stats_.reconciles;
  stats_.last_error.clear();
  stats_.programmed_generation = std::max(stats_.programmed_generation, generation);
  if (changed_at) {
    stats_.last_change_to_programmed = end - *changed_at;
    stats_.max_change_to_programmed =
        std::max(stats_.max_change_to_programmed, stats_.last_change_to_programmed);
  }
  return absl::OkStatus();
}

absl::Status PolicyManager::AdoptLocked() {
  ASSIGN_OR_RETURN(ipcache_, maps_->ListIdents());
  ASSIGN_OR_RETURN(cidrs_, maps_->ListCidrs());
  ASSIGN_OR_RETURN(policy_, maps_->ListPolicy());
  adopted_ = true;
  {
    absl::MutexLock l(&stats_mu_);
    stats_.adopted_ipcache = ipcache_.size();
    stats_.adopted_cidr = cidrs_.size();
    stats_.adopted_policy = policy_.size();
  }
  if (!ipcache_.empty() || !cidrs_.empty() || !policy_.empty()) {
    spdlog::info("policy: found {} addresses, {} prefixes and {} policy entries in the maps",
                 ipcache_.size(), cidrs_.size(), policy_.size());
  }
  return absl::OkStatus();
}

absl::Status PolicyManager::ApplyLocked(const DesiredPolicy& d, Delta* delta) {
  PolicyMaps* m = maps_;
  // 1-3: additions and changes.
  RETURN_IF_ERROR(Upsert(
      d.entries, &policy_,
      [m](const PolicyKey& k, const xvr_policy_val& v) { return m->UpdatePolicy(k, v); },
      &delta->writes));
  RETURN_IF_ERROR(Upsert(
      d.cidr_ids, &cidrs_, [m](const Ipv4Prefix& p, uint32_t id) { return m->UpdateCidr(p, id); },
      &delta->writes));
  RETURN_IF_ERROR(Upsert(
      d.ipcache, &ipcache_, [m](Ipv4Addr ip, const xvr_ident& v) { return m->UpdateIdent(ip, v); },
      &delta->writes));
  // 4: deletions.
  RETURN_IF_ERROR(Prune(
      d.ipcache, &ipcache_, [m](Ipv4Addr ip) { return m->DeleteIdent(ip); }, &delta->deletes));
  RETURN_IF_ERROR(Prune(
      d.cidr_ids, &cidrs_, [m](const Ipv4Prefix& p) { return m->DeleteCidr(p); }, &delta->deletes));
  RETURN_IF_ERROR(Prune(
      d.entries, &policy_, [m](const PolicyKey& k) { return m->DeletePolicy(k); },
      &delta->deletes));
  return absl::OkStatus();
}

bool PolicyManager::WaitForGeneration(uint64_t generation, absl::Duration timeout) const {
  absl::MutexLock l(&stats_mu_);
  auto reached = [this, generation]() ABSL_SHARED_LOCKS_REQUIRED(stats_mu_) {
    return stats_.programmed_generation >= generation;
  };
  return stats_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

PolicyManagerStats PolicyManager::stats() const {
  absl::MutexLock l(&stats_mu_);
  return stats_;
}

std::shared_ptr<const DesiredPolicy> PolicyManager::desired() const {
  absl::MutexLock l(&desired_mu_);
  return desired_;
}

}  // namespace xvr::policy

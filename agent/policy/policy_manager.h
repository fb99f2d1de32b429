// Programs the policy maps (xvr_ipcache, xvr_cidr_id, xvr_policy) from the
// cluster's Pods, Namespaces, NetworkPolicies and Nodes plus this node's
// endpoints, the way the service manager programs services: on every
// change, after a short debounce that coalesces bursts, the whole desired
// state is compiled from a ClusterState snapshot (CompilePolicy) and diffed
// against what is in the maps; only differences are written.
//
// What is in the maps is read back on the first reconcile, so an agent
// restart with an unchanged cluster writes nothing and leaves the policy
// generation alone (flows keep their verdicts).
//
// Write order keeps the data path on the safe side at every step:
//   1. new and changed xvr_policy entries (a newly isolated pod has its
//      allow entries before its isolation flag);
//   2. new and changed xvr_cidr_id prefixes (a new, longer prefix appears
//      once the entries that name its identity exist);
//   3. new and changed xvr_ipcache entries (identities and isolation flags);
//   4. deletions: xvr_ipcache, then xvr_cidr_id, then xvr_policy.
// Then, when anything was written, `bump_policy_gen` (xvr_flow_cfg
// policy_gen + 1) makes the data path re-evaluate existing flows. A failed
// write stops the reconcile; the worker retries after `retry_delay`, and the
// generation is bumped once the retry completes.
//
// Triggers: ClusterState changes of Pods, Namespaces, NetworkPolicies and
// Nodes; Trigger() (an endpoint was added or deleted); and, because CNI ADD
// and DEL reach the endpoint manager directly, a cheap poll of the local
// endpoint list every `endpoint_poll`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/debounced_reconciler.h"
#include "agent/policy/policy_compiler.h"
#include "agent/policy/policy_maps.h"

namespace xvr::policy {

struct PolicyManagerOptions {
  // This node (its `endpoints` are ignored: they come from the lister).
  NodeContext node;
  absl::Duration debounce = absl::Milliseconds(20);
  absl::Duration retry_delay = absl::Seconds(1);
  // How often the local endpoint list is compared with the one last
  // compiled; zero: never (Trigger() only).
  absl::Duration endpoint_poll = absl::Milliseconds(100);
  // Don't program before the sources have listed Pods, Namespaces,
  // NetworkPolicies and Nodes: after an agent restart an empty store would
  // otherwise lift every pod's isolation for a moment.
  bool wait_for_sync = true;
  // Empty when `maps` are the data path's; else why they are not (the
  // policy is computed and shown, not enforced).
  std::string not_enforced_reason;
};

struct PolicyManagerStats {
  uint64_t reconciles = 0;  // successful
  uint64_t errors = 0;      // failed (each retried)
  std::string last_error;   // "" after a success
  absl::Duration last_compile_duration;
  absl::Duration last_reconcile_duration;  // compile + diff + writes
  // Notification → maps written, for the last batch of changes (includes
  // the debounce) and the largest seen.
  absl::Duration last_change_to_programmed;
  absl::Duration max_change_to_programmed;
  uint64_t programmed_generation = 0;  // ClusterState generation last programmed
  bool synced = false;
  // In the maps now.
  uint64_t ipcache_entries = 0;
  uint64_t cidr_entries = 0;
  uint64_t policy_entries = 0;
  // Since start.
  uint64_t writes = 0;  // updates of any of the three maps
  uint64_t deletes = 0;
  uint64_t gen_bumps = 0;
  uint32_t policy_gen = 0;  // as last returned by bump_policy_gen
  // Found in the maps on the first reconcile.
  uint64_t adopted_ipcache = 0;
  uint64_t adopted_cidr = 0;
  uint64_t adopted_policy = 0;
  uint64_t warnings = 0;  // of the last compile
};

class PolicyManager {
 public:
  using EndpointLister = std::function<std::vector<LocalEndpoint>()>;
  using GenBumper = std::function<uint32_t()>;

  // `state` (may be null when only Program() is used) and `maps` must
  // outlive the manager. `endpoints` and `bump_policy_gen` may be empty.
  PolicyManager(k8s::ClusterState* state, PolicyMaps* maps, PolicyManagerOptions opts,
                EndpointLister endpoints, GenBumper bump_policy_gen);
  ~PolicyManager();  // Stop()s
  PolicyManager(const PolicyManager&) = delete;
  PolicyManager& operator=(const PolicyManager&) = delete;

  // Subscribes to the ClusterState and starts the worker, which programs
  // the current state at once and then follows changes. Idempotent.
  absl::Status Start();
  // Unsubscribes and joins the worker. The maps keep their contents.
  void Stop();
  // Something outside the ClusterState changed (an endpoint came or went).
  void Trigger();

  // One compile + program on the caller's thread. Unavailable while
  // wait_for_sync holds it back.
  absl::Status Reconcile();
  // Programs the given desired state (tests, tools).
  absl::Status Program(DesiredPolicy desired);

  // Waits until a reconcile has programmed ClusterState generation
  // `generation` or later; false on timeout.
  bool WaitForGeneration(uint64_t generation, absl::Duration timeout) const;

  PolicyManagerStats stats() const;
  // The last compiled state (empty before the first compile).
  std::shared_ptr<const DesiredPolicy> desired() const;
  const std::string& not_enforced_reason() const { return opts_.not_enforced_reason; }

 private:
  struct Delta {
    uint64_t writes = 0;
    uint64_t deletes = 0;
  };

  absl::Status ReconcileState(std::optional<absl::Time> changed_at);
  absl::Status ProgramLocked(std::shared_ptr<const DesiredPolicy> desired,
                             std::optional<absl::Time> changed_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AdoptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyLocked(const DesiredPolicy& d, Delta* delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<LocalEndpoint> ListEndpoints() const;
  bool EndpointsChanged();

  k8s::ClusterState* const state_;
  PolicyMaps* const maps_;
  const PolicyManagerOptions opts_;
  const EndpointLister endpoints_;
  const GenBumper bump_policy_gen_;

  // What is in the maps; held for a whole program.
  mutable absl::Mutex mu_;
  bool adopted_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_bump_ ABSL_GUARDED_BY(mu_) = false;  // written, generation not bumped yet
  std::map<Ipv4Addr, xvr_ident> ipcache_ ABSL_GUARDED_BY(mu_);
  std::map<Ipv4Prefix, uint32_t> cidrs_ ABSL_GUARDED_BY(mu_);
  std::map<PolicyKey, xvr_policy_val> policy_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex desired_mu_;
  std::shared_ptr<const DesiredPolicy> desired_ ABSL_GUARDED_BY(desired_mu_);
  // The endpoint list of the last compile (for the poll).
  std::optional<std::vector<LocalEndpoint>> compiled_endpoints_ ABSL_GUARDED_BY(desired_mu_);

  mutable absl::Mutex stats_mu_;
  PolicyManagerStats stats_ ABSL_GUARDED_BY(stats_mu_);

  // Follows the ClusterState (and polls the endpoints); last, so it stops
  // before the rest goes.
  k8s::DebouncedReconciler reconciler_;
};

}  // namespace xvr::policy

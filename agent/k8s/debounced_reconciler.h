// The worker behind the service and policy managers: it follows a
// ClusterState, and after a change the owner cares about, waits `debounce`
// (changes within it of the first go together) and calls the owner's
// reconcile on its own thread. A failed reconcile is retried after
// `retry_delay`, or sooner (kSyncPoll) while it fails only because the
// sources have not listed yet. The first reconcile after Start() goes
// without a debounce.
//
// The subscription reaches the reconciler through a shared hook that Stop()
// cuts under its lock, so a notification in flight on another thread never
// touches a stopped (or destroyed) reconciler or owner.
//
// An optional periodic `tick`, called on the worker while nothing is
// pending, lets the owner look for changes the ClusterState does not see
// (returning true marks the state dirty).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/k8s/cluster_state.h"

namespace xvr::k8s {

struct DebouncedReconcilerOptions {
  std::string log_name;  // log prefix: "services", "policy"
  absl::Duration debounce = absl::Milliseconds(20);
  absl::Duration retry_delay = absl::Seconds(1);
  // How often `tick` is called; zero: never.
  absl::Duration tick_interval = absl::ZeroDuration();
  // Optional: told how long each reconcile took and whether it succeeded
  // (waits for the sources' first list are not reported). Called on the
  // worker thread. When unset, the process-wide observer (below) is.
  std::function<void(absl::Duration took, bool ok)> on_reconciled = nullptr;
};

// Process-wide observer of every reconciler without its own on_reconciled,
// keyed by log_name ("services", "policy"): the agent's metrics. Pass
// nullptr to clear. Thread-safe.
using ReconcileObserver =
    std::function<void(const std::string& name, absl::Duration took, bool ok)>;
void SetReconcileObserver(ReconcileObserver observer);

struct DebouncedReconcilerCallbacks {
  // Whether a ClusterState change needs a reconcile.
  std::function<bool(const Change&)> relevant;
  // One reconcile; `changed_at` is the first change it answers (unset for
  // the first reconcile). Unavailable while the sources have not listed.
  std::function<absl::Status(std::optional<absl::Time> changed_at)> reconcile;
  // Whether the sources had listed at the last reconcile (an Unavailable
  // reconcile while not synced is a wait, not a failure).
  std::function<bool()> synced;
  // Optional; see above. Called without any lock held.
  std::function<bool()> tick = nullptr;
};

class DebouncedReconciler {
 public:
  // `state` must outlive the reconciler; the callbacks are only called
  // between Start() and the end of Stop().
  DebouncedReconciler(ClusterState* state, DebouncedReconcilerOptions opts,
                      DebouncedReconcilerCallbacks callbacks);
  ~DebouncedReconciler();  // Stop()s
  DebouncedReconciler(const DebouncedReconciler&) = delete;
  DebouncedReconciler& operator=(const DebouncedReconciler&) = delete;

  // Subscribes and starts the worker. Idempotent.
  void Start();
  // Unsubscribes and joins the worker. Idempotent.
  void Stop();
  // Something changed: reconcile after the debounce.
  void MarkDirty();

 private:
  struct Hook;

  void OnChanges(const std::vector<Change>& changes);
  void Run();

  ClusterState* const state_;
  const DebouncedReconcilerOptions opts_;
  const DebouncedReconcilerCallbacks cb_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time dirty_since_ ABSL_GUARDED_BY(mu_);  // first change not yet reconciled
  std::optional<absl::Time> unprogrammed_since_ ABSL_GUARDED_BY(mu_);
  ClusterState::SubscriptionId sub_ = 0;
  std::shared_ptr<Hook> hook_;
  std::thread worker_;
};

}  // namespace xvr::k8s

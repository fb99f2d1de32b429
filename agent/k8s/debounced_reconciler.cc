#include "agent/k8s/debounced_reconciler.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace xvr::k8s {
namespace {

// How often the worker looks again while the sources have not listed yet.
constexpr absl::Duration kSyncPoll = absl::Milliseconds(100);

absl::Mutex g_observer_mu(absl::kConstInit);
ReconcileObserver* g_observer ABSL_GUARDED_BY(g_observer_mu) = nullptr;

void NotifyObserver(const std::string& name, absl::Duration took, bool ok) {
  absl::MutexLock l(&g_observer_mu);
  if (g_observer != nullptr && *g_observer) (*g_observer)(name, took, ok);
}

}  // namespace

void SetReconcileObserver(ReconcileObserver observer) {
  absl::MutexLock l(&g_observer_mu);
  delete g_observer;
  g_observer = observer ? new ReconcileObserver(std::move(observer)) : nullptr;
}

// The ClusterState listener's way back to the reconciler; Stop() cuts it
// under the lock, so a notification still in flight on another thread never
// touches a stopped (or destroyed) reconciler.
struct DebouncedReconciler::Hook {
  absl::Mutex mu;
  DebouncedReconciler* r ABSL_GUARDED_BY(mu) = nullptr;
};

DebouncedReconciler::DebouncedReconciler(ClusterState* state, DebouncedReconcilerOptions opts,
                                         DebouncedReconcilerCallbacks callbacks)
    : state_(state), opts_(std::move(opts)), cb_(std::move(callbacks)) {}

DebouncedReconciler::~DebouncedReconciler() { Stop(); }

void DebouncedReconciler::Start() {
  {
    absl::MutexLock l(&mu_);
    if (started_) return;
    started_ = true;
    stop_ = false;
    // The first reconcile goes without a debounce.
    dirty_ = true;
    dirty_since_ = absl::Now() - opts_.debounce;
  }
  hook_ = std::make_shared<Hook>();
  {
    absl::MutexLock l(&hook_->mu);
    hook_->r = this;
  }
  sub_ = state_->Subscribe([hook = hook_](const std::vector<Change>& changes) {
    absl::MutexLock l(&hook->mu);
    if (hook->r != nullptr) hook->r->OnChanges(changes);
  });
  worker_ = std::thread([this] { Run(); });
}

void DebouncedReconciler::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (!started_) return;
    started_ = false;
    stop_ = true;
  }
  state_->Unsubscribe(sub_);
  {
    absl::MutexLock l(&hook_->mu);
    hook_->r = nullptr;
  }
  hook_.reset();
  if (worker_.joinable()) worker_.join();
}

void DebouncedReconciler::MarkDirty() {
  const absl::Time now = absl::Now();
  absl::MutexLock l(&mu_);
  if (!dirty_) {
    dirty_ = true;
    dirty_since_ = now;
  }
  if (!unprogrammed_since_) unprogrammed_since_ = now;
}

void DebouncedReconciler::OnChanges(const std::vector<Change>& changes) {
  if (std::any_of(changes.begin(), changes.end(),
                  [this](const Change& c) { return cb_.relevant(c); })) {
    MarkDirty();
  }
}

void DebouncedReconciler::Run() {
  std::optional<absl::Time> retry_at;
  const bool ticking = cb_.tick && opts_.tick_interval > absl::ZeroDuration();
  absl::Time next_tick = absl::Now() + opts_.tick_interval;
  bool logged_wait = false;
  mu_.Lock();
  for (;;) {
    auto work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || dirty_; };
    absl::Time deadline = ticking ? next_tick : absl::InfiniteFuture();
    if (retry_at) deadline = std::min(deadline, *retry_at);
    mu_.AwaitWithDeadline(absl::Condition(&work), deadline);
    if (stop_) break;
    const absl::Time now = absl::Now();
    if (!dirty_ && ticking && now >= next_tick) {
      next_tick = now + opts_.tick_interval;
      mu_.Unlock();
      const bool changed = cb_.tick();
      if (changed) MarkDirty();
      mu_.Lock();
    }
    const bool retry_due = retry_at && absl::Now() >= *retry_at;
    if (!dirty_ && !retry_due) continue;
    if (dirty_) {
      // Debounce: changes within `debounce` of the first go together.
      mu_.AwaitWithDeadline(absl::Condition(&stop_), dirty_since_ + opts_.debounce);
      if (stop_) break;
    }
    dirty_ = false;
    retry_at.reset();
    const std::optional<absl::Time> since = unprogrammed_since_;
    unprogrammed_since_.reset();
    mu_.Unlock();

    const absl::Time began = absl::Now();
    const absl::Status s = cb_.reconcile(since);
    const absl::Time done = absl::Now();
    const bool waiting = absl::IsUnavailable(s) && !(cb_.synced && cb_.synced());
    if (!waiting) {
      if (opts_.on_reconciled) {
        opts_.on_reconciled(done - began, s.ok());
      } else {
        NotifyObserver(opts_.log_name, done - began, s.ok());
      }
    }
    if (s.ok()) {
      logged_wait = false;
    } else if (waiting) {
      if (!logged_wait) spdlog::info("{}: {}", opts_.log_name, std::string(s.message()));
      logged_wait = true;
    } else {
      spdlog::warn("{}: reconcile failed, retrying in {}: {}", opts_.log_name,
                   absl::FormatDuration(opts_.retry_delay), s.ToString());
    }

    mu_.Lock();
    if (!s.ok()) {
      if (since && (!unprogrammed_since_ || *since < *unprogrammed_since_)) {
        unprogrammed_since_ = since;
      }
      retry_at = done + (waiting ? std::min(kSyncPoll, opts_.retry_delay) : opts_.retry_delay);
    }
  }
  mu_.Unlock();
}

}  // namespace xvr::k8s

// Programs the service maps (xvr_svc, xvr_backends, xvr_maglev) from the
// service model, the way kube-proxy syncs its rules: on every change of
// Services, EndpointSlices, Pods or Nodes, after a short debounce that
// coalesces bursts, the whole model is rebuilt from a ClusterState snapshot
// and diffed against what is programmed; only differences are written.
//
// Write order keeps the data path consistent at every step:
//   1. new and changed backends (xvr_backends), so every id a table names
//      exists;
//   2. Maglev tables of frontends whose backend set changed (a new inner
//      map swapped in whole; M only grows while a frontend has backends, so
//      a table is never smaller than the M its xvr_svc entry names);
//   3. xvr_svc entries (count, M, flags, affinity timeout); a frontend
//      without backends gets count 0 first and loses its table after;
//   4. vanished frontends: xvr_svc entry, then table, then the table id;
//   5. flows and affinities of removed backends (see "Flush");
//   6. backends no frontend uses any more.
// A failed write stops the reconcile; what was written is remembered, and
// the worker retries after `retry_delay`.
//
// Ids. A backend id is stable per BackendAddr as long as some frontend uses
// it and is never 0; a table id is stable per FrontendKey. Freed ids are
// reused only after the allocator has gone round once (like PIDs), so an
// id seen in a flow entry rarely names something new. On its first
// reconcile the manager adopts the ids found in the maps (an agent restart
// keeps every backend's id, so flow entries stay valid) and reads the
// tables back, so a restart with an unchanged cluster writes nothing.
//
// Flush. When a backend leaves a UDP frontend, the manager deletes the
// xvr_svc_ct entries of that frontend's table that point at it, with their
// xvr_svc_rev entries — kube-proxy's conntrack flush for UDP, without which
// a client that keeps sending (DNS) would keep talking to a pod that is
// gone. TCP (and SCTP) flow entries are not flushed: while the backend is
// still used by another frontend its connections carry on; once its id is
// gone from xvr_backends the data path picks a new backend for the next
// packet, and the new backend resets the connection (the old pod is gone
// anyway, so the client learns at once instead of timing out). Affinity entries of the frontend that point at a removed
// backend are deleted for every protocol.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/debounced_reconciler.h"
#include "agent/services/maglev.h"
#include "agent/services/service_maps.h"
#include "agent/services/service_model.h"

namespace xvr::services {

struct ServiceManagerOptions {
  std::string local_node;
  // Changes arriving within `debounce` of the first one are programmed
  // together.
  absl::Duration debounce = absl::Milliseconds(20);
  // After a failed reconcile (a map write refused).
  absl::Duration retry_delay = absl::Seconds(1);
  // Don't program before the sources have listed Services and
  // EndpointSlices (ClusterState::Synced): after an agent restart an empty
  // store would otherwise delete every frontend for a moment.
  bool wait_for_sync = true;
};

struct ServiceManagerStats {
  uint64_t reconciles = 0;  // successful reconciles
  uint64_t errors = 0;      // failed reconciles (each retried)
  std::string last_error;   // "" after a success
  absl::Duration last_reconcile_duration;
  // ClusterState notification → maps written, for the last batch of
  // changes (from the first notification of the batch, so it includes the
  // debounce) and the largest seen.
  absl::Duration last_change_to_programmed;
  absl::Duration max_change_to_programmed;
  uint64_t programmed_generation = 0;  // ClusterState generation last programmed
  bool synced = false;                 // the sources had listed when last asked
  // What is programmed now.
  uint64_t frontends = 0;
  uint64_t backends = 0;
  uint64_t tables = 0;
  // Since start.
  uint64_t backend_writes = 0;
  uint64_t table_writes = 0;
  uint64_t frontend_writes = 0;
  uint64_t deletes = 0;             // xvr_svc, xvr_backends and table deletions
  uint64_t flushed_flows = 0;       // xvr_svc_ct entries (UDP) of removed backends
  uint64_t flushed_rev = 0;         // their xvr_svc_rev entries
  uint64_t flushed_affinities = 0;  // xvr_svc_aff entries of removed backends
  uint64_t adopted_frontends = 0;   // found in the maps on the first reconcile
  uint64_t adopted_backends = 0;
  uint64_t warnings = 0;  // model warnings of the last reconcile
};

// One frontend as it is programmed.
struct ProgrammedService {
  Frontend frontend;                  // the model's view; backends sorted
  std::vector<uint32_t> backend_ids;  // parallel to frontend.backends
  uint32_t table = 0;
  uint32_t maglev_size = 0;  // 0 without backends
  MaglevHealth maglev;       // of the table last written (or read back)
};

// A table compared with the kernel's copy (VerifyTables).
struct TableCheck {
  FrontendKey key;
  uint32_t table = 0;
  absl::Status status;       // reading it back failed
  uint32_t kernel_size = 0;  // size of the kernel's table
  uint32_t mismatches = 0;   // slots that differ (+ size difference)
};

class ServiceManager {
 public:
  // `state` (may be null when only ReconcileFrontends is used) and `maps`
  // must outlive the manager.
  ServiceManager(k8s::ClusterState* state, ServiceMaps* maps, ServiceManagerOptions opts);
  ~ServiceManager();  // Stop()s
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // Subscribes to the ClusterState and starts the worker, which programs
  // the current state at once and then follows changes. Idempotent.
  absl::Status Start();
  // Unsubscribes and joins the worker. Idempotent. The maps keep their
  // contents (the data path goes on serving).
  void Stop();

  // One reconcile from a fresh ClusterState snapshot, on the caller's
  // thread. Unavailable while wait_for_sync holds it back.
  absl::Status Reconcile();
  // One reconcile to the given model (one entry per key, any order); for
  // tests and tools. A frontend for which no table id is left (all
  // TableCapacity() in use) is skipped with a warning.
  absl::Status ReconcileFrontends(const std::vector<Frontend>& frontends,
                                  std::vector<std::string> warnings = {});

  // Waits until a reconcile has programmed ClusterState generation
  // `generation` or later; false on timeout.
  bool WaitForGeneration(uint64_t generation, absl::Duration timeout) const;

  ServiceManagerStats stats() const;
  std::vector<ProgrammedService> Programmed() const;  // sorted by key
  std::vector<std::string> warnings() const;          // of the last reconcile
  // Reads every programmed table back from the maps and compares it with
  // what was written. Sorted by key.
  std::vector<TableCheck> VerifyTables() const;

 private:
  // What this manager knows is in the maps for one frontend.
  struct FrontendState {
    Frontend model;             // as last programmed (only the key after adoption)
    std::vector<uint32_t> ids;  // parallel to model.backends
    bool svc_written = false;   // `svc` is in xvr_svc
    xvr_svc svc{};
    // The table in xvr_maglev[table_id], if any.
    std::shared_ptr<const std::vector<uint32_t>> slots;
    std::set<uint32_t> table_ids;  // distinct backend ids in `slots`
    MaglevHealth health;
    bool adopted = false;  // slots were read back, not built here
  };
  struct BackendState {
    BackendAddr addr;
    bool written = false;  // `value` is in xvr_backends
    xvr_backend value{};
  };
  // Flows and affinities to forget, per table.
  struct FlushWork {
    bool udp = false;  // flush xvr_svc_ct too
    bool all = false;  // every affinity of the table (the frontend is gone)
    std::set<uint32_t> ids;
  };

  // `changed_at`: the first notification the reconcile answers, for the
  // change-to-programmed latency.
  absl::Status ReconcileState(std::optional<absl::Time> changed_at);
  absl::Status ReconcileLocked(const std::vector<Frontend>& frontends,
                               std::vector<std::string> warnings, uint64_t generation,
                               std::optional<absl::Time> changed_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct Delta;
  absl::Status ApplyLocked(const std::vector<Frontend>& frontends,
                           std::vector<std::string>* warnings, Delta* delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AdoptLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FlushLocked(Delta* delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint32_t> BackendIdLocked(const BackendAddr& addr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint32_t> TableIdLocked(const FrontendKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FreeTableLocked(const FrontendKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueFlushLocked(uint32_t table, uint8_t proto, const std::set<uint32_t>& ids, bool all)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  k8s::ClusterState* const state_;
  ServiceMaps* const maps_;
  const ServiceManagerOptions opts_;

  // Programmed state; held for a whole reconcile.
  mutable absl::Mutex mu_;
  bool adopted_ ABSL_GUARDED_BY(mu_) = false;
  std::map<FrontendKey, FrontendState> frontends_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, BackendState> backends_ ABSL_GUARDED_BY(mu_);  // by id
  std::map<BackendAddr, uint32_t> backend_ids_ ABSL_GUARDED_BY(mu_);
  uint32_t next_backend_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<FrontendKey, uint32_t> table_ids_ ABSL_GUARDED_BY(mu_);
  std::set<uint32_t> tables_in_use_ ABSL_GUARDED_BY(mu_);  // allocated or found in xvr_maglev
  uint32_t next_table_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint32_t, FlushWork> pending_flush_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex stats_mu_;
  ServiceManagerStats stats_ ABSL_GUARDED_BY(stats_mu_);

  // Follows the ClusterState; last, so it stops before the rest goes.
  k8s::DebouncedReconciler reconciler_;
};

}  // namespace xvr::services

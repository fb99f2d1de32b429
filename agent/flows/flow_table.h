// The agent side of connection tracking. The data path creates flow pairs
// in the xvr_flows LRU map and never expires them; FlowTable reads the map,
// pairs the forward and reply entries, ages pairs by protocol and state
// (spec.flows.timeouts) on a periodic GC thread, flushes on request, tells
// the FlowObservers about every pair it ends, and accounts for what the LRU
// evicted behind everyone's back:
//
//   evicted = live at start + created since start (xvr_flow_stats CREATED)
//             - ended by the agent - ended by a policy change (REEVAL_DENIED)
//             - live now                                   (clamped at 0)
//
// A pair that lost one entry to the LRU (an orphan) counts as live; its
// remaining entry ages like a whole pair.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/common/net_types.h"
#include "agent/config/vrouter.h"
#include "agent/flows/flow_maps.h"
#include "agent/flows/flow_observer.h"
#include "agent/flows/flow_record.h"

namespace xvr {

// Resolves a pod IPv4 (network order) to "namespace/name", "" when unknown.
using PodNameFn = std::function<std::string(uint32_t ip_be)>;

// What the API's query parameters select (pod, ip, port, proto, state).
// Every set field must match.
struct FlowFilter {
  // (Initialised so designated initialisers may name any subset.)
  std::optional<std::string> pod = std::nullopt;  // "ns/name" at either end
  std::optional<Ipv4Addr> ip = std::nullopt;      // either end, or the service frontend
  std::optional<uint16_t> port = std::nullopt;    // either port, or the service port
  std::optional<uint8_t> proto = std::nullopt;    // IPPROTO_*
  std::optional<uint8_t> state = std::nullopt;    // XVR_FLOW_S_*

  bool empty() const { return !pod && !ip && !port && !proto && !state; }
};

// `pod_name` is only called for a pod filter; it may be empty otherwise.
bool FlowMatches(const FlowRecord& flow, const FlowFilter& filter, const PodNameFn& pod_name);

// Folds entries into pairs (a reply entry, XVR_FLOW_F_REPLY, pairs with the
// entry under its reversed key). Entries without a partner become orphan
// records. With `sorted`, ordered by forward tuple (else in map order).
std::vector<FlowRecord> PairFlowEntries(const std::vector<FlowEntry>& entries,
                                        bool sorted = true);

// How long a pair of protocol `proto` in `state` may stay idle.
uint64_t FlowTimeoutNs(const FlowTimeouts& timeouts, uint8_t proto, uint8_t state);

struct FlowTableOptions {
  FlowTimeouts timeouts;
  uint32_t gc_interval_s = 5;
  // CLOCK_MONOTONIC in ns, the clock of the entries' timestamps. Tests set it.
  std::function<uint64_t()> now_ns;
  FlowObserverSet* observers = nullptr;  // told about every pair ended
  PodNameFn pod_name;                    // for the pod filter
};

struct GcResult {
  size_t pairs = 0;    // pairs scanned
  size_t expired = 0;  // pairs ended (deleted) by this run
  size_t entries_deleted = 0;
  uint64_t duration_us = 0;
};

struct FlowTableStats {
  // From the last scan of the map (every GC run, list, flush or Stats()).
  uint64_t live_pairs = 0;  // orphans included
  uint64_t live_entries = 0;
  uint64_t orphans = 0;     // pairs with one entry left
  uint32_t capacity = 0;    // max_entries of xvr_flows
  double fill = 0;          // live_entries / capacity
  FlowCounters counters{};  // xvr_flow_stats, since the map was created
  // Since this agent started:
  uint64_t created = 0;                                // pairs, from counters
  std::array<uint64_t, kNumEndReasons> ended{};        // by EndReason
  uint64_t evicted = 0;                                // see the header comment
  // GC.
  uint64_t gc_runs = 0;
  uint64_t gc_errors = 0;
  uint64_t gc_deleted_pairs = 0;
  uint64_t gc_last_duration_us = 0;
  uint64_t gc_total_duration_us = 0;
  uint64_t gc_last_expired = 0;
  std::string gc_last_error;
  uint32_t gc_interval_s = 0;
};

class FlowTable {
 public:
  // `maps` must outlive the table.
  FlowTable(FlowMaps* maps, FlowTableOptions opts);
  ~FlowTable();  // Stop()s
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Starts the GC thread (a run every gc_interval_s). Idempotent.
  void Start();
  void Stop();

  // Pairs passing `filter`, ordered by forward tuple.
  absl::StatusOr<std::vector<FlowRecord>> List(const FlowFilter& filter);
  // Deletes both entries of every pair passing `filter` (all pairs when it
  // is empty); observers hear "flushed". Returns the number of pairs.
  absl::StatusOr<size_t> Flush(const FlowFilter& filter);
  // One GC pass: pairs idle longer than their timeout are deleted and
  // reported ended ("closed" for TCP CLOSED, else "timeout").
  absl::StatusOr<GcResult> RunGc();
  // Scans the map and returns fresh statistics.
  absl::StatusOr<FlowTableStats> Stats();
  // The statistics of the last scan, without touching the map.
  FlowTableStats LastStats() const;
  // New idle timeouts and GC interval for a running table (a live VRouter
  // edit): the next GC run ages by them; the interval counts from the next
  // wait.
  void SetTimeouts(const FlowTimeouts& timeouts, uint32_t gc_interval_s);

 private:
  uint64_t Now() const;
  // Reads the map and the counters; updates the live figures (the first
  // scan sets the eviction baseline). Requires op_mu_.
  absl::StatusOr<std::vector<FlowRecord>> ScanLocked();
  // Deletes the pairs' entries and reports them ended. Requires op_mu_.
  // Returns the number of pairs that still had an entry to delete.
  absl::StatusOr<size_t> EndLocked(const std::vector<const FlowRecord*>& pairs,
                                   const std::vector<EndReason>& reasons,
                                   size_t* entries_deleted);
  void RecomputeLocked();
  void GcLoop();

  FlowMaps* maps_;
  FlowTableOptions opts_;

  std::mutex op_mu_;  // one scan/delete at a time

  mutable std::mutex stats_mu_;
  FlowTableStats stats_;
  bool have_baseline_ = false;
  uint64_t base_live_ = 0;
  uint64_t base_created_ = 0;
  uint64_t base_denied_ = 0;
  uint64_t ended_by_agent_ = 0;  // pairs

  std::mutex gc_mu_;
  std::condition_variable gc_cv_;
  bool stop_ = false;
  std::thread gc_thread_;
};

}  // namespace xvr

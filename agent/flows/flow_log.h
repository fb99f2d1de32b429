// The flow log: one JSON line per ended flow (and per policy drop), in the
// spirit of Hubble's flow records, written by spdlog's rotating file sink.
// A FlowObserver: the callbacks only copy the record into a bounded queue
// (records beyond it are counted and dropped); a writer thread formats,
// resolves pod names and writes.
//
//   {"time":"2024-05-01T10:00:00.000000000Z","node":"n1","verdict":"FORWARDED",
//    "event":"flow_end","src":{"ip":"10.244.1.2","port":40000,"pod":"ns/a",
//    "identity":256},"dst":{...},"service":{"ip":"10.96.0.10","port":53},
//    "proto":"udp","state":"replied","packets":{"fwd":1,"rev":1},
//    "bytes":{"fwd":74,"rev":90},"duration_s":0.002,"end_reason":"timeout",
//    "hook":"xdp_pod"}
//   {"time":...,"verdict":"DROPPED","event":"drop","drop_reason":
//    "policy_denied_ingress","src":{...},"dst":{...},"proto":"tcp",...}
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "absl/status/statusor.h"
#include "agent/events/drop_events.h"
#include "agent/flows/flow_observer.h"
#include "agent/flows/flow_table.h"
#include "nlohmann/json.hpp"

namespace spdlog {
class logger;
}

namespace xvr {

struct FlowLogOptions {
  std::string path;  // the current file; rotated ones are <stem>.1<ext>, ...
  size_t max_size_bytes = size_t{100} << 20;
  size_t max_files = 5;
  std::string node;
  PodNameFn pod_name;  // may be empty
  size_t queue_capacity = 16384;
  bool log_starts = false;     // also a "flow_start" record per FLOW_NEW event
  bool log_all_drops = false;  // every drop, not only policy drops
};

struct FlowLogStats {
  uint64_t written = 0;
  uint64_t dropped = 0;  // queue full
  uint64_t errors = 0;   // write errors reported by spdlog
  uint64_t queued = 0;   // waiting now
};

// The records as the flow log writes them (also for other exporters), keys
// in the order above. `reason` is null for a flow_start. `wall_ns` is the
// record's time.
nlohmann::ordered_json FlowLogRecord(const FlowRecord& flow, const char* event,
                                     const EndReason* reason, uint64_t wall_ns,
                                     const std::string& node, const PodNameFn& pod_name);
nlohmann::ordered_json DropLogRecord(const DropRecord& drop, const std::string& node,
                                     const PodNameFn& pod_name);

class FlowLog : public FlowObserver {
 public:
  // Opens (creates) the file and starts the writer.
  static absl::StatusOr<std::unique_ptr<FlowLog>> Open(FlowLogOptions opts);
  ~FlowLog() override;  // Stop()s

  void OnFlowCreated(const FlowRecord& flow) override;
  void OnFlowEnded(const FlowRecord& flow, EndReason reason) override;
  void OnDrop(const DropRecord& drop) override;

  // Blocks until everything queued so far is written and flushed.
  void Sync();
  // Writes what is queued, then stops the writer. Idempotent.
  void Stop();
  FlowLogStats stats() const;
  const FlowLogOptions& options() const { return opts_; }

 private:
  struct FlowItem {
    FlowRecord flow;
    bool ended = true;
    EndReason reason = EndReason::kTimeout;
    uint64_t wall_ns = 0;
  };
  using Item = std::variant<FlowItem, DropRecord>;

  FlowLog(FlowLogOptions opts, std::shared_ptr<spdlog::logger> logger);
  void Enqueue(Item item);
  void Run();

  FlowLogOptions opts_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // writer: work or stop
  std::condition_variable idle_cv_;  // Sync(): queue drained
  std::deque<Item> queue_;
  size_t in_flight_ = 0;
  bool stop_ = false;
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> errors_;
  std::thread thread_;
};

}  // namespace xvr

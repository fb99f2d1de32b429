// The flow and drop views of the agent's API (docs/API.md):
//   GET  /v1/flows?pod=ns/name&ip=A.B.C.D&port=N&proto=P&state=S&limit=N
//        → {"flows": [...], "total": N, "truncated": bool, "stats": {...}}
//   POST /v1/flows/flush?<same filters> → {"flushed": N}
//   GET  /v1/flows/stats → the "stats" object
//   GET  /v1/drops?since=SEQ
//        → {"drops": [...], "next": SEQ, "missed": N, "total": N, "lost": N,
//           "suppressed": N}
// A bad or unknown query parameter is InvalidArgument (400) naming it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/events/drop_events.h"
#include "agent/flows/flow_log.h"
#include "agent/flows/flow_table.h"
#include "nlohmann/json.hpp"

namespace xvr {

using QueryParams = std::multimap<std::string, std::string>;

// pod, ip, port, proto, state; `also` names further parameters the caller
// reads itself. Unknown or repeated parameters and bad values are errors.
absl::StatusOr<FlowFilter> ParseFlowFilter(const QueryParams& q,
                                           std::initializer_list<const char*> also = {});

nlohmann::json FlowToJson(const FlowRecord& flow, uint64_t now_ns, const PodNameFn& pod_name);

// Ring-buffer accounting shown with the flow statistics.
struct FlowEventTotals {
  EventReaderCounts read;
  uint64_t lost = 0;        // ring buffer full (xvr_evrl, all CPUs)
  uint64_t suppressed = 0;  // over the rate limit (xvr_evrl, all CPUs)
  bool flow_events = false;  // spec.flows.events
};

nlohmann::json FlowStatsToJson(const FlowTableStats& s, const FlowEventTotals& ev,
                               const std::optional<FlowLogStats>& log);

struct FlowsApiDeps {
  FlowTable* table = nullptr;
  const DropEventReader* drops = nullptr;
  PodNameFn pod_name;
  std::function<FlowEventTotals()> events;  // may be empty
  const FlowLog* log = nullptr;             // may be null (log off)
  std::string log_error;                    // why a configured log is not open
  std::function<uint64_t()> now_ns;         // CLOCK_MONOTONIC; tests set it
};

class FlowsApi {
 public:
  explicit FlowsApi(FlowsApiDeps deps) : deps_(std::move(deps)) {}

  absl::StatusOr<nlohmann::json> Flows(const QueryParams& q);
  absl::StatusOr<nlohmann::json> Flush(const QueryParams& q);
  absl::StatusOr<nlohmann::json> Stats(const QueryParams& q);
  absl::StatusOr<nlohmann::json> Drops(const QueryParams& q);

 private:
  nlohmann::json StatsJson(const FlowTableStats& s) const;
  uint64_t Now() const;

  FlowsApiDeps deps_;
};

}  // namespace xvr

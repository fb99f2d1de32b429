// The agent's Prometheus metrics (docs/METRICS.md): the data path's per-CPU
// counters, the flow table, map fill, the Kubernetes and netlink watchers,
// reconcile and CNI request latencies, readiness. Most figures are read
// from their owners at scrape time through the Sources functions (each one
// optional, so the unit tests feed fakes); the latencies are observed here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/dataplane/dataplane.h"
#include "agent/flows/flow_maps.h"
#include "agent/flows/flow_table.h"
#include "agent/k8s/api_source.h"
#include "agent/metrics/exposition.h"
#include "agent/metrics/map_fill.h"
#include "agent/netlink/link_watcher.h"
#include "agent/routing/rtnl_mirror.h"

namespace xvr::metrics {

// The version the binary reports in xvr_build_info.
const char* XvrVersion();

struct EventLoss {
  uint64_t lost = 0;        // ring buffer full
  uint64_t suppressed = 0;  // over the per-CPU rate limit
};

struct AgentMetricsSources {
  std::string node;
  // Rows with packets > 0 (BpfDataplane::ReadCounters).
  std::function<absl::StatusOr<std::vector<CounterRow>>()> counters = nullptr;
  std::function<EventLoss()> events = nullptr;
  // The flow table's last scan (FlowTable::LastStats: no map walk).
  std::function<FlowTableStats()> flows = nullptr;
  // xvr_flow_stats, read live (a per-CPU array lookup).
  std::function<absl::StatusOr<FlowCounters>()> flow_counters = nullptr;
  std::function<MapFillSnapshot()> map_fill = nullptr;
  // Unset without an API server source.
  std::function<k8s::ApiSourceStats()> api_source = nullptr;
  // Netlink mirrors by watcher name ("route", "neigh").
  std::vector<std::pair<std::string, std::function<RtnlMirrorStats()>>> rtnl = {};
  std::function<LinkWatcherStats()> link = nullptr;
  std::function<bool()> ready = nullptr;
  // Scrapes served so far (the listener's count).
  std::function<uint64_t()> scrapes = nullptr;
};

class AgentMetrics {
 public:
  explicit AgentMetrics(AgentMetricsSources sources);

  // Replaces the sources (keeping the node name when the new one has
  // none). Not synchronised with Render(): call before serving.
  void SetSources(AgentMetricsSources sources);

  // Wire into ApiServerOptions::on_cni_request.
  void ObserveCniRequest(const char* op, int status, double seconds);
  // Wire into k8s::SetReconcileObserver.
  void ObserveReconcile(const std::string& controller, absl::Duration took, bool ok);

  // The whole exposition; never throws (a failing source becomes
  // xvr_scrape_errors_total{source=...}).
  std::string Render();

 private:
  void CollectDatapath(ExpositionWriter& w);
  void CollectFlows(ExpositionWriter& w);
  void CollectMaps(ExpositionWriter& w);
  void CollectWatchers(ExpositionWriter& w);

  AgentMetricsSources src_;
  const double start_time_;
  CounterVec cni_requests_{{"op", "code"}};
  HistogramVec cni_latency_{{"op"}};
  CounterVec reconciles_{{"controller", "result"}};
  HistogramVec reconcile_latency_{{"controller"},
                                  {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  CounterVec scrape_errors_{{"source"}};
  Histogram render_latency_{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                             0.1, 0.25, 0.5, 1}};
};

}  // namespace xvr::metrics

#include "agent/metrics/agent_metrics.h"

#include <chrono>
#include <exception>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/flows/flow_record.h"
#include "agent/k8s/objects.h"
#include "xvr/abi.h"

#ifndef XVR_VERSION
#define XVR_VERSION "unknown"
#endif

namespace xvr::metrics {
namespace {

using MT = MetricType;

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double D(uint64_t v) { return static_cast<double>(v); }

}  // namespace

const char* XvrVersion() { return XVR_VERSION; }

AgentMetrics::AgentMetrics(AgentMetricsSources sources)
    : src_(std::move(sources)), start_time_(Now()) {}

void AgentMetrics::SetSources(AgentMetricsSources sources) {
  if (sources.node.empty()) sources.node = src_.node;
  src_ = std::move(sources);
}

void AgentMetrics::ObserveCniRequest(const char* op, int status, double seconds) {
  cni_requests_.Add({op, absl::StrCat(status)});
  cni_latency_.Observe({op}, seconds);
}

void AgentMetrics::ObserveReconcile(const std::string& controller, absl::Duration took, bool ok) {
  reconciles_.Add({controller, ok ? "ok" : "error"});
  reconcile_latency_.Observe({controller}, absl::ToDoubleSeconds(took));
}

void AgentMetrics::CollectDatapath(ExpositionWriter& w) {
  w.Family("xvr_packets_total",
           "Packets seen by the BPF programs, by hook and verdict (per-CPU counters in the pinned "
           "xvr_counters map: they survive agent restarts).",
           MT::kCounter);
  w.Family("xvr_bytes_total", "Bytes seen by the BPF programs, by hook and verdict.",
           MT::kCounter);
  w.Family("xvr_drops_total", "Packets dropped by the BPF programs, by hook and drop reason.",
           MT::kCounter);
  w.Family("xvr_drop_bytes_total", "Bytes dropped by the BPF programs, by hook and drop reason.",
           MT::kCounter);
  w.Family("xvr_kernel_pass_total",
           "Packets the BPF programs handed to the kernel (XDP_PASS / TC_ACT_OK), by hook and "
           "reason.",
           MT::kCounter);
  if (!src_.counters) return;
  absl::StatusOr<std::vector<CounterRow>> rows = src_.counters();
  if (!rows.ok()) {
    scrape_errors_.Add({"counters"});
    return;
  }
  std::map<std::pair<std::string, std::string>, std::pair<uint64_t, uint64_t>> by_verdict;
  for (const CounterRow& r : *rows) {
    auto& v = by_verdict[{r.hook, r.verdict}];
    v.first += r.packets;
    v.second += r.bytes;
    if (r.verdict == "drop") {
      w.Add("xvr_drops_total", {{"hook", r.hook}, {"reason", r.reason}}, D(r.packets));
      w.Add("xvr_drop_bytes_total", {{"hook", r.hook}, {"reason", r.reason}}, D(r.bytes));
    } else if (r.verdict == "pass") {
      w.Add("xvr_kernel_pass_total", {{"hook", r.hook}, {"reason", r.reason}}, D(r.packets));
    }
  }
  for (const auto& [k, v] : by_verdict) {
    w.Add("xvr_packets_total", {{"hook", k.first}, {"verdict", k.second}}, D(v.first));
    w.Add("xvr_bytes_total", {{"hook", k.first}, {"verdict", k.second}}, D(v.second));
  }
}

void AgentMetrics::CollectFlows(ExpositionWriter& w) {
  if (src_.flows) {
    const FlowTableStats s = src_.flows();
    w.Family("xvr_flows_active",
             "Connections (flow pairs, orphans included) in xvr_flows at the flow table's last "
             "scan (every GC interval).",
             MT::kGauge);
    w.Add("xvr_flows_active", {}, D(s.live_pairs));
    w.Family("xvr_flows_orphans", "Flow pairs with one entry left (the LRU evicted the other).",
             MT::kGauge);
    w.Add("xvr_flows_orphans", {}, D(s.orphans));
    w.Family("xvr_flows_created_since_start_total",
             "Flow pairs the data path created since this agent started.", MT::kCounter);
    w.Add("xvr_flows_created_since_start_total", {}, D(s.created));
    w.Family("xvr_flows_ended_total",
             "Flow pairs the agent ended since it started, by reason (timeout, closed, flushed, "
             "policy).",
             MT::kCounter);
    for (size_t i = 0; i < kNumEndReasons; ++i) {
      w.Add("xvr_flows_ended_total", {{"reason", EndReasonName(static_cast<EndReason>(i))}},
            D(s.ended[i]));
    }
    w.Family("xvr_flows_evicted_total",
             "Flow pairs the LRU map evicted since this agent started (table full).",
             MT::kCounter);
    w.Add("xvr_flows_evicted_total", {}, D(s.evicted));
    w.Family("xvr_flow_gc_runs_total", "Flow table GC passes.", MT::kCounter);
    w.Add("xvr_flow_gc_runs_total", {}, D(s.gc_runs));
    w.Family("xvr_flow_gc_errors_total", "Flow table GC passes that failed.", MT::kCounter);
    w.Add("xvr_flow_gc_errors_total", {}, D(s.gc_errors));
    w.Family("xvr_flow_gc_deleted_total", "Flow pairs deleted by the GC.", MT::kCounter);
    w.Add("xvr_flow_gc_deleted_total", {}, D(s.gc_deleted_pairs));
    w.Family("xvr_flow_gc_last_duration_seconds", "Duration of the last GC pass.", MT::kGauge);
    w.Add("xvr_flow_gc_last_duration_seconds", {}, D(s.gc_last_duration_us) / 1e6);
    // The flow map's fill, from the same scan (a key walk of up to millions
    // of entries has no place in a scrape).
    if (s.capacity > 0) {
      w.Add("xvr_map_entries", {{"map", XVR_MAP_FLOWS}}, D(s.live_entries));
      w.Add("xvr_map_capacity", {{"map", XVR_MAP_FLOWS}}, D(s.capacity));
      w.Add("xvr_map_fill_ratio", {{"map", XVR_MAP_FLOWS}}, D(s.live_entries) / D(s.capacity));
    }
  }
  if (src_.flow_counters) {
    absl::StatusOr<FlowCounters> c = src_.flow_counters();
    if (!c.ok()) {
      scrape_errors_.Add({"flow_counters"});
      return;
    }
    const struct {
      const char* name;
      int slot;
      const char* help;
    } fc[] = {
        {"xvr_flows_created_total", XVR_FS_CREATED,
         "Flow pairs the data path created (xvr_flow_stats: since the map was pinned, survives "
         "agent restarts)."},
        {"xvr_flows_reevaluated_total", XVR_FS_REEVALUATED,
         "Flows re-checked against policy after a policy change."},
        {"xvr_flows_reeval_denied_total", XVR_FS_REEVAL_DENIED,
         "Flows ended because a policy change now denies them."},
        {"xvr_flows_related_total", XVR_FS_RELATED, "ICMP errors matched to a flow."},
        {"xvr_flows_reopened_total", XVR_FS_REOPENED, "SYNs that reopened a closed flow."},
        {"xvr_flows_create_failed_total", XVR_FS_CREATE_FAILED,
         "Flow creations that failed (map update error; the packet was still forwarded)."},
    };
    for (const auto& f : fc) {
      w.Family(f.name, f.help, MT::kCounter);
      w.Add(f.name, {}, D((*c)[f.slot]));
    }
  }
}

void AgentMetrics::CollectMaps(ExpositionWriter& w) {
  if (!src_.map_fill) return;
  const MapFillSnapshot snap = src_.map_fill();
  for (const MapFill& m : snap.maps) {
    if (!m.ok) continue;
    w.Add("xvr_map_entries", {{"map", m.name}}, D(m.entries));
    w.Add("xvr_map_capacity", {{"map", m.name}}, D(m.capacity));
    w.Add("xvr_map_fill_ratio", {{"map", m.name}},
          m.capacity ? D(m.entries) / D(m.capacity) : 0.0);
  }
  w.Family("xvr_map_count_duration_seconds",
           "Duration of the last background walk counting the map entries.", MT::kGauge);
  w.Add("xvr_map_count_duration_seconds", {}, snap.last_walk_seconds);
}

void AgentMetrics::CollectWatchers(ExpositionWriter& w) {
  if (src_.api_source) {
    const k8s::ApiSourceStats st = src_.api_source();
    w.Family("xvr_k8s_watch_events_total",
             "Watch events from the Kubernetes API server, by kind and type.", MT::kCounter);
    w.Family("xvr_k8s_watch_errors_total",
             "Failures of a kind's list or watch that caused a retry or a relist.", MT::kCounter);
    w.Family("xvr_k8s_lists_total", "Completed lists, by kind.", MT::kCounter);
    w.Family("xvr_k8s_relists_total", "Lists after the first (410 Gone, errors), by kind.",
             MT::kCounter);
    w.Family("xvr_k8s_watches_total", "Watch streams opened, by kind.", MT::kCounter);
    w.Family("xvr_k8s_bad_objects_total", "Objects that did not parse, by kind.", MT::kCounter);
    for (k8s::Kind kind : k8s::kAllKinds) {
      const k8s::KindStats& k = st[kind];
      const std::string name = k8s::KindName(kind);
      const std::pair<const char*, uint64_t> types[] = {{"added", k.added},
                                                        {"modified", k.modified},
                                                        {"deleted", k.deleted},
                                                        {"bookmark", k.bookmarks},
                                                        {"error", k.error_events}};
      for (const auto& [type, n] : types) {
        w.Add("xvr_k8s_watch_events_total", {{"kind", name}, {"type", type}}, D(n));
      }
      w.Add("xvr_k8s_watch_errors_total", {{"kind", name}}, D(k.errors));
      w.Add("xvr_k8s_lists_total", {{"kind", name}}, D(k.lists));
      w.Add("xvr_k8s_relists_total", {{"kind", name}}, D(k.relists));
      w.Add("xvr_k8s_watches_total", {{"kind", name}}, D(k.watches));
      w.Add("xvr_k8s_bad_objects_total", {{"kind", name}}, D(k.bad_objects));
    }
  }
  w.Family("xvr_netlink_events_total", "Netlink notifications received, by watcher.",
           MT::kCounter);
  w.Family("xvr_netlink_errors_total",
           "Netlink watcher failures: failed resyncs (route, neigh), receive errors (link).",
           MT::kCounter);
  w.Family("xvr_netlink_overruns_total",
           "Netlink notifications lost to a full socket buffer (each causes a resync).",
           MT::kCounter);
  w.Family("xvr_netlink_resyncs_total", "Full dumps of the kernel table, the initial one included.",
           MT::kCounter);
  for (const auto& [name, fn] : src_.rtnl) {
    if (!fn) continue;
    const RtnlMirrorStats s = fn();
    w.Add("xvr_netlink_events_total", {{"watcher", name}}, D(s.events));
    w.Add("xvr_netlink_errors_total", {{"watcher", name}}, D(s.resync_failures));
    w.Add("xvr_netlink_overruns_total", {{"watcher", name}}, D(s.overruns));
    w.Add("xvr_netlink_resyncs_total", {{"watcher", name}}, D(s.resyncs));
  }
  if (src_.link) {
    const LinkWatcherStats s = src_.link();
    w.Add("xvr_netlink_events_total", {{"watcher", "link"}}, D(s.events));
    w.Add("xvr_netlink_errors_total", {{"watcher", "link"}}, D(s.errors));
    w.Add("xvr_netlink_overruns_total", {{"watcher", "link"}}, D(s.overruns));
  }
}

std::string AgentMetrics::Render() {
  const auto t0 = std::chrono::steady_clock::now();
  ExpositionWriter w;
  w.Family("xvr_build_info", "Always 1; the agent's version.", MT::kGauge);
  w.Add("xvr_build_info", {{"version", XvrVersion()}, {"node", src_.node}}, 1);
  w.Family("xvr_agent_start_time_seconds", "Unix time the agent process started its metrics.",
           MT::kGauge);
  w.Add("xvr_agent_start_time_seconds", {}, start_time_);
  w.Family("xvr_ready",
           "1 once the agent is ready (data path loaded, endpoints restored, first Kubernetes "
           "list done), else 0.",
           MT::kGauge);
  w.Add("xvr_ready", {}, src_.ready && src_.ready() ? 1 : 0);

  // A source that throws must not take the scrape down with it.
  auto guarded = [&](const char* source, auto fn) {
    try {
      fn();
    } catch (const std::exception&) {
      scrape_errors_.Add({source});
    }
  };
  w.Family("xvr_map_entries",
           "Entries in a pinned BPF map (hash and LPM maps counted by a background key walk "
           "every 10 s; xvr_flows from the flow table's last scan).",
           MT::kGauge);
  w.Family("xvr_map_capacity", "max_entries of a pinned BPF map.", MT::kGauge);
  w.Family("xvr_map_fill_ratio", "xvr_map_entries / xvr_map_capacity.", MT::kGauge);
  guarded("counters", [&] { CollectDatapath(w); });
  if (src_.events) {
    guarded("events", [&] {
      const EventLoss e = src_.events();
      w.Family("xvr_events_lost_total",
               "Drop/flow events lost because the ring buffer was full.", MT::kCounter);
      w.Add("xvr_events_lost_total", {}, D(e.lost));
      w.Family("xvr_events_suppressed_total",
               "Drop events not emitted because of the per-CPU rate limit (spec.eventsPerSecond).",
               MT::kCounter);
      w.Add("xvr_events_suppressed_total", {}, D(e.suppressed));
    });
  }
  guarded("flows", [&] { CollectFlows(w); });
  guarded("maps", [&] { CollectMaps(w); });
  guarded("watchers", [&] { CollectWatchers(w); });

  w.Family("xvr_reconcile_total", "Reconciles of the service and policy controllers, by result.",
           MT::kCounter);
  reconciles_.Collect(w, "xvr_reconcile_total");
  w.Family("xvr_reconcile_duration_seconds",
           "Time one reconcile of the service or policy controller took.", MT::kHistogram);
  reconcile_latency_.Collect(w, "xvr_reconcile_duration_seconds");
  w.Family("xvr_cni_requests_total",
           "Endpoint API requests of the CNI plugin (since the agent started), by operation "
           "(add, del, check, gc) and HTTP status.",
           MT::kCounter);
  cni_requests_.Collect(w, "xvr_cni_requests_total");
  w.Family("xvr_cni_request_duration_seconds",
           "Time the agent took to answer a CNI plugin request, by operation.", MT::kHistogram);
  cni_latency_.Collect(w, "xvr_cni_request_duration_seconds");

  if (src_.scrapes) {
    w.Family("xvr_metrics_scrapes_total", "GET /metrics served.", MT::kCounter);
    w.Add("xvr_metrics_scrapes_total", {}, D(src_.scrapes()));
  }
  w.Family("xvr_metrics_render_duration_seconds", "Time to build one /metrics answer.",
           MT::kHistogram);
  w.AddHistogram("xvr_metrics_render_duration_seconds", {}, render_latency_.Snapshot());
  w.Family("xvr_scrape_errors_total",
           "Sources that failed while building /metrics (their metrics are missing from that "
           "scrape).",
           MT::kCounter);
  scrape_errors_.Collect(w, "xvr_scrape_errors_total");

  std::string out = w.Finish();
  render_latency_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

}  // namespace xvr::metrics

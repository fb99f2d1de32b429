#include "agent/metrics/agent_metrics.h"

#include <httplib.h>

#include <string>

#include "absl/synchronization/notification.h"

#include "agent/k8s/cluster_state.h"
#include "agent/k8s/debounced_reconciler.h"
#include "agent/metrics/metrics_server.h"
#include "exposition_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "xvr/abi.h"

namespace xvr::metrics {
namespace {

using ::testing::HasSubstr;
using testing::ParseExposition;
using testing::Parsed;

AgentMetricsSources FakeSources() {
  AgentMetricsSources s;
  s.node = "node-a";
  s.counters = [] {
    return std::vector<CounterRow>{
        {"xdp_pod", "redirect", "ok", 100, 9800},
        {"xdp_pod", "tx", "ok", 2, 84},
        {"xdp_pod", "drop", "policy_denied_ingress", 5, 490},
        {"xdp_pod", "drop", "spoofed_source_ip", 1, 98},
        {"xdp_pod", "pass", "no_route", 7, 700},
        {"tc_host_egress", "redirect", "ok", 3, 300},
    };
  };
  s.events = [] { return EventLoss{4, 9}; };
  s.flows = [] {
    FlowTableStats f;
    f.live_pairs = 12;
    f.live_entries = 24;
    f.capacity = 1024;
    f.created = 30;
    f.ended[1] = 18;
    f.evicted = 2;
    f.gc_runs = 6;
    return f;
  };
  s.flow_counters = [] {
    FlowCounters c{};
    c[XVR_FS_CREATED] = 40;
    c[XVR_FS_CREATE_FAILED] = 1;
    return absl::StatusOr<FlowCounters>(c);
  };
  s.map_fill = [] {
    MapFillSnapshot m;
    m.maps.push_back({"xvr_routes", 11, 3, 262144, true, ""});
    m.maps.push_back({"xvr_ep_ip", 1, 2, 4096, true, ""});
    m.maps.push_back({"xvr_gone", 0, 0, 0, false, "open: ENOENT"});
    m.walks = 1;
    return m;
  };
  s.api_source = [] {
    k8s::ApiSourceStats st;
    st.kinds[0].added = 3;
    st.kinds[0].errors = 1;
    return st;
  };
  s.rtnl = {{"route", [] { return RtnlMirrorStats{.events = 5, .resyncs = 1}; }}};
  s.link = [] { return LinkWatcherStats{7, 2, 0, 0}; };
  s.ready = [] { return true; };
  return s;
}

TEST(AgentMetrics, RendersEveryFamilyAsValidExposition) {
  AgentMetrics m(FakeSources());
  m.ObserveCniRequest("add", 200, 0.003);
  m.ObserveCniRequest("add", 200, 0.02);
  m.ObserveCniRequest("del", 503, 0.0001);
  m.ObserveReconcile("services", absl::Milliseconds(2), true);
  m.ObserveReconcile("policy", absl::Milliseconds(30), false);
  const std::string text = m.Render();
  const Parsed p = ParseExposition(text);
  ASSERT_EQ(p.error, "") << text;
  for (const auto& [fam, type] : p.type) {
    EXPECT_EQ(fam.rfind("xvr_", 0), 0u) << fam;
    EXPECT_FALSE(p.help.at(fam).empty()) << fam;
    if (type == "counter") {
      EXPECT_THAT(fam, ::testing::EndsWith("_total")) << fam;
    }
  }
  EXPECT_EQ(p.Get("xvr_build_info", {{"node", "node-a"}}), 1);
  EXPECT_EQ(p.Get("xvr_ready"), 1);
  EXPECT_EQ(p.Get("xvr_packets_total", {{"hook", "xdp_pod"}, {"verdict", "redirect"}}), 100);
  EXPECT_EQ(p.Get("xvr_packets_total", {{"hook", "xdp_pod"}, {"verdict", "drop"}}), 6);
  EXPECT_EQ(p.Get("xvr_bytes_total", {{"hook", "xdp_pod"}, {"verdict", "drop"}}), 588);
  EXPECT_EQ(p.Get("xvr_drops_total", {{"hook", "xdp_pod"}, {"reason", "policy_denied_ingress"}}),
            5);
  EXPECT_EQ(p.Get("xvr_kernel_pass_total", {{"hook", "xdp_pod"}, {"reason", "no_route"}}), 7);
  EXPECT_EQ(p.Get("xvr_events_lost_total"), 4);
  EXPECT_EQ(p.Get("xvr_events_suppressed_total"), 9);
  EXPECT_EQ(p.Get("xvr_flows_active"), 12);
  EXPECT_EQ(p.Get("xvr_flows_created_total"), 40);
  EXPECT_EQ(p.Get("xvr_flows_evicted_total"), 2);
  EXPECT_EQ(p.Get("xvr_flows_ended_total", {{"reason", "closed"}}), 18);
  EXPECT_EQ(p.Get("xvr_map_entries", {{"map", "xvr_flows"}}), 24);
  EXPECT_DOUBLE_EQ(p.Get("xvr_map_fill_ratio", {{"map", "xvr_flows"}}), 24.0 / 1024);
  EXPECT_EQ(p.Get("xvr_map_capacity", {{"map", "xvr_routes"}}), 262144);
  EXPECT_EQ(p.Get("xvr_map_entries", {{"map", "xvr_gone"}}), -1);
  EXPECT_EQ(p.Get("xvr_k8s_watch_events_total", {{"kind", "Node"}, {"type", "added"}}), 3);
  EXPECT_EQ(p.Get("xvr_k8s_watch_errors_total", {{"kind", "Node"}}), 1);
  EXPECT_EQ(p.Get("xvr_netlink_events_total", {{"watcher", "route"}}), 5);
  EXPECT_EQ(p.Get("xvr_netlink_events_total", {{"watcher", "link"}}), 7);
  EXPECT_EQ(p.Get("xvr_cni_requests_total", {{"op", "add"}, {"code", "200"}}), 2);
  EXPECT_EQ(p.Get("xvr_cni_requests_total", {{"op", "del"}, {"code", "503"}}), 1);
  EXPECT_EQ(p.Get("xvr_cni_request_duration_seconds_count", {{"op", "add"}}), 2);
  EXPECT_EQ(p.Get("xvr_cni_request_duration_seconds_bucket", {{"op", "add"}, {"le", "0.005"}}),
            1);
  EXPECT_EQ(p.Get("xvr_reconcile_duration_seconds_count", {{"controller", "policy"}}), 1);
  EXPECT_EQ(p.Get("xvr_reconcile_total", {{"controller", "policy"}, {"result", "error"}}), 1);
  EXPECT_EQ(p.type.at("xvr_reconcile_duration_seconds"), "histogram");
}

TEST(AgentMetrics, FailingSourceIsCountedNotFatal) {
  AgentMetricsSources s = FakeSources();
  s.counters = [] {
    return absl::StatusOr<std::vector<CounterRow>>(absl::InternalError("map gone"));
  };
  s.flows = []() -> FlowTableStats { throw std::runtime_error("boom"); };
  AgentMetrics m(std::move(s));
  m.Render();
  const Parsed p = ParseExposition(m.Render());
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.Get("xvr_scrape_errors_total", {{"source", "counters"}}), 2);
  EXPECT_EQ(p.Get("xvr_scrape_errors_total", {{"source", "flows"}}), 2);
  EXPECT_EQ(p.Get("xvr_ready"), 1);
}

TEST(AgentMetrics, ReconcilerReportsDurations) {
  AgentMetrics m({.node = "n"});
  k8s::SetReconcileObserver([&m](const std::string& name, absl::Duration took, bool ok) {
    m.ObserveReconcile(name, took, ok);
  });
  k8s::ClusterState state;
  absl::Notification done;
  {
    k8s::DebouncedReconciler r(&state, {.log_name = "services"},
                               {.relevant = [](const k8s::Change&) { return true; },
                                .reconcile =
                                    [&](std::optional<absl::Time>) {
                                      absl::SleepFor(absl::Milliseconds(3));
                                      if (!done.HasBeenNotified()) done.Notify();
                                      return absl::OkStatus();
                                    },
                                .synced = [] { return true; }});
    r.Start();
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    r.Stop();
  }
  k8s::SetReconcileObserver(nullptr);
  const Parsed p = ParseExposition(m.Render());
  ASSERT_EQ(p.error, "");
  EXPECT_GE(p.Get("xvr_reconcile_duration_seconds_count", {{"controller", "services"}}), 1);
  EXPECT_GE(p.Get("xvr_reconcile_duration_seconds_sum", {{"controller", "services"}}), 0.003);
}

TEST(MetricsServer, ServesMetricsHealthReadyAnd404) {
  std::atomic<bool> ready{false};
  MetricsServer srv({.address = "127.0.0.1:0",
                     .render = [] { return std::string("# TYPE xvr_x gauge\nxvr_x 1\n"); },
                     .readiness = [&] { return Readiness{ready.load(), "waiting for the list"}; }});
  ASSERT_TRUE(srv.Bind().ok());
  ASSERT_NE(srv.port(), 0);
  EXPECT_EQ(srv.bound_address(), "127.0.0.1:" + std::to_string(srv.port()));
  ASSERT_TRUE(srv.Serve().ok());
  httplib::Client c("127.0.0.1", srv.port());
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "# TYPE xvr_x gauge\nxvr_x 1\n");
  EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  r = c.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("waiting for the list"));
  ready = true;
  r = c.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/v1/endpoints");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(nlohmann::json::parse(r->body, nullptr, false).is_discarded()) << r->body;
  r = c.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(srv.scrapes(), 1u);
  srv.Stop();
  srv.Stop();
}

TEST(MetricsServer, TakenAddressIsAnErrorNamingIt) {
  MetricsServer first({.address = "127.0.0.1:0"});
  ASSERT_TRUE(first.Bind().ok());
  const std::string addr = first.bound_address();
  MetricsServer second({.address = addr});
  const absl::Status st = second.Bind();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr(addr));
  MetricsServer bad({.address = "nonsense"});
  EXPECT_EQ(bad.Bind().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace xvr::metrics

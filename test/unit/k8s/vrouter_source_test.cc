// The agent's VRouter from the API server: which object wins, the file
// fallback, completion from the Node, the poll, and which edits apply live.
#include "agent/k8s/vrouter_source.h"

#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/synchronization/notification.h"
#include "agent/config/vrouter_cluster.h"
#include "agent/config/vrouter_reload.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;

// A minimal API server: GET of single VRouters and Nodes, editable.
class TinyApi {
 public:
  TinyApi() {
    srv_.Get(R"(/apis/xvr.dev/v1alpha1/vrouters/([^/]+))",
             [this](const httplib::Request& rq, httplib::Response& rs) {
               Serve(vrouters_, rq.matches[1], rs);
             });
    srv_.Get(R"(/api/v1/nodes/([^/]+))", [this](const httplib::Request& rq, httplib::Response& rs) {
      Serve(nodes_, rq.matches[1], rs);
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (!srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TinyApi() {
    srv_.stop();
    thread_.join();
  }
  ApiServerConfig Config() const {
    ApiServerConfig c;
    c.server = "http://127.0.0.1:" + std::to_string(port_);
    return c;
  }
  void PutVRouter(const std::string& name, json spec) {
    std::lock_guard<std::mutex> l(mu_);
    vrouters_[name] = json{{"apiVersion", "xvr.dev/v1alpha1"},
                           {"kind", "VRouter"},
                           {"metadata",
                            {{"name", name},
                             {"resourceVersion", std::to_string(++rv_)},
                             {"uid", "0f0e"},
                             {"managedFields", json::array({{{"manager", "kubectl"}}})}}},
                           {"spec", std::move(spec)}}
                           .dump();
  }
  void DeleteVRouter(const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    vrouters_.erase(name);
  }
  void PutNode(const std::string& name, const std::string& pod_cidr) {
    std::lock_guard<std::mutex> l(mu_);
    nodes_[name] = json{{"apiVersion", "v1"},
                        {"kind", "Node"},
                        {"metadata", {{"name", name}}},
                        {"spec", {{"podCIDR", pod_cidr}}}}
                       .dump();
  }
  int gets() const { return gets_.load(); }

 private:
  void Serve(const std::map<std::string, std::string>& m, const std::string& name,
             httplib::Response& rs) {
    ++gets_;
    std::lock_guard<std::mutex> l(mu_);
    auto it = m.find(name);
    if (it == m.end()) {
      rs.status = 404;
      rs.set_content(R"({"kind":"Status","message":"not found","code":404})", "application/json");
      return;
    }
    rs.set_content(it->second, "application/json");
  }
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::string> vrouters_;
  std::map<std::string, std::string> nodes_;
  int64_t rv_ = 100;
  std::atomic<int> gets_{0};
};

std::string WriteFile(const std::string& text) {
  char tmpl[] = "/tmp/xvr_vrouter_test_XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

constexpr char kSharedFile[] = R"(apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata: {name: default}
spec:
  agentModeType: xdp
  logLevel: warn
)";

VRouterSourceOptions Opts(const std::string& file = "") {
  VRouterSourceOptions o;
  o.node_name = "node-1";
  o.vrouter_name = "default";
  o.file = file;
  o.fetch_timeout = absl::Seconds(2);
  o.poll_interval = absl::Milliseconds(50);
  o.default_ifname = [] { return std::string("eth0"); };
  return o;
}

TEST(VRouterSourceTest, SharedVRouterCompletedFromTheNode) {
  TinyApi api;
  api.PutNode("node-1", "10.244.7.0/24");
  api.PutVRouter("default", {{"agentModeType", "xdp-generic"}, {"podAttach", "tc"}});
  ApiServerConfig c = api.Config();
  auto src = VRouterSource::Create(&c, Opts());
  ASSERT_TRUE(src.ok()) << src.status();
  absl::StatusOr<LoadedVRouter> v = (*src)->Load();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->source, "api");
  EXPECT_EQ(v->object, "vrouters/default");
  EXPECT_EQ(v->resource_version, "101");
  EXPECT_EQ(v->config.node_name, "node-1");
  EXPECT_EQ(v->config.pod_cidr.ToString(), "10.244.7.0/24");
  EXPECT_EQ(v->config.fabric_interface, "eth0");
  EXPECT_EQ(v->config.agent_mode, AgentMode::kXdpGeneric);
  EXPECT_EQ(v->config.pod_attach, PodAttach::kTc);
}

TEST(VRouterSourceTest, NodeNamedVRouterWins) {
  TinyApi api;
  api.PutNode("node-1", "10.244.7.0/24");
  api.PutVRouter("default", {{"logLevel", "info"}});
  api.PutVRouter("node-1", {{"logLevel", "debug"}, {"podCIDR", "10.250.0.0/24"},
                            {"fabricInterface", "ens5"}});
  ApiServerConfig c = api.Config();
  auto src = VRouterSource::Create(&c, Opts());
  ASSERT_TRUE(src.ok());
  absl::StatusOr<LoadedVRouter> v = (*src)->Load();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->object, "vrouters/node-1");
  EXPECT_EQ(v->config.log_level, "debug");
  EXPECT_EQ(v->config.pod_cidr.ToString(), "10.250.0.0/24");  // the VRouter's own wins
  EXPECT_EQ(v->config.fabric_interface, "ens5");
}

TEST(VRouterSourceTest, MissingCrdFallsBackToTheFile) {
  TinyApi api;  // every VRouter GET is a 404, as without the CRD
  api.PutNode("node-1", "10.244.9.0/24");
  const std::string file = WriteFile(kSharedFile);
  ApiServerConfig c = api.Config();
  auto src = VRouterSource::Create(&c, Opts(file));
  ASSERT_TRUE(src.ok());
  absl::StatusOr<LoadedVRouter> v = (*src)->Load();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->source, "file");
  EXPECT_THAT(v->fallback_reason, HasSubstr("vrouters/node-1, vrouters/default not found"));
  EXPECT_EQ(v->config.pod_cidr.ToString(), "10.244.9.0/24");  // Node still read
  EXPECT_EQ(v->config.log_level, "warn");
  std::remove(file.c_str());
}

TEST(VRouterSourceTest, UnreachableApiFallsBackQuickly) {
  ApiServerConfig c;
  c.server = "http://127.0.0.1:1";  // nothing listens
  const std::string file = WriteFile(std::string(kSharedFile) + "  podCIDR: 10.244.3.0/24\n");
  auto src = VRouterSource::Create(&c, Opts(file));
  ASSERT_TRUE(src.ok());
  const absl::Time t0 = absl::Now();
  absl::StatusOr<LoadedVRouter> v = (*src)->Load();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
  EXPECT_EQ(v->source, "file");
  EXPECT_THAT(v->fallback_reason, HasSubstr("cannot connect"));
  EXPECT_EQ(v->config.node_name, "node-1");
  std::remove(file.c_str());
}

TEST(VRouterSourceTest, NoPodCidrAnywhereIsAnError) {
  TinyApi api;
  api.PutVRouter("default", {{"agentModeType", "xdp"}});  // no Node object
  ApiServerConfig c = api.Config();
  auto src = VRouterSource::Create(&c, Opts());
  ASSERT_TRUE(src.ok());
  absl::StatusOr<LoadedVRouter> v = (*src)->Load();
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("spec.podCIDR: required"));
}

TEST(VRouterSourceTest, UnknownFieldsStayErrors) {
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(
      R"({"apiVersion":"xvr.dev/v1alpha1","kind":"VRouter","metadata":{"name":"default"},)"
      R"("spec":{"podCidr":"10.0.0.0/24"}})",
      {"node-1", "10.244.1.0/24", ""});
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("spec.podCidr: unknown field"));
  absl::StatusOr<VRouterConfig> other = ParseClusterVRouter(
      "apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec: {nodeName: node-2}\n",
      {"node-1", "10.244.1.0/24", ""});
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.status().message(), HasSubstr("another node"));
}

TEST(VRouterSourceTest, DefaultRouteInterface) {
  const std::string route =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "eth1\t00000000\t0102A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
      "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
      "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
  EXPECT_EQ(DefaultRouteInterface(route), "eth0");
  EXPECT_EQ(DefaultRouteInterface("Iface\tDestination\n"), "");
}

TEST(VRouterSourceTest, PollDeliversEditsAndIgnoresInvalidOnes) {
  TinyApi api;
  api.PutNode("node-1", "10.244.7.0/24");
  api.PutVRouter("default", {{"logLevel", "info"}});
  ApiServerConfig c = api.Config();
  auto src = VRouterSource::Create(&c, Opts());
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE((*src)->Load().ok());
  std::mutex mu;
  std::vector<LoadedVRouter> updates;
  std::vector<std::string> errors;
  (*src)->Start(
      [&](const LoadedVRouter& v) {
        std::lock_guard<std::mutex> l(mu);
        updates.push_back(v);
      },
      [&](const std::string& e) {
        std::lock_guard<std::mutex> l(mu);
        errors.push_back(e);
      });
  auto wait = [&](auto pred) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (pred()) return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  };
  api.PutVRouter("default", {{"logLevel", "bogus"}});
  ASSERT_TRUE(wait([&] { return !errors.empty(); }));
  EXPECT_THAT(errors[0], HasSubstr("spec.logLevel: must be one of"));
  api.PutVRouter("default", {{"logLevel", "debug"}});
  ASSERT_TRUE(wait([&] { return !updates.empty(); }));
  EXPECT_EQ(updates[0].config.log_level, "debug");
  EXPECT_EQ(updates[0].resource_version, "103");
  // A node-named object appearing later takes over.
  api.PutVRouter("node-1", {{"logLevel", "error"}});
  ASSERT_TRUE(wait([&] { return updates.size() >= 2; }));
  EXPECT_EQ(updates[1].object, "vrouters/node-1");
  // Deleting everything keeps the last configuration (no update).
  api.DeleteVRouter("node-1");
  api.DeleteVRouter("default");
  // Wait for a poll to see the deletions (a fixed sleep was flaky on a
  // loaded machine).
  // (Status() outside `mu`: the poll thread may hold its lock while it
  // calls back into the lambdas above.)
  bool kept = false;
  for (int i = 0; i < 200 && !kept; ++i) {
    const nlohmann::json st = (*src)->Status();
    kept = st.contains("lastError") && st["lastError"].is_string() &&
           st["lastError"].get<std::string>().find("keeping") != std::string::npos;
    if (!kept) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(kept);
  (*src)->Stop();
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(updates.size(), 2u);
  EXPECT_THAT((*src)->Status()["lastError"].get<std::string>(), HasSubstr("keeping"));
}

// ---- live or restart ----------------------------------------------------------

VRouterConfig Base() {
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(kSharedFile, {"node-1", "10.244.1.0/24", ""});
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(VRouterDiffTest, ClassifiesFields) {
  VRouterConfig a = Base();
  VRouterConfig b = a;
  b.log_level = "debug";
  b.events_per_second = 5;
  b.flows.timeouts.udp = 99;
  b.flows.events = false;
  b.pod_cidr = *Ipv4Prefix::Parse("10.245.0.0/24");
  b.agent_mode = AgentMode::kXdpGeneric;
  b.overlay.vni = 7;
  b.mtu = 9000;  // not set: derived at run time, not an edit
  VRouterDiff d = DiffVRouter(a, b);
  EXPECT_THAT(d.live, UnorderedElementsAre("spec.logLevel", "spec.eventsPerSecond",
                                           "spec.flows.timeouts", "spec.flows.events"));
  EXPECT_THAT(d.restart, UnorderedElementsAre("spec.podCIDR", "spec.agentModeType",
                                              "spec.overlay.vni"));
  EXPECT_TRUE(DiffVRouter(a, a).empty());
}

TEST(VRouterReloaderTest, AppliesLiveAndReportsRestart) {
  VRouterConfig start = Base();
  std::string level;
  uint32_t eps = 0;
  FlowTimeouts timeouts;
  uint32_t gc = 0;
  bool events = true;
  VRouterReloader r(start, "api", "vrouters/default", "5",
                    {.logging = [&](const VRouterConfig& c) { level = c.log_level; },
                     .events_per_second = [&](uint32_t v) { eps = v; return absl::OkStatus(); },
                     .flow_timeouts = [&](const FlowTimeouts& t, uint32_t g) { timeouts = t; gc = g; },
                     .flow_events = [&](bool on) { events = on; return absl::OkStatus(); }});
  VRouterConfig next = start;
  next.log_level = "debug";
  next.events_per_second = 7;
  next.flows.gc_interval_s = 9;
  next.flows.events = false;
  VRouterDiff d = r.Update(next, "api", "vrouters/default", "6");
  EXPECT_THAT(d.restart, IsEmpty());
  EXPECT_EQ(level, "debug");
  EXPECT_EQ(eps, 7u);
  EXPECT_EQ(gc, 9u);
  EXPECT_FALSE(events);

  next.pod_cidr = *Ipv4Prefix::Parse("10.99.0.0/24");
  next.gateway_ip = *Ipv4Addr::Parse("10.99.0.1");
  d = r.Update(next, "api", "vrouters/default", "7");
  EXPECT_THAT(d.live, IsEmpty());
  EXPECT_THAT(d.restart, ElementsAre("spec.podCIDR", "spec.gatewayIP"));
  json j = r.ToJson();
  EXPECT_EQ(j["resourceVersion"], "7");
  EXPECT_EQ(j["pendingRestartFields"], json::array({"spec.podCIDR", "spec.gatewayIP"}));
  EXPECT_EQ(j["spec"]["podCIDR"], "10.244.1.0/24");  // still what runs
  EXPECT_EQ(j["spec"]["logLevel"], "debug");

  // Reverting clears the pending restart.
  next.pod_cidr = start.pod_cidr;
  next.gateway_ip = start.gateway_ip;
  d = r.Update(next, "api", "vrouters/default", "8");
  EXPECT_THAT(r.PendingRestart(), IsEmpty());

  // A failing setter keeps the field pending.
  VRouterReloader bad(start, "file", "/x", "",
                      {.events_per_second = [](uint32_t) { return absl::InternalError("map"); }});
  next.events_per_second = 1;
  d = bad.Update(next, "api", "vrouters/default", "9");
  EXPECT_THAT(d.restart, ElementsAre("spec.eventsPerSecond"));
  EXPECT_EQ(bad.Effective().events_per_second, start.events_per_second);
}

}  // namespace
}  // namespace xvr::k8s

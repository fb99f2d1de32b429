// The chart's rendered VRouter and conflist, read by the agent's and the
// CNI plugin's own parsers: the CRD schema (validate.py) and the parsers
// must agree on what the chart produces. XVR_CHART_RENDERED names the
// rendered manifest (set by ctest; see test/chart/CMakeLists.txt).
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config/vrouter.h"
#include "agent/config/vrouter_cluster.h"
#include "cni-plugin/conflist.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

std::string Env(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v == nullptr ? dflt : v;
}

class ChartParseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("XVR_CHART_RENDERED");
    if (path == nullptr) GTEST_SKIP() << "XVR_CHART_RENDERED not set (run through ctest)";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot open " << path;
    std::stringstream buf;
    buf << in.rdbuf();
    docs_ = YAML::LoadAll(buf.str());
    for (const YAML::Node& d : docs_) {
      if (!d.IsMap() || !d["kind"]) continue;
      const std::string kind = d["kind"].as<std::string>();
      if (kind == "VRouter") cr_ = d;
      if (kind == "ConfigMap" && d["data"] && d["data"]["vrouter.yaml"]) cm_ = d;
    }
    ASSERT_TRUE(cr_.IsDefined()) << "no VRouter in " << path;
    ASSERT_TRUE(cm_.IsDefined()) << "no ConfigMap with vrouter.yaml in " << path;
  }

  // The CR as the API server returns it: the agent reads the whole object
  // (metadata carries far more than a name there); helm's annotations and
  // labels must not upset the parser.
  std::string CrText() const { return YAML::Dump(cr_); }

  NodeFacts Facts() const { return {"node-1", "10.244.1.0/24", "eth0"}; }

  std::vector<YAML::Node> docs_;
  YAML::Node cr_;
  YAML::Node cm_;
};

void ExpectChartDefaults(const VRouterConfig& c) {
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.node_name, "node-1");
  EXPECT_EQ(c.pod_cidr.ToString(), "10.244.1.0/24");
  EXPECT_EQ(c.gateway_ip.ToString(), "10.244.1.1");
  EXPECT_EQ(c.fabric_interface, "eth0");
  EXPECT_EQ(AgentModeName(c.agent_mode), Env("XVR_CHART_EXPECT_MODE", "xdp"));
  EXPECT_EQ(PodAttachName(c.pod_attach), Env("XVR_CHART_EXPECT_ATTACH", "xdp"));
  EXPECT_EQ(c.api_socket, "/run/xvr/agent.sock");
  EXPECT_EQ(c.state_dir, "/var/lib/xvr");
  EXPECT_EQ(c.bpf_root, "/sys/fs/bpf/xvr");
  const std::string metrics = Env("XVR_CHART_EXPECT_METRICS", "on");
  EXPECT_EQ(c.metrics_address, metrics == "off" ? "" : "0.0.0.0:9890");
  EXPECT_FALSE(c.mtu_set);
  EXPECT_EQ(c.overlay.type, OverlayConfig::Type::kVxlan);
  EXPECT_EQ(c.overlay.port, 4789);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.flows.table_size, 262144u);
  EXPECT_EQ(c.flows.timeouts, FlowTimeouts{});
  EXPECT_TRUE(c.flows.log.path.empty());
}

TEST_F(ChartParseTest, CustomResourceParses) {
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(CrText(), Facts());
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectChartDefaults(*c);
}

TEST_F(ChartParseTest, CustomResourceAsJsonParses) {
  // What GET /apis/xvr.dev/v1alpha1/vrouters/default returns is JSON.
  YAML::Emitter e;
  e << YAML::DoubleQuoted << YAML::Flow << cr_;
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(e.c_str(), Facts());
  ASSERT_TRUE(c.ok()) << c.status() << "\n" << e.c_str();
  EXPECT_EQ(AgentModeName(c->agent_mode), Env("XVR_CHART_EXPECT_MODE", "xdp"));
}

TEST_F(ChartParseTest, ConfigMapCopyParsesTheSame) {
  const std::string file = cm_["data"]["vrouter.yaml"].as<std::string>();
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(file, Facts());
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectChartDefaults(*c);
  absl::StatusOr<VRouterConfig> cr = ParseClusterVRouter(CrText(), Facts());
  ASSERT_TRUE(cr.ok());
  EXPECT_TRUE(DiffVRouter(*cr, *c).empty());
}

TEST_F(ChartParseTest, SharedVRouterNeedsTheNode) {
  // Without completion the shared object is not a whole node config: the
  // strict parser says what is missing.
  absl::StatusOr<VRouterConfig> c = ParseVRouter(CrText());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("spec.nodeName: required"), std::string::npos)
      << c.status();
  absl::StatusOr<VRouterConfig> no_cidr = ParseClusterVRouter(CrText(), {"node-1", "", ""});
  ASSERT_FALSE(no_cidr.ok());
  EXPECT_NE(no_cidr.status().message().find("spec.podCIDR"), std::string::npos);
}

TEST_F(ChartParseTest, ConflistParsesAndPointsAtTheAgent) {
  std::string conflist;
  for (const auto& kv : cm_["data"]) {
    const std::string key = kv.first.as<std::string>();
    if (key.size() > 9 && key.substr(key.size() - 9) == ".conflist") {
      EXPECT_EQ(key, "10-xvr.conflist");
      conflist = kv.second.as<std::string>();
    }
  }
  ASSERT_FALSE(conflist.empty());
  absl::StatusOr<cni::ConfList> list = cni::ParseConfList(conflist);
  ASSERT_TRUE(list.ok()) << list.status() << "\n" << conflist;
  EXPECT_EQ(list->name, "xvr");
  EXPECT_EQ(list->cni_version, "1.1.0");
  EXPECT_EQ(list->cni_versions, (std::vector<std::string>{"1.0.0", "1.1.0"}));
  ASSERT_EQ(list->plugins.size(), 1u);
  EXPECT_EQ(list->plugins[0].type, "xvr-cni");
  EXPECT_EQ(list->plugins[0].name, "xvr");
  absl::StatusOr<VRouterConfig> c = ParseClusterVRouter(CrText(), Facts());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(list->plugins[0].agent_socket, c->api_socket);
}

}  // namespace
}  // namespace xvr

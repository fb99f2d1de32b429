#include "agent/config/vrouter.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] = R"(
apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata:
  name: node-a
spec:
  nodeName: node-a
  podCIDR: 10.244.1.0/24
)";

// kMinimal with `line` appended under spec (indented by the caller).
std::string WithSpec(const std::string& line) { return std::string(kMinimal) + "  " + line + "\n"; }

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(yaml);
  EXPECT_FALSE(cfg.ok()) << "parsed unexpectedly:\n" << yaml;
  if (cfg.ok()) return "";
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(cfg.status().message());
}

TEST(VRouterConfig, MinimalSpecGetsDocumentedDefaults) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(kMinimal);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->name, "node-a");
  EXPECT_EQ(cfg->node_name, "node-a");
  EXPECT_EQ(cfg->agent_mode, AgentMode::kXdp);
  EXPECT_EQ(cfg->pod_attach, PodAttach::kXdp);
  EXPECT_EQ(cfg->pod_cidr.ToString(), "10.244.1.0/24");
  EXPECT_EQ(cfg->gateway_ip.ToString(), "10.244.1.1");
  EXPECT_EQ(cfg->fabric_interface, "");
  EXPECT_EQ(cfg->bpf_root, "/sys/fs/bpf/xvr");
  EXPECT_EQ(cfg->api_socket, "/run/xvr/agent.sock");
  EXPECT_EQ(cfg->state_dir, "/var/lib/xvr");
  EXPECT_EQ(cfg->mtu, 1500u);
  EXPECT_EQ(cfg->host_interface, "xvr_host");
  EXPECT_EQ(cfg->host_peer_interface, "xvr_net");
  EXPECT_EQ(cfg->log_level, "info");
  EXPECT_EQ(cfg->log_format, LogFormat::kText);
  EXPECT_EQ(cfg->events_per_second, 100u);
}

TEST(VRouterConfig, FullSpecParsesEveryField) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(R"(
apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata: {name: vr, labels: {a: b}, annotations: {x: y}}
spec:
  nodeName: worker-1.example
  agentModeType: xdp-generic
  podAttach: tc
  podCIDR: 10.10.0.0/16
  gatewayIP: 10.10.255.254
  fabricInterface: eth0
  bpfRoot: /sys/fs/bpf/other
  apiSocket: /tmp/xvr.sock
  stateDir: /tmp/xvr-state
  mtu: 9000
  hostInterface: h0
  hostPeerInterface: h1
  logLevel: debug
  logFormat: json
  eventsPerSecond: 0
status:
  anything: goes
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->name, "vr");
  EXPECT_EQ(cfg->node_name, "worker-1.example");
  EXPECT_EQ(cfg->agent_mode, AgentMode::kXdpGeneric);
  EXPECT_EQ(cfg->pod_attach, PodAttach::kTc);
  EXPECT_EQ(cfg->pod_cidr.ToString(), "10.10.0.0/16");
  EXPECT_EQ(cfg->gateway_ip.ToString(), "10.10.255.254");
  EXPECT_EQ(cfg->fabric_interface, "eth0");
  EXPECT_EQ(cfg->bpf_root, "/sys/fs/bpf/other");
  EXPECT_EQ(cfg->api_socket, "/tmp/xvr.sock");
  EXPECT_EQ(cfg->state_dir, "/tmp/xvr-state");
  EXPECT_EQ(cfg->mtu, 9000u);
  EXPECT_EQ(cfg->host_interface, "h0");
  EXPECT_EQ(cfg->host_peer_interface, "h1");
  EXPECT_EQ(cfg->log_level, "debug");
  EXPECT_EQ(cfg->log_format, LogFormat::kJson);
  EXPECT_EQ(cfg->events_per_second, 0u);
}

TEST(VRouterConfig, NullOptionalFieldMeansDefault) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(WithSpec("mtu:"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->mtu, 1500u);
}

TEST(VRouterConfig, UnknownSpecFieldIsNamed) {
  EXPECT_EQ(ErrorOf(WithSpec("podCidr: 10.0.0.0/24")), "spec.podCidr: unknown field");
}

TEST(VRouterConfig, UnknownTopLevelFieldIsNamed) {
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "extra: 1\n"), "extra: unknown field");
}

TEST(VRouterConfig, DuplicateFieldIsRejected) {
  EXPECT_EQ(ErrorOf(WithSpec("nodeName: other")), "spec.nodeName: duplicate field");
}

TEST(VRouterConfig, BadAgentModeTypeListsTheChoices) {
  EXPECT_EQ(ErrorOf(WithSpec("agentModeType: dpdk")),
            "spec.agentModeType: must be one of xdp, xdp-generic, got \"dpdk\"");
}

TEST(VRouterConfig, BadPodAttachIsRejected) {
  EXPECT_THAT(ErrorOf(WithSpec("podAttach: sk_msg")), StartsWith("spec.podAttach: must be one of xdp, tc"));
}

TEST(VRouterConfig, WrongTypesAreNamedByPath) {
  EXPECT_EQ(ErrorOf(WithSpec("mtu: abc")), "spec.mtu: must be an integer, got \"abc\"");
  EXPECT_EQ(ErrorOf(WithSpec("mtu: [1500]")), "spec.mtu: must be an integer, got a sequence");
  EXPECT_EQ(ErrorOf(WithSpec("fabricInterface: {name: eth0}")),
            "spec.fabricInterface: must be a string, got a mapping");
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec: [1]\n"),
            "spec: must be a mapping, got a sequence");
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nmetadata: x\nspec: {}\n"),
            "metadata: must be a mapping, got a scalar");
}

TEST(VRouterConfig, RequiredFieldsAreNamed) {
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec: {podCIDR: 10.0.0.0/24}\n"),
            "spec.nodeName: required");
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec: {nodeName: n}\n"),
            "spec.podCIDR: required");
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\n"), "spec: required");
  EXPECT_EQ(ErrorOf("kind: VRouter\nspec: {}\n"), "apiVersion: required");
}

TEST(VRouterConfig, WrongApiVersionOrKindIsRejected) {
  EXPECT_EQ(ErrorOf("apiVersion: v1\nkind: VRouter\nspec: {}\n"),
            "apiVersion: must be xvr.dev/v1alpha1, got \"v1\"");
  EXPECT_EQ(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: ConfigMap\nspec: {}\n"),
            "kind: must be VRouter, got \"ConfigMap\"");
}

TEST(VRouterConfig, BadNodeNameIsRejected) {
  EXPECT_THAT(ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\n"
                      "spec: {nodeName: Node_A, podCIDR: 10.0.0.0/24}\n"),
              StartsWith("spec.nodeName: must be a lowercase RFC 1123 subdomain"));
}

std::string CidrError(const std::string& cidr) {
  return ErrorOf("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec: {nodeName: n, podCIDR: " +
                 cidr + "}\n");
}

TEST(VRouterConfig, BadPodCidrIsRejected) {
  EXPECT_THAT(CidrError("10.0.0.0"), StartsWith("spec.podCIDR: invalid IPv4 prefix"));
  EXPECT_THAT(CidrError("10.0.0.300/24"), StartsWith("spec.podCIDR: invalid IPv4 prefix"));
  EXPECT_THAT(CidrError("10.0.0.1/24"), HasSubstr("host bits set"));
  EXPECT_THAT(CidrError("fd00::/64"), StartsWith("spec.podCIDR: invalid IPv4 prefix"));
  EXPECT_EQ(CidrError("10.0.0.0/31"),
            "spec.podCIDR: prefix length must be between 8 and 30, got /31");
  EXPECT_EQ(CidrError("10.0.0.0/7"),
            "spec.podCIDR: prefix length must be between 8 and 30, got /7");
}

TEST(VRouterConfig, GatewayOutsidePodCidrIsRejected) {
  EXPECT_EQ(ErrorOf(WithSpec("gatewayIP: 10.244.2.1")),
            "spec.gatewayIP: 10.244.2.1 is not inside spec.podCIDR 10.244.1.0/24");
  EXPECT_THAT(ErrorOf(WithSpec("gatewayIP: 10.244.1.255")),
              HasSubstr("network or broadcast address"));
  EXPECT_THAT(ErrorOf(WithSpec("gatewayIP: nope")), StartsWith("spec.gatewayIP: invalid IPv4"));
}

TEST(VRouterConfig, OutOfRangeNumbersAreRejected) {
  EXPECT_EQ(ErrorOf(WithSpec("mtu: 575")), "spec.mtu: must be between 576 and 65535, got 575");
  EXPECT_EQ(ErrorOf(WithSpec("mtu: 65536")), "spec.mtu: must be between 576 and 65535, got 65536");
  EXPECT_THAT(ErrorOf(WithSpec("eventsPerSecond: -1")), StartsWith("spec.eventsPerSecond: must be between 0"));
}

TEST(VRouterConfig, BadNamesAndPathsAreRejected) {
  EXPECT_THAT(ErrorOf(WithSpec("fabricInterface: a-name-longer-than-15")),
              StartsWith("spec.fabricInterface: invalid interface name"));
  EXPECT_THAT(ErrorOf(WithSpec("hostInterface: a/b")),
              StartsWith("spec.hostInterface: invalid interface name"));
  EXPECT_THAT(ErrorOf(WithSpec("hostPeerInterface: xvr_host")),
              StartsWith("spec.hostPeerInterface: must differ from spec.hostInterface"));
  EXPECT_EQ(ErrorOf(WithSpec("stateDir: var/lib/xvr")),
            "spec.stateDir: must be an absolute path, got \"var/lib/xvr\"");
  EXPECT_THAT(ErrorOf(WithSpec("apiSocket: /" + std::string(120, 'a'))),
              StartsWith("spec.apiSocket: longer than 107 bytes"));
  EXPECT_THAT(ErrorOf(WithSpec("logLevel: verbose")),
              StartsWith("spec.logLevel: must be one of trace, debug, info, warn, error"));
  EXPECT_THAT(ErrorOf(WithSpec("logFormat: xml")), StartsWith("spec.logFormat: must be one of text, json"));
}

TEST(VRouterConfig, MalformedYamlIsAnErrorNotACrash) {
  EXPECT_THAT(ErrorOf("spec: [unclosed\n"), StartsWith("invalid YAML"));
  EXPECT_THAT(ErrorOf(""), StartsWith("empty VRouter document"));
  EXPECT_THAT(ErrorOf("- a\n- b\n"), StartsWith("VRouter document must be a mapping"));
  EXPECT_THAT(ErrorOf("? [complex, key]\n: 1\n"), HasSubstr("keys must be scalars"));
}

TEST(VRouterConfig, LoadFileReadsAndPrefixesErrorsWithThePath) {
  testing::TempDir dir;
  const std::string good = dir.Sub("good.yaml");
  std::ofstream(good) << kMinimal;
  absl::StatusOr<VRouterConfig> cfg = LoadVRouterFile(good);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->node_name, "node-a");

  const std::string bad = dir.Sub("bad.yaml");
  std::ofstream(bad) << WithSpec("podCidr: x");
  cfg = LoadVRouterFile(bad);
  EXPECT_EQ(cfg.status().message(), bad + ": spec.podCidr: unknown field");

  cfg = LoadVRouterFile(dir.Sub("missing.yaml"));
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace xvr

namespace xvr {
namespace {

TEST(VRouterOverlay, DefaultsAreVxlan4789Vni1MasqueradeOn) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(R"(apiVersion: xvr.dev/v1alpha1
kind: VRouter
spec: {nodeName: n1, podCIDR: 10.244.1.0/24}
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->overlay.type, OverlayConfig::Type::kVxlan);
  EXPECT_EQ(cfg->overlay.port, 4789);
  EXPECT_EQ(cfg->overlay.vni, 1u);
  EXPECT_TRUE(cfg->masquerade);
  EXPECT_FALSE(cfg->cluster_cidr.has_value());
  EXPECT_FALSE(cfg->mtu_set);
}

TEST(VRouterOverlay, FlannelPortVniClusterCidrAndErrorsNameTheField) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(R"(apiVersion: xvr.dev/v1alpha1
kind: VRouter
spec:
  nodeName: n1
  podCIDR: 10.244.1.0/24
  clusterCIDR: 10.244.0.0/16
  masquerade: false
  overlay: {type: vxlan, port: 8472, vni: 42}
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->overlay.port, 8472);
  EXPECT_EQ(cfg->overlay.vni, 42u);
  EXPECT_FALSE(cfg->masquerade);
  EXPECT_EQ(cfg->cluster_cidr->ToString(), "10.244.0.0/16");

  auto err = [](const std::string& extra) {
    return std::string(ParseVRouter("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec:\n"
                                    "  nodeName: n1\n  podCIDR: 10.244.1.0/24\n" + extra)
                           .status()
                           .message());
  };
  EXPECT_EQ(err("  overlay: {vni: 0}\n"), "spec.overlay.vni: must be between 1 and 16777215, got 0");
  EXPECT_EQ(err("  overlay: {type: geneve}\n"),
            "spec.overlay.type: must be one of vxlan, none, got \"geneve\"");
  EXPECT_EQ(err("  overlay: {prot: 1}\n"), "spec.overlay.prot: unknown field");
  EXPECT_EQ(err("  clusterCIDR: 10.0.0.0/16\n"),
            "spec.clusterCIDR: 10.0.0.0/16 does not contain spec.podCIDR 10.244.1.0/24");
  EXPECT_EQ(err("  masquerade: maybe\n"),
            "spec.masquerade: must be one of true, false, got \"maybe\"");
}

TEST(VRouterServices, ServiceCidrParsedAndMustNotOverlapPods) {
  auto parse = [](const std::string& extra) {
    return ParseVRouter("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec:\n"
                        "  nodeName: n1\n  podCIDR: 10.244.1.0/24\n" + extra);
  };
  absl::StatusOr<VRouterConfig> cfg = parse("  serviceCIDR: 10.96.0.0/12\n");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->service_cidr->ToString(), "10.96.0.0/12");
  EXPECT_FALSE(parse("").value().service_cidr.has_value());
  EXPECT_EQ(parse("  serviceCIDR: 10.244.0.0/16\n").status().message(),
            "spec.serviceCIDR: 10.244.0.0/16 overlaps spec.podCIDR 10.244.1.0/24");
  EXPECT_EQ(parse("  serviceCIDR: 10.96.0.1/12\n").status().message().substr(0, 17),
            "spec.serviceCIDR:");
}

}  // namespace
}  // namespace xvr

namespace xvr {
namespace {

absl::StatusOr<VRouterConfig> ParseWithFlows(const std::string& flows) {
  return ParseVRouter("apiVersion: xvr.dev/v1alpha1\nkind: VRouter\nspec:\n"
                      "  nodeName: n1\n  podCIDR: 10.244.1.0/24\n" + flows);
}

std::string FlowsError(const std::string& flows) {
  absl::StatusOr<VRouterConfig> cfg = ParseWithFlows(flows);
  EXPECT_FALSE(cfg.ok()) << "parsed unexpectedly:\n" << flows;
  return std::string(cfg.status().message());
}

TEST(VRouterFlows, DefaultsWithoutTheSection) {
  absl::StatusOr<VRouterConfig> cfg = ParseWithFlows("");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const FlowsConfig& f = cfg->flows;
  EXPECT_EQ(f.table_size, 262144u);
  EXPECT_EQ(f.gc_interval_s, 5u);
  EXPECT_TRUE(f.events);
  EXPECT_EQ(f.log.path, "");  // off
  EXPECT_EQ(f.log.max_size_mb, 100u);
  EXPECT_EQ(f.log.max_files, 5u);
  EXPECT_EQ(f.timeouts.tcp_syn, 60u);
  EXPECT_EQ(f.timeouts.tcp_established, 21600u);
  EXPECT_EQ(f.timeouts.tcp_fin, 30u);
  EXPECT_EQ(f.timeouts.tcp_closed, 10u);
  EXPECT_EQ(f.timeouts.udp, 30u);
  EXPECT_EQ(f.timeouts.udp_replied, 120u);
  EXPECT_EQ(f.timeouts.icmp, 30u);
  EXPECT_EQ(f.timeouts.sctp, 120u);
  EXPECT_EQ(f.timeouts.other, 60u);
  // An empty or null section is the defaults too.
  ASSERT_TRUE(ParseWithFlows("  flows: {}\n").ok());
  ASSERT_TRUE(ParseWithFlows("  flows:\n").ok());
}

TEST(VRouterFlows, EveryFieldParses) {
  absl::StatusOr<VRouterConfig> cfg = ParseWithFlows(R"(  flows:
    tableSize: 1024
    gcInterval: 2
    events: false
    timeouts:
      tcpSyn: 1
      tcpEstablished: 2
      tcpFin: 3
      tcpClosed: 4
      udp: 5
      udpReplied: 6
      icmp: 7
      sctp: 8
      other: 9
    log:
      path: /var/log/xvr/flows.log
      maxSizeMB: 10
      maxFiles: 3
)");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const FlowsConfig& f = cfg->flows;
  EXPECT_EQ(f.table_size, 1024u);
  EXPECT_EQ(f.gc_interval_s, 2u);
  EXPECT_FALSE(f.events);
  EXPECT_EQ(f.timeouts, (FlowTimeouts{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(f.log.path, "/var/log/xvr/flows.log");
  EXPECT_EQ(f.log.max_size_mb, 10u);
  EXPECT_EQ(f.log.max_files, 3u);
}

TEST(VRouterFlows, ErrorsNameTheField) {
  EXPECT_EQ(FlowsError("  flows: {tableSize: 1023}\n"),
            "spec.flows.tableSize: must be between 1024 and 16777216, got 1023");
  EXPECT_EQ(FlowsError("  flows: {tableSize: 16777217}\n"),
            "spec.flows.tableSize: must be between 1024 and 16777216, got 16777217");
  EXPECT_EQ(FlowsError("  flows: {tableSize: lots}\n"),
            "spec.flows.tableSize: must be an integer, got \"lots\"");
  EXPECT_EQ(FlowsError("  flows: {gcInterval: 0}\n"),
            "spec.flows.gcInterval: must be between 1 and 3600, got 0");
  EXPECT_EQ(FlowsError("  flows: {events: sometimes}\n"),
            "spec.flows.events: must be one of true, false, got \"sometimes\"");
  EXPECT_EQ(FlowsError("  flows: {timeouts: {udp: 0}}\n"),
            "spec.flows.timeouts.udp: must be between 1 and 2592000, got 0");
  EXPECT_EQ(FlowsError("  flows: {timeouts: {tcpEstablished: -5}}\n"),
            "spec.flows.timeouts.tcpEstablished: must be between 1 and 2592000, got -5");
  EXPECT_EQ(FlowsError("  flows: {timeouts: {tcp: 5}}\n"), "spec.flows.timeouts.tcp: unknown field");
  EXPECT_EQ(FlowsError("  flows: {timeouts: 5}\n"),
            "spec.flows.timeouts: must be a mapping, got a scalar");
  EXPECT_EQ(FlowsError("  flows: {log: {path: flows.log}}\n"),
            "spec.flows.log.path: must be an absolute path, got \"flows.log\"");
  EXPECT_EQ(FlowsError("  flows: {log: {path: /var/log/}}\n"),
            "spec.flows.log.path: must name a file, got the directory \"/var/log/\"");
  EXPECT_EQ(FlowsError("  flows: {log: {maxSizeMB: 0}}\n"),
            "spec.flows.log.maxSizeMB: must be between 1 and 102400, got 0");
  EXPECT_EQ(FlowsError("  flows: {log: {maxFiles: 0}}\n"),
            "spec.flows.log.maxFiles: must be between 1 and 1000, got 0");
  EXPECT_EQ(FlowsError("  flows: {log: {rotate: yes}}\n"), "spec.flows.log.rotate: unknown field");
  EXPECT_EQ(FlowsError("  flows: {tablesize: 2048}\n"), "spec.flows.tablesize: unknown field");
  EXPECT_EQ(FlowsError("  flows: [1]\n"), "spec.flows: must be a mapping, got a sequence");
}

}  // namespace
}  // namespace xvr

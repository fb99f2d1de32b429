// The VRouter resource: the per-node configuration of xvr-agent, in the shape
// of CN2's vRouter custom resource (apiVersion xvr.dev/v1alpha1, kind
// VRouter). Parsed strictly: an unknown or mistyped field is an error that
// names its path, because a silently ignored typo (podCidr) on a data-path
// component shows up much later as a packet loss nobody can explain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/common/net_types.h"

namespace xvr {

// spec.agentModeType: how XDP programs attach to the fabric NIC.
enum class AgentMode {
  kXdp,         // "xdp": native (driver) mode
  kXdpGeneric,  // "xdp-generic": skb (generic) mode
};

// spec.podAttach: which hook carries traffic from pods on their host veth.
enum class PodAttach {
  kXdp,  // "xdp": xdp_pod
  kTc,   // "tc": tc_pod on TC ingress (keeps veth TSO/GRO; see DESIGN.md §3)
};

enum class LogFormat { kText, kJson };

// spec.overlay: how pod traffic crosses to other nodes.
struct OverlayConfig {
  enum class Type { kVxlan, kNone };
  Type type = Type::kVxlan;
  uint16_t port = 4789;  // IANA VXLAN; flannel uses 8472
  uint32_t vni = 1;      // 24 bits
};

// spec.flows.timeouts: how long an idle flow pair lives, by protocol and
// state, in seconds. The data path never expires flows; the agent's GC does.
struct FlowTimeouts {
  uint32_t tcp_syn = 60;              // SYN_SENT, SYN_RECV
  uint32_t tcp_established = 21600;   // ESTABLISHED
  uint32_t tcp_fin = 30;              // FIN_WAIT
  uint32_t tcp_closed = 10;           // CLOSED (both FINs or a RST)
  uint32_t udp = 30;                  // UDP (and SCTP) without a reply yet
  uint32_t udp_replied = 120;         // UDP with replies
  uint32_t icmp = 30;
  uint32_t sctp = 120;                // SCTP with replies
  uint32_t other = 60;                // any other protocol

  bool operator==(const FlowTimeouts&) const = default;
};

// spec.flows.log: the flow log (JSON lines). An empty path turns it off.
struct FlowLogConfig {
  std::string path;
  uint32_t max_size_mb = 100;  // per file, before rotation
  uint32_t max_files = 5;      // rotated files kept besides the current one
};

// spec.flows: connection tracking (the xvr_flows LRU map) as the agent runs it.
struct FlowsConfig {
  uint32_t table_size = 262144;  // entries (two per connection)
  uint32_t gc_interval_s = 5;
  FlowTimeouts timeouts;
  bool events = true;  // flow-created events from the data path
  FlowLogConfig log;
};

inline constexpr char kVRouterApiVersion[] = "xvr.dev/v1alpha1";
inline constexpr char kVRouterKind[] = "VRouter";

struct VRouterConfig {
  std::string name;  // metadata.name, informational
  std::string node_name;
  AgentMode agent_mode = AgentMode::kXdp;
  PodAttach pod_attach = PodAttach::kXdp;
  Ipv4Prefix pod_cidr;
  Ipv4Addr gateway_ip;           // defaults to the first address of pod_cidr
  std::string fabric_interface;  // empty: no fabric NIC program
  std::string bpf_root = "/sys/fs/bpf/xvr";
  std::string api_socket = "/run/xvr/agent.sock";
  std::string state_dir = "/var/lib/xvr";
  uint32_t mtu = 1500;
  bool mtu_set = false;  // spec.mtu given; else fabric MTU - 50 with a fabric
  OverlayConfig overlay;
  std::optional<Ipv4Prefix> cluster_cidr;  // spec.clusterCIDR: all pods of the cluster
  bool masquerade = true;                  // spec.masquerade: SNAT to outside the cluster
  // spec.serviceCIDR: the ClusterIP range. When set, the node routes it into
  // host_interface so the node's own connections to ClusterIPs reach
  // tc_host_egress (kube-proxy's "node → service" path).
  std::optional<Ipv4Prefix> service_cidr;
  // Host loopback veth pair: the node routes the pod CIDR into
  // host_interface (tc_host_egress runs there); host_peer_interface is its
  // other end.
  std::string host_interface = "xvr_host";
  std::string host_peer_interface = "xvr_net";
  std::string log_level = "info";  // trace|debug|info|warn|error (spdlog names)
  LogFormat log_format = LogFormat::kText;
  uint32_t events_per_second = 100;  // drop events per CPU per second, 0 = none
  FlowsConfig flows;
  // spec.metricsAddress: "host:port" of the Prometheus /metrics, /healthz and
  // /readyz TCP listener; "" turns it off; port 0 binds an ephemeral port.
  std::string metrics_address = "0.0.0.0:9890";
};

// Parses one YAML document holding a VRouter object. Every error message
// starts with the path of the offending field ("spec.podCIDR: ...").
absl::StatusOr<VRouterConfig> ParseVRouter(const std::string& yaml_text);
// Reads and parses a file; errors are prefixed with the file name.
absl::StatusOr<VRouterConfig> LoadVRouterFile(const std::string& path);

// Splits "host:port" (host an IPv4 address, a DNS name or "[v6]"; port
// 0-65535). Used for spec.metricsAddress.
absl::Status ParseHostPort(absl::string_view s, std::string* host, uint16_t* port);

const char* AgentModeName(AgentMode m);
const char* PodAttachName(PodAttach a);
const char* LogFormatName(LogFormat f);

}  // namespace xvr

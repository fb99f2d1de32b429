#include "agent/config/vrouter_cluster.h"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace xvr {
namespace {

bool Absent(const YAML::Node& map, const char* key) {
  const YAML::Node n = map[key];
  return !n.IsDefined() || n.IsNull();
}

}  // namespace

absl::StatusOr<VRouterConfig> ParseClusterVRouter(const std::string& text,
                                                  const NodeFacts& facts) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  // Anything but a mapping with a spec mapping: ParseVRouter says what is
  // wrong, in its words.
  if (!root.IsMap() || !root["spec"].IsMap()) return ParseVRouter(text);
  YAML::Node spec = root["spec"];
  try {
    if (Absent(spec, "nodeName")) {
      if (facts.node_name.empty()) {
        return absl::InvalidArgumentError(
            "spec.nodeName: required (not in the VRouter and NODE_NAME is not set)");
      }
      spec["nodeName"] = facts.node_name;
    } else if (spec["nodeName"].IsScalar() && !facts.node_name.empty() &&
               spec["nodeName"].Scalar() != facts.node_name) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.nodeName: \"", spec["nodeName"].Scalar(),
                       "\" is another node than this one (\"", facts.node_name, "\")"));
    }
    if (Absent(spec, "podCIDR")) {
      if (facts.pod_cidr.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "spec.podCIDR: required (not in the VRouter, and Node \"", facts.node_name,
            "\" has no spec.podCIDR)"));
      }
      spec["podCIDR"] = facts.pod_cidr;
    }
    if (Absent(spec, "fabricInterface") && !facts.default_ifname.empty()) {
      spec["fabricInterface"] = facts.default_ifname;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid VRouter document: ", e.what()));
  }
  YAML::Emitter out;
  out << root;
  if (!out.good()) {
    return absl::InvalidArgumentError(absl::StrCat("VRouter: cannot re-emit: ", out.GetLastError()));
  }
  return ParseVRouter(out.c_str());
}

std::string DefaultRouteInterface(const std::string& proc_net_route) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
  std::string best;
  int64_t best_metric = std::numeric_limits<int64_t>::max();
  bool header = true;
  for (absl::string_view line : absl::StrSplit(proc_net_route, '\n')) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 8) continue;
    uint32_t flags = 0;
    int64_t metric = 0;
    if (f[1] != "00000000" || f[7] != "00000000") continue;  // not 0.0.0.0/0
    if (!absl::SimpleHexAtoi(f[3], &flags) || (flags & 0x1) == 0) continue;  // RTF_UP
    if (!absl::SimpleAtoi(f[6], &metric)) continue;
    if (metric < best_metric) {
      best_metric = metric;
      best = std::string(f[0]);
    }
  }
  return best;
}

std::string DefaultRouteInterface() {
  std::ifstream in("/proc/net/route");
  if (!in) return "";
  std::ostringstream buf;
  buf << in.rdbuf();
  return DefaultRouteInterface(buf.str());
}

VRouterDiff DiffVRouter(const VRouterConfig& a, const VRouterConfig& b) {
  VRouterDiff d;
  auto cmp = [&d](bool changed, const char* field, bool live) {
    if (changed) (live ? d.live : d.restart).push_back(field);
  };
  cmp(a.node_name != b.node_name, "spec.nodeName", false);
  cmp(a.agent_mode != b.agent_mode, "spec.agentModeType", false);
  cmp(a.pod_attach != b.pod_attach, "spec.podAttach", false);
  cmp(!(a.pod_cidr == b.pod_cidr), "spec.podCIDR", false);
  cmp(!(a.gateway_ip == b.gateway_ip), "spec.gatewayIP", false);
  cmp(a.fabric_interface != b.fabric_interface, "spec.fabricInterface", false);
  cmp(a.bpf_root != b.bpf_root, "spec.bpfRoot", false);
  cmp(a.api_socket != b.api_socket, "spec.apiSocket", false);
  cmp(a.state_dir != b.state_dir, "spec.stateDir", false);
  cmp(a.mtu_set != b.mtu_set || (a.mtu_set && a.mtu != b.mtu), "spec.mtu", false);
  cmp(a.overlay.type != b.overlay.type, "spec.overlay.type", false);
  cmp(a.overlay.port != b.overlay.port, "spec.overlay.port", false);
  cmp(a.overlay.vni != b.overlay.vni, "spec.overlay.vni", false);
  cmp(a.cluster_cidr.has_value() != b.cluster_cidr.has_value() ||
          (a.cluster_cidr && !(*a.cluster_cidr == *b.cluster_cidr)),
      "spec.clusterCIDR", false);
  cmp(a.masquerade != b.masquerade, "spec.masquerade", false);
  cmp(a.service_cidr.has_value() != b.service_cidr.has_value() ||
          (a.service_cidr && !(*a.service_cidr == *b.service_cidr)),
      "spec.serviceCIDR", false);
  cmp(a.host_interface != b.host_interface, "spec.hostInterface", false);
  cmp(a.host_peer_interface != b.host_peer_interface, "spec.hostPeerInterface", false);
  cmp(a.metrics_address != b.metrics_address, "spec.metricsAddress", false);
  cmp(a.flows.table_size != b.flows.table_size, "spec.flows.tableSize", false);
  cmp(a.flows.log.path != b.flows.log.path, "spec.flows.log.path", false);
  cmp(a.flows.log.max_size_mb != b.flows.log.max_size_mb, "spec.flows.log.maxSizeMB", false);
  cmp(a.flows.log.max_files != b.flows.log.max_files, "spec.flows.log.maxFiles", false);

  cmp(a.log_level != b.log_level, "spec.logLevel", true);
  cmp(a.log_format != b.log_format, "spec.logFormat", true);
  cmp(a.events_per_second != b.events_per_second, "spec.eventsPerSecond", true);
  cmp(a.flows.gc_interval_s != b.flows.gc_interval_s, "spec.flows.gcInterval", true);
  cmp(!(a.flows.timeouts == b.flows.timeouts), "spec.flows.timeouts", true);
  cmp(a.flows.events != b.flows.events, "spec.flows.events", true);
  return d;
}

}  // namespace xvr

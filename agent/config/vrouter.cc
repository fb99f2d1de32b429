#include "agent/config/vrouter.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <initializer_list>
#include <optional>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"
#include "agent/common/validate.h"

namespace xvr {
namespace {

constexpr int kMinPodPrefixLen = 8;
constexpr int kMaxPodPrefixLen = 30;
constexpr int64_t kMinMtu = 576;
constexpr int64_t kMaxMtu = 65535;
constexpr int64_t kMaxEventsPerSecond = 1000000;
constexpr size_t kMaxSunPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr int64_t kMinFlowTableSize = 1024;
constexpr int64_t kMaxFlowTableSize = 16 * 1024 * 1024;
constexpr int64_t kMaxFlowGcInterval = 3600;
constexpr int64_t kMaxFlowTimeout = 30 * 24 * 3600;  // 30 days
constexpr int64_t kMaxFlowLogSizeMb = 100 * 1024;  // 100 GiB per file
constexpr int64_t kMaxFlowLogFiles = 1000;

absl::Status FieldError(absl::string_view path, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", msg));
}

const char* KindOf(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "undefined";
}

// Checks that every key of `map` is in `known` and appears once; reports the
// first offender by path.
absl::Status CheckKeys(const YAML::Node& map, absl::string_view prefix,
                       std::initializer_list<absl::string_view> known) {
  absl::flat_hash_set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) {
      return FieldError(prefix.empty() ? "<root>" : prefix, "keys must be scalars");
    }
    const std::string key = kv.first.Scalar();
    const std::string path = prefix.empty() ? key : absl::StrCat(prefix, ".", key);
    bool ok = false;
    for (absl::string_view k : known) ok = ok || k == key;
    if (!ok) return FieldError(path, "unknown field");
    if (!seen.insert(key).second) return FieldError(path, "duplicate field");
  }
  return absl::OkStatus();
}

// A present, non-null value of `map[key]`, or nullopt when absent or null.
std::optional<YAML::Node> Field(const YAML::Node& map, const char* key) {
  const YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  return n;
}

absl::StatusOr<std::optional<std::string>> GetString(const YAML::Node& map, const char* key,
                                                     absl::string_view path) {
  std::optional<YAML::Node> n = Field(map, key);
  if (!n) return std::optional<std::string>();
  if (!n->IsScalar()) return FieldError(path, absl::StrCat("must be a string, got ", KindOf(*n)));
  return std::optional<std::string>(n->Scalar());
}

absl::StatusOr<std::optional<int64_t>> GetInt(const YAML::Node& map, const char* key,
                                              absl::string_view path) {
  std::optional<YAML::Node> n = Field(map, key);
  if (!n) return std::optional<int64_t>();
  if (!n->IsScalar()) return FieldError(path, absl::StrCat("must be an integer, got ", KindOf(*n)));
  int64_t v = 0;
  if (!absl::SimpleAtoi(n->Scalar(), &v)) {
    return FieldError(path, absl::StrCat("must be an integer, got \"", n->Scalar(), "\""));
  }
  return std::optional<int64_t>(v);
}

// The index in `allowed` of the field's value; `dflt` when absent.
absl::StatusOr<size_t> GetEnum(const YAML::Node& map, const char* key, absl::string_view path,
                               std::initializer_list<absl::string_view> allowed, size_t dflt) {
  ASSIGN_OR_RETURN(std::optional<std::string> v, GetString(map, key, path));
  if (!v) return dflt;
  size_t i = 0;
  for (absl::string_view a : allowed) {
    if (*v == a) return i;
    ++i;
  }
  return FieldError(path, absl::StrCat("must be one of ", absl::StrJoin(allowed, ", "), ", got \"",
                                       *v, "\""));
}

absl::Status GetAbsPath(const YAML::Node& map, const char* key, absl::string_view path,
                        std::string* out) {
  ASSIGN_OR_RETURN(std::optional<std::string> v, GetString(map, key, path));
  if (!v) return absl::OkStatus();
  if (v->empty() || (*v)[0] != '/') {
    return FieldError(path, absl::StrCat("must be an absolute path, got \"", *v, "\""));
  }
  *out = *v;
  return absl::OkStatus();
}

absl::Status GetIfname(const YAML::Node& map, const char* key, absl::string_view path,
                       std::string* out) {
  ASSIGN_OR_RETURN(std::optional<std::string> v, GetString(map, key, path));
  if (!v) return absl::OkStatus();
  if (!IsValidIfname(*v)) {
    return FieldError(path, absl::StrCat("invalid interface name \"", *v,
                                         "\" (1-15 characters, no '/', ':' or spaces)"));
  }
  *out = *v;
  return absl::OkStatus();
}

absl::Status ParseOverlay(const YAML::Node& spec, VRouterConfig* cfg) {
  std::optional<YAML::Node> ov = Field(spec, "overlay");
  if (!ov) return absl::OkStatus();
  if (!ov->IsMap()) {
    return FieldError("spec.overlay", absl::StrCat("must be a mapping, got ", KindOf(*ov)));
  }
  RETURN_IF_ERROR(CheckKeys(*ov, "spec.overlay", {"type", "port", "vni"}));
  ASSIGN_OR_RETURN(size_t type, GetEnum(*ov, "type", "spec.overlay.type", {"vxlan", "none"}, 0));
  cfg->overlay.type = type == 0 ? OverlayConfig::Type::kVxlan : OverlayConfig::Type::kNone;
  ASSIGN_OR_RETURN(std::optional<int64_t> port, GetInt(*ov, "port", "spec.overlay.port"));
  if (port) {
    if (*port < 1 || *port > 65535) {
      return FieldError("spec.overlay.port", absl::StrCat("must be between 1 and 65535, got ", *port));
    }
    cfg->overlay.port = static_cast<uint16_t>(*port);
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> vni, GetInt(*ov, "vni", "spec.overlay.vni"));
  if (vni) {
    if (*vni < 1 || *vni > 16777215) {
      return FieldError("spec.overlay.vni", absl::StrCat("must be between 1 and 16777215, got ", *vni));
    }
    cfg->overlay.vni = static_cast<uint32_t>(*vni);
  }
  return absl::OkStatus();
}

// An integer field within [lo, hi] stored into *out; absent keeps *out.
template <typename T>
absl::Status GetBoundedInt(const YAML::Node& map, const char* key, absl::string_view path,
                           int64_t lo, int64_t hi, T* out) {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, GetInt(map, key, path));
  if (!v) return absl::OkStatus();
  if (*v < lo || *v > hi) {
    return FieldError(path, absl::StrCat("must be between ", lo, " and ", hi, ", got ", *v));
  }
  *out = static_cast<T>(*v);
  return absl::OkStatus();
}

// A child mapping of `parent`, or nullopt when absent or null.
absl::StatusOr<std::optional<YAML::Node>> GetMap(const YAML::Node& parent, const char* key,
                                                 absl::string_view path) {
  std::optional<YAML::Node> n = Field(parent, key);
  if (!n) return std::optional<YAML::Node>();
  if (!n->IsMap()) return FieldError(path, absl::StrCat("must be a mapping, got ", KindOf(*n)));
  return n;
}

absl::Status ParseFlows(const YAML::Node& spec, VRouterConfig* cfg) {
  ASSIGN_OR_RETURN(std::optional<YAML::Node> flows, GetMap(spec, "flows", "spec.flows"));
  if (!flows) return absl::OkStatus();
  FlowsConfig& f = cfg->flows;
  RETURN_IF_ERROR(
      CheckKeys(*flows, "spec.flows", {"tableSize", "gcInterval", "timeouts", "events", "log"}));
  RETURN_IF_ERROR(GetBoundedInt(*flows, "tableSize", "spec.flows.tableSize", kMinFlowTableSize,
                                kMaxFlowTableSize, &f.table_size));
  RETURN_IF_ERROR(GetBoundedInt(*flows, "gcInterval", "spec.flows.gcInterval", 1,
                                kMaxFlowGcInterval, &f.gc_interval_s));
  ASSIGN_OR_RETURN(size_t events,
                   GetEnum(*flows, "events", "spec.flows.events", {"true", "false"}, 0));
  f.events = events == 0;

  ASSIGN_OR_RETURN(std::optional<YAML::Node> to,
                   GetMap(*flows, "timeouts", "spec.flows.timeouts"));
  if (to) {
    RETURN_IF_ERROR(CheckKeys(*to, "spec.flows.timeouts",
                              {"tcpSyn", "tcpEstablished", "tcpFin", "tcpClosed", "udp",
                               "udpReplied", "icmp", "sctp", "other"}));
    const struct {
      const char* key;
      uint32_t* out;
    } fields[] = {
        {"tcpSyn", &f.timeouts.tcp_syn},         {"tcpEstablished", &f.timeouts.tcp_established},
        {"tcpFin", &f.timeouts.tcp_fin},         {"tcpClosed", &f.timeouts.tcp_closed},
        {"udp", &f.timeouts.udp},                {"udpReplied", &f.timeouts.udp_replied},
        {"icmp", &f.timeouts.icmp},              {"sctp", &f.timeouts.sctp},
        {"other", &f.timeouts.other},
    };
    for (const auto& field : fields) {
      RETURN_IF_ERROR(GetBoundedInt(*to, field.key,
                                    absl::StrCat("spec.flows.timeouts.", field.key), 1,
                                    kMaxFlowTimeout, field.out));
    }
  }

  ASSIGN_OR_RETURN(std::optional<YAML::Node> log, GetMap(*flows, "log", "spec.flows.log"));
  if (log) {
    RETURN_IF_ERROR(CheckKeys(*log, "spec.flows.log", {"path", "maxSizeMB", "maxFiles"}));
    RETURN_IF_ERROR(GetAbsPath(*log, "path", "spec.flows.log.path", &f.log.path));
    if (!f.log.path.empty() && f.log.path.back() == '/') {
      return FieldError("spec.flows.log.path",
                        absl::StrCat("must name a file, got the directory \"", f.log.path, "\""));
    }
    RETURN_IF_ERROR(GetBoundedInt(*log, "maxSizeMB", "spec.flows.log.maxSizeMB", 1,
                                  kMaxFlowLogSizeMb, &f.log.max_size_mb));
    RETURN_IF_ERROR(GetBoundedInt(*log, "maxFiles", "spec.flows.log.maxFiles", 1,
                                  kMaxFlowLogFiles, &f.log.max_files));
  }
  return absl::OkStatus();
}

absl::Status ParseSpec(const YAML::Node& spec, VRouterConfig* cfg) {
  RETURN_IF_ERROR(CheckKeys(spec, "spec",
                            {"nodeName", "agentModeType", "podAttach", "podCIDR", "gatewayIP",
                             "fabricInterface", "bpfRoot", "apiSocket", "stateDir", "mtu",
                             "hostInterface", "hostPeerInterface", "logLevel", "logFormat",
                             "eventsPerSecond", "overlay", "clusterCIDR", "masquerade",
                             "serviceCIDR", "flows", "metricsAddress"}));

  ASSIGN_OR_RETURN(std::optional<std::string> node_name,
                   GetString(spec, "nodeName", "spec.nodeName"));
  if (!node_name) return FieldError("spec.nodeName", "required");
  if (!IsDns1123Subdomain(*node_name)) {
    return FieldError("spec.nodeName",
                      absl::StrCat("must be a lowercase RFC 1123 subdomain, got \"", *node_name,
                                   "\""));
  }
  cfg->node_name = *node_name;

  ASSIGN_OR_RETURN(size_t mode, GetEnum(spec, "agentModeType", "spec.agentModeType",
                                        {"xdp", "xdp-generic"}, 0));
  cfg->agent_mode = mode == 0 ? AgentMode::kXdp : AgentMode::kXdpGeneric;

  ASSIGN_OR_RETURN(size_t attach, GetEnum(spec, "podAttach", "spec.podAttach", {"xdp", "tc"}, 0));
  cfg->pod_attach = attach == 0 ? PodAttach::kXdp : PodAttach::kTc;

  ASSIGN_OR_RETURN(std::optional<std::string> cidr, GetString(spec, "podCIDR", "spec.podCIDR"));
  if (!cidr) return FieldError("spec.podCIDR", "required");
  absl::StatusOr<Ipv4Prefix> prefix = Ipv4Prefix::Parse(*cidr);
  if (!prefix.ok()) return FieldError("spec.podCIDR", prefix.status().message());
  if (prefix->length() < kMinPodPrefixLen || prefix->length() > kMaxPodPrefixLen) {
    return FieldError("spec.podCIDR",
                      absl::StrCat("prefix length must be between ", kMinPodPrefixLen, " and ",
                                   kMaxPodPrefixLen, ", got /", prefix->length()));
  }
  cfg->pod_cidr = *prefix;

  ASSIGN_OR_RETURN(std::optional<std::string> gw, GetString(spec, "gatewayIP", "spec.gatewayIP"));
  if (gw) {
    absl::StatusOr<Ipv4Addr> addr = Ipv4Addr::Parse(*gw);
    if (!addr.ok()) return FieldError("spec.gatewayIP", addr.status().message());
    if (!cfg->pod_cidr.Contains(*addr)) {
      return FieldError("spec.gatewayIP", absl::StrCat(addr->ToString(), " is not inside spec.podCIDR ",
                                                       cfg->pod_cidr.ToString()));
    }
    if (*addr == cfg->pod_cidr.network() || *addr == cfg->pod_cidr.broadcast()) {
      return FieldError("spec.gatewayIP",
                        absl::StrCat(addr->ToString(), " is the network or broadcast address of ",
                                     cfg->pod_cidr.ToString()));
    }
    cfg->gateway_ip = *addr;
  } else {
    cfg->gateway_ip = Ipv4Addr(cfg->pod_cidr.network().value() + 1);
  }

  RETURN_IF_ERROR(GetIfname(spec, "fabricInterface", "spec.fabricInterface",
                            &cfg->fabric_interface));
  RETURN_IF_ERROR(GetAbsPath(spec, "bpfRoot", "spec.bpfRoot", &cfg->bpf_root));
  RETURN_IF_ERROR(GetAbsPath(spec, "apiSocket", "spec.apiSocket", &cfg->api_socket));
  if (cfg->api_socket.size() > kMaxSunPath) {
    return FieldError("spec.apiSocket",
                      absl::StrCat("longer than ", kMaxSunPath, " bytes (unix socket path limit)"));
  }
  RETURN_IF_ERROR(GetAbsPath(spec, "stateDir", "spec.stateDir", &cfg->state_dir));

  ASSIGN_OR_RETURN(std::optional<int64_t> mtu, GetInt(spec, "mtu", "spec.mtu"));
  if (mtu) {
    if (*mtu < kMinMtu || *mtu > kMaxMtu) {
      return FieldError("spec.mtu", absl::StrCat("must be between ", kMinMtu, " and ", kMaxMtu,
                                                 ", got ", *mtu));
    }
    cfg->mtu = static_cast<uint32_t>(*mtu);
    cfg->mtu_set = true;
  }
  RETURN_IF_ERROR(ParseOverlay(spec, cfg));
  ASSIGN_OR_RETURN(std::optional<std::string> cluster,
                   GetString(spec, "clusterCIDR", "spec.clusterCIDR"));
  if (cluster) {
    absl::StatusOr<Ipv4Prefix> p = Ipv4Prefix::Parse(*cluster);
    if (!p.ok()) return FieldError("spec.clusterCIDR", p.status().message());
    if (p->length() > cfg->pod_cidr.length() || !p->Contains(cfg->pod_cidr.network())) {
      return FieldError("spec.clusterCIDR", absl::StrCat(p->ToString(), " does not contain spec.podCIDR ",
                                                         cfg->pod_cidr.ToString()));
    }
    cfg->cluster_cidr = *p;
  }
  ASSIGN_OR_RETURN(std::optional<std::string> svc,
                   GetString(spec, "serviceCIDR", "spec.serviceCIDR"));
  if (svc) {
    absl::StatusOr<Ipv4Prefix> p = Ipv4Prefix::Parse(*svc);
    if (!p.ok()) return FieldError("spec.serviceCIDR", p.status().message());
    if (p->Contains(cfg->pod_cidr.network()) || cfg->pod_cidr.Contains(p->network())) {
      return FieldError("spec.serviceCIDR", absl::StrCat(p->ToString(), " overlaps spec.podCIDR ",
                                                         cfg->pod_cidr.ToString()));
    }
    cfg->service_cidr = *p;
  }
  ASSIGN_OR_RETURN(size_t masq, GetEnum(spec, "masquerade", "spec.masquerade", {"true", "false"}, 0));
  cfg->masquerade = masq == 0;

  RETURN_IF_ERROR(GetIfname(spec, "hostInterface", "spec.hostInterface", &cfg->host_interface));
  RETURN_IF_ERROR(GetIfname(spec, "hostPeerInterface", "spec.hostPeerInterface",
                            &cfg->host_peer_interface));
  if (cfg->host_interface == cfg->host_peer_interface) {
    return FieldError("spec.hostPeerInterface",
                      absl::StrCat("must differ from spec.hostInterface (\"",
                                   cfg->host_interface, "\")"));
  }

  static constexpr absl::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
  ASSIGN_OR_RETURN(size_t level,
                   GetEnum(spec, "logLevel", "spec.logLevel",
                           {kLevels[0], kLevels[1], kLevels[2], kLevels[3], kLevels[4]}, 2));
  cfg->log_level = std::string(kLevels[level]);
  ASSIGN_OR_RETURN(size_t format,
                   GetEnum(spec, "logFormat", "spec.logFormat", {"text", "json"}, 0));
  cfg->log_format = format == 1 ? LogFormat::kJson : LogFormat::kText;

  ASSIGN_OR_RETURN(std::optional<int64_t> eps,
                   GetInt(spec, "eventsPerSecond", "spec.eventsPerSecond"));
  if (eps) {
    if (*eps < 0 || *eps > kMaxEventsPerSecond) {
      return FieldError("spec.eventsPerSecond",
                        absl::StrCat("must be between 0 and ", kMaxEventsPerSecond, ", got ", *eps));
    }
    cfg->events_per_second = static_cast<uint32_t>(*eps);
  }
  RETURN_IF_ERROR(ParseFlows(spec, cfg));
  ASSIGN_OR_RETURN(std::optional<std::string> metrics,
                   GetString(spec, "metricsAddress", "spec.metricsAddress"));
  if (metrics) {
    if (!metrics->empty()) {
      std::string host;
      uint16_t port = 0;
      absl::Status st = ParseHostPort(*metrics, &host, &port);
      if (!st.ok()) return FieldError("spec.metricsAddress", st.message());
    }
    cfg->metrics_address = *metrics;
  }
  return absl::OkStatus();
}

absl::StatusOr<VRouterConfig> ParseRoot(const YAML::Node& root) {
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat("VRouter document must be a mapping, got ", KindOf(root)));
  }
  RETURN_IF_ERROR(CheckKeys(root, "", {"apiVersion", "kind", "metadata", "spec", "status"}));

  ASSIGN_OR_RETURN(std::optional<std::string> api_version,
                   GetString(root, "apiVersion", "apiVersion"));
  if (!api_version) return FieldError("apiVersion", "required");
  if (*api_version != kVRouterApiVersion) {
    return FieldError("apiVersion", absl::StrCat("must be ", kVRouterApiVersion, ", got \"",
                                                 *api_version, "\""));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> kind, GetString(root, "kind", "kind"));
  if (!kind) return FieldError("kind", "required");
  if (*kind != kVRouterKind) {
    return FieldError("kind", absl::StrCat("must be ", kVRouterKind, ", got \"", *kind, "\""));
  }

  VRouterConfig cfg;
  if (std::optional<YAML::Node> md = Field(root, "metadata")) {
    if (!md->IsMap()) return FieldError("metadata", absl::StrCat("must be a mapping, got ", KindOf(*md)));
    ASSIGN_OR_RETURN(std::optional<std::string> name, GetString(*md, "name", "metadata.name"));
    if (name) cfg.name = *name;
  }
  std::optional<YAML::Node> spec = Field(root, "spec");
  if (!spec) return FieldError("spec", "required");
  if (!spec->IsMap()) return FieldError("spec", absl::StrCat("must be a mapping, got ", KindOf(*spec)));
  RETURN_IF_ERROR(ParseSpec(*spec, &cfg));
  return cfg;
}

}  // namespace

absl::StatusOr<VRouterConfig> ParseVRouter(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError("empty VRouter document");
  }
  // Node accessors do not throw on const nodes for the calls made here, but
  // yaml-cpp is not documented as exception-free: keep the edge sealed.
  try {
    return ParseRoot(root);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid VRouter document: ", e.what()));
  }
}

absl::StatusOr<VRouterConfig> LoadVRouterFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("read ", path, " failed"));
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(buf.str());
  if (!cfg.ok()) {
    return absl::Status(cfg.status().code(), absl::StrCat(path, ": ", cfg.status().message()));
  }
  return cfg;
}

absl::Status ParseHostPort(absl::string_view s, std::string* host, uint16_t* port) {
  const size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("must be host:port, got \"", s, "\""));
  }
  absl::string_view h = s.substr(0, colon);
  absl::string_view p = s.substr(colon + 1);
  int64_t pv = -1;
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(p, &pv) || pv > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port must be an integer between 0 and 65535, got \"", p, "\""));
  }
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    if (h.empty() || h.find_first_not_of("0123456789abcdefABCDEF:.") != absl::string_view::npos ||
        h.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv6 address in \"", s, "\""));
    }
  } else if (h.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("host missing in \"", s, "\" (use 0.0.0.0:PORT for every address)"));
  } else if (h.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("an IPv6 host must be in brackets, got \"", s, "\""));
  } else if (h.find_first_not_of("0123456789.") == absl::string_view::npos) {
    if (!Ipv4Addr::Parse(h).ok()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address \"", h, "\""));
    }
  } else if (!IsDns1123Subdomain(h)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid host name \"", h, "\""));
  }
  *host = std::string(h);
  *port = static_cast<uint16_t>(pv);
  return absl::OkStatus();
}

const char* AgentModeName(AgentMode m) {
  return m == AgentMode::kXdp ? "xdp" : "xdp-generic";
}

const char* PodAttachName(PodAttach a) { return a == PodAttach::kXdp ? "xdp" : "tc"; }

const char* LogFormatName(LogFormat f) { return f == LogFormat::kText ? "text" : "json"; }

}  // namespace xvr

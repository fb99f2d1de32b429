#include "agent/k8s/objects.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"

namespace xvr::k8s {
namespace {

using nlohmann::json;

constexpr int64_t kMinPort = 1;
constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMaxAffinityTimeoutSeconds = 86400;  // as the API server validates
constexpr size_t kMaxShownChars = 64;

// ---- paths and errors ------------------------------------------------------

std::string Join(absl::string_view base, absl::string_view key) {
  return base.empty() ? std::string(key) : absl::StrCat(base, ".", key);
}

std::string Index(absl::string_view base, size_t i) { return absl::StrCat(base, "[", i, "]"); }

absl::Status FieldError(absl::string_view path, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(path.empty() ? "<root>" : path, ": ", msg));
}

// "string \"http\"", "number 80", "an object", … for error messages.
std::string Got(const json& v) {
  switch (v.type()) {
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.size() <= kMaxShownChars) return absl::StrCat("string \"", s, "\"");
      return absl::StrCat("string \"", s.substr(0, kMaxShownChars), "…\"");
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return absl::StrCat("number ", v.dump());
    case json::value_t::boolean:
      return absl::StrCat("boolean ", v.dump());
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::null:
      return "null";
    default:
      return v.type_name();
  }
}

absl::Status TypeError(absl::string_view path, absl::string_view want, const json& got) {
  return FieldError(path, absl::StrCat("must be ", want, ", got ", Got(got)));
}

// ---- readers ---------------------------------------------------------------
// Every reader takes the enclosing JSON object, the key and the key's full
// path. An absent key and an explicit null both mean "unset", as in
// Kubernetes; the output is then left as it was (its default).

const json* Get(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<const json*> GetObject(const json& obj, const char* key, const std::string& path) {
  const json* v = Get(obj, key);
  if (v && !v->is_object()) return TypeError(path, "an object", *v);
  return v;
}

absl::StatusOr<const json*> GetArray(const json& obj, const char* key, const std::string& path) {
  const json* v = Get(obj, key);
  if (v && !v->is_array()) return TypeError(path, "an array", *v);
  return v;
}

absl::Status CheckObject(const json& v, const std::string& path) {
  if (!v.is_object()) return TypeError(path, "an object", v);
  return absl::OkStatus();
}

absl::Status ReadString(const json& obj, const char* key, const std::string& path,
                        std::string* out) {
  const json* v = Get(obj, key);
  if (!v) return absl::OkStatus();
  if (!v->is_string()) return TypeError(path, "a string", *v);
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, const char* key, const std::string& path, bool* out) {
  const json* v = Get(obj, key);
  if (!v) return absl::OkStatus();
  if (!v->is_boolean()) return TypeError(path, "a boolean", *v);
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status IntValue(const json& v, const std::string& path, int64_t min, int64_t max,
                      int32_t* out) {
  if (!v.is_number_integer()) return TypeError(path, "an integer", v);
  bool in_range;
  int64_t i = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(max);
    i = in_range ? static_cast<int64_t>(u) : 0;
    in_range = in_range && i >= min;
  } else {
    i = v.get<int64_t>();
    in_range = i >= min && i <= max;
  }
  if (!in_range) {
    return FieldError(path, absl::StrCat("must be between ", min, " and ", max, ", got ", v.dump()));
  }
  *out = static_cast<int32_t>(i);
  return absl::OkStatus();
}

absl::Status ReadInt(const json& obj, const char* key, const std::string& path, int64_t min,
                     int64_t max, std::optional<int32_t>* out) {
  const json* v = Get(obj, key);
  if (!v) return absl::OkStatus();
  int32_t i = 0;
  RETURN_IF_ERROR(IntValue(*v, path, min, max, &i));
  *out = i;
  return absl::OkStatus();
}

absl::Status ReadStringList(const json& obj, const char* key, const std::string& path,
                            std::vector<std::string>* out) {
  ASSIGN_OR_RETURN(const json* arr, GetArray(obj, key, path));
  if (!arr) return absl::OkStatus();
  out->clear();
  out->reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const json& v = (*arr)[i];
    if (!v.is_string()) return TypeError(Index(path, i), "a string", v);
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadStringMap(const json& obj, const char* key, const std::string& path,
                           Labels* out) {
  ASSIGN_OR_RETURN(const json* m, GetObject(obj, key, path));
  if (!m) return absl::OkStatus();
  out->clear();
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (!it.value().is_string()) return TypeError(Join(path, it.key()), "a string", it.value());
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

// One name → value table per enum; the error lists the accepted names.
template <typename E, size_t N>
absl::Status ReadEnum(const json& obj, const char* key, const std::string& path,
                      const std::array<std::pair<const char*, E>, N>& table, E* out) {
  std::string s;
  RETURN_IF_ERROR(ReadString(obj, key, path, &s));
  if (Get(obj, key) == nullptr) return absl::OkStatus();
  for (const auto& [name, value] : table) {
    if (s == name) {
      *out = value;
      return absl::OkStatus();
    }
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : table) names.emplace_back(name);
  return FieldError(path, absl::StrCat("must be one of ", absl::StrJoin(names, ", "), ", got \"",
                                       s, "\""));
}

absl::Status IntOrStringValue(const json& v, const std::string& path, IntOrString* out) {
  if (v.is_string()) {
    if (v.get_ref<const std::string&>().empty()) return FieldError(path, "must not be empty");
    *out = IntOrString::Str(v.get<std::string>());
    return absl::OkStatus();
  }
  if (!v.is_number_integer()) return TypeError(path, "a port number or name", v);
  int32_t i = 0;
  RETURN_IF_ERROR(IntValue(v, path, kMinPort, kMaxPort, &i));
  *out = IntOrString::Int(i);
  return absl::OkStatus();
}

constexpr std::array<std::pair<const char*, Protocol>, 3> kProtocols = {{
    {"TCP", Protocol::kTcp},
    {"UDP", Protocol::kUdp},
    {"SCTP", Protocol::kSctp},
}};

// ---- shared pieces ---------------------------------------------------------

absl::Status CheckTypeMeta(Kind kind, const json& j, const std::string& base) {
  const json* k = Get(j, "kind");
  if (k) {
    if (!k->is_string()) return TypeError(Join(base, "kind"), "a string", *k);
    if (k->get_ref<const std::string&>() != KindName(kind)) {
      return FieldError(Join(base, "kind"),
                        absl::StrCat("expected ", KindName(kind), ", got ", Got(*k)));
    }
  }
  const json* a = Get(j, "apiVersion");
  if (a) {
    if (!a->is_string()) return TypeError(Join(base, "apiVersion"), "a string", *a);
    if (a->get_ref<const std::string&>() != KindApiVersion(kind)) {
      return FieldError(Join(base, "apiVersion"),
                        absl::StrCat("expected ", KindApiVersion(kind), " for ", KindName(kind),
                                     ", got ", Got(*a)));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMeta(Kind kind, const json& j, const std::string& base, ObjectMeta* m) {
  const std::string p = Join(base, "metadata");
  ASSIGN_OR_RETURN(const json* md, GetObject(j, "metadata", p));
  if (!md) return FieldError(Join(p, "name"), "required");
  RETURN_IF_ERROR(ReadString(*md, "name", Join(p, "name"), &m->name));
  if (m->name.empty()) return FieldError(Join(p, "name"), "required");
  if (IsNamespaced(kind)) {
    RETURN_IF_ERROR(ReadString(*md, "namespace", Join(p, "namespace"), &m->namespace_name));
    if (m->namespace_name.empty()) m->namespace_name = kDefaultNamespace;
  }
  RETURN_IF_ERROR(ReadString(*md, "uid", Join(p, "uid"), &m->uid));
  RETURN_IF_ERROR(
      ReadString(*md, "resourceVersion", Join(p, "resourceVersion"), &m->resource_version));
  RETURN_IF_ERROR(ReadStringMap(*md, "labels", Join(p, "labels"), &m->labels));
  return absl::OkStatus();
}

// ---- Node ------------------------------------------------------------------

absl::StatusOr<Node> ParseNodeBody(const json& j, const std::string& base) {
  static constexpr std::array<std::pair<const char*, NodeAddressType>, 5> kAddrTypes = {{
      {"InternalIP", NodeAddressType::kInternalIP},
      {"ExternalIP", NodeAddressType::kExternalIP},
      {"Hostname", NodeAddressType::kHostname},
      {"InternalDNS", NodeAddressType::kInternalDNS},
      {"ExternalDNS", NodeAddressType::kExternalDNS},
  }};
  Node n;
  RETURN_IF_ERROR(ParseMeta(Kind::kNode, j, base, &n.meta));
  const std::string sp = Join(base, "spec");
  ASSIGN_OR_RETURN(const json* spec, GetObject(j, "spec", sp));
  if (spec) {
    std::string pod_cidr;
    RETURN_IF_ERROR(ReadString(*spec, "podCIDR", Join(sp, "podCIDR"), &pod_cidr));
    RETURN_IF_ERROR(ReadStringList(*spec, "podCIDRs", Join(sp, "podCIDRs"), &n.pod_cidrs));
    if (n.pod_cidrs.empty() && !pod_cidr.empty()) n.pod_cidrs.push_back(pod_cidr);
  }
  const std::string st = Join(base, "status");
  ASSIGN_OR_RETURN(const json* status, GetObject(j, "status", st));
  if (status) {
    const std::string ap = Join(st, "addresses");
    ASSIGN_OR_RETURN(const json* addrs, GetArray(*status, "addresses", ap));
    if (addrs) {
      for (size_t i = 0; i < addrs->size(); ++i) {
        const std::string p = Index(ap, i);
        const json& a = (*addrs)[i];
        RETURN_IF_ERROR(CheckObject(a, p));
        NodeAddress na;
        if (!Get(a, "type")) return FieldError(Join(p, "type"), "required");
        RETURN_IF_ERROR(ReadEnum(a, "type", Join(p, "type"), kAddrTypes, &na.type));
        RETURN_IF_ERROR(ReadString(a, "address", Join(p, "address"), &na.address));
        n.addresses.push_back(std::move(na));
      }
    }
  }
  return n;
}

// ---- Namespace -------------------------------------------------------------

absl::StatusOr<Namespace> ParseNamespaceBody(const json& j, const std::string& base) {
  Namespace ns;
  RETURN_IF_ERROR(ParseMeta(Kind::kNamespace, j, base, &ns.meta));
  // The API server sets this label on every Namespace; policies select
  // namespaces by it, so objects from manifests get it too.
  ns.meta.labels[kNamespaceNameLabel] = ns.meta.name;
  return ns;
}

// ---- Pod -------------------------------------------------------------------

absl::StatusOr<Pod> ParsePodBody(const json& j, const std::string& base) {
  static constexpr std::array<std::pair<const char*, PodPhase>, 5> kPhases = {{
      {"Pending", PodPhase::kPending},
      {"Running", PodPhase::kRunning},
      {"Succeeded", PodPhase::kSucceeded},
      {"Failed", PodPhase::kFailed},
      {"Unknown", PodPhase::kUnknown},
  }};
  Pod pod;
  RETURN_IF_ERROR(ParseMeta(Kind::kPod, j, base, &pod.meta));
  const std::string sp = Join(base, "spec");
  ASSIGN_OR_RETURN(const json* spec, GetObject(j, "spec", sp));
  if (spec) {
    RETURN_IF_ERROR(ReadString(*spec, "nodeName", Join(sp, "nodeName"), &pod.node_name));
    RETURN_IF_ERROR(ReadBool(*spec, "hostNetwork", Join(sp, "hostNetwork"), &pod.host_network));
    const std::string cp = Join(sp, "containers");
    ASSIGN_OR_RETURN(const json* containers, GetArray(*spec, "containers", cp));
    if (containers) {
      for (size_t i = 0; i < containers->size(); ++i) {
        const std::string p = Index(cp, i);
        const json& c = (*containers)[i];
        RETURN_IF_ERROR(CheckObject(c, p));
        Container container;
        RETURN_IF_ERROR(ReadString(c, "name", Join(p, "name"), &container.name));
        const std::string pp = Join(p, "ports");
        ASSIGN_OR_RETURN(const json* ports, GetArray(c, "ports", pp));
        if (ports) {
          for (size_t k = 0; k < ports->size(); ++k) {
            const std::string q = Index(pp, k);
            const json& port = (*ports)[k];
            RETURN_IF_ERROR(CheckObject(port, q));
            ContainerPort cport;
            RETURN_IF_ERROR(ReadString(port, "name", Join(q, "name"), &cport.name));
            std::optional<int32_t> number;
            RETURN_IF_ERROR(ReadInt(port, "containerPort", Join(q, "containerPort"), kMinPort,
                                    kMaxPort, &number));
            if (!number) return FieldError(Join(q, "containerPort"), "required");
            cport.container_port = *number;
            RETURN_IF_ERROR(ReadEnum(port, "protocol", Join(q, "protocol"), kProtocols,
                                     &cport.protocol));
            container.ports.push_back(std::move(cport));
          }
        }
        pod.containers.push_back(std::move(container));
      }
    }
  }
  const std::string st = Join(base, "status");
  ASSIGN_OR_RETURN(const json* status, GetObject(j, "status", st));
  if (status) {
    std::string pod_ip;
    RETURN_IF_ERROR(ReadString(*status, "podIP", Join(st, "podIP"), &pod_ip));
    const std::string ip = Join(st, "podIPs");
    ASSIGN_OR_RETURN(const json* ips, GetArray(*status, "podIPs", ip));
    if (ips) {
      for (size_t i = 0; i < ips->size(); ++i) {
        const std::string p = Index(ip, i);
        RETURN_IF_ERROR(CheckObject((*ips)[i], p));
        std::string addr;
        RETURN_IF_ERROR(ReadString((*ips)[i], "ip", Join(p, "ip"), &addr));
        if (!addr.empty()) pod.pod_ips.push_back(std::move(addr));
      }
    }
    if (pod.pod_ips.empty() && !pod_ip.empty()) pod.pod_ips.push_back(pod_ip);
    RETURN_IF_ERROR(ReadEnum(*status, "phase", Join(st, "phase"), kPhases, &pod.phase));
  }
  return pod;
}

// ---- Service ---------------------------------------------------------------

absl::StatusOr<Service> ParseServiceBody(const json& j, const std::string& base) {
  static constexpr std::array<std::pair<const char*, ServiceType>, 4> kTypes = {{
      {"ClusterIP", ServiceType::kClusterIP},
      {"NodePort", ServiceType::kNodePort},
      {"LoadBalancer", ServiceType::kLoadBalancer},
      {"ExternalName", ServiceType::kExternalName},
  }};
  static constexpr std::array<std::pair<const char*, SessionAffinity>, 2> kAffinities = {{
      {"None", SessionAffinity::kNone},
      {"ClientIP", SessionAffinity::kClientIP},
  }};
  static constexpr std::array<std::pair<const char*, TrafficPolicy>, 2> kPolicies = {{
      {"Cluster", TrafficPolicy::kCluster},
      {"Local", TrafficPolicy::kLocal},
  }};
  Service svc;
  RETURN_IF_ERROR(ParseMeta(Kind::kService, j, base, &svc.meta));
  const std::string sp = Join(base, "spec");
  ASSIGN_OR_RETURN(const json* spec, GetObject(j, "spec", sp));
  if (!spec) return svc;

  RETURN_IF_ERROR(ReadEnum(*spec, "type", Join(sp, "type"), kTypes, &svc.type));
  std::string cluster_ip;
  RETURN_IF_ERROR(ReadString(*spec, "clusterIP", Join(sp, "clusterIP"), &cluster_ip));
  RETURN_IF_ERROR(ReadStringList(*spec, "clusterIPs", Join(sp, "clusterIPs"), &svc.cluster_ips));
  if (svc.cluster_ips.empty() && !cluster_ip.empty()) svc.cluster_ips.push_back(cluster_ip);

  const std::string pp = Join(sp, "ports");
  ASSIGN_OR_RETURN(const json* ports, GetArray(*spec, "ports", pp));
  if (ports) {
    for (size_t i = 0; i < ports->size(); ++i) {
      const std::string p = Index(pp, i);
      const json& port = (*ports)[i];
      RETURN_IF_ERROR(CheckObject(port, p));
      ServicePort sport;
      RETURN_IF_ERROR(ReadString(port, "name", Join(p, "name"), &sport.name));
      RETURN_IF_ERROR(ReadEnum(port, "protocol", Join(p, "protocol"), kProtocols, &sport.protocol));
      std::optional<int32_t> number;
      RETURN_IF_ERROR(ReadInt(port, "port", Join(p, "port"), kMinPort, kMaxPort, &number));
      if (!number) return FieldError(Join(p, "port"), "required");
      sport.port = *number;
      // targetPort: absent, 0 or "" default to port (API server defaulting).
      sport.target_port = IntOrString::Int(sport.port);
      const json* tp = Get(port, "targetPort");
      const bool unset = tp == nullptr || (tp->is_number_integer() && *tp == 0) ||
                         (tp->is_string() && tp->get_ref<const std::string&>().empty());
      if (!unset) {
        RETURN_IF_ERROR(IntOrStringValue(*tp, Join(p, "targetPort"), &sport.target_port));
      }
      std::optional<int32_t> node_port;
      RETURN_IF_ERROR(ReadInt(port, "nodePort", Join(p, "nodePort"), 0, kMaxPort, &node_port));
      sport.node_port = node_port.value_or(0);
      svc.ports.push_back(std::move(sport));
    }
  }

  RETURN_IF_ERROR(ReadStringMap(*spec, "selector", Join(sp, "selector"), &svc.selector));
  RETURN_IF_ERROR(ReadEnum(*spec, "sessionAffinity", Join(sp, "sessionAffinity"), kAffinities,
                           &svc.session_affinity));
  const std::string ap = Join(sp, "sessionAffinityConfig");
  ASSIGN_OR_RETURN(const json* affinity, GetObject(*spec, "sessionAffinityConfig", ap));
  if (affinity) {
    const std::string cp = Join(ap, "clientIP");
    ASSIGN_OR_RETURN(const json* client_ip, GetObject(*affinity, "clientIP", cp));
    if (client_ip) {
      std::optional<int32_t> timeout;
      RETURN_IF_ERROR(ReadInt(*client_ip, "timeoutSeconds", Join(cp, "timeoutSeconds"), 1,
                              kMaxAffinityTimeoutSeconds, &timeout));
      if (timeout) svc.affinity_timeout_seconds = *timeout;
    }
  }
  RETURN_IF_ERROR(ReadEnum(*spec, "externalTrafficPolicy", Join(sp, "externalTrafficPolicy"),
                           kPolicies, &svc.external_traffic_policy));
  RETURN_IF_ERROR(ReadEnum(*spec, "internalTrafficPolicy", Join(sp, "internalTrafficPolicy"),
                           kPolicies, &svc.internal_traffic_policy));
  RETURN_IF_ERROR(
      ReadStringList(*spec, "externalIPs", Join(sp, "externalIPs"), &svc.external_ips));
  RETURN_IF_ERROR(
      ReadString(*spec, "externalName", Join(sp, "externalName"), &svc.external_name));
  return svc;
}

// ---- EndpointSlice ---------------------------------------------------------

absl::StatusOr<EndpointSlice> ParseEndpointSliceBody(const json& j, const std::string& base) {
  static constexpr std::array<std::pair<const char*, AddressType>, 3> kAddressTypes = {{
      {"IPv4", AddressType::kIPv4},
      {"IPv6", AddressType::kIPv6},
      {"FQDN", AddressType::kFQDN},
  }};
  EndpointSlice es;
  RETURN_IF_ERROR(ParseMeta(Kind::kEndpointSlice, j, base, &es.meta));
  const std::string at = Join(base, "addressType");
  if (!Get(j, "addressType")) return FieldError(at, "required");
  RETURN_IF_ERROR(ReadEnum(j, "addressType", at, kAddressTypes, &es.address_type));

  const std::string ep = Join(base, "endpoints");
  ASSIGN_OR_RETURN(const json* endpoints, GetArray(j, "endpoints", ep));
  if (endpoints) {
    for (size_t i = 0; i < endpoints->size(); ++i) {
      const std::string p = Index(ep, i);
      const json& e = (*endpoints)[i];
      RETURN_IF_ERROR(CheckObject(e, p));
      Endpoint endpoint;
      RETURN_IF_ERROR(ReadStringList(e, "addresses", Join(p, "addresses"), &endpoint.addresses));
      const std::string cp = Join(p, "conditions");
      ASSIGN_OR_RETURN(const json* cond, GetObject(e, "conditions", cp));
      if (cond) {
        RETURN_IF_ERROR(ReadBool(*cond, "ready", Join(cp, "ready"), &endpoint.ready));
        RETURN_IF_ERROR(ReadBool(*cond, "serving", Join(cp, "serving"), &endpoint.serving));
        RETURN_IF_ERROR(
            ReadBool(*cond, "terminating", Join(cp, "terminating"), &endpoint.terminating));
      }
      RETURN_IF_ERROR(ReadString(e, "nodeName", Join(p, "nodeName"), &endpoint.node_name));
      const std::string rp = Join(p, "targetRef");
      ASSIGN_OR_RETURN(const json* ref, GetObject(e, "targetRef", rp));
      if (ref) {
        ObjectReference r;
        RETURN_IF_ERROR(ReadString(*ref, "kind", Join(rp, "kind"), &r.kind));
        RETURN_IF_ERROR(ReadString(*ref, "namespace", Join(rp, "namespace"), &r.namespace_name));
        RETURN_IF_ERROR(ReadString(*ref, "name", Join(rp, "name"), &r.name));
        RETURN_IF_ERROR(ReadString(*ref, "uid", Join(rp, "uid"), &r.uid));
        endpoint.target_ref = std::move(r);
      }
      es.endpoints.push_back(std::move(endpoint));
    }
  }

  const std::string pp = Join(base, "ports");
  ASSIGN_OR_RETURN(const json* ports, GetArray(j, "ports", pp));
  if (ports) {
    for (size_t i = 0; i < ports->size(); ++i) {
      const std::string p = Index(pp, i);
      const json& port = (*ports)[i];
      RETURN_IF_ERROR(CheckObject(port, p));
      EndpointPort eport;
      RETURN_IF_ERROR(ReadString(port, "name", Join(p, "name"), &eport.name));
      RETURN_IF_ERROR(ReadEnum(port, "protocol", Join(p, "protocol"), kProtocols, &eport.protocol));
      RETURN_IF_ERROR(ReadInt(port, "port", Join(p, "port"), kMinPort, kMaxPort, &eport.port));
      es.ports.push_back(std::move(eport));
    }
  }
  return es;
}

// ---- NetworkPolicy ---------------------------------------------------------

absl::StatusOr<std::optional<LabelSelector>> ReadSelector(const json& obj, const char* key,
                                                          const std::string& path) {
  const json* v = Get(obj, key);
  if (!v) return std::optional<LabelSelector>();
  ASSIGN_OR_RETURN(LabelSelector sel, ParseLabelSelector(*v, path));
  return std::optional<LabelSelector>(std::move(sel));
}

absl::StatusOr<NetworkPolicyPeer> ParsePeer(const json& v, const std::string& p) {
  RETURN_IF_ERROR(CheckObject(v, p));
  NetworkPolicyPeer peer;
  ASSIGN_OR_RETURN(peer.pod_selector, ReadSelector(v, "podSelector", Join(p, "podSelector")));
  ASSIGN_OR_RETURN(peer.namespace_selector,
                   ReadSelector(v, "namespaceSelector", Join(p, "namespaceSelector")));
  const std::string bp = Join(p, "ipBlock");
  ASSIGN_OR_RETURN(const json* block, GetObject(v, "ipBlock", bp));
  if (block) {
    IPBlock b;
    RETURN_IF_ERROR(ReadString(*block, "cidr", Join(bp, "cidr"), &b.cidr));
    if (b.cidr.empty()) return FieldError(Join(bp, "cidr"), "required");
    RETURN_IF_ERROR(ReadStringList(*block, "except", Join(bp, "except"), &b.except));
    peer.ip_block = std::move(b);
  }
  // As the API server validates: a peer names something, and ipBlock stands
  // alone. A peer {} would otherwise be read as "everything" by one reader
  // and "nothing" by another.
  const bool selectors = peer.pod_selector || peer.namespace_selector;
  if (!selectors && !peer.ip_block) {
    return FieldError(p, "must specify podSelector, namespaceSelector or ipBlock");
  }
  if (selectors && peer.ip_block) {
    return FieldError(p, "ipBlock may not be combined with podSelector or namespaceSelector");
  }
  return peer;
}

absl::StatusOr<NetworkPolicyPort> ParsePolicyPort(const json& v, const std::string& p) {
  RETURN_IF_ERROR(CheckObject(v, p));
  NetworkPolicyPort port;
  RETURN_IF_ERROR(ReadEnum(v, "protocol", Join(p, "protocol"), kProtocols, &port.protocol));
  if (const json* pv = Get(v, "port")) {
    IntOrString ios;
    RETURN_IF_ERROR(IntOrStringValue(*pv, Join(p, "port"), &ios));
    port.port = std::move(ios);
  }
  RETURN_IF_ERROR(ReadInt(v, "endPort", Join(p, "endPort"), kMinPort, kMaxPort, &port.end_port));
  if (port.end_port) {
    if (!port.port || port.port->is_string) {
      return FieldError(Join(p, "endPort"), "requires a numeric port");
    }
    if (*port.end_port < port.port->int_value) {
      return FieldError(Join(p, "endPort"),
                        absl::StrCat("must be at least port ", port.port->int_value, ", got ",
                                     *port.end_port));
    }
  }
  return port;
}

absl::Status ParseRules(const json& spec, const char* key, const char* peers_key,
                        const std::string& sp, std::vector<NetworkPolicyRule>* out) {
  const std::string rp = Join(sp, key);
  ASSIGN_OR_RETURN(const json* rules, GetArray(spec, key, rp));
  if (!rules) return absl::OkStatus();
  for (size_t i = 0; i < rules->size(); ++i) {
    const std::string p = Index(rp, i);
    const json& r = (*rules)[i];
    RETURN_IF_ERROR(CheckObject(r, p));
    NetworkPolicyRule rule;
    const std::string pp = Join(p, peers_key);
    ASSIGN_OR_RETURN(const json* peers, GetArray(r, peers_key, pp));
    if (peers) {
      for (size_t k = 0; k < peers->size(); ++k) {
        ASSIGN_OR_RETURN(NetworkPolicyPeer peer, ParsePeer((*peers)[k], Index(pp, k)));
        rule.peers.push_back(std::move(peer));
      }
    }
    const std::string op = Join(p, "ports");
    ASSIGN_OR_RETURN(const json* ports, GetArray(r, "ports", op));
    if (ports) {
      for (size_t k = 0; k < ports->size(); ++k) {
        ASSIGN_OR_RETURN(NetworkPolicyPort port, ParsePolicyPort((*ports)[k], Index(op, k)));
        rule.ports.push_back(std::move(port));
      }
    }
    out->push_back(std::move(rule));
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkPolicy> ParseNetworkPolicyBody(const json& j, const std::string& base) {
  NetworkPolicy np;
  RETURN_IF_ERROR(ParseMeta(Kind::kNetworkPolicy, j, base, &np.meta));
  const std::string sp = Join(base, "spec");
  ASSIGN_OR_RETURN(const json* spec, GetObject(j, "spec", sp));
  if (!spec) {
    np.policy_ingress = true;  // the defaulted policy: isolate every pod for ingress
    return np;
  }
  ASSIGN_OR_RETURN(std::optional<LabelSelector> pod_selector,
                   ReadSelector(*spec, "podSelector", Join(sp, "podSelector")));
  if (pod_selector) np.pod_selector = std::move(*pod_selector);
  RETURN_IF_ERROR(ParseRules(*spec, "ingress", "from", sp, &np.ingress));
  RETURN_IF_ERROR(ParseRules(*spec, "egress", "to", sp, &np.egress));

  const std::string tp = Join(sp, "policyTypes");
  std::vector<std::string> types;
  RETURN_IF_ERROR(ReadStringList(*spec, "policyTypes", tp, &types));
  if (types.empty()) {
    np.policy_ingress = true;
    np.policy_egress = !np.egress.empty();
  }
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "Ingress") {
      np.policy_ingress = true;
    } else if (types[i] == "Egress") {
      np.policy_egress = true;
    } else {
      return FieldError(Index(tp, i),
                        absl::StrCat("must be one of Ingress, Egress, got \"", types[i], "\""));
    }
  }
  return np;
}

// ---- kinds -----------------------------------------------------------------

struct KindInfo {
  Kind kind;
  const char* name;
  const char* group;  // "" for the core group
  const char* api_version;
  bool namespaced;
};

constexpr std::array<KindInfo, kNumKinds> kKinds = {{
    {Kind::kNode, "Node", "", "v1", false},
    {Kind::kNamespace, "Namespace", "", "v1", false},
    {Kind::kPod, "Pod", "", "v1", true},
    {Kind::kService, "Service", "", "v1", true},
    {Kind::kEndpointSlice, "EndpointSlice", "discovery.k8s.io", "discovery.k8s.io/v1", true},
    {Kind::kNetworkPolicy, "NetworkPolicy", "networking.k8s.io", "networking.k8s.io/v1", true},
}};

const KindInfo& Info(Kind k) { return kKinds[static_cast<size_t>(k)]; }

template <typename T>
absl::StatusOr<Object> Wrap(absl::StatusOr<T> r) {
  if (!r.ok()) return r.status();
  return Object(std::move(*r));
}

}  // namespace

// ---- public ----------------------------------------------------------------

const char* KindName(Kind k) { return Info(k).name; }
const char* KindApiVersion(Kind k) { return Info(k).api_version; }
bool IsNamespaced(Kind k) { return Info(k).namespaced; }

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kTcp:
      return "TCP";
    case Protocol::kUdp:
      return "UDP";
    case Protocol::kSctp:
      return "SCTP";
  }
  return "?";
}

std::string IntOrString::ToString() const {
  return is_string ? str_value : std::to_string(int_value);
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const LabelSelectorRequirement& r : match_expressions) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool in_values =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case LabelSelectorRequirement::Operator::kIn:
        if (!in_values) return false;
        break;
      case LabelSelectorRequirement::Operator::kNotIn:
        if (in_values) return false;
        break;
      case LabelSelectorRequirement::Operator::kExists:
        if (!has) return false;
        break;
      case LabelSelectorRequirement::Operator::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

std::optional<int32_t> Pod::FindNamedPort(absl::string_view name, Protocol protocol) const {
  for (const Container& c : containers) {
    for (const ContainerPort& p : c.ports) {
      if (p.name == name && p.protocol == protocol) return p.container_port;
    }
  }
  return std::nullopt;
}

std::string EndpointSlice::ServiceName() const {
  auto it = meta.labels.find(kServiceNameLabel);
  return it == meta.labels.end() ? std::string() : it->second;
}

Kind KindOf(const Object& o) { return static_cast<Kind>(o.index()); }

const ObjectMeta& MetaOf(const Object& o) {
  return std::visit([](const auto& x) -> const ObjectMeta& { return x.meta; }, o);
}

std::string Describe(const Object& o) {
  const ObjectMeta& m = MetaOf(o);
  if (m.namespace_name.empty()) return absl::StrCat(KindName(KindOf(o)), " ", m.name);
  return absl::StrCat(KindName(KindOf(o)), " ", m.namespace_name, "/", m.name);
}

absl::StatusOr<LabelSelector> ParseLabelSelector(const nlohmann::json& j,
                                                 absl::string_view path_view) {
  static constexpr std::array<std::pair<const char*, LabelSelectorRequirement::Operator>, 4>
      kOperators = {{
          {"In", LabelSelectorRequirement::Operator::kIn},
          {"NotIn", LabelSelectorRequirement::Operator::kNotIn},
          {"Exists", LabelSelectorRequirement::Operator::kExists},
          {"DoesNotExist", LabelSelectorRequirement::Operator::kDoesNotExist},
      }};
  const std::string path(path_view);
  RETURN_IF_ERROR(CheckObject(j, path));
  LabelSelector sel;
  RETURN_IF_ERROR(ReadStringMap(j, "matchLabels", Join(path, "matchLabels"), &sel.match_labels));
  const std::string ep = Join(path, "matchExpressions");
  ASSIGN_OR_RETURN(const json* exprs, GetArray(j, "matchExpressions", ep));
  if (exprs) {
    for (size_t i = 0; i < exprs->size(); ++i) {
      const std::string p = Index(ep, i);
      const json& e = (*exprs)[i];
      RETURN_IF_ERROR(CheckObject(e, p));
      LabelSelectorRequirement r;
      RETURN_IF_ERROR(ReadString(e, "key", Join(p, "key"), &r.key));
      if (r.key.empty()) return FieldError(Join(p, "key"), "required");
      if (!Get(e, "operator")) return FieldError(Join(p, "operator"), "required");
      RETURN_IF_ERROR(ReadEnum(e, "operator", Join(p, "operator"), kOperators, &r.op));
      RETURN_IF_ERROR(ReadStringList(e, "values", Join(p, "values"), &r.values));
      const bool set_op = r.op == LabelSelectorRequirement::Operator::kIn ||
                          r.op == LabelSelectorRequirement::Operator::kNotIn;
      if (set_op && r.values.empty()) {
        return FieldError(Join(p, "values"), "must be non-empty for operator In or NotIn");
      }
      if (!set_op && !r.values.empty()) {
        return FieldError(Join(p, "values"),
                          "must be empty for operator Exists or DoesNotExist");
      }
      sel.match_expressions.push_back(std::move(r));
    }
  }
  return sel;
}

absl::StatusOr<std::optional<Kind>> LookupKind(absl::string_view api_version,
                                               absl::string_view kind) {
  const size_t slash = api_version.rfind('/');
  const absl::string_view group =
      slash == absl::string_view::npos ? absl::string_view() : api_version.substr(0, slash);
  for (const KindInfo& k : kKinds) {
    if (kind != k.name || group != k.group) continue;
    if (api_version != k.api_version) {
      return FieldError("apiVersion", absl::StrCat("unsupported version \"", std::string(api_version),
                                                   "\" of ", k.name, "; xvr reads ",
                                                   k.api_version));
    }
    return std::optional<Kind>(k.kind);
  }
  return std::optional<Kind>();
}

absl::StatusOr<Object> ParseObject(Kind kind, const nlohmann::json& j, absl::string_view path) {
  const std::string base(path);
  RETURN_IF_ERROR(CheckObject(j, base));
  RETURN_IF_ERROR(CheckTypeMeta(kind, j, base));
  switch (kind) {
    case Kind::kNode:
      return Wrap(ParseNodeBody(j, base));
    case Kind::kNamespace:
      return Wrap(ParseNamespaceBody(j, base));
    case Kind::kPod:
      return Wrap(ParsePodBody(j, base));
    case Kind::kService:
      return Wrap(ParseServiceBody(j, base));
    case Kind::kEndpointSlice:
      return Wrap(ParseEndpointSliceBody(j, base));
    case Kind::kNetworkPolicy:
      return Wrap(ParseNetworkPolicyBody(j, base));
  }
  return absl::InternalError("unknown kind");
}

absl::StatusOr<std::optional<Object>> ParseAnyObject(const nlohmann::json& j,
                                                     absl::string_view path) {
  const std::string base(path);
  RETURN_IF_ERROR(CheckObject(j, base));
  std::string api_version, kind;
  RETURN_IF_ERROR(ReadString(j, "apiVersion", Join(base, "apiVersion"), &api_version));
  if (api_version.empty()) return FieldError(Join(base, "apiVersion"), "required");
  RETURN_IF_ERROR(ReadString(j, "kind", Join(base, "kind"), &kind));
  if (kind.empty()) return FieldError(Join(base, "kind"), "required");
  absl::StatusOr<std::optional<Kind>> k = LookupKind(api_version, kind);
  if (!k.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(base.empty() ? "" : base + ".",
                                                   k.status().message()));
  }
  if (!*k) {
    // Not ours, but still a well-formed object: a nameless one is a mistake
    // in the file either way.
    const std::string mp = Join(base, "metadata");
    ASSIGN_OR_RETURN(const json* md, GetObject(j, "metadata", mp));
    std::string name;
    if (md) RETURN_IF_ERROR(ReadString(*md, "name", Join(mp, "name"), &name));
    if (name.empty()) return FieldError(Join(mp, "name"), "required");
    return std::optional<Object>();
  }
  ASSIGN_OR_RETURN(Object o, ParseObject(**k, j, path));
  return std::optional<Object>(std::move(o));
}

}  // namespace xvr::k8s

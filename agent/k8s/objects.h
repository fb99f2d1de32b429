// Typed models of the Kubernetes objects xvr reads, parsed from JSON.
//
// Both sources use these parsers: the API-server source gets JSON on the
// wire, the manifests source converts YAML to JSON first (yaml_json.h). So a
// field is read the same way whichever way it arrives.
//
// Parsing is lenient where Kubernetes objects are large and evolving (unknown
// fields are ignored) and strict where xvr depends on a field: a field we use
// that has the wrong JSON type, an unknown enum value, or an out-of-range
// port is an error whose message starts with the field path
// ("spec.ports[0].port: must be an integer, got string \"http\"").
//
// Defaults the API server would have applied are applied here too, because
// objects from a manifests directory never passed through the API server:
// protocol TCP, Service type ClusterIP, targetPort = port, sessionAffinity
// None, NetworkPolicy policyTypes, namespace "default", and the
// kubernetes.io/metadata.name label on Namespaces.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace xvr::k8s {

// The kinds xvr uses. Everything else in a manifests directory is skipped.
enum class Kind : uint8_t {
  kNode,
  kNamespace,
  kPod,
  kService,
  kEndpointSlice,
  kNetworkPolicy,
};
inline constexpr std::array<Kind, 6> kAllKinds = {
    Kind::kNode,    Kind::kNamespace,     Kind::kPod,
    Kind::kService, Kind::kEndpointSlice, Kind::kNetworkPolicy};
inline constexpr size_t kNumKinds = kAllKinds.size();

const char* KindName(Kind k);        // "Node", "EndpointSlice", …
const char* KindApiVersion(Kind k);  // "v1", "discovery.k8s.io/v1", …
bool IsNamespaced(Kind k);           // false for Node and Namespace

using Labels = std::map<std::string, std::string>;

inline constexpr char kDefaultNamespace[] = "default";
inline constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";
inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

struct ObjectMeta {
  std::string name;
  std::string namespace_name;  // empty for cluster-scoped kinds
  std::string uid;
  std::string resource_version;  // opaque; empty for manifests
  Labels labels;
  bool operator==(const ObjectMeta&) const = default;
};

enum class Protocol : uint8_t { kTcp, kUdp, kSctp };
const char* ProtocolName(Protocol p);  // "TCP", "UDP", "SCTP"

// A Kubernetes IntOrString: a port number or a port name. A JSON string stays
// a string even when it holds digits, as in Kubernetes.
struct IntOrString {
  bool is_string = false;
  int32_t int_value = 0;
  std::string str_value;

  static IntOrString Int(int32_t v) { return {false, v, {}}; }
  static IntOrString Str(std::string s) { return {true, 0, std::move(s)}; }
  std::string ToString() const;
  bool operator==(const IntOrString&) const = default;
};

// ---- LabelSelector ---------------------------------------------------------

struct LabelSelectorRequirement {
  enum class Operator : uint8_t { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kIn;
  std::vector<std::string> values;  // non-empty for In/NotIn, empty otherwise
  bool operator==(const LabelSelectorRequirement&) const = default;
};

struct LabelSelector {
  Labels match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;

  // An empty selector ({}) selects everything. A null/absent selector is
  // represented by the caller (std::optional) and means what the field's
  // documentation says — often "nothing".
  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  // Kubernetes semantics (labels.Selector): every matchLabels pair and every
  // requirement must hold; NotIn and DoesNotExist hold when the key is absent.
  bool Matches(const Labels& labels) const;
  bool operator==(const LabelSelector&) const = default;
};

// ---- Node ------------------------------------------------------------------

enum class NodeAddressType : uint8_t {
  kInternalIP,
  kExternalIP,
  kHostname,
  kInternalDNS,
  kExternalDNS,
};

struct NodeAddress {
  NodeAddressType type = NodeAddressType::kInternalIP;
  std::string address;
  bool operator==(const NodeAddress&) const = default;
};

struct Node {
  static constexpr Kind kKind = Kind::kNode;
  ObjectMeta meta;
  // spec.podCIDRs; spec.podCIDR alone is folded in as the only element. May
  // mix IPv4 and IPv6; values are not validated here (see RemoteNodes()).
  std::vector<std::string> pod_cidrs;
  std::vector<NodeAddress> addresses;  // status.addresses
  bool operator==(const Node&) const = default;
};

// ---- Namespace -------------------------------------------------------------

struct Namespace {
  static constexpr Kind kKind = Kind::kNamespace;
  ObjectMeta meta;  // labels always include kubernetes.io/metadata.name
  bool operator==(const Namespace&) const = default;
};

// ---- Pod -------------------------------------------------------------------

enum class PodPhase : uint8_t { kUnset, kPending, kRunning, kSucceeded, kFailed, kUnknown };

struct ContainerPort {
  std::string name;
  int32_t container_port = 0;
  Protocol protocol = Protocol::kTcp;
  bool operator==(const ContainerPort&) const = default;
};

struct Container {
  std::string name;
  std::vector<ContainerPort> ports;
  bool operator==(const Container&) const = default;
};

struct Pod {
  static constexpr Kind kKind = Kind::kPod;
  ObjectMeta meta;
  std::string node_name;  // spec.nodeName; empty until scheduled
  bool host_network = false;
  std::vector<Container> containers;
  // status.podIPs; status.podIP alone is folded in as the only element.
  std::vector<std::string> pod_ips;
  PodPhase phase = PodPhase::kUnset;

  // The named container port `name` with `protocol`, as a Service targetPort
  // resolves it; nullopt when no container declares it.
  std::optional<int32_t> FindNamedPort(absl::string_view name, Protocol protocol) const;
  bool operator==(const Pod&) const = default;
};

// ---- Service ---------------------------------------------------------------

enum class ServiceType : uint8_t { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class SessionAffinity : uint8_t { kNone, kClientIP };
enum class TrafficPolicy : uint8_t { kCluster, kLocal };

inline constexpr int32_t kDefaultAffinityTimeoutSeconds = 10800;

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  int32_t port = 0;
  IntOrString target_port;  // defaults to port
  int32_t node_port = 0;    // 0 = none
  bool operator==(const ServicePort&) const = default;
};

struct Service {
  static constexpr Kind kKind = Kind::kService;
  ObjectMeta meta;
  ServiceType type = ServiceType::kClusterIP;
  // spec.clusterIPs; spec.clusterIP alone is folded in. "None" = headless.
  std::vector<std::string> cluster_ips;
  std::vector<ServicePort> ports;
  // spec.selector; empty means endpoints are managed by someone else.
  Labels selector;
  SessionAffinity session_affinity = SessionAffinity::kNone;
  // sessionAffinityConfig.clientIP.timeoutSeconds; meaningful for ClientIP.
  int32_t affinity_timeout_seconds = kDefaultAffinityTimeoutSeconds;
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  std::vector<std::string> external_ips;
  std::string external_name;  // spec.externalName for type ExternalName

  bool Headless() const { return !cluster_ips.empty() && cluster_ips[0] == "None"; }
  bool operator==(const Service&) const = default;
};

// ---- EndpointSlice ---------------------------------------------------------

enum class AddressType : uint8_t { kIPv4, kIPv6, kFQDN };

struct ObjectReference {
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string uid;
  bool operator==(const ObjectReference&) const = default;
};

struct Endpoint {
  std::vector<std::string> addresses;
  // conditions, resolved the way kube-proxy reads them: an absent ready or
  // serving means true, an absent terminating means false.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string node_name;
  std::optional<ObjectReference> target_ref;
  bool operator==(const Endpoint&) const = default;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  std::optional<int32_t> port;  // absent: not restricted (rare)
  bool operator==(const EndpointPort&) const = default;
};

struct EndpointSlice {
  static constexpr Kind kKind = Kind::kEndpointSlice;
  ObjectMeta meta;
  AddressType address_type = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;

  // The kubernetes.io/service-name label; empty when the slice has none.
  std::string ServiceName() const;
  bool operator==(const EndpointSlice&) const = default;
};

// ---- NetworkPolicy ---------------------------------------------------------

struct IPBlock {
  std::string cidr;
  std::vector<std::string> except;
  bool operator==(const IPBlock&) const = default;
};

// A peer: either ipBlock, or podSelector and/or namespaceSelector. Absent
// selectors are nullopt (semantics differ from an empty one).
struct NetworkPolicyPeer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IPBlock> ip_block;
  bool operator==(const NetworkPolicyPeer&) const = default;
};

struct NetworkPolicyPort {
  Protocol protocol = Protocol::kTcp;
  std::optional<IntOrString> port;  // absent: every port of `protocol`
  std::optional<int32_t> end_port;  // range port..end_port; needs a numeric port
  bool operator==(const NetworkPolicyPort&) const = default;
};

// One ingress (peers = from) or egress (peers = to) rule. Empty peers: every
// peer; empty ports: every port.
struct NetworkPolicyRule {
  std::vector<NetworkPolicyPeer> peers;
  std::vector<NetworkPolicyPort> ports;
  bool operator==(const NetworkPolicyRule&) const = default;
};

struct NetworkPolicy {
  static constexpr Kind kKind = Kind::kNetworkPolicy;
  ObjectMeta meta;
  LabelSelector pod_selector;  // spec.podSelector; {} selects every pod
  // spec.policyTypes, defaulted as the API server does: Ingress always,
  // Egress when egress rules exist.
  bool policy_ingress = false;
  bool policy_egress = false;
  std::vector<NetworkPolicyRule> ingress;
  std::vector<NetworkPolicyRule> egress;
  bool operator==(const NetworkPolicy&) const = default;
};

// ---- Any object ------------------------------------------------------------

// Alternatives are in Kind order: Object::index() == static_cast<int>(kind).
using Object = std::variant<Node, Namespace, Pod, Service, EndpointSlice, NetworkPolicy>;

Kind KindOf(const Object& o);
const ObjectMeta& MetaOf(const Object& o);
// "Node node-1", "Service default/web".
std::string Describe(const Object& o);

// Parsers. `path` prefixes every field path in error messages (e.g. "object"
// for a watch event, "items[3]" for a list item); empty for a root object.
//
// ParseObject() reads an object of a kind known from context (the items of a
// NodeList from the API carry no kind/apiVersion); when kind/apiVersion are
// present they must match.
absl::StatusOr<Object> ParseObject(Kind kind, const nlohmann::json& j,
                                   absl::string_view path = {});
// ParseAnyObject() dispatches on apiVersion + kind (both required, as is
// metadata.name). Kinds xvr does not use yield nullopt; a kind xvr uses in an
// apiVersion it does not support is an error.
absl::StatusOr<std::optional<Object>> ParseAnyObject(const nlohmann::json& j,
                                                     absl::string_view path = {});
// The kind named by (apiVersion, kind), or nullopt when xvr does not use it.
// Errors for a kind xvr uses in an unsupported version of its API group.
absl::StatusOr<std::optional<Kind>> LookupKind(absl::string_view api_version,
                                               absl::string_view kind);

// Exposed for sources and tests.
absl::StatusOr<LabelSelector> ParseLabelSelector(const nlohmann::json& j,
                                                 absl::string_view path);

}  // namespace xvr::k8s

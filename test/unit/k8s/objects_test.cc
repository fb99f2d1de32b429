// Parsing of the Kubernetes objects xvr reads: every kind, the defaults the
// API server would apply, and errors that name the offending field.
#include "agent/k8s/objects.h"

#include <gtest/gtest.h>

namespace xvr::k8s {
namespace {

using nlohmann::json;

template <typename T>
T ParseAs(const std::string& text) {
  absl::StatusOr<std::optional<Object>> o = ParseAnyObject(json::parse(text));
  EXPECT_TRUE(o.ok()) << o.status();
  if (!o.ok() || !*o) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(**o));
  return std::get<T>(std::move(**o));
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<std::optional<Object>> o = ParseAnyObject(json::parse(text));
  EXPECT_FALSE(o.ok());
  return o.ok() ? "" : std::string(o.status().message());
}

TEST(Objects, NodeReadsPodCidrsAddressesAndIgnoresUnknownFields) {
  Node n = ParseAs<Node>(R"({
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "n2", "labels": {"zone": "a"}, "resourceVersion": "42",
                 "annotations": {"x": "y"}},
    "spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24", "fd00:2::/64"],
             "taints": [{"key": "k", "effect": "NoSchedule"}]},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.2"},
                             {"type": "Hostname", "address": "n2"}],
               "conditions": [{"type": "Ready", "status": "True"}]}})");
  EXPECT_EQ(n.meta.name, "n2");
  EXPECT_EQ(n.meta.namespace_name, "");
  EXPECT_EQ(n.meta.resource_version, "42");
  EXPECT_EQ(n.meta.labels, (Labels{{"zone", "a"}}));
  EXPECT_EQ(n.pod_cidrs, (std::vector<std::string>{"10.244.2.0/24", "fd00:2::/64"}));
  ASSERT_EQ(n.addresses.size(), 2u);
  EXPECT_EQ(n.addresses[0].type, NodeAddressType::kInternalIP);
  EXPECT_EQ(n.addresses[0].address, "192.168.1.2");
  EXPECT_EQ(n.addresses[1].type, NodeAddressType::kHostname);
}

TEST(Objects, NodePodCidrAloneBecomesTheOnlyPodCidr) {
  Node n = ParseAs<Node>(
      R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
          "spec": {"podCIDR": "10.1.0.0/24"}})");
  EXPECT_EQ(n.pod_cidrs, (std::vector<std::string>{"10.1.0.0/24"}));
}

TEST(Objects, NodeAddressTypeMustBeKnown) {
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
                        "status": {"addresses": [{"type": "Internal", "address": "1.2.3.4"}]}})"),
            "status.addresses[0].type: must be one of InternalIP, ExternalIP, Hostname, "
            "InternalDNS, ExternalDNS, got \"Internal\"");
}

TEST(Objects, NamespaceGetsTheMetadataNameLabelLikeTheApiServerSetsIt) {
  Namespace ns = ParseAs<Namespace>(
      R"({"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "prod", "labels": {"team": "x"}}})");
  EXPECT_EQ(ns.meta.name, "prod");
  EXPECT_EQ(ns.meta.labels,
            (Labels{{"team", "x"}, {"kubernetes.io/metadata.name", "prod"}}));
}

TEST(Objects, PodReadsPortsIpsPhaseAndDefaultsProtocolAndNamespace) {
  Pod p = ParseAs<Pod>(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "n1", "hostNetwork": false,
             "containers": [{"name": "c", "image": "nginx",
                             "ports": [{"name": "http", "containerPort": 8080},
                                       {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
    "status": {"phase": "Running", "podIP": "10.244.1.5",
               "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}]}})");
  EXPECT_EQ(p.meta.namespace_name, "default");
  EXPECT_EQ(p.meta.uid, "u-1");
  EXPECT_EQ(p.node_name, "n1");
  EXPECT_FALSE(p.host_network);
  ASSERT_EQ(p.containers.size(), 1u);
  ASSERT_EQ(p.containers[0].ports.size(), 2u);
  EXPECT_EQ(p.containers[0].ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(p.containers[0].ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(p.pod_ips, (std::vector<std::string>{"10.244.1.5", "fd00::5"}));
  EXPECT_EQ(p.phase, PodPhase::kRunning);
  EXPECT_EQ(p.FindNamedPort("http", Protocol::kTcp), 8080);
  EXPECT_EQ(p.FindNamedPort("dns", Protocol::kTcp), std::nullopt);
  EXPECT_EQ(p.FindNamedPort("dns", Protocol::kUdp), 53);
}

TEST(Objects, PodIpAloneBecomesTheOnlyPodIp) {
  Pod p = ParseAs<Pod>(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                           "status": {"podIP": "10.0.0.9"}})");
  EXPECT_EQ(p.pod_ips, (std::vector<std::string>{"10.0.0.9"}));
  EXPECT_EQ(p.phase, PodPhase::kUnset);
}

TEST(Objects, PodWrongTypesNameThePath) {
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"hostNetwork": "yes"}})"),
            "spec.hostNetwork: must be a boolean, got string \"yes\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": [{"name": "c",
                                 "ports": [{"containerPort": "80"}]}]}})"),
            "spec.containers[0].ports[0].containerPort: must be an integer, got string \"80\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": [{"ports": [{"containerPort": 70000}]}]}})"),
            "spec.containers[0].ports[0].containerPort: must be between 1 and 65535, got 70000");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p",
                        "labels": {"version": 2}}})"),
            "metadata.labels.version: must be a string, got number 2");
}

TEST(Objects, ServiceReadsEverythingXvrUses) {
  Service s = ParseAs<Service>(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
             "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                       {"name": "metrics", "protocol": "UDP", "port": 9100, "targetPort": 9101},
                       {"port": 443}],
             "selector": {"app": "web"},
             "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
             "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
             "externalIPs": ["203.0.113.7"]}})");
  EXPECT_EQ(s.meta.namespace_name, "prod");
  EXPECT_EQ(s.type, ServiceType::kNodePort);
  EXPECT_EQ(s.cluster_ips, (std::vector<std::string>{"10.96.0.10"}));
  EXPECT_FALSE(s.Headless());
  ASSERT_EQ(s.ports.size(), 3u);
  EXPECT_EQ(s.ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(s.ports[0].target_port, IntOrString::Str("http"));
  EXPECT_EQ(s.ports[0].node_port, 30080);
  EXPECT_EQ(s.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(s.ports[1].target_port, IntOrString::Int(9101));
  EXPECT_EQ(s.ports[1].node_port, 0);
  EXPECT_EQ(s.ports[2].target_port, IntOrString::Int(443)) << "targetPort defaults to port";
  EXPECT_EQ(s.selector, (Labels{{"app", "web"}}));
  EXPECT_EQ(s.session_affinity, SessionAffinity::kClientIP);
  EXPECT_EQ(s.affinity_timeout_seconds, 60);
  EXPECT_EQ(s.external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s.internal_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s.external_ips, (std::vector<std::string>{"203.0.113.7"}));
}

TEST(Objects, ServiceDefaults) {
  Service s = ParseAs<Service>(R"({"apiVersion": "v1", "kind": "Service",
      "metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432,
      "targetPort": 0}]}})");
  EXPECT_EQ(s.meta.namespace_name, "default");
  EXPECT_EQ(s.type, ServiceType::kClusterIP);
  EXPECT_TRUE(s.Headless());
  EXPECT_EQ(s.ports[0].target_port, IntOrString::Int(5432)) << "targetPort 0 means unset";
  EXPECT_EQ(s.session_affinity, SessionAffinity::kNone);
  EXPECT_EQ(s.affinity_timeout_seconds, kDefaultAffinityTimeoutSeconds);
  EXPECT_EQ(s.external_traffic_policy, TrafficPolicy::kCluster);
  EXPECT_EQ(s.internal_traffic_policy, TrafficPolicy::kCluster);
}

TEST(Objects, ServiceTargetPortDigitsInAStringStayAName) {
  // As in Kubernetes' IntOrString: the JSON type decides, not the content.
  Service s = ParseAs<Service>(R"({"apiVersion": "v1", "kind": "Service",
      "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80, "targetPort": "8080"}]}})");
  EXPECT_EQ(s.ports[0].target_port, IntOrString::Str("8080"));
}

TEST(Objects, ServiceErrorsNameThePath) {
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": [{"port": 80}, {"port": "http"}]}})"),
            "spec.ports[1].port: must be an integer, got string \"http\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": [{"name": "p"}]}})"),
            "spec.ports[0].port: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": [{"port": 80, "targetPort": true}]}})"),
            "spec.ports[0].targetPort: must be a port number or name, got boolean true");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": [{"port": 80, "protocol": "tcp"}]}})"),
            "spec.ports[0].protocol: must be one of TCP, UDP, SCTP, got \"tcp\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"type": "Headless"}})"),
            "spec.type: must be one of ClusterIP, NodePort, LoadBalancer, ExternalName, "
            "got \"Headless\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}})"),
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be between 1 and 86400, "
            "got 0");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": {"port": 80}}})"),
            "spec.ports: must be an array, got an object");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                        "spec": {"ports": [{"port": 80.5}]}})"),
            "spec.ports[0].port: must be an integer, got number 80.5");
}

TEST(Objects, EndpointSliceConditionsDefaultAsKubeProxyReadsThem) {
  EndpointSlice es = ParseAs<EndpointSlice>(R"({
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "web-abc", "namespace": "prod",
                 "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "nodeName": "n1",
       "targetRef": {"kind": "Pod", "namespace": "prod", "name": "web-1", "uid": "u1"}},
      {"addresses": ["10.244.2.6"],
       "conditions": {"ready": false, "serving": true, "terminating": true}},
      {"addresses": ["10.244.2.7"]}],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53,
               "protocol": "UDP"}, {"name": "any"}]})");
  EXPECT_EQ(es.ServiceName(), "web");
  EXPECT_EQ(es.address_type, AddressType::kIPv4);
  ASSERT_EQ(es.endpoints.size(), 3u);
  EXPECT_TRUE(es.endpoints[0].ready);
  EXPECT_TRUE(es.endpoints[0].serving);
  EXPECT_FALSE(es.endpoints[0].terminating);
  EXPECT_EQ(es.endpoints[0].node_name, "n1");
  ASSERT_TRUE(es.endpoints[0].target_ref.has_value());
  EXPECT_EQ(es.endpoints[0].target_ref->name, "web-1");
  EXPECT_FALSE(es.endpoints[1].ready);
  EXPECT_TRUE(es.endpoints[1].serving);
  EXPECT_TRUE(es.endpoints[1].terminating);
  EXPECT_TRUE(es.endpoints[2].ready) << "absent ready means ready";
  EXPECT_TRUE(es.endpoints[2].serving);
  EXPECT_FALSE(es.endpoints[2].terminating);
  EXPECT_FALSE(es.endpoints[2].target_ref.has_value());
  ASSERT_EQ(es.ports.size(), 3u);
  EXPECT_EQ(es.ports[0].port, 8080);
  EXPECT_EQ(es.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(es.ports[2].protocol, Protocol::kTcp);
  EXPECT_EQ(es.ports[2].port, std::nullopt);
}

TEST(Objects, EndpointSliceErrors) {
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"name": "e"}})"),
            "addressType: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"name": "e"}, "addressType": "IPv4",
                        "endpoints": [{"addresses": ["1.2.3.4"],
                                       "conditions": {"ready": "true"}}]})"),
            "endpoints[0].conditions.ready: must be a boolean, got string \"true\"");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
                        "metadata": {"name": "e"}, "addressType": "IPv4"})"),
            "apiVersion: unsupported version \"discovery.k8s.io/v1beta1\" of EndpointSlice; "
            "xvr reads discovery.k8s.io/v1");
}

TEST(Objects, NetworkPolicyReadsRulesPeersAndPorts) {
  NetworkPolicy np = ParseAs<NetworkPolicy>(R"({
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "allow-web", "namespace": "prod"},
    "spec": {
      "podSelector": {"matchLabels": {"app": "web"}},
      "policyTypes": ["Ingress", "Egress"],
      "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "fe"}},
                             "namespaceSelector": {}},
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                   "ports": [{"port": 80}, {"protocol": "UDP", "port": "dns"},
                             {"port": 30000, "endPort": 32767}, {}]}],
      "egress": [{}]}})");
  EXPECT_EQ(np.pod_selector.match_labels, (Labels{{"app", "web"}}));
  EXPECT_TRUE(np.policy_ingress);
  EXPECT_TRUE(np.policy_egress);
  ASSERT_EQ(np.ingress.size(), 1u);
  const NetworkPolicyRule& r = np.ingress[0];
  ASSERT_EQ(r.peers.size(), 2u);
  ASSERT_TRUE(r.peers[0].pod_selector.has_value());
  ASSERT_TRUE(r.peers[0].namespace_selector.has_value());
  EXPECT_TRUE(r.peers[0].namespace_selector->Empty());
  EXPECT_FALSE(r.peers[0].ip_block.has_value());
  ASSERT_TRUE(r.peers[1].ip_block.has_value());
  EXPECT_EQ(r.peers[1].ip_block->cidr, "10.0.0.0/8");
  EXPECT_EQ(r.peers[1].ip_block->except, (std::vector<std::string>{"10.1.0.0/16"}));
  EXPECT_FALSE(r.peers[1].pod_selector.has_value());
  ASSERT_EQ(r.ports.size(), 4u);
  EXPECT_EQ(r.ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(r.ports[0].port, IntOrString::Int(80));
  EXPECT_EQ(r.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(r.ports[1].port, IntOrString::Str("dns"));
  EXPECT_EQ(r.ports[2].end_port, 32767);
  EXPECT_EQ(r.ports[3].port, std::nullopt) << "absent port: every port";
  ASSERT_EQ(np.egress.size(), 1u);
  EXPECT_TRUE(np.egress[0].peers.empty());
  EXPECT_TRUE(np.egress[0].ports.empty());
}

TEST(Objects, NetworkPolicyPolicyTypesDefaultLikeTheApiServer) {
  NetworkPolicy deny_all = ParseAs<NetworkPolicy>(
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny"}, "spec": {"podSelector": {}}})");
  EXPECT_TRUE(deny_all.pod_selector.Empty());
  EXPECT_TRUE(deny_all.policy_ingress);
  EXPECT_FALSE(deny_all.policy_egress);
  NetworkPolicy with_egress = ParseAs<NetworkPolicy>(
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "e"}, "spec": {"podSelector": {},
          "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}})");
  EXPECT_TRUE(with_egress.policy_ingress);
  EXPECT_TRUE(with_egress.policy_egress);
  NetworkPolicy egress_only = ParseAs<NetworkPolicy>(
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "e"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}})");
  EXPECT_FALSE(egress_only.policy_ingress);
  EXPECT_TRUE(egress_only.policy_egress);
}

TEST(Objects, NetworkPolicyErrorsNameThePath) {
  const std::string head =
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "p"}, "spec": )";
  EXPECT_EQ(ErrorOf(head + R"({"ingress": [{"from": [{}]}]}})"),
            "spec.ingress[0].from[0]: must specify podSelector, namespaceSelector or ipBlock");
  EXPECT_EQ(ErrorOf(head + R"({"ingress": [{"from": [{"podSelector": {},
                              "ipBlock": {"cidr": "1.0.0.0/8"}}]}]}})"),
            "spec.ingress[0].from[0]: ipBlock may not be combined with podSelector or "
            "namespaceSelector");
  EXPECT_EQ(ErrorOf(head + R"({"egress": [{"ports": [{"port": "http", "endPort": 90}]}]}})"),
            "spec.egress[0].ports[0].endPort: requires a numeric port");
  EXPECT_EQ(ErrorOf(head + R"({"egress": [{"ports": [{"port": 100, "endPort": 90}]}]}})"),
            "spec.egress[0].ports[0].endPort: must be at least port 100, got 90");
  EXPECT_EQ(ErrorOf(head + R"({"podSelector": {"matchExpressions": [{"key": "a",
                              "operator": "Equals", "values": ["x"]}]}}})"),
            "spec.podSelector.matchExpressions[0].operator: must be one of In, NotIn, Exists, "
            "DoesNotExist, got \"Equals\"");
  EXPECT_EQ(ErrorOf(head + R"({"policyTypes": ["ingress"]}})"),
            "spec.policyTypes[0]: must be one of Ingress, Egress, got \"ingress\"");
  EXPECT_EQ(ErrorOf(head + R"({"ingress": [{"from": [{"ipBlock": {"except": []}}]}]}})"),
            "spec.ingress[0].from[0].ipBlock.cidr: required");
}

TEST(Objects, KindApiVersionAndNameAreRequired) {
  EXPECT_EQ(ErrorOf(R"({"kind": "Node", "metadata": {"name": "n"}})"), "apiVersion: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "metadata": {"name": "n"}})"), "kind: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Node"})"), "metadata.name: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": ""}})"),
            "metadata.name: required");
  EXPECT_EQ(ErrorOf(R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})"),
            "metadata.name: required");
  EXPECT_EQ(ErrorOf(R"([1, 2])"), "<root>: must be an object, got an array");
}

TEST(Objects, KindsXvrDoesNotUseAreSkippedNotParsed) {
  for (const char* text : {
           R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"port": 80}})",
           R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})",
           // Knative's Service is not a core Service.
           R"({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
               "metadata": {"name": "k"}, "spec": {"template": {}}})",
       }) {
    absl::StatusOr<std::optional<Object>> o = ParseAnyObject(json::parse(text));
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_FALSE(o->has_value()) << text;
  }
}

TEST(Objects, ParseObjectOfAKnownKindAcceptsListItemsWithoutTypeMeta) {
  // The items of an API server NodeList carry no kind or apiVersion.
  absl::StatusOr<Object> o =
      ParseObject(Kind::kNode, json::parse(R"({"metadata": {"name": "n1"}})"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(KindOf(*o), Kind::kNode);
  EXPECT_EQ(Describe(*o), "Node n1");

  absl::StatusOr<Object> wrong =
      ParseObject(Kind::kNode, json::parse(R"({"kind": "Pod", "metadata": {"name": "n1"}})"),
                  "object");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), "object.kind: expected Node, got string \"Pod\"");
}

TEST(Objects, BasePathPrefixesEveryError) {
  absl::StatusOr<std::optional<Object>> o = ParseAnyObject(
      json::parse(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                      "spec": {"ports": [{"port": "x"}]}})"),
      "items[3]");
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().message(),
            "items[3].spec.ports[0].port: must be an integer, got string \"x\"");
}

TEST(Objects, NullFieldsMeanUnset) {
  Service s = ParseAs<Service>(R"({"apiVersion": "v1", "kind": "Service",
      "metadata": {"name": "s", "namespace": null, "labels": null},
      "spec": {"selector": null, "ports": [{"port": 80, "targetPort": null,
               "protocol": null}]}})");
  EXPECT_EQ(s.meta.namespace_name, "default");
  EXPECT_TRUE(s.selector.empty());
  EXPECT_EQ(s.ports[0].target_port, IntOrString::Int(80));
  EXPECT_EQ(s.ports[0].protocol, Protocol::kTcp);
}

TEST(Objects, KindMetadata) {
  EXPECT_STREQ(KindName(Kind::kEndpointSlice), "EndpointSlice");
  EXPECT_STREQ(KindApiVersion(Kind::kNetworkPolicy), "networking.k8s.io/v1");
  EXPECT_FALSE(IsNamespaced(Kind::kNode));
  EXPECT_TRUE(IsNamespaced(Kind::kPod));
  for (Kind k : kAllKinds) {
    absl::StatusOr<std::optional<Kind>> back = LookupKind(KindApiVersion(k), KindName(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
}

}  // namespace
}  // namespace xvr::k8s

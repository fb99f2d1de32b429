// A small cluster in the shape of the upstream NetworkPolicy e2e suite:
// namespaces x, y, z with pods a, b, c each, all on the local node n1
// (10.244.1.0/24), plus y/r on the remote node n2 (10.244.2.0/24).
// Objects are written as YAML and go through the production parsers, so
// the parser's defaults (protocol TCP, policyTypes, namespace labels) are
// part of what is tested.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/objects.h"
#include "agent/k8s/yaml_json.h"
#include "agent/policy/policy_compiler.h"

namespace xvr::policy::test {

inline Ipv4Addr Ip(const std::string& s) { return *Ipv4Addr::Parse(s); }

// Applies every document of a YAML stream; fails the test on a parse error.
inline void ApplyYaml(k8s::ClusterState& cs, const std::string& yaml) {
  absl::StatusOr<std::vector<k8s::YamlDocument>> docs = k8s::YamlToJson(yaml);
  ASSERT_TRUE(docs.ok()) << docs.status();
  for (const k8s::YamlDocument& d : *docs) {
    absl::StatusOr<std::optional<k8s::Object>> o = k8s::ParseAnyObject(d.value);
    ASSERT_TRUE(o.ok()) << o.status() << "\n" << d.value.dump(2);
    ASSERT_TRUE(o->has_value());
    cs.Apply(std::move(**o));
  }
}

inline std::string PodYaml(const std::string& ns, const std::string& name,
                           const std::string& labels, const std::string& ip,
                           const std::string& node, const std::string& ports = "") {
  std::string y = absl::StrCat(R"(
apiVersion: v1
kind: Pod
metadata:
  namespace: )",
                               ns, R"(
  name: )",
                               name, R"(
  labels: )",
                               labels, R"(
spec:
  containers:
  - name: c
)");
  if (!ports.empty()) absl::StrAppend(&y, "    ports: ", ports, "\n");
  if (!node.empty()) absl::StrAppend(&y, "  nodeName: ", node, "\n");
  if (!ip.empty()) absl::StrAppend(&y, "status:\n  phase: Running\n  podIP: ", ip, "\n");
  return y + "---\n";
}

// Pod addresses by "ns/name".
inline const std::map<std::string, std::string>& PodIps() {
  static const auto* m = new std::map<std::string, std::string>{
      {"x/a", "10.244.1.10"}, {"x/b", "10.244.1.11"}, {"x/c", "10.244.1.12"},
      {"y/a", "10.244.1.20"}, {"y/b", "10.244.1.21"}, {"y/c", "10.244.1.22"},
      {"z/a", "10.244.1.30"}, {"z/b", "10.244.1.31"}, {"z/c", "10.244.1.32"},
      {"y/r", "10.244.2.5"}};
  return *m;
}

// "x/a" → its IP; anything else is an address already.
inline Ipv4Addr Addr(const std::string& who) {
  auto it = PodIps().find(who);
  return Ip(it == PodIps().end() ? who : it->second);
}

inline std::string BaseClusterYaml() {
  std::string y = R"(
apiVersion: v1
kind: Node
metadata:
  name: n1
spec:
  podCIDR: 10.244.1.0/24
status:
  addresses:
  - type: InternalIP
    address: 192.168.0.1
---
apiVersion: v1
kind: Node
metadata:
  name: n2
spec:
  podCIDR: 10.244.2.0/24
status:
  addresses:
  - type: InternalIP
    address: 192.168.0.2
---
apiVersion: v1
kind: Namespace
metadata:
  name: x
  labels: {team: red}
---
apiVersion: v1
kind: Namespace
metadata:
  name: y
  labels: {team: blue}
---
apiVersion: v1
kind: Namespace
metadata:
  name: z
---
)";
  // Every pod serves 80 and 81 over TCP, UDP and SCTP under upstream's
  // names; b and c also name "http", on different ports.
  const std::string common =
      "{name: serve-80-tcp, containerPort: 80}, {name: serve-81-tcp, containerPort: 81}, "
      "{name: serve-80-udp, containerPort: 80, protocol: UDP}, "
      "{name: serve-81-sctp, containerPort: 81, protocol: SCTP}";
  for (const auto& [who, ip] : PodIps()) {
    const std::string ns = who.substr(0, 1);
    const std::string name = who.substr(2);
    std::string ports = "[" + common;
    if (name == "b") ports += ", {name: http, containerPort: 8080}";
    if (name == "c") ports += ", {name: http, containerPort: 9090}";
    ports += "]";
    y += PodYaml(ns, name, absl::StrCat("{pod: ", name, "}"), ip, name == "r" ? "n2" : "n1", ports);
  }
  return y;
}

inline NodeContext LocalNode() {
  NodeContext n;
  n.node_name = "n1";
  n.gateway = Ip("10.244.1.1");
  n.node_ips = {Ip("192.168.0.1")};
  return n;
}

}  // namespace xvr::policy::test

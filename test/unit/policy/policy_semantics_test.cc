// NetworkPolicy semantics, table-driven: each case applies policies to the
// upstream-shaped cluster of policy_fixture.h, compiles it for node n1 and
// probes connections with Evaluate(), the data path's algorithm on the
// compiled maps. The cases follow the list of things implementations get
// wrong (CNI-AND-NETPOL.md) and the upstream e2e suite.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/policy/policy_compiler.h"
#include "test/unit/policy/policy_fixture.h"

namespace xvr::policy::test {
namespace {

constexpr uint8_t TCP = kProtoTcp;
constexpr uint8_t UDP = kProtoUdp;
constexpr uint8_t SCTP = kProtoSctp;
constexpr uint8_t ICMP = kProtoIcmp;

struct Probe {
  std::string src;  // "x/a" or an address
  std::string dst;
  uint8_t proto;
  uint16_t port;
  bool allowed;
};

struct Case {
  std::string name;
  std::string policies;  // YAML
  std::vector<Probe> probes;
};

std::string ProtoName(uint8_t p) { return ProtocolString(p); }

// A NetworkPolicy document.
std::string Np(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  namespace: " + ns +
         "\n  name: " + name + "\nspec:\n" + spec + "\n---\n";
}

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"no policy: everything is allowed",
       "",
       {
           {"x/a", "x/b", TCP, 80, true},
           {"y/a", "x/b", UDP, 80, true},
           {"8.8.8.8", "x/a", TCP, 80, true},
           {"x/a", "8.8.8.8", TCP, 443, true},
           {"x/a", "x/b", ICMP, 0, true},
       }},
      {"deny-all ingress isolates every pod of the namespace, not the others",
       Np("x", "deny-ingress", "  podSelector: {}"),
       {
           {"x/a", "x/b", TCP, 80, false},
           {"y/a", "x/b", TCP, 80, false},
           {"8.8.8.8", "x/a", TCP, 80, false},
           {"y/r", "x/c", TCP, 80, false},
           {"x/a", "x/b", ICMP, 0, false},
           {"x/b", "y/a", TCP, 80, true},  // egress is not isolated
           {"x/b", "8.8.8.8", TCP, 80, true},
           {"y/a", "y/b", TCP, 80, true},  // other namespace
           // The node always reaches its pods; other nodes do not.
           {"10.244.1.1", "x/b", TCP, 80, true},
           {"192.168.0.1", "x/b", TCP, 80, true},
           {"192.168.0.2", "x/b", TCP, 80, false},
           {"10.244.2.1", "x/b", TCP, 80, false},
       }},
      {"deny-all egress",
       Np("x", "deny-egress", "  podSelector: {}\n  policyTypes: [Egress]"),
       {
           {"x/a", "y/a", TCP, 80, false},
           {"x/a", "x/b", TCP, 80, false},
           {"x/a", "8.8.8.8", UDP, 53, false},
           {"x/a", "y/a", ICMP, 0, false},
           {"y/a", "x/a", TCP, 80, true},         // ingress is not isolated
           {"x/a", "10.244.1.1", TCP, 80, true},  // the node itself
       }},
      {"podSelector alone selects pods of the policy's namespace",
       Np("x", "allow-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: a}})"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"x/a", "x/b", UDP, 81, true},
           {"y/a", "x/b", TCP, 80, false},
           {"z/a", "x/b", TCP, 80, false},
           {"x/c", "x/b", TCP, 80, false},
           {"x/a", "x/c", TCP, 80, true},  // x/c is not selected
       }},
      {"namespaceSelector {} selects every namespace's pods, not the outside",
       Np("x", "allow-all-ns", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {})"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"y/a", "x/b", TCP, 80, true},
           {"z/c", "x/b", TCP, 80, true},
           {"y/r", "x/b", TCP, 80, true},  // a pod on another node
           {"8.8.8.8", "x/b", TCP, 80, false},
           {"192.168.0.2", "x/b", TCP, 80, false},
           {"10.244.1.1", "x/b", TCP, 80, true},
       }},
      {"both selectors in one peer: AND",
       Np("x", "and", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchLabels: {pod: a}})"),
       {
           {"y/a", "x/b", TCP, 80, true},
           {"y/b", "x/b", TCP, 80, false},
           {"x/a", "x/b", TCP, 80, false},
           {"z/a", "x/b", TCP, 80, false},
       }},
      {"separate peers: OR",
       Np("x", "or", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
    - podSelector: {matchLabels: {pod: a}})"),
       {
           {"y/a", "x/b", TCP, 80, true},
           {"y/b", "x/b", TCP, 80, true},
           {"x/a", "x/b", TCP, 80, true},
           {"x/c", "x/b", TCP, 80, false},
           {"z/a", "x/b", TCP, 80, false},
       }},
      {"namespaceSelector by kubernetes.io/metadata.name, also without labels of its own",
       Np("x", "from-z", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}})"),
       {
           {"z/a", "x/b", TCP, 80, true},
           {"y/a", "x/b", TCP, 80, false},
       }},
      {"namespaceSelector with matchExpressions NotIn",
       Np("x", "not-blue", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: team, operator: NotIn, values: [blue]}])"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"z/a", "x/b", TCP, 80, true},  // no team label: NotIn holds
           {"y/a", "x/b", TCP, 80, false},
       }},
      {"a rule without peers allows every source, the outside world too",
       Np("x", "any-80", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 80}])"),
       {
           {"8.8.8.8", "x/b", TCP, 80, true},
           {"y/r", "x/b", TCP, 80, true},
           {"192.168.0.2", "x/b", TCP, 80, true},
           {"8.8.8.8", "x/b", TCP, 81, false},
       }},
      {"ipBlock with except (egress)",
       Np("x", "cidr", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 172.16.0.0/12, except: [172.17.0.0/16]})"),
       {
           {"x/a", "172.16.0.1", TCP, 80, true},
           {"x/a", "172.31.255.255", UDP, 53, true},
           {"x/a", "172.17.5.5", TCP, 80, false},
           {"x/a", "172.17.0.0", TCP, 80, false},
           {"x/a", "172.18.0.0", TCP, 80, true},
           {"x/a", "172.32.0.0", TCP, 80, false},
           {"x/a", "8.8.8.8", TCP, 80, false},
           {"x/a", "x/b", TCP, 80, false},
       }},
      {"an excepted range re-allowed by another policy",
       Np("x", "cidr", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 172.16.0.0/12, except: [172.17.0.0/16]})") +
           Np("x", "reallow", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 172.17.5.0/24}
    ports: [{port: 443}])"),
       {
           {"x/a", "172.17.5.5", TCP, 443, true},
           {"x/a", "172.17.5.5", TCP, 80, false},
           {"x/a", "172.17.6.1", TCP, 443, false},
           {"x/a", "172.16.0.1", TCP, 80, true},
       }},
      {"an except of one policy does not limit another subject's larger block",
       Np("x", "a-narrow", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]})") +
           Np("x", "b-wide", R"(  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8})"),
       {
           {"x/a", "10.1.2.3", TCP, 80, false},
           {"x/b", "10.1.2.3", TCP, 80, true},
           {"x/a", "10.2.0.1", TCP, 80, true},
       }},
      {"ipBlock matches pod IPs (ingress and egress)",
       Np("x", "from-ip", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.244.1.10/32})") +
           Np("x", "to-net", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.12/32]})"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"x/c", "x/b", TCP, 80, false},
           {"x/a", "x/c", TCP, 80, false},
           {"x/a", "y/a", TCP, 80, true},
           {"x/a", "y/r", TCP, 80, false},  // 10.244.2.5: outside the block
       }},
      {"a non-normalised cidr is read as its network",
       Np("x", "sloppy", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 172.16.5.5/16})"),
       {
           {"x/a", "172.16.200.1", TCP, 80, true},
           {"x/a", "172.17.0.1", TCP, 80, false},
       }},
      {"named port on ingress resolves on the destination (the selected pod)",
       Np("x", "http",
          R"(  podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}
  ingress:
  - ports: [{port: http}])"),
       {
           {"y/a", "x/b", TCP, 8080, true},
           {"y/a", "x/b", TCP, 9090, false},
           {"y/a", "x/c", TCP, 9090, true},
           {"y/a", "x/c", TCP, 8080, false},
           {"y/a", "x/b", UDP, 8080, false},
       }},
      {"named port on egress resolves on the destination (the peer pods)",
       Np("x", "http-out", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector: {}
    ports: [{port: http}])"),
       {
           {"x/a", "x/b", TCP, 8080, true},
           {"x/a", "x/b", TCP, 9090, false},
           {"x/a", "x/c", TCP, 9090, true},
           {"x/a", "x/c", TCP, 8080, false},
           {"x/a", "y/b", TCP, 8080, false},  // not a peer
       }},
      {"named port on egress to any peer: per destination pod, nothing outside",
       Np("x", "http-any", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http}])"),
       {
           {"x/a", "x/b", TCP, 8080, true},
           {"x/a", "y/c", TCP, 9090, true},
           {"x/a", "y/c", TCP, 8080, false},
           {"x/a", "8.8.8.8", TCP, 8080, false},
           {"x/a", "8.8.8.8", TCP, 9090, false},
       }},
      {"named port on egress to an ipBlock: pods inside the block that declare it",
       Np("x", "http-cidr", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.244.1.0/28}
    ports: [{port: http}])"),
       {
           {"x/a", "x/b", TCP, 8080, true},   // 10.244.1.11
           {"x/a", "x/c", TCP, 9090, true},   // 10.244.1.12
           {"x/a", "y/c", TCP, 9090, false},  // 10.244.1.22: outside /28
           {"x/a", "y/b", TCP, 8080, false},
           {"x/a", "x/b", TCP, 9090, false},
       }},
      {"a named port no pod declares allows nothing",
       Np("x", "nope", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: nope}])"),
       {
           {"y/a", "x/b", TCP, 80, false},
           {"y/a", "x/b", TCP, 8080, false},
       }},
      {"endPort is inclusive: 79-81",
       Np("x", "range", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 79, endPort: 81}])"),
       {
           {"y/a", "x/b", TCP, 78, false},
           {"y/a", "x/b", TCP, 79, true},
           {"y/a", "x/b", TCP, 80, true},
           {"y/a", "x/b", TCP, 81, true},
           {"y/a", "x/b", TCP, 82, false},
           {"y/a", "x/b", UDP, 80, false},
       }},
      {"endPort is inclusive: 1000-2047",
       Np("x", "range", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 1000, endPort: 2047, protocol: UDP}])"),
       {
           {"y/a", "x/b", UDP, 999, false},
           {"y/a", "x/b", UDP, 1000, true},
           {"y/a", "x/b", UDP, 1023, true},
           {"y/a", "x/b", UDP, 1024, true},
           {"y/a", "x/b", UDP, 2047, true},
           {"y/a", "x/b", UDP, 2048, false},
           {"y/a", "x/b", TCP, 1500, false},
       }},
      {"endPort up to 65535",
       Np("x", "range", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 32768, endPort: 65535}])"),
       {
           {"y/a", "x/b", TCP, 32767, false},
           {"y/a", "x/b", TCP, 32768, true},
           {"y/a", "x/b", TCP, 65535, true},
       }},
      {"a protocol without port allows all its ports, nothing else",
       Np("x", "udp-all", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{protocol: UDP}])"),
       {
           {"y/a", "x/b", UDP, 53, true},
           {"y/a", "x/b", UDP, 65535, true},
           {"y/a", "x/b", TCP, 53, false},
           {"y/a", "x/b", ICMP, 0, false},
       }},
      {"a UDP-only rule never admits TCP",
       Np("x", "udp-80", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 80, protocol: UDP}])"),
       {
           {"y/a", "x/b", UDP, 80, true},
           {"y/a", "x/b", TCP, 80, false},
           {"y/a", "x/b", SCTP, 80, false},
       }},
      {"SCTP",
       Np("x", "sctp-81", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 81, protocol: SCTP}])"),
       {
           {"y/a", "x/b", SCTP, 81, true},
           {"y/a", "x/b", SCTP, 80, false},
           {"y/a", "x/b", TCP, 81, false},
           {"y/a", "x/b", UDP, 81, false},
       }},
      {"no protocol means TCP",
       Np("x", "tcp-80", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 80}])"),
       {
           {"y/a", "x/b", TCP, 80, true},
           {"y/a", "x/b", UDP, 80, false},
       }},
      {"a rule without ports allows every protocol, ICMP included",
       Np("x", "all-from-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}])"),
       {
           {"x/a", "x/b", ICMP, 0, true},
           {"x/a", "x/b", 47, 0, true},  // GRE
           {"x/a", "x/b", SCTP, 9, true},
       }},
      {"policyTypes default: Ingress always, Egress when egress rules exist",
       Np("x", "egress-rules", R"(  podSelector: {matchLabels: {pod: a}}
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}])"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"x/a", "x/c", TCP, 80, false},  // egress isolated
           {"x/b", "x/a", TCP, 80, false},  // ingress isolated, no ingress rule
       }},
      {"policyTypes [Egress] ignores ingress rules and does not isolate ingress",
       Np("x", "egress-only", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {pod: c}}}]
  egress:
  - to: [{podSelector: {matchLabels: {pod: b}}}])"),
       {
           {"x/b", "x/a", TCP, 80, true},
           {"y/a", "x/a", TCP, 80, true},
           {"x/a", "x/c", TCP, 80, false},
       }},
      {"multiple policies union",
       Np("x", "p1", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 80}])") +
           Np("x", "p2", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 81}])"),
       {
           {"x/a", "x/b", TCP, 80, true},
           {"x/a", "x/b", TCP, 81, false},
           {"y/a", "x/b", TCP, 81, true},
           {"y/a", "x/b", TCP, 80, false},
       }},
      {"a connection needs the source's egress and the destination's ingress",
       Np("x", "a-out", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {pod: c}}}])") +
           Np("x", "b-in", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}])") +
           Np("x", "c-in", R"(  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}])"),
       {
           {"x/a", "x/b", TCP, 80, false},  // a's egress denies
           {"x/a", "x/c", TCP, 80, false},  // c's ingress denies
           {"x/b", "x/c", TCP, 80, true},
       }},
      {"egress to a remote pod is decided here; its ingress on its own node",
       Np("x", "to-r", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {pod: r}}}])"),
       {
           {"x/a", "y/r", TCP, 80, true},
           {"x/a", "y/a", TCP, 80, false},
       }},
      {"egress ports and peers together",
       Np("x", "dns", R"(  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53}])"),
       {
           {"x/a", "z/a", UDP, 53, true},
           {"x/b", "z/c", TCP, 53, true},
           {"x/a", "z/a", UDP, 54, false},
           {"x/a", "y/a", UDP, 53, false},
       }},
  };
  return *cases;
}

class SemanticsTest : public ::testing::TestWithParam<size_t> {};

TEST_P(SemanticsTest, Probes) {
  const Case& c = Cases()[GetParam()];
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + c.policies);
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  for (const Probe& p : c.probes) {
    const Verdict v = Evaluate(d, Addr(p.src), Addr(p.dst), p.proto, p.port);
    EXPECT_EQ(v.allowed, p.allowed) << c.name << ": " << p.src << " -> " << p.dst << " "
                                    << ProtoName(p.proto) << "/" << p.port << ": " << v.explanation;
  }
  for (const std::string& w : d.warnings) ADD_FAILURE() << c.name << ": warning " << w;
}

INSTANTIATE_TEST_SUITE_P(Table, SemanticsTest, ::testing::Range<size_t>(0, Cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& i) {
                           std::string n = Cases()[i.param].name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return std::to_string(i.param) + "_" + n.substr(0, 60);
                         });

// ---- live updates ------------------------------------------------------

bool Allowed(k8s::ClusterState& cs, const std::string& src, const std::string& dst,
             uint16_t port = 80, uint8_t proto = TCP) {
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  return Evaluate(d, Addr(src), Addr(dst), proto, port).allowed;
}

TEST(PolicyUpdates, RelabellingAPodChangesItsIdentityAndVerdicts) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "allow-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}])"));
  const DesiredPolicy before = CompilePolicy(cs.GetSnapshot(), LocalNode());
  ASSERT_TRUE(Evaluate(before, Addr("x/a"), Addr("x/b"), TCP, 80).allowed);
  // x/a becomes pod=z: another identity, no longer a peer.
  ApplyYaml(cs, PodYaml("x", "a", "{pod: z}", "10.244.1.10", "n1"));
  const DesiredPolicy after = CompilePolicy(cs.GetSnapshot(), LocalNode());
  EXPECT_NE(before.IdentOf(Addr("x/a"))->identity, after.IdentOf(Addr("x/a"))->identity);
  EXPECT_FALSE(Evaluate(after, Addr("x/a"), Addr("x/b"), TCP, 80).allowed);
  // x/c takes the label: it is now allowed, with x/a's old identity.
  ApplyYaml(cs, PodYaml("x", "c", "{pod: a}", "10.244.1.12", "n1"));
  const DesiredPolicy third = CompilePolicy(cs.GetSnapshot(), LocalNode());
  EXPECT_EQ(third.IdentOf(Addr("x/c"))->identity, before.IdentOf(Addr("x/a"))->identity);
  EXPECT_TRUE(Evaluate(third, Addr("x/c"), Addr("x/b"), TCP, 80).allowed);
}

TEST(PolicyUpdates, RelabellingTheSubjectLiftsIsolation) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "deny-b", "  podSelector: {matchLabels: {pod: b}}"));
  EXPECT_FALSE(Allowed(cs, "y/a", "x/b"));
  ApplyYaml(cs, PodYaml("x", "b", "{pod: b2}", "10.244.1.11", "n1"));
  EXPECT_TRUE(Allowed(cs, "y/a", "x/b"));
}

TEST(PolicyUpdates, RelabellingANamespaceChangesNamespaceSelectorPeers) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "blue", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}])"));
  EXPECT_TRUE(Allowed(cs, "y/a", "x/b"));
  EXPECT_FALSE(Allowed(cs, "z/a", "x/b"));
  ApplyYaml(cs, R"(
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: green}}
---
apiVersion: v1
kind: Namespace
metadata: {name: z, labels: {team: blue}}
)");
  EXPECT_FALSE(Allowed(cs, "y/a", "x/b"));
  EXPECT_TRUE(Allowed(cs, "z/a", "x/b"));
}

TEST(PolicyUpdates, AnUpdateReplacesTheSpec) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "p", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 80}])"));
  EXPECT_TRUE(Allowed(cs, "y/a", "x/b", 80));
  EXPECT_FALSE(Allowed(cs, "y/a", "x/b", 81));
  ApplyYaml(cs, Np("x", "p", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - ports: [{port: 81}])"));
  EXPECT_FALSE(Allowed(cs, "y/a", "x/b", 80));
  EXPECT_TRUE(Allowed(cs, "y/a", "x/b", 81));
  // Deleting the policy lifts the isolation.
  cs.Delete(k8s::Kind::kNetworkPolicy, "x", "p");
  EXPECT_TRUE(Allowed(cs, "y/a", "x/b", 80));
}

// ---- what the compiler produces -------------------------------------------

TEST(Compile, IpcacheHoldsPodsNodesAndIsolationFlags) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "deny", "  podSelector: {matchLabels: {pod: b}}") +
                    Np("x", "deny-out",
                       "  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Egress]"));
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  EXPECT_EQ(d.IdentOf(Ip("10.244.1.1"))->identity, uint32_t{XVR_ID_HOST});
  EXPECT_EQ(d.IdentOf(Ip("192.168.0.1"))->identity, uint32_t{XVR_ID_HOST});
  EXPECT_EQ(d.IdentOf(Ip("192.168.0.2"))->identity, uint32_t{XVR_ID_REMOTE_NODE});
  EXPECT_EQ(d.IdentOf(Ip("10.244.2.1"))->identity, uint32_t{XVR_ID_REMOTE_NODE});
  const xvr_ident a = *d.IdentOf(Addr("x/a"));
  const xvr_ident b = *d.IdentOf(Addr("x/b"));
  const xvr_ident c = *d.IdentOf(Addr("x/c"));
  const xvr_ident r = *d.IdentOf(Addr("y/r"));
  EXPECT_EQ(a.flags, XVR_ID_F_LOCAL);
  EXPECT_EQ(b.flags, XVR_ID_F_LOCAL | XVR_ID_F_ISO_INGRESS);
  EXPECT_EQ(c.flags, XVR_ID_F_LOCAL | XVR_ID_F_ISO_EGRESS);
  EXPECT_EQ(r.flags, 0u);  // remote pod
  for (const xvr_ident& i : {a, b, c, r}) EXPECT_TRUE(IsPodIdentity(i.identity));
  EXPECT_EQ(d.IdentOf(Ip("8.8.8.8")), std::nullopt);
  EXPECT_EQ(d.local_pods.size(), 9u);
}

TEST(Compile, PolicyEntriesOnlyForLocalSubjects) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("y", "r-only", R"(  podSelector: {matchLabels: {pod: r}}
  ingress:
  - ports: [{port: 80}])"));
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  EXPECT_TRUE(d.entries.empty());
  EXPECT_EQ(d.IdentOf(Addr("y/r"))->flags, 0u);  // isolation is n2's business
  ASSERT_EQ(d.rules.size(), 1u);
  EXPECT_EQ(d.rules.begin()->second.Name(), "y/r-only ingress[0]");
}

TEST(Compile, KeysHaveTheDocumentedPrefixLengths) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "p", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - {}
  - ports: [{protocol: UDP}]
  - ports: [{port: 80}]
  - ports: [{port: 79, endPort: 81, protocol: SCTP}])"));
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  const uint32_t b = d.IdentOf(Addr("x/b"))->identity;
  std::map<uint32_t, std::vector<std::string>> by_rule;
  for (const auto& [k, v] : d.entries) {
    EXPECT_EQ(k.subject, b);
    EXPECT_EQ(k.peer, uint32_t{XVR_ID_NONE});
    EXPECT_EQ(k.dir, XVR_POL_INGRESS);
    by_rule[v.rule].push_back(absl::StrCat(k.prefixlen, ":", k.PortString()));
  }
  ASSERT_EQ(by_rule.size(), 4u);
  EXPECT_EQ(by_rule[1], std::vector<std::string>({"72:any"}));
  EXPECT_EQ(by_rule[2], std::vector<std::string>({"80:UDP"}));
  EXPECT_EQ(by_rule[3], std::vector<std::string>({"96:TCP/80"}));
  EXPECT_EQ(by_rule[4], std::vector<std::string>({"95:SCTP/80-81", "96:SCTP/79"}));
  // The BPF key: port in network order, prefix bits beyond zeroed.
  PolicyKey k;
  k.subject = b;
  k.dir = XVR_POL_INGRESS;
  k.proto = kProtoSctp;
  k.prefixlen = 95;
  k.port = 81;  // the last bit is outside the prefix
  const xvr_policy_key bk = k.ToBpf();
  EXPECT_EQ(bk.prefixlen, 95u);
  EXPECT_EQ(bk.dport, htons(80));
  EXPECT_EQ(PolicyKey::FromBpf(bk), k.Canonical());
  EXPECT_EQ(k.Canonical().port, 80);
}

TEST(Compile, RuleIndicesFollowPolicyOrderAndTypes) {
  k8s::ClusterState cs;
  ApplyYaml(cs,
            BaseClusterYaml() +
                Np("y", "b", "  podSelector: {}\n  ingress: [{}, {}]\n  egress: [{}]") +
                Np("x", "a",
                   "  podSelector: {}\n  policyTypes: [Egress]\n  ingress: [{}]\n  egress: [{}]"));
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  std::vector<std::string> names;
  for (const auto& [i, r] : d.rules) names.push_back(absl::StrCat(i, " ", r.Name()));
  EXPECT_EQ(names, std::vector<std::string>({"1 x/a egress[0]", "2 y/b ingress[0]",
                                             "3 y/b ingress[1]", "4 y/b egress[0]"}));
}

TEST(Compile, LocalEndpointRecordsSupplyAddressesMissingFromStatus) {
  k8s::ClusterState cs;
  // A lab manifest: no status, no nodeName.
  ApplyYaml(cs, PodYaml("x", "web", "{app: web}", "", "") +
                    Np("x", "deny", "  podSelector: {matchLabels: {app: web}}"));
  NodeContext node = LocalNode();
  node.endpoints = {{"x", "web", Ip("10.244.1.50")}, {"x", "ghost", Ip("10.244.1.51")}};
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), node);
  ASSERT_TRUE(d.IdentOf(Ip("10.244.1.50")));
  EXPECT_EQ(d.IdentOf(Ip("10.244.1.50"))->flags, XVR_ID_F_LOCAL | XVR_ID_F_ISO_INGRESS);
  // An endpoint without a Pod object is still a tracked local pod: one of
  // its namespace without labels, so app=web's policy doesn't select it.
  ASSERT_TRUE(d.IdentOf(Ip("10.244.1.51")));
  EXPECT_EQ(d.IdentOf(Ip("10.244.1.51"))->flags, XVR_ID_F_LOCAL);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("x/ghost"), std::string::npos);
  EXPECT_FALSE(Evaluate(d, Ip("8.8.8.8"), Ip("10.244.1.50"), TCP, 80).allowed);
  EXPECT_TRUE(Evaluate(d, Ip("8.8.8.8"), Ip("10.244.1.51"), TCP, 80).allowed);
}

TEST(Compile, HostNetworkAndFinishedPodsAreNotInTheIpcache) {
  k8s::ClusterState cs;
  ApplyYaml(cs, R"(
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: hn, labels: {a: b}}
spec: {nodeName: n1, hostNetwork: true, containers: [{name: c}]}
status: {podIP: 192.168.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: done, labels: {a: b}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.244.1.99, phase: Succeeded}
)");
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  EXPECT_EQ(d.IdentOf(Ip("192.168.0.1"))->identity, uint32_t{XVR_ID_HOST});
  EXPECT_FALSE(d.IdentOf(Ip("10.244.1.99")));
  EXPECT_TRUE(d.identities.empty());
}

TEST(Compile, SameInputSameOutput) {
  k8s::ClusterState cs1, cs2;
  const std::string pol = Np("x", "p", R"(  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}, {namespaceSelector: {}}]
    ports: [{port: http}, {port: 1000, endPort: 1100}])");
  ApplyYaml(cs1, BaseClusterYaml() + pol);
  ApplyYaml(cs2, pol + BaseClusterYaml());  // another order of arrival
  const DesiredPolicy d1 = CompilePolicy(cs1.GetSnapshot(), LocalNode());
  const DesiredPolicy d2 = CompilePolicy(cs2.GetSnapshot(), LocalNode());
  EXPECT_EQ(d1.ipcache.size(), d2.ipcache.size());
  for (const auto& [ip, id] : d1.ipcache) {
    EXPECT_EQ(d2.ipcache.at(ip).identity, id.identity);
    EXPECT_EQ(d2.ipcache.at(ip).flags, id.flags);
  }
  EXPECT_EQ(d1.cidr_ids, d2.cidr_ids);
  ASSERT_EQ(d1.entries.size(), d2.entries.size());
  for (const auto& [k, v] : d1.entries) EXPECT_EQ(d2.entries.at(k).rule, v.rule);
}

TEST(Compile, RemoteNodeSeesTheSameIdentities) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml());
  NodeContext n2;
  n2.node_name = "n2";
  n2.gateway = Ip("10.244.2.1");
  const DesiredPolicy d1 = CompilePolicy(cs.GetSnapshot(), LocalNode());
  const DesiredPolicy d2 = CompilePolicy(cs.GetSnapshot(), n2);
  for (const auto& [who, ip] : PodIps()) {
    EXPECT_EQ(d1.IdentOf(Ip(ip))->identity, d2.IdentOf(Ip(ip))->identity) << who;
  }
  EXPECT_EQ(d2.IdentOf(Addr("y/r"))->flags, XVR_ID_F_LOCAL);
  EXPECT_EQ(d2.IdentOf(Addr("x/a"))->flags, 0u);
  EXPECT_EQ(d2.IdentOf(Ip("10.244.1.1"))->identity, uint32_t{XVR_ID_REMOTE_NODE});
}

TEST(Evaluate, ExplainsTheVerdict) {
  k8s::ClusterState cs;
  ApplyYaml(cs, BaseClusterYaml() + Np("x", "allow-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}])"));
  const DesiredPolicy d = CompilePolicy(cs.GetSnapshot(), LocalNode());
  const Verdict ok = Evaluate(d, Addr("x/a"), Addr("x/b"), TCP, 80);
  EXPECT_TRUE(ok.allowed);
  EXPECT_TRUE(ok.ingress.applied);
  EXPECT_FALSE(ok.egress.applied);
  EXPECT_EQ(ok.ingress.peer, d.IdentOf(Addr("x/a"))->identity);
  EXPECT_EQ(ok.ingress.rule, 1u);
  EXPECT_NE(ok.explanation.find("x/allow-a ingress[0]"), std::string::npos) << ok.explanation;
  const Verdict no = Evaluate(d, Addr("y/a"), Addr("x/b"), TCP, 80);
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.reason, XVR_R_POLICY_INGRESS);
}

}  // namespace
}  // namespace xvr::policy::test

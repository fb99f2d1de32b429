// Kubernetes NetworkPolicy compiled into the data path's policy maps
// (Cilium's identity model, see abi.h "NetworkPolicy, compiled"):
//
//   xvr_ipcache  pod IPv4 (every node's pods) and node addresses → identity,
//                with LOCAL / ISO_INGRESS / ISO_EGRESS for this node's pods;
//   xvr_cidr_id  every ipBlock cidr and except prefix → CIDR identity (LPM);
//   xvr_policy   (subject, peer, direction, protocol, port prefix) → allow,
//                for the subjects that are identities of this node's pods.
//
// CompilePolicy() is pure: a ClusterState snapshot and this node's context
// in, the complete desired content of the three maps out. Evaluate() is the
// data path's decision for a new flow on that content, for tests and for
// `xvrctl policy --check`.
//
// Semantics (docs: /work/shared/CNI-AND-NETPOL.md and the upstream e2e
// suite):
//   - a pod is isolated for ingress/egress when any policy of that type
//     selects it; policies are allow lists and union;
//   - peers: podSelector alone = the policy's namespace; namespaceSelector
//     {} = every namespace; both in one peer = AND; separate peers = OR; a
//     rule without peers = any peer, the outside world included;
//   - ipBlock{cidr, except}: every CIDR identity inside cidr and not inside
//     an except, so the data path's longest-prefix lookup honours except,
//     and another rule allowing the excepted range still wins; pod IPs are
//     looked up in the CIDR trie too, so ipBlock matches pods;
//   - ports: none = every protocol (ICMP too); a protocol without port = all
//     its ports; port..endPort (inclusive) = the smallest set of port
//     prefixes; named ports resolve on the destination pod: the subject's
//     own pods for ingress, the peer's pods for egress (a named port on an
//     "any" or ipBlock egress peer becomes one entry per pod identity that
//     declares it). A named port nobody declares allows nothing.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/common/net_types.h"
#include "agent/k8s/cluster_state.h"
#include "agent/policy/identity.h"
#include "xvr/abi.h"

namespace xvr::policy {

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoSctp = 132;
inline constexpr uint8_t kProtoIcmp = 1;
uint8_t ProtocolNumber(k8s::Protocol p);
// "TCP", "UDP", "SCTP", "ICMP" or the number.
std::string ProtocolString(uint8_t proto);

// A pod attached on this node, as the endpoint manager knows it (the
// manifests of a lab may lack Pod status; the endpoint record has the IP).
struct LocalEndpoint {
  std::string pod_namespace;
  std::string pod_name;
  Ipv4Addr ip;
  auto operator<=>(const LocalEndpoint&) const = default;
  bool operator==(const LocalEndpoint&) const = default;
};

struct NodeContext {
  std::string node_name;
  Ipv4Addr gateway;                // this node's pod gateway (an address of the node)
  std::vector<Ipv4Addr> node_ips;  // e.g. the fabric NIC's address; the local
                                   // Node's InternalIPs are added from the snapshot
  std::vector<LocalEndpoint> endpoints;
};

// An xvr_policy key in canonical form: host-order port, bits beyond the
// prefix zero. Ordered so that a subject's entries are contiguous.
struct PolicyKey {
  uint32_t subject = 0;
  uint8_t dir = 0;  // XVR_POL_*
  uint32_t peer = 0;
  uint8_t proto = 0;
  uint8_t prefixlen = XVR_POL_PREFIX_FULL;  // 72, 80..96
  uint16_t port = 0;

  auto operator<=>(const PolicyKey&) const = default;
  bool operator==(const PolicyKey&) const = default;

  // Port bits covered by the prefix (0..16).
  int PortBits() const;
  // Zeroes what the prefix does not cover.
  PolicyKey Canonical() const;
  xvr_policy_key ToBpf() const;
  static PolicyKey FromBpf(const xvr_policy_key& k);  // canonicalised
  // "any", "TCP", "TCP/80", "TCP/1024-2047".
  std::string PortString() const;
};

// Port ranges as LPM port prefixes: (first port, prefix bits 0..16), the
// fewest that cover [lo, hi] exactly.
std::vector<std::pair<uint16_t, int>> PortRangePrefixes(uint16_t lo, uint16_t hi);

// One pod identity and what it stands for.
struct IdentityInfo {
  uint32_t id = 0;
  PodIdentityKey key;
  std::vector<std::string> pods;  // "ns/name", sorted
  std::vector<Ipv4Addr> ips;      // in xvr_ipcache under this identity
  bool local = false;             // some of its pods run on this node
  uint32_t flags = 0;             // XVR_ID_F_* of its local pods
};

// A pod of this node and how it is isolated.
struct LocalPodInfo {
  std::string pod_namespace;
  std::string pod_name;
  Ipv4Addr ip;
  uint32_t identity = 0;
  uint32_t flags = 0;                   // XVR_ID_F_*
  bool from_endpoint = false;           // the IP came from the endpoint record
  std::vector<uint32_t> ingress_rules;  // rules of policies that isolate it
  std::vector<uint32_t> egress_rules;
  std::vector<std::string> ingress_policies;  // "ns/name"
  std::vector<std::string> egress_policies;
};

// A (policy, direction, rule) and its index in xvr_policy_val.rule.
struct RuleInfo {
  uint32_t index = 0;
  std::string pod_namespace;
  std::string policy;
  uint8_t dir = 0;           // XVR_POL_*
  uint32_t rule = 0;         // index in spec.ingress / spec.egress
  uint64_t entries = 0;      // xvr_policy entries that carry this index
  std::string Name() const;  // "ns/policy ingress[0]"
};

struct DesiredPolicy {
  std::map<uint32_t, IdentityInfo> identities;  // pod identities in use (with an IP)
  std::map<Ipv4Prefix, uint32_t> cidr_ids;
  std::map<Ipv4Addr, xvr_ident> ipcache;
  std::map<PolicyKey, xvr_policy_val> entries;
  std::map<uint32_t, RuleInfo> rules;
  std::vector<LocalPodInfo> local_pods;  // sorted by namespace/name, then IP
  std::vector<std::string> warnings;
  uint64_t policies = 0;    // NetworkPolicy objects compiled
  uint64_t generation = 0;  // of the snapshot

  // Longest-prefix lookups, as the data path does them.
  std::optional<xvr_ident> IdentOf(Ipv4Addr ip) const;
  std::optional<std::pair<Ipv4Prefix, uint32_t>> CidrOf(Ipv4Addr ip) const;
  // The longest entry matching (subject, peer, dir, proto, port).
  std::optional<std::pair<PolicyKey, xvr_policy_val>> Lookup(uint32_t subject, uint32_t peer,
                                                             uint8_t dir, uint8_t proto,
                                                             uint16_t port) const;
  // Human name of an identity: "default/app=web", "cidr:10.0.0.0/8", "host", …
  std::string IdentityName(uint32_t id) const;
};

DesiredPolicy CompilePolicy(const k8s::Snapshot& snap, const NodeContext& node);

// The data path's decision for the first packet of a flow (after service
// translation: dst is the backend).
struct DirectionVerdict {
  bool applied = false;  // the pod on this side is local and isolated
  bool allowed = true;
  uint32_t subject = 0;
  uint32_t peer = 0;             // the peer identity of the matching entry
  std::optional<PolicyKey> key;  // the matching entry
  uint32_t rule = 0;
};

struct Verdict {
  Ipv4Addr src, dst;
  uint8_t proto = 0;
  uint16_t dport = 0;
  std::optional<xvr_ident> src_ident, dst_ident;
  std::optional<std::pair<Ipv4Prefix, uint32_t>> src_cidr, dst_cidr;
  DirectionVerdict egress;   // of the source pod
  DirectionVerdict ingress;  // of the destination pod
  bool allowed = true;
  int reason = XVR_R_OK;  // XVR_R_POLICY_EGRESS / XVR_R_POLICY_INGRESS when denied
  std::string explanation;
};

Verdict Evaluate(const DesiredPolicy& desired, Ipv4Addr src, Ipv4Addr dst, uint8_t proto,
                 uint16_t dport);

}  // namespace xvr::policy

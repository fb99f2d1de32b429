#include "agent/policy/policy_compiler.h"

#include <arpa/inet.h>

#include <algorithm>
#include <deque>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace xvr::policy {
namespace {

using k8s::NetworkPolicy;
using k8s::NetworkPolicyRule;
using k8s::Pod;

constexpr uint8_t kDirs[] = {XVR_POL_INGRESS, XVR_POL_EGRESS};

const char* DirName(uint8_t dir) { return dir == XVR_POL_INGRESS ? "ingress" : "egress"; }

uint16_t PortMask(int bits) {
  return bits <= 0 ? 0 : static_cast<uint16_t>(0xffffu << (16 - std::min(bits, 16)));
}

// "10.1.2.3/8" → 10.0.0.0/8. nullopt for anything that is not an IPv4
// prefix; *ipv6 tells an IPv6 prefix (ignored: the data path is IPv4) from
// garbage.
std::optional<Ipv4Prefix> ParseCidr(const std::string& s, bool* ipv6) {
  *ipv6 = s.find(':') != std::string::npos;
  if (*ipv6) return std::nullopt;
  std::vector<std::string> parts = absl::StrSplit(s, '/');
  if (parts.size() != 2) return std::nullopt;
  absl::StatusOr<Ipv4Addr> addr = Ipv4Addr::Parse(parts[0]);
  int len = 0;
  if (!addr.ok() || !absl::SimpleAtoi(parts[1], &len) || len < 0 || len > 32) return std::nullopt;
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return Ipv4Prefix(Ipv4Addr(addr->value() & mask), len);
}

bool Within(const Ipv4Prefix& inner, const Ipv4Prefix& outer) {
  return inner.length() >= outer.length() && outer.Contains(inner.network());
}

struct Block {
  Ipv4Prefix cidr;
  std::vector<Ipv4Prefix> except;
  bool Contains(Ipv4Addr a) const {
    if (!cidr.Contains(a)) return false;
    for (const Ipv4Prefix& e : except) {
      if (e.Contains(a)) return false;
    }
    return true;
  }
};

// A pod with the addresses it holds in xvr_ipcache.
struct PodRef {
  const Pod* pod = nullptr;
  uint32_t identity = 0;
  std::vector<Ipv4Addr> ips;  // candidates, before conflicts
  std::vector<Ipv4Addr> won;  // in the ipcache under this pod
  bool local = false;
  bool from_endpoint = false;
};

struct PortSel {
  enum class Kind : uint8_t { kAll, kProto, kRange, kNamed } kind = Kind::kAll;
  uint8_t proto = 0;
  k8s::Protocol kproto = k8s::Protocol::kTcp;
  uint16_t lo = 0, hi = 0;
  std::string name;
};

struct PeerSet {
  bool any = false;
  std::set<uint32_t> pod_ids;
  std::set<uint32_t> cidr_ids;
  std::vector<Block> blocks;
};

class Compiler {
 public:
  Compiler(const k8s::Snapshot& snap, const NodeContext& node) : snap_(snap), node_(node) {}

  DesiredPolicy Run() {
    out_.generation = snap_.generation();
    Namespaces();
    Pods();
    Ipcache();
    Cidrs();
    Policies();
    Finish();
    return std::move(out_);
  }

 private:
  k8s::Labels NsLabels(const std::string& ns) const {
    auto it = ns_labels_.find(ns);
    if (it != ns_labels_.end()) return it->second;
    // A namespace without a Namespace object (a lab's manifests): the label
    // the API server would have put on it.
    return {{k8s::kNamespaceNameLabel, ns}};
  }

  void Namespaces() {
    for (const k8s::Namespace* ns : snap_.List<k8s::Namespace>()) {
      ns_labels_[ns->meta.name] = ns->meta.labels;
    }
  }

  void Pods() {
    std::map<std::pair<std::string, std::string>, std::vector<Ipv4Addr>> eps;
    for (const LocalEndpoint& e : node_.endpoints) {
      eps[{e.pod_namespace, e.pod_name}].push_back(e.ip);
    }
    std::set<PodIdentityKey> keys;
    std::vector<const Pod*> pods;
    for (const Pod* p : snap_.List<Pod>()) {
      if (p->host_network) {  // its address is the node's
        eps.erase({p->meta.namespace_name, p->meta.name});
        continue;
      }
      pods.push_back(p);
      keys.insert({p->meta.namespace_name, p->meta.labels});
    }
    // A pod on this node that the sources don't describe (a lab without Pod
    // manifests, or the API's Pod not seen yet) is still tracked: it is a
    // pod of its namespace with no labels we know of.
    std::set<std::pair<std::string, std::string>> described;
    for (const Pod* p : pods) described.insert({p->meta.namespace_name, p->meta.name});
    for (const auto& [key, ips] : eps) {
      if (key.first.empty() || described.count(key)) continue;
      Pod& p = synthetic_.emplace_back();
      p.meta.namespace_name = key.first;
      p.meta.name = key.second;
      p.node_name = node_.node_name;
      pods.push_back(&p);
      keys.insert({p.meta.namespace_name, p.meta.labels});
      out_.warnings.push_back(absl::StrCat("endpoint ", key.first, "/", key.second, " (",
                                           ips.front().ToString(),
                                           ") has no Pod object: treated as a pod without labels"));
    }
    const std::map<PodIdentityKey, uint32_t> ids = AssignPodIdentities(keys);
    for (const Pod* p : pods) {
      PodRef r;
      r.pod = p;
      r.identity = ids.at({p->meta.namespace_name, p->meta.labels});
      auto ep = eps.find({p->meta.namespace_name, p->meta.name});
      if (ep != eps.end()) {
        // The endpoint record is this node's truth about the pod's address.
        r.ips = ep->second;
        r.local = true;
        r.from_endpoint = true;
        eps.erase(ep);
      } else if (p->phase != k8s::PodPhase::kSucceeded && p->phase != k8s::PodPhase::kFailed) {
        for (const std::string& s : p->pod_ips) {
          if (s.find(':') != std::string::npos) continue;  // IPv6
          absl::StatusOr<Ipv4Addr> a = Ipv4Addr::Parse(s);
          if (!a.ok()) {
            out_.warnings.push_back(absl::StrCat("Pod ", p->meta.namespace_name, "/", p->meta.name,
                                                 ": podIP \"", s, "\" is not an address"));
            continue;
          }
          r.ips.push_back(*a);
        }
        r.local = p->node_name == node_.node_name && !node_.node_name.empty();
      }
      pods_.push_back(std::move(r));
    }
    for (const auto& [key, ips] : eps) {
      if (key.first.empty() && key.second.empty()) continue;
      out_.warnings.push_back(
          absl::StrCat("endpoint ", key.first, "/", key.second, " (", ips.front().ToString(),
                       ") has no Pod object: no identity, no policy applies to it"));
    }
  }

  void Claim(Ipv4Addr ip, xvr_ident ident, const std::string& what,
             std::map<Ipv4Addr, std::string>* owners) {
    auto [it, fresh] = out_.ipcache.try_emplace(ip, ident);
    if (fresh) {
      (*owners)[ip] = what;
      return;
    }
    const std::string& owner = (*owners)[ip];
    if (owner != what) {
      out_.warnings.push_back(absl::StrCat("address ", ip.ToString(), " claimed by ", what,
                                           " and by ", owner, "; ", owner, " keeps it"));
    }
  }

  void Ipcache() {
    std::map<Ipv4Addr, std::string> owners;
    const xvr_ident host{XVR_ID_HOST, 0};
    if (node_.gateway.value() != 0) Claim(node_.gateway, host, "this node", &owners);
    for (Ipv4Addr a : node_.node_ips) Claim(a, host, "this node", &owners);
    const k8s::Node* self =
        node_.node_name.empty() ? nullptr : snap_.Get<k8s::Node>("", node_.node_name);
    if (self != nullptr) {
      for (const k8s::NodeAddress& a : self->addresses) {
        if (a.type != k8s::NodeAddressType::kInternalIP) continue;
        if (absl::StatusOr<Ipv4Addr> ip = Ipv4Addr::Parse(a.address); ip.ok()) {
          Claim(*ip, host, "this node", &owners);
        }
      }
    }
    // Local pods first: on a conflict this node's endpoint wins.
    std::vector<PodRef*> order;
    for (PodRef& r : pods_) order.push_back(&r);
    std::stable_sort(order.begin(), order.end(), [](const PodRef* a, const PodRef* b) {
      return a->from_endpoint != b->from_endpoint ? a->from_endpoint : a->local && !b->local;
    });
    for (PodRef* r : order) {
      const std::string what =
          absl::StrCat("Pod ", r->pod->meta.namespace_name, "/", r->pod->meta.name);
      for (Ipv4Addr ip : r->ips) {
        Claim(ip, {r->identity, 0}, what, &owners);
        if (owners[ip] == what && out_.ipcache.at(ip).identity == r->identity) {
          if (std::find(r->won.begin(), r->won.end(), ip) == r->won.end()) r->won.push_back(ip);
        }
      }
    }
    for (const k8s::Node* n : snap_.List<k8s::Node>()) {
      if (n->meta.name == node_.node_name) continue;
      const std::string what = absl::StrCat("Node ", n->meta.name);
      const xvr_ident remote{XVR_ID_REMOTE_NODE, 0};
      for (const k8s::NodeAddress& a : n->addresses) {
        if (a.type != k8s::NodeAddressType::kInternalIP) continue;
        if (absl::StatusOr<Ipv4Addr> ip = Ipv4Addr::Parse(a.address); ip.ok()) {
          Claim(*ip, remote, what, &owners);
        }
      }
      // The node's pod gateway: the first address of its pod CIDR, as
      // spec.gatewayIP defaults (config/vrouter.cc).
      for (const std::string& c : n->pod_cidrs) {
        bool v6 = false;
        std::optional<Ipv4Prefix> p = ParseCidr(c, &v6);
        if (!p || p->length() > 30) continue;
        Claim(Ipv4Addr(p->network().value() + 1), remote, what, &owners);
      }
    }

    // Identities in use: those with an address.
    for (PodRef& r : pods_) {
      if (r.won.empty()) continue;
      IdentityInfo& info = out_.identities[r.identity];
      info.id = r.identity;
      info.key = {r.pod->meta.namespace_name, r.pod->meta.labels};
      info.pods.push_back(absl::StrCat(r.pod->meta.namespace_name, "/", r.pod->meta.name));
      info.ips.insert(info.ips.end(), r.won.begin(), r.won.end());
      info.local |= r.local;
      by_identity_[r.identity].push_back(&r);
    }
    for (auto& [id, info] : out_.identities) {
      std::sort(info.pods.begin(), info.pods.end());
      std::sort(info.ips.begin(), info.ips.end());
    }
  }

  void Cidrs() {
    std::set<Ipv4Prefix> prefixes;
    for (const NetworkPolicy* np : snap_.List<NetworkPolicy>()) {
      for (const auto* rules : {&np->ingress, &np->egress}) {
        for (const NetworkPolicyRule& rule : *rules) {
          for (const k8s::NetworkPolicyPeer& peer : rule.peers) {
            if (!peer.ip_block) continue;
            bool v6 = false;
            if (auto p = ParseCidr(peer.ip_block->cidr, &v6)) prefixes.insert(*p);
            for (const std::string& e : peer.ip_block->except) {
              if (auto p = ParseCidr(e, &v6)) prefixes.insert(*p);
            }
          }
        }
      }
    }
    out_.cidr_ids = AssignCidrIdentities(prefixes);
  }

  std::vector<PortSel> Ports(const NetworkPolicyRule& rule, const std::string& where) {
    std::vector<PortSel> out;
    if (rule.ports.empty()) {
      out.push_back({});
      return out;
    }
    for (const k8s::NetworkPolicyPort& p : rule.ports) {
      PortSel s;
      s.proto = ProtocolNumber(p.protocol);
      s.kproto = p.protocol;
      if (!p.port) {
        s.kind = PortSel::Kind::kProto;
      } else if (p.port->is_string) {
        s.kind = PortSel::Kind::kNamed;
        s.name = p.port->str_value;
      } else {
        const int32_t lo = p.port->int_value;
        const int32_t hi = p.end_port.value_or(lo);
        if (lo < 1 || lo > 65535 || hi < lo || hi > 65535) {
          out_.warnings.push_back(
              absl::StrCat(where, ": port ", lo, "..", hi, " is not a valid range: ignored"));
          continue;
        }
        s.kind = PortSel::Kind::kRange;
        s.lo = static_cast<uint16_t>(lo);
        s.hi = static_cast<uint16_t>(hi);
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  PeerSet Peers(const NetworkPolicy& np, const NetworkPolicyRule& rule, const std::string& where) {
    PeerSet ps;
    if (rule.peers.empty()) {
      ps.any = true;
      return ps;
    }
    for (const k8s::NetworkPolicyPeer& peer : rule.peers) {
      if (peer.ip_block) {
        bool v6 = false;
        std::optional<Ipv4Prefix> cidr = ParseCidr(peer.ip_block->cidr, &v6);
        if (!cidr) {
          out_.warnings.push_back(absl::StrCat(
              where, ": ipBlock ", peer.ip_block->cidr,
              v6 ? " is IPv6 (xvr is IPv4-only): ignored" : " is not a CIDR: ignored"));
          continue;
        }
        Block b{*cidr, {}};
        for (const std::string& e : peer.ip_block->except) {
          if (auto p = ParseCidr(e, &v6)) {
            b.except.push_back(*p);
          } else if (!v6) {
            out_.warnings.push_back(
                absl::StrCat(where, ": ipBlock except ", e, " is not a CIDR: ignored"));
          }
        }
        for (const auto& [prefix, id] : out_.cidr_ids) {
          if (!Within(prefix, b.cidr)) continue;
          bool excepted = false;
          for (const Ipv4Prefix& e : b.except) excepted |= Within(prefix, e);
          if (!excepted) ps.cidr_ids.insert(id);
        }
        ps.blocks.push_back(std::move(b));
        continue;
      }
      for (const auto& [id, info] : out_.identities) {
        const std::string& ns = info.key.namespace_name;
        const bool ns_ok = peer.namespace_selector ? peer.namespace_selector->Matches(NsLabels(ns))
                                                   : ns == np.meta.namespace_name;
        if (!ns_ok) continue;
        if (peer.pod_selector && !peer.pod_selector->Matches(info.key.labels)) continue;
        ps.pod_ids.insert(id);
      }
    }
    return ps;
  }

  void Emit(uint32_t subject, uint32_t peer, uint8_t dir, const PortSel& s, uint16_t lo,
            uint16_t hi, uint32_t rule) {
    const xvr_policy_val val{rule, 0};
    PolicyKey k;
    k.subject = subject;
    k.peer = peer;
    k.dir = dir;
    switch (s.kind) {
      case PortSel::Kind::kAll:
        k.prefixlen = XVR_POL_PREFIX_PEER;
        out_.entries.try_emplace(k, val);
        return;
      case PortSel::Kind::kProto:
        k.proto = s.proto;
        k.prefixlen = XVR_POL_PREFIX_PROTO;
        out_.entries.try_emplace(k, val);
        return;
      case PortSel::Kind::kRange:
      case PortSel::Kind::kNamed:
        k.proto = s.proto;
        for (const auto& [port, bits] : PortRangePrefixes(lo, hi)) {
          k.port = port;
          k.prefixlen = static_cast<uint8_t>(XVR_POL_PREFIX_PROTO + bits);
          // Rules are compiled in index order: the first keeps the key.
          out_.entries.try_emplace(k, val);
        }
        return;
    }
  }

  // The port `name`/`proto` declared by the pods in `pods` (a union).
  static std::set<uint16_t> NamedPorts(const std::vector<const PodRef*>& pods, const PortSel& s) {
    std::set<uint16_t> out;
    for (const PodRef* r : pods) {
      if (auto p = r->pod->FindNamedPort(s.name, s.kproto); p && *p > 0 && *p <= 65535) {
        out.insert(static_cast<uint16_t>(*p));
      }
    }
    return out;
  }
  std::vector<const PodRef*> PodsOf(uint32_t id, bool local_only) const {
    std::vector<const PodRef*> out;
    auto it = by_identity_.find(id);
    if (it == by_identity_.end()) return out;
    for (const PodRef* r : it->second) {
      if (!local_only || r->local) out.push_back(r);
    }
    return out;
  }

  void EmitRule(uint32_t subject, uint8_t dir, const PeerSet& peers,
                const std::vector<PortSel>& ports, uint32_t rule) {
    for (const PortSel& s : ports) {
      if (s.kind != PortSel::Kind::kNamed) {
        if (peers.any) Emit(subject, XVR_ID_NONE, dir, s, s.lo, s.hi, rule);
        for (uint32_t id : peers.pod_ids) Emit(subject, id, dir, s, s.lo, s.hi, rule);
        for (uint32_t id : peers.cidr_ids) Emit(subject, id, dir, s, s.lo, s.hi, rule);
        continue;
      }
      if (dir == XVR_POL_INGRESS) {
        // The destination is the subject: its own (local) pods name the port.
        for (uint16_t port : NamedPorts(PodsOf(subject, /*local_only=*/true), s)) {
          if (peers.any) Emit(subject, XVR_ID_NONE, dir, s, port, port, rule);
          for (uint32_t id : peers.pod_ids) Emit(subject, id, dir, s, port, port, rule);
          for (uint32_t id : peers.cidr_ids) Emit(subject, id, dir, s, port, port, rule);
        }
        continue;
      }
      // Egress: the peer's pods name the port; only pods can.
      auto emit_for = [&](uint32_t id) {
        for (uint16_t port : NamedPorts(PodsOf(id, false), s)) {
          Emit(subject, id, dir, s, port, port, rule);
        }
      };
      if (peers.any) {
        for (const auto& [id, info] : out_.identities) emit_for(id);
      } else {
        for (uint32_t id : peers.pod_ids) emit_for(id);
      }
      for (const Block& b : peers.blocks) {
        for (const PodRef& r : pods_) {
          if (std::none_of(r.won.begin(), r.won.end(), [&](Ipv4Addr a) { return b.Contains(a); })) {
            continue;
          }
          if (auto p = r.pod->FindNamedPort(s.name, s.kproto); p && *p > 0 && *p <= 65535) {
            const uint16_t port = static_cast<uint16_t>(*p);
            Emit(subject, r.identity, dir, s, port, port, rule);
          }
        }
      }
    }
  }

  void Policies() {
    // Local identities in use: the candidates for subjects.
    std::vector<const IdentityInfo*> local;
    for (const auto& [id, info] : out_.identities) {
      if (info.local) local.push_back(&info);
    }
    uint32_t next_rule = 1;
    for (const NetworkPolicy* np : snap_.List<NetworkPolicy>()) {
      ++out_.policies;
      const std::string name = absl::StrCat(np->meta.namespace_name, "/", np->meta.name);
      std::vector<uint32_t> subjects;
      for (const IdentityInfo* info : local) {
        if (info->key.namespace_name == np->meta.namespace_name &&
            np->pod_selector.Matches(info->key.labels)) {
          subjects.push_back(info->id);
        }
      }
      for (uint8_t dir : kDirs) {
        const bool enabled = dir == XVR_POL_INGRESS ? np->policy_ingress : np->policy_egress;
        if (!enabled) continue;
        const uint32_t flag = dir == XVR_POL_INGRESS ? XVR_ID_F_ISO_INGRESS : XVR_ID_F_ISO_EGRESS;
        for (uint32_t s : subjects) {
          out_.identities[s].flags |= flag;
          (dir == XVR_POL_INGRESS ? iso_ingress_ : iso_egress_)[s].push_back(name);
        }
        const std::vector<NetworkPolicyRule>& rules =
            dir == XVR_POL_INGRESS ? np->ingress : np->egress;
        for (size_t i = 0; i < rules.size(); ++i) {
          const uint32_t index = next_rule++;
          RuleInfo& ri = out_.rules[index];
          ri.index = index;
          ri.pod_namespace = np->meta.namespace_name;
          ri.policy = np->meta.name;
          ri.dir = dir;
          ri.rule = static_cast<uint32_t>(i);
          for (uint32_t s : subjects) {
            (dir == XVR_POL_INGRESS ? rules_ingress_ : rules_egress_)[s].push_back(index);
          }
          if (subjects.empty()) continue;
          const std::string where = ri.Name();
          const PeerSet peers = Peers(*np, rules[i], where);
          const std::vector<PortSel> ports = Ports(rules[i], where);
          for (uint32_t s : subjects) EmitRule(s, dir, peers, ports, index);
        }
      }
    }
  }

  void Finish() {
    for (auto& [id, info] : out_.identities) {
      if (info.local) info.flags |= XVR_ID_F_LOCAL;
    }
    for (const PodRef& r : pods_) {
      if (!r.local || r.won.empty()) continue;
      const IdentityInfo& info = out_.identities.at(r.identity);
      for (Ipv4Addr ip : r.won) {
        out_.ipcache[ip].flags = info.flags;
        LocalPodInfo lp;
        lp.pod_namespace = r.pod->meta.namespace_name;
        lp.pod_name = r.pod->meta.name;
        lp.ip = ip;
        lp.identity = r.identity;
        lp.flags = info.flags;
        lp.from_endpoint = r.from_endpoint;
        auto get = [&](const auto& m) {
          auto it = m.find(r.identity);
          return it == m.end() ? typename std::decay_t<decltype(m)>::mapped_type{} : it->second;
        };
        lp.ingress_rules = get(rules_ingress_);
        lp.egress_rules = get(rules_egress_);
        lp.ingress_policies = get(iso_ingress_);
        lp.egress_policies = get(iso_egress_);
        out_.local_pods.push_back(std::move(lp));
      }
    }
    std::sort(out_.local_pods.begin(), out_.local_pods.end(),
              [](const LocalPodInfo& a, const LocalPodInfo& b) {
                return std::tie(a.pod_namespace, a.pod_name, a.ip) <
                       std::tie(b.pod_namespace, b.pod_name, b.ip);
              });
    for (const auto& [k, v] : out_.entries) {
      if (auto it = out_.rules.find(v.rule); it != out_.rules.end()) ++it->second.entries;
    }
    if (out_.entries.size() > XVR_MAX_POLICY) {
      out_.warnings.push_back(absl::StrCat(out_.entries.size(), " policy entries exceed ",
                                           XVR_MAP_POLICY, "'s ", XVR_MAX_POLICY));
    }
    if (out_.ipcache.size() > XVR_MAX_IPCACHE) {
      out_.warnings.push_back(absl::StrCat(out_.ipcache.size(), " addresses exceed ",
                                           XVR_MAP_IPCACHE, "'s ", XVR_MAX_IPCACHE));
    }
    if (out_.cidr_ids.size() > XVR_MAX_CIDR_ID) {
      out_.warnings.push_back(absl::StrCat(out_.cidr_ids.size(), " ipBlock prefixes exceed ",
                                           XVR_MAP_CIDR_ID, "'s ", XVR_MAX_CIDR_ID));
    }
  }

  const k8s::Snapshot& snap_;
  const NodeContext& node_;
  DesiredPolicy out_;
  std::map<std::string, k8s::Labels> ns_labels_;
  std::deque<Pod> synthetic_;  // local endpoints without a Pod object
  std::vector<PodRef> pods_;  // not resized after Pods(): PodRef* stay valid
  std::map<uint32_t, std::vector<const PodRef*>> by_identity_;  // pods with addresses
  std::map<uint32_t, std::vector<std::string>> iso_ingress_, iso_egress_;
  std::map<uint32_t, std::vector<uint32_t>> rules_ingress_, rules_egress_;
};

}  // namespace

uint8_t ProtocolNumber(k8s::Protocol p) {
  switch (p) {
    case k8s::Protocol::kTcp:
      return kProtoTcp;
    case k8s::Protocol::kUdp:
      return kProtoUdp;
    case k8s::Protocol::kSctp:
      return kProtoSctp;
  }
  return kProtoTcp;
}

std::string ProtocolString(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "TCP";
    case kProtoUdp:
      return "UDP";
    case kProtoSctp:
      return "SCTP";
    case kProtoIcmp:
      return "ICMP";
    default:
      return absl::StrCat(proto);
  }
}

int PolicyKey::PortBits() const {
  return std::clamp(static_cast<int>(prefixlen) - XVR_POL_PREFIX_PROTO, 0, 16);
}

PolicyKey PolicyKey::Canonical() const {
  PolicyKey k = *this;
  k.prefixlen = std::clamp<uint8_t>(k.prefixlen, XVR_POL_PREFIX_PEER, XVR_POL_PREFIX_FULL);
  if (k.prefixlen < XVR_POL_PREFIX_PROTO) k.proto = 0;
  k.port &= PortMask(k.PortBits());
  return k;
}

xvr_policy_key PolicyKey::ToBpf() const {
  const PolicyKey c = Canonical();
  xvr_policy_key k{};
  k.prefixlen = c.prefixlen;
  k.subject = c.subject;
  k.peer = c.peer;
  k.dir = c.dir;
  k.proto = c.proto;
  k.dport = htons(c.port);
  return k;
}

PolicyKey PolicyKey::FromBpf(const xvr_policy_key& k) {
  PolicyKey p;
  p.prefixlen = static_cast<uint8_t>(std::min<uint32_t>(k.prefixlen, 255));
  p.subject = k.subject;
  p.peer = k.peer;
  p.dir = k.dir;
  p.proto = k.proto;
  p.port = ntohs(k.dport);
  return p.Canonical();
}

std::string PolicyKey::PortString() const {
  if (prefixlen <= XVR_POL_PREFIX_PEER) return "any";
  const std::string proto_s = ProtocolString(proto);
  const int bits = PortBits();
  if (bits == 0) return proto_s;
  if (bits == 16) return absl::StrCat(proto_s, "/", port);
  const uint32_t last = port + ((1u << (16 - bits)) - 1);
  return absl::StrCat(proto_s, "/", port, "-", last);
}

std::vector<std::pair<uint16_t, int>> PortRangePrefixes(uint16_t lo, uint16_t hi) {
  std::vector<std::pair<uint16_t, int>> out;
  uint32_t cur = lo;
  const uint32_t end = hi;
  while (cur <= end) {
    // The largest aligned block starting at cur that stays inside the range.
    int k = 0;
    while (k < 16) {
      const uint32_t size = 1u << (k + 1);
      if ((cur & (size - 1)) != 0 || cur + size - 1 > end) break;
      ++k;
    }
    out.emplace_back(static_cast<uint16_t>(cur), 16 - k);
    cur += 1u << k;
  }
  return out;
}

std::string RuleInfo::Name() const {
  return absl::StrCat(pod_namespace, "/", policy, " ", DirName(dir), "[", rule, "]");
}

std::optional<xvr_ident> DesiredPolicy::IdentOf(Ipv4Addr ip) const {
  auto it = ipcache.find(ip);
  if (it == ipcache.end()) return std::nullopt;
  return it->second;
}

std::optional<std::pair<Ipv4Prefix, uint32_t>> DesiredPolicy::CidrOf(Ipv4Addr ip) const {
  for (int len = 32; len >= 0; --len) {
    const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    const Ipv4Prefix p(Ipv4Addr(ip.value() & mask), len);
    if (auto it = cidr_ids.find(p); it != cidr_ids.end()) return *it;
  }
  return std::nullopt;
}

std::optional<std::pair<PolicyKey, xvr_policy_val>> DesiredPolicy::Lookup(
    uint32_t subject, uint32_t peer, uint8_t dir, uint8_t proto, uint16_t port) const {
  PolicyKey k;
  k.subject = subject;
  k.peer = peer;
  k.dir = dir;
  k.proto = proto;
  for (int bits = 16; bits >= 0; --bits) {
    k.prefixlen = static_cast<uint8_t>(XVR_POL_PREFIX_PROTO + bits);
    k.port = port & PortMask(bits);
    if (auto it = entries.find(k); it != entries.end()) return *it;
  }
  k.prefixlen = XVR_POL_PREFIX_PEER;
  k.proto = 0;
  k.port = 0;
  if (auto it = entries.find(k); it != entries.end()) return *it;
  return std::nullopt;
}

std::string DesiredPolicy::IdentityName(uint32_t id) const {
  if (std::string r = ReservedIdentityName(id); !r.empty()) return r;
  if (IsPodIdentity(id)) {
    auto it = identities.find(id);
    if (it == identities.end()) return absl::StrCat("pod:", id);
    return absl::StrCat(it->second.key.namespace_name, "{", LabelsToString(it->second.key.labels),
                        "}");
  }
  for (const auto& [prefix, cid] : cidr_ids) {
    if (cid == id) return absl::StrCat("cidr:", prefix.ToString());
  }
  return absl::StrCat("cidr:", id);
}

DesiredPolicy CompilePolicy(const k8s::Snapshot& snap, const NodeContext& node) {
  return Compiler(snap, node).Run();
}

namespace {

DirectionVerdict Check(const DesiredPolicy& d, uint32_t subject, uint8_t dir,
                       const std::optional<xvr_ident>& other,
                       const std::optional<std::pair<Ipv4Prefix, uint32_t>>& other_cidr,
                       uint8_t proto, uint16_t dport) {
  DirectionVerdict v;
  v.applied = true;
  v.allowed = false;
  v.subject = subject;
  std::vector<uint32_t> peers;
  if (other) peers.push_back(other->identity);
  if (other_cidr) peers.push_back(other_cidr->second);
  peers.push_back(XVR_ID_NONE);
  for (uint32_t peer : peers) {
    if (auto m = d.Lookup(subject, peer, dir, proto, dport)) {
      v.allowed = true;
      v.peer = peer;
      v.key = m->first;
      v.rule = m->second.rule;
      return v;
    }
  }
  return v;
}

std::string Describe(const DesiredPolicy& d, Ipv4Addr ip, const std::optional<xvr_ident>& id) {
  if (!id) return ip.ToString();
  return absl::StrCat(ip.ToString(), " (", d.IdentityName(id->identity), ")");
}

}  // namespace

Verdict Evaluate(const DesiredPolicy& d, Ipv4Addr src, Ipv4Addr dst, uint8_t proto,
                 uint16_t dport) {
  Verdict v;
  v.src = src;
  v.dst = dst;
  v.proto = proto;
  v.dport = dport;
  v.src_ident = d.IdentOf(src);
  v.dst_ident = d.IdentOf(dst);
  v.src_cidr = d.CidrOf(src);
  v.dst_cidr = d.CidrOf(dst);
  auto has = [](const std::optional<xvr_ident>& i, uint32_t f) {
    return i && (i->flags & XVR_ID_F_LOCAL) && (i->flags & f);
  };
  auto is_host = [](const std::optional<xvr_ident>& i) { return i && i->identity == XVR_ID_HOST; };
  const std::string what = absl::StrCat(
      ProtocolString(proto), proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp
                                 ? absl::StrCat("/", dport)
                                 : "");
  if (has(v.src_ident, XVR_ID_F_ISO_EGRESS) && !is_host(v.dst_ident)) {
    v.egress =
        Check(d, v.src_ident->identity, XVR_POL_EGRESS, v.dst_ident, v.dst_cidr, proto, dport);
  }
  if (has(v.dst_ident, XVR_ID_F_ISO_INGRESS) && !is_host(v.src_ident)) {
    v.ingress =
        Check(d, v.dst_ident->identity, XVR_POL_INGRESS, v.src_ident, v.src_cidr, proto, dport);
  }
  auto rule_name = [&](uint32_t rule) {
    auto it = d.rules.find(rule);
    return it == d.rules.end() ? absl::StrCat("rule ", rule) : it->second.Name();
  };
  if (!v.egress.allowed) {
    v.allowed = false;
    v.reason = XVR_R_POLICY_EGRESS;
    v.explanation = absl::StrCat("denied: ", Describe(d, src, v.src_ident),
                                 " is isolated for egress and no rule allows ",
                                 Describe(d, dst, v.dst_ident), " ", what);
  } else if (!v.ingress.allowed) {
    v.allowed = false;
    v.reason = XVR_R_POLICY_INGRESS;
    v.explanation = absl::StrCat("denied: ", Describe(d, dst, v.dst_ident),
                                 " is isolated for ingress and no rule allows ",
                                 Describe(d, src, v.src_ident), " ", what);
  } else {
    std::vector<std::string> why;
    if (v.egress.applied) why.push_back(absl::StrCat("egress by ", rule_name(v.egress.rule)));
    if (v.ingress.applied) why.push_back(absl::StrCat("ingress by ", rule_name(v.ingress.rule)));
    if (why.empty()) {
      v.explanation = "allowed: neither side is an isolated pod of this node";
      if (is_host(v.src_ident) || is_host(v.dst_ident)) {
        v.explanation = "allowed: this node may always reach its pods";
      }
    } else {
      v.explanation = absl::StrCat("allowed: ", absl::StrJoin(why, ", "));
    }
  }
  return v;
}

}  // namespace xvr::policy

#include "agent/services/service_model.h"

#include <arpa/inet.h>

#include <netinet/in.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace xvr::services {
namespace {

uint8_t IpProto(k8s::Protocol p) {
  switch (p) {
    case k8s::Protocol::kTcp:
      return IPPROTO_TCP;
    case k8s::Protocol::kUdp:
      return IPPROTO_UDP;
    case k8s::Protocol::kSctp:
      return IPPROTO_SCTP;
  }
  return 0;
}

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_SCTP:
      return "SCTP";
    default:
      return absl::StrCat("proto", proto);
  }
}

bool IsIPv6(const std::string& s) { return s.find(':') != std::string::npos; }

// How kube-proxy may use an endpoint, in order of preference.
enum class Usable : uint8_t { kNo, kServingTerminating, kReady };

Usable UsableOf(const k8s::Endpoint& ep) {
  if (ep.ready) return Usable::kReady;
  if (ep.serving && ep.terminating) return Usable::kServingTerminating;
  return Usable::kNo;
}

struct Candidate {
  Backend backend;
  Usable usable = Usable::kNo;
};

// (namespace, service name) → its IPv4 EndpointSlices, ordered by name.
using SliceIndex =
    std::map<std::pair<std::string, std::string>, std::vector<const k8s::EndpointSlice*>>;

SliceIndex IndexSlices(const k8s::Snapshot& snap) {
  SliceIndex index;
  for (const k8s::EndpointSlice* s : snap.List<k8s::EndpointSlice>()) {
    if (s->address_type != k8s::AddressType::kIPv4) continue;
    std::string service = s->ServiceName();
    if (service.empty()) continue;
    index[{s->meta.namespace_name, std::move(service)}].push_back(s);
  }
  return index;
}

class Builder {
 public:
  Builder(const k8s::Snapshot& snap, const ModelInput& in, std::vector<std::string>* warnings)
      : snap_(snap), in_(in), warnings_(warnings), slices_(IndexSlices(snap)) {}

  void AddService(const k8s::Service& svc);
  std::vector<Frontend> Take();

 private:
  void Warn(std::string msg) {
    if (warnings_ != nullptr) warnings_->push_back(std::move(msg));
  }
  // Every usable endpoint of `sp` across the service's slices, keyed (and so
  // deduplicated) by address.
  std::map<BackendAddr, Candidate> Candidates(const k8s::Service& svc, const std::string& name,
                                              const k8s::ServicePort& sp);
  // The backend port of `ep` when its slice port `epp` carries no number.
  std::optional<uint16_t> FallbackPort(const std::string& what, const k8s::ServicePort& sp,
                                       const k8s::Endpoint& ep, const std::string& slice_ns);
  void Put(Frontend f);

  const k8s::Snapshot& snap_;
  const ModelInput& in_;
  std::vector<std::string>* warnings_;
  const SliceIndex slices_;
  std::map<FrontendKey, Frontend> out_;
};

// Ready endpoints, or when none is ready the serving+terminating ones
// (KEP-1669), of all endpoints or only of this node's.
std::vector<Backend> Select(const std::map<BackendAddr, Candidate>& cands, bool local_only) {
  bool any_ready = false;
  for (const auto& [addr, c] : cands) {
    if (c.usable == Usable::kReady && (!local_only || c.backend.local)) any_ready = true;
  }
  const Usable want = any_ready ? Usable::kReady : Usable::kServingTerminating;
  std::vector<Backend> out;
  for (const auto& [addr, c] : cands) {
    if (c.usable != want || (local_only && !c.backend.local)) continue;
    out.push_back(c.backend);
    out.back().terminating = !any_ready;
  }
  return out;
}

std::optional<uint16_t> Builder::FallbackPort(const std::string& what, const k8s::ServicePort& sp,
                                              const k8s::Endpoint& ep,
                                              const std::string& slice_ns) {
  if (!sp.target_port.is_string) {
    const int32_t p = sp.target_port.int_value;
    if (p > 0 && p <= 65535) return static_cast<uint16_t>(p);
    Warn(absl::StrCat(what, ": targetPort ", p, " is not a port; endpoint skipped"));
    return std::nullopt;
  }
  const std::string& port_name = sp.target_port.str_value;
  if (!ep.target_ref || ep.target_ref->kind != "Pod") {
    Warn(absl::StrCat(what, ": named targetPort \"", port_name,
                      "\" and the endpoint names no Pod; endpoint skipped"));
    return std::nullopt;
  }
  const std::string& ns =
      ep.target_ref->namespace_name.empty() ? slice_ns : ep.target_ref->namespace_name;
  const k8s::Pod* pod = snap_.Get<k8s::Pod>(ns, ep.target_ref->name);
  if (pod == nullptr) {
    Warn(absl::StrCat(what, ": named targetPort \"", port_name, "\" and Pod ", ns, "/",
                      ep.target_ref->name, " is unknown; endpoint skipped"));
    return std::nullopt;
  }
  std::optional<int32_t> p = pod->FindNamedPort(port_name, sp.protocol);
  if (!p || *p <= 0 || *p > 65535) {
    Warn(absl::StrCat(what, ": Pod ", ns, "/", ep.target_ref->name, " has no ",
                      k8s::ProtocolName(sp.protocol), " port named \"", port_name,
                      "\"; endpoint skipped"));
    return std::nullopt;
  }
  return static_cast<uint16_t>(*p);
}

std::map<BackendAddr, Candidate> Builder::Candidates(const k8s::Service& svc,
                                                     const std::string& name,
                                                     const k8s::ServicePort& sp) {
  std::map<BackendAddr, Candidate> cands;
  auto it = slices_.find({svc.meta.namespace_name, svc.meta.name});
  if (it == slices_.end()) return cands;
  const uint8_t proto = IpProto(sp.protocol);
  for (const k8s::EndpointSlice* slice : it->second) {
    const k8s::EndpointPort* epp = nullptr;
    for (const k8s::EndpointPort& p : slice->ports) {
      if (p.name == sp.name && p.protocol == sp.protocol) {
        epp = &p;
        break;
      }
    }
    if (epp == nullptr) continue;
    for (const k8s::Endpoint& ep : slice->endpoints) {
      const Usable usable = UsableOf(ep);
      if (usable == Usable::kNo || ep.addresses.empty()) continue;
      // addresses[0] only: the others are fungible (Kubernetes semantics).
      const std::string what = absl::StrCat("Service ", name, " port \"", sp.name,
                                            "\" EndpointSlice ", slice->meta.name, " endpoint ",
                                            ep.addresses[0]);
      absl::StatusOr<Ipv4Addr> addr = Ipv4Addr::Parse(ep.addresses[0]);
      if (!addr.ok()) {
        Warn(absl::StrCat(what, ": ", addr.status().message(), "; endpoint skipped"));
        continue;
      }
      std::optional<uint16_t> port;
      if (epp->port) {
        port = static_cast<uint16_t>(*epp->port);
      } else {
        port = FallbackPort(what, sp, ep, slice->meta.namespace_name);
      }
      if (!port) continue;

      Candidate c;
      c.usable = usable;
      c.backend.addr = {*addr, *port, proto};
      c.backend.node_name = ep.node_name;
      c.backend.local = !in_.local_node.empty() && ep.node_name == in_.local_node;
      if (ep.target_ref && ep.target_ref->kind == "Pod") {
        const std::string& ns = ep.target_ref->namespace_name.empty()
                                    ? slice->meta.namespace_name
                                    : ep.target_ref->namespace_name;
        c.backend.pod = absl::StrCat(ns, "/", ep.target_ref->name);
      }
      // The same endpoint in two slices (while the controller moves it):
      // keep the more usable copy, then the local one (as kube-proxy does).
      auto [at, inserted] = cands.try_emplace(c.backend.addr, c);
      if (!inserted && (c.usable > at->second.usable ||
                        (c.usable == at->second.usable && c.backend.local &&
                         !at->second.backend.local))) {
        at->second = std::move(c);
      }
    }
  }
  return cands;
}

void Builder::Put(Frontend f) {
  auto [it, inserted] = out_.try_emplace(f.key, f);
  if (inserted) return;
  Frontend& have = it->second;
  if (have.service == f.service) {
    Warn(absl::StrCat("Service ", f.service, ": frontend ", f.key.ToString(),
                      " declared twice; port \"", f.port_name, "\" skipped"));
    return;
  }
  // The first "ns/name" wins, whatever order the services came in.
  if (f.service < have.service) std::swap(have, f);
  Warn(absl::StrCat("Service ", f.service, ": frontend ", f.key.ToString(),
                    " is already Service ", have.service, "'s; skipped"));
}

void Builder::AddService(const k8s::Service& svc) {
  if (svc.type == k8s::ServiceType::kExternalName || svc.Headless()) return;
  const std::string name = absl::StrCat(svc.meta.namespace_name, "/", svc.meta.name);

  std::vector<Ipv4Addr> cluster_ips;
  for (const std::string& ip : svc.cluster_ips) {
    if (ip.empty() || IsIPv6(ip)) continue;  // dual-stack: the IPv6 family is not ours
    absl::StatusOr<Ipv4Addr> a = Ipv4Addr::Parse(ip);
    if (!a.ok()) {
      Warn(absl::StrCat("Service ", name, ": clusterIP \"", ip, "\": ", a.status().message()));
      continue;
    }
    cluster_ips.push_back(*a);
  }
  std::vector<Ipv4Addr> external_ips;
  for (const std::string& ip : svc.external_ips) {
    if (IsIPv6(ip)) continue;
    absl::StatusOr<Ipv4Addr> a = Ipv4Addr::Parse(ip);
    if (!a.ok()) {
      Warn(absl::StrCat("Service ", name, ": externalIP \"", ip, "\": ", a.status().message()));
      continue;
    }
    external_ips.push_back(*a);
  }
  const bool node_ports =
      svc.type == k8s::ServiceType::kNodePort || svc.type == k8s::ServiceType::kLoadBalancer;

  for (const k8s::ServicePort& sp : svc.ports) {
    const uint8_t proto = IpProto(sp.protocol);
    const std::map<BackendAddr, Candidate> cands = Candidates(svc, name, sp);
    const std::vector<Backend> cluster = Select(cands, /*local_only=*/false);
    const bool has_endpoints = !cluster.empty();

    Frontend base;
    base.service = name;
    base.port_name = sp.name;
    if (svc.session_affinity == k8s::SessionAffinity::kClientIP) {
      base.flags |= XVR_SVC_F_AFFINITY;
      base.affinity_timeout_seconds = static_cast<uint32_t>(svc.affinity_timeout_seconds);
    }
    // Traffic policy Local: this node's endpoints only; when the service has
    // endpoints but none here, drop (kube-proxy's "has no local endpoints")
    // rather than reject as for a service without endpoints.
    auto local_policy = [&](Frontend& f, uint16_t flags) {
      f.flags |= XVR_SVC_F_LOCAL | flags;
      f.backends = Select(cands, /*local_only=*/true);
      if (f.backends.empty() && has_endpoints) f.flags |= XVR_SVC_F_EMPTY_DROP;
    };

    for (Ipv4Addr ip : cluster_ips) {
      Frontend f = base;
      f.key = {ip, static_cast<uint16_t>(sp.port), proto, XVR_SVC_SCOPE_INTERNAL};
      f.type = Frontend::Type::kClusterIP;
      if (svc.internal_traffic_policy == k8s::TrafficPolicy::kLocal) {
        local_policy(f, 0);
      } else {
        f.backends = cluster;
      }
      Put(std::move(f));
    }

    Frontend external = base;
    if (svc.external_traffic_policy == k8s::TrafficPolicy::kLocal) {
      local_policy(external, XVR_SVC_F_KEEP_SRC);
    } else {
      external.backends = cluster;
    }
    if (node_ports && sp.node_port != 0) {
      Frontend f = external;
      f.key = {Ipv4Addr(), static_cast<uint16_t>(sp.node_port), proto, XVR_SVC_SCOPE_EXTERNAL};
      f.type = Frontend::Type::kNodePort;
      Put(std::move(f));
    }
    for (Ipv4Addr ip : external_ips) {
      Frontend f = external;
      f.key = {ip, static_cast<uint16_t>(sp.port), proto, XVR_SVC_SCOPE_EXTERNAL};
      f.type = Frontend::Type::kExternalIP;
      Put(std::move(f));
    }
  }
}

std::vector<Frontend> Builder::Take() {
  std::vector<Frontend> out;
  out.reserve(out_.size());
  for (auto& [key, f] : out_) out.push_back(std::move(f));
  out_.clear();
  return out;
}

}  // namespace

std::string BackendAddr::ToString() const {
  return absl::StrCat(addr.ToString(), ":", port, "/", ProtoName(proto));
}

std::string FrontendKey::ToString() const {
  return absl::StrCat(addr == Ipv4Addr() ? std::string("*") : addr.ToString(), ":", port, "/",
                      ProtoName(proto), scope == XVR_SVC_SCOPE_EXTERNAL ? " external" : "");
}

std::vector<Frontend> BuildFrontends(const k8s::Snapshot& snap, const ModelInput& in,
                                     std::vector<std::string>* warnings) {
  Builder b(snap, in, warnings);
  for (const k8s::Service* svc : snap.List<k8s::Service>()) b.AddService(*svc);
  return b.Take();
}

xvr_svc_key ToSvcKey(const FrontendKey& k) {
  xvr_svc_key key{};
  key.addr = k.addr.be();
  key.port = htons(k.port);
  key.proto = k.proto;
  key.scope = k.scope;
  return key;
}

FrontendKey FromSvcKey(const xvr_svc_key& k) {
  FrontendKey key;
  key.addr = Ipv4Addr::FromBe(k.addr);
  key.port = ntohs(k.port);
  key.proto = k.proto;
  key.scope = k.scope;
  return key;
}

}  // namespace xvr::services

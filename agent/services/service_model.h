// From Kubernetes Services and EndpointSlices to the frontends and backends
// the data path serves — the decisions kube-proxy makes, made once here:
//
// - ClusterIP (every clusterIP, each port) → an INTERNAL frontend, used by
//   pods and by the node itself. internalTrafficPolicy Local keeps only
//   endpoints on this node and, like kube-proxy, drops (EMPTY_DROP) when the
//   service has endpoints but none here.
// - NodePort (type NodePort / LoadBalancer, port.nodePort) → an EXTERNAL
//   frontend with address 0 (any node address), and every externalIP × port
//   → an EXTERNAL frontend at that address. externalTrafficPolicy Local keeps
//   only endpoints on this node, preserves the client's address (KEEP_SRC)
//   and drops (EMPTY_DROP) when the service has endpoints but none here.
// - Endpoints: ready ones; when none is ready, the serving+terminating ones
//   (KEP-1669); never the rest. Under a Local policy "none is ready" looks
//   at this node's endpoints only (kube-proxy's CategorizeEndpoints). IPv4
//   slices only; an endpoint in several slices counts once.
// - Backend port: the EndpointSlice port whose name equals the service
//   port's name (the EndpointSlice controller resolved targetPort, named or
//   numeric). A slice port without a number falls back to targetPort:
//   numeric as is, named resolved on the endpoint's Pod (targetRef).
// - Headless services, ExternalName, services without a clusterIP and
//   non-IPv4 clusterIPs produce no INTERNAL frontend (NodePort/externalIPs of
//   such a service still do when they make sense; headless never).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/common/net_types.h"
#include "agent/k8s/cluster_state.h"
#include "bpf/include/xvr/abi.h"

namespace xvr::services {

struct BackendAddr {
  Ipv4Addr addr;
  uint16_t port = 0;  // host order
  uint8_t proto = 0;  // IPPROTO_*
  auto operator<=>(const BackendAddr&) const = default;
  std::string ToString() const;  // "10.0.1.5:8080/TCP"
};

struct Backend {
  BackendAddr addr;
  bool local = false;        // endpoint.nodeName == this node
  bool terminating = false;  // chosen only because none is ready
  std::string node_name;
  std::string pod;  // "ns/name" from targetRef, "" when unknown
  bool operator==(const Backend&) const = default;
};

struct FrontendKey {
  Ipv4Addr addr;  // 0.0.0.0 for a NodePort
  uint16_t port = 0;
  uint8_t proto = 0;
  uint8_t scope = XVR_SVC_SCOPE_INTERNAL;
  auto operator<=>(const FrontendKey&) const = default;
  std::string ToString() const;  // "10.96.0.10:53/UDP", "*:30080/TCP external"
};

// The data path's key of a frontend, and back.
xvr_svc_key ToSvcKey(const FrontendKey& k);
FrontendKey FromSvcKey(const xvr_svc_key& k);

struct Frontend {
  FrontendKey key;
  std::string service;    // "ns/name"
  std::string port_name;  // service port name ("" allowed)
  enum class Type : uint8_t { kClusterIP, kNodePort, kExternalIP } type = Type::kClusterIP;
  uint16_t flags = 0;     // XVR_SVC_F_*
  uint32_t affinity_timeout_seconds = 0;  // with XVR_SVC_F_AFFINITY
  std::vector<Backend> backends;  // sorted by addr, no duplicates
  bool operator==(const Frontend&) const = default;
};

struct ModelInput {
  std::string local_node;
};

// Every frontend of the cluster as this node serves it, sorted by key.
// Problems (a port that cannot be resolved, a duplicate frontend claimed by
// two services) skip the affected piece and are reported in `warnings`.
std::vector<Frontend> BuildFrontends(const k8s::Snapshot& snap, const ModelInput& in,
                                     std::vector<std::string>* warnings = nullptr);

}  // namespace xvr::services

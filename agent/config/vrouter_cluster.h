// The VRouter as a cluster delivers it: one cluster-wide object ("default")
// shared by every node, or one named after a node. A shared object cannot
// name the node or its pod range, so in cluster mode the agent completes
// what it leaves out from the node itself (NODE_NAME, the Node's
// spec.podCIDR that kubeadm/kind allocate, the interface of the default
// route) and then parses the result with the same strict ParseVRouter as a
// file: unknown fields stay errors.
//
// Also: which fields of a running agent's VRouter an edit may change live,
// and which need a restart (VRouterDiff).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/config/vrouter.h"

namespace xvr {

// What a node knows about itself, used for the fields a cluster-wide
// VRouter omits.
struct NodeFacts {
  std::string node_name;        // NODE_NAME (the pod's spec.nodeName)
  std::string pod_cidr;         // the Node's spec.podCIDR; "" when unknown
  std::string default_ifname;   // interface of the default route; "" when none
};

// Parses a VRouter (YAML or the API server's JSON) after filling
// spec.nodeName, spec.podCIDR and spec.fabricInterface from `facts` where
// the object omits them. A spec.nodeName naming another node is an error
// (the object is not for this node). Errors name the field as
// ParseVRouter's do; a podCIDR missing from both says where it was looked
// for.
absl::StatusOr<VRouterConfig> ParseClusterVRouter(const std::string& text,
                                                  const NodeFacts& facts);

// The interface of the IPv4 default route with the lowest metric in
// `proc_net_route` (the text of /proc/net/route), or "" when there is none.
std::string DefaultRouteInterface(const std::string& proc_net_route);
// Reads /proc/net/route.
std::string DefaultRouteInterface();

// An edit of the running VRouter, field by field (spec paths).
struct VRouterDiff {
  std::vector<std::string> live;     // applied without a restart
  std::vector<std::string> restart;  // need an agent restart to take effect
  bool empty() const { return live.empty() && restart.empty(); }
};

// Compares the VRouter the agent runs with (as parsed, before run-time
// defaults such as the fabric-derived MTU) with an edited one. Live:
// logLevel, logFormat, eventsPerSecond, flows.gcInterval, flows.timeouts.*,
// flows.events. Everything else is restart.
VRouterDiff DiffVRouter(const VRouterConfig& running, const VRouterConfig& next);

}  // namespace xvr

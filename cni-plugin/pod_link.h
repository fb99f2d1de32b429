// The pod end of the veth pair, worked on from inside the pod's netns.
// Shared by ADD (set up) and CHECK (inspect).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/netns.h"
#include "cni-plugin/rtnl.h"

namespace xvr::cni {

absl::StatusOr<bool> LinkExistsIn(const Netns& ns, const std::string& ifname);

// After the move into `ns`: renames `temp_name` to `ifname`, turns IPv6 off
// on it, turns GRO on (so the veth runs NAPI and XDP_REDIRECT into it
// delivers), and brings lo up. Returns the renamed link.
absl::StatusOr<LinkInfo> PreparePodLink(const Netns& ns, const std::string& temp_name,
                                        const std::string& ifname);

// With the agent's answer: MTU, the address, link up, then
// `gateway/32 dev ifname scope link` and the answer's routes via the
// gateway. Returns the link as configured.
absl::StatusOr<LinkInfo> ConfigurePodAddressing(const Netns& ns, const std::string& ifname,
                                                const RegisterAnswer& answer);

struct PodLinkState {
  LinkInfo link;
  std::vector<AddrInfo> addresses;  // of this link only
  std::vector<RouteInfo> routes;    // main table, out of this link only
  bool gro = false;
};

// NotFound if `ifname` does not exist in `ns`.
absl::StatusOr<PodLinkState> InspectPodLink(const Netns& ns, const std::string& ifname);

}  // namespace xvr::cni

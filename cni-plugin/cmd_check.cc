#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/commands.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/netns.h"
#include "cni-plugin/pod_link.h"
#include "cni-plugin/rtnl.h"
#include "cni-plugin/veth_name.h"

namespace xvr::cni {
namespace {

absl::Status Failed(absl::string_view what) {
  return CniError(Code::kCheckFailed, absl::StrCat("check: ", what));
}

// "10.1.2.3/24" -> "10.1.2.3"; an address without a prefix is unchanged.
std::string HostPart(absl::string_view cidr) {
  return std::string(cidr.substr(0, cidr.find('/')));
}

// The attachment must still be in prevResult; later plugins may have added
// or changed other entries, which is theirs to check.
absl::Status CheckPrevResult(const CmdEnv& env, const NetConf& conf, const std::string& ip) {
  if (!conf.prev_result) return absl::OkStatus();  // cache lost: check the live state only
  ASSIGN_OR_RETURN(Result prev, ParseResult(*conf.prev_result));
  bool iface = false;
  for (const Interface& i : prev.interfaces) {
    iface |= i.name == env.ifname && i.sandbox == env.netns;
  }
  if (!iface) {
    return Failed(absl::StrCat("prevResult has no interface ", env.ifname, " in ", env.netns));
  }
  bool addr = false;
  for (const IpConfig& a : prev.ips) addr |= HostPart(a.address) == ip;
  if (!addr) return Failed(absl::StrCat("prevResult does not list ", ip));
  return absl::OkStatus();
}

}  // namespace

absl::Status CmdCheck(const CmdEnv& env, const NetConf& conf, AgentClient& agent) {
  ASSIGN_OR_RETURN(Netns ns, Netns::Open(env.netns));
  absl::StatusOr<EndpointView> ep = agent.GetEndpoint(env.container_id, env.ifname);
  if (absl::IsNotFound(ep.status())) {
    return Failed(absl::StrCat("endpoint ", env.container_id, "/", env.ifname,
                               " is not registered with the xvr agent"));
  }
  if (!ep.ok()) return ep.status();
  const std::string ip = HostPart(ep->ip);
  RETURN_IF_ERROR(CheckPrevResult(env, conf, ip));

  const std::string host_name = HostVethName(env.container_id, env.ifname);
  if (ep->host_ifname != host_name) {
    return Failed(absl::StrCat("the agent has host interface ", ep->host_ifname, ", expected ",
                               host_name));
  }
  ASSIGN_OR_RETURN(Rtnl node, Rtnl::Open());
  absl::StatusOr<LinkInfo> host = node.GetLink(host_name);
  if (absl::IsNotFound(host.status())) return Failed(absl::StrCat(host_name, " is missing"));
  if (!host.ok()) return host.status();
  if (!host->up()) return Failed(absl::StrCat(host_name, " is down"));

  absl::StatusOr<PodLinkState> pod = InspectPodLink(ns, env.ifname);
  if (absl::IsNotFound(pod.status())) {
    return Failed(absl::StrCat(env.ifname, " is missing in ", env.netns));
  }
  if (!pod.ok()) return pod.status();
  if (!pod->link.up()) return Failed(absl::StrCat(env.ifname, " is down"));
  if (!ep->mac.empty() && !absl::EqualsIgnoreCase(ep->mac, pod->link.mac)) {
    return Failed(absl::StrCat(env.ifname, " has MAC ", pod->link.mac, ", the agent has ",
                               ep->mac));
  }
  bool has_ip = false;
  for (const AddrInfo& a : pod->addresses) has_ip |= a.local == ip;
  if (!has_ip) return Failed(absl::StrCat(env.ifname, " does not have address ", ip));
  bool has_default = false;
  for (const RouteInfo& r : pod->routes) has_default |= r.dst == "0.0.0.0/0";
  if (!has_default) return Failed(absl::StrCat("no default route via ", env.ifname));
  if (!pod->gro) {
    return Failed(absl::StrCat("GRO is off on ", env.ifname,
                               " (XDP_REDIRECT into the pod needs it on)"));
  }
  return absl::OkStatus();
}

}  // namespace xvr::cni

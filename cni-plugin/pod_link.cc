#include "cni-plugin/pod_link.h"

#include <linux/rtnetlink.h>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/link_tuning.h"

namespace xvr::cni {

absl::StatusOr<bool> LinkExistsIn(const Netns& ns, const std::string& ifname) {
  ASSIGN_OR_RETURN(NetnsGuard in_pod, NetnsGuard::Enter(ns));
  ASSIGN_OR_RETURN(Rtnl pod, Rtnl::Open());
  absl::StatusOr<LinkInfo> link = pod.GetLink(ifname);
  if (absl::IsNotFound(link.status())) return false;
  if (!link.ok()) return link.status();
  return true;
}

absl::StatusOr<LinkInfo> PreparePodLink(const Netns& ns, const std::string& temp_name,
                                        const std::string& ifname) {
  ASSIGN_OR_RETURN(NetnsGuard in_pod, NetnsGuard::Enter(ns));
  ASSIGN_OR_RETURN(Rtnl pod, Rtnl::Open());
  RETURN_IF_ERROR(pod.Rename(temp_name, ifname));
  // Before the link comes up, so it never gets an IPv6 link-local address.
  RETURN_IF_ERROR(DisableIpv6(ifname));
  RETURN_IF_ERROR(SetGro(ifname, true));
  RETURN_IF_ERROR(pod.SetUp("lo"));
  return pod.GetLink(ifname);
}

absl::StatusOr<LinkInfo> ConfigurePodAddressing(const Netns& ns, const std::string& ifname,
                                                const RegisterAnswer& answer) {
  ASSIGN_OR_RETURN(NetnsGuard in_pod, NetnsGuard::Enter(ns));
  ASSIGN_OR_RETURN(Rtnl pod, Rtnl::Open());
  if (answer.mtu != 0) RETURN_IF_ERROR(pod.SetMtu(ifname, answer.mtu));
  if (!answer.tx_checksum_offload) RETURN_IF_ERROR(SetTxChecksum(ifname, false));
  if (!answer.segmentation_offload) RETURN_IF_ERROR(SetSegmentation(ifname, false));
  ASSIGN_OR_RETURN(LinkInfo link, pod.GetLink(ifname));
  RETURN_IF_ERROR(pod.AddAddress(link.ifindex, answer.ip));
  // Routes through a link need it up (the kernel refuses ENETDOWN).
  RETURN_IF_ERROR(pod.SetUp(ifname));
  // The gateway is on-link whatever the prefix length, so the routes via it
  // below are valid even for a /32 address.
  RETURN_IF_ERROR(pod.AddRoute(
      {absl::StrCat(answer.gateway, "/32"), "", link.ifindex, RT_SCOPE_LINK}));
  for (const AgentRoute& r : answer.routes) {
    // As in CNI IPAM results, a route without gw goes via the gateway.
    RETURN_IF_ERROR(pod.AddRoute(
        {r.dst, r.gw.empty() ? answer.gateway : r.gw, link.ifindex, RT_SCOPE_UNIVERSE}));
  }
  return pod.GetLink(ifname);
}

absl::StatusOr<PodLinkState> InspectPodLink(const Netns& ns, const std::string& ifname) {
  ASSIGN_OR_RETURN(NetnsGuard in_pod, NetnsGuard::Enter(ns));
  ASSIGN_OR_RETURN(Rtnl pod, Rtnl::Open());
  PodLinkState out;
  ASSIGN_OR_RETURN(out.link, pod.GetLink(ifname));
  ASSIGN_OR_RETURN(std::vector<AddrInfo> addrs, pod.ListAddresses());
  for (AddrInfo& a : addrs) {
    if (a.ifindex == out.link.ifindex) out.addresses.push_back(std::move(a));
  }
  ASSIGN_OR_RETURN(std::vector<RouteInfo> routes, pod.ListRoutes());
  for (RouteInfo& r : routes) {
    if (r.oif == out.link.ifindex) out.routes.push_back(std::move(r));
  }
  ASSIGN_OR_RETURN(out.gro, GetGro(ifname));
  return out;
}

}  // namespace xvr::cni

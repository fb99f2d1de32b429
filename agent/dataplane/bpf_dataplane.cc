#include "agent/dataplane/bpf_dataplane.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/reasons.h"
#include "agent/netlink/nl.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

xvr_endpoint ToAbi(const DpEndpoint& ep) {
  xvr_endpoint v{};
  v.ip = ep.ip.be();
  v.ifindex = ep.host_ifindex;
  std::memcpy(v.mac, ep.mac.bytes().data(), XVR_ETH_ALEN);
  std::memcpy(v.host_mac, ep.host_mac.bytes().data(), XVR_ETH_ALEN);
  v.flags = XVR_EP_F_NONE;
  v.id = ep.id;
  return v;
}

template <typename M>
absl::StatusOr<M> OpenMap(const std::string& root, const char* name) {
  return M::OpenPinned(absl::StrCat(root, "/maps/", name));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfDataplane>> BpfDataplane::Create(
    const BpfDataplaneOptions& opts) {
  std::unique_ptr<BpfDataplane> dp(new BpfDataplane(opts));
  ASSIGN_OR_RETURN(dp->progs_, LoadOrReusePrograms(opts.bpf_root));
  const std::string& r = opts.bpf_root;
  ASSIGN_OR_RETURN(dp->ep_by_ifindex_, (OpenMap<BpfMap<__u32, xvr_endpoint>>(r, XVR_MAP_EP_IFINDEX)));
  ASSIGN_OR_RETURN(dp->ep_by_ip_, (OpenMap<BpfMap<__be32, xvr_endpoint>>(r, XVR_MAP_EP_IP)));
  ASSIGN_OR_RETURN(dp->devmap_, (OpenMap<BpfMap<__u32, __u32>>(r, XVR_MAP_DEVMAP)));
  ASSIGN_OR_RETURN(dp->node_, (OpenMap<BpfMap<__u32, xvr_node_cfg>>(r, XVR_MAP_NODE)));
  ASSIGN_OR_RETURN(dp->counters_, OpenMap<PerCpuArray<xvr_counter>>(r, XVR_MAP_COUNTERS));
  const std::string events = absl::StrCat(r, "/maps/", XVR_MAP_EVENTS);
  dp->events_fd_.reset(bpf_obj_get(events.c_str()));
  if (!dp->events_fd_.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", events, ")"));

  ASSIGN_OR_RETURN(LinkAttrs host,
                   EnsureHostPair(opts.host_ifname, opts.host_peer_ifname, opts.gateway,
                                  opts.pod_cidr, opts.mtu));
  RETURN_IF_ERROR(AttachTc(dp->progs_.tc_host_egress.get(), host.ifindex, TcDir::kEgress));

  xvr_node_cfg cfg{};
  cfg.gateway_ip = opts.gateway.be();
  cfg.pod_cidr = opts.pod_cidr.network().be();
  cfg.pod_prefixlen = opts.pod_cidr.length();
  cfg.host_ifindex = host.ifindex;
  cfg.flags = XVR_CFG_F_READY;
  cfg.events_per_sec = opts.events_per_sec;
  RETURN_IF_ERROR(dp->node_.Update(0, cfg));
  spdlog::info("data path ready: programs {}, host pair {} (ifindex {}), pod attach {}",
               dp->progs_.reused ? "re-used from pins" : "loaded", opts.host_ifname,
               host.ifindex, opts.pod_attach_tc ? "tc" : "xdp");
  return dp;
}

absl::StatusOr<LinkInfo> BpfDataplane::ResolveLink(const std::string& ifname) {
  ASSIGN_OR_RETURN(NlSock sock, ConnectRoute());
  ASSIGN_OR_RETURN(LinkAttrs a, GetLink(sock.get(), ifname));
  return LinkInfo{a.ifindex, a.mac};
}

absl::Status BpfDataplane::UpsertEndpoint(const DpEndpoint& ep) {
  std::lock_guard<std::mutex> lock(mu_);
  const xvr_endpoint v = ToAbi(ep);
  // Maps first, program last: the first packet the program sees already
  // finds its endpoint.
  RETURN_IF_ERROR(devmap_.Update(ep.host_ifindex, ep.host_ifindex));
  RETURN_IF_ERROR(ep_by_ip_.Update(v.ip, v));
  RETURN_IF_ERROR(ep_by_ifindex_.Update(ep.host_ifindex, v));
  // Pod replies to the node arrive on the pod's veth while the node routes
  // the pod CIDR via the host pair: strict reverse-path filtering would drop
  // them, loose mode keeps spoofing protection (done in BPF anyway).
  if (absl::Status s = SetIpv4ConfSysctl(ep.host_ifname, "rp_filter", "2"); !s.ok()) {
    spdlog::warn("rp_filter on {}: {}", ep.host_ifname, std::string(s.message()));
  }
  if (opts_.pod_attach_tc) {
    RETURN_IF_ERROR(DetachXdp(ep.host_ifname, links_dir()));
    return AttachTc(progs_.tc_pod.get(), ep.host_ifindex, TcDir::kIngress);
  }
  RETURN_IF_ERROR(DetachTc(ep.host_ifindex, TcDir::kIngress));
  return AttachXdp(progs_.xdp_pod.get(), ep.host_ifindex, ep.host_ifname, opts_.xdp_mode,
                   links_dir());
}

absl::Status BpfDataplane::RemoveEndpoint(const DpEndpoint& ep) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status first = DetachXdp(ep.host_ifname, links_dir());
  (void)DetachTc(ep.host_ifindex, TcDir::kIngress);  // veth may be gone
  // Only erase entries that still describe this endpoint: the address or
  // ifindex may already belong to a newer one.
  if (auto cur = ep_by_ip_.Lookup(ep.ip.be()); cur.ok() && cur->ifindex == ep.host_ifindex) {
    first.Update(ep_by_ip_.Erase(ep.ip.be()));
  }
  if (auto cur = ep_by_ifindex_.Lookup(ep.host_ifindex); cur.ok() && cur->ip == ep.ip.be()) {
    first.Update(ep_by_ifindex_.Erase(ep.host_ifindex));
    first.Update(devmap_.Erase(ep.host_ifindex));
  }
  return first;
}

absl::StatusOr<std::vector<CounterRow>> BpfDataplane::ReadCounters() {
  std::vector<CounterRow> rows;
  size_t nreasons = 0;
  const uint32_t* reasons = AllReasons(&nreasons);
  for (uint32_t hook = 0; hook < XVR_HOOK_MAX; ++hook) {
    for (uint32_t verdict = 0; verdict < XVR_VERDICT_MAX; ++verdict) {
      for (size_t i = 0; i < nreasons; ++i) {
        ASSIGN_OR_RETURN(std::vector<xvr_counter> per_cpu,
                         counters_.Lookup(xvr_counter_index(hook, verdict, reasons[i])));
        CounterRow row{HookName(hook), VerdictName(verdict), ReasonName(reasons[i]), 0, 0};
        for (const xvr_counter& c : per_cpu) {
          row.packets += c.packets;
          row.bytes += c.bytes;
        }
        if (row.packets) rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

}  // namespace xvr

#include "agent/dataplane/bpf_dataplane.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/reasons.h"
#include <arpa/inet.h>
#include <net/if.h>

#include "agent/netlink/netns.h"
#include "agent/netlink/nl.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

std::string PeerPinName(const DpEndpoint& ep) { return "peer-" + ep.host_ifname; }

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

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, args);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  // Expected answers of idempotent TC calls (qdisc exists / is absent).
  const bool expected = line.find("Exclusivity flag on") != std::string::npos ||
                        line.find("Parent Qdisc doesn't exists") != std::string::npos;
  if (level == LIBBPF_WARN && !expected) {
    spdlog::warn("libbpf: {}", line);
  } else {
    spdlog::debug("libbpf: {}", line);
  }
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfDataplane>> BpfDataplane::Create(
    const BpfDataplaneOptions& opts) {
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<BpfDataplane> dp(new BpfDataplane(opts));
  ASSIGN_OR_RETURN(dp->progs_, LoadOrReusePrograms(opts.bpf_root, opts.flow_table_size));
  const std::string& r = opts.bpf_root;
  ASSIGN_OR_RETURN(dp->ep_by_ifindex_, (OpenMap<BpfMap<__u32, xvr_endpoint>>(r, XVR_MAP_EP_IFINDEX)));
  ASSIGN_OR_RETURN(dp->ep_by_ip_, (OpenMap<BpfMap<__be32, xvr_endpoint>>(r, XVR_MAP_EP_IP)));
  ASSIGN_OR_RETURN(dp->devmap_, (OpenMap<BpfMap<__u32, __u32>>(r, XVR_MAP_DEVMAP)));
  ASSIGN_OR_RETURN(dp->node_, (OpenMap<BpfMap<__u32, xvr_node_cfg>>(r, XVR_MAP_NODE)));
  ASSIGN_OR_RETURN(dp->counters_, OpenMap<PerCpuArray<xvr_counter>>(r, XVR_MAP_COUNTERS));
  ASSIGN_OR_RETURN(dp->ratelimit_, OpenMap<PerCpuArray<xvr_ratelimit>>(r, XVR_MAP_RATELIMIT));
  const std::string events = absl::StrCat(r, "/maps/", XVR_MAP_EVENTS);
  dp->events_fd_.reset(bpf_obj_get(events.c_str()));
  if (!dp->events_fd_.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", events, ")"));

  // Reverse-path filtering drops pod replies to the node (see
  // UpsertEndpoint); the effective value is max(all, interface).
  if (std::ifstream f("/proc/sys/net/ipv4/conf/all/rp_filter"); f) {
    int all = 0;
    f >> all;
    if (all != 0) {
      spdlog::warn("net.ipv4.conf.all.rp_filter={} would drop pod replies to the node; setting 0",
                   all);
      RETURN_IF_ERROR(SetIpv4ConfSysctl("all", "rp_filter", "0"));
    }
  }
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
  if (!opts.fabric_ifname.empty()) RETURN_IF_ERROR(dp->SetUpFabric(&cfg));
  RETURN_IF_ERROR(dp->node_.Update(0, cfg));
  spdlog::info("data path ready: programs {}, host pair {} (ifindex {}), pod attach {}",
               dp->progs_.reused ? "re-used from pins" : "loaded", opts.host_ifname,
               host.ifindex, opts.pod_attach_tc ? "tc" : "xdp");
  return dp;
}

absl::Status BpfDataplane::SetUpFabric(xvr_node_cfg* cfg) {
  ASSIGN_OR_RETURN(NlSock sock, ConnectRoute());
  ASSIGN_OR_RETURN(LinkAttrs link, GetLink(sock.get(), opts_.fabric_ifname));
  absl::StatusOr<Ipv4Addr> ip = FirstIpv4(sock.get(), link.ifindex);
  if (!ip.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spec.fabricInterface ", opts_.fabric_ifname, " has no IPv4 address: ", ip.status().message()));
  }
  fabric_ = FabricInfo{link.ifindex, link.mac, *ip, link.mtu};
  // xdp_pod redirects encapsulated frames out of the fabric via the devmap.
  RETURN_IF_ERROR(devmap_.Update(link.ifindex, link.ifindex));
  RETURN_IF_ERROR(AttachXdp(progs_.xdp_fabric.get(), link.ifindex, opts_.fabric_ifname,
                            opts_.xdp_mode, links_dir()));
  cfg->node_ip = ip->be();
  cfg->fabric_ifindex = link.ifindex;
  std::memcpy(cfg->fabric_mac, link.mac.bytes().data(), XVR_ETH_ALEN);
  cfg->vxlan_port = htons(opts_.vxlan_port);
  cfg->vni = opts_.vni;
  if (opts_.vxlan) cfg->flags |= XVR_CFG_F_VXLAN;
  if (opts_.cluster_cidr) {
    cfg->cluster_cidr = opts_.cluster_cidr->network().be();
    cfg->cluster_prefixlen = opts_.cluster_cidr->length();
  }
  if (opts_.masquerade) cfg->flags |= XVR_CFG_F_MASQUERADE;
  spdlog::info("fabric {} (ifindex {}, {}, mtu {}): xdp_fabric attached, overlay {} port {} vni {}",
               opts_.fabric_ifname, link.ifindex, ip->ToString(), link.mtu,
               opts_.vxlan ? "vxlan" : "none", opts_.vxlan_port, opts_.vni);
  return absl::OkStatus();
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
  // the pod CIDR via the host pair, and the veth has no IPv4 address: any
  // reverse-path filtering (strict or loose) drops them. Source addresses
  // are validated in BPF instead.
  if (absl::Status s = SetIpv4ConfSysctl(ep.host_ifname, "rp_filter", "0"); !s.ok()) {
    spdlog::warn("rp_filter on {}: {}", ep.host_ifname, std::string(s.message()));
  }
  if (opts_.pod_attach_tc) {
    RETURN_IF_ERROR(DetachXdp(ep.host_ifname, links_dir()));
    RETURN_IF_ERROR(DetachXdp(PeerPinName(ep), links_dir()));
    return AttachTc(progs_.tc_pod.get(), ep.host_ifindex, TcDir::kIngress);
  }
  RETURN_IF_ERROR(DetachTc(ep.host_ifindex, TcDir::kIngress));
  // The receiving side first: frames redirected into a veth whose peer has
  // no NAPI are lost.
  if (opts_.xdp_mode == XdpMode::kNative) RETURN_IF_ERROR(AttachPeer(ep));
  return AttachXdp(progs_.xdp_pod.get(), ep.host_ifindex, ep.host_ifname, opts_.xdp_mode,
                   links_dir());
}

absl::Status BpfDataplane::AttachPeer(const DpEndpoint& ep) {
  if (ep.netns.empty() || ep.pod_ifname.empty()) {
    return absl::InvalidArgumentError("endpoint without netns/ifname: cannot attach xdp_pod_peer");
  }
  ASSIGN_OR_RETURN(NetnsGuard in_pod, NetnsGuard::Enter(ep.netns));
  const unsigned ifindex = if_nametoindex(ep.pod_ifname.c_str());
  if (ifindex == 0) {
    return absl::NotFoundError(absl::StrCat(ep.pod_ifname, " not found in ", ep.netns));
  }
  return AttachXdp(progs_.xdp_pod_peer.get(), ifindex, PeerPinName(ep), XdpMode::kNative,
                   links_dir());
}

absl::Status BpfDataplane::RemoveEndpoint(const DpEndpoint& ep) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status first = DetachXdp(ep.host_ifname, links_dir());
  first.Update(DetachXdp(PeerPinName(ep), links_dir()));
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

BpfDataplane::EventCounts BpfDataplane::ReadEventCounts() const {
  EventCounts out;
  if (auto per_cpu = ratelimit_.Lookup(0); per_cpu.ok()) {
    for (const xvr_ratelimit& rl : *per_cpu) {
      out.suppressed += rl.suppressed;
      out.lost += rl.lost;
    }
  }
  return out;
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

#include "agent/netlink/neigh_watcher.h"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "spdlog/spdlog.h"

namespace xvr {

std::optional<KernelNeigh> ClassifyNeigh(rtnl_neigh* n) {
  if (rtnl_neigh_get_family(n) != AF_INET) return std::nullopt;
  if (rtnl_neigh_get_flags(n) & NTF_PROXY) return std::nullopt;
  nl_addr* dst = rtnl_neigh_get_dst(n);
  if (!dst || nl_addr_get_family(dst) != AF_INET || nl_addr_get_len(dst) != 4) {
    return std::nullopt;
  }
  const int ifindex = rtnl_neigh_get_ifindex(n);
  if (ifindex <= 0) return std::nullopt;
  KernelNeigh k;
  uint32_t be;
  std::memcpy(&be, nl_addr_get_binary_addr(dst), 4);
  k.ip = Ipv4Addr::FromBe(be);
  k.ifindex = static_cast<uint32_t>(ifindex);
  if (nl_addr* ll = rtnl_neigh_get_lladdr(n); ll && nl_addr_get_len(ll) == 6) {
    k.mac = MacAddr(static_cast<const uint8_t*>(nl_addr_get_binary_addr(ll)));
    k.has_lladdr = true;
  }
  const int state = rtnl_neigh_get_state(n);
  k.state = state < 0 ? 0 : static_cast<uint16_t>(state);
  return k;
}

NeighWatcher::NeighWatcher(KernelNeighSink* sink, NeighWatcherOptions opts)
    : sink_(sink),
      mirror_("neighbour watcher", this, {RTNLGRP_NEIGH}, RTM_GETNEIGH, AF_INET,
              std::move(opts.mirror)) {}

void NeighWatcher::DumpObject(nl_object* obj) {
  if (nl_object_get_msgtype(obj) != RTM_NEWNEIGH) return;
  if (auto k = ClassifyNeigh(reinterpret_cast<rtnl_neigh*>(obj))) dump_.push_back(*k);
}

void NeighWatcher::DumpCommit() {
  spdlog::debug("neighbour watcher: dump of {} IPv4 entries", dump_.size());
  sink_->ReplaceKernelNeighs(dump_);
  dump_.clear();
}

void NeighWatcher::Event(nl_object* obj, int type, int flags) {
  if (type != RTM_NEWNEIGH && type != RTM_DELNEIGH) return;
  const std::optional<KernelNeigh> k = ClassifyNeigh(reinterpret_cast<rtnl_neigh*>(obj));
  if (!k) return;
  if (type == RTM_NEWNEIGH) {
    sink_->UpsertKernelNeigh(*k);
  } else {
    sink_->RemoveKernelNeigh(k->ip, k->ifindex);
  }
}

}  // namespace xvr

// The production Dataplane: pinned BPF maps and programs.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/dataplane/attach.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/dataplane/dataplane.h"
#include "agent/dataplane/programs.h"
#include "xvr/abi.h"

namespace xvr {

struct BpfDataplaneOptions {
  std::string bpf_root = "/sys/fs/bpf/xvr";
  XdpMode xdp_mode = XdpMode::kNative;
  bool pod_attach_tc = false;   // spec.podAttach: tc
  Ipv4Prefix pod_cidr;
  Ipv4Addr gateway;
  std::string host_ifname = "xvr_host";
  std::string host_peer_ifname = "xvr_net";
  uint32_t mtu = 1500;
  uint32_t events_per_sec = 100;
  // Multi-node: the underlay NIC (empty: single node, no overlay).
  std::string fabric_ifname;
  bool vxlan = true;
  uint16_t vxlan_port = 4789;
  uint32_t vni = 1;
  std::optional<Ipv4Prefix> cluster_cidr;
  bool masquerade = true;
  uint32_t flow_table_size = 0;  // spec.flows.tableSize; 0: as compiled
};

// What the data path learned about the fabric NIC at start.
struct FabricInfo {
  uint32_t ifindex = 0;
  MacAddr mac;
  Ipv4Addr node_ip;
  uint32_t mtu = 0;
};

class BpfDataplane : public Dataplane {
 public:
  // Mounts bpffs if needed, loads or re-uses the programs, creates the host
  // loopback pair, attaches tc_host_egress and writes the node config.
  static absl::StatusOr<std::unique_ptr<BpfDataplane>> Create(const BpfDataplaneOptions& opts);

  absl::StatusOr<LinkInfo> ResolveLink(const std::string& ifname) override;
  absl::Status UpsertEndpoint(const DpEndpoint& ep) override;
  absl::Status RemoveEndpoint(const DpEndpoint& ep) override;
  absl::StatusOr<std::vector<CounterRow>> ReadCounters() override;

  // Drop events suppressed by the rate limit and lost to a full ring
  // buffer, summed over CPUs.
  struct EventCounts {
    uint64_t suppressed = 0;
    uint64_t lost = 0;
  };
  EventCounts ReadEventCounts() const;

  const ProgramSet& programs() const { return progs_; }
  int events_fd() const { return events_fd_.get(); }
  const BpfDataplaneOptions& options() const { return opts_; }
  // Set when a fabric interface is configured.
  const std::optional<FabricInfo>& fabric() const { return fabric_; }
  // The pinned route LPM and neighbour maps, for the netlink mirror.
  const std::string maps_dir() const { return opts_.bpf_root + "/maps"; }

 private:
  explicit BpfDataplane(BpfDataplaneOptions opts) : opts_(std::move(opts)) {}
  std::string links_dir() const { return opts_.bpf_root + "/links"; }
  // xdp_pod_peer on the pod side, inside the pod's netns.
  absl::Status AttachPeer(const DpEndpoint& ep);
  // Finds the fabric NIC's address, puts it in the devmap, attaches
  // xdp_fabric; fills the overlay part of the node config.
  absl::Status SetUpFabric(xvr_node_cfg* cfg);

  BpfDataplaneOptions opts_;
  std::optional<FabricInfo> fabric_;
  ProgramSet progs_;
  BpfMap<__u32, xvr_endpoint> ep_by_ifindex_;
  BpfMap<__be32, xvr_endpoint> ep_by_ip_;
  BpfMap<__u32, __u32> devmap_;
  BpfMap<__u32, xvr_node_cfg> node_;
  PerCpuArray<xvr_counter> counters_;
  PerCpuArray<xvr_ratelimit> ratelimit_;
  UniqueFd events_fd_;
  std::mutex mu_;  // serialises attach/detach on one interface
};

}  // namespace xvr

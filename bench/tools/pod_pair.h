// The two-pod forward-path fixture of the per-packet benchmarks
// (xvr-bench-progrun, xvr-bench-capcost): two real veth pairs of the
// caller's namespace, the maps the agent would write for two registered
// pods, and one BPF_PROG_TEST_RUN of a 64-byte pod A -> pod B frame.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "bench/tools/bench_util.h"
#include "xvr/abi.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::bench {

// The interfaces: host-a/pod-a and host-b/pod-b, both veth pairs.
struct PodPairNames {
  std::string host_a, pod_a, host_b, pod_b;
};

// --pin-root and the four interface options, all required.
inline void AddPodPairOptions(CLI::App& app, std::string* pin_root, PodPairNames* n) {
  app.add_option("--pin-root", *pin_root, "private bpffs directory for the maps")->required();
  app.add_option("--host-a", n->host_a, "host end of pod A's veth (ingress)")->required();
  app.add_option("--pod-a", n->pod_a, "pod end of pod A's veth (source MAC)")->required();
  app.add_option("--host-b", n->host_b, "host end of pod B's veth (devmap target)")->required();
  app.add_option("--pod-b", n->pod_b, "pod end of pod B's veth (destination MAC)")->required();
}

struct Topology {
  uint32_t ifindex_a = 0, ifindex_b = 0;
  Mac host_mac_a{}, pod_mac_a{}, host_mac_b{}, pod_mac_b{};
  uint32_t ip_a = 0, ip_b = 0, gateway = 0;
};

inline absl::StatusOr<Topology> ReadTopology(const PodPairNames& o) {
  Topology t;
  ASSIGN_OR_RETURN(t.ifindex_a, IfIndex(o.host_a));
  ASSIGN_OR_RETURN(t.ifindex_b, IfIndex(o.host_b));
  ASSIGN_OR_RETURN(t.host_mac_a, IfMac(o.host_a));
  ASSIGN_OR_RETURN(t.pod_mac_a, IfMac(o.pod_a));
  ASSIGN_OR_RETURN(t.host_mac_b, IfMac(o.host_b));
  ASSIGN_OR_RETURN(t.pod_mac_b, IfMac(o.pod_b));
  // The addresses only have to agree with the seeded maps.
  ASSIGN_OR_RETURN(t.gateway, ParseIpv4("10.99.0.1"));
  ASSIGN_OR_RETURN(t.ip_a, ParseIpv4("10.99.0.2"));
  ASSIGN_OR_RETURN(t.ip_b, ParseIpv4("10.99.0.3"));
  return t;
}

inline xvr_endpoint Endpoint(uint32_t ip, uint32_t ifindex, const Mac& pod, const Mac& host, uint32_t id) {
  xvr_endpoint e{};
  e.ip = ip;
  e.ifindex = ifindex;
  std::memcpy(e.mac, pod.data(), ETH_ALEN);
  std::memcpy(e.host_mac, host.data(), ETH_ALEN);
  e.id = id;
  return e;
}

inline absl::Status Update(int fd, const void* key, const void* value, const char* map) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(", map, ")"));
  }
  return absl::OkStatus();
}

// What the agent writes for two registered pods, written directly.
inline absl::Status SeedMaps(const xvr_xdp_pod& skel, const Topology& t) {
  xvr_node_cfg cfg{};
  cfg.gateway_ip = t.gateway;
  cfg.pod_cidr = t.gateway & htonl(0xffffff00);
  cfg.pod_prefixlen = 24;
  cfg.flags = XVR_CFG_F_READY;
  cfg.events_per_sec = 100;
  const uint32_t zero = 0;
  RETURN_IF_ERROR(Update(bpf_map__fd(skel.maps.xvr_node), &zero, &cfg, XVR_MAP_NODE));
  const xvr_endpoint a = Endpoint(t.ip_a, t.ifindex_a, t.pod_mac_a, t.host_mac_a, 1);
  const xvr_endpoint b = Endpoint(t.ip_b, t.ifindex_b, t.pod_mac_b, t.host_mac_b, 2);
  for (const xvr_endpoint* e : {&a, &b}) {
    RETURN_IF_ERROR(Update(bpf_map__fd(skel.maps.xvr_ep_ifidx), &e->ifindex, e, XVR_MAP_EP_IFINDEX));
    RETURN_IF_ERROR(Update(bpf_map__fd(skel.maps.xvr_ep_ip), &e->ip, e, XVR_MAP_EP_IP));
    RETURN_IF_ERROR(Update(bpf_map__fd(skel.maps.xvr_devmap), &e->ifindex, &e->ifindex, XVR_MAP_DEVMAP));
  }
  return absl::OkStatus();
}

enum class Kind { kXdp, kTc };

struct RunResult {
  double ns_per_packet;
  uint32_t retval;
};

inline absl::StatusOr<RunResult> TestRun(int prog, Kind kind, const Topology& t, const Frame& frame,
                                  uint32_t repeat, Frame* out) {
  xdp_md xctx{};
  __sk_buff sctx{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = kFrameLen,
              .repeat = static_cast<int>(repeat));
  if (out) {
    opts.data_out = out->data();
    opts.data_size_out = kFrameLen;
  }
  if (kind == Kind::kXdp) {
    xctx.data_end = kFrameLen;
    xctx.ingress_ifindex = t.ifindex_a;
    opts.ctx_in = &xctx;
    opts.ctx_size_in = sizeof(xctx);
  } else {
    sctx.ifindex = t.ifindex_a;
    opts.ctx_in = &sctx;
    opts.ctx_size_in = sizeof(sctx);
  }
  if (bpf_prog_test_run_opts(prog, &opts) != 0) return ErrnoStatus(errno, "BPF_PROG_TEST_RUN");
  return RunResult{static_cast<double>(opts.duration), opts.retval};
}

}  // namespace xvr::bench

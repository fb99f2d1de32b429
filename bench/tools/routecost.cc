// xvr-bench-routecost: ns per packet of xdp_pod on the route-lookup path
// with a small and a large xvr_routes (LPM trie), measured by the kernel
// (BPF_PROG_TEST_RUN's `duration`, repeat=--packets).
//
// Two instances of xdp_pod are loaded, each with its own maps (pinned under
// <pin-root>/n<N>); instance i holds exactly --routes[i] routes: pod A's
// local pod CIDR (XVR_RT_LOCAL 10.244.1.0/24), a tunnel route
// 10.244.2.0/24 -> 192.168.250.12 (XVR_RT_TUNNEL), the on-link fabric
// subnet 192.168.250.0/24 (XVR_RT_KERNEL) and N-3 kernel /24s spread over
// the /8s 16..223 via 192.168.250.1. The frame pod A -> 10.244.2.2 misses
// the endpoint map, finds the tunnel route (LPM lookup 1), then looks up
// the underlay route of 192.168.250.12 (LPM lookup 2) and its neighbour;
// there is no neighbour, so xdp_pod returns pass/no_neighbour without
// touching the frame and a plain repeat=N run measures that path every
// repetition. The tool fails unless each instance's pass/no_neighbour
// counter rose by exactly runs x packets.
//
// Run it in a network namespace holding the veth pair host-a/pod-a (the
// ingress ifindex must be a device of the caller's namespace).
#include <sched.h>
#include <sys/stat.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "xvr/abi.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::bench {
namespace {

constexpr uint8_t kTtl = 64;

struct Options {
  std::string pin_root;
  std::string host_a, pod_a;
  std::vector<uint32_t> routes = {10, 100000};
  uint32_t packets = 1'000'000;
  int runs = 5;
  int cpu = -1;
};

absl::Status Update(int fd, const void* key, const void* value, const char* map) {
  if (bpf_map_update_elem(fd, key, value, BPF_NOEXIST) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(", map, ")"));
  }
  return absl::OkStatus();
}

uint32_t Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return htonl((uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d);
}

struct Instance {
  uint32_t n = 0;
  SkelPtr<xvr_xdp_pod> skel{nullptr, &xvr_xdp_pod::destroy};
  int prog = -1;
  int counters = -1;
  std::vector<double> ns;
};

absl::StatusOr<uint64_t> NoNeigh(const Instance& in) {
  return ReadCounter(in.counters, XVR_HOOK_XDP_POD, XVR_VERDICT_PASS, XVR_R_PASS_NO_NEIGH);
}

absl::StatusOr<uint64_t> CountKeys(int fd) {
  xvr_route_key k{}, next{};
  uint64_t n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    k = next;
    prev = &k;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_get_next_key(xvr_routes)");
  return n;
}

absl::Status Seed(const Instance& in, uint32_t ifindex_a, const Mac& pod_mac_a,
                  const Mac& host_mac_a, uint32_t ip_a, uint32_t gateway) {
  const uint32_t zero = 0;
  xvr_node_cfg cfg{};
  cfg.gateway_ip = gateway;
  cfg.pod_cidr = Ip(10, 244, 1, 0);
  cfg.pod_prefixlen = 24;
  cfg.flags = XVR_CFG_F_READY | XVR_CFG_F_VXLAN;
  cfg.events_per_sec = 100;
  cfg.node_ip = Ip(192, 168, 250, 11);
  cfg.fabric_ifindex = ifindex_a;  // never used: no neighbour, no redirect
  cfg.vxlan_port = htons(4789);
  cfg.vni = 1;
  const int maps_node = bpf_map__fd(in.skel->maps.xvr_node);
  if (bpf_map_update_elem(maps_node, &zero, &cfg, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "bpf_map_update_elem(xvr_node)");
  }

  xvr_endpoint a{};
  a.ip = ip_a;
  a.ifindex = ifindex_a;
  std::memcpy(a.mac, pod_mac_a.data(), ETH_ALEN);
  std::memcpy(a.host_mac, host_mac_a.data(), ETH_ALEN);
  a.id = 1;
  RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_ep_ifidx), &a.ifindex, &a, XVR_MAP_EP_IFINDEX));
  RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_ep_ip), &a.ip, &a, XVR_MAP_EP_IP));

  const int routes = bpf_map__fd(in.skel->maps.xvr_routes);
  auto add = [&](uint32_t addr, uint32_t plen, const xvr_route& r) {
    const xvr_route_key k{plen, addr};
    return Update(routes, &k, &r, XVR_MAP_ROUTES);
  };
  RETURN_IF_ERROR(add(Ip(10, 244, 1, 0), 24, xvr_route{XVR_RT_LOCAL, 0, 0, 0, 0}));
  RETURN_IF_ERROR(add(Ip(10, 244, 2, 0), 24, xvr_route{XVR_RT_TUNNEL, 0, Ip(192, 168, 250, 12), 0, 0}));
  RETURN_IF_ERROR(add(Ip(192, 168, 250, 0), 24, xvr_route{XVR_RT_KERNEL, 0, 0, ifindex_a, 0}));
  // Filler: kernel /24s, round-robin over the /8s 16..223 (208 of them),
  // second and third octets counting up within each /8.
  const xvr_route via{XVR_RT_KERNEL, Ip(192, 168, 250, 1), 0, ifindex_a, 0};
  for (uint32_t i = 0; i + 3 < in.n; ++i) {
    const uint32_t j = i / 208;
    RETURN_IF_ERROR(add(Ip(16 + i % 208, (j >> 8) & 0xff, j & 0xff, 0), 24, via));
  }
  ASSIGN_OR_RETURN(uint64_t count, CountKeys(routes));
  if (count != in.n) {
    return absl::InternalError(absl::StrCat("xvr_routes holds ", count, " routes, wanted ", in.n));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> TestRun(const Instance& in, uint32_t ifindex, const Frame& frame,
                               uint32_t repeat) {
  xdp_md ctx{};
  ctx.data_end = kFrameLen;
  ctx.ingress_ifindex = ifindex;
  Frame out{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = kFrameLen, .data_size_out = kFrameLen, .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(in.prog, &opts) != 0) return ErrnoStatus(errno, "BPF_PROG_TEST_RUN");
  if (opts.retval != XDP_PASS) {
    return absl::InternalError(absl::StrCat("xdp_pod (", in.n, " routes) returned ", opts.retval,
                                            ", expected XDP_PASS"));
  }
  if (out != frame) {
    return absl::InternalError(absl::StrCat("xdp_pod (", in.n, " routes) modified the frame"));
  }
  return static_cast<double>(opts.duration);
}

absl::Status Run(const Options& o) {
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return ErrnoStatus(errno, "sched_setaffinity");
  }
  ASSIGN_OR_RETURN(uint32_t ifindex_a, IfIndex(o.host_a));
  ASSIGN_OR_RETURN(Mac host_mac_a, IfMac(o.host_a));
  ASSIGN_OR_RETURN(Mac pod_mac_a, IfMac(o.pod_a));
  const uint32_t gateway = Ip(10, 244, 1, 1), ip_a = Ip(10, 244, 1, 2);
  const uint32_t dst = Ip(10, 244, 2, 2);
  const Frame frame = BuildUdpFrame(pod_mac_a, host_mac_a, ip_a, dst, kTtl);

  std::vector<Instance> ins;
  for (uint32_t n : o.routes) {
    if (n < 3) return absl::InvalidArgumentError("--routes: at least 3 (the fixed routes)");
    Instance in;
    in.n = n;
    const std::string root = absl::StrCat(o.pin_root, "/n", n);
    if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + root);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = root.c_str());
    ASSIGN_OR_RETURN(in.skel, OpenSkel<xvr_xdp_pod>("xdp_pod", &opts));
    RETURN_IF_ERROR(LoadSkel(in.skel.get(), "xdp_pod"));
    RETURN_IF_ERROR(Seed(in, ifindex_a, pod_mac_a, host_mac_a, ip_a, gateway));
    in.prog = bpf_program__fd(in.skel->progs.xdp_pod);
    in.counters = bpf_map__fd(in.skel->maps.xvr_counters);
    ins.push_back(std::move(in));
  }

  std::vector<uint64_t> before;
  for (const Instance& in : ins) {
    ASSIGN_OR_RETURN(uint64_t v, NoNeigh(in));
    before.push_back(v);
  }
  // Interleaved: every run measures every route count once.
  for (int r = 0; r < o.runs; ++r) {
    for (Instance& in : ins) {
      ASSIGN_OR_RETURN(double v, TestRun(in, ifindex_a, frame, o.packets));
      in.ns.push_back(v);
    }
  }
  const uint64_t want = static_cast<uint64_t>(o.runs) * o.packets;
  std::string check;
  for (size_t i = 0; i < ins.size(); ++i) {
    ASSIGN_OR_RETURN(uint64_t after, NoNeigh(ins[i]));
    if (after - before[i] != want) {
      return absl::InternalError(absl::StrCat("pass/no_neighbour of xdp_pod (", ins[i].n,
                                              " routes) moved by ", after - before[i],
                                              ", expected ", want));
    }
    absl::StrAppend(&check, i ? ", " : "", ins[i].n, " routes +", after - before[i]);
  }

  std::cout << "routes\truns_ns_per_packet\tmedian_ns\n";
  for (const Instance& in : ins) {
    std::cout << in.n << "\t";
    for (size_t i = 0; i < in.ns.size(); ++i) {
      std::cout << (i ? "," : "") << absl::StrFormat("%.0f", in.ns[i]);
    }
    std::cout << absl::StrFormat("\t%.0f\n", Median(in.ns));
  }
  std::cout << "# counter check: xdp_pod pass/no_neighbour " << check << " (expected " << want
            << " each)\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"ns/packet of xdp_pod's route lookup (BPF_PROG_TEST_RUN) with N routes"};
  app.add_option("--pin-root", o.pin_root, "private bpffs directory for the maps")->required();
  app.add_option("--host-a", o.host_a, "host end of pod A's veth (ingress)")->required();
  app.add_option("--pod-a", o.pod_a, "pod end of pod A's veth (source MAC)")->required();
  app.add_option("--routes", o.routes, "route counts, one xdp_pod instance each")
      ->capture_default_str();
  app.add_option("--packets", o.packets, "repetitions per run")->capture_default_str();
  app.add_option("--runs", o.runs, "runs (the median is reported)")->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin to this CPU");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-routecost: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

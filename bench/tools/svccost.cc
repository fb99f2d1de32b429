// xvr-bench-svccost: ns per packet of xdp_pod on a packet to a ClusterIP,
// with N services (× E endpoints) programmed, measured by the kernel
// (BPF_PROG_TEST_RUN's `duration`), beside the same program forwarding to a
// pod IP (no service) and the harness running an empty program.
//
// One xdp_pod instance per service count N (maps pinned under
// <pin-root>/n<N>), each seeded like a node with a client pod (host-a /
// pod-a) and E backend pods (<host-b-prefix>0.. / <pod-b-prefix>0..), and
// N frontends programmed through the agent's own ServiceManager into its
// xvr_svc / xvr_backends / xvr_maglev (BpfServiceMaps, Maglev tables built
// by BuildMaglevTable). The measured service bench/target (10.96.0.10:80/TCP)
// has the E backend pods as endpoints; the N-1 others have E endpoints each
// on no pod here. Cases, per instance:
//   pod IP      client -> backend pod 0 directly: both service lookups miss
//               (xvr_svc_rev, xvr_svc), endpoint found, redirect.
//   CT hit      client -> ClusterIP, one source port whose flow is already
//               in xvr_svc_ct: established packet, DNAT, redirect.
//   CT miss     client -> ClusterIP, a new source port on every repetition
//               (harness bench_svc.bpf.c): xvr_svc_ct miss, Maglev slot,
//               backend, xvr_svc_rev + xvr_svc_ct inserts, DNAT, redirect.
//               xvr_svc_ct / xvr_svc_rev are emptied before each such run
//               (so every repetition is a miss: --miss-packets <= 65536
//               distinct ports) and must hold exactly --miss-packets
//               entries after it.
// The harness restores the frame on every repetition (xdp_pod rewrites it
// in place); its cost is measured as `harness -> empty`, with and without
// the per-repetition source port. Every case must return XDP_REDIRECT, and
// each instance's xdp_pod redirect/ok counter must rise by exactly the
// number of packets run. Run it in a network namespace holding the veth
// pairs (ingress ifindex and devmap targets must be real devices).
#include <sched.h>
#include <sys/stat.h>

#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "spdlog/spdlog.h"
#include "absl/time/clock.h"
#include "agent/services/service_manager.h"
#include "agent/services/service_maps.h"
#include "bench/tools/bench_util.h"
#include "bench/tools/tcp_frame.h"
#include "xvr/abi.h"
#include "xvr/skel/bench_svc.skel.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::bench {
namespace {

constexpr uint16_t kSvcPort = 80, kTargetPort = 8080;
constexpr uint16_t kHitPort = 40000, kMissBase = 1024, kDirectPort = 40001;

struct Options {
  std::string pin_root;
  std::string host_a, pod_a, host_b_prefix = "hb", pod_b_prefix = "pb";
  std::vector<uint32_t> services = {1, 1000, 10000};
  uint32_t endpoints = 10;
  uint32_t packets = 1'000'000;
  uint32_t miss_packets = 50'000;
  int runs = 5;
  int cpu = -1;
};

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return htonl((a << 24) | (b << 16) | (c << 8) | d);
}
services::BackendAddr BeAddr(uint32_t be, uint16_t port) {
  return {Ipv4Addr::FromBe(be), port, IPPROTO_TCP};
}

struct Pod {
  uint32_t ifindex = 0;
  Mac host_mac{}, pod_mac{};
  uint32_t ip = 0;
};

absl::Status Update(int fd, const void* key, const void* value, const char* map) {
  if (bpf_map_update_elem(fd, key, value, BPF_ANY) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(", map, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Redirects(int counters_fd) {
  return ReadCounter(counters_fd, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK);
}

// Every key of a hash map (xvr_svc_ct / xvr_svc_rev: struct xvr_nat_key).
absl::StatusOr<std::vector<xvr_nat_key>> Keys(int fd, const char* map) {
  std::vector<xvr_nat_key> keys;
  xvr_nat_key k{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    k = next;
    prev = &k;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("bpf_map_get_next_key(", map, ")"));
  return keys;
}

absl::Status Clear(int fd, const char* map) {
  ASSIGN_OR_RETURN(std::vector<xvr_nat_key> keys, Keys(fd, map));
  for (const auto& k : keys) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_delete_elem(", map, ")"));
    }
  }
  return absl::OkStatus();
}

struct Instance {
  uint32_t n = 0;
  SkelPtr<xvr_xdp_pod> skel{nullptr, &xvr_xdp_pod::destroy};
  std::unique_ptr<services::BpfServiceMaps> maps;
  std::unique_ptr<services::ServiceManager> manager;
  int prog = -1, counters = -1, ct = -1, rev = -1;
  double program_ms = 0;
  uint64_t expected = 0;  // redirects this tool caused
  std::map<std::string, std::vector<double>> ns;
};

std::vector<services::Frontend> Frontends(uint32_t n, uint32_t endpoints,
                                          const std::vector<Pod>& backends) {
  std::vector<services::Frontend> out;
  out.reserve(n);
  const uint32_t target = n / 2;
  for (uint32_t i = 0; i < n; ++i) {
    services::Frontend f;
    f.port_name = "http";
    f.type = services::Frontend::Type::kClusterIP;
    if (i == target) {
      f.key = {Ipv4Addr::FromBe(Ip(10, 96, 0, 10)), kSvcPort, IPPROTO_TCP, XVR_SVC_SCOPE_INTERNAL};
      f.service = "bench/target";
      for (const Pod& b : backends) {
        services::Backend be;
        be.addr = BeAddr(b.ip, kTargetPort);
        be.local = true;
        be.node_name = "bench";
        f.backends.push_back(be);
      }
    } else {
      f.key = {Ipv4Addr::FromBe(Ip(10, 96, 1 + i / 200, 10 + i % 200)), kSvcPort, IPPROTO_TCP,
               XVR_SVC_SCOPE_INTERNAL};
      f.service = absl::StrCat("bench/svc-", i);
      for (uint32_t j = 0; j < endpoints; ++j) {
        const uint32_t g = i * endpoints + j + 1;
        services::Backend be;
        be.addr = BeAddr(Ip(10, 100 + g / 65536, (g / 256) % 256, g % 256), kTargetPort);
        be.node_name = "elsewhere";
        f.backends.push_back(be);
      }
    }
    std::sort(f.backends.begin(), f.backends.end(),
              [](const services::Backend& a, const services::Backend& b) { return a.addr < b.addr; });
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(),
            [](const services::Frontend& a, const services::Frontend& b) { return a.key < b.key; });
  return out;
}

absl::Status Seed(Instance& in, const Pod& client, const std::vector<Pod>& backends,
                  uint32_t endpoints) {
  xvr_node_cfg cfg{};
  cfg.gateway_ip = Ip(10, 99, 0, 1);
  cfg.pod_cidr = Ip(10, 99, 0, 0);
  cfg.pod_prefixlen = 24;
  cfg.flags = XVR_CFG_F_READY;
  cfg.events_per_sec = 100;
  const uint32_t zero = 0;
  RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_node), &zero, &cfg, XVR_MAP_NODE));
  uint32_t id = 1;
  std::vector<const Pod*> pods = {&client};
  for (const Pod& b : backends) pods.push_back(&b);
  for (const Pod* p : pods) {
    xvr_endpoint e{};
    e.ip = p->ip;
    e.ifindex = p->ifindex;
    std::memcpy(e.mac, p->pod_mac.data(), ETH_ALEN);
    std::memcpy(e.host_mac, p->host_mac.data(), ETH_ALEN);
    e.id = id++;
    RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_ep_ifidx), &e.ifindex, &e, XVR_MAP_EP_IFINDEX));
    RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_ep_ip), &e.ip, &e, XVR_MAP_EP_IP));
    RETURN_IF_ERROR(Update(bpf_map__fd(in.skel->maps.xvr_devmap), &e.ifindex, &e.ifindex, XVR_MAP_DEVMAP));
  }
  // The services, through the agent's own code.
  services::ServiceManagerOptions opts;
  opts.local_node = "bench";
  opts.wait_for_sync = false;
  in.manager = std::make_unique<services::ServiceManager>(nullptr, in.maps.get(), opts);
  const std::vector<services::Frontend> fe = Frontends(in.n, endpoints, backends);
  const absl::Time t0 = absl::Now();
  RETURN_IF_ERROR(in.manager->ReconcileFrontends(fe));
  in.program_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  ASSIGN_OR_RETURN(auto listed, in.maps->ListFrontends());
  if (listed.size() != in.n) {
    return absl::InternalError(absl::StrCat("xvr_svc holds ", listed.size(), " frontends, wanted ", in.n));
  }
  return absl::OkStatus();
}

struct Harness {
  SkelPtr<xvr_bench_svc> skel{nullptr, &xvr_bench_svc::destroy};
  int run = -1, empty = -1, jmp = -1;
};

absl::StatusOr<double> TestRun(const Harness& h, int target, const Frame& frame, uint32_t ifindex,
                               uint32_t repeat, uint16_t port_base, uint32_t port_span,
                               uint32_t expect, Frame* out = nullptr) {
  const uint32_t zero = 0;
  RETURN_IF_ERROR(Update(h.jmp, &zero, &target, "jmp_svc"));
  std::memcpy(h.skel->bss->frame_tmpl, frame.data(), kFrameLen);
  h.skel->bss->port_base = port_base;
  h.skel->bss->port_span = port_span;
  h.skel->bss->seq = 0;
  xdp_md ctx{};
  ctx.data_end = kFrameLen;
  ctx.ingress_ifindex = ifindex;
  Frame buf = frame;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf.data(), .data_size_in = kFrameLen,
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(repeat));
  if (out) {
    opts.data_out = out->data();
    opts.data_size_out = kFrameLen;
  }
  if (bpf_prog_test_run_opts(h.run, &opts) != 0) return ErrnoStatus(errno, "BPF_PROG_TEST_RUN");
  if (opts.retval != expect) {
    return absl::InternalError(absl::StrCat("returned ", opts.retval, ", expected ", expect));
  }
  return static_cast<double>(opts.duration);
}

absl::StatusOr<Pod> ReadPod(const std::string& host, const std::string& pod, uint32_t ip) {
  Pod p;
  ASSIGN_OR_RETURN(p.ifindex, IfIndex(host));
  ASSIGN_OR_RETURN(p.host_mac, IfMac(host));
  ASSIGN_OR_RETURN(p.pod_mac, IfMac(pod));
  p.ip = ip;
  return p;
}

std::string Runs(const std::vector<double>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&s, i ? "," : "", absl::StrFormat("%.0f", v[i]));
  return s;
}

absl::Status Run(const Options& o) {
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return ErrnoStatus(errno, "sched_setaffinity");
  }
  if (o.miss_packets == 0 || o.miss_packets > 65536 - kMissBase) {
    return absl::InvalidArgumentError("--miss-packets: 1..64512 (one source port each)");
  }
  if (o.endpoints == 0) return absl::InvalidArgumentError("--endpoints: at least 1");
  ASSIGN_OR_RETURN(Pod client, ReadPod(o.host_a, o.pod_a, Ip(10, 99, 0, 2)));
  std::vector<Pod> backends;
  for (uint32_t j = 0; j < o.endpoints; ++j) {
    ASSIGN_OR_RETURN(Pod b, ReadPod(absl::StrCat(o.host_b_prefix, j), absl::StrCat(o.pod_b_prefix, j),
                                    Ip(10, 99, 0, 10 + j)));
    backends.push_back(b);
  }
  const uint32_t vip = Ip(10, 96, 0, 10);
  const Frame direct = BuildTcpFrame(client.pod_mac, client.host_mac, client.ip, backends[0].ip,
                                     kDirectPort, kTargetPort, 0x18);
  const Frame hit = BuildTcpFrame(client.pod_mac, client.host_mac, client.ip, vip, kHitPort,
                                  kSvcPort, 0x18);
  const Frame miss = BuildTcpFrame(client.pod_mac, client.host_mac, client.ip, vip, kMissBase,
                                   kSvcPort, 0x02);

  Harness h;
  ASSIGN_OR_RETURN(h.skel, OpenSkel<xvr_bench_svc>("bench_svc"));
  RETURN_IF_ERROR(LoadSkel(h.skel.get(), "bench_svc"));
  h.run = bpf_program__fd(h.skel->progs.bench_svc_run);
  h.empty = bpf_program__fd(h.skel->progs.bench_svc_pass);
  h.jmp = bpf_map__fd(h.skel->maps.jmp_svc);

  std::vector<Instance> ins;
  for (uint32_t n : o.services) {
    if (n == 0) return absl::InvalidArgumentError("--services: at least 1");
    Instance in;
    in.n = n;
    const std::string root = absl::StrCat(o.pin_root, "/n", n);
    if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + root);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = root.c_str());
    ASSIGN_OR_RETURN(in.skel, OpenSkel<xvr_xdp_pod>("xdp_pod", &opts));
    RETURN_IF_ERROR(LoadSkel(in.skel.get(), "xdp_pod"));
    ASSIGN_OR_RETURN(in.maps, services::BpfServiceMaps::Open(root));
    RETURN_IF_ERROR(Seed(in, client, backends, o.endpoints));
    in.prog = bpf_program__fd(in.skel->progs.xdp_pod);
    in.counters = bpf_map__fd(in.skel->maps.xvr_counters);
    in.ct = bpf_map__fd(in.skel->maps.xvr_svc_ct);
    in.rev = bpf_map__fd(in.skel->maps.xvr_svc_rev);
    // The translated frame goes to one of the backend pods: its MAC, its
    // address, the target port.
    Frame out{};
    auto r = TestRun(h, in.prog, hit, client.ifindex, 1, 0, 0, XDP_REDIRECT, &out);
    if (!r.ok()) return absl::InternalError(absl::StrCat(n, " services, CT hit prep: ", r.status().message()));
    in.expected += 1;
    const auto* oip = reinterpret_cast<const iphdr*>(out.data() + sizeof(ethhdr));
    uint16_t odport;
    std::memcpy(&odport, out.data() + sizeof(ethhdr) + sizeof(iphdr) + 2, 2);
    bool ok = false;
    for (const Pod& b : backends) {
      ok |= oip->daddr == b.ip && std::memcmp(out.data(), b.pod_mac.data(), ETH_ALEN) == 0;
    }
    if (!ok || ntohs(odport) != kTargetPort || oip->saddr != client.ip) {
      return absl::InternalError(absl::StrCat(n, " services: the ClusterIP packet was not DNATed "
                                              "to a backend pod"));
    }
    ins.push_back(std::move(in));
  }

  std::map<std::string, std::vector<double>> base;
  std::vector<uint64_t> before;
  for (const Instance& in : ins) {
    ASSIGN_OR_RETURN(uint64_t v, Redirects(in.counters));
    before.push_back(v - in.expected);
  }
  // Interleaved: every run measures every case of every instance once.
  for (int r = 0; r < o.runs; ++r) {
    ASSIGN_OR_RETURN(double b1, TestRun(h, h.empty, hit, client.ifindex, o.packets, 0, 0, XDP_PASS));
    base["harness -> empty (fixed source port)"].push_back(b1);
    ASSIGN_OR_RETURN(double b2, TestRun(h, h.empty, miss, client.ifindex, o.miss_packets, kMissBase,
                                        o.miss_packets, XDP_PASS));
    base["harness -> empty (new source port per packet)"].push_back(b2);
    for (Instance& in : ins) {
      auto fail = [&](const char* c, const absl::Status& s) {
        return absl::InternalError(absl::StrCat(in.n, " services, ", c, ": ", s.message()));
      };
      auto d = TestRun(h, in.prog, direct, client.ifindex, o.packets, 0, 0, XDP_REDIRECT);
      if (!d.ok()) return fail("pod IP", d.status());
      in.ns["pod IP (no service)"].push_back(*d);
      in.expected += o.packets;

      auto e = TestRun(h, in.prog, hit, client.ifindex, o.packets, 0, 0, XDP_REDIRECT);
      if (!e.ok()) return fail("CT hit", e.status());
      in.ns["ClusterIP, established (CT hit)"].push_back(*e);
      in.expected += o.packets;

      RETURN_IF_ERROR(Clear(in.ct, XVR_MAP_SVC_CT));
      RETURN_IF_ERROR(Clear(in.rev, XVR_MAP_SVC_REV));
      auto m = TestRun(h, in.prog, miss, client.ifindex, o.miss_packets, kMissBase, o.miss_packets,
                       XDP_REDIRECT);
      if (!m.ok()) return fail("CT miss", m.status());
      in.ns["ClusterIP, new connection (CT miss)"].push_back(*m);
      in.expected += o.miss_packets;
      ASSIGN_OR_RETURN(auto ctk, Keys(in.ct, XVR_MAP_SVC_CT));
      ASSIGN_OR_RETURN(auto revk, Keys(in.rev, XVR_MAP_SVC_REV));
      if (ctk.size() != o.miss_packets || revk.size() != o.miss_packets) {
        return absl::InternalError(absl::StrCat(
            in.n, " services, CT miss: xvr_svc_ct holds ", ctk.size(), " and xvr_svc_rev ",
            revk.size(), " entries after the run, expected ", o.miss_packets,
            " each (every packet a new connection)"));
      }
      RETURN_IF_ERROR(Clear(in.ct, XVR_MAP_SVC_CT));
      RETURN_IF_ERROR(Clear(in.rev, XVR_MAP_SVC_REV));
      // Re-create the established flow for the next run's CT hit case.
      auto p = TestRun(h, in.prog, hit, client.ifindex, 1, 0, 0, XDP_REDIRECT);
      if (!p.ok()) return fail("CT hit prep", p.status());
      in.expected += 1;
    }
  }

  std::string check;
  for (size_t i = 0; i < ins.size(); ++i) {
    ASSIGN_OR_RETURN(uint64_t after, Redirects(ins[i].counters));
    if (after - before[i] != ins[i].expected) {
      return absl::InternalError(absl::StrCat("xdp_pod (", ins[i].n, " services) redirect/ok moved by ",
                                              after - before[i], ", expected ", ins[i].expected));
    }
    absl::StrAppend(&check, i ? ", " : "", ins[i].n, " services +", ins[i].expected);
  }

  std::cout << "services\tcase\truns_ns_per_packet\tmedian_ns\n";
  for (const auto& [name, v] : base) {
    std::cout << "-\t" << name << "\t" << Runs(v) << absl::StrFormat("\t%.0f\n", Median(v));
  }
  for (const Instance& in : ins) {
    for (const char* c : {"pod IP (no service)", "ClusterIP, established (CT hit)",
                          "ClusterIP, new connection (CT miss)"}) {
      const auto& v = in.ns.at(c);
      std::cout << in.n << "\t" << c << "\t" << Runs(v) << absl::StrFormat("\t%.0f\n", Median(v));
    }
  }
  for (const Instance& in : ins) {
    ASSIGN_OR_RETURN(auto be, in.maps->ListBackends());
    ASSIGN_OR_RETURN(auto tables, in.maps->ListTables());
    const auto programmed = in.manager->Programmed();
    uint32_t m = programmed.empty() ? 0 : programmed.front().maglev_size;
    std::cout << absl::StrFormat(
        "# %d services: xvr_svc %d frontends, xvr_backends %d, xvr_maglev %d tables of %d slots; "
        "ServiceManager::ReconcileFrontends into empty maps took %.1f ms\n",
        in.n, programmed.size(), be.size(), tables.size(), m, in.program_ms);
  }
  std::cout << "# counter check: xdp_pod redirect/ok " << check << " (expected, all cases)\n";
  std::cout << "# CT miss runs: xvr_svc_ct and xvr_svc_rev held exactly " << o.miss_packets
            << " entries after each run (one per packet)\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"ns/packet of xdp_pod to a ClusterIP with N services (BPF_PROG_TEST_RUN)"};
  app.add_option("--pin-root", o.pin_root, "private bpffs directory for the maps")->required();
  app.add_option("--host-a", o.host_a, "host end of the client pod's veth (ingress)")->required();
  app.add_option("--pod-a", o.pod_a, "pod end of the client pod's veth (source MAC)")->required();
  app.add_option("--host-b-prefix", o.host_b_prefix, "host ends of the backend veths: PREFIX0..")
      ->capture_default_str();
  app.add_option("--pod-b-prefix", o.pod_b_prefix, "pod ends of the backend veths: PREFIX0..")
      ->capture_default_str();
  app.add_option("--services", o.services, "service counts, one xdp_pod instance each")
      ->capture_default_str();
  app.add_option("--endpoints", o.endpoints, "endpoints per service (= backend veth pairs)")
      ->capture_default_str();
  app.add_option("--packets", o.packets, "repetitions per run (pod IP, CT hit)")->capture_default_str();
  app.add_option("--miss-packets", o.miss_packets, "repetitions per CT-miss run (distinct ports)")
      ->capture_default_str();
  app.add_option("--runs", o.runs, "runs (the median is reported)")->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin to this CPU");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  // The manager logs each reconcile to stdout; stdout is the result table.
  spdlog::set_level(spdlog::level::warn);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-svccost: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

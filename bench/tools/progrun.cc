// xvr-bench-progrun: ns per packet of xdp_pod and tc_pod on the pod→pod
// forward path, measured by the kernel (BPF_PROG_TEST_RUN's `duration`,
// repeat=--packets), beside the same harness running an empty program.
//
// Run it inside a network namespace that holds two veth pairs (host-a/pod-a,
// host-b/pod-b): the ingress ifindex and the devmap target must be real
// devices of the caller's namespace.
//
// The kernel runs every repetition on the same buffer and xdp_pod rewrites
// it in place (MACs, TTL), so from the second repetition on a plain
// repeat=N run measures the spoofed-MAC drop, not the forward path. The
// harness (bench_harness.bpf.c) restores the frame from a template on every
// repetition and tail-calls the program under test; its baseline is the
// same harness tail-calling an empty program, so
//   cost of xdp_pod = harness→xdp_pod − harness→empty.
// xdp_pod's own counters must show exactly --packets redirects per run.
// --naive also prints the plain repeat=N figure and the counters that show
// which path it measured.
#include <sched.h>

#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "bench/tools/pod_pair.h"
#include "xvr/abi.h"
#include "xvr/skel/bench_harness.skel.h"
#include "xvr/skel/tc_pod.skel.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::bench {
namespace {

constexpr uint8_t kTtl = 64;

struct Options {
  std::string pin_root;
  PodPairNames names;
  uint32_t packets = 1'000'000;
  int runs = 5;
  bool naive = false;
  int cpu = -1;
};

// One row of the result: `run` is what BPF_PROG_TEST_RUN executes; when
// `target` is set, `run` is the harness and tail-calls it through `jmp`.
struct Case {
  std::string name;
  Kind kind;
  int run;
  int target = -1;
  int jmp = -1;
  int expect = 0;  // return code of a forwarded (or passed) packet
};

absl::StatusOr<double> Measure(const Case& c, const Topology& t, const Frame& frame,
                               uint32_t packets) {
  if (c.target >= 0) {
    const uint32_t zero = 0;
    RETURN_IF_ERROR(Update(c.jmp, &zero, &c.target, "harness prog array"));
  }
  ASSIGN_OR_RETURN(RunResult r, TestRun(c.run, c.kind, t, frame, packets, nullptr));
  if (static_cast<int>(r.retval) != c.expect) {
    return absl::InternalError(absl::StrCat(c.name, " returned ", r.retval, ", expected ",
                                            c.expect, " (forward path not taken)"));
  }
  return r.ns_per_packet;
}

// One run of the program itself must turn the frame into the forwarded
// frame: pod B's MACs, TTL - 1, checksum still valid.
absl::Status CheckRewrite(const char* name, int prog, Kind kind, const Topology& t,
                          const Frame& frame) {
  Frame out{};
  ASSIGN_OR_RETURN(RunResult r, TestRun(prog, kind, t, frame, 1, &out));
  (void)r;
  const Frame want = BuildUdpFrame(t.host_mac_b, t.pod_mac_b, t.ip_a, t.ip_b, kTtl - 1);
  if (out != want) {
    return absl::InternalError(absl::StrCat(name, ": output frame is not the forwarded frame"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SkelPtr<xvr_tc_pod>> LoadTcPod(const xvr_xdp_pod& xdp, const std::string& root) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = root.c_str());
  ASSIGN_OR_RETURN(SkelPtr<xvr_tc_pod> skel, OpenSkel<xvr_tc_pod>("tc_pod", &opts));
  // Share xdp_pod's maps by fd (libbpf 1.1 would refuse the pinned devmap:
  // the kernel adds BPF_F_RDONLY_PROG to its flags).
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, skel->obj) {
    bpf_map* same = bpf_object__find_map_by_name(xdp.obj, bpf_map__name(m));
    if (same && bpf_map__reuse_fd(m, bpf_map__fd(same)) != 0) {
      return ErrnoStatus(errno, absl::StrCat("re-use map ", bpf_map__name(m)));
    }
  }
  RETURN_IF_ERROR(LoadSkel(skel.get(), "tc_pod"));
  return skel;
}

absl::Status Run(const Options& o) {
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return ErrnoStatus(errno, "sched_setaffinity");
  }
  ASSIGN_OR_RETURN(Topology t, ReadTopology(o.names));
  const Frame frame = BuildUdpFrame(t.pod_mac_a, t.host_mac_a, t.ip_a, t.ip_b, kTtl);

  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = o.pin_root.c_str());
  ASSIGN_OR_RETURN(SkelPtr<xvr_xdp_pod> xdp, OpenSkel<xvr_xdp_pod>("xdp_pod", &opts));
  RETURN_IF_ERROR(LoadSkel(xdp.get(), "xdp_pod"));
  RETURN_IF_ERROR(SeedMaps(*xdp, t));
  ASSIGN_OR_RETURN(SkelPtr<xvr_tc_pod> tc, LoadTcPod(*xdp, o.pin_root));
  ASSIGN_OR_RETURN(SkelPtr<xvr_bench_harness> h, OpenSkel<xvr_bench_harness>("bench_harness"));
  std::memcpy(const_cast<__u64*>(h->rodata->frame_tmpl), frame.data(), kFrameLen);
  RETURN_IF_ERROR(LoadSkel(h.get(), "bench_harness"));

  const int xdp_pod = bpf_program__fd(xdp->progs.xdp_pod);
  const int tc_pod = bpf_program__fd(tc->progs.tc_pod);
  const int xdp_empty = bpf_program__fd(h->progs.bench_xdp_pass);
  const int tc_empty = bpf_program__fd(h->progs.bench_tc_ok);
  const int xdp_run = bpf_program__fd(h->progs.bench_xdp_run);
  const int tc_run = bpf_program__fd(h->progs.bench_tc_run);
  const int jmp_xdp = bpf_map__fd(h->maps.jmp_xdp);
  const int jmp_tc = bpf_map__fd(h->maps.jmp_tc);
  RETURN_IF_ERROR(CheckRewrite("xdp_pod", xdp_pod, Kind::kXdp, t, frame));
  RETURN_IF_ERROR(CheckRewrite("tc_pod", tc_pod, Kind::kTc, t, frame));

  const std::vector<Case> cases = {
      {"xdp: empty program alone", Kind::kXdp, xdp_empty, -1, -1, XDP_PASS},
      {"xdp: harness -> empty (baseline)", Kind::kXdp, xdp_run, xdp_empty, jmp_xdp, XDP_PASS},
      {"xdp: harness -> xdp_pod", Kind::kXdp, xdp_run, xdp_pod, jmp_xdp, XDP_REDIRECT},
      {"tc: empty program alone", Kind::kTc, tc_empty, -1, -1, TC_ACT_OK},
      {"tc: harness -> empty (baseline)", Kind::kTc, tc_run, tc_empty, jmp_tc, TC_ACT_OK},
      {"tc: harness -> tc_pod", Kind::kTc, tc_run, tc_pod, jmp_tc, TC_ACT_REDIRECT},
  };

  const int counters = bpf_map__fd(xdp->maps.xvr_counters);
  ASSIGN_OR_RETURN(uint64_t xdp_before,
                   ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  ASSIGN_OR_RETURN(uint64_t tc_before,
                   ReadCounter(counters, XVR_HOOK_TC_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  // Interleaved: every run measures every case once, so a noisy moment
  // hits baseline and program alike.
  std::map<std::string, std::vector<double>> ns;
  for (int r = 0; r < o.runs; ++r) {
    for (const Case& c : cases) {
      ASSIGN_OR_RETURN(double v, Measure(c, t, frame, o.packets));
      ns[c.name].push_back(v);
    }
  }
  ASSIGN_OR_RETURN(uint64_t xdp_after,
                   ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  ASSIGN_OR_RETURN(uint64_t tc_after,
                   ReadCounter(counters, XVR_HOOK_TC_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  const uint64_t want = static_cast<uint64_t>(o.runs) * o.packets;
  if (xdp_after - xdp_before != want || tc_after - tc_before != want) {
    return absl::InternalError(absl::StrCat(
        "forward counters moved by ", xdp_after - xdp_before, " (xdp_pod) and ",
        tc_after - tc_before, " (tc_pod), expected ", want, " each"));
  }

  std::cout << "case\truns_ns_per_packet\tmedian_ns\n";
  for (const Case& c : cases) {
    std::cout << c.name << "\t";
    for (size_t i = 0; i < ns[c.name].size(); ++i) {
      std::cout << (i ? "," : "") << absl::StrFormat("%.0f", ns[c.name][i]);
    }
    std::cout << absl::StrFormat("\t%.0f\n", Median(ns[c.name]));
  }
  std::cout << absl::StrFormat(
      "# counter check: xdp_pod redirect/ok +%d, tc_pod redirect/ok +%d (expected %d each)\n",
      xdp_after - xdp_before, tc_after - tc_before, want);

  if (o.naive) {
    ASSIGN_OR_RETURN(uint64_t fwd0,
                     ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
    ASSIGN_OR_RETURN(uint64_t mac0,
                     ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_DROP, XVR_R_SPOOFED_MAC));
    ASSIGN_OR_RETURN(RunResult r, TestRun(xdp_pod, Kind::kXdp, t, frame, o.packets, nullptr));
    ASSIGN_OR_RETURN(uint64_t fwd1,
                     ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
    ASSIGN_OR_RETURN(uint64_t mac1,
                     ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_DROP, XVR_R_SPOOFED_MAC));
    std::cout << absl::StrFormat(
        "# without the harness (xdp_pod alone, repeat=%d on one buffer): %.0f ns/packet, but "
        "redirect/ok +%d and drop/spoofed_source_mac +%d: that figure is the drop path\n",
        o.packets, r.ns_per_packet, fwd1 - fwd0, mac1 - mac0);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"ns/packet of xdp_pod and tc_pod (BPF_PROG_TEST_RUN) beside empty programs"};
  AddPodPairOptions(app, &o.pin_root, &o.names);
  app.add_option("--packets", o.packets, "repetitions per run")->capture_default_str();
  app.add_option("--runs", o.runs, "runs (the median is reported)")->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin to this CPU");
  app.add_flag("--naive", o.naive, "also run xdp_pod alone with repeat=--packets");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-progrun: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

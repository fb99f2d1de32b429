// xvr-bench-capcost: what `xvrctl capture` costs xdp_pod per packet,
// measured by the kernel (BPF_PROG_TEST_RUN's `duration`, repeat=--packets)
// through the same harness as xvr-bench-progrun (bench_harness.bpf.c
// restores the 64-byte pod A -> pod B frame and tail-calls xdp_pod):
//   capture off                      (xvr_cap_cfg[0].enabled = 0: the
//                                     default, one array lookup + branch)
//   capture on, filter not matching  (--ip of nobody: the filter runs,
//                                     nothing is copied)
//   capture on, every packet         (record built and put on the
//                                     xvr_capture ring, a reader thread on
//                                     --reader-cpu draining it)
// beside the harness running an empty program. Interleaved runs, median.
// The tool fails unless xdp_pod's redirect counter rose by runs x packets
// x cases, and reports records captured, read and lost.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "bench/tools/pod_pair.h"
#include "xvr/abi.h"
#include "xvr/skel/bench_harness.skel.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::bench {
namespace {

constexpr uint8_t kTtl = 64;

struct Options {
  std::string pin_root;
  PodPairNames names;
  uint32_t packets = 1'000'000;
  int runs = 5;
  int cpu = -1;
  int reader_cpu = -1;
};

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

enum class Mode { kEmpty, kOff, kNoMatch, kMatch };

struct Case {
  std::string name;
  Mode mode;
};

absl::Status SetCapture(int fd, Mode mode, uint32_t nobody) {
  xvr_capture_cfg c{};
  c.enabled = mode == Mode::kNoMatch || mode == Mode::kMatch;
  c.gen = 1;
  c.owner_pid = static_cast<uint32_t>(getpid());
  c.hook_mask = (1u << XVR_HOOK_MAX) - 1;
  c.verdict_mask = (1u << XVR_VERDICT_MAX) - 1;
  c.snaplen = XVR_CAP_SNAP_MAX;
  c.vxlan_port = htons(4789);
  if (mode == Mode::kNoMatch) c.ip = nobody;
  c.heartbeat_ns = MonotonicNs();
  const uint32_t zero = 0;
  return Update(fd, &zero, &c, XVR_MAP_CAP_CFG);
}

absl::StatusOr<xvr_capture_stats> CaptureStats(int fd) {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<xvr_capture_stats> v(static_cast<size_t>(ncpu));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, v.data()) != 0) {
    return ErrnoStatus(errno, "bpf_map_lookup_elem(" XVR_MAP_CAP_STATS ")");
  }
  xvr_capture_stats s{};
  for (const auto& x : v) {
    s.captured += x.captured;
    s.lost += x.lost;
  }
  return s;
}

absl::Status PinCpu(int cpu) {
  if (cpu < 0) return absl::OkStatus();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) return ErrnoStatus(errno, "sched_setaffinity");
  return absl::OkStatus();
}

absl::Status Run(const Options& o) {
  RETURN_IF_ERROR(PinCpu(o.cpu));
  ASSIGN_OR_RETURN(Topology t, ReadTopology(o.names));
  const Frame frame = BuildUdpFrame(t.pod_mac_a, t.host_mac_a, t.ip_a, t.ip_b, kTtl);
  ASSIGN_OR_RETURN(const uint32_t nobody, ParseIpv4("10.99.0.99"));

  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = o.pin_root.c_str());
  ASSIGN_OR_RETURN(SkelPtr<xvr_xdp_pod> xdp, OpenSkel<xvr_xdp_pod>("xdp_pod", &opts));
  RETURN_IF_ERROR(LoadSkel(xdp.get(), "xdp_pod"));
  RETURN_IF_ERROR(SeedMaps(*xdp, t));
  ASSIGN_OR_RETURN(SkelPtr<xvr_bench_harness> h, OpenSkel<xvr_bench_harness>("bench_harness"));
  std::memcpy(const_cast<__u64*>(h->rodata->frame_tmpl), frame.data(), kFrameLen);
  RETURN_IF_ERROR(LoadSkel(h.get(), "bench_harness"));
  const int xdp_pod = bpf_program__fd(xdp->progs.xdp_pod);
  const int xdp_empty = bpf_program__fd(h->progs.bench_xdp_pass);
  const int xdp_run = bpf_program__fd(h->progs.bench_xdp_run);
  const int jmp = bpf_map__fd(h->maps.jmp_xdp);
  const int cfg_fd = bpf_map__fd(xdp->maps.xvr_cap_cfg);
  const int stats_fd = bpf_map__fd(xdp->maps.xvr_cap_stats);

  // The reader: drains the ring as xvrctl does (ring_buffer__poll).
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> read{0};
  auto on_record = [](void* ctx, void*, size_t) -> int {
    static_cast<std::atomic<uint64_t>*>(ctx)->fetch_add(1, std::memory_order_relaxed);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(xdp->maps.xvr_capture), on_record, &read, nullptr);
  if (!rb) return ErrnoStatus(errno, "ring_buffer__new(" XVR_MAP_CAPTURE ")");
  std::thread reader([&] {
    (void)PinCpu(o.reader_cpu);
    while (!stop) ring_buffer__poll(rb, 50);
    ring_buffer__consume(rb);
  });

  const std::vector<Case> cases = {
      {"harness -> empty (baseline)", Mode::kEmpty},
      {"xdp_pod, capture off", Mode::kOff},
      {"xdp_pod, capture on, filter not matching", Mode::kNoMatch},
      {"xdp_pod, capture on, every packet captured", Mode::kMatch},
  };
  const int counters = bpf_map__fd(xdp->maps.xvr_counters);
  ASSIGN_OR_RETURN(uint64_t fwd0, ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  ASSIGN_OR_RETURN(xvr_capture_stats st0, CaptureStats(stats_fd));
  std::map<std::string, std::vector<double>> ns;
  absl::Status status;
  for (int r = 0; r < o.runs && status.ok(); ++r) {
    for (const Case& c : cases) {
      status = SetCapture(cfg_fd, c.mode, nobody);
      if (!status.ok()) break;
      const int target = c.mode == Mode::kEmpty ? xdp_empty : xdp_pod;
      const uint32_t zero = 0;
      status = Update(jmp, &zero, &target, "harness prog array");
      if (!status.ok()) break;
      absl::StatusOr<RunResult> res = TestRun(xdp_run, Kind::kXdp, t, frame, o.packets, nullptr);
      if (!res.ok()) {
        status = res.status();
        break;
      }
      const uint32_t want = c.mode == Mode::kEmpty ? XDP_PASS : XDP_REDIRECT;
      if (res->retval != want) {
        status = absl::InternalError(absl::StrCat(c.name, " returned ", res->retval, ", expected ", want));
        break;
      }
      ns[c.name].push_back(res->ns_per_packet);
    }
  }
  (void)SetCapture(cfg_fd, Mode::kOff, nobody);
  // Let the reader catch up, then stop it.
  ASSIGN_OR_RETURN(xvr_capture_stats st1, CaptureStats(stats_fd));
  for (int i = 0; i < 200 && read.load() < st1.captured - st0.captured; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  reader.join();
  ring_buffer__free(rb);
  RETURN_IF_ERROR(status);

  ASSIGN_OR_RETURN(uint64_t fwd1, ReadCounter(counters, XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK));
  const uint64_t want = static_cast<uint64_t>(o.runs) * o.packets * 3;
  if (fwd1 - fwd0 != want) {
    return absl::InternalError(absl::StrCat("xdp_pod redirect/ok moved by ", fwd1 - fwd0, ", expected ", want));
  }
  const uint64_t captured = st1.captured - st0.captured, lost = st1.lost - st0.lost;
  const uint64_t offered = static_cast<uint64_t>(o.runs) * o.packets;
  if (captured + lost != offered) {
    return absl::InternalError(absl::StrCat("captured ", captured, " + lost ", lost, " != ", offered,
                                            " packets of the matching case (the others must not capture)"));
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
      "# counter check: xdp_pod redirect/ok +%d (expected %d); matching case: %d packets, %d "
      "records captured, %d lost (ring full), %d read by the reader\n",
      fwd1 - fwd0, want, offered, captured, lost, read.load());
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"ns/packet of xdp_pod with xvrctl capture off, on not matching, on matching"};
  AddPodPairOptions(app, &o.pin_root, &o.names);
  app.add_option("--packets", o.packets, "repetitions per run")->capture_default_str();
  app.add_option("--runs", o.runs, "runs (the median is reported)")->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin the measuring thread to this CPU");
  app.add_option("--reader-cpu", o.reader_cpu, "pin the ring buffer reader to this CPU");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-capcost: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

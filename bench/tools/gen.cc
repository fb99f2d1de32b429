// xvr-bench-gen: a 64-byte UDP load generator made of BPF_PROG_TEST_RUN
// with BPF_F_TEST_XDP_LIVE_FRAMES (no pktgen module on these machines).
//
// Run it in the namespace of --dev. With --action tx the frames leave
// --dev as if a socket had sent them (on a veth: they arrive on its peer);
// with pass they are received by --dev's own stack as skbs; with drop only
// the generator runs (its ceiling). With --sink-pin the tool reads the
// receiver's counter (xvr-bench-sink) before and after and reports the
// delivered rate over the generator's wall-clock time.
#include <sched.h>

#include <chrono>
#include <iostream>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "xvr/skel/bench_gen.skel.h"

namespace xvr::bench {
namespace {

struct Options {
  std::string dev;
  std::string src_mac, dst_mac, src_ip, dst_ip;
  std::string action = "tx";
  double seconds = 5;
  uint32_t batch = 64;
  uint32_t chunk = 1u << 18;
  std::string sink_pin;
  int cpu = -1;
  std::string label;
};

absl::StatusOr<uint64_t> ReadSink(const std::string& pin) {
  UniqueFd fd(bpf_obj_get((pin + "/sink_count").c_str()));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", pin, "/sink_count)"));
  return SumPerCpuU64(fd.get(), 0);
}

absl::Status Run(const Options& o) {
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return ErrnoStatus(errno, "sched_setaffinity");
  }
  ASSIGN_OR_RETURN(uint32_t ifindex, IfIndex(o.dev));
  Mac src_mac;
  if (o.src_mac.empty()) {
    ASSIGN_OR_RETURN(src_mac, IfMac(o.dev));
  } else {
    ASSIGN_OR_RETURN(src_mac, ParseMac(o.src_mac));
  }
  ASSIGN_OR_RETURN(Mac dst_mac, ParseMac(o.dst_mac));
  ASSIGN_OR_RETURN(uint32_t src_ip, ParseIpv4(o.src_ip));
  ASSIGN_OR_RETURN(uint32_t dst_ip, ParseIpv4(o.dst_ip));
  const Frame frame = BuildUdpFrame(src_mac, dst_mac, src_ip, dst_ip, 64);

  ASSIGN_OR_RETURN(SkelPtr<xvr_bench_gen> skel, OpenSkel<xvr_bench_gen>("bench_gen"));
  std::memcpy(const_cast<__u64*>(skel->rodata->gen_frame), frame.data(), kFrameLen);
  skel->rodata->gen_action = o.action == "tx" ? XDP_TX : o.action == "pass" ? XDP_PASS : XDP_DROP;
  RETURN_IF_ERROR(LoadSkel(skel.get(), "bench_gen"));
  const int prog = bpf_program__fd(skel->progs.bench_gen);

  xdp_md ctx{};
  ctx.data_end = kFrameLen;
  ctx.ingress_ifindex = ifindex;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = kFrameLen,
              .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(o.chunk),
              .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = o.batch);

  uint64_t before = 0, after = 0;
  if (!o.sink_pin.empty()) {
    ASSIGN_OR_RETURN(before, ReadSink(o.sink_pin));
  }
  uint64_t generated = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < o.seconds) {
    if (bpf_prog_test_run_opts(prog, &opts) != 0) {
      return ErrnoStatus(errno, absl::StrCat("BPF_PROG_TEST_RUN live frames on ", o.dev));
    }
    generated += o.chunk;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (!o.sink_pin.empty()) {
    ASSIGN_OR_RETURN(after, ReadSink(o.sink_pin));
  }
  std::cout << absl::StrFormat(
      "{\"label\":\"%s\",\"dev\":\"%s\",\"action\":\"%s\",\"seconds\":%.3f,\"generated\":%u,"
      "\"gen_mpps\":%.3f",
      o.label, o.dev, o.action, elapsed, generated, generated / elapsed / 1e6);
  if (!o.sink_pin.empty()) {
    std::cout << absl::StrFormat(",\"delivered\":%u,\"mpps\":%.3f", after - before,
                                 (after - before) / elapsed / 1e6);
  }
  std::cout << "}\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"64-byte UDP load from BPF_PROG_TEST_RUN live frames"};
  app.add_option("--dev", o.dev, "device the frames come from (ingress ifindex)")->required();
  app.add_option("--src-mac", o.src_mac, "source MAC (default: --dev's)");
  app.add_option("--dst-mac", o.dst_mac, "destination MAC")->required();
  app.add_option("--src-ip", o.src_ip, "source IPv4")->required();
  app.add_option("--dst-ip", o.dst_ip, "destination IPv4")->required();
  app.add_option("--action", o.action, "verdict of the generator")
      ->check(CLI::IsMember({"tx", "pass", "drop"}))
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "duration")->capture_default_str();
  app.add_option("--batch", o.batch, "live-frames batch size")->capture_default_str();
  app.add_option("--chunk", o.chunk, "repetitions per BPF_PROG_TEST_RUN call")->capture_default_str();
  app.add_option("--sink-pin", o.sink_pin, "xvr-bench-sink pin directory to read");
  app.add_option("--cpu", o.cpu, "pin to this CPU");
  app.add_option("--label", o.label, "copied into the output");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-gen: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

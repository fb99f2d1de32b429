// xvr-bench-policycost: ns per packet of a lab's own xdp_pod (the program
// and maps the agent pinned, the policy maps as the agent compiled them from
// the lab's NetworkPolicies), measured by the kernel (BPF_PROG_TEST_RUN's
// `duration`), through the bench_svc harness (bench/bpf/bench_svc.bpf.c:
// restores the frame on every repetition, optionally with a new TCP source
// port each time, then tail-calls the program under test).
//
// Cases (client pod -> server pod on the same node, TCP to --port):
//   established   a data packet (ACK|PSH) of a connection whose flow pair
//                 exists: the tool first runs the handshake through the
//                 program (client SYN, server SYN-ACK, client ACK) and
//                 checks the forward entry is ESTABLISHED. Flow hit: one
//                 hash lookup, counters; no policy lookup.
//   first packet  a SYN from a new source port on every repetition: flow
//                 miss, policy verdict (policy.h: ipcache lookups, then the
//                 xvr_policy LPM lookups when the server is isolated), flow
//                 pair created. The pairs of those ports are deleted before
//                 the run, xvr_flow_stats CREATED must rise by exactly
//                 --miss-packets, and every pair is deleted after it.
//   denied        (with --denied) a SYN from a new source port on every
//                 repetition from a pod the policy does not allow: flow
//                 miss, policy verdict, XDP_DROP policy_denied_ingress,
//                 nothing created (checked on the counters).
//   harness       the harness tail-calling an empty program, fixed port and
//                 new port per repetition: subtract it.
// Every case checks its return code on every run and the xdp_pod counters
// (redirect/ok, drop/policy_denied_ingress) must rise by exactly the
// packets run. Run it in the lab's node netns (the ingress ifindex must be
// the pods' host veths).
#include <glob.h>
#include <sched.h>

#include <iostream>
#include <map>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "bench/tools/bench_util.h"
#include "bench/tools/tcp_frame.h"
#include "xvr/abi.h"
#include "xvr/skel/bench_svc.skel.h"

namespace xvr::bench {
namespace {

constexpr uint16_t kHitPort = 1000, kMissBase = 1024;  // established below, first packets above

struct Options {
  std::string bpfroot;
  std::string client, server, denied;  // HOSTIF,POD_MAC,IP
  uint16_t port = 8080;
  uint32_t packets = 1'000'000;
  uint32_t miss_packets = 50'000;
  int runs = 1;
  int cpu = -1;
  std::string label = "-";
};

struct Pod {
  std::string host_if;
  uint32_t ifindex = 0;
  Mac host_mac{}, pod_mac{};
  uint32_t ip = 0;  // network order
};

absl::StatusOr<Pod> ParsePod(const std::string& spec, const char* what) {
  std::vector<std::string> parts = absl::StrSplit(spec, ',');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat("--", what, ": want HOSTIF,POD_MAC,IP, got ", spec));
  }
  Pod p;
  p.host_if = parts[0];
  ASSIGN_OR_RETURN(p.ifindex, IfIndex(parts[0]));
  ASSIGN_OR_RETURN(p.host_mac, IfMac(parts[0]));
  ASSIGN_OR_RETURN(p.pod_mac, ParseMac(parts[1]));
  ASSIGN_OR_RETURN(p.ip, ParseIpv4(parts[2]));
  return p;
}

absl::StatusOr<UniqueFd> Pinned(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", path, ")"));
  return fd;
}

absl::StatusOr<std::string> ProgPin(const std::string& bpfroot) {
  const std::string pattern = bpfroot + "/progs/xdp_pod-*";
  glob_t g{};
  const int rc = glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> found;
  for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  if (found.size() != 1) {
    return absl::NotFoundError(absl::StrCat(pattern, ": ", found.size(), " pins, want exactly 1"));
  }
  return found[0];
}

struct Lab {
  UniqueFd prog, counters, flows, flow_stats;
};

absl::StatusOr<uint64_t> FlowStat(int fd, uint32_t slot) { return SumPerCpuU64(fd, slot); }

xvr_flow_key Key(uint32_t s, uint32_t d, uint16_t sport, uint16_t dport) {
  xvr_flow_key k{};
  k.saddr = s;
  k.daddr = d;
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = IPPROTO_TCP;
  return k;
}

// Deletes the pairs of client:[base, base+n) -> server:port. With `all`,
// every entry must exist (the run created them); else missing ones are fine.
absl::Status DeletePairs(int flows, const Pod& c, const Pod& s, uint16_t port, uint16_t base,
                         uint32_t n, bool all) {
  size_t missing = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint16_t sp = static_cast<uint16_t>(base + i);
    for (const xvr_flow_key& k : {Key(c.ip, s.ip, sp, port), Key(s.ip, c.ip, port, sp)}) {
      if (bpf_map_delete_elem(flows, &k) == 0) continue;
      if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_delete_elem(" XVR_MAP_FLOWS ")");
      ++missing;
    }
  }
  if (all && missing) {
    return absl::InternalError(absl::StrCat(missing, " of ", 2 * n,
                                            " flow entries the run should have created are missing"));
  }
  return absl::OkStatus();
}

struct Harness {
  SkelPtr<xvr_bench_svc> skel{nullptr, &xvr_bench_svc::destroy};
  int run = -1, empty = -1, jmp = -1;
};

absl::StatusOr<double> TestRun(const Harness& h, int target, const Frame& frame, uint32_t ifindex,
                               uint32_t repeat, uint16_t port_base, uint32_t port_span,
                               uint32_t expect) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(h.jmp, &zero, &target, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "bpf_map_update_elem(jmp_svc)");
  }
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
  if (bpf_prog_test_run_opts(h.run, &opts) != 0) return ErrnoStatus(errno, "BPF_PROG_TEST_RUN");
  if (opts.retval != expect) {
    return absl::InternalError(absl::StrCat("returned ", opts.retval, ", expected ", expect));
  }
  return static_cast<double>(opts.duration);
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
  ASSIGN_OR_RETURN(Pod client, ParsePod(o.client, "client"));
  ASSIGN_OR_RETURN(Pod server, ParsePod(o.server, "server"));
  std::optional<Pod> denied;
  if (!o.denied.empty()) {
    ASSIGN_OR_RETURN(denied, ParsePod(o.denied, "denied"));
  }
  Lab lab;
  ASSIGN_OR_RETURN(std::string prog_pin, ProgPin(o.bpfroot));
  ASSIGN_OR_RETURN(lab.prog, Pinned(prog_pin));
  const std::string maps = o.bpfroot + "/maps/";
  ASSIGN_OR_RETURN(lab.counters, Pinned(maps + XVR_MAP_COUNTERS));
  ASSIGN_OR_RETURN(lab.flows, Pinned(maps + XVR_MAP_FLOWS));
  ASSIGN_OR_RETURN(lab.flow_stats, Pinned(maps + XVR_MAP_FLOW_STATS));

  Harness h;
  ASSIGN_OR_RETURN(h.skel, OpenSkel<xvr_bench_svc>("bench_svc"));
  RETURN_IF_ERROR(LoadSkel(h.skel.get(), "bench_svc"));
  h.run = bpf_program__fd(h.skel->progs.bench_svc_run);
  h.empty = bpf_program__fd(h.skel->progs.bench_svc_pass);
  h.jmp = bpf_map__fd(h.skel->maps.jmp_svc);
  const int prog = lab.prog.get();

  auto frame = [&](const Pod& from, const Pod& to, uint16_t sport, uint16_t dport, uint8_t fl) {
    return BuildTcpFrame(from.pod_mac, from.host_mac, from.ip, to.ip, sport, dport, fl);
  };
  const Frame syn = frame(client, server, kHitPort, o.port, kTcpSyn);
  const Frame synack = frame(server, client, o.port, kHitPort, kTcpSyn | kTcpAck);
  const Frame ack = frame(client, server, kHitPort, o.port, kTcpAck);
  const Frame data = frame(client, server, kHitPort, o.port, kTcpAck | kTcpPsh);
  const Frame miss = frame(client, server, kMissBase, o.port, kTcpSyn);
  Frame deny{};
  if (denied) deny = frame(*denied, server, kMissBase, o.port, kTcpSyn);

  auto redirects = [&] {
    return ReadCounter(lab.counters.get(), XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK);
  };
  auto policy_drops = [&] {
    return ReadCounter(lab.counters.get(), XVR_HOOK_XDP_POD, XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS);
  };
  ASSIGN_OR_RETURN(const uint64_t redirect0, redirects());
  ASSIGN_OR_RETURN(const uint64_t drop0, policy_drops());
  uint64_t want_redirect = 0, want_drop = 0;

  std::map<std::string, std::vector<double>> ns;
  for (int r = 0; r < o.runs; ++r) {
    ASSIGN_OR_RETURN(double b1, TestRun(h, h.empty, data, client.ifindex, o.packets, 0, 0, XDP_PASS));
    ns["harness -> empty (fixed source port)"].push_back(b1);
    ASSIGN_OR_RETURN(double b2, TestRun(h, h.empty, miss, client.ifindex, o.miss_packets, kMissBase,
                                        o.miss_packets, XDP_PASS));
    ns["harness -> empty (new source port per packet)"].push_back(b2);

    // Established: a fresh handshake, then data packets on it.
    RETURN_IF_ERROR(DeletePairs(lab.flows.get(), client, server, o.port, kHitPort, 1, false));
    for (const auto& [f, pod] : {std::pair{&syn, &client}, {&synack, &server}, {&ack, &client}}) {
      auto s = TestRun(h, prog, *f, pod->ifindex, 1, 0, 0, XDP_REDIRECT);
      if (!s.ok()) return absl::InternalError(absl::StrCat("handshake: ", s.status().message()));
      ++want_redirect;
    }
    const xvr_flow_key fwd = Key(client.ip, server.ip, kHitPort, o.port);
    xvr_flow e{};
    if (bpf_map_lookup_elem(lab.flows.get(), &fwd, &e) != 0) {
      return ErrnoStatus(errno, "the handshake left no forward flow entry");
    }
    if (e.state != XVR_FLOW_S_ESTABLISHED) {
      return absl::InternalError(absl::StrCat("flow state after the handshake: ", e.state,
                                              ", expected ESTABLISHED (3)"));
    }
    auto est = TestRun(h, prog, data, client.ifindex, o.packets, 0, 0, XDP_REDIRECT);
    if (!est.ok()) return absl::InternalError(absl::StrCat("established: ", est.status().message()));
    ns["established (flow hit)"].push_back(*est);
    want_redirect += o.packets;
    if (bpf_map_lookup_elem(lab.flows.get(), &fwd, &e) != 0 || e.packets < o.packets) {
      return absl::InternalError("established: the forward flow entry did not count the packets");
    }

    // First packet: a new connection on every repetition.
    RETURN_IF_ERROR(DeletePairs(lab.flows.get(), client, server, o.port, kMissBase, o.miss_packets, false));
    ASSIGN_OR_RETURN(const uint64_t created0, FlowStat(lab.flow_stats.get(), XVR_FS_CREATED));
    auto first = TestRun(h, prog, miss, client.ifindex, o.miss_packets, kMissBase, o.miss_packets,
                         XDP_REDIRECT);
    if (!first.ok()) return absl::InternalError(absl::StrCat("first packet: ", first.status().message()));
    ns["first packet (flow miss, allowed)"].push_back(*first);
    want_redirect += o.miss_packets;
    ASSIGN_OR_RETURN(const uint64_t created1, FlowStat(lab.flow_stats.get(), XVR_FS_CREATED));
    if (created1 - created0 != o.miss_packets) {
      return absl::InternalError(absl::StrCat("first packet: xvr_flow_stats CREATED rose by ",
                                              created1 - created0, ", expected ", o.miss_packets));
    }
    RETURN_IF_ERROR(DeletePairs(lab.flows.get(), client, server, o.port, kMissBase, o.miss_packets, true));

    if (denied) {
      ASSIGN_OR_RETURN(const uint64_t c0, FlowStat(lab.flow_stats.get(), XVR_FS_CREATED));
      auto d = TestRun(h, prog, deny, denied->ifindex, o.miss_packets, kMissBase, o.miss_packets,
                       XDP_DROP);
      if (!d.ok()) return absl::InternalError(absl::StrCat("denied: ", d.status().message()));
      ns["first packet, denied by policy"].push_back(*d);
      want_drop += o.miss_packets;
      ASSIGN_OR_RETURN(const uint64_t c1, FlowStat(lab.flow_stats.get(), XVR_FS_CREATED));
      if (c1 != c0) return absl::InternalError(absl::StrCat("denied: ", c1 - c0, " flows created"));
    }
  }
  ASSIGN_OR_RETURN(const uint64_t redirect1, redirects());
  ASSIGN_OR_RETURN(const uint64_t drop1, policy_drops());
  if (redirect1 - redirect0 != want_redirect || drop1 - drop0 != want_drop) {
    return absl::InternalError(absl::StrCat(
        "xdp_pod counters: redirect/ok +", redirect1 - redirect0, " (expected +", want_redirect,
        "), drop/policy_denied_ingress +", drop1 - drop0, " (expected +", want_drop, ")"));
  }
  std::cout << "label\tcase\truns_ns_per_packet\tmedian_ns\n";
  for (const auto& [name, v] : ns) {
    std::cout << o.label << "\t" << name << "\t" << Runs(v) << absl::StrFormat("\t%.0f\n", Median(v));
  }
  std::cout << "# " << o.label << ": xdp_pod redirect/ok +" << want_redirect
            << ", drop/policy_denied_ingress +" << want_drop
            << " (exactly the packets run); first-packet runs created exactly " << o.miss_packets
            << " flow pairs each (xvr_flow_stats), all deleted after\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  xvr::bench::Options o;
  CLI::App app{"ns/packet of a lab's xdp_pod with its flows and NetworkPolicy maps (BPF_PROG_TEST_RUN)"};
  app.add_option("--bpfroot", o.bpfroot, "the lab node's bpfRoot (progs/, maps/)")->required();
  app.add_option("--client", o.client, "client pod: HOSTIF,POD_MAC,IP")->required();
  app.add_option("--server", o.server, "server pod: HOSTIF,POD_MAC,IP")->required();
  app.add_option("--denied", o.denied, "a pod the policy must deny: HOSTIF,POD_MAC,IP");
  app.add_option("--port", o.port, "server TCP port")->capture_default_str();
  app.add_option("--packets", o.packets, "repetitions per established run")->capture_default_str();
  app.add_option("--miss-packets", o.miss_packets, "repetitions per first-packet run (distinct ports)")
      ->capture_default_str();
  app.add_option("--runs", o.runs, "runs (the median is reported)")->capture_default_str();
  app.add_option("--cpu", o.cpu, "pin to this CPU");
  app.add_option("--label", o.label, "first column of the output");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  if (absl::Status s = xvr::bench::Run(o); !s.ok()) {
    std::cerr << "xvr-bench-policycost: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

// Table-driven tests of xdp_pod, tc_pod and tc_host_egress through
// BPF_PROG_RUN: every row of packet_cases.cc is one test per program, and
// checks the action, the output bytes, that exactly one counter moved (by one
// packet and the frame's bytes), and the drop event, if any.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/packet_cases.h"

namespace xvr::test {
namespace {

struct TableParam {
  Program program;
  PacketCase row;
};

void PrintTo(const TableParam& p, std::ostream* os) {
  *os << ProgramName(p.program) << "/" << p.row.name;
}

std::vector<TableParam> Rows(Program p) {
  std::vector<TableParam> out;
  if (p == Program::kTcHostEgress) {
    for (PacketCase& c : HostEgressCases()) out.push_back({p, std::move(c)});
    return out;
  }
  const unsigned mask = IsXdp(p) ? kOnXdp : kOnTc;
  for (PacketCase& c : PodCases())
    if (c.programs & mask) out.push_back({p, std::move(c)});
  return out;
}

std::string RowName(const ::testing::TestParamInfo<TableParam>& info) {
  return info.param.row.name;
}

std::string DescribeCounters(const std::map<uint32_t, CounterValue>& m) {
  std::string s;
  for (const auto& [idx, v] : m)
    s += "  " + CounterName(idx) + ": " + std::to_string(v.packets) + " packets, " +
         std::to_string(v.bytes) + " bytes\n";
  return s.empty() ? "  (none)\n" : s;
}

class PacketTableTest : public BpfProgramTest, public ::testing::WithParamInterface<TableParam> {
 protected:
  int IfindexFor(Ingress in) const {
    switch (in) {
      case Ingress::kPodA: return pod_a_.ifindex;
      case Ingress::kPodB: return pod_b_.ifindex;
      case Ingress::kNoEndpoint: return pod_a_.peer_ifindex;
      case Ingress::kHostLoop: return host_loop_.ifindex;
    }
    return 0;
  }
};

TEST_P(PacketTableTest, Row) {
  const Program prog = GetParam().program;
  const PacketCase& c = GetParam().row;
  ASSERT_NO_FATAL_FAILURE(LoadProgram(prog));
  ASSERT_NO_FATAL_FAILURE(SeedTopology());
  if (c.node != NodeState::kReady) {
    xvr_node_cfg cfg = c.node == NodeState::kMissing ? xvr_node_cfg{} : DefaultNodeConfig();
    cfg.flags &= ~XVR_CFG_F_READY;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
  }
  const int ifindex = IfindexFor(c.ingress);
  ASSERT_GT(ifindex, 0);

  RunResult r;
  const int err = TryRun(c.input, ifindex, 0, &r, IsXdp(prog) ? c.xdp_linear : 0);
  if (err == -EINVAL && !IsXdp(prog) && c.input.size() < kEthHdrLen + kIpv4HdrLen &&
      c.input[12] == 0x08 && c.input[13] == 0x00) {
    GTEST_SKIP() << "this kernel's BPF_PROG_RUN refuses TC runs of IPv4 frames shorter than an "
                    "IPv4 header (net/bpf/test_run.c); the xdp_pod row covers the program path";
  }
  ASSERT_EQ(err, 0) << "bpf_prog_test_run_opts(" << ProgramName(prog)
                    << "): " << std::strerror(-err);
  SCOPED_TRACE("input:\n" + HexDump(c.input));

  // The action.
  EXPECT_EQ(ActionName(prog, r.retval), ActionName(prog, ActionFor(prog, c.verdict)));

  // The bytes.
  switch (c.output) {
    case Output::kUnchanged:
      EXPECT_TRUE(r.out == c.input) << "packet modified\n" << DescribeMismatch(c.input, r.out);
      break;
    case Output::kExact:
      EXPECT_TRUE(r.out == c.expected) << DescribeMismatch(c.expected, r.out);
      if (r.out.size() >= kEthHdrLen + kIpv4HdrLen && r.out[12] == 0x08 && r.out[13] == 0x00) {
        EXPECT_TRUE(Ipv4HeaderChecksumOk(r.out)) << "IPv4 header checksum broken\n"
                                                 << HexDump(r.out);
      }
      break;
    case Output::kAny: break;
  }

  // Exactly one counter moved: this hook, this verdict, this reason.
  const uint32_t want_idx = xvr_counter_index(hook(), c.verdict, c.reason);
  const std::map<uint32_t, CounterValue> want = {
      {want_idx, CounterValue{1, static_cast<uint64_t>(c.input.size())}}};
  const std::map<uint32_t, CounterValue> got = NonZeroCounters();
  EXPECT_TRUE(got == want) << "counters\nwant:\n"
                           << DescribeCounters(want) << "got:\n"
                           << DescribeCounters(got);

  // A drop event for every drop while the node is configured, none else.
  const std::vector<xvr_drop_event> events = ConsumeEvents();
  if (c.verdict != XVR_VERDICT_DROP || c.node != NodeState::kReady) {
    EXPECT_TRUE(events.empty()) << events.size() << " unexpected event(s), first reason "
                                << (events.empty() ? "" : ReasonName(events[0].hdr.reason));
    return;
  }
  ASSERT_EQ(events.size(), 1u);
  const xvr_event_hdr& h = events[0].hdr;
  EXPECT_EQ(h.type, static_cast<uint32_t>(XVR_EVENT_DROP));
  EXPECT_EQ(h.hook, hook());
  EXPECT_EQ(h.verdict, XVR_VERDICT_DROP);
  EXPECT_EQ(ReasonName(h.reason), std::string(ReasonName(c.reason)));
  EXPECT_EQ(h.ifindex, static_cast<uint32_t>(ifindex));
  EXPECT_EQ(h.pkt_len, c.input.size());
  EXPECT_NE(h.ts_ns, 0u);
  const size_t cap = std::min<size_t>(c.input.size(), XVR_EVENT_SNAP_LEN);
  ASSERT_EQ(h.cap_len, cap);
  // The snapshot is the frame as the program left it.
  const Bytes& frame = c.output == Output::kAny ? r.out : c.input;
  const Bytes snap(events[0].data, events[0].data + cap);
  EXPECT_TRUE(snap == Truncate(frame, cap)) << DescribeMismatch(Truncate(frame, cap), snap);
}

INSTANTIATE_TEST_SUITE_P(XdpPod, PacketTableTest, ::testing::ValuesIn(Rows(Program::kXdpPod)),
                         RowName);
INSTANTIATE_TEST_SUITE_P(TcPod, PacketTableTest, ::testing::ValuesIn(Rows(Program::kTcPod)),
                         RowName);
INSTANTIATE_TEST_SUITE_P(TcHostEgress, PacketTableTest,
                         ::testing::ValuesIn(Rows(Program::kTcHostEgress)), RowName);

}  // namespace
}  // namespace xvr::test

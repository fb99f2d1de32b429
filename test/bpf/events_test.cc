// Drop events on the xvr_events ring buffer: contents, snapshot length and
// the per-CPU rate limit (the fixture pins the test to one CPU).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"

namespace xvr::test {
namespace {

class EventsTest : public BpfProgramTest, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    BpfProgramTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(GetParam()));
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
  }

  void SetEventsPerSec(uint32_t n) {
    xvr_node_cfg cfg = DefaultNodeConfig();
    cfg.events_per_sec = n;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
  }

  // A packet from pod A with somebody else's source address.
  static Bytes Spoofed(size_t payload = 16) {
    return PacketBuilder()
        .Eth(kPodA.mac, kPodA.host_mac)
        .IPv4(kUnusedPodIp, kPodB.ip)
        .UDP(1234, 5678)
        .Payload(Bytes(payload, 0x42))
        .Build();
  }

  void DropN(int n, const Bytes& pkt) {
    for (int i = 0; i < n; ++i) {
      RunResult r;
      ASSERT_NO_FATAL_FAILURE(Run(pkt, pod_a_.ifindex, &r));
      ASSERT_EQ(r.retval, ActionFor(program(), XVR_VERDICT_DROP));
    }
  }

  static xvr_ratelimit Sum(const std::vector<xvr_ratelimit>& v) {
    xvr_ratelimit s{};
    for (const xvr_ratelimit& r : v) {
      s.sent += r.sent;
      s.suppressed += r.suppressed;
    }
    return s;
  }
};

TEST_P(EventsTest, SpoofedSourceEventCarriesTheHeadOfThePacket) {
  const Bytes pkt = Spoofed(300);
  ASSERT_GT(pkt.size(), static_cast<size_t>(XVR_EVENT_SNAP_LEN));
  ASSERT_NO_FATAL_FAILURE(DropN(1, pkt));

  const std::vector<xvr_drop_event> ev = ConsumeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].hdr.type, static_cast<uint32_t>(XVR_EVENT_DROP));
  EXPECT_EQ(ev[0].hdr.hook, hook());
  EXPECT_EQ(ev[0].hdr.verdict, XVR_VERDICT_DROP);
  EXPECT_EQ(ev[0].hdr.reason, XVR_R_SPOOFED_IP);
  EXPECT_EQ(ev[0].hdr.ifindex, static_cast<uint32_t>(pod_a_.ifindex));
  EXPECT_EQ(ev[0].hdr.pkt_len, pkt.size());
  EXPECT_EQ(ev[0].hdr.cap_len, XVR_EVENT_SNAP_LEN);
  EXPECT_EQ(ev[0].hdr.cpu, static_cast<uint32_t>(sched_getcpu()));
  const Bytes snap(ev[0].data, ev[0].data + XVR_EVENT_SNAP_LEN);
  EXPECT_TRUE(snap == Truncate(pkt, XVR_EVENT_SNAP_LEN))
      << DescribeMismatch(Truncate(pkt, XVR_EVENT_SNAP_LEN), snap);
  // Consumed: nothing left.
  EXPECT_TRUE(ConsumeEvents().empty());
}

TEST_P(EventsTest, TwoEventsPerSecondLetTwoOfFiveDropsThrough) {
  ASSERT_NO_FATAL_FAILURE(SetEventsPerSec(2));
  ASSERT_NO_FATAL_FAILURE(DropN(5, Spoofed()));

  const std::vector<xvr_drop_event> ev = ConsumeEvents();
  EXPECT_EQ(ev.size(), 2u);
  for (const xvr_drop_event& e : ev) EXPECT_EQ(e.hdr.reason, XVR_R_SPOOFED_IP);
  const xvr_ratelimit rl = Sum(RateLimitState());
  EXPECT_EQ(rl.sent, 2u);
  EXPECT_EQ(rl.suppressed, 3u);
  // Every drop is counted, limited or not.
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_SPOOFED_IP).packets, 5u);
}

TEST_P(EventsTest, TheLimitResetsWithTheWindow) {
  ASSERT_NO_FATAL_FAILURE(SetEventsPerSec(2));
  ASSERT_NO_FATAL_FAILURE(DropN(3, Spoofed()));
  EXPECT_EQ(ConsumeEvents().size(), 2u);

  // Age the window by moving its start back to boot (the machine has been
  // up for more than a second), instead of sleeping.
  std::vector<xvr_ratelimit> rl = RateLimitState();
  for (xvr_ratelimit& r : rl) r.window_start_ns = 0;
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_RATELIMIT), &zero, rl.data(), BPF_ANY), 0)
      << std::strerror(errno);

  ASSERT_NO_FATAL_FAILURE(DropN(3, Spoofed()));
  EXPECT_EQ(ConsumeEvents().size(), 2u);
  EXPECT_EQ(Sum(RateLimitState()).sent, 2u);
}

TEST_P(EventsTest, ZeroEventsPerSecondMeansNoEvents) {
  ASSERT_NO_FATAL_FAILURE(SetEventsPerSec(0));
  ASSERT_NO_FATAL_FAILURE(DropN(3, Spoofed()));
  EXPECT_TRUE(ConsumeEvents().empty());
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_SPOOFED_IP).packets, 3u);
}

INSTANTIATE_TEST_SUITE_P(Pod, EventsTest, ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         [](const ::testing::TestParamInfo<Program>& i) {
                           return std::string(i.param == Program::kXdpPod ? "XdpPod" : "TcPod");
                         });

}  // namespace
}  // namespace xvr::test

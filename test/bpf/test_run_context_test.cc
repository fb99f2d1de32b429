// What BPF_PROG_RUN does with the context, which the fixture relies on:
//  - XDP: xdp_md.ingress_ifindex must name a device of the caller's netns
//    (else ENODEV), and is what the program reads;
//  - TC: __sk_buff.ifindex > 1 selects skb->dev the same way (else ENODEV),
//    and the program reads it back as skb->ifindex;
//  - both refuse frames shorter than an Ethernet header (EINVAL). Since
//    Linux 6.18, XDP takes ctx.data_end < data_size_in as the size of the
//    linear area (the rest becomes a fragment): that is how the xdp_pod
//    table shows the program fewer than 14 bytes;
//  - Linux 6.18 stable also refuses TC runs of an IPv4-ethertype frame
//    shorter than an IPv4 header (EINVAL); the table skips those TC rows.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"

namespace xvr::test {
namespace {

class TestRunContextTest : public BpfProgramTest, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    BpfProgramTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(GetParam()));
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
  }
};

Bytes SpoofedFromA() {
  return PacketBuilder()
      .Eth(kPodA.mac, kPodA.host_mac)
      .IPv4(kUnusedPodIp, kPodB.ip)
      .UDP(1, 2)
      .Build();
}

TEST_P(TestRunContextTest, TheProgramSeesTheContextIfindex) {
  // The drop event records ctx_ifindex(): the veth we passed in, for both
  // hooks, so __sk_buff.ifindex is honoured by the TC test run.
  for (int ifindex : {pod_a_.ifindex, pod_a_.peer_ifindex}) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Run(SpoofedFromA(), ifindex, &r));
    const std::vector<xvr_drop_event> ev = ConsumeEvents();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].hdr.ifindex, static_cast<uint32_t>(ifindex));
    EXPECT_EQ(ev[0].hdr.reason,
              ifindex == pod_a_.ifindex ? XVR_R_SPOOFED_IP : XVR_R_UNKNOWN_IFINDEX);
  }
}

TEST_P(TestRunContextTest, AnIfindexOutsideTheNetnsIsRefused) {
  RunResult r;
  EXPECT_EQ(TryRun(SpoofedFromA(), 0x7ffffff0, 0, &r), -ENODEV);
}

TEST_P(TestRunContextTest, LessThanAnEthernetHeaderIsRefused) {
  RunResult r;
  EXPECT_EQ(TryRun(Truncate(SpoofedFromA(), 13), pod_a_.ifindex, 0, &r), -EINVAL);
  EXPECT_TRUE(NonZeroCounters().empty());
}

INSTANTIATE_TEST_SUITE_P(Pod, TestRunContextTest,
                         ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         [](const ::testing::TestParamInfo<Program>& i) {
                           return std::string(i.param == Program::kXdpPod ? "XdpPod" : "TcPod");
                         });

}  // namespace
}  // namespace xvr::test

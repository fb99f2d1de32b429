// The counter map as the loaded programs see it: every (hook, verdict,
// reason) the ABI can name has a slot, and packets accumulate per slot.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"

namespace xvr::test {
namespace {

// XVR_COUNTER_SLOTS multiplies enumerators of different enums, which C++20
// deprecates (-Wdeprecated-enum-enum-conversion); the same product here.
constexpr uint32_t kCounterSlots =
    uint32_t{XVR_HOOK_MAX} * uint32_t{XVR_VERDICT_MAX} * uint32_t{XVR_REASON_MAX};

class CountersTest : public BpfProgramTest, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    BpfProgramTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(GetParam()));
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
  }
};

TEST_P(CountersTest, EveryHookVerdictReasonSlotIsInRange) {
  static constexpr uint32_t kHooks[] = {
#define XVR_T_HOOK(name, val, str) val,
      XVR_HOOKS(XVR_T_HOOK)
#undef XVR_T_HOOK
  };
  static constexpr uint32_t kVerdicts[] = {
#define XVR_T_VERDICT(name, val, str) val,
      XVR_VERDICTS(XVR_T_VERDICT)
#undef XVR_T_VERDICT
  };
  static constexpr uint32_t kReasons[] = {
#define XVR_T_REASON(name, val, str, help) val,
      XVR_REASONS(XVR_T_REASON)
#undef XVR_T_REASON
  };

  ASSERT_EQ(MapMaxEntries(XVR_MAP_COUNTERS), kCounterSlots);
  const int fd = MapFd(XVR_MAP_COUNTERS);
  std::vector<xvr_counter> per_cpu(libbpf_num_possible_cpus());

  std::set<uint32_t> seen;
  size_t slots = 0;
  for (uint32_t h : kHooks) {
    EXPECT_LT(h, static_cast<uint32_t>(XVR_HOOK_MAX));
    for (uint32_t v : kVerdicts) {
      EXPECT_LT(v, static_cast<uint32_t>(XVR_VERDICT_MAX));
      for (uint32_t r : kReasons) {
        // count() in metrics.h masks the reason with XVR_REASON_MAX - 1:
        // only reasons below the maximum keep their own slot.
        EXPECT_LT(r, static_cast<uint32_t>(XVR_REASON_MAX)) << ReasonName(r);
        EXPECT_EQ(r & (XVR_REASON_MAX - 1), r) << ReasonName(r);
        const uint32_t idx = xvr_counter_index(h, v, r);
        ASSERT_LT(idx, kCounterSlots) << CounterName(idx);
        EXPECT_TRUE(seen.insert(idx).second) << "slot shared: " << CounterName(idx);
        EXPECT_EQ(bpf_map_lookup_elem(fd, &idx, per_cpu.data()), 0)
            << CounterName(idx) << ": " << std::strerror(errno);
        ++slots;
      }
    }
  }
  EXPECT_EQ(slots, std::size(kHooks) * std::size(kVerdicts) * std::size(kReasons));
  EXPECT_EQ(*seen.rbegin(),
            xvr_counter_index(kHooks[std::size(kHooks) - 1], kVerdicts[std::size(kVerdicts) - 1],
                              kReasons[std::size(kReasons) - 1]));
  // One past the end is not a slot.
  const uint32_t past = kCounterSlots;
  EXPECT_NE(bpf_map_lookup_elem(fd, &past, per_cpu.data()), 0);
  // The fresh map starts at zero everywhere.
  EXPECT_TRUE(NonZeroCounters().empty());
}

TEST_P(CountersTest, PacketsAndBytesAccumulatePerSlot) {
  const Bytes ok = PacketBuilder()
                       .Eth(kPodA.mac, kPodA.host_mac)
                       .IPv4(kPodA.ip, kPodB.ip)
                       .UDP(1, 2)
                       .Payload(Bytes(100, 1))
                       .Build();
  const Bytes spoofed =
      PacketBuilder().Eth(kPodA.mac, kPodA.host_mac).IPv4(kUnusedPodIp, kPodB.ip).UDP(1, 2).Build();
  for (int i = 0; i < 3; ++i) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Run(ok, pod_a_.ifindex, &r));
  }
  for (int i = 0; i < 2; ++i) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Run(spoofed, pod_a_.ifindex, &r));
  }
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_REDIRECT, XVR_R_OK), (CounterValue{3, 3 * ok.size()}));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_SPOOFED_IP),
            (CounterValue{2, 2 * spoofed.size()}));
  EXPECT_EQ(NonZeroCounters().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Pod, CountersTest, ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         [](const ::testing::TestParamInfo<Program>& i) {
                           return std::string(i.param == Program::kXdpPod ? "XdpPod" : "TcPod");
                         });

}  // namespace
}  // namespace xvr::test

#include "agent/flows/flow_cfg.h"

#include <optional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace xvr {
namespace {

// xvr_flow_cfg as an in-memory one-slot array.
class FakeCfgMap : public MapOps<uint32_t, xvr_flow_cfg> {
 public:
  absl::Status Update(const uint32_t& key, const xvr_flow_cfg& value) override {
    if (key != 0) return absl::InvalidArgumentError("index out of range");
    if (fail) return absl::UnavailableError("fake: write refused");
    std::lock_guard<std::mutex> l(mu);
    slot = value;
    ++writes;
    return absl::OkStatus();
  }
  absl::StatusOr<xvr_flow_cfg> Lookup(const uint32_t& key) const override {
    std::lock_guard<std::mutex> l(mu);
    if (key != 0 || !slot) return absl::NotFoundError("fake: no entry");
    return *slot;
  }
  absl::Status Erase(const uint32_t&) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<uint32_t>> Keys() const override { return std::vector<uint32_t>{0}; }

  mutable std::mutex mu;
  std::optional<xvr_flow_cfg> slot;
  int writes = 0;
  bool fail = false;
};

TEST(FlowCfgWriter, EventsFlagAndGenerationKeepEachOther) {
  FakeCfgMap map;
  FlowCfgWriter w(&map);
  ASSERT_TRUE(w.SetEventsEnabled(true).ok());
  EXPECT_EQ(map.slot->flags, XVR_FLOWCFG_F_EVENTS);
  EXPECT_EQ(map.slot->policy_gen, 0u);
  EXPECT_EQ(w.BumpPolicyGen().value(), 1u);
  EXPECT_EQ(w.BumpPolicyGen().value(), 2u);
  EXPECT_EQ(map.slot->flags, XVR_FLOWCFG_F_EVENTS);  // kept
  ASSERT_TRUE(w.SetEventsEnabled(false).ok());
  EXPECT_EQ(map.slot->flags, 0u);
  EXPECT_EQ(map.slot->policy_gen, 2u);  // kept
  EXPECT_EQ(w.Read()->policy_gen, 2u);
}

TEST(FlowCfgWriter, ContinuesFromThePinnedGenerationAndSkipsZero) {
  FakeCfgMap map;
  map.slot = xvr_flow_cfg{41, XVR_FLOWCFG_F_EVENTS};  // left by the previous agent
  FlowCfgWriter w(&map);
  EXPECT_EQ(w.BumpPolicyGen().value(), 42u);
  map.slot->policy_gen = 0xffffffffu;
  EXPECT_EQ(w.BumpPolicyGen().value(), 1u);
  EXPECT_EQ(w.PolicyGenBumper()(), 2u);
  map.fail = true;
  EXPECT_FALSE(w.BumpPolicyGen().ok());
  EXPECT_EQ(w.PolicyGenBumper()(), 0u);  // logged, 0
}

TEST(FlowCfgWriter, ConcurrentWritersLoseNothing) {
  FakeCfgMap map;
  FlowCfgWriter w(&map);
  constexpr int kBumps = 2000;
  std::thread bumper([&] {
    for (int i = 0; i < kBumps; ++i) ASSERT_TRUE(w.BumpPolicyGen().ok());
  });
  std::thread toggler([&] {
    for (int i = 0; i < kBumps; ++i) ASSERT_TRUE(w.SetEventsEnabled(i % 2 == 0).ok());
  });
  bumper.join();
  toggler.join();
  EXPECT_EQ(map.slot->policy_gen, static_cast<uint32_t>(kBumps));
  EXPECT_EQ(map.slot->flags, 0u);  // the last toggle (odd i) cleared it
}

}  // namespace
}  // namespace xvr

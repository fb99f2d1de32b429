// The reason list is ABI: names unique, values unique and in range, and the
// operator docs' table says the same as the header.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "agent/dataplane/reasons.h"
#include "gtest/gtest.h"
#include "xvr/abi.h"

namespace xvr {
namespace {

TEST(Reasons, NamesAndValuesAreUniqueAndFitTheCounterSlots) {
  size_t n = 0;
  const uint32_t* all = AllReasons(&n);
  std::set<std::string> names;
  std::set<uint32_t> values;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_LT(all[i], static_cast<uint32_t>(XVR_REASON_MAX));
    EXPECT_TRUE(values.insert(all[i]).second) << all[i];
    EXPECT_TRUE(names.insert(ReasonName(all[i])).second) << ReasonName(all[i]);
    EXPECT_STRNE(ReasonHelp(all[i]), "");
  }
  EXPECT_STREQ(ReasonName(0), "ok");
}

TEST(Reasons, CounterIndexCoversEveryHookVerdictReasonWithoutOverlap) {
  std::set<uint32_t> seen;
  for (uint32_t h = 0; h < XVR_HOOK_MAX; ++h)
    for (uint32_t v = 0; v < XVR_VERDICT_MAX; ++v)
      for (uint32_t r = 0; r < XVR_REASON_MAX; ++r) {
        const uint32_t idx = xvr_counter_index(h, v, r);
        EXPECT_LT(idx, static_cast<uint32_t>(XVR_COUNTER_SLOTS));
        seen.insert(idx);
      }
  EXPECT_EQ(seen.size(), static_cast<size_t>(XVR_COUNTER_SLOTS));
}

TEST(Reasons, OperationsDocTableMatchesTheHeader) {
  std::ifstream f(XVR_SOURCE_DIR "/docs/OPERATIONS.md");
  ASSERT_TRUE(f) << "docs/OPERATIONS.md missing";
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  size_t n = 0;
  const uint32_t* all = AllReasons(&n);
  for (size_t i = 0; i < n; ++i) {
    const std::string row =
        "| `" + std::string(ReasonName(all[i])) + "` | " + std::to_string(all[i]) + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/OPERATIONS.md lacks row " << row;
  }
}

TEST(Hooks, NamesAreKnown) {
  for (uint32_t h = 0; h < XVR_HOOK_MAX; ++h) EXPECT_STRNE(HookName(h), "unknown");
  for (uint32_t v = 0; v < XVR_VERDICT_MAX; ++v) EXPECT_STRNE(VerdictName(v), "unknown");
}

}  // namespace
}  // namespace xvr

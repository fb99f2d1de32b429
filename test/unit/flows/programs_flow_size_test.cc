// spec.flows.tableSize reaches the kernel: every program is loaded with an
// xvr_flows of the configured size, and a pinned table of another size is
// replaced (programs reloaded) rather than failing the load. Loads the real
// programs into a private bpffs directory (root; skipped otherwise). No
// program is attached.
#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/dataplane/programs.h"
#include "gtest/gtest.h"
#include "xvr/abi.h"

namespace xvr {
namespace {

uint32_t PinnedMaxEntries(const std::string& pin) {
  const int fd = bpf_obj_get(pin.c_str());
  if (fd < 0) return 0;
  bpf_map_info info{};
  __u32 len = sizeof(info);
  const int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
  ::close(fd);
  return rc == 0 ? info.max_entries : 0;
}

uint32_t ProgId(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

TEST(ProgramsFlowTableSize, AppliedAtLoadAndAResizeReloads) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string root = absl::StrCat("/sys/fs/bpf/xvr-flows-test-", ::getpid());
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{root};
  const std::string pin = root + "/maps/" XVR_MAP_FLOWS;

  absl::StatusOr<ProgramSet> first = LoadOrReusePrograms(root, 4096);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->reused);
  EXPECT_EQ(PinnedMaxEntries(pin), 4096u);

  // Same size: everything re-used.
  absl::StatusOr<ProgramSet> again = LoadOrReusePrograms(root, 4096);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(ProgId(again->xdp_pod.get()), ProgId(first->xdp_pod.get()));

  // Another size: a new table, new programs holding it.
  absl::StatusOr<ProgramSet> resized = LoadOrReusePrograms(root, 2048);
  ASSERT_TRUE(resized.ok()) << resized.status();
  EXPECT_FALSE(resized->reused);
  EXPECT_EQ(PinnedMaxEntries(pin), 2048u);
  EXPECT_NE(ProgId(resized->xdp_pod.get()), ProgId(first->xdp_pod.get()));
  EXPECT_NE(ProgId(resized->tc_pod.get()), ProgId(first->tc_pod.get()));
}

}  // namespace
}  // namespace xvr

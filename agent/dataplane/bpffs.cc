#include "agent/dataplane/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/state/atomic_file.h"
#include "spdlog/spdlog.h"

namespace xvr {

static bool OnBpffs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

absl::Status EnsureBpffs(const std::string& root) {
  // Find the nearest existing ancestor and ask what it is.
  std::filesystem::path p(root);
  while (!p.empty() && !std::filesystem::exists(p)) p = p.parent_path();
  if (!OnBpffs(p.string())) {
    const std::string target =
        absl::StartsWith(root, "/sys/fs/bpf") ? std::string("/sys/fs/bpf") : root;
    RETURN_IF_ERROR(MakeDirs(target, 0700));
    if (!OnBpffs(target)) {
      if (::mount("bpf", target.c_str(), "bpf", 0, "mode=0700") != 0) {
        return ErrnoStatus(errno, absl::StrCat("mount bpffs on ", target));
      }
      spdlog::info("mounted bpffs on {}", target);
    }
  }
  return MakeDirs(root, 0700);
}

}  // namespace xvr

#pragma once

#include <string>

#include "absl/status/status.h"

namespace xvr {

// Makes sure `root` lies on a bpffs, mounting one when it does not (at
// /sys/fs/bpf when root is below it, else at root), and creates root.
absl::Status EnsureBpffs(const std::string& root);

}  // namespace xvr

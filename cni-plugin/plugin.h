// The plugin's entry point: CNI_COMMAND dispatch (as libcni's skel does it),
// result or error printed on `out`, exit code returned. Logs go through
// spdlog's default logger (main points it at stderr).
#pragma once

#include <ostream>

#include "absl/strings/string_view.h"
#include "cni-plugin/env.h"

namespace xvr::cni {

// 0 on success (result JSON printed for ADD and VERSION, nothing otherwise);
// 1 with {cniVersion, code, msg, details} printed on failure.
int Run(const EnvMap& env, absl::string_view stdin_data, std::ostream& out);

}  // namespace xvr::cni

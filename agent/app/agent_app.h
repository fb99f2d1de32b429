// The agent process wired together: config → data path → endpoints →
// API → netlink watcher. main() only parses flags and calls Run().
#pragma once

#include <string>

#include "absl/status/status.h"

namespace xvr {

struct AgentFlags {
  std::string config_path;
  std::string manifests_dir;  // Kubernetes objects (Nodes, …): issue 3 onwards
};

// Runs until SIGTERM/SIGINT. Programs stay attached and pinned on exit: pods
// keep forwarding while the agent is down or being upgraded.
absl::Status RunAgent(const AgentFlags& flags);

}  // namespace xvr

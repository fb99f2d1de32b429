// The agent process wired together: config → data path → endpoints →
// API → netlink watcher. main() only parses flags and calls Run().
#pragma once

#include <string>

#include "absl/status/status.h"

namespace xvr {

struct AgentFlags {
  std::string config_path;
  std::string manifests_dir;  // Kubernetes objects from a directory (labs, tests)
  std::string kubeconfig;     // Kubernetes objects from the API server (development)
  bool in_cluster = false;    // ... with the pod's service account (the DaemonSet)
};

// Runs until SIGTERM/SIGINT. Programs stay attached and pinned on exit: pods
// keep forwarding while the agent is down or being upgraded.
absl::Status RunAgent(const AgentFlags& flags);

}  // namespace xvr

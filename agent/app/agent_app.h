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
  // The VRouter to read from the API server (--kubeconfig/--in-cluster)
  // when none is named after this node; --config is the fallback.
  std::string vrouter_name = "default";
  // This node (env NODE_NAME in the DaemonSet); fills a shared VRouter's
  // spec.nodeName and names the Node whose spec.podCIDR it lacks.
  std::string node_name;
  // How often the VRouter is re-read from the API server.
  int vrouter_poll_seconds = 10;
};

// Runs until SIGTERM/SIGINT. Programs stay attached and pinned on exit: pods
// keep forwarding while the agent is down or being upgraded.
absl::Status RunAgent(const AgentFlags& flags);

}  // namespace xvr

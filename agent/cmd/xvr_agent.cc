// xvr-agent: the per-node DaemonSet process. Only wiring lives here.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "agent/app/agent_app.h"

int main(int argc, char** argv) {
  CLI::App app{"xvr-agent: XDP vRouter node agent"};
  xvr::AgentFlags flags;
  app.add_option("--config", flags.config_path,
                 "VRouter resource (YAML); with an API server, the fallback when no VRouter "
                 "object can be read")
      ->required();
  app.add_option("--vrouter", flags.vrouter_name,
                 "VRouter object to read when none is named after this node")
      ->capture_default_str();
  app.add_option("--vrouter-poll-interval", flags.vrouter_poll_seconds,
                 "seconds between re-reads of the VRouter object")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  auto* manifests =
      app.add_option("--manifests", flags.manifests_dir, "directory of Kubernetes objects");
  auto* kubeconfig = app.add_option("--kubeconfig", flags.kubeconfig,
                                    "watch the API server named by this kubeconfig");
  auto* in_cluster = app.add_flag("--in-cluster", flags.in_cluster,
                                  "watch the API server with the pod's service account");
  manifests->excludes(kubeconfig)->excludes(in_cluster);
  kubeconfig->excludes(in_cluster);
  CLI11_PARSE(app, argc, argv);
  // The DaemonSet passes its node through the downward API.
  if (const char* node = std::getenv("NODE_NAME"); node != nullptr) flags.node_name = node;
  absl::Status st = xvr::RunAgent(flags);
  if (!st.ok()) {
    std::cerr << "xvr-agent: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

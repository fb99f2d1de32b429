// xvr-agent: the per-node DaemonSet process. Only wiring lives here.
#include <iostream>

#include "CLI/CLI.hpp"
#include "agent/app/agent_app.h"

int main(int argc, char** argv) {
  CLI::App app{"xvr-agent: XDP vRouter node agent"};
  xvr::AgentFlags flags;
  app.add_option("--config", flags.config_path, "VRouter resource (YAML)")->required();
  auto* manifests =
      app.add_option("--manifests", flags.manifests_dir, "directory of Kubernetes objects");
  auto* kubeconfig = app.add_option("--kubeconfig", flags.kubeconfig,
                                    "watch the API server named by this kubeconfig");
  auto* in_cluster = app.add_flag("--in-cluster", flags.in_cluster,
                                  "watch the API server with the pod's service account");
  manifests->excludes(kubeconfig)->excludes(in_cluster);
  kubeconfig->excludes(in_cluster);
  CLI11_PARSE(app, argc, argv);
  absl::Status st = xvr::RunAgent(flags);
  if (!st.ok()) {
    std::cerr << "xvr-agent: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

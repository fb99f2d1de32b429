// `xvrctl install-cni`: puts the CNI plugin binary and the network
// configuration list on the node, the two steps a CNI DaemonSet does for the
// container runtime (docs/IMAGE.md).
//
//   bin   the initContainer: copies xvr-cni into the host's CNI bin dir.
//   conf  the agent container's postStart hook: waits until the agent is
//         ready, then writes the conflist into the host's net.d. The runtime
//         (containerd, CRI-O) reports the node's network ready as soon as a
//         valid conflist is there, so writing it before the agent can answer
//         would let the kubelet start pods whose ADD fails.
//
// Both replace their target atomically with WriteFileAtomic
// (agent/state/atomic_file.h): a temp file in the target directory
// ("<name>.tmp.XXXXXX", a name libcni's *.conf/*.conflist/*.json scan never
// picks up), chmod, fsync, rename over the target, fsync of the directory.
// Renaming also works while the old binary is being executed (no ETXTBSY).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace CLI {
class App;
}

namespace xvr {

enum class InstallResult { kInstalled, kUnchanged };

// Copies the binary `from` to `to_dir`/`name` (mode 0755); kUnchanged,
// touching nothing, when the target already has the same bytes and mode.
absl::StatusOr<InstallResult> InstallCniBinary(const std::string& from, const std::string& to_dir,
                                               const std::string& name = "xvr-cni");

// Polls GET /healthz on the agent's unix socket until it answers 200 (the
// agent answers 503 until it is ready). DeadlineExceeded, with the last
// answer or connection error, after `timeout`.
absl::Status WaitAgentReady(const std::string& socket, absl::Duration timeout,
                            absl::Duration poll = absl::Milliseconds(500));

// Reads `conflist`, checks it with ParseConfList (an invalid list is refused
// and nothing is written) and installs it as `to_dir`/basename(conflist)
// (mode 0644); kUnchanged when the same bytes are already there.
absl::StatusOr<InstallResult> InstallCniConfList(const std::string& conflist,
                                                 const std::string& to_dir);

struct InstallCniArgs {
  std::string from = "/usr/local/lib/xvr/xvr-cni";
  std::string bin_dir = "/host/opt/cni/bin";
  std::string conflist = "/etc/xvr/10-xvr.conflist";
  std::string conf_dir = "/host/etc/cni/net.d";
  double wait_ready_seconds = 300;
  std::string socket;  // empty: xvrctl's global --socket
};

// Adds `install-cni` with its `bin` and `conf` subcommands to `app`.
CLI::App* AddInstallCniCommand(CLI::App* app, InstallCniArgs* args);

// Runs whichever subcommand of `cmd` (AddInstallCniCommand's result) was
// parsed; prints what it did, or the error to stderr. The exit code.
int RunInstallCni(const CLI::App& cmd, const InstallCniArgs& args,
                  const std::string& default_socket);

}  // namespace xvr

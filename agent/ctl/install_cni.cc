#include "agent/ctl/install_cni.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/state/atomic_file.h"
#include "cni-plugin/conflist.h"
#include "httplib.h"

namespace xvr {
namespace {

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// True when `path` is a regular file holding exactly `contents` with `mode`.
bool SameFile(const std::string& path, const std::string& contents, unsigned mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((st.st_mode & 07777) != mode || static_cast<size_t>(st.st_size) != contents.size()) {
    return false;
  }
  absl::StatusOr<std::string> old = ReadFile(path);
  return old.ok() && *old == contents;
}

int Fail(const absl::Status& st) {
  std::cerr << "xvrctl install-cni: " << st.message() << "\n";
  return 1;
}

// One GET /healthz with timeouts bounded by `budget`: OK on 200.
absl::Status ProbeReady(const std::string& socket, absl::Duration budget) {
  httplib::Client cli(socket);
  cli.set_address_family(AF_UNIX);
  const auto usec = [](absl::Duration d) {
    return std::max<int64_t>(absl::ToInt64Microseconds(d), 1000);
  };
  const int64_t conn = usec(std::min(budget, absl::Seconds(2)));
  const int64_t read = usec(std::min(budget, absl::Seconds(5)));
  cli.set_connection_timeout(conn / 1000000, conn % 1000000);
  cli.set_read_timeout(read / 1000000, read % 1000000);
  httplib::Result res = cli.Get("/healthz");
  if (!res) {
    return absl::UnavailableError(absl::StrCat("cannot reach the agent at ", socket, ": ",
                                               httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("agent answered ", res->status, " on /healthz: ", res->body));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<InstallResult> InstallCniBinary(const std::string& from, const std::string& to_dir,
                                               const std::string& name) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(from));
  if (bytes.empty()) return absl::FailedPreconditionError(absl::StrCat(from, " is empty"));
  RETURN_IF_ERROR(MakeDirs(to_dir, 0755));
  if (SameFile(absl::StrCat(to_dir, "/", name), bytes, 0755)) return InstallResult::kUnchanged;
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(to_dir, "/", name), bytes, 0755));
  return InstallResult::kInstalled;
}

absl::Status WaitAgentReady(const std::string& socket, absl::Duration timeout,
                            absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    last = ProbeReady(socket, std::max(left, absl::Milliseconds(1)));
    if (last.ok()) return last;
    if (absl::Now() + poll > deadline) break;
    absl::SleepFor(poll);
  }
  return absl::DeadlineExceededError(absl::StrCat("agent not ready after ",
                                                  absl::FormatDuration(timeout), ": ",
                                                  last.message()));
}

absl::StatusOr<InstallResult> InstallCniConfList(const std::string& conflist,
                                                 const std::string& to_dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(conflist));
  absl::StatusOr<cni::ConfList> parsed = cni::ParseConfList(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("refusing to install ", conflist, ": ",
                                                   parsed.status().message()));
  }
  RETURN_IF_ERROR(MakeDirs(to_dir, 0755));
  const std::string name = BaseName(conflist);
  if (SameFile(absl::StrCat(to_dir, "/", name), text, 0644)) return InstallResult::kUnchanged;
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(to_dir, "/", name), text, 0644));
  return InstallResult::kInstalled;
}

CLI::App* AddInstallCniCommand(CLI::App* app, InstallCniArgs* a) {
  CLI::App* cmd = app->add_subcommand(
      "install-cni", "install the CNI plugin binary or the network config on the node");
  CLI::App* bin = cmd->add_subcommand("bin", "copy xvr-cni into the CNI bin dir (initContainer)");
  bin->add_option("--from", a->from, "the plugin binary to install")->capture_default_str();
  bin->add_option("--to", a->bin_dir, "the host's CNI bin dir")->capture_default_str();
  CLI::App* conf = cmd->add_subcommand(
      "conf", "wait for the agent, then install the conflist (postStart hook)");
  conf->add_option("--conflist", a->conflist, "the conflist to install")
      ->capture_default_str();
  conf->add_option("--to", a->conf_dir, "the host's CNI config dir")->capture_default_str();
  conf->add_option("--wait-ready", a->wait_ready_seconds,
                   "seconds to wait for the agent's /healthz (0: do not wait)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  conf->add_option("--socket", a->socket, "agent API socket (default: the global --socket)");
  cmd->require_subcommand(1);
  return cmd;
}

int RunInstallCni(const CLI::App& cmd, const InstallCniArgs& a,
                  const std::string& default_socket) {
  if (cmd.got_subcommand("bin")) {
    absl::StatusOr<InstallResult> r = InstallCniBinary(a.from, a.bin_dir);
    if (!r.ok()) return Fail(r.status());
    std::cout << (*r == InstallResult::kInstalled ? "installed " : "unchanged ") << a.bin_dir
              << "/xvr-cni\n";
    return 0;
  }
  const std::string socket = a.socket.empty() ? default_socket : a.socket;
  if (a.wait_ready_seconds > 0) {
    std::cout << "waiting up to " << a.wait_ready_seconds << "s for the agent at " << socket
              << "\n"
              << std::flush;
    absl::Status st = WaitAgentReady(socket, absl::Seconds(a.wait_ready_seconds));
    if (!st.ok()) return Fail(st);
  }
  absl::StatusOr<InstallResult> r = InstallCniConfList(a.conflist, a.conf_dir);
  if (!r.ok()) return Fail(r.status());
  std::cout << (*r == InstallResult::kInstalled ? "installed " : "unchanged ") << a.conf_dir
            << "/" << BaseName(a.conflist) << "\n";
  return 0;
}

}  // namespace xvr

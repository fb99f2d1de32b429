// The CNI_* environment (SPEC.md §2 "Parameters"), parsed and validated the
// way libcni's skel does it. Every failure here is code 4.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace xvr::cni {

using EnvMap = std::map<std::string, std::string>;

// Builds an EnvMap from a NULL-terminated "K=V" array (environ).
EnvMap EnvFromEnviron(char** envp);

enum class Command { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

absl::StatusOr<Command> ParseCommand(absl::string_view s);
const char* CommandName(Command c);

// CNI_ARGS: "K=V;K=V". Only the K8S_* keys are read; other keys are kept in
// `all` and otherwise ignored, whether or not IgnoreUnknown is set.
struct CniArgs {
  std::string pod_namespace;  // K8S_POD_NAMESPACE
  std::string pod_name;       // K8S_POD_NAME
  std::string pod_uid;        // K8S_POD_UID
  std::string infra_container_id;  // K8S_POD_INFRA_CONTAINER_ID
  std::map<std::string, std::string> all;
};
absl::StatusOr<CniArgs> ParseCniArgs(absl::string_view s);

struct CmdEnv {
  Command command = Command::kVersion;
  std::string container_id;  // ADD, DEL, CHECK
  std::string netns;         // required for ADD and CHECK, optional for DEL
  std::string ifname;        // ADD, DEL, CHECK
  std::string path;          // accepted, never used
  CniArgs args;
};
absl::StatusOr<CmdEnv> ParseEnv(const EnvMap& env);

// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$` (container IDs and network names).
bool IsValidCniName(absl::string_view s);
// Linux dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or space.
bool IsValidIfname(absl::string_view s);

}  // namespace xvr::cni

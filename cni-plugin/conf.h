// The network configuration on stdin (SPEC.md §1; §3 "Deriving request
// configuration"), checked in skel's order: JSON (code 6), name (code 7),
// cniVersion (code 1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace xvr::cni {

inline constexpr char kDefaultAgentSocket[] = "/run/xvr/agent.sock";

struct Attachment {
  std::string container_id;
  std::string ifname;
  auto operator<=>(const Attachment&) const = default;
};

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string agent_socket = kDefaultAgentSocket;
  std::string log_level;                   // empty: keep the default
  std::optional<nlohmann::json> prev_result;
  // GC: cni.dev/valid-attachments, or the spec-v1.1.0 tag's cni.dev/attachments.
  std::optional<std::vector<Attachment>> valid_attachments;
};

absl::StatusOr<NetConf> ParseNetConf(absl::string_view stdin_data);

// The "cniVersion" string of `stdin_data` if it has one, else "" (for the
// error object and VERSION, which must not fail on a bad config).
std::string PeekCniVersion(absl::string_view stdin_data);

}  // namespace xvr::cni

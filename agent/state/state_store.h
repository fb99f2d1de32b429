// The node's persisted state: endpoints and IPAM in one JSON file under
// spec.stateDir, replaced atomically on every change. Losing or misreading
// it would hand out addresses that running pods still use, so a file that
// cannot be read is an error, never a fresh start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/state/endpoint_record.h"

namespace xvr {

struct NodeState {
  uint32_t next_id = 1;  // next endpoint id to hand out
  std::vector<EndpointRecord> endpoints;
  nlohmann::json ipam;  // Ipam::ToJson(); null if never written

  bool operator==(const NodeState&) const = default;
};

class StateStore {
 public:
  static constexpr int kVersion = 1;
  static constexpr char kFileName[] = "state.json";

  explicit StateStore(std::string dir);

  // The stored state, or nullopt on a fresh node (no file). A file that is
  // unreadable, not JSON or not the expected schema is DataLoss naming the
  // path; a copy is kept beside it as state.json.corrupt-<UTC time> (once
  // per distinct content) and the file itself is left in place, so the
  // agent keeps refusing to start until an operator decides. Leftover temp
  // files from an interrupted Save are removed.
  absl::StatusOr<std::optional<NodeState>> Load();

  // Creates the directory (0700) if needed and replaces the file atomically.
  absl::Status Save(const NodeState& state);

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

 private:
  absl::Status KeepCorruptCopy(const std::string& contents, std::string* copy_path);
  void RemoveStaleTemps();

  std::string dir_;
  std::string path_;
};

// Exposed for tests and xvrctl: the file format without the I/O.
std::string SerializeNodeState(const NodeState& state);
absl::StatusOr<NodeState> ParseNodeState(const std::string& text);

}  // namespace xvr

#include "agent/state/state_store.h"

#include <filesystem>
#include <limits>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/common/status_macros.h"
#include "agent/state/atomic_file.h"
#include "spdlog/spdlog.h"

namespace xvr {

namespace fs = std::filesystem;

StateStore::StateStore(std::string dir)
    : dir_(std::move(dir)), path_(absl::StrCat(dir_, "/", kFileName)) {}

std::string SerializeNodeState(const NodeState& state) {
  nlohmann::json eps = nlohmann::json::array();
  for (const EndpointRecord& ep : state.endpoints) eps.push_back(EndpointToJson(ep));
  const nlohmann::json j = {{"version", StateStore::kVersion},
                            {"nextId", state.next_id},
                            {"ipam", state.ipam},
                            {"endpoints", std::move(eps)}};
  return j.dump(2) + "\n";
}

absl::StatusOr<NodeState> ParseNodeState(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("top level is not an object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer()) {
    return absl::InvalidArgumentError("version: missing or not an integer");
  }
  if (version->get<int64_t>() != StateStore::kVersion) {
    return absl::InvalidArgumentError(absl::StrCat("version: ", version->get<int64_t>(),
                                                   " is not supported (expected ",
                                                   StateStore::kVersion, ")"));
  }
  NodeState state;
  auto next_id = j.find("nextId");
  if (next_id == j.end() || !next_id->is_number_unsigned() ||
      next_id->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("nextId: missing or not a 32-bit unsigned integer");
  }
  state.next_id = static_cast<uint32_t>(next_id->get<uint64_t>());
  auto ipam = j.find("ipam");
  if (ipam == j.end() || !(ipam->is_object() || ipam->is_null())) {
    return absl::InvalidArgumentError("ipam: missing or not an object");
  }
  state.ipam = *ipam;
  auto eps = j.find("endpoints");
  if (eps == j.end() || !eps->is_array()) {
    return absl::InvalidArgumentError("endpoints: missing or not an array");
  }
  for (size_t i = 0; i < eps->size(); ++i) {
    absl::StatusOr<EndpointRecord> ep = EndpointFromJson((*eps)[i]);
    if (!ep.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("endpoints[", i, "].", ep.status().message()));
    }
    state.endpoints.push_back(*std::move(ep));
  }
  return state;
}

void StateStore::RemoveStaleTemps() {
  std::error_code ec;
  const std::string prefix = absl::StrCat(kFileName, ".tmp.");
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, prefix)) {
      std::error_code rm_ec;
      fs::remove(e.path(), rm_ec);
      spdlog::info("state: removed {} left by an interrupted write", e.path().string());
    }
  }
}

absl::Status StateStore::KeepCorruptCopy(const std::string& contents, std::string* copy_path) {
  // A crash-looping agent must not fill the disk with identical copies.
  std::error_code ec;
  const std::string prefix = absl::StrCat(kFileName, ".corrupt-");
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    if (!absl::StartsWith(e.path().filename().string(), prefix)) continue;
    absl::StatusOr<std::string> existing = ReadFile(e.path().string());
    if (existing.ok() && *existing == contents) {
      *copy_path = e.path().string();
      return absl::OkStatus();
    }
  }
  *copy_path = absl::StrCat(
      path_, ".corrupt-", absl::FormatTime("%Y%m%dT%H%M%E3SZ", absl::Now(), absl::UTCTimeZone()));
  return WriteFileAtomic(*copy_path, contents);
}

absl::StatusOr<std::optional<NodeState>> StateStore::Load() {
  RemoveStaleTemps();
  absl::StatusOr<std::string> text = ReadFile(path_);
  if (absl::IsNotFound(text.status())) return std::optional<NodeState>();
  if (!text.ok()) return text.status();

  absl::StatusOr<NodeState> state = ParseNodeState(*text);
  if (state.ok()) return std::optional<NodeState>(*std::move(state));

  std::string copy_path;
  const absl::Status copied = KeepCorruptCopy(*text, &copy_path);
  const std::string kept = copied.ok() ? absl::StrCat("a copy is kept at ", copy_path)
                                       : absl::StrCat("keeping a copy failed: ", copied.message());
  return absl::DataLossError(absl::StrCat(
      "state file ", path_, " is corrupt (", state.status().message(), "); ", kept,
      ". Refusing to start: pods on this node may hold addresses it records. Repair the file, "
      "or move it away to start with no endpoints (existing pods then need re-creating)"));
}

absl::Status StateStore::Save(const NodeState& state) {
  RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  return WriteFileAtomic(path_, SerializeNodeState(state));
}

}  // namespace xvr

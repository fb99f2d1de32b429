// CNI spec versions: the supported set, ordering, and the VERSION answer.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace xvr::cni {

// The newest version; also what VERSION answers when stdin names none.
inline constexpr char kLatestVersion[] = "1.1.0";

// Oldest first.
const std::vector<std::string>& SupportedVersions();
bool IsSupportedVersion(absl::string_view v);

// <0, 0, >0 like strcmp, comparing "major.minor.patch" numerically; a part
// that does not parse counts as 0.
int CompareVersions(absl::string_view a, absl::string_view b);

// Code 1 unless `config_version` >= `min`, naming `command`.
absl::Status RequireVersion(absl::string_view config_version, absl::string_view min,
                            absl::string_view command);

// {"cniVersion": input or kLatestVersion, "supportedVersions": [...]}.
nlohmann::json VersionJson(absl::string_view input_version);

}  // namespace xvr::cni

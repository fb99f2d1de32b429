#include "cni-plugin/version.h"

#include <algorithm>
#include <array>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cni-plugin/errors.h"

namespace xvr::cni {
namespace {

std::array<int, 3> Parts(absl::string_view v) {
  std::array<int, 3> out{};
  int i = 0;
  for (absl::string_view p : absl::StrSplit(v, '.')) {
    if (i == 3) break;
    if (!absl::SimpleAtoi(p, &out[i])) out[i] = 0;
    ++i;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& SupportedVersions() {
  static const std::vector<std::string> kVersions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0",
                                                     kLatestVersion};
  return kVersions;
}

bool IsSupportedVersion(absl::string_view v) {
  const auto& all = SupportedVersions();
  return std::find(all.begin(), all.end(), v) != all.end();
}

int CompareVersions(absl::string_view a, absl::string_view b) {
  const auto pa = Parts(a);
  const auto pb = Parts(b);
  return pa < pb ? -1 : (pa == pb ? 0 : 1);
}

absl::Status RequireVersion(absl::string_view config_version, absl::string_view min,
                            absl::string_view command) {
  if (CompareVersions(config_version, min) >= 0) return absl::OkStatus();
  return CniError(Code::kIncompatibleVersion,
                  absl::StrCat("config version does not allow ", command),
                  absl::StrCat(command, " needs cniVersion >= ", min, ", config has ",
                               config_version));
}

nlohmann::json VersionJson(absl::string_view input_version) {
  return nlohmann::json{
      {"cniVersion", input_version.empty() ? std::string(kLatestVersion)
                                           : std::string(input_version)},
      {"supportedVersions", SupportedVersions()}};
}

}  // namespace xvr::cni

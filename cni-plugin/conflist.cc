#include "cni-plugin/conflist.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/version.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

constexpr char kPrefix[] = "error parsing configuration list: ";

absl::Status ListError(Code code, absl::string_view msg) {
  return CniError(code, absl::StrCat(kPrefix, msg));
}

// "N.N.N" with decimal parts, what libcni's version.GreaterThan accepts.
bool IsVersionString(absl::string_view v) {
  std::vector<absl::string_view> parts = absl::StrSplit(v, '.');
  if (parts.size() != 3) return false;
  for (absl::string_view p : parts) {
    int n = 0;
    if (p.empty() || !absl::ascii_isdigit(p[0]) || !absl::SimpleAtoi(p, &n) || n < 0) {
      return false;
    }
  }
  return true;
}

// libcni's readBool: a JSON bool, or the string "true"/"false" in any case.
absl::StatusOr<bool> ReadBool(const json& list, const char* key) {
  auto it = list.find(key);
  if (it == list.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (!it->is_string()) {
    return ListError(Code::kDecode, absl::StrCat("invalid type ", it->type_name(), " for ", key));
  }
  const std::string s = absl::AsciiStrToLower(it->get<std::string>());
  if (s == "true") return true;
  if (s == "false") return false;
  return ListError(Code::kInvalidConfig,
                   absl::StrCat("invalid value \"", s, "\" for ", key));
}

// The version the list runs at: with "cniVersions", the highest of those
// entries and "cniVersion" not newer than this plugin's spec (libcni
// ConfListFromBytes ignores newer ones rather than failing on them).
absl::Status ResolveVersion(const json& list, ConfList* out) {
  if (auto it = list.find("cniVersion"); it != list.end()) {
    if (!it->is_string()) {
      return ListError(Code::kDecode,
                       absl::StrCat("invalid cniVersion type ", it->type_name()));
    }
    out->cni_version = it->get<std::string>();
  }
  auto it = list.find("cniVersions");
  if (it == list.end()) return absl::OkStatus();
  if (!it->is_array()) {
    return ListError(Code::kDecode,
                     absl::StrCat("invalid type for cniVersions: ", it->type_name()));
  }
  std::optional<std::string> best;
  auto consider = [&](const std::string& v) {
    if (CompareVersions(v, kLatestVersion) > 0) return;
    if (!best || CompareVersions(v, *best) > 0) best = v;
  };
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string()) {
      return ListError(Code::kDecode, absl::StrCat("invalid type for cniVersions index ", i,
                                                   ": ", v.type_name()));
    }
    const std::string s = v.get<std::string>();
    if (!IsVersionString(s)) {
      return ListError(Code::kInvalidConfig,
                       absl::StrCat("invalid cniVersions entry ", s, " at index ", i));
    }
    out->cni_versions.push_back(s);
    consider(s);
  }
  if (!out->cni_version.empty()) {
    if (!IsVersionString(out->cni_version)) {
      return ListError(Code::kInvalidConfig,
                       absl::StrCat("invalid cniVersion ", out->cni_version));
    }
    consider(out->cni_version);
  }
  if (best) out->cni_version = *best;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConfList> ParseConfList(absl::string_view text) {
  const json list = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (list.is_discarded()) return ListError(Code::kDecode, "invalid JSON");
  if (!list.is_object()) {
    return ListError(Code::kDecode, absl::StrCat("must be a JSON object, got ", list.type_name()));
  }

  ConfList out;
  auto name = list.find("name");
  if (name == list.end()) return ListError(Code::kInvalidConfig, "no name");
  if (!name->is_string()) {
    return ListError(Code::kDecode, absl::StrCat("invalid name type ", name->type_name()));
  }
  out.name = name->get<std::string>();
  RETURN_IF_ERROR(ResolveVersion(list, &out));
  ASSIGN_OR_RETURN(out.disable_check, ReadBool(list, "disableCheck"));
  ASSIGN_OR_RETURN(out.disable_gc, ReadBool(list, "disableGC"));

  auto plugins = list.find("plugins");
  if (plugins == list.end()) return ListError(Code::kInvalidConfig, "no 'plugins' key");
  if (!plugins->is_array()) {
    return ListError(Code::kDecode,
                     absl::StrCat("invalid 'plugins' type ", plugins->type_name()));
  }
  if (plugins->empty()) return ListError(Code::kInvalidConfig, "no plugins in list");

  for (size_t i = 0; i < plugins->size(); ++i) {
    const std::string where = absl::StrCat("plugins[", i, "]");
    json conf = (*plugins)[i];
    if (!conf.is_object()) {
      return ListError(Code::kDecode, absl::StrCat(where, ": must be a JSON object, got ",
                                                   conf.type_name()));
    }
    // libcni ConfFromBytes: every plugin needs a type (the binary to run).
    auto type = conf.find("type");
    if (type == conf.end() || !type->is_string() || type->get<std::string>().empty()) {
      return ListError(Code::kInvalidConfig, absl::StrCat(where, ": missing 'type'"));
    }
    // What libcni's buildOneConfig injects before exec'ing the plugin; the
    // list's values replace the plugin's own.
    conf["name"] = out.name;
    conf["cniVersion"] = out.cni_version;
    absl::StatusOr<NetConf> nc = ParseNetConf(conf.dump());
    if (!nc.ok()) return WithContext(nc.status(), absl::StrCat(kPrefix, where));
    out.plugins.push_back(*std::move(nc));
  }
  return out;
}

}  // namespace xvr::cni

#include "cni-plugin/conf.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/env.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/version.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

json ParseJson(absl::string_view s) {
  return json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
}

// An optional string member; any other type is code 7.
absl::Status OptString(const json& conf, const char* key, std::string* dst) {
  auto it = conf.find(key);
  if (it == conf.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return CniError(Code::kInvalidConfig,
                    absl::StrCat("\"", key, "\" must be a string, got ", it->type_name()));
  }
  *dst = it->get<std::string>();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Attachment>> ParseAttachments(const json& list, const char* key) {
  if (!list.is_array()) {
    return CniError(Code::kInvalidConfig,
                    absl::StrCat("\"", key, "\" must be an array, got ", list.type_name()));
  }
  std::vector<Attachment> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& a = list[i];
    auto cid = a.is_object() ? a.find("containerID") : a.end();
    auto ifn = a.is_object() ? a.find("ifname") : a.end();
    if (!a.is_object() || cid == a.end() || !cid->is_string() || ifn == a.end() ||
        !ifn->is_string()) {
      return CniError(Code::kInvalidConfig,
                      absl::StrCat("\"", key, "\"[", i,
                                   "] must be {\"containerID\": string, \"ifname\": string}"));
    }
    out.push_back({cid->get<std::string>(), ifn->get<std::string>()});
  }
  return out;
}

}  // namespace

std::string PeekCniVersion(absl::string_view stdin_data) {
  const json j = ParseJson(stdin_data);
  if (!j.is_object()) return "";
  auto it = j.find("cniVersion");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::StatusOr<NetConf> ParseNetConf(absl::string_view stdin_data) {
  const json conf = ParseJson(stdin_data);
  if (conf.is_discarded()) {
    return CniError(Code::kDecode, "error unmarshalling network config: invalid JSON");
  }
  if (!conf.is_object()) {
    return CniError(Code::kDecode,
                    absl::StrCat("network config must be a JSON object, got ", conf.type_name()));
  }
  NetConf out;
  RETURN_IF_ERROR(OptString(conf, "name", &out.name));
  if (out.name.empty()) return CniError(Code::kInvalidConfig, "missing network name");
  if (!IsValidCniName(out.name)) {
    return CniError(Code::kInvalidConfig, "invalid characters found in network name", out.name);
  }

  // skel takes a missing cniVersion as 0.1.0, which this plugin does not speak.
  auto ver = conf.find("cniVersion");
  if (ver != conf.end() && !ver->is_string()) {
    return CniError(Code::kDecode, "\"cniVersion\" must be a string");
  }
  out.cni_version = ver == conf.end() ? "0.1.0" : ver->get<std::string>();
  if (!IsSupportedVersion(out.cni_version)) {
    return CniError(Code::kIncompatibleVersion, "incompatible CNI versions",
                    absl::StrCat("config is \"", out.cni_version, "\", plugin supports [\"",
                                 absl::StrJoin(SupportedVersions(), "\" \""), "\"]"));
  }

  RETURN_IF_ERROR(OptString(conf, "type", &out.type));
  RETURN_IF_ERROR(OptString(conf, "agentSocket", &out.agent_socket));
  if (out.agent_socket.empty()) out.agent_socket = kDefaultAgentSocket;
  RETURN_IF_ERROR(OptString(conf, "logLevel", &out.log_level));

  if (auto prev = conf.find("prevResult"); prev != conf.end() && !prev->is_null()) {
    if (!prev->is_object()) {
      return CniError(Code::kDecode, absl::StrCat("\"prevResult\" must be an object, got ",
                                                  prev->type_name()));
    }
    out.prev_result = *prev;
  }

  // libcni sends both keys; the newer name wins when both are present.
  for (const char* key : {"cni.dev/attachments", "cni.dev/valid-attachments"}) {
    if (auto it = conf.find(key); it != conf.end() && !it->is_null()) {
      ASSIGN_OR_RETURN(out.valid_attachments, ParseAttachments(*it, key));
    }
  }
  return out;
}

}  // namespace xvr::cni

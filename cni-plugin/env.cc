#include "cni-plugin/env.h"

#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/errors.h"

namespace xvr::cni {
namespace {

const std::string* Find(const EnvMap& env, const char* key) {
  auto it = env.find(key);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

EnvMap EnvFromEnviron(char** envp) {
  EnvMap env;
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    absl::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<Command> ParseCommand(absl::string_view s) {
  if (s == "ADD") return Command::kAdd;
  if (s == "DEL") return Command::kDel;
  if (s == "CHECK") return Command::kCheck;
  if (s == "STATUS") return Command::kStatus;
  if (s == "GC") return Command::kGc;
  if (s == "VERSION") return Command::kVersion;
  if (s.empty()) return CniError(Code::kInvalidEnv, "required env variables [CNI_COMMAND] missing");
  return CniError(Code::kInvalidEnv, absl::StrCat("unknown CNI_COMMAND: ", s));
}

const char* CommandName(Command c) {
  switch (c) {
    case Command::kAdd: return "ADD";
    case Command::kDel: return "DEL";
    case Command::kCheck: return "CHECK";
    case Command::kStatus: return "STATUS";
    case Command::kGc: return "GC";
    case Command::kVersion: return "VERSION";
  }
  return "?";
}

bool IsValidCniName(absl::string_view s) {
  if (s.empty() || !absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

bool IsValidIfname(absl::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char c : s) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) || c == '\0') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<CniArgs> ParseCniArgs(absl::string_view s) {
  CniArgs out;
  for (absl::string_view pair : absl::StrSplit(s, ';', absl::SkipWhitespace())) {
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return CniError(Code::kInvalidEnv, absl::StrCat("CNI_ARGS: invalid pair \"", pair, "\""));
    }
    out.all[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  auto get = [&out](const char* k) {
    auto it = out.all.find(k);
    return it == out.all.end() ? std::string() : it->second;
  };
  out.pod_namespace = get("K8S_POD_NAMESPACE");
  out.pod_name = get("K8S_POD_NAME");
  out.pod_uid = get("K8S_POD_UID");
  out.infra_container_id = get("K8S_POD_INFRA_CONTAINER_ID");
  return out;
}

absl::StatusOr<CmdEnv> ParseEnv(const EnvMap& env) {
  CmdEnv out;
  const std::string* cmd = Find(env, "CNI_COMMAND");
  ASSIGN_OR_RETURN(out.command, ParseCommand(cmd ? *cmd : ""));
  const bool attachment = out.command == Command::kAdd || out.command == Command::kDel ||
                          out.command == Command::kCheck;

  std::vector<std::string> missing;
  auto take = [&](const char* key, bool required, std::string* dst) {
    if (const std::string* v = Find(env, key)) {
      *dst = *v;
    } else if (required) {
      missing.push_back(key);
    }
  };
  take("CNI_CONTAINERID", attachment, &out.container_id);
  take("CNI_NETNS", out.command == Command::kAdd || out.command == Command::kCheck, &out.netns);
  take("CNI_IFNAME", attachment, &out.ifname);
  take("CNI_PATH", false, &out.path);
  if (!missing.empty()) {
    return CniError(Code::kInvalidEnv,
                    absl::StrCat("required env variables [", absl::StrJoin(missing, ","),
                                 "] missing"));
  }
  if (attachment) {
    if (!IsValidCniName(out.container_id)) {
      return CniError(Code::kInvalidEnv, "invalid characters in containerID", out.container_id);
    }
    if (!IsValidIfname(out.ifname)) {
      return CniError(Code::kInvalidEnv,
                      absl::StrCat("invalid CNI_IFNAME \"", out.ifname,
                                   "\": want 1-15 characters without '/', ':' or whitespace, "
                                   "not \".\" or \"..\""));
    }
    if (const std::string* a = Find(env, "CNI_ARGS")) {
      ASSIGN_OR_RETURN(out.args, ParseCniArgs(*a));
    }
  }
  return out;
}

}  // namespace xvr::cni

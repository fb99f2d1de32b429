#include "cni-plugin/plugin.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/commands.h"
#include "cni-plugin/conf.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/result.h"
#include "cni-plugin/version.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

absl::Status ApplyLogLevel(const std::string& name) {
  if (name.empty()) return absl::OkStatus();
  for (int l = spdlog::level::trace; l < spdlog::level::n_levels; ++l) {
    const auto level = static_cast<spdlog::level::level_enum>(l);
    if (spdlog::level::to_string_view(level) == name) {
      spdlog::set_level(level);
      return absl::OkStatus();
    }
  }
  return CniError(Code::kInvalidConfig,
                  absl::StrCat("unknown \"logLevel\" \"", name,
                               "\": want trace, debug, info, warning, error, critical or off"));
}

// The output of a successful command: a result, or null for nothing.
absl::StatusOr<json> Dispatch(const EnvMap& env, absl::string_view stdin_data) {
  auto cmd_it = env.find("CNI_COMMAND");
  ASSIGN_OR_RETURN(Command cmd, ParseCommand(cmd_it == env.end() ? "" : cmd_it->second));
  if (cmd == Command::kVersion) return VersionJson(PeekCniVersion(stdin_data));

  ASSIGN_OR_RETURN(CmdEnv cmd_env, ParseEnv(env));
  ASSIGN_OR_RETURN(NetConf conf, ParseNetConf(stdin_data));
  RETURN_IF_ERROR(ApplyLogLevel(conf.log_level));
  spdlog::debug("{} container={} ifname={} netns={} version={}", CommandName(cmd),
                cmd_env.container_id, cmd_env.ifname, cmd_env.netns, conf.cni_version);

  AgentClient agent(conf.agent_socket);
  switch (cmd) {
    case Command::kAdd: {
      ASSIGN_OR_RETURN(Result r, CmdAdd(cmd_env, conf, agent));
      return RenderResult(r, conf.cni_version);
    }
    case Command::kDel:
      RETURN_IF_ERROR(CmdDel(cmd_env, conf, agent));
      return json(nullptr);
    case Command::kCheck:
      RETURN_IF_ERROR(RequireVersion(conf.cni_version, "0.4.0", "CHECK"));
      RETURN_IF_ERROR(CmdCheck(cmd_env, conf, agent));
      return json(nullptr);
    case Command::kStatus:
      RETURN_IF_ERROR(RequireVersion(conf.cni_version, "1.1.0", "STATUS"));
      RETURN_IF_ERROR(CmdStatus(cmd_env, conf, agent));
      return json(nullptr);
    case Command::kGc:
      RETURN_IF_ERROR(RequireVersion(conf.cni_version, "1.1.0", "GC"));
      RETURN_IF_ERROR(CmdGc(cmd_env, conf, agent));
      return json(nullptr);
    case Command::kVersion:
      break;
  }
  return CniError(Code::kInternal, "unreachable command dispatch");
}

}  // namespace

int Run(const EnvMap& env, absl::string_view stdin_data, std::ostream& out) {
  absl::StatusOr<json> output = Dispatch(env, stdin_data);
  if (!output.ok()) {
    std::string version = PeekCniVersion(stdin_data);
    if (version.empty()) version = kLatestVersion;
    spdlog::error("{}", std::string(output.status().message()));
    out << ErrorJson(output.status(), version).dump(-1, ' ', false,
                                                    json::error_handler_t::replace)
        << "\n";
    return 1;
  }
  if (!output->is_null()) {
    out << output->dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace xvr::cni

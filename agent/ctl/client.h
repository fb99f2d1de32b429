// The agent's API as xvrctl sees it: HTTP over the unix socket.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace xvr {

// GET path; non-2xx answers become errors carrying the agent's message.
absl::StatusOr<nlohmann::json> AgentGet(const std::string& socket, const std::string& path);

// POST path with `body` (JSON, may be empty); errors as AgentGet.
absl::StatusOr<nlohmann::json> AgentPost(const std::string& socket, const std::string& path,
                                         const std::string& body = "");

// Renders rows as an aligned text table; every row has the same columns.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace xvr

// `xvrctl flows`, `xvrctl flows stats` and `xvrctl drops`: the text
// renderings of GET /v1/flows, /v1/flows/stats and /v1/drops, and the query
// strings the filters become. Missing fields (an older agent) render empty.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace xvr {

// The filters of `xvrctl flows` and `xvrctl flows flush`, passed to the
// agent as given (the agent validates them and names a bad one).
struct FlowQueryArgs {
  std::string pod;  // NS/NAME
  std::string ip;
  std::string port;
  std::string proto;
  std::string state;
  std::string limit;
};

// "?pod=ns%2Fname&proto=tcp", or "" without filters. `with_limit` adds limit.
std::string FlowQueryString(const FlowQueryArgs& a, bool with_limit);

// One row per flow pair: SRC, SRC-POD, DST, DST-POD, SERVICE, PROTO, STATE,
// PACKETS (fwd/rev), BYTES (fwd/rev), AGE, IDLE; then a summary line.
std::string RenderFlows(const nlohmann::json& j);
std::string RenderFlowStats(const nlohmann::json& j);

// TIME, HOOK, REASON, SRC, DST, PROTO, SRC-POD, DST-POD, IFINDEX, LEN. With
// `fixed` the columns have fixed widths (for --follow, batch after batch)
// and `header` says whether to print the header line.
std::string RenderDrops(const nlohmann::json& j, bool fixed = false, bool header = true);

}  // namespace xvr

// `xvrctl services`: the text rendering of GET /v1/services.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace xvr {

// One row per frontend (SERVICE, FRONTEND, TYPE, BACKENDS, FLAGS, MAGLEV);
// with `verbose` a second table lists every backend. Model warnings follow.
// Tolerates missing fields (an older agent): they render empty.
std::string RenderServices(const nlohmann::json& j, bool verbose);

}  // namespace xvr

// `xvrctl policy`: the text rendering of GET /v1/policy.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace xvr {

// The path to GET: /v1/policy, with ?check=<percent-encoded check> when
// `check` is set, else ?entries=1 when `verbose`.
std::string PolicyPath(const std::string& check, bool verbose);

// A summary line (generation, map fill, compile time), this node's pods with
// their isolation, and the rule table. With `verbose`: every identity, the
// CIDR identities and, when the answer has them (?entries=1), every
// xvr_policy entry. Warnings follow. Tolerates missing fields.
std::string RenderPolicy(const nlohmann::json& j, bool verbose);

// The "check" object of GET /v1/policy?check=...: the verdict, both
// identities and which rule allowed (or which side denied).
std::string RenderPolicyCheck(const nlohmann::json& check);

}  // namespace xvr

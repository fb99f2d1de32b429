// GET /v1/policy: what the policy manager compiled and programmed.
//
//   {"enforced": true, "notEnforcedReason": "", "generation": 7,
//    "stats": {...PolicyManagerStats...},
//    "maps": {"ipcache": 12, "cidr": 3, "policy": 40},
//    "identities": [{"id": 4711, "namespace": "default",
//                    "labels": {"app": "web"}, "pods": ["default/web-0"],
//                    "ips": ["10.244.1.5"], "local": true,
//                    "isolation": ["ingress"]}],
//    "cidrIdentities": [{"id": 16777300, "cidr": "10.0.0.0/8"}],
//    "endpoints": [{"pod": "default/web-0", "ip": "10.244.1.5", "identity": 4711,
//                   "isolation": {"ingress": true, "egress": false},
//                   "ingressPolicies": ["default/deny"], "egressPolicies": [],
//                   "ingressRules": [1], "egressRules": []}],
//    "rules": [{"index": 1, "name": "default/deny ingress[0]", "policy": "default/deny",
//               "direction": "ingress", "rule": 0, "entries": 3}],
//    "warnings": [...]}
//
// Query parameters:
//   entries=1                    adds "entries": every xvr_policy entry
//                                (subject, direction, peer, ports, rule);
//   check=SRC,DST,PROTO[,PORT]   adds "check": Evaluate() of a new flow on
//                                the compiled state (PROTO: tcp, udp, sctp,
//                                icmp or a number).
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "agent/policy/policy_compiler.h"
#include "agent/policy/policy_manager.h"
#include "nlohmann/json.hpp"

namespace xvr::policy {

struct CheckRequest {
  Ipv4Addr src, dst;
  uint8_t proto = 0;
  uint16_t port = 0;
};
// "10.0.0.1,10.0.0.2,tcp,80"; errors name the part that is wrong.
absl::StatusOr<CheckRequest> ParseCheck(const std::string& s);

nlohmann::json PolicyStatsToJson(const PolicyManagerStats& s);
nlohmann::json DesiredPolicyToJson(const DesiredPolicy& d, bool entries);
nlohmann::json VerdictToJson(const DesiredPolicy& d, const Verdict& v);

// The whole answer of GET /v1/policy with its query parameters.
absl::StatusOr<nlohmann::json> PolicyToJson(const PolicyManager& mgr,
                                            const std::multimap<std::string, std::string>& query);

}  // namespace xvr::policy

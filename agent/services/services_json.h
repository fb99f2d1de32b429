// The JSON of GET /v1/services (and /v1/services/verify), as `xvrctl
// services` reads it:
//
// {"services":[{"service":"ns/name","portName":"dns","frontend":"10.96.0.10:53/UDP",
//   "type":"ClusterIP","scope":"internal","table":3,"flags":["affinity","local"],
//   "affinityTimeoutSeconds":10800,
//   "backends":[{"addr":"10.0.1.5:53/UDP","id":7,"local":true,"terminating":false,
//                "pod":"ns/name","node":"n1"}],
//   "maglev":{"size":251,"backends":2,"minSlots":125,"maxSlots":126,"maxDeviation":0.004}}],
//  "warnings":["…"], "stats":{"reconciles":…}}
//
// With verify, every "maglev" object also says whether the kernel's copy of
// the table equals the one written: "verified" (bool), "kernelSize",
// "mismatches" (slots that differ), "error" when it could not be read.
#pragma once

#include <string>
#include <vector>

#include "agent/services/service_manager.h"
#include "nlohmann/json.hpp"

namespace xvr::services {

const char* FrontendTypeName(Frontend::Type t);  // "ClusterIP", "NodePort", "ExternalIP"
// XVR_SVC_F_* as names: "affinity", "local", "keepSrc", "emptyDrop".
std::vector<std::string> FrontendFlagNames(uint16_t flags);

nlohmann::json ServiceStatsToJson(const ServiceManagerStats& s);
// `checks` (from VerifyTables) may be null.
nlohmann::json ServicesToJson(const std::vector<ProgrammedService>& services,
                              const ServiceManagerStats& stats,
                              const std::vector<std::string>& warnings,
                              const std::vector<TableCheck>* checks = nullptr);
nlohmann::json ServicesToJson(const ServiceManager& mgr, bool verify = false);

}  // namespace xvr::services

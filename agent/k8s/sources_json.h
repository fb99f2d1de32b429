// GET /v1/sources: where the agent's Kubernetes objects come from and how
// the watches are doing, per kind (`xvrctl sources`).
#pragma once

#include <nlohmann/json.hpp>

#include "agent/k8s/api_source.h"
#include "agent/k8s/cluster_state.h"

namespace xvr::k8s {

// `source` names the source ("api", "manifests", "none"); `api` is the API
// source's statistics when that is the source, else null.
nlohmann::json SourcesToJson(const ClusterState& state, const char* source,
                             const ApiSourceStats* api);

}  // namespace xvr::k8s

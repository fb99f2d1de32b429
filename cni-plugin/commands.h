// The CNI commands, each given the validated environment and config (the
// dispatcher in plugin.h has already checked the version gates).
#pragma once

#include "absl/status/statusor.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/conf.h"
#include "cni-plugin/env.h"
#include "cni-plugin/result.h"

namespace xvr::cni {

// Creates the veth pair, registers the endpoint, configures the pod side;
// returns prevResult (if any) with this attachment appended. Rolls back
// everything it did on failure.
absl::StatusOr<Result> CmdAdd(const CmdEnv& env, const NetConf& conf, AgentClient& agent);

// Unregisters the endpoint and deletes the host veth; succeeds again and
// again, with or without CNI_NETNS.
absl::Status CmdDel(const CmdEnv& env, const NetConf& conf, AgentClient& agent);

// Code 101 when anything ADD set up is missing or different.
absl::Status CmdCheck(const CmdEnv& env, const NetConf& conf, AgentClient& agent);

// Code 50 unless the agent answers /healthz with 200.
absl::Status CmdStatus(const CmdEnv& env, const NetConf& conf, AgentClient& agent);

// Has the agent drop every endpoint not in the valid attachments, then
// deletes host veths that neither those attachments nor the agent claim.
absl::Status CmdGc(const CmdEnv& env, const NetConf& conf, AgentClient& agent);

}  // namespace xvr::cni

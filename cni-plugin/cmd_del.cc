#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/commands.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/rtnl.h"
#include "cni-plugin/veth_name.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {

// DEL is best effort, but an agent that cannot be told is an error: the
// agent holds the address reservation and the map entries, which would leak
// if DEL reported success. The runtime retries a failed DEL (kubelet keeps
// retrying pod teardown), so the veth is deleted regardless and the agent's
// error (code 11 when it is unreachable or not ready) is returned; the retry
// then only has the agent left to do. CNI_NETNS is not needed: deleting the
// host end deletes the pod end wherever it is, and a gone netns has already
// taken both.
absl::Status CmdDel(const CmdEnv& env, const NetConf& conf, AgentClient& agent) {
  // The agent first, while the veth still exists, so it can detach from it.
  const absl::Status agent_st = agent.Unregister(env.container_id, env.ifname);
  if (!agent_st.ok()) spdlog::warn("del: {}", std::string(agent_st.message()));

  const std::string host_name = HostVethName(env.container_id, env.ifname);
  ASSIGN_OR_RETURN(Rtnl node, Rtnl::Open());
  absl::Status link_st = node.DeleteLink(host_name);
  if (absl::IsNotFound(link_st)) link_st = absl::OkStatus();
  if (!link_st.ok()) {
    return agent_st.ok() ? link_st
                         : WithContext(agent_st, absl::StrCat(link_st.message(), "; also"));
  }
  return agent_st;
}

}  // namespace xvr::cni

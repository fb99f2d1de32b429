#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/commands.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/rtnl.h"
#include "cni-plugin/veth_name.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

// GC continues past errors and reports them all: the first error's code,
// every message.
class ErrorList {
 public:
  void Add(const absl::Status& st) {
    if (st.ok()) return;
    if (errors_.empty()) code_ = CodeOf(st);
    errors_.emplace_back(st.message());
  }
  absl::Status ToStatus() const {
    if (errors_.empty()) return absl::OkStatus();
    return CniError(code_, absl::StrJoin(errors_, "; "));
  }

 private:
  Code code_ = Code::kInternal;
  std::vector<std::string> errors_;
};

// Deletes the veths named like host ends (HostVethName) that `keep` does not
// name. Deleting the host end deletes the pod end too.
void DeleteStrayVeths(const std::set<std::string>& keep, ErrorList& errors) {
  absl::StatusOr<Rtnl> node = Rtnl::Open();
  if (!node.ok()) return errors.Add(node.status());
  absl::StatusOr<std::vector<LinkInfo>> links = node->ListLinks();
  if (!links.ok()) return errors.Add(links.status());
  for (const LinkInfo& l : *links) {
    if (l.kind != "veth" || !IsHostVethName(l.name) || keep.count(l.name) != 0) continue;
    absl::Status st = node->DeleteLink(l.name);
    if (absl::IsNotFound(st)) continue;  // gone meanwhile
    if (st.ok()) spdlog::info("gc: deleted stray host veth {}", l.name);
    errors.Add(WithContext(st, "gc"));
  }
}

}  // namespace

absl::Status CmdStatus(const CmdEnv& env, const NetConf& conf, AgentClient& agent) {
  if (absl::Status st = agent.Healthz(); !st.ok()) {
    return CniError(Code::kNotAvailable, absl::StrCat("xvr agent not available: ", st.message()));
  }
  return absl::OkStatus();
}

absl::Status CmdGc(const CmdEnv& env, const NetConf& conf, AgentClient& agent) {
  if (!conf.valid_attachments) {
    return CniError(Code::kInvalidConfig, "GC needs \"cni.dev/valid-attachments\"");
  }
  ErrorList errors;
  const absl::Status agent_st = agent.Gc(*conf.valid_attachments);
  errors.Add(WithContext(agent_st, "gc"));
  // Stray host veths (an ADD interrupted before registering, or an agent that
  // lost its state) are deleted only when the agent has answered: what it
  // still knows is kept even if the list does not name it.
  if (agent_st.ok()) {
    absl::StatusOr<std::vector<std::string>> known = agent.ListHostIfnames();
    errors.Add(WithContext(known.status(), "gc: list endpoints"));
    if (known.ok()) {
      std::set<std::string> keep(known->begin(), known->end());
      for (const Attachment& a : *conf.valid_attachments) {
        keep.insert(HostVethName(a.container_id, a.ifname));
      }
      DeleteStrayVeths(keep, errors);
    }
  }
  return errors.ToStatus();
}

}  // namespace xvr::cni

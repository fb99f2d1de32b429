#include "agent/flows/flow_cfg.h"

#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {

absl::StatusOr<xvr_flow_cfg> FlowCfgWriter::ReadLocked() const {
  absl::StatusOr<xvr_flow_cfg> v = map_->Lookup(0);
  // An array slot always exists; a fake map may not have it yet.
  if (!v.ok() && absl::IsNotFound(v.status())) return xvr_flow_cfg{};
  return v;
}

absl::StatusOr<xvr_flow_cfg> FlowCfgWriter::Read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadLocked();
}

absl::Status FlowCfgWriter::SetEventsEnabled(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(xvr_flow_cfg cfg, ReadLocked());
  if (on) {
    cfg.flags |= XVR_FLOWCFG_F_EVENTS;
  } else {
    cfg.flags &= ~XVR_FLOWCFG_F_EVENTS;
  }
  return map_->Update(0, cfg);
}

absl::StatusOr<uint32_t> FlowCfgWriter::BumpPolicyGen() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(xvr_flow_cfg cfg, ReadLocked());
  ++cfg.policy_gen;
  if (cfg.policy_gen == 0) cfg.policy_gen = 1;
  RETURN_IF_ERROR(map_->Update(0, cfg));
  return cfg.policy_gen;
}

std::function<uint32_t()> FlowCfgWriter::PolicyGenBumper() {
  return [this]() -> uint32_t {
    absl::StatusOr<uint32_t> gen = BumpPolicyGen();
    if (!gen.ok()) {
      spdlog::error("flows: bumping xvr_flow_cfg.policy_gen: {}", gen.status().ToString());
      return 0;
    }
    return *gen;
  };
}

absl::StatusOr<std::unique_ptr<PinnedFlowCfg>> PinnedFlowCfg::Open(const std::string& maps_dir) {
  ASSIGN_OR_RETURN(auto map,
                   (BpfMap<uint32_t, xvr_flow_cfg>::OpenPinned(maps_dir + "/" XVR_MAP_FLOW_CFG)));
  return std::unique_ptr<PinnedFlowCfg>(new PinnedFlowCfg(std::move(map)));
}

}  // namespace xvr

// The agent's writer of xvr_flow_cfg[0] (abi.h): the policy generation the
// data path compares flows against, and the flow-event switch. One
// mutex-protected read-modify-write so the policy engine (BumpPolicyGen)
// and the flows config (SetEventsEnabled) never overwrite each other.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "agent/dataplane/bpf_map.h"
#include "xvr/abi.h"

namespace xvr {

class FlowCfgWriter {
 public:
  // `map` must outlive the writer.
  explicit FlowCfgWriter(MapOps<uint32_t, xvr_flow_cfg>* map) : map_(map) {}

  // Sets or clears XVR_FLOWCFG_F_EVENTS (flow-created events).
  absl::Status SetEventsEnabled(bool on);
  // policy_gen + 1 (0 is skipped when it wraps), written before returning:
  // every flow created under an older generation is re-evaluated on its
  // next packet. Returns the new generation. Call after the policy maps
  // are written.
  absl::StatusOr<uint32_t> BumpPolicyGen();
  // BumpPolicyGen for PolicyManager's GenBumper (std::function<uint32_t()>):
  // logs a failure and returns 0 then.
  std::function<uint32_t()> PolicyGenBumper();
  // The current value (zeros when never written).
  absl::StatusOr<xvr_flow_cfg> Read() const;

 private:
  absl::StatusOr<xvr_flow_cfg> ReadLocked() const;

  MapOps<uint32_t, xvr_flow_cfg>* map_;
  mutable std::mutex mu_;
};

// The pinned <maps_dir>/xvr_flow_cfg with its writer.
class PinnedFlowCfg {
 public:
  static absl::StatusOr<std::unique_ptr<PinnedFlowCfg>> Open(const std::string& maps_dir);
  FlowCfgWriter& writer() { return writer_; }

 private:
  explicit PinnedFlowCfg(BpfMap<uint32_t, xvr_flow_cfg> map)
      : map_(std::move(map)), writer_(&map_) {}
  BpfMap<uint32_t, xvr_flow_cfg> map_;
  FlowCfgWriter writer_;
};

}  // namespace xvr

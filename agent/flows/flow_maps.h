// The kernel side of the flow table: xvr_flows (LRU hash of entries) and
// xvr_flow_stats (per-CPU counters), behind an interface so FlowTable tests
// run on a map the test creates or on an in-memory fake.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/dataplane/unique_fd.h"
#include "xvr/abi.h"

namespace xvr {

struct FlowEntry {
  xvr_flow_key key;
  xvr_flow value;
};

using FlowCounters = std::array<uint64_t, XVR_FS_SLOTS>;

class FlowMaps {
 public:
  virtual ~FlowMaps() = default;
  // Every entry of the flow map (a concurrent reader's view: entries added
  // or removed meanwhile may or may not be in it).
  virtual absl::StatusOr<std::vector<FlowEntry>> Dump() = 0;
  // Deletes `keys`. A key already gone (evicted, or deleted by the data
  // path) is not an error: its index goes to `missing` when given. Returns
  // the number of entries deleted.
  virtual absl::StatusOr<size_t> Delete(const std::vector<xvr_flow_key>& keys,
                                        std::vector<size_t>* missing) = 0;
  // max_entries of the flow map.
  virtual uint32_t Capacity() const = 0;
  // xvr_flow_stats summed over CPUs.
  virtual absl::StatusOr<FlowCounters> Counters() const = 0;
};

class BpfFlowMaps : public FlowMaps {
 public:
  // Opens <maps_dir>/xvr_flows and xvr_flow_stats, checking types and sizes.
  static absl::StatusOr<std::unique_ptr<BpfFlowMaps>> OpenPinned(const std::string& maps_dir);
  // Takes maps the caller created (tests: bpf_map_create). `stats` may be
  // invalid: the counters then read as zeros.
  static absl::StatusOr<std::unique_ptr<BpfFlowMaps>> FromFds(UniqueFd flows, UniqueFd stats);

  absl::StatusOr<std::vector<FlowEntry>> Dump() override;
  absl::StatusOr<size_t> Delete(const std::vector<xvr_flow_key>& keys,
                                std::vector<size_t>* missing) override;
  uint32_t Capacity() const override { return capacity_; }
  absl::StatusOr<FlowCounters> Counters() const override;

  // BPF_MAP_LOOKUP_BATCH / BPF_MAP_DELETE_BATCH are used until the kernel
  // refuses them once; then entry-by-entry calls. Tests turn them off.
  void set_use_batch(bool on) {
    lookup_batch_ = on;
    delete_batch_ = on;
  }
  bool lookup_batch() const { return lookup_batch_; }
  bool delete_batch() const { return delete_batch_; }
  int flows_fd() const { return flows_.get(); }

 private:
  BpfFlowMaps(UniqueFd flows, UniqueFd stats, uint32_t capacity)
      : flows_(std::move(flows)), stats_(std::move(stats)), capacity_(capacity) {}
  // Returns false (and *out untouched) when the kernel refuses batch lookup.
  absl::StatusOr<bool> DumpBatch(std::vector<FlowEntry>* out);
  absl::Status DumpIterate(std::vector<FlowEntry>* out);

  UniqueFd flows_;
  UniqueFd stats_;
  uint32_t capacity_;
  std::atomic<bool> lookup_batch_{true};
  std::atomic<bool> delete_batch_{true};
};

}  // namespace xvr

// Loading, pinning and re-using the BPF programs.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr {

struct ProgramSet {
  UniqueFd xdp_pod;
  UniqueFd tc_pod;
  UniqueFd tc_host_egress;
  UniqueFd xdp_pod_peer;
  UniqueFd xdp_fabric;
  // True when every program was found pinned with the embedded object's
  // hash, i.e. nothing was loaded.
  bool reused = false;
};

// Maps are pinned by name under <bpf_root>/maps (created on first load and
// shared by all objects), programs under <bpf_root>/progs/<name>-<hash>
// where hash identifies the embedded object. A restarted agent with the same
// binary re-uses the pinned programs; a new binary loads and pins new ones
// (the caller then moves existing attachments over).
absl::StatusOr<ProgramSet> LoadOrReusePrograms(const std::string& bpf_root);

}  // namespace xvr

// Loading, pinning and re-using the BPF programs.
#pragma once

#include <cstdint>
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
//
// flow_table_size (0: as compiled) sets max_entries of xvr_flows. A pinned
// xvr_flows of another size is unpinned, with every pinned program (they
// hold the old map): the programs are loaded again with a new, empty flow
// table. Flows are re-creatable: the next packet of a connection makes a
// new entry and the policy decides again.
absl::StatusOr<ProgramSet> LoadOrReusePrograms(const std::string& bpf_root,
                                               uint32_t flow_table_size = 0);

}  // namespace xvr

// Names of the host end of a pod's veth pair, derived from the attachment
// (CNI_CONTAINERID, CNI_IFNAME) alone so DEL and GC find it without state.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace xvr::cni {

uint64_t Fnv1a64(absl::string_view data);

// "xvr" + the first 12 hex digits of FNV-1a-64(containerID "/" ifname):
// 15 characters, the IFNAMSIZ limit.
std::string HostVethName(absl::string_view container_id, absl::string_view ifname);

// The name the pod end has in the node's netns between creation and the
// move into the pod: "xvp" + the same 12 hex digits.
std::string TempPeerName(absl::string_view container_id, absl::string_view ifname);

// True for names HostVethName() can produce ("xvr" + 12 lowercase hex).
bool IsHostVethName(absl::string_view name);

}  // namespace xvr::cni

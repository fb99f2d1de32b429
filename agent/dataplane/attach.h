// Binding programs to interfaces. XDP attachments are bpf_links pinned under
// <bpf_root>/links so they survive the agent; TC filters (cls_bpf,
// direct-action) live in the kernel until removed.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace xvr {

enum class XdpMode { kNative, kGeneric };

// Attaches (or keeps, or moves to prog_fd) the XDP link pinned at
// <links_dir>/xdp_<ifname>. A stale pin (interface gone) is replaced.
absl::Status AttachXdp(int prog_fd, uint32_t ifindex, const std::string& ifname, XdpMode mode,
                       const std::string& links_dir);
// Detaches and unpins; fine when nothing is attached.
absl::Status DetachXdp(const std::string& ifname, const std::string& links_dir);

enum class TcDir { kIngress, kEgress };
absl::Status AttachTc(int prog_fd, uint32_t ifindex, TcDir dir);
absl::Status DetachTc(uint32_t ifindex, TcDir dir);

// Id of the program attached through the pinned XDP link, 0 if none.
uint32_t PinnedXdpProgId(const std::string& ifname, const std::string& links_dir);

}  // namespace xvr

// Per-interface settings outside route-netlink: ethtool features and
// /proc/sys. Both act on the calling thread's current netns (the socket and
// the /proc/sys file are opened after any setns), so call them inside a
// NetnsGuard for pod interfaces.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace xvr::cni {

// ethtool ETHTOOL_SGRO. GRO on a veth end turns NAPI on for it, and a veth
// only delivers XDP_REDIRECTed frames to a peer that runs NAPI.
absl::Status SetGro(const std::string& ifname, bool on);
absl::StatusOr<bool> GetGro(const std::string& ifname);

// ethtool ETHTOOL_STXCSUM, and ETHTOOL_STSO + ETHTOOL_SGSO.
absl::Status SetTxChecksum(const std::string& ifname, bool on);
absl::StatusOr<bool> GetTxChecksum(const std::string& ifname);
absl::Status SetSegmentation(const std::string& ifname, bool on);

// net.ipv6.conf.<ifname>.disable_ipv6 = 1. OK without doing anything when
// the kernel has no IPv6.
absl::Status DisableIpv6(const std::string& ifname);

}  // namespace xvr::cni

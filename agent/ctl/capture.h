// `xvrctl capture`: packets captured in BPF at xvr's hooks (xdp_pod, tc_pod,
// xdp_fabric, tc_host_egress) with their verdict, written as pcap. The
// programs' xvr_finish() copies the final frame of every packet that
// matches xvr_cap_cfg[0] to the xvr_capture ring buffer (bpf/lib/capture.h);
// this side writes the filter, drains the ring and writes the file. It
// opens the pinned maps itself, so it works while the agent is down (the
// agent is asked only to resolve --pod). docs/CAPTURE.md.
#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/ctl/capture_writer.h"
#include "xvr/abi.h"

namespace xvr {

struct CaptureOptions {
  std::string bpf_root = "/sys/fs/bpf/xvr";
  std::string socket = "/run/xvr/agent.sock";  // only for --pod
  std::string pod;                             // NS/NAME
  std::string ip;                              // A.B.C.D
  std::vector<std::string> hooks;              // names; empty = all
  std::vector<std::string> verdicts;           // names; empty = all
  std::string reason;                          // name or number; empty = any
  uint64_t count = 0;                          // 0 = until a signal
  uint32_t snaplen = XVR_CAP_SNAP_MAX;
  std::string write;                           // file, or "-" for stdout
  CaptureLinkType linktype = CaptureLinkType::kNflog;
  bool verbose = false;                        // one line per packet on stderr
  bool force = false;                          // take over a running capture
};

// The filter part of xvr_capture_cfg from the options (names resolved, ip
// already resolved to network order); enabled, gen, owner and heartbeat
// are left 0.
absl::StatusOr<xvr_capture_cfg> CaptureFilter(const CaptureOptions& o, uint32_t ip_be);

// Runs a capture until count packets, SIGINT/SIGTERM/SIGHUP or a closed
// output; prints a summary to stderr. Returns the exit code.
int RunCapture(const CaptureOptions& o);

}  // namespace xvr

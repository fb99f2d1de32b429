// The file side of `xvrctl capture`: capture records (xvr_capture_hdr and
// the frame's first bytes) as pcap, written with libpcap, either plain
// Ethernet or LINKTYPE_NFLOG with the verdict in NFULA_PREFIX. Kept apart
// from capture.cc: libpcap's <pcap/bpf.h> and <linux/bpf.h> cannot share a
// translation unit.
#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xvr/abi.h"

typedef struct pcap pcap_t;
typedef struct pcap_dumper pcap_dumper_t;

namespace xvr {

// LINKTYPE_NFLOG (239): the verdict travels in NFULA_PREFIX and tshark
// decodes it (nflog.prefix); kEther: plain Ethernet frames (LINKTYPE_EN10MB).
enum class CaptureLinkType { kNflog, kEther };

// "xdp_pod drop policy_denied_ingress": hook, verdict, reason names.
std::string CapturePrefix(const xvr_capture_hdr& h);

// One NFLOG frame (pseudo-header, TLVs, payload) for a record: the Ethernet
// header goes to NFULA_HWHEADER, the rest of the captured bytes to
// NFULA_PAYLOAD. *orig_len gets the frame's length had nothing been cut.
std::vector<uint8_t> BuildNflogFrame(const xvr_capture_hdr& h, const uint8_t* data,
                                     const timespec& wall, uint32_t* orig_len);

// Writes records as pcap (nanosecond timestamps) with libpcap, to a file or
// to stdout ("-").
class CaptureWriter {
 public:
  static absl::StatusOr<std::unique_ptr<CaptureWriter>> Open(const std::string& path,
                                                             CaptureLinkType type);
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  // data holds h.cap_len bytes; wall is the record's wall-clock time.
  absl::Status Write(const xvr_capture_hdr& h, const uint8_t* data, const timespec& wall);
  absl::Status Flush();
  // A write failed because the reading end of the pipe went away.
  bool broken_pipe() const { return broken_pipe_; }

 private:
  absl::Status Failed(int err);
  CaptureWriter(pcap_t* p, pcap_dumper_t* d, CaptureLinkType t) : pcap_(p), dumper_(d), type_(t) {}
  pcap_t* pcap_;
  pcap_dumper_t* dumper_;
  CaptureLinkType type_;
  bool broken_pipe_ = false;
};

}  // namespace xvr

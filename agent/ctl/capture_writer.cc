#include "agent/ctl/capture_writer.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/reasons.h"

namespace xvr {
namespace {

// LINKTYPE_NFLOG and its TLVs (libpcap's pcap/nflog.h, tcpdump.org's
// linktypes/LINKTYPE_NFLOG.html): TLV length and type in host order, the
// length counting the 4-byte TLV header but not the padding to 4 bytes;
// values big-endian.
constexpr int kDltNflog = 239;
constexpr uint16_t kNfulaPacketHdr = 1;
constexpr uint16_t kNfulaTimestamp = 3;
constexpr uint16_t kNfulaIfindexIndev = 4;
constexpr uint16_t kNfulaIfindexOutdev = 5;
constexpr uint16_t kNfulaPayload = 9;
constexpr uint16_t kNfulaPrefix = 10;
constexpr uint16_t kNfulaHwtype = 15;
constexpr uint16_t kNfulaHwheader = 16;
constexpr uint16_t kNfulaHwlen = 17;
constexpr uint8_t kAfInet = 2;
constexpr uint8_t kAfUnspec = 0;
constexpr uint16_t kArphrdEther = 1;
constexpr size_t kEthLen = 14;
// The netfilter hook a hook corresponds to, for NFULA_PACKET_HDR.
constexpr uint8_t kNfInetPreRouting = 0;
constexpr uint8_t kNfInetPostRouting = 4;

size_t TlvSize(size_t value_len) { return (4 + value_len + 3) & ~size_t{3}; }

void PutTlv(std::vector<uint8_t>* out, uint16_t type, const void* value, size_t len) {
  const uint16_t tlv_len = static_cast<uint16_t>(4 + len);
  const size_t at = out->size();
  out->resize(at + TlvSize(len), 0);
  std::memcpy(out->data() + at, &tlv_len, 2);
  std::memcpy(out->data() + at + 2, &type, 2);
  if (len) std::memcpy(out->data() + at + 4, value, len);
}

void PutBe16(std::vector<uint8_t>* out, uint16_t type, uint16_t v) {
  const uint16_t be = htons(v);
  PutTlv(out, type, &be, 2);
}

void PutBe32(std::vector<uint8_t>* out, uint16_t type, uint32_t v) {
  const uint32_t be = htonl(v);
  PutTlv(out, type, &be, 4);
}

uint64_t Be64(uint64_t v) { return (static_cast<uint64_t>(htonl(v & 0xffffffffu)) << 32) | htonl(v >> 32); }

}  // namespace

std::string CapturePrefix(const xvr_capture_hdr& h) {
  return absl::StrCat(HookName(h.hook), " ", VerdictName(h.verdict), " ", ReasonName(h.reason));
}

std::vector<uint8_t> BuildNflogFrame(const xvr_capture_hdr& h, const uint8_t* data,
                                     const timespec& wall, uint32_t* orig_len) {
  const size_t cap = h.cap_len;
  const size_t hw = std::min(cap, kEthLen);
  uint16_t ethertype = 0;
  if (cap >= kEthLen) ethertype = static_cast<uint16_t>(data[12] << 8 | data[13]);
  std::vector<uint8_t> out(4);
  out[0] = ethertype == 0x0800 ? kAfInet : kAfUnspec;
  out[1] = 0;  // version
  out[2] = out[3] = 0;  // resource id (NFLOG group): 0
  const bool egress = h.hook == XVR_HOOK_TC_HOST_EGRESS;
  uint8_t ph[4] = {static_cast<uint8_t>(ethertype >> 8), static_cast<uint8_t>(ethertype),
                   egress ? kNfInetPostRouting : kNfInetPreRouting, 0};
  PutTlv(&out, kNfulaPacketHdr, ph, sizeof(ph));
  const std::string prefix = CapturePrefix(h);
  PutTlv(&out, kNfulaPrefix, prefix.c_str(), prefix.size() + 1);
  PutBe32(&out, egress ? kNfulaIfindexOutdev : kNfulaIfindexIndev, h.ifindex);
  PutBe16(&out, kNfulaHwtype, kArphrdEther);
  PutBe16(&out, kNfulaHwlen, static_cast<uint16_t>(kEthLen));
  PutTlv(&out, kNfulaHwheader, data, hw);
  const uint64_t ts[2] = {Be64(static_cast<uint64_t>(wall.tv_sec)),
                          Be64(static_cast<uint64_t>(wall.tv_nsec / 1000))};
  PutTlv(&out, kNfulaTimestamp, ts, sizeof(ts));
  const size_t payload = cap - hw;
  // The payload TLV last: a cut frame is then cut at its end.
  const size_t head = out.size();
  PutTlv(&out, kNfulaPayload, data + hw, payload);
  out.resize(head + 4 + payload);  // no padding after the last TLV
  const size_t full_payload = h.pkt_len > kEthLen ? h.pkt_len - kEthLen : 0;
  *orig_len = static_cast<uint32_t>(head + 4 + std::max(full_payload, payload));
  return out;
}

absl::StatusOr<std::unique_ptr<CaptureWriter>> CaptureWriter::Open(const std::string& path,
                                                                   CaptureLinkType type) {
  const int dlt = type == CaptureLinkType::kNflog ? kDltNflog : DLT_EN10MB;
  // Snapshot length in the file header: what a frame can hold at most.
  pcap_t* p = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
  if (!p) return absl::InternalError("pcap_open_dead failed");
  pcap_dumper_t* d = nullptr;
  if (path == "-") {
    d = pcap_dump_fopen(p, stdout);
  } else {
    d = pcap_dump_open(p, path.c_str());
  }
  if (!d) {
    std::string err = pcap_geterr(p);
    pcap_close(p);
    return absl::UnavailableError(absl::StrCat("open ", path, ": ", err));
  }
  return std::unique_ptr<CaptureWriter>(new CaptureWriter(p, d, type));
}

CaptureWriter::~CaptureWriter() {
  if (dumper_) pcap_dump_close(dumper_);
  if (pcap_) pcap_close(pcap_);
}

absl::Status CaptureWriter::Write(const xvr_capture_hdr& h, const uint8_t* data,
                                  const timespec& wall) {
  pcap_pkthdr ph{};
  // Nanosecond precision: libpcap reads tv_usec as nanoseconds.
  ph.ts.tv_sec = wall.tv_sec;
  ph.ts.tv_usec = static_cast<suseconds_t>(wall.tv_nsec);
  if (type_ == CaptureLinkType::kEther) {
    ph.caplen = h.cap_len;
    ph.len = std::max<uint32_t>(h.pkt_len, h.cap_len);
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &ph, data);
  } else {
    uint32_t orig = 0;
    const std::vector<uint8_t> frame = BuildNflogFrame(h, data, wall, &orig);
    ph.caplen = static_cast<uint32_t>(frame.size());
    ph.len = std::max<uint32_t>(orig, ph.caplen);
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &ph, frame.data());
  }
  if (std::ferror(pcap_dump_file(dumper_))) return Failed(errno);
  return absl::OkStatus();
}

absl::Status CaptureWriter::Flush() {
  if (pcap_dump_flush(dumper_) != 0) return Failed(errno);
  return absl::OkStatus();
}

absl::Status CaptureWriter::Failed(int err) {
  if (err == EPIPE) broken_pipe_ = true;
  return ErrnoStatus(err, "write pcap");
}

}  // namespace xvr

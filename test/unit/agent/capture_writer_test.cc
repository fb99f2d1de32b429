// The pcap side of `xvrctl capture` (agent/ctl/capture_writer.h): records
// written as LINKTYPE_NFLOG and Ethernet, read back with libpcap; the NFLOG
// TLVs as libpcap's pcap/nflog.h describes them; and, when tshark is
// installed, the verdict as Wireshark decodes it (nflog.prefix).
#include "agent/ctl/capture_writer.h"

#include <arpa/inet.h>
#include <pcap/nflog.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "agent/ctl/capture.h"
#include "gtest/gtest.h"
#include "test/unit/agent/temp_dir.h"

namespace xvr {
namespace {

using Bytes = std::vector<uint8_t>;

// Ethernet + IPv4/UDP 10.244.1.10 -> 10.244.1.20, `payload` bytes of data.
Bytes UdpFrame(size_t payload) {
  Bytes f(14 + 20 + 8 + payload, 0);
  const uint8_t dst[6] = {0x02, 0xaa, 0, 0, 0, 0x14}, src[6] = {0x02, 0xbb, 0, 0, 0, 0x14};
  std::memcpy(f.data(), dst, 6);
  std::memcpy(f.data() + 6, src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const uint16_t tot = htons(static_cast<uint16_t>(20 + 8 + payload));
  std::memcpy(ip + 2, &tot, 2);
  ip[8] = 63;
  ip[9] = 17;
  const uint8_t s[4] = {10, 244, 1, 10}, d[4] = {10, 244, 1, 20};
  std::memcpy(ip + 12, s, 4);
  std::memcpy(ip + 16, d, 4);
  uint8_t* udp = ip + 20;
  udp[0] = 0x04;
  udp[1] = 0xd2;
  udp[2] = 0x16;
  udp[3] = 0x2e;
  const uint16_t ulen = htons(static_cast<uint16_t>(8 + payload));
  std::memcpy(udp + 4, &ulen, 2);
  for (size_t i = 0; i < payload; ++i) udp[8 + i] = static_cast<uint8_t>(i);
  return f;
}

xvr_capture_hdr Hdr(uint32_t hook, uint32_t verdict, uint32_t reason, uint32_t len, uint32_t cap) {
  xvr_capture_hdr h{};
  h.hook = static_cast<uint8_t>(hook);
  h.verdict = static_cast<uint8_t>(verdict);
  h.reason = static_cast<uint16_t>(reason);
  h.ifindex = 7;
  h.pkt_len = len;
  h.cap_len = static_cast<uint16_t>(cap);
  return h;
}

// NFLOG TLVs by type (the last of a type wins).
std::map<uint16_t, Bytes> Tlvs(const uint8_t* p, size_t n, nflog_hdr_t* hdr) {
  std::map<uint16_t, Bytes> out;
  if (n < sizeof(nflog_hdr_t)) return out;
  std::memcpy(hdr, p, sizeof(*hdr));
  size_t off = sizeof(nflog_hdr_t);
  while (off + 4 <= n) {
    nflog_tlv_t t;
    std::memcpy(&t, p + off, 4);
    if (t.tlv_length < 4) break;
    const size_t vlen = std::min<size_t>(t.tlv_length - 4, n - off - 4);
    out[t.tlv_type] = Bytes(p + off + 4, p + off + 4 + vlen);
    off += (t.tlv_length + 3u) & ~3u;
  }
  return out;
}

uint32_t Be32(const Bytes& b) {
  uint32_t v = 0;
  std::memcpy(&v, b.data(), 4);
  return ntohl(v);
}

struct Packet {
  pcap_pkthdr hdr;
  Bytes data;
};

std::vector<Packet> ReadAll(const std::string& path, int* dlt) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<Packet> out;
  if (!p) return out;
  *dlt = pcap_datalink(p);
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) out.push_back({*h, Bytes(d, d + h->caplen)});
  pcap_close(p);
  return out;
}

TEST(CaptureWriter, NflogCarriesVerdictInterfaceHeadersAndPayload) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/nflog.pcap";
  const Bytes fwd = UdpFrame(32), drop = UdpFrame(300);
  const timespec t1{1700000000, 123456789}, t2{1700000001, 5000};
  {
    auto w = CaptureWriter::Open(path, CaptureLinkType::kNflog);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write(Hdr(XVR_HOOK_XDP_POD, XVR_VERDICT_REDIRECT, XVR_R_OK, fwd.size(), fwd.size()),
                            fwd.data(), t1).ok());
    // Cut at 64 bytes by the snaplen.
    ASSERT_TRUE((*w)->Write(Hdr(XVR_HOOK_TC_HOST_EGRESS, XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS,
                                drop.size(), 64),
                            drop.data(), t2).ok());
  }
  int dlt = 0;
  const std::vector<Packet> pkts = ReadAll(path, &dlt);
  EXPECT_EQ(dlt, 239);  // DLT_NFLOG
  ASSERT_EQ(pkts.size(), 2u);

  EXPECT_EQ(pkts[0].hdr.ts.tv_sec, t1.tv_sec);
  EXPECT_EQ(pkts[0].hdr.ts.tv_usec, t1.tv_nsec);  // nanosecond file
  nflog_hdr_t nh{};
  std::map<uint16_t, Bytes> t = Tlvs(pkts[0].data.data(), pkts[0].data.size(), &nh);
  EXPECT_EQ(nh.nflog_family, 2);  // AF_INET
  EXPECT_EQ(nh.nflog_version, 0);
  ASSERT_TRUE(t.count(NFULA_PREFIX));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t[NFULA_PREFIX].data())),
            "xdp_pod redirect ok");
  EXPECT_EQ(t[NFULA_PREFIX].back(), 0) << "NUL counted";
  ASSERT_TRUE(t.count(NFULA_IFINDEX_INDEV));
  EXPECT_EQ(Be32(t[NFULA_IFINDEX_INDEV]), 7u);
  EXPECT_EQ(t[NFULA_HWHEADER], Bytes(fwd.begin(), fwd.begin() + 14));
  EXPECT_EQ(t[NFULA_PAYLOAD], Bytes(fwd.begin() + 14, fwd.end()));
  ASSERT_EQ(t[NFULA_PACKET_HDR].size(), 4u);
  EXPECT_EQ(t[NFULA_PACKET_HDR][0], 0x08);
  EXPECT_EQ(t[NFULA_PACKET_HDR][1], 0x00);
  ASSERT_EQ(t[NFULA_TIMESTAMP].size(), 16u);
  EXPECT_EQ(Be32(Bytes(t[NFULA_TIMESTAMP].begin() + 4, t[NFULA_TIMESTAMP].end())),
            static_cast<uint32_t>(t1.tv_sec));
  EXPECT_EQ(pkts[0].hdr.len, pkts[0].hdr.caplen);

  t = Tlvs(pkts[1].data.data(), pkts[1].data.size(), &nh);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t[NFULA_PREFIX].data())),
            "tc_host_egress drop policy_denied_ingress");
  EXPECT_FALSE(t.count(NFULA_IFINDEX_INDEV));
  ASSERT_TRUE(t.count(NFULA_IFINDEX_OUTDEV)) << "tc_host_egress runs on egress";
  EXPECT_EQ(t[NFULA_PAYLOAD], Bytes(drop.begin() + 14, drop.begin() + 64));
  // The original length counts the whole payload.
  EXPECT_EQ(pkts[1].hdr.len - pkts[1].hdr.caplen, drop.size() - 64);
}

TEST(CaptureWriter, EtherWritesTheFrameAsItIs) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/ether.pcap";
  const Bytes f = UdpFrame(100);
  {
    auto w = CaptureWriter::Open(path, CaptureLinkType::kEther);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write(Hdr(XVR_HOOK_XDP_POD, XVR_VERDICT_DROP, XVR_R_SPOOFED_IP, f.size(), 60),
                            f.data(), {1, 2}).ok());
  }
  int dlt = 0;
  const std::vector<Packet> pkts = ReadAll(path, &dlt);
  EXPECT_EQ(dlt, DLT_EN10MB);
  ASSERT_EQ(pkts.size(), 1u);
  EXPECT_EQ(pkts[0].hdr.caplen, 60u);
  EXPECT_EQ(pkts[0].hdr.len, f.size());
  EXPECT_EQ(pkts[0].data, Bytes(f.begin(), f.begin() + 60));
}

TEST(CaptureWriter, OpenFailsOnAMissingDirectory) {
  EXPECT_FALSE(CaptureWriter::Open("/nonexistent/dir/x.pcap", CaptureLinkType::kNflog).ok());
}

TEST(CaptureFilter, NamesBecomeMasksAndReasons) {
  CaptureOptions o;
  auto c = CaptureFilter(o, 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hook_mask, 0xfu);
  EXPECT_EQ(c->verdict_mask, 0xfu);
  EXPECT_EQ(c->flags & XVR_CAP_F_REASON, 0u);
  o.hooks = {"xdp_pod", "tc_host_egress"};
  o.verdicts = {"drop"};
  o.reason = "policy_denied_ingress";
  o.snaplen = 128;
  c = CaptureFilter(o, htonl(0x0af40114));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hook_mask, (1u << XVR_HOOK_XDP_POD) | (1u << XVR_HOOK_TC_HOST_EGRESS));
  EXPECT_EQ(c->verdict_mask, 1u << XVR_VERDICT_DROP);
  EXPECT_EQ(c->reason, static_cast<uint32_t>(XVR_R_POLICY_INGRESS));
  EXPECT_TRUE(c->flags & XVR_CAP_F_REASON);
  EXPECT_EQ(c->snaplen, 128u);
  EXPECT_EQ(c->ip, htonl(0x0af40114));
  o.reason = "ok";
  ASSERT_TRUE(CaptureFilter(o, 0).ok());
  EXPECT_EQ(CaptureFilter(o, 0)->reason, 0u);
  o.reason = "no_such_reason";
  EXPECT_FALSE(CaptureFilter(o, 0).ok());
  o.reason.clear();
  o.hooks = {"xdp_bogus"};
  EXPECT_FALSE(CaptureFilter(o, 0).ok());
  o.hooks.clear();
  o.snaplen = XVR_CAP_SNAP_MAX + 1;
  EXPECT_FALSE(CaptureFilter(o, 0).ok());
}

// Wireshark's view: the verdict in nflog.prefix, the packet under it.
TEST(CaptureWriter, TsharkReadsThePrefixAndThePacket) {
  if (std::system("command -v tshark >/dev/null 2>&1") != 0) GTEST_SKIP() << "tshark not installed";
  testing::TempDir dir;
  const std::string path = dir.path() + "/t.pcap";
  const Bytes f = UdpFrame(41);  // the payload TLV's length is not a multiple of 4
  {
    auto w = CaptureWriter::Open(path, CaptureLinkType::kNflog);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(Hdr(XVR_HOOK_XDP_POD, XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS, f.size(),
                                f.size()),
                            f.data(), {1700000000, 0}).ok());
  }
  const std::string cmd = "tshark -r " + path +
                          " -T fields -E separator=, -e nflog.prefix -e ip.src -e ip.dst -e "
                          "udp.dstport -e nflog.ifindex_indev 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {};
  const size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  std::string out(buf, n);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  EXPECT_EQ(out, "xdp_pod drop policy_denied_ingress,10.244.1.10,10.244.1.20,5678,7");
}

}  // namespace
}  // namespace xvr

// The packet builder is test infrastructure the program tests trust for
// "expected" bytes, so it is checked against independent values here.
#include "test/bpf/packet_builder.h"

#include "gtest/gtest.h"

namespace xvr::test {
namespace {

const Mac kSrc = MacFrom("02:00:00:00:00:01");
const Mac kDst = MacFrom("02:00:00:00:00:02");

uint16_t Be16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}

// Verifies an L4 checksum over the pseudo-header, as a receiver does.
bool L4ChecksumOk(const Bytes& frame, uint8_t proto) {
  const size_t ihl = (frame[kEthHdrLen] & 0x0f) * 4u;
  const size_t l4 = kEthHdrLen + ihl;
  const size_t len = Be16(frame, kEthHdrLen + 2) - ihl;
  uint32_t seed = 0;
  for (size_t i = kEthHdrLen + 12; i < kEthHdrLen + 20; i += 2) seed += Be16(frame, i);
  seed += proto + static_cast<uint32_t>(len);
  return InetChecksum(frame.data() + l4, len, seed) == 0;
}

TEST(PacketBuilder, Ipv4HeaderMatchesAKnownChecksum) {
  // The textbook header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
  const Bytes p = PacketBuilder()
                      .Eth(kSrc, kDst)
                      .IPv4(Ip("192.168.0.1"), Ip("192.168.0.199"),
                            {.ttl = 64, .id = 0, .df = true, .protocol = 17, .tot_len = 0x73})
                      .Build();
  const Bytes want = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(Bytes(p.begin() + kEthHdrLen, p.end()), want) << HexDump(p);
  EXPECT_EQ(Be16(p, 12), kEthPIp);
}

TEST(PacketBuilder, EthernetHeaderIsDstSrcType) {
  const Bytes p = PacketBuilder().Eth(kSrc, kDst, kEthPLldp).Build();
  const Bytes want = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xcc};
  EXPECT_EQ(p, want);
}

TEST(PacketBuilder, UdpTcpIcmpChecksumsVerify) {
  const Ipv4 a = Ip("10.1.2.3"), b = Ip("10.4.5.6");
  const Bytes udp = PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).UDP(53, 5353).Payload("odd").Build();
  EXPECT_EQ(udp[kEthHdrLen + 9], 17);
  EXPECT_EQ(Be16(udp, kEthHdrLen + 2), 20 + 8 + 3);
  EXPECT_EQ(Be16(udp, kEthHdrLen + 20 + 4), 8 + 3);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(udp));
  EXPECT_TRUE(L4ChecksumOk(udp, 17));

  const Bytes tcp =
      PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).TCP(1, 2, 3, 4, 0x10).Payload("x").Build();
  EXPECT_EQ(tcp[kEthHdrLen + 9], 6);
  EXPECT_TRUE(L4ChecksumOk(tcp, 6));

  const Bytes icmp =
      PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).ICMP(8, 0, 9, 10).Payload("ping").Build();
  EXPECT_EQ(icmp[kEthHdrLen + 9], 1);
  EXPECT_EQ(InetChecksum(icmp.data() + kEthHdrLen + 20, icmp.size() - kEthHdrLen - 20), 0);
}

TEST(PacketBuilder, FragmentFlagsAndOffset) {
  const Bytes p =
      PacketBuilder()
          .Eth(kSrc, kDst)
          .IPv4(Ip("1.1.1.1"), Ip("2.2.2.2"), {.df = true, .mf = true, .frag_offset = 185})
          .Build();
  EXPECT_EQ(Be16(p, kEthHdrLen + 6), 0x4000 | 0x2000 | 185);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(p));
}

TEST(PacketBuilder, OptionsArePaddedAndCountedInIhl) {
  const Bytes p = PacketBuilder()
                      .Eth(kSrc, kDst)
                      .IPv4(Ip("1.1.1.1"), Ip("2.2.2.2"), {.options = {0x01, 0x01, 0x01}})
                      .UDP(1, 2)
                      .Build();
  EXPECT_EQ(p[kEthHdrLen], 0x46);
  EXPECT_EQ(Be16(p, kEthHdrLen + 2), 24 + 8);
  EXPECT_EQ(p[kEthHdrLen + 23], 0x00);  // EOL padding
  EXPECT_TRUE(Ipv4HeaderChecksumOk(p));
  EXPECT_TRUE(L4ChecksumOk(p, 17));
}

TEST(PacketBuilder, OverridesProduceMalformedHeaders) {
  const Bytes p = PacketBuilder()
                      .Eth(kSrc, kDst)
                      .IPv4(Ip("1.1.1.1"), Ip("2.2.2.2"),
                            {.version = 6, .ihl = 4, .tot_len = 9999, .check = 0xdead})
                      .Build();
  EXPECT_EQ(p[kEthHdrLen], 0x64);
  EXPECT_EQ(Be16(p, kEthHdrLen + 2), 9999);
  EXPECT_EQ(Be16(p, kEthHdrLen + 10), 0xdead);
}

TEST(PacketBuilder, ArpLayout) {
  ArpFields a;
  a.op = 2;
  a.sha = kSrc;
  a.spa = Ip("10.0.0.1");
  a.tha = kDst;
  a.tpa = Ip("10.0.0.2");
  const Bytes p = PacketBuilder().Eth(kSrc, kDst).ARP(a).Build();
  ASSERT_EQ(p.size(), kEthHdrLen + kArpLen);
  const Bytes want = {0x00, 0x01, 0x08, 0x00, 6, 4,    0x00, 0x02,  // htype ptype hlen plen op
                      0x02, 0,    0,    0,    0, 0x01, 10,   0,    0, 1,   // sha spa
                      0x02, 0,    0,    0,    0, 0x02, 10,   0,    0, 2};  // tha tpa
  EXPECT_EQ(Bytes(p.begin() + kEthHdrLen, p.end()), want);
  EXPECT_EQ(Be16(p, 12), kEthPArp);
}

TEST(PacketBuilder, PadIsNotCountedInLengths) {
  const Bytes p =
      PacketBuilder().Eth(kSrc, kDst).IPv4(Ip("1.1.1.1"), Ip("2.2.2.2")).UDP(1, 2).Pad(18).Build();
  EXPECT_EQ(p.size(), 60u);
  EXPECT_EQ(Be16(p, kEthHdrLen + 2), 28);
  EXPECT_TRUE(L4ChecksumOk(p, 17));
}

TEST(PacketBuilder, TruncateHexDumpAndMismatch) {
  const Bytes p = PacketBuilder().Eth(kSrc, kDst, 0x0800).Payload("ABCDEFGHIJ").Build();
  EXPECT_EQ(Truncate(p, 10).size(), 10u);
  EXPECT_EQ(Truncate(p, 1000), p);
  const std::string dump = HexDump(p);
  EXPECT_NE(dump.find("0000  02 00 00 00 00 02 02 00  00 00 00 01 08 00 41 42"), std::string::npos)
      << dump;
  EXPECT_NE(dump.find("0010  43 44"), std::string::npos) << dump;
  EXPECT_EQ(DescribeMismatch(p, p), "");
  Bytes q = p;
  q[15] ^= 1;
  EXPECT_NE(DescribeMismatch(p, q).find("0xf"), std::string::npos);
}

}  // namespace
}  // namespace xvr::test

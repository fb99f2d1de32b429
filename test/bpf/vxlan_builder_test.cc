// The VXLAN part of the packet builder, checked against values written out
// by hand (RFC 7348 §5 layout; the outer checksum computed separately), as
// packet_builder_test.cc does for the other layers: the VXLAN program tests
// trust it for their expected bytes.
#include "gtest/gtest.h"
#include "test/bpf/packet_builder.h"

namespace xvr::test {
namespace {

const Mac kSrc = MacFrom("02:00:00:00:00:01");
const Mac kDst = MacFrom("02:00:00:00:00:02");

TEST(VxlanBuilder, HeaderIsFlagsReservedVniReserved) {
  EXPECT_EQ(PacketBuilder().VXLAN(0x123456).Build(),
            (Bytes{0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x00}));
  EXPECT_EQ(PacketBuilder().VXLAN(1).Build(), (Bytes{0x08, 0, 0, 0, 0, 0, 0x01, 0}));
  EXPECT_EQ(PacketBuilder()
                .VXLAN(0xffffff, {.flags = 0x00, .reserved1 = 0xabcdef, .reserved2 = 0x99})
                .Build(),
            (Bytes{0x00, 0xab, 0xcd, 0xef, 0xff, 0xff, 0xff, 0x99}));
  // Only 24 bits of VNI exist.
  EXPECT_EQ(PacketBuilder().VXLAN(0x01000002).Build(), (Bytes{0x08, 0, 0, 0, 0, 0, 0x02, 0}));
}

TEST(VxlanBuilder, UdpChecksumAndLengthOverrides) {
  const Ipv4 a = Ip("10.0.0.1"), b = Ip("10.0.0.2");
  const Bytes computed = PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).UDP(1, 2).Payload("x").Build();
  EXPECT_NE(Be16At(computed, kEthHdrLen + kIpv4HdrLen + 6), 0);
  const Bytes zero =
      PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).UDP(1, 2, {.check = 0}).Payload("x").Build();
  EXPECT_EQ(Be16At(zero, kEthHdrLen + kIpv4HdrLen + 6), 0);
  EXPECT_EQ(Be16At(zero, kEthHdrLen + kIpv4HdrLen + 4), 9);
  const Bytes len =
      PacketBuilder().Eth(kSrc, kDst).IPv4(a, b).UDP(1, 2, {.len = 77}).Payload("x").Build();
  EXPECT_EQ(Be16At(len, kEthHdrLen + kIpv4HdrLen + 4), 77);
}

TEST(VxlanBuilder, EncapMatchesHandWrittenOuterHeaders) {
  // A 60-byte inner frame (padded) from node .12 to node .11, VNI 1.
  const Bytes inner = PacketBuilder()
                          .Eth(kSrc, kDst)
                          .IPv4(Ip("10.244.2.5"), Ip("10.244.1.20"))
                          .UDP(1, 2)
                          .Pad(18)
                          .Build();
  ASSERT_EQ(inner.size(), 60u);
  VxlanOuter o;
  o.src_mac = MacFrom("02:fa:00:00:00:0c");
  o.dst_mac = MacFrom("02:fa:00:00:00:0b");
  o.src = Ip("192.168.250.12");
  o.dst = Ip("192.168.250.11");
  o.sport = 0xc123;
  const Bytes p = VxlanEncap(o, inner);
  const Bytes want_outer = {
      // Ethernet: dst, src, IPv4
      0x02, 0xfa, 0x00, 0x00, 0x00, 0x0b, 0x02, 0xfa, 0x00, 0x00, 0x00, 0x0c, 0x08, 0x00,
      // IPv4: 45 00, total 96 = 20 + 8 + 8 + 60, id 0, no flags, TTL 64, UDP,
      // checksum 0x0524, 192.168.250.12 -> 192.168.250.11
      0x45, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x05, 0x24, 0xc0, 0xa8,
      0xfa, 0x0c, 0xc0, 0xa8, 0xfa, 0x0b,
      // UDP: 0xc123 -> 4789, length 76 = 8 + 8 + 60, checksum 0
      0xc1, 0x23, 0x12, 0xb5, 0x00, 0x4c, 0x00, 0x00,
      // VXLAN: I flag, VNI 1
      0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00};
  ASSERT_EQ(want_outer.size(), kVxlanEncapLen);
  ASSERT_EQ(p.size(), kVxlanEncapLen + inner.size());
  EXPECT_EQ(Bytes(p.begin(), p.begin() + kVxlanEncapLen), want_outer) << HexDump(p);
  EXPECT_EQ(Bytes(p.begin() + kInnerFrameOff, p.end()), inner);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(p));
}

}  // namespace
}  // namespace xvr::test

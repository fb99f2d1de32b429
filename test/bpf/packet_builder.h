// A small packet builder for the BPF program tests, after Katran's
// testing/tools/PacketBuilder: layers are stacked in order and serialised by
// Build(), which fills in what was left to it (ethertype, IPv4 protocol,
// total length, IHL and checksum, UDP length, L4 checksums).
//
//   Bytes pkt = PacketBuilder()
//                   .Eth(kPodMac, kHostMac)
//                   .IPv4(Ip("10.0.0.1"), Ip("10.0.0.2"), {.ttl = 2})
//                   .UDP(1000, 53)
//                   .Payload("hello")
//                   .Build();
//
// Every field the programs validate can be overridden (version, IHL, total
// length, checksum) to build malformed packets on purpose.
//
// Layers nest: a VXLAN packet is the outer layers, a VXLAN header and the
// inner frame's layers (VxlanEncap() below wraps an already built frame):
//
//   Bytes vx = PacketBuilder()
//                  .Eth(kNodeMac, kPeerMac)
//                  .IPv4(Ip("192.168.250.12"), Ip("192.168.250.11"), {.id = 0})
//                  .UDP(50000, kVxlanPort, {.check = 0})
//                  .VXLAN(1)
//                  .Eth(kVtepMac, kOtherVtepMac)
//                  .IPv4(Ip("10.244.2.5"), Ip("10.244.1.20"))
//                  .UDP(1000, 53)
//                  .Build();
#ifndef XVR_TEST_BPF_PACKET_BUILDER_H
#define XVR_TEST_BPF_PACKET_BUILDER_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace xvr::test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

// An IPv4 address in network byte order, as it sits in a packet or in a
// __be32 map field.
struct Ipv4 {
  std::array<uint8_t, 4> b{};

  // The address as a __be32: the four bytes in memory order.
  uint32_t be32() const;
  std::string str() const;
  bool operator==(const Ipv4&) const = default;
};

// "02:00:00:00:00:01" → Mac; aborts on a malformed literal (test constants).
Mac MacFrom(const char* text);
// "10.244.1.10" → Ipv4; aborts on a malformed literal.
Ipv4 Ip(const char* text);

inline constexpr uint16_t kEthPIp = 0x0800;
inline constexpr uint16_t kEthPArp = 0x0806;
inline constexpr uint16_t kEthPIpv6 = 0x86dd;
inline constexpr uint16_t kEthPLldp = 0x88cc;
inline constexpr uint16_t kEthPVlan = 0x8100;
inline constexpr size_t kEthHdrLen = 14;
inline constexpr size_t kIpv4HdrLen = 20;
inline constexpr size_t kArpLen = 28;
inline constexpr size_t kUdpHdrLen = 8;
inline constexpr size_t kVxlanHdrLen = 8;
// Outer Ethernet + IPv4 + UDP + VXLAN in front of the inner frame.
inline constexpr size_t kVxlanEncapLen = kEthHdrLen + kIpv4HdrLen + kUdpHdrLen + kVxlanHdrLen;
inline constexpr uint16_t kVxlanPort = 4789;        // IANA (RFC 7348)
inline constexpr uint16_t kVxlanPortLinux = 8472;   // the Linux/flannel default
inline constexpr uint8_t kVxlanFlagI = 0x08;        // "VNI valid"

struct IPv4Options {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  bool df = false;
  bool mf = false;           // more fragments
  uint16_t frag_offset = 0;  // in 8-byte units
  Bytes options;             // raw option bytes, padded to 4 by Build()
  // Overrides; unset means "computed".
  std::optional<uint8_t> protocol;
  std::optional<uint8_t> version;   // default 4
  std::optional<uint8_t> ihl;       // default 5 + options words
  std::optional<uint16_t> tot_len;  // default header + everything after it
  std::optional<uint16_t> check;    // default the correct checksum
};

struct UdpOptions {
  // Overrides; unset means "computed". A VXLAN sender puts 0 (no checksum).
  std::optional<uint16_t> check;
  std::optional<uint16_t> len;
};

// The 8-byte VXLAN header (RFC 7348 §5): flags, 24 reserved bits, the VNI,
// 8 reserved bits.
struct VxlanOptions {
  uint8_t flags = kVxlanFlagI;
  uint32_t reserved1 = 0;  // low 24 bits used
  uint8_t reserved2 = 0;
};

struct ArpFields {
  uint16_t op = 1;
  Mac sha{};
  Ipv4 spa{};
  Mac tha{};
  Ipv4 tpa{};
  uint16_t htype = 1;
  uint16_t ptype = 0x0800;
  uint8_t hlen = 6;
  uint8_t plen = 4;
};

class PacketBuilder {
 public:
  // ethertype 0 = taken from the next layer (IPv4 / ARP).
  PacketBuilder& Eth(const Mac& src, const Mac& dst, uint16_t ethertype = 0);
  PacketBuilder& IPv4(const Ipv4& src, const Ipv4& dst, IPv4Options opts = {});
  PacketBuilder& UDP(uint16_t sport, uint16_t dport, UdpOptions opts = {});
  PacketBuilder& TCP(uint16_t sport, uint16_t dport, uint32_t seq = 1, uint32_t ack = 0,
                     uint8_t flags = 0x02 /* SYN */, uint16_t window = 65535);
  PacketBuilder& ICMP(uint8_t type, uint8_t code, uint16_t id = 1, uint16_t seq = 1);
  PacketBuilder& ARP(const ArpFields& arp);
  // A VXLAN header (vni: low 24 bits); what follows it (an Eth layer, or a
  // Payload holding a whole frame) is the inner frame.
  PacketBuilder& VXLAN(uint32_t vni, VxlanOptions opts = {});
  PacketBuilder& Payload(const Bytes& bytes);
  PacketBuilder& Payload(const std::string& text);
  // Zero bytes after everything else, not counted by IPv4 total length or
  // UDP length (Ethernet minimum-frame padding).
  PacketBuilder& Pad(size_t n);

  Bytes Build() const;

 private:
  struct EthL {
    Mac src, dst;
    uint16_t type;
  };
  struct IpL {
    Ipv4 src, dst;
    IPv4Options o;
  };
  struct UdpL {
    uint16_t sport, dport;
    UdpOptions o;
  };
  struct VxlanL {
    uint32_t vni;
    VxlanOptions o;
  };
  struct TcpL {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
  };
  struct IcmpL {
    uint8_t type, code;
    uint16_t id, seq;
  };
  struct ArpL {
    ArpFields f;
  };
  struct RawL {
    Bytes b;
  };
  using Layer = std::variant<EthL, IpL, UdpL, TcpL, IcmpL, ArpL, RawL, VxlanL>;

  std::vector<Layer> layers_;
  size_t pad_ = 0;
};

// The outer headers of a VXLAN packet as a VTEP sends them: Ethernet,
// IPv4 (id 0, no fragmentation flags, TTL 64 unless set), UDP with checksum
// 0, and the VXLAN header.
struct VxlanOuter {
  Mac src_mac{}, dst_mac{};
  Ipv4 src{}, dst{};
  uint16_t sport = 49152;
  uint16_t dport = kVxlanPort;
  uint32_t vni = 1;
  IPv4Options ip{.id = 0};
  UdpOptions udp{.check = 0};
  VxlanOptions vxlan{};
};

// inner_frame (a whole Ethernet frame, padding and all) wrapped in `outer`:
// the lengths count every byte of it.
Bytes VxlanEncap(const VxlanOuter& outer, const Bytes& inner_frame);

// Offsets into a VXLAN packet (outer IPv4 without options).
inline constexpr size_t kOuterIpOff = kEthHdrLen;
inline constexpr size_t kOuterUdpOff = kOuterIpOff + kIpv4HdrLen;
inline constexpr size_t kOuterSportOff = kOuterUdpOff;
inline constexpr size_t kVxlanOff = kOuterUdpOff + kUdpHdrLen;
inline constexpr size_t kInnerFrameOff = kVxlanEncapLen;

// Big-endian 16 bits at off.
uint16_t Be16At(const Bytes& b, size_t off);

// The first n bytes of a packet.
Bytes Truncate(const Bytes& pkt, size_t n);

// RFC 1071 Internet checksum over data (returns the value to store, in host
// order; 0 over data that includes a correct checksum field).
uint16_t InetChecksum(const uint8_t* data, size_t len, uint32_t seed = 0);

// True if the IPv4 header checksum behind an Ethernet header verifies.
bool Ipv4HeaderChecksumOk(const Bytes& frame);

// Classic 16-bytes-per-line hex dump with offsets and ASCII column.
std::string HexDump(const Bytes& pkt);

// Both packets side by side as hex dumps, with a line listing the first
// differing offsets; "" when equal.
std::string DescribeMismatch(const Bytes& expected, const Bytes& actual);

}  // namespace xvr::test

#endif

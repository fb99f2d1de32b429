#include "test/bpf/packet_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace xvr::test {
namespace {

void Put8(Bytes& b, uint8_t v) { b.push_back(v); }
void Put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void Put32(Bytes& b, uint32_t v) {
  Put16(b, static_cast<uint16_t>(v >> 16));
  Put16(b, static_cast<uint16_t>(v));
}
void PutN(Bytes& b, const uint8_t* p, size_t n) { b.insert(b.end(), p, p + n); }
void Set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoExperimental = 253;  // RFC 3692

// Sum of the TCP/UDP pseudo-header, to seed InetChecksum.
uint32_t PseudoHeaderSum(const Ipv4& src, const Ipv4& dst, uint8_t proto, size_t l4_len) {
  uint32_t sum = 0;
  sum += (src.b[0] << 8) | src.b[1];
  sum += (src.b[2] << 8) | src.b[3];
  sum += (dst.b[0] << 8) | dst.b[1];
  sum += (dst.b[2] << 8) | dst.b[3];
  sum += proto;
  sum += static_cast<uint32_t>(l4_len);
  return sum;
}

}  // namespace

uint32_t Ipv4::be32() const {
  uint32_t v;
  std::memcpy(&v, b.data(), 4);
  return v;
}

std::string Ipv4::str() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, b.data(), buf, sizeof(buf));
  return buf;
}

Mac MacFrom(const char* text) {
  Mac m{};
  unsigned v[6];
  if (std::sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
    std::fprintf(stderr, "bad MAC literal %s\n", text);
    std::abort();
  }
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
  return m;
}

Ipv4 Ip(const char* text) {
  Ipv4 a;
  if (inet_pton(AF_INET, text, a.b.data()) != 1) {
    std::fprintf(stderr, "bad IPv4 literal %s\n", text);
    std::abort();
  }
  return a;
}

uint16_t InetChecksum(const uint8_t* data, size_t len, uint32_t seed) {
  uint64_t sum = seed;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len & 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

bool Ipv4HeaderChecksumOk(const Bytes& frame) {
  if (frame.size() < kEthHdrLen + kIpv4HdrLen) return false;
  const size_t ihl = (frame[kEthHdrLen] & 0x0f) * 4u;
  if (ihl < kIpv4HdrLen || frame.size() < kEthHdrLen + ihl) return false;
  return InetChecksum(frame.data() + kEthHdrLen, ihl) == 0;
}

PacketBuilder& PacketBuilder::Eth(const Mac& src, const Mac& dst, uint16_t ethertype) {
  layers_.push_back(EthL{src, dst, ethertype});
  return *this;
}

PacketBuilder& PacketBuilder::IPv4(const Ipv4& src, const Ipv4& dst, IPv4Options opts) {
  layers_.push_back(IpL{src, dst, std::move(opts)});
  return *this;
}

PacketBuilder& PacketBuilder::UDP(uint16_t sport, uint16_t dport, UdpOptions opts) {
  layers_.push_back(UdpL{sport, dport, opts});
  return *this;
}

PacketBuilder& PacketBuilder::VXLAN(uint32_t vni, VxlanOptions opts) {
  layers_.push_back(VxlanL{vni, opts});
  return *this;
}

PacketBuilder& PacketBuilder::TCP(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                                  uint8_t flags, uint16_t window) {
  layers_.push_back(TcpL{sport, dport, seq, ack, flags, window});
  return *this;
}

PacketBuilder& PacketBuilder::ICMP(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  layers_.push_back(IcmpL{type, code, id, seq});
  return *this;
}

PacketBuilder& PacketBuilder::ARP(const ArpFields& arp) {
  layers_.push_back(ArpL{arp});
  return *this;
}

PacketBuilder& PacketBuilder::Payload(const Bytes& bytes) {
  layers_.push_back(RawL{bytes});
  return *this;
}

PacketBuilder& PacketBuilder::Payload(const std::string& text) {
  return Payload(Bytes(text.begin(), text.end()));
}

PacketBuilder& PacketBuilder::Pad(size_t n) {
  pad_ += n;
  return *this;
}

Bytes PacketBuilder::Build() const {
  // Serialise innermost first, so every layer sees the bytes it carries.
  Bytes rest;
  for (size_t i = layers_.size(); i-- > 0;) {
    const Layer* next = i + 1 < layers_.size() ? &layers_[i + 1] : nullptr;
    // The nearest enclosing IPv4 layer, for the L4 pseudo-header.
    const IpL* outer_ip = nullptr;
    for (size_t j = i; j-- > 0;) {
      if (const auto* ip = std::get_if<IpL>(&layers_[j])) {
        outer_ip = ip;
        break;
      }
    }
    Bytes h;
    std::visit(
        [&](const auto& l) {
          using T = std::decay_t<decltype(l)>;
          if constexpr (std::is_same_v<T, EthL>) {
            uint16_t type = l.type;
            if (type == 0 && next) {
              if (std::holds_alternative<IpL>(*next)) type = kEthPIp;
              if (std::holds_alternative<ArpL>(*next)) type = kEthPArp;
            }
            PutN(h, l.dst.data(), 6);
            PutN(h, l.src.data(), 6);
            Put16(h, type);
          } else if constexpr (std::is_same_v<T, IpL>) {
            const IPv4Options& o = l.o;
            Bytes opts = o.options;
            while (opts.size() % 4) opts.push_back(0);
            uint8_t proto = kProtoExperimental;
            if (next && std::holds_alternative<UdpL>(*next)) proto = kProtoUdp;
            if (next && std::holds_alternative<TcpL>(*next)) proto = kProtoTcp;
            if (next && std::holds_alternative<IcmpL>(*next)) proto = kProtoIcmp;
            const size_t hlen = kIpv4HdrLen + opts.size();
            const uint8_t ihl = o.ihl.value_or(static_cast<uint8_t>(hlen / 4));
            Put8(h, static_cast<uint8_t>((o.version.value_or(4) << 4) | (ihl & 0x0f)));
            Put8(h, o.tos);
            Put16(h, o.tot_len.value_or(static_cast<uint16_t>(hlen + rest.size())));
            Put16(h, o.id);
            Put16(h, static_cast<uint16_t>((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) |
                                           (o.frag_offset & 0x1fff)));
            Put8(h, o.ttl);
            Put8(h, o.protocol.value_or(proto));
            Put16(h, 0);
            PutN(h, l.src.b.data(), 4);
            PutN(h, l.dst.b.data(), 4);
            PutN(h, opts.data(), opts.size());
            Set16(h, 10, o.check.value_or(InetChecksum(h.data(), h.size())));
          } else if constexpr (std::is_same_v<T, UdpL>) {
            const size_t len = 8 + rest.size();
            Put16(h, l.sport);
            Put16(h, l.dport);
            Put16(h, l.o.len.value_or(static_cast<uint16_t>(len)));
            Put16(h, 0);
            if (l.o.check) {
              Set16(h, 6, *l.o.check);
            } else if (outer_ip) {
              Bytes all = h;
              all.insert(all.end(), rest.begin(), rest.end());
              uint16_t c =
                  InetChecksum(all.data(), all.size(),
                               PseudoHeaderSum(outer_ip->src, outer_ip->dst, kProtoUdp, len));
              Set16(h, 6, c == 0 ? 0xffff : c);
            }
          } else if constexpr (std::is_same_v<T, TcpL>) {
            Put16(h, l.sport);
            Put16(h, l.dport);
            Put32(h, l.seq);
            Put32(h, l.ack);
            Put8(h, 5 << 4);  // data offset: 5 words, no options
            Put8(h, l.flags);
            Put16(h, l.win);
            Put16(h, 0);  // checksum
            Put16(h, 0);  // urgent pointer
            if (outer_ip) {
              Bytes all = h;
              all.insert(all.end(), rest.begin(), rest.end());
              Set16(h, 16,
                    InetChecksum(
                        all.data(), all.size(),
                        PseudoHeaderSum(outer_ip->src, outer_ip->dst, kProtoTcp, all.size())));
            }
          } else if constexpr (std::is_same_v<T, IcmpL>) {
            Put8(h, l.type);
            Put8(h, l.code);
            Put16(h, 0);
            Put16(h, l.id);
            Put16(h, l.seq);
            Bytes all = h;
            all.insert(all.end(), rest.begin(), rest.end());
            Set16(h, 2, InetChecksum(all.data(), all.size()));
          } else if constexpr (std::is_same_v<T, ArpL>) {
            const ArpFields& a = l.f;
            Put16(h, a.htype);
            Put16(h, a.ptype);
            Put8(h, a.hlen);
            Put8(h, a.plen);
            Put16(h, a.op);
            PutN(h, a.sha.data(), 6);
            PutN(h, a.spa.b.data(), 4);
            PutN(h, a.tha.data(), 6);
            PutN(h, a.tpa.b.data(), 4);
          } else if constexpr (std::is_same_v<T, RawL>) {
            h = l.b;
          } else if constexpr (std::is_same_v<T, VxlanL>) {
            Put8(h, l.o.flags);
            Put8(h, static_cast<uint8_t>(l.o.reserved1 >> 16));
            Put16(h, static_cast<uint16_t>(l.o.reserved1));
            Put16(h, static_cast<uint16_t>((l.vni & 0xffffff) >> 8));
            Put8(h, static_cast<uint8_t>(l.vni));
            Put8(h, l.o.reserved2);
          }
        },
        layers_[i]);
    h.insert(h.end(), rest.begin(), rest.end());
    rest = std::move(h);
  }
  rest.resize(rest.size() + pad_, 0);
  return rest;
}

Bytes VxlanEncap(const VxlanOuter& o, const Bytes& inner_frame) {
  return PacketBuilder()
      .Eth(o.src_mac, o.dst_mac)
      .IPv4(o.src, o.dst, o.ip)
      .UDP(o.sport, o.dport, o.udp)
      .VXLAN(o.vni, o.vxlan)
      .Payload(inner_frame)
      .Build();
}

uint16_t Be16At(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1));
}

Bytes Truncate(const Bytes& pkt, size_t n) {
  return Bytes(pkt.begin(), pkt.begin() + std::min(n, pkt.size()));
}

std::string HexDump(const Bytes& pkt) {
  std::string out;
  char buf[32];
  for (size_t off = 0; off < pkt.size(); off += 16) {
    std::snprintf(buf, sizeof(buf), "%04zx  ", off);
    out += buf;
    for (size_t i = 0; i < 16; ++i) {
      if (off + i < pkt.size()) {
        std::snprintf(buf, sizeof(buf), "%02x ", pkt[off + i]);
        out += buf;
      } else {
        out += "   ";
      }
      if (i == 7) out += ' ';
    }
    out += " |";
    for (size_t i = 0; i < 16 && off + i < pkt.size(); ++i) {
      const uint8_t c = pkt[off + i];
      out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '.';
    }
    out += "|\n";
  }
  if (pkt.empty()) out = "(empty)\n";
  return out;
}

std::string DescribeMismatch(const Bytes& expected, const Bytes& actual) {
  if (expected == actual) return "";
  std::string out;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "expected %zu bytes, got %zu bytes\n", expected.size(),
                actual.size());
  out += buf;
  out += "differing offsets:";
  int shown = 0;
  for (size_t i = 0; i < std::max(expected.size(), actual.size()) && shown < 16; ++i) {
    if (i >= expected.size() || i >= actual.size() || expected[i] != actual[i]) {
      std::snprintf(buf, sizeof(buf), " 0x%zx", i);
      out += buf;
      ++shown;
    }
  }
  out += "\nexpected:\n" + HexDump(expected) + "actual:\n" + HexDump(actual);
  return out;
}

}  // namespace xvr::test

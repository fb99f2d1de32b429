// Services (bpf/lib/svc.h, the kube-proxy replacement) through BPF_PROG_RUN:
// ClusterIP DNAT from pods (xdp_pod, tc_pod) and from the node
// (tc_host_egress), NodePort and externalIP frontends on the fabric NIC
// (xdp_fabric), replies and ICMP errors translated back, Maglev selection,
// established connections, session affinity, rejects of services without
// endpoints, hairpin, and packets that must not be translated.
//
// The node is node 1 of vxlan_cases.h (pods A, B, C; node 2's pod CIDR
// through the tunnel) with these frontends and backends:
//
//   ClusterIP   10.96.0.10:80      INTERNAL   (pods, the node)
//   NodePort    *:30080            EXTERNAL   (address 0: the node IP)
//   externalIP  198.51.100.50:80   EXTERNAL
//   backend 11  pod B 10.244.1.20:8080        this node (XVR_BE_F_LOCAL)
//   backend 12  node 2's pod 10.244.2.5:8080  through the tunnel
//   backend 13  pod A 10.244.1.10:8080        this node (hairpin)
//
// Every packet the programs forward is compared byte for byte with the one
// the packet builder makes, and its checksums are recomputed from scratch
// (IPv4 header, TCP/UDP with the pseudo-header, ICMP over the whole message
// and the embedded IPv4 header, SCTP's CRC32c). The selection hash and the
// SNAT port are replicated from svc.h, so the chosen backend and port are
// checked exactly, not only "some backend".
//
// Tests that cross programs (pod → fabric, fabric → pod) carry the service
// tables over with SnapshotServices()/RestoreServices() (Switch()).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/vxlan_cases.h"

namespace xvr::test {
namespace {

inline constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kSctp = 132;
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
inline constexpr size_t kIpOff = kEthHdrLen;
inline constexpr size_t kL4Off = kEthHdrLen + kIpv4HdrLen;

inline constexpr Ipv4 kVip{{10, 96, 0, 10}};
inline constexpr Ipv4 kExternalIp{{198, 51, 100, 50}};
inline constexpr Ipv4 kClientIp{{203, 0, 113, 5}};  // outside the cluster
inline constexpr uint16_t kVport = 80;              // service port
inline constexpr uint16_t kBport = 8080;            // backend port
inline constexpr uint16_t kNodePort = 30080;
inline constexpr uint16_t kCport = 40000;       // pod A's source port
inline constexpr uint16_t kClientPort = 55555;  // the outside client's
inline constexpr uint16_t kHostPort = 45000;    // the node's own source port

inline constexpr uint32_t kTable = 7;
inline constexpr uint32_t kBeLocal = 11;   // pod B
inline constexpr uint32_t kBeRemote = 12;  // node 2's pod
inline constexpr uint32_t kBeSelf = 13;    // pod A
inline constexpr uint32_t kSlots = 13;     // a small prime Maglev table

const std::string kPayload = "xvr-service-payload-0123456789";

// svc_hash() of bpf/lib/svc.h: the 32-bit values are the network-order
// fields as loaded on this (the same) host.
uint32_t SvcHash(uint32_t saddr_be, uint16_t sport_be, uint8_t proto) {
  uint32_t h = saddr_be ^ (static_cast<uint32_t>(sport_be) << 16) ^ proto;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

// The Maglev slot of a new connection from client:sport.
uint32_t MaglevSlot(const Ipv4& client, uint16_t sport, uint8_t proto, uint32_t m) {
  return SvcHash(client.be32(), htons(sport), proto) % m;
}

// The SNAT port svc_snat_port() tries first for client:sport → frontend.
uint16_t FirstSnatPort(const Ipv4& client, const Ipv4& frontend, uint16_t sport, uint8_t proto) {
  const uint32_t h = SvcHash(client.be32() ^ frontend.be32(), htons(sport), proto);
  return static_cast<uint16_t>(XVR_NAT_PORT_MIN + h % XVR_NAT_PORT_COUNT);
}

uint64_t MonotonicNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// --- Packets ----------------------------------------------------------------------------

// CRC32c (Castagnoli), as SCTP uses it (RFC 4960 appendix B).
uint32_t Crc32c(const uint8_t* p, size_t n) {
  uint32_t c = ~0u;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
  }
  return ~c;
}

// An SCTP packet (common header + one DATA chunk) with a valid CRC32c,
// stored least significant byte first like Linux does.
Bytes SctpSegment(uint16_t sport, uint16_t dport, const std::string& payload) {
  Bytes b = {static_cast<uint8_t>(sport >> 8),
             static_cast<uint8_t>(sport),
             static_cast<uint8_t>(dport >> 8),
             static_cast<uint8_t>(dport),
             0x0a,
             0x0b,
             0x0c,
             0x0d,  // verification tag
             0,
             0,
             0,
             0};  // checksum
  const size_t len = 16 + payload.size();
  const Bytes chunk = {0,
                       3,
                       static_cast<uint8_t>(len >> 8),
                       static_cast<uint8_t>(len),
                       0,
                       0,
                       0,
                       1,  // TSN
                       0,
                       0,
                       0,
                       0,  // stream, sequence
                       0,
                       0,
                       0,
                       0};  // payload protocol
  b.insert(b.end(), chunk.begin(), chunk.end());
  b.insert(b.end(), payload.begin(), payload.end());
  while (b.size() % 4) b.push_back(0);
  const uint32_t crc = Crc32c(b.data(), b.size());
  for (int i = 0; i < 4; ++i) b[8 + i] = static_cast<uint8_t>(crc >> (8 * i));
  return b;
}

bool SctpCrcOk(const uint8_t* l4, size_t len) {
  if (len < 12) return false;
  Bytes b(l4, l4 + len);
  const uint32_t stored = b[8] | b[9] << 8 | b[10] << 16 | static_cast<uint32_t>(b[11]) << 24;
  std::fill_n(b.begin() + 8, 4, 0);
  return Crc32c(b.data(), b.size()) == stored;
}

// What goes behind the IPv4 header.
struct L4 {
  uint8_t proto = kTcp;
  uint32_t seq = 1000, ack = 0;
  uint8_t flags = kSyn;
  bool udp_no_csum = false;  // UDP checksum 0: none
  std::string payload = kPayload;
  uint16_t window = 65535;
};

L4 Tcp(uint8_t flags = kSyn, uint32_t seq = 1000, uint32_t ack = 0) {
  return L4{.proto = kTcp, .seq = seq, .ack = ack, .flags = flags};
}
L4 Udp(bool no_csum = false) { return L4{.proto = kUdp, .udp_no_csum = no_csum}; }
// The backend's answer in the same protocol: SYN-ACK for TCP.
L4 ReplyOf(const L4& l4) {
  L4 r = l4;
  r.seq = 5000;
  r.ack = l4.seq + 1;
  r.flags = kSyn | kAck;
  r.payload = "reply-" + l4.payload;
  return r;
}

Bytes Frame(const Mac& smac, const Mac& dmac, const Ipv4& src, const Ipv4& dst, uint16_t sport,
            uint16_t dport, const L4& l4 = {}, IPv4Options o = {}) {
  PacketBuilder b;
  if (l4.proto == kSctp) o.protocol = kSctp;
  b.Eth(smac, dmac).IPv4(src, dst, std::move(o));
  switch (l4.proto) {
    case kTcp: b.TCP(sport, dport, l4.seq, l4.ack, l4.flags, l4.window).Payload(l4.payload); break;
    case kUdp:
      b.UDP(sport, dport, l4.udp_no_csum ? UdpOptions{.check = 0} : UdpOptions{})
          .Payload(l4.payload);
      break;
    case kSctp: b.Payload(SctpSegment(sport, dport, l4.payload)); break;
  }
  return b.Build();
}

IPv4Options Ttl(uint8_t ttl) { return IPv4Options{.ttl = ttl}; }

// A packet pod `from` sends (to its gateway MAC).
Bytes FromPod(const PodAddr& from, const Ipv4& dst, uint16_t sport, uint16_t dport,
              const L4& l4 = {}) {
  return Frame(from.mac, from.host_mac, from.ip, dst, sport, dport, l4);
}
// A packet as delivered to pod `to` (MACs of its veth), TTL as given.
Bytes ToPod(const PodAddr& to, const Ipv4& src, uint16_t sport, uint16_t dport, const L4& l4,
            uint8_t ttl = 63) {
  return Frame(to.host_mac, to.mac, src, to.ip, sport, dport, l4, Ttl(ttl));
}
// An inner frame between the VTEPs of node 1 and node 2.
Bytes Node1Inner(const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport, const L4& l4,
                 uint8_t ttl) {
  return Frame(kVtep1Mac, kVtep2Mac, src, dst, sport, dport, l4, Ttl(ttl));
}
// What node 2 sends back through the tunnel.
Bytes FromNode2(const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport, const L4& l4,
                uint8_t ttl = 63) {
  return VxlanEncap(Node2ToNode1(),
                    Frame(kVtep2Mac, kVtep1Mac, src, dst, sport, dport, l4, Ttl(ttl)));
}
// An outside client's packet arriving on the fabric NIC from the underlay
// gateway, or one leaving through it.
Bytes FromOutside(const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport, const L4& l4,
                  uint8_t ttl = 50) {
  return Frame(kUnderlayGwMac, kFabricMac, src, dst, sport, dport, l4, Ttl(ttl));
}
Bytes ToOutside(const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport, const L4& l4,
                uint8_t ttl) {
  return Frame(kFabricMac, kUnderlayGwMac, src, dst, sport, dport, l4, Ttl(ttl));
}

// The 54-byte RST and the 70-byte ICMP port unreachable svc_reject() makes.
Bytes Rst(const Mac& smac, const Mac& dmac, const Ipv4& src, const Ipv4& dst, uint16_t sport,
          uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags) {
  return PacketBuilder()
      .Eth(smac, dmac)
      .IPv4(src, dst, {.ttl = 64, .id = 0, .df = true})
      .TCP(sport, dport, seq, ack, flags, 0)
      .Build();
}
Bytes PortUnreachable(const Mac& smac, const Mac& dmac, const Ipv4& src, const Ipv4& dst,
                      const Bytes& orig) {
  const Bytes embedded(orig.begin() + kIpOff, orig.begin() + kIpOff + kIpv4HdrLen + 8);
  return PacketBuilder()
      .Eth(smac, dmac)
      .IPv4(src, dst, {.ttl = 64, .id = 0, .df = true})
      .ICMP(3, 3, 0, 0)
      .Payload(embedded)
      .Build();
}

Bytes Sub(const Bytes& b, size_t off) {
  return off <= b.size() ? Bytes(b.begin() + static_cast<long>(off), b.end()) : Bytes{};
}

Ipv4 IpAt(const Bytes& f, size_t off) {
  Ipv4 ip;
  std::copy_n(f.begin() + static_cast<long>(off), 4, ip.b.begin());
  return ip;
}

void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void PutIp(Bytes& b, size_t off, const Ipv4& ip) {
  std::copy(ip.b.begin(), ip.b.end(), b.begin() + static_cast<long>(off));
}

// An IPv4 header (20 bytes at `off`) with its checksum recomputed.
void FixIpChecksum(Bytes& b, size_t off) {
  Put16(b, off + 10, 0);
  Put16(b, off + 10, InetChecksum(b.data() + off, kIpv4HdrLen));
}

// --- Checksums, from scratch ------------------------------------------------------------

// The L4 checksum of an Ethernet/IPv4 (no options) frame: TCP/UDP over the
// pseudo-header (a UDP checksum of 0 verifies), ICMP over the whole message,
// SCTP's CRC32c.
bool L4ChecksumOk(const Bytes& f) {
  if (f.size() < kL4Off) return false;
  const uint8_t proto = f[kIpOff + 9];
  const size_t tot = Be16At(f, kIpOff + 2);
  if (tot < kIpv4HdrLen || kIpOff + tot > f.size()) return false;
  const size_t l4len = tot - kIpv4HdrLen;
  const uint8_t* l4 = f.data() + kL4Off;
  switch (proto) {
    case kIcmp: return InetChecksum(l4, l4len) == 0;
    case kSctp: return SctpCrcOk(l4, l4len);
    case kUdp:
      if (l4len < 8) return false;
      if (Be16At(f, kL4Off + 6) == 0) return true;
      break;
    case kTcp:
      if (l4len < 20) return false;
      break;
    default: return false;
  }
  uint32_t seed = 0;
  for (size_t i = 0; i < 8; i += 2) seed += f[kIpOff + 12 + i] << 8 | f[kIpOff + 13 + i];
  seed += proto;
  seed += static_cast<uint32_t>(l4len);
  return InetChecksum(l4, l4len, seed) == 0;
}

bool IsIcmpError(const Bytes& f) {
  return f.size() >= kL4Off + 8 + kIpv4HdrLen && f[kIpOff + 9] == kIcmp &&
         (f[kL4Off] == 3 || f[kL4Off] == 11 || f[kL4Off] == 12);
}

void ExpectChecksums(const Bytes& f) {
  SCOPED_TRACE("frame:\n" + HexDump(f));
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f)) << "IPv4 header checksum";
  EXPECT_TRUE(L4ChecksumOk(f)) << "L4 checksum";
  if (IsIcmpError(f)) {
    EXPECT_EQ(InetChecksum(f.data() + kL4Off + 8, kIpv4HdrLen), 0)
        << "embedded IPv4 header checksum";
  }
}

void ExpectFrame(const Bytes& got, const Bytes& want) {
  EXPECT_TRUE(got == want) << DescribeMismatch(want, got);
  ExpectChecksums(got);
}

// A VXLAN packet from node 1 to node 2 carrying `inner`: exact, the outer
// UDP source port (a flow hash) taken from the output.
void ExpectToNode2(const Bytes& got, const Bytes& inner) {
  ASSERT_GT(got.size(), kInnerFrameOff + kL4Off) << "not encapsulated:\n" << HexDump(got);
  Bytes want = VxlanEncap(Node1ToNode2(), inner);
  EXPECT_GE(Be16At(got, kOuterSportOff), 49152) << "outer UDP source port";
  want[kOuterSportOff] = got[kOuterSportOff];
  want[kOuterSportOff + 1] = got[kOuterSportOff + 1];
  EXPECT_TRUE(got == want) << DescribeMismatch(want, got);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(got)) << "outer IPv4 header checksum";
  ExpectChecksums(Sub(got, kInnerFrameOff));
}

bool Encapsulated(const Bytes& f) {
  return f.size() > kVxlanEncapLen + kL4Off && Be16At(f, kOuterUdpOff + 2) == kVxlanPort &&
         f[kIpOff + 9] == kUdp;
}

// --- Keys -------------------------------------------------------------------------------

xvr_nat_key Tuple(const Ipv4& s, const Ipv4& d, uint16_t sport, uint16_t dport, uint8_t proto) {
  xvr_nat_key k{};
  k.saddr = s.be32();
  k.daddr = d.be32();
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  return k;
}

xvr_svc_key SvcKey(const Ipv4& addr, uint16_t port, uint8_t proto, uint8_t scope) {
  xvr_svc_key k{};
  k.addr = addr.be32();
  k.port = htons(port);
  k.proto = proto;
  k.scope = scope;
  return k;
}

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case kTcp: return "tcp";
    case kUdp: return "udp";
    case kSctp: return "sctp";
    case kIcmp: return "icmp";
  }
  return std::to_string(proto);
}

std::string ProgTag(Program p) {
  switch (p) {
    case Program::kXdpPod: return "XdpPod";
    case Program::kTcPod: return "TcPod";
    case Program::kTcHostEgress: return "TcHostEgress";
    case Program::kXdpFabric: return "XdpFabric";
  }
  return "?";
}

// --- The fixture ------------------------------------------------------------------------

struct SvcSetup {
  // A kernel default route via the underlay gateway out of the fabric NIC
  // and the gateway's MAC (replies to outside clients can leave), and the
  // underlay subnet on-link (node 2 stays a direct neighbour).
  bool default_route = false;
  // spec.masquerade: NAPT for pod traffic leaving the cluster CIDR
  // 10.244.0.0/16. Service replies must not get it on top.
  bool masquerade = false;
};

class SvcTest : public BpfProgramTest {
 protected:
  // Loads p as node 1 with the overlay (node 2's pod CIDR through the
  // tunnel, node 2's MAC known). Use with ASSERT_NO_FATAL_FAILURE.
  void Load(Program p, SvcSetup s = {}) {
    setup_ = s;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(p));
    if (fabric_.ifindex == 0) {
      ASSERT_NO_FATAL_FAILURE(CreateFabric());
    }
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
    xvr_node_cfg cfg = Node1Overlay(DefaultNodeConfig(), fabric_.ifindex);
    if (s.masquerade) cfg.flags |= XVR_CFG_F_MASQUERADE;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
    ASSERT_NO_FATAL_FAILURE(PutDevmap(fabric_.ifindex));
    xvr_route tun{};
    tun.type = XVR_RT_TUNNEL;
    tun.tunnel_dst = kNode2Ip.be32();
    ASSERT_NO_FATAL_FAILURE(PutRoute(kNode2PodCidr, 24, tun));
    ASSERT_NO_FATAL_FAILURE(PutNeigh(kNode2Ip, kNode2Mac, fabric_.ifindex));
    if (s.default_route) {
      xvr_route rt{};
      rt.type = XVR_RT_KERNEL;
      rt.nexthop = kUnderlayGwIp.be32();
      rt.ifindex = static_cast<uint32_t>(fabric_.ifindex);
      ASSERT_NO_FATAL_FAILURE(PutRoute(kZeroIp, 0, rt));
      rt.nexthop = 0;
      ASSERT_NO_FATAL_FAILURE(PutRoute(kUnderlayNet, 24, rt));
      ASSERT_NO_FATAL_FAILURE(PutNeigh(kUnderlayGwIp, kUnderlayGwMac, fabric_.ifindex));
    }
  }

  // Loads `next` with the service tables of the current program.
  void Switch(Program next) {
    const ServiceState st = SnapshotServices();
    ASSERT_NO_FATAL_FAILURE(UnloadProgram());
    ASSERT_NO_FATAL_FAILURE(Load(next, setup_));
    ASSERT_NO_FATAL_FAILURE(RestoreServices(st));
  }

  void AddBackend(uint32_t id, const Ipv4& ip, uint16_t port, uint8_t proto, bool local) {
    xvr_backend b{};
    b.addr = ip.be32();
    b.port = htons(port);
    b.proto = proto;
    b.flags = local ? XVR_BE_F_LOCAL : 0;
    ASSERT_NO_FATAL_FAILURE(PutBackend(id, b));
  }

  // Backends 11 (pod B), 12 (node 2's pod), 13 (pod A) on port `port`.
  void AddBackends(uint8_t proto, uint16_t port = kBport) {
    ASSERT_NO_FATAL_FAILURE(AddBackend(kBeLocal, kPodB.ip, port, proto, true));
    ASSERT_NO_FATAL_FAILURE(AddBackend(kBeRemote, kRemotePodIp, port, proto, false));
    ASSERT_NO_FATAL_FAILURE(AddBackend(kBeSelf, kPodA.ip, port, proto, true));
  }

  // A frontend whose table spreads `ids` over `m` slots (slot i → ids[i %
  // n]); no table and count 0 when ids is empty.
  void AddFrontend(const xvr_svc_key& key, const std::vector<uint32_t>& ids, uint16_t flags = 0,
                   uint32_t affinity_timeout = 0, uint32_t table = kTable, uint32_t m = kSlots) {
    xvr_svc svc{};
    svc.table = table;
    svc.count = static_cast<uint16_t>(ids.size());
    svc.flags = flags;
    svc.affinity_timeout = affinity_timeout;
    if (!ids.empty()) {
      std::vector<uint32_t> slots(m);
      for (uint32_t i = 0; i < m; ++i) slots[i] = ids[i % ids.size()];
      ASSERT_NO_FATAL_FAILURE(PutMaglevTable(table, slots));
      svc.maglev_size = m;
    }
    ASSERT_NO_FATAL_FAILURE(PutService(key, svc));
  }
  void AddClusterIp(uint8_t proto, const std::vector<uint32_t>& ids, uint16_t flags = 0,
                    uint32_t affinity_timeout = 0) {
    ASSERT_NO_FATAL_FAILURE(AddFrontend(SvcKey(kVip, kVport, proto, XVR_SVC_SCOPE_INTERNAL), ids,
                                        flags, affinity_timeout));
  }
  void AddNodePort(uint8_t proto, const std::vector<uint32_t>& ids, uint16_t flags = 0) {
    ASSERT_NO_FATAL_FAILURE(
        AddFrontend(SvcKey(kZeroIp, kNodePort, proto, XVR_SVC_SCOPE_EXTERNAL), ids, flags));
  }

  void RunExpect(const Bytes& pkt, int ifindex, uint32_t verdict, RunResult* r) {
    ASSERT_NO_FATAL_FAILURE(Run(pkt, ifindex, r));
    ASSERT_EQ(ActionName(program(), r->retval),
              ActionName(program(), ActionFor(program(), verdict)))
        << "input:\n"
        << HexDump(pkt) << "output:\n"
        << HexDump(r->out) << "counters:\n"
        << DescribeCounters();
  }

  std::string DescribeCounters() {
    std::string s;
    for (const auto& [idx, v] : NonZeroCounters())
      s += "  " + CounterName(idx) + ": " + std::to_string(v.packets) + "\n";
    return s.empty() ? "  (none)\n" : s;
  }

  // Exactly one counter moved: (hook, verdict, reason), n packets.
  void ExpectOnlyCounter(uint32_t verdict, uint32_t reason, uint64_t n = 1) {
    const std::map<uint32_t, CounterValue> got = NonZeroCounters();
    ASSERT_EQ(got.size(), 1u) << "counters:\n" << DescribeCounters();
    EXPECT_EQ(CounterName(got.begin()->first),
              CounterName(xvr_counter_index(hook(), verdict, reason)));
    EXPECT_EQ(got.begin()->second.packets, n);
  }

  // No drop event, or exactly one with `reason`.
  void ExpectEvents(std::optional<uint32_t> drop_reason) {
    const std::vector<xvr_drop_event> ev = ConsumeEvents();
    if (!drop_reason) {
      EXPECT_TRUE(ev.empty()) << ev.size() << " drop event(s), first "
                              << (ev.empty() ? "" : ReasonName(ev[0].hdr.reason));
      return;
    }
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_STREQ(ReasonName(ev[0].hdr.reason), ReasonName(*drop_reason));
    EXPECT_EQ(ev[0].hdr.hook, hook());
  }

  void ExpectCt(const xvr_nat_key& k, uint32_t backend, const Ipv4& daddr, uint16_t dport,
                const Ipv4& saddr, uint16_t sport, uint32_t flags, uint32_t table = kTable) {
    const std::optional<xvr_svc_ct> ct = SvcCt(k);
    ASSERT_TRUE(ct.has_value()) << "no xvr_svc_ct entry";
    EXPECT_EQ(ct->backend_id, backend);
    EXPECT_EQ(IpOf(ct->daddr).str(), daddr.str()) << "ct.daddr";
    EXPECT_EQ(ntohs(ct->dport), dport) << "ct.dport";
    EXPECT_EQ(IpOf(ct->saddr).str(), saddr.str()) << "ct.saddr";
    EXPECT_EQ(ntohs(ct->sport), sport) << "ct.sport";
    EXPECT_EQ(ct->table, table);
    EXPECT_EQ(ct->flags, flags);
  }

  void ExpectRev(const xvr_nat_key& k, const Ipv4& vaddr, uint16_t vport, const Ipv4& caddr,
                 uint16_t cport, uint32_t flags) {
    const std::optional<xvr_svc_rev> rev = SvcRev(k);
    ASSERT_TRUE(rev.has_value()) << "no xvr_svc_rev entry";
    EXPECT_EQ(IpOf(rev->vaddr).str(), vaddr.str()) << "rev.vaddr";
    EXPECT_EQ(ntohs(rev->vport), vport) << "rev.vport";
    EXPECT_EQ(IpOf(rev->caddr).str(), caddr.str()) << "rev.caddr";
    EXPECT_EQ(ntohs(rev->cport), cport) << "rev.cport";
    EXPECT_EQ(rev->flags, flags);
  }

  void ExpectNoNapt() {
    EXPECT_TRUE(DumpMap(XVR_MAP_SNAT).empty()) << "xvr_snat entries";
    EXPECT_TRUE(DumpMap(XVR_MAP_SNAT_REV).empty()) << "xvr_snat_rev entries";
  }

  void ExpectNoServiceState() {
    EXPECT_TRUE(DumpMap(XVR_MAP_SVC_CT).empty()) << "xvr_svc_ct entries";
    EXPECT_TRUE(DumpMap(XVR_MAP_SVC_REV).empty()) << "xvr_svc_rev entries";
  }

  static Ipv4 IpOf(uint32_t be) {
    Ipv4 ip;
    std::memcpy(ip.b.data(), &be, 4);
    return ip;
  }

  SvcSetup setup_;
};

// Tests that run on both pod hooks.
class SvcPodTest : public SvcTest, public ::testing::WithParamInterface<Program> {};

std::string PodParamName(const ::testing::TestParamInfo<Program>& i) { return ProgTag(i.param); }

#define XVR_POD_SUITE(suite)                                                                 \
  INSTANTIATE_TEST_SUITE_P(Pod, suite, ::testing::Values(Program::kXdpPod, Program::kTcPod), \
                           PodParamName)

// --- 1 + 2. ClusterIP DNAT and the reply ------------------------------------------------

struct DnatParam {
  Program prog;
  uint8_t proto;
  bool udp_no_csum = false;
  bool remote = false;  // backend on node 2 (tunnel), else pod B
};

void PrintTo(const DnatParam& p, std::ostream* os) {
  *os << ProgramName(p.prog) << "/" << ProtoName(p.proto) << (p.udp_no_csum ? "_nocsum" : "")
      << (p.remote ? "/remote" : "/local");
}

class SvcDnatTest : public SvcTest, public ::testing::WithParamInterface<DnatParam> {};

// Pod A → 10.96.0.10:80: destination rewritten to the backend, routed like
// any packet to it (delivered to pod B, or into the tunnel to node 2), the
// connection and reverse entries written with the documented keys; the
// backend's reply gets the frontend back as its source (on the pod hook
// for pod B, decapsulated on xdp_fabric for node 2's pod).
TEST_P(SvcDnatTest, TranslatedAndReplyRestored) {
  const DnatParam& p = GetParam();
  // SCTP: address-only translation, the backend listens on the service port.
  const uint16_t bport = p.proto == kSctp ? kVport : kBport;
  const L4 l4 = p.proto == kTcp ? Tcp() : p.proto == kUdp ? Udp(p.udp_no_csum) : L4{.proto = kSctp};
  const Ipv4 backend = p.remote ? kRemotePodIp : kPodB.ip;
  const uint32_t id = p.remote ? kBeRemote : kBeLocal;
  ASSERT_NO_FATAL_FAILURE(Load(p.prog));
  ASSERT_NO_FATAL_FAILURE(AddBackends(p.proto, bport));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(p.proto, {id}));

  const Bytes in = FromPod(kPodA, kVip, kCport, kVport, l4);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  if (p.remote) {
    ExpectToNode2(r.out, Node1Inner(kPodA.ip, backend, kCport, bport, l4, 63));
  } else {
    ExpectFrame(r.out, ToPod(kPodB, kPodA.ip, kCport, bport, l4));
  }
  if (p.udp_no_csum) {
    const size_t off = (p.remote ? kInnerFrameOff : 0) + kL4Off + 6;
    EXPECT_EQ(Be16At(r.out, off), 0) << "UDP checksum 0 (none) must stay 0";
  }
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  ExpectEvents(std::nullopt);
  ExpectCt(Tuple(kPodA.ip, kVip, kCport, kVport, p.proto), id, backend, bport, kPodA.ip, kCport, 0);
  ExpectRev(Tuple(backend, kPodA.ip, bport, kCport, p.proto), kVip, kVport, kPodA.ip, kCport, 0);
  EXPECT_EQ(DumpMap(XVR_MAP_SVC_CT).size(), 1u);
  EXPECT_EQ(DumpMap(XVR_MAP_SVC_REV).size(), 1u);
  EXPECT_TRUE(DumpMap(XVR_MAP_AFFINITY).empty());

  // The reply.
  const L4 rl4 = ReplyOf(l4);
  const Bytes want = ToPod(kPodA, kVip, kVport, kCport, rl4, p.remote ? 62 : 63);
  if (p.remote) {
    ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));
    const Bytes reply = FromNode2(backend, kPodA.ip, bport, kCport, rl4);
    ASSERT_NO_FATAL_FAILURE(RunExpect(reply, fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
    ExpectFrame(r.out, want);
    ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  } else {
    const Bytes reply = FromPod(kPodB, kPodA.ip, bport, kCport, rl4);
    ASSERT_NO_FATAL_FAILURE(RunExpect(reply, pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
    ExpectFrame(r.out, want);
    ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
  }
  if (p.udp_no_csum) {
    EXPECT_EQ(Be16At(r.out, kL4Off + 6), 0) << "UDP checksum 0 (none) must stay 0";
  }
  ExpectEvents(std::nullopt);
}

std::vector<DnatParam> DnatParams() {
  std::vector<DnatParam> v;
  for (Program prog : {Program::kXdpPod, Program::kTcPod})
    for (bool remote : {false, true}) {
      v.push_back({prog, kTcp, false, remote});
      v.push_back({prog, kUdp, false, remote});
      v.push_back({prog, kUdp, true, remote});
      v.push_back({prog, kSctp, false, remote});
    }
  return v;
}

INSTANTIATE_TEST_SUITE_P(ClusterIp, SvcDnatTest, ::testing::ValuesIn(DnatParams()),
                         [](const ::testing::TestParamInfo<DnatParam>& i) {
                           const DnatParam& p = i.param;
                           return ProgTag(p.prog) + "_" + ProtoName(p.proto) +
                                  (p.udp_no_csum ? "NoChecksum" : "") +
                                  (p.remote ? "_Remote" : "_Local");
                         });

// SCTP's CRC32c covers the ports and has no pseudo-header: an address can
// be rewritten, a port cannot.
TEST_P(SvcPodTest, SctpPortChangeIsUnsupported) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kSctp, kBport));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kSctp, {kBeLocal}));
  const Bytes in = FromPod(kPodA, kVip, kCport, kVport, L4{.proto = kSctp});
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_UNSUPPORTED);
  ExpectEvents(XVR_R_SVC_UNSUPPORTED);
  ExpectNoServiceState();
}

// A packet of the backend that is not a reply (another destination port)
// is not translated.
TEST_P(SvcPodTest, BackendTrafficThatIsNotAReplyIsUntouched) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  const L4 rl4 = ReplyOf(Tcp());
  const Bytes other = FromPod(kPodB, kPodA.ip, kBport, kCport + 1, rl4);
  ASSERT_NO_FATAL_FAILURE(RunExpect(other, pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kPodB.ip, kBport, kCport + 1, rl4));
}

// --- 3. ICMP errors about a translated packet -------------------------------------------

struct IcmpErrParam {
  Program prog;
  const char* name;
  uint8_t type, code;
  uint16_t mtu;  // frag-needed: next-hop MTU in the low 16 bits of the rest of header
};

void PrintTo(const IcmpErrParam& p, std::ostream* os) {
  *os << ProgramName(p.prog) << "/" << p.name;
}

class SvcIcmpErrorTest : public SvcTest, public ::testing::WithParamInterface<IcmpErrParam> {
 protected:
  // An ICMP error from `src` to `dst` quoting the first 28 bytes of the IPv4
  // packet in `frame`.
  static Bytes IcmpError(const Mac& smac, const Mac& dmac, const Ipv4& src, const Ipv4& dst,
                         uint8_t type, uint8_t code, uint16_t mtu, const Bytes& quoted,
                         uint8_t ttl = 64) {
    return PacketBuilder()
        .Eth(smac, dmac)
        .IPv4(src, dst, {.ttl = ttl})
        .ICMP(type, code, 0, mtu)
        .Payload(quoted)
        .Build();
  }
  // The IPv4 header and 8 bytes of L4 of a frame.
  static Bytes Quote(const Bytes& frame) {
    return Bytes(frame.begin() + kIpOff, frame.begin() + kL4Off + 8);
  }
};

// Pod B, the backend, answers the translated datagram A:40000 → B:8080 with
// an ICMP error. Pod A must see it from the frontend, about A → VIP:80.
TEST_P(SvcIcmpErrorTest, FromLocalBackend) {
  const IcmpErrParam& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(Load(p.prog));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeLocal}));
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Udp()), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &fwd));
  const Bytes quoted = Quote(fwd.out);  // A:40000 → B:8080 as B received it

  const Bytes err =
      IcmpError(kPodB.mac, kPodB.host_mac, kPodB.ip, kPodA.ip, p.type, p.code, p.mtu, quoted);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(err, pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
  // The quote as A sent it: destination VIP:80 (the embedded UDP checksum
  // is left as it was: only 8 bytes are quoted, nobody verifies it).
  Bytes want_quote = quoted;
  PutIp(want_quote, 16, kVip);
  Put16(want_quote, kIpv4HdrLen + 2, kVport);
  FixIpChecksum(want_quote, 0);
  const Bytes want =
      IcmpError(kPodA.host_mac, kPodA.mac, kVip, kPodA.ip, p.type, p.code, p.mtu, want_quote, 63);
  ExpectFrame(r.out, want);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
}

// Pod A reached itself through the VIP (hairpin: source rewritten to the
// gateway) and answers with an ICMP error. The outer destination (the
// gateway) and the quoted source go back to pod A, the quoted destination
// and the outer source to the frontend.
TEST_P(SvcIcmpErrorTest, FromHairpinBackend) {
  const IcmpErrParam& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(Load(p.prog));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeSelf}));
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Udp()), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &fwd));
  const Bytes quoted = Quote(fwd.out);  // gateway:natport → A:8080
  ASSERT_EQ(IpAt(quoted, 12).str(), kGatewayIp.str());

  const Bytes err =
      IcmpError(kPodA.mac, kPodA.host_mac, kPodA.ip, kGatewayIp, p.type, p.code, p.mtu, quoted);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(err, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  Bytes want_quote = quoted;
  PutIp(want_quote, 12, kPodA.ip);
  PutIp(want_quote, 16, kVip);
  Put16(want_quote, kIpv4HdrLen, kCport);
  Put16(want_quote, kIpv4HdrLen + 2, kVport);
  FixIpChecksum(want_quote, 0);
  const Bytes want =
      IcmpError(kPodA.host_mac, kPodA.mac, kVip, kPodA.ip, p.type, p.code, p.mtu, want_quote, 63);
  ExpectFrame(r.out, want);
}

// An ICMP error about a packet no service translated is left alone.
TEST_P(SvcIcmpErrorTest, AboutUntranslatedPacketIsUntouched) {
  const IcmpErrParam& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(Load(p.prog));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeLocal}));
  const Bytes quoted = Quote(FromPod(kPodA, kPodB.ip, kCport, kBport, Udp()));
  const Bytes err =
      IcmpError(kPodB.mac, kPodB.host_mac, kPodB.ip, kPodA.ip, p.type, p.code, p.mtu, quoted);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(err, pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, IcmpError(kPodA.host_mac, kPodA.mac, kPodB.ip, kPodA.ip, p.type, p.code, p.mtu,
                               quoted, 63));
}

std::vector<IcmpErrParam> IcmpErrParams() {
  std::vector<IcmpErrParam> v;
  for (Program prog : {Program::kXdpPod, Program::kTcPod}) {
    v.push_back({prog, "PortUnreachable", 3, 3, 0});
    v.push_back({prog, "FragNeeded", 3, 4, 1400});
    v.push_back({prog, "TimeExceeded", 11, 0, 0});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Errors, SvcIcmpErrorTest, ::testing::ValuesIn(IcmpErrParams()),
                         [](const ::testing::TestParamInfo<IcmpErrParam>& i) {
                           return ProgTag(i.param.prog) + "_" + i.param.name;
                         });

// The same through the tunnel: node 2's pod (the backend) or a router on
// node 2 (its gateway address) reports about A → 10.244.2.5:8080. The
// quote is translated either way; the outer source only when it is the
// backend.
TEST_F(SvcTest, IcmpErrorThroughTheTunnel) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeRemote}));
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Udp()), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &fwd));
  ASSERT_TRUE(Encapsulated(fwd.out));
  const Bytes inner = Sub(fwd.out, kInnerFrameOff);
  const Bytes quoted(inner.begin() + kIpOff, inner.begin() + kL4Off + 8);
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));

  Bytes want_quote = quoted;
  PutIp(want_quote, 16, kVip);
  Put16(want_quote, kIpv4HdrLen + 2, kVport);
  FixIpChecksum(want_quote, 0);
  for (const Ipv4& reporter : {kRemotePodIp, kNode2GatewayIp}) {
    SCOPED_TRACE("reported by " + reporter.str());
    const Bytes err = VxlanEncap(Node2ToNode1(), PacketBuilder()
                                                     .Eth(kVtep2Mac, kVtep1Mac)
                                                     .IPv4(reporter, kPodA.ip, {.ttl = 63})
                                                     .ICMP(3, 4, 0, 1350)
                                                     .Payload(quoted)
                                                     .Build());
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(err, fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
    const Ipv4 src = reporter == kRemotePodIp ? kVip : reporter;
    const Bytes want = PacketBuilder()
                           .Eth(kPodA.host_mac, kPodA.mac)
                           .IPv4(src, kPodA.ip, {.ttl = 62})
                           .ICMP(3, 4, 0, 1350)
                           .Payload(want_quote)
                           .Build();
    ExpectFrame(r.out, want);
  }
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
}

// --- 4. Established connections keep their backend ---------------------------------------

TEST_P(SvcPodTest, EstablishedConnectionKeepsItsBackend) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  const L4 data = Tcp(kAck | 0x08, 1001, 5001);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kPodA.ip, kCport, kBport, Tcp()));

  // The endpoints change: every slot names node 2's pod now.
  ASSERT_NO_FATAL_FAILURE(PutMaglevTable(kTable, std::vector<uint32_t>(kSlots, kBeRemote)));
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, data), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kPodA.ip, kCport, kBport, data));
  // A new connection takes the new table.
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport + 1, kVport), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectToNode2(r.out, Node1Inner(kPodA.ip, kRemotePodIp, kCport + 1, kBport, Tcp(), 63));

  // The backend goes away: the connection is re-balanced.
  ASSERT_NO_FATAL_FAILURE(DeleteBackend(kBeLocal));
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, data), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectToNode2(r.out, Node1Inner(kPodA.ip, kRemotePodIp, kCport, kBport, data, 63));
  ExpectCt(Tuple(kPodA.ip, kVip, kCport, kVport, kTcp), kBeRemote, kRemotePodIp, kBport, kPodA.ip,
           kCport, 0);
  ExpectRev(Tuple(kRemotePodIp, kPodA.ip, kBport, kCport, kTcp), kVip, kVport, kPodA.ip, kCport, 0);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 4);
}

// A backend id re-used for another address: the connection entry no longer
// matches it and the connection is re-balanced, not sent to the new address
// under the old entry's name.
TEST_P(SvcPodTest, ReusedBackendIdIsNotFollowed) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  // id 11 is now node 2's pod; the table still names 11.
  ASSERT_NO_FATAL_FAILURE(AddBackend(kBeLocal, kRemotePodIp, kBport, kTcp, false));
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Tcp(kAck, 1001, 1)),
                                    pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectToNode2(r.out, Node1Inner(kPodA.ip, kRemotePodIp, kCport, kBport, Tcp(kAck, 1001, 1), 63));
  ExpectCt(Tuple(kPodA.ip, kVip, kCport, kVport, kTcp), kBeLocal, kRemotePodIp, kBport, kPodA.ip,
           kCport, 0);
}

// Regression test (found and fixed in this change): (bpf/lib/svc.h, svc_forward, the xvr_svc_ct hit at "if (ctp)"): both
// tables are LRU hashes evicted independently. When the reverse entry of a
// live connection is evicted, later packets still hit xvr_svc_ct and are
// translated, but nothing writes xvr_svc_rev again: every reply from then
// on leaves untranslated (from the backend's address; the client resets the
// connection). The NAPT path fixed the same problem (nat.h
// snat_lookup_or_alloc re-takes its lock); the service path should re-insert
// the reverse entry on a hit (BPF_ANY without SNAT; BPF_NOEXIST with SNAT,
// re-selecting a port when another flow took it).
TEST_P(SvcPodTest, EvictedReverseEntryIsRestored) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  const xvr_nat_key rev = Tuple(kPodB.ip, kPodA.ip, kBport, kCport, kTcp);
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_SVC_REV), &rev), 0);  // as LRU eviction would
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Tcp(kAck, 1001, 1)),
                                    pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectRev(rev, kVip, kVport, kPodA.ip, kCport, 0);
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kPodA.ip, kBport, kCport, rl4), pod_b_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kVip, kVport, kCport, rl4));
}

// Reverse entries outlive their connections (LRU, no idle timeout). A
// reverse entry whose forward entry is gone must not translate anything: a
// later connection from the same client port straight to the backend would
// otherwise get replies "from the frontend" and never connect.
TEST_P(SvcPodTest, ReverseEntryWithoutItsForwardEntryIsIgnored) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  const xvr_nat_key fwd = Tuple(kPodA.ip, kVip, kCport, kVport, kTcp);
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_SVC_CT), &fwd), 0);  // as LRU eviction would
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kPodA.ip, kBport, kCport, rl4), pod_b_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kPodB.ip, kBport, kCport, rl4));
}

// The client opening a connection straight to the backend from the port an
// old service connection used: the old pair is forgotten, and the direct
// connection's replies keep the backend's address.
TEST_P(SvcPodTest, DirectConnectionForgetsAnOldTranslationOfItsTuple) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kPodB.ip, kCport, kBport), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kPodA.ip, kCport, kBport, Tcp()));
  const xvr_nat_key rev = Tuple(kPodB.ip, kPodA.ip, kBport, kCport, kTcp);
  const xvr_nat_key fwd = Tuple(kPodA.ip, kVip, kCport, kVport, kTcp);
  xvr_svc_rev rv{};
  xvr_svc_ct ct{};
  EXPECT_NE(bpf_map_lookup_elem(MapFd(XVR_MAP_SVC_REV), &rev, &rv), 0) << "reverse entry kept";
  EXPECT_NE(bpf_map_lookup_elem(MapFd(XVR_MAP_SVC_CT), &fwd, &ct), 0) << "forward entry kept";
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kPodA.ip, kBport, kCport, rl4), pod_b_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kPodB.ip, kBport, kCport, rl4));
}

// --- 5. Maglev -----------------------------------------------------------------------------

// Four backends (pod B, three pods on node 2) in a 401-slot table with an
// irregular layout: each new connection goes to table[svc_hash % M] (the
// hash replicated from svc.h), and every backend gets a share.
TEST_P(SvcPodTest, MaglevSlotChoosesTheBackend) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  const std::map<uint32_t, Ipv4> backends = {
      {21, kPodB.ip}, {22, kRemotePodIp}, {23, Ipv4{{10, 244, 2, 6}}}, {24, Ipv4{{10, 244, 2, 7}}}};
  for (const auto& [id, ip] : backends) {
    ASSERT_NO_FATAL_FAILURE(AddBackend(id, ip, kBport, kTcp, ip == kPodB.ip));
  }
  constexpr uint32_t kM = 401;
  std::vector<uint32_t> slots(kM);
  for (uint32_t i = 0; i < kM; ++i) slots[i] = 21 + (i * 7 + i / 5) % 4;
  ASSERT_NO_FATAL_FAILURE(PutMaglevTable(kTable, slots));
  xvr_svc svc{};
  svc.table = kTable;
  svc.maglev_size = kM;
  svc.count = 4;
  ASSERT_NO_FATAL_FAILURE(PutService(SvcKey(kVip, kVport, kTcp, XVR_SVC_SCOPE_INTERNAL), svc));

  std::map<uint32_t, int> seen;
  constexpr int kFlows = 200;
  for (int i = 0; i < kFlows; ++i) {
    const uint16_t sport = static_cast<uint16_t>(20000 + i * 37);
    const uint32_t want = slots[MaglevSlot(kPodA.ip, sport, kTcp, kM)];
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(
        RunExpect(FromPod(kPodA, kVip, sport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
    const Bytes f = Encapsulated(r.out) ? Sub(r.out, kInnerFrameOff) : r.out;
    ASSERT_GE(f.size(), kL4Off + 4);
    ASSERT_EQ(IpAt(f, kIpOff + 16).str(), backends.at(want).str()) << "source port " << sport;
    ASSERT_EQ(Be16At(f, kL4Off + 2), kBport);
    const std::optional<xvr_svc_ct> ct = SvcCt(Tuple(kPodA.ip, kVip, sport, kVport, kTcp));
    ASSERT_TRUE(ct.has_value());
    ASSERT_EQ(ct->backend_id, want) << "source port " << sport;
    ++seen[want];
  }
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& [id, n] : seen) EXPECT_GE(n, kFlows / 10) << "backend " << id;
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, kFlows);
}

// A slot naming a backend the agent has already removed, and a frontend
// whose table is missing: dropped, counted, no state written.
TEST_P(SvcPodTest, MissingBackendOrTableDrops) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {99}));
  const Bytes in = FromPod(kPodA, kVip, kCport, kVport);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  xvr_svc svc{};
  svc.table = 8;  // never filled
  svc.maglev_size = kSlots;
  svc.count = 1;
  ASSERT_NO_FATAL_FAILURE(PutService(SvcKey(kVip, kVport, kTcp, XVR_SVC_SCOPE_INTERNAL), svc));
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_NO_BACKEND, 2);
  ExpectNoServiceState();
}

// --- 6. Session affinity -----------------------------------------------------------------

class SvcAffinityTest : public SvcPodTest {
 protected:
  // Two backends alternating in the table, affinity on.
  void SetUpService(uint32_t timeout) {
    ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
    ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
    ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal, kBeRemote}, XVR_SVC_F_AFFINITY, timeout));
  }
  // The next source port of pod A from `from` on whose Maglev slot is `id`.
  static uint16_t PortFor(uint32_t id, uint16_t from) {
    for (uint16_t p = from;; ++p) {
      const uint32_t slot = MaglevSlot(kPodA.ip, p, kTcp, kSlots);
      if ((slot % 2 == 0 ? kBeLocal : kBeRemote) == id) return p;
    }
  }
  // Sends a SYN from pod A's `sport`; true when it went to pod B.
  bool ToLocal(uint16_t sport) {
    RunResult r;
    RunExpect(FromPod(kPodA, kVip, sport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r);
    if (Encapsulated(r.out)) {
      ExpectToNode2(r.out, Node1Inner(kPodA.ip, kRemotePodIp, sport, kBport, Tcp(), 63));
      return false;
    }
    ExpectFrame(r.out, ToPod(kPodB, kPodA.ip, sport, kBport, Tcp()));
    return true;
  }
  static xvr_aff_key AffKey(const Ipv4& client) {
    xvr_aff_key k{};
    k.client = client.be32();
    k.table = kTable;
    return k;
  }
};

TEST_P(SvcAffinityTest, ClientStaysWithItsBackend) {
  ASSERT_NO_FATAL_FAILURE(SetUpService(10800));
  const uint16_t p1 = PortFor(kBeLocal, 30000), p2 = PortFor(kBeRemote, 30000);
  const uint64_t before = MonotonicNs();
  EXPECT_TRUE(ToLocal(p1));
  const uint64_t after = MonotonicNs();
  const std::optional<xvr_aff_val> av = SvcAffinity(AffKey(kPodA.ip));
  ASSERT_TRUE(av.has_value()) << "no xvr_svc_aff entry";
  EXPECT_EQ(av->backend_id, kBeLocal);
  EXPECT_GE(av->last_ns, before);
  EXPECT_LE(av->last_ns, after);
  // Maglev alone would send p2 to node 2.
  EXPECT_TRUE(ToLocal(p2));
  EXPECT_TRUE(ToLocal(PortFor(kBeRemote, p2 + 1)));
  ExpectCt(Tuple(kPodA.ip, kVip, p2, kVport, kTcp), kBeLocal, kPodB.ip, kBport, kPodA.ip, p2, 0);
  // Another client has its own entry: pod C goes where Maglev says.
  uint16_t pc = 30000;
  while (MaglevSlot(kPodC.ip, pc, kTcp, kSlots) % 2 == 0) ++pc;
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodC, kVip, pc, kVport), pod_c_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectToNode2(r.out, Node1Inner(kPodC.ip, kRemotePodIp, pc, kBport, Tcp(), 63));
  const std::optional<xvr_aff_val> ac = SvcAffinity(AffKey(kPodC.ip));
  ASSERT_TRUE(ac.has_value());
  EXPECT_EQ(ac->backend_id, kBeRemote);
}

// An entry older than the timeout, or naming a backend that is gone, is
// ignored (and replaced); a fresh one wins over Maglev.
TEST_P(SvcAffinityTest, StaleOrDeadEntryIsIgnored) {
  ASSERT_NO_FATAL_FAILURE(SetUpService(1));
  const uint64_t now = MonotonicNs();
  if (now < 3000000000ull) GTEST_SKIP() << "CLOCK_MONOTONIC below the test's 3 s";
  // last_ns 0: older than 1 s.
  ASSERT_NO_FATAL_FAILURE(PutSvcAffinity(AffKey(kPodA.ip), {0, kBeRemote, 0}));
  const uint16_t p1 = PortFor(kBeLocal, 31000);
  EXPECT_TRUE(ToLocal(p1)) << "a stale affinity entry was followed";
  std::optional<xvr_aff_val> av = SvcAffinity(AffKey(kPodA.ip));
  ASSERT_TRUE(av.has_value());
  EXPECT_EQ(av->backend_id, kBeLocal);
  EXPECT_GE(av->last_ns, now);

  // Fresh: followed even against Maglev.
  ASSERT_NO_FATAL_FAILURE(PutSvcAffinity(AffKey(kPodA.ip), {MonotonicNs(), kBeRemote, 0}));
  EXPECT_FALSE(ToLocal(PortFor(kBeLocal, p1 + 1))) << "a fresh affinity entry was ignored";

  // Fresh but the backend is gone: Maglev.
  ASSERT_NO_FATAL_FAILURE(PutSvcAffinity(AffKey(kPodA.ip), {MonotonicNs(), 99, 0}));
  const uint16_t p3 = PortFor(kBeLocal, PortFor(kBeLocal, p1 + 1) + 1);
  EXPECT_TRUE(ToLocal(p3));
  av = SvcAffinity(AffKey(kPodA.ip));
  ASSERT_TRUE(av.has_value());
  EXPECT_EQ(av->backend_id, kBeLocal);
}

XVR_POD_SUITE(SvcAffinityTest);

// --- 7. No endpoints: reject ------------------------------------------------------------------

// TCP SYN to a service without endpoints: a RST|ACK from VIP:80, ack =
// seq + 1 (+ payload), sent back to the pod.
TEST_P(SvcPodTest, NoEndpointsSynGetsRst) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}));
  for (const std::string& payload : {std::string(), kPayload}) {
    SCOPED_TRACE("payload " + std::to_string(payload.size()));
    L4 syn = Tcp(kSyn, 1000);
    syn.payload = payload;
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(
        RunExpect(FromPod(kPodA, kVip, kCport, kVport, syn), pod_a_.ifindex, XVR_VERDICT_TX, &r));
    ASSERT_EQ(r.out.size(), 54u);
    ExpectFrame(r.out, Rst(kPodA.host_mac, kPodA.mac, kVip, kPodA.ip, kVport, kCport, 0,
                           static_cast<uint32_t>(1001 + payload.size()), kRst | kAck));
  }
  ExpectOnlyCounter(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS, 2);
  ExpectEvents(std::nullopt);
  ExpectNoServiceState();
}

// A segment with ACK set: the RST takes its sequence number from the ACK
// field and carries no ACK (RFC 793).
TEST_P(SvcPodTest, NoEndpointsAckGetsRstFromAckNumber) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}));
  for (uint8_t flags : {kAck, static_cast<uint8_t>(kFin | kAck)}) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Tcp(flags, 1000, 7777)),
                                      pod_a_.ifindex, XVR_VERDICT_TX, &r));
    ExpectFrame(r.out,
                Rst(kPodA.host_mac, kPodA.mac, kVip, kPodA.ip, kVport, kCport, 7777, 0, kRst));
  }
}

// Whatever the RST's addresses, it is 54 bytes, MACs swapped, ports
// swapped, checksums valid; this part does not depend on the bug above.
TEST_P(SvcPodTest, NoEndpointsRstShape) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}));
  L4 syn = Tcp(kSyn, 1000);
  syn.payload.clear();
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport, syn), pod_a_.ifindex, XVR_VERDICT_TX, &r));
  ASSERT_EQ(r.out.size(), 54u) << HexDump(r.out);
  EXPECT_TRUE(std::equal(kPodA.mac.begin(), kPodA.mac.end(), r.out.begin())) << "eth dst";
  EXPECT_TRUE(std::equal(kPodA.host_mac.begin(), kPodA.host_mac.end(), r.out.begin() + 6));
  EXPECT_EQ(IpAt(r.out, kIpOff + 12).str(), kVip.str()) << "RST source";
  EXPECT_EQ(Be16At(r.out, kL4Off), kVport);
  EXPECT_EQ(Be16At(r.out, kL4Off + 2), kCport);
  EXPECT_EQ(r.out[kL4Off + 13], kRst | kAck);
  EXPECT_EQ(Be16At(r.out, kL4Off + 8), 0);
  EXPECT_EQ(Be16At(r.out, kL4Off + 10), 1001);
  ExpectChecksums(r.out);
  ExpectOnlyCounter(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS);
}

TEST_P(SvcPodTest, NoEndpointsRstIsDroppedNotAnswered) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}));
  const Bytes in = FromPod(kPodA, kVip, kCport, kVport, Tcp(kRst | kAck, 1000, 1));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_NO_ENDPOINTS);
  ExpectEvents(XVR_R_SVC_NO_ENDPOINTS);
}

// UDP and SCTP: an ICMP port unreachable from the VIP quoting the IPv4
// header and 8 bytes, for datagrams shorter (the frame grows) and longer
// than the 70-byte answer.
TEST_P(SvcPodTest, NoEndpointsDatagramGetsPortUnreachable) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {}));
  ASSERT_NO_FATAL_FAILURE(AddFrontend(SvcKey(kVip, kVport, kSctp, XVR_SVC_SCOPE_INTERNAL), {}));
  std::vector<Bytes> ins;
  for (size_t n : {size_t{0}, size_t{27}, size_t{300}}) {
    L4 u = Udp();
    u.payload = std::string(n, 'u');
    ins.push_back(FromPod(kPodA, kVip, kCport, kVport, u));
  }
  ins.push_back(FromPod(kPodA, kVip, kCport, kVport, Udp(true)));
  ins.push_back(FromPod(kPodA, kVip, kCport, kVport, L4{.proto = kSctp}));
  for (const Bytes& in : ins) {
    SCOPED_TRACE("input:\n" + HexDump(in));
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_TX, &r));
    ASSERT_EQ(r.out.size(), 70u);
    ExpectFrame(r.out, PortUnreachable(kPodA.host_mac, kPodA.mac, kVip, kPodA.ip, in));
  }
  ExpectOnlyCounter(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS, ins.size());
  ExpectEvents(std::nullopt);
  ExpectNoServiceState();
}

// internalTrafficPolicy Local without a local endpoint: dropped, as
// kube-proxy does, not rejected.
TEST_P(SvcPodTest, NoLocalEndpointsDrops) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}, XVR_SVC_F_LOCAL | XVR_SVC_F_EMPTY_DROP));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {}, XVR_SVC_F_LOCAL | XVR_SVC_F_EMPTY_DROP));
  for (const Bytes& in :
       {FromPod(kPodA, kVip, kCport, kVport, Tcp()), FromPod(kPodA, kVip, kCport, kVport, Udp())}) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
    EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  }
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_NO_LOCAL_ENDPOINTS, 2);
  EXPECT_EQ(ConsumeEvents().size(), 2u);
}

// --- 8. Hairpin ---------------------------------------------------------------------------------

// Pod A reaches itself through the VIP: its kernel must not see its own
// address as the source, so the source becomes the gateway IP and a port of
// the NAT range (the one svc_snat_port tries first); the reply to that port
// goes back to VIP:80 → A:40000.
TEST_P(SvcPodTest, HairpinIsSourceNatted) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeSelf}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ASSERT_GE(r.out.size(), kL4Off + 4);
  const uint16_t nat = Be16At(r.out, kL4Off);
  EXPECT_GE(nat, XVR_NAT_PORT_MIN);
  EXPECT_LT(nat, XVR_NAT_PORT_MIN + XVR_NAT_PORT_COUNT);
  EXPECT_EQ(nat, FirstSnatPort(kPodA.ip, kVip, kCport, kTcp));
  ExpectFrame(r.out, ToPod(kPodA, kGatewayIp, nat, kBport, Tcp()));
  ExpectCt(Tuple(kPodA.ip, kVip, kCport, kVport, kTcp), kBeSelf, kPodA.ip, kBport, kGatewayIp, nat,
           XVR_CT_F_SNAT);
  ExpectRev(Tuple(kPodA.ip, kGatewayIp, kBport, nat, kTcp), kVip, kVport, kPodA.ip, kCport,
            XVR_CT_F_SNAT);

  // The reply, from A:8080 to gateway:nat.
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kGatewayIp, kBport, nat, rl4), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kVip, kVport, kCport, rl4));

  // The next packet of the connection keeps its port; another connection
  // gets another.
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Tcp(kAck, 1001, 5001)),
                                    pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  EXPECT_EQ(Be16At(r.out, kL4Off), nat);
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport + 1, kVport), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  EXPECT_NE(Be16At(r.out, kL4Off), nat);
  EXPECT_EQ(DumpMap(XVR_MAP_SVC_REV).size(), 2u);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 4);
}

// The port another connection holds is skipped (the reverse entry is its
// lock).
TEST_P(SvcPodTest, HairpinSkipsAPortInUse) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeSelf}));
  const uint16_t first = FirstSnatPort(kPodA.ip, kVip, kCport, kUdp);
  xvr_svc_rev other{};
  other.vaddr = kVip.be32();
  other.caddr = kPodC.ip.be32();
  other.vport = htons(kVport);
  other.cport = htons(1);
  other.flags = XVR_CT_F_SNAT;
  const xvr_nat_key taken = Tuple(kPodA.ip, kGatewayIp, kBport, first, kUdp);
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_SVC_REV), &taken, &other, BPF_NOEXIST), 0);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Udp()), pod_a_.ifindex,
                                    XVR_VERDICT_REDIRECT, &r));
  const uint16_t want = XVR_NAT_PORT_MIN + (first - XVR_NAT_PORT_MIN + 1) % XVR_NAT_PORT_COUNT;
  ExpectFrame(r.out, ToPod(kPodA, kGatewayIp, want, kBport, Udp()));
  // The other connection's lock is untouched.
  ExpectRev(taken, kVip, kVport, kPodC.ip, 1, XVR_CT_F_SNAT);
}

// SCTP cannot be source-NATed (its CRC covers the ports).
TEST_P(SvcPodTest, SctpHairpinIsUnsupported) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kSctp, kVport));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kSctp, {kBeSelf}));
  const Bytes in = FromPod(kPodA, kVip, kCport, kVport, L4{.proto = kSctp});
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_UNSUPPORTED);
  ExpectNoServiceState();
}

// Regression test (found and fixed in this change): (bpf/lib/svc.h, svc_snat_port): with SNAT, when the connection entry
// is evicted but the reverse entry (the port's lock) survives, the next
// packet allocates again, finds its own old lock on the first port
// (BPF_NOEXIST fails) and moves to the next port: the connection changes
// its source port mid-stream and the backend answers with a RST. A lock
// whose value equals the one being inserted (same frontend and client)
// belongs to this connection and should be re-used.
TEST_P(SvcPodTest, EvictedConnectionEntryKeepsTheSnatPort) {
  ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeSelf}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, kVport), pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  const uint16_t nat = Be16At(r.out, kL4Off);
  const xvr_nat_key ct = Tuple(kPodA.ip, kVip, kCport, kVport, kTcp);
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_SVC_CT), &ct), 0);  // as LRU eviction would
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodA, kVip, kCport, kVport, Tcp(kAck, 1001, 1)),
                                    pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  EXPECT_EQ(Be16At(r.out, kL4Off), nat);
  EXPECT_EQ(DumpMap(XVR_MAP_SVC_REV).size(), 1u);
}

XVR_POD_SUITE(SvcPodTest);

// --- 11. Robustness ---------------------------------------------------------------------------

struct OddParam {
  std::string name;
  Bytes pkt;
  uint32_t verdict;
  uint32_t reason;
  size_t xdp_linear = 0;  // XDP only: bytes in the linear part
  bool xdp_only = false;
};

struct OddRow {
  Program prog;
  OddParam p;
};

void PrintTo(const OddRow& r, std::ostream* os) { *os << ProgramName(r.prog) << "/" << r.p.name; }

Bytes IpTo(const Ipv4& dst, IPv4Options o, const Bytes& l4) {
  return PacketBuilder()
      .Eth(kPodA.mac, kPodA.host_mac)
      .IPv4(kPodA.ip, dst, std::move(o))
      .Payload(l4)
      .Build();
}

std::vector<OddParam> OddPackets() {
  const Bytes tcp_hdr = Sub(FromPod(kPodA, kVip, kCport, kVport, Tcp()), kL4Off);
  const Bytes udp_hdr = Sub(FromPod(kPodA, kVip, kCport, kVport, Udp()), kL4Off);
  std::vector<OddParam> v;
  // A frontend's ports are readable, its header is not: not translatable.
  v.push_back({"tcp_header_10_bytes", IpTo(kVip, {.protocol = kTcp}, Truncate(tcp_hdr, 10)),
               XVR_VERDICT_DROP, XVR_R_SVC_UNSUPPORTED});
  v.push_back({"udp_header_6_bytes", IpTo(kVip, {.protocol = kUdp}, Truncate(udp_hdr, 6)),
               XVR_VERDICT_DROP, XVR_R_SVC_UNSUPPORTED});
  // Not even the ports: not recognisably a service packet.
  v.push_back({"tcp_2_bytes", IpTo(kVip, {.protocol = kTcp}, Truncate(tcp_hdr, 2)),
               XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  v.push_back({"ip_header_only", IpTo(kVip, {.protocol = kTcp}, {}), XVR_VERDICT_PASS,
               XVR_R_PASS_NO_EGRESS});
  // Fragments are never translated: the first alone would be, the rest not.
  v.push_back({"tcp_first_fragment", IpTo(kVip, {.mf = true, .protocol = kTcp}, tcp_hdr),
               XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  v.push_back({"udp_first_fragment", IpTo(kVip, {.mf = true, .protocol = kUdp}, udp_hdr),
               XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  v.push_back({"udp_later_fragment",
               IpTo(kVip, {.frag_offset = 3, .protocol = kUdp}, Bytes(24, 0x50)), XVR_VERDICT_PASS,
               XVR_R_PASS_NO_EGRESS});
  v.push_back({"udp_middle_fragment_with_ports_like_bytes",
               IpTo(kVip, {.mf = true, .frag_offset = 185, .protocol = kUdp}, udp_hdr),
               XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  // Not a frontend: other protocol or port.
  v.push_back({"icmp_echo_to_vip",
               PacketBuilder()
                   .Eth(kPodA.mac, kPodA.host_mac)
                   .IPv4(kPodA.ip, kVip)
                   .ICMP(8, 0, 0x4242, 1)
                   .Payload(kPayload)
                   .Build(),
               XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  v.push_back({"tcp_other_port", FromPod(kPodA, kVip, kCport, 81, Tcp()), XVR_VERDICT_PASS,
               XVR_R_PASS_NO_EGRESS});
  v.push_back(
      {"icmp_error_too_short_to_quote_ports",
       PacketBuilder()
           .Eth(kPodA.mac, kPodA.host_mac)
           .IPv4(kPodA.ip, kVip)
           .ICMP(3, 3, 0, 0)
           .Payload(Truncate(Sub(FromPod(kPodB, kPodA.ip, kBport, kCport, Udp()), kIpOff), 22))
           .Build(),
       XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS});
  // IP options are the kernel's, before any service lookup.
  v.push_back({"tcp_with_ip_options",
               Frame(kPodA.mac, kPodA.host_mac, kPodA.ip, kVip, kCport, kVport, Tcp(),
                     {.options = {1, 1, 1, 0}}),
               XVR_VERDICT_PASS, XVR_R_PASS_IP_OPTIONS});
  // XDP multi-buffer: the TCP header continues in a fragment the program
  // cannot read directly.
  v.push_back({"tcp_header_split_across_buffers", FromPod(kPodA, kVip, kCport, kVport, Tcp()),
               XVR_VERDICT_DROP, XVR_R_SVC_UNSUPPORTED, kL4Off + 8, true});
  return v;
}

std::vector<OddRow> OddRows() {
  std::vector<OddRow> rows;
  for (Program prog : {Program::kXdpPod, Program::kTcPod})
    for (OddParam& p : OddPackets())
      if (!p.xdp_only || IsXdp(prog)) rows.push_back({prog, std::move(p)});
  return rows;
}

class SvcOddPacketTest : public SvcTest, public ::testing::WithParamInterface<OddRow> {};

// Odd packets to a frontend: no crash, no out-of-bounds access (the
// verifier has proven that; this proves the verdicts), nothing translated,
// no state written, one counter.
TEST_P(SvcOddPacketTest, NotTranslated) {
  const OddRow& row = GetParam();
  ASSERT_NO_FATAL_FAILURE(Load(row.prog));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  ASSERT_NO_FATAL_FAILURE(AddBackend(31, kPodB.ip, kBport, kUdp, true));
  ASSERT_NO_FATAL_FAILURE(
      AddFrontend(SvcKey(kVip, kVport, kUdp, XVR_SVC_SCOPE_INTERNAL), {31}, 0, 0, 9));
  RunResult r;
  const int err = TryRun(row.p.pkt, pod_a_.ifindex, 0, &r, row.p.xdp_linear);
  ASSERT_EQ(err, 0) << std::strerror(-err);
  EXPECT_EQ(ActionName(program(), r.retval),
            ActionName(program(), ActionFor(program(), row.p.verdict)))
      << "counters:\n"
      << DescribeCounters();
  EXPECT_TRUE(r.out == row.p.pkt) << DescribeMismatch(row.p.pkt, r.out);
  ExpectOnlyCounter(row.p.verdict, row.p.reason);
  ExpectNoServiceState();
}

INSTANTIATE_TEST_SUITE_P(Packets, SvcOddPacketTest, ::testing::ValuesIn(OddRows()),
                         [](const ::testing::TestParamInfo<OddRow>& i) {
                           return ProgTag(i.param.prog) + "_" + i.param.p.name;
                         });

// --- 9. NodePort and externalIP on the fabric -------------------------------------------------

class SvcFabricTest : public SvcTest, public ::testing::WithParamInterface<uint8_t> {
 protected:
  void SetUp() override {
    SvcTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpFabric, {.default_route = true, .masquerade = true}));
    ASSERT_NO_FATAL_FAILURE(AddBackends(GetParam()));
  }
  L4 Proto() const { return GetParam() == kTcp ? Tcp() : Udp(); }
};

// An outside client to node IP:30080 with pod B as the backend: DNAT only,
// the client's address preserved, delivered; pod B's reply leaves through
// the fabric NIC from node IP:30080.
TEST_P(SvcFabricTest, NodePortToLocalBackend) {
  const uint8_t proto = GetParam();
  const L4 l4 = Proto();
  ASSERT_NO_FATAL_FAILURE(AddNodePort(proto, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort, l4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kClientIp, kClientPort, kBport, l4, 49));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  ExpectCt(Tuple(kClientIp, kNode1Ip, kClientPort, kNodePort, proto), kBeLocal, kPodB.ip, kBport,
           kClientIp, kClientPort, XVR_CT_F_EXTERNAL);
  ExpectRev(Tuple(kPodB.ip, kClientIp, kBport, kClientPort, proto), kNode1Ip, kNodePort, kClientIp,
            kClientPort, XVR_CT_F_EXTERNAL);

  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpPod));
  const L4 rl4 = ReplyOf(l4);
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kClientIp, kBport, kClientPort, rl4),
                                    pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToOutside(kNode1Ip, kClientIp, kNodePort, kClientPort, rl4, 63));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  ExpectNoNapt();
}

// eTP Local (KEEP_SRC | LOCAL, the table holds only local endpoints): the
// same, never SNAT.
TEST_P(SvcFabricTest, NodePortLocalPolicyKeepsTheClient) {
  const uint8_t proto = GetParam();
  const L4 l4 = Proto();
  ASSERT_NO_FATAL_FAILURE(
      AddNodePort(proto, {kBeLocal}, XVR_SVC_F_LOCAL | XVR_SVC_F_KEEP_SRC | XVR_SVC_F_EMPTY_DROP));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort, l4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kClientIp, kClientPort, kBport, l4, 49));
  ExpectCt(Tuple(kClientIp, kNode1Ip, kClientPort, kNodePort, proto), kBeLocal, kPodB.ip, kBport,
           kClientIp, kClientPort, XVR_CT_F_EXTERNAL);
}

// eTP Cluster with node 2's pod as the backend: DNAT and SNAT to the
// gateway IP (so the reply comes back here), into the tunnel; the reply
// from node 2 is translated back to node IP:30080 → client and leaves
// through the fabric NIC to the underlay gateway (masquerade is on: no NAPT
// on top of the service translation).
TEST_P(SvcFabricTest, NodePortToRemoteBackendAndBack) {
  const uint8_t proto = GetParam();
  const L4 l4 = Proto();
  ASSERT_NO_FATAL_FAILURE(AddNodePort(proto, {kBeRemote}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort, l4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ASSERT_TRUE(Encapsulated(r.out)) << HexDump(r.out);
  const Bytes fwd = r.out;
  const uint16_t nat = Be16At(r.out, kInnerFrameOff + kL4Off);
  EXPECT_EQ(nat, FirstSnatPort(kClientIp, kNode1Ip, kClientPort, proto));
  ExpectToNode2(r.out, Node1Inner(kGatewayIp, kRemotePodIp, nat, kBport, l4, 49));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  const uint32_t flags = XVR_CT_F_SNAT | XVR_CT_F_EXTERNAL;
  ExpectCt(Tuple(kClientIp, kNode1Ip, kClientPort, kNodePort, proto), kBeRemote, kRemotePodIp,
           kBport, kGatewayIp, nat, flags);
  ExpectRev(Tuple(kRemotePodIp, kGatewayIp, kBport, nat, proto), kNode1Ip, kNodePort, kClientIp,
            kClientPort, flags);

  const L4 rl4 = ReplyOf(l4);
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromNode2(kRemotePodIp, kGatewayIp, kBport, nat, rl4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToOutside(kNode1Ip, kClientIp, kNodePort, kClientPort, rl4, 62));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
  ExpectEvents(std::nullopt);
  ExpectNoNapt();

  // Node 2's pod reports an ICMP error (here: fragmentation needed, path
  // MTU discovery) about a packet of the connection: it leaves for the
  // client from the node IP, quoting client → node IP:30080.
  const Bytes inner = Sub(fwd, kInnerFrameOff);
  const Bytes quoted(inner.begin() + kIpOff, inner.begin() + kL4Off + 8);
  const Bytes err = VxlanEncap(Node2ToNode1(), PacketBuilder()
                                                   .Eth(kVtep2Mac, kVtep1Mac)
                                                   .IPv4(kRemotePodIp, kGatewayIp, {.ttl = 63})
                                                   .ICMP(3, 4, 0, 1400)
                                                   .Payload(quoted)
                                                   .Build());
  ASSERT_NO_FATAL_FAILURE(RunExpect(err, fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  Bytes want_quote = quoted;
  PutIp(want_quote, 12, kClientIp);
  PutIp(want_quote, 16, kNode1Ip);
  Put16(want_quote, kIpv4HdrLen, kClientPort);
  Put16(want_quote, kIpv4HdrLen + 2, kNodePort);
  FixIpChecksum(want_quote, 0);
  ExpectFrame(r.out, PacketBuilder()
                         .Eth(kFabricMac, kUnderlayGwMac)
                         .IPv4(kNode1Ip, kClientIp, {.ttl = 62})
                         .ICMP(3, 4, 0, 1400)
                         .Payload(want_quote)
                         .Build());
  ExpectNoNapt();
}

// An externalIP frontend: the same, with the external address.
TEST_P(SvcFabricTest, ExternalIpToRemoteBackendAndBack) {
  const uint8_t proto = GetParam();
  const L4 l4 = Proto();
  ASSERT_NO_FATAL_FAILURE(
      AddFrontend(SvcKey(kExternalIp, kVport, proto, XVR_SVC_SCOPE_EXTERNAL), {kBeRemote}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromOutside(kClientIp, kExternalIp, kClientPort, kVport, l4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ASSERT_TRUE(Encapsulated(r.out)) << HexDump(r.out);
  const uint16_t nat = Be16At(r.out, kInnerFrameOff + kL4Off);
  EXPECT_EQ(nat, FirstSnatPort(kClientIp, kExternalIp, kClientPort, proto));
  ExpectToNode2(r.out, Node1Inner(kGatewayIp, kRemotePodIp, nat, kBport, l4, 49));
  const L4 rl4 = ReplyOf(l4);
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromNode2(kRemotePodIp, kGatewayIp, kBport, nat, rl4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToOutside(kExternalIp, kClientIp, kVport, kClientPort, rl4, 62));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
  ExpectNoNapt();
}

// An externalIP to pod B: DNAT only; its reply leaves from the external
// address.
TEST_P(SvcFabricTest, ExternalIpToLocalBackendAndBack) {
  const uint8_t proto = GetParam();
  const L4 l4 = Proto();
  ASSERT_NO_FATAL_FAILURE(
      AddFrontend(SvcKey(kExternalIp, kVport, proto, XVR_SVC_SCOPE_EXTERNAL), {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromOutside(kClientIp, kExternalIp, kClientPort, kVport, l4),
                                    fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodB, kClientIp, kClientPort, kBport, l4, 49));
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpPod));
  const L4 rl4 = ReplyOf(l4);
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kClientIp, kBport, kClientPort, rl4),
                                    pod_b_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToOutside(kExternalIp, kClientIp, kVport, kClientPort, rl4, 63));
  ExpectNoNapt();
}

// No endpoints: the reject goes straight back out of the fabric NIC (TX),
// from node IP:30080.
TEST_P(SvcFabricTest, NodePortNoEndpointsIsRejected) {
  const uint8_t proto = GetParam();
  ASSERT_NO_FATAL_FAILURE(AddNodePort(proto, {}));
  L4 l4 = Proto();
  l4.payload.clear();
  const Bytes in = FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort, l4);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, fabric_.ifindex, XVR_VERDICT_TX, &r));
  if (proto == kTcp) {
    ExpectFrame(r.out, Rst(kFabricMac, kUnderlayGwMac, kNode1Ip, kClientIp, kNodePort, kClientPort,
                           0, 1001, kRst | kAck));
  } else {
    ExpectFrame(r.out, PortUnreachable(kFabricMac, kUnderlayGwMac, kNode1Ip, kClientIp, in));
  }
  ExpectOnlyCounter(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS);
  ExpectNoServiceState();
}

// eTP Local without a local endpoint: dropped.
TEST_P(SvcFabricTest, NodePortNoLocalEndpointsDrops) {
  const uint8_t proto = GetParam();
  ASSERT_NO_FATAL_FAILURE(
      AddNodePort(proto, {}, XVR_SVC_F_LOCAL | XVR_SVC_F_KEEP_SRC | XVR_SVC_F_EMPTY_DROP));
  const Bytes in = FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort, Proto());
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, fabric_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_SVC_NO_LOCAL_ENDPOINTS);
  ExpectEvents(XVR_R_SVC_NO_LOCAL_ENDPOINTS);
}

// What the fabric must not translate: a ClusterIP (INTERNAL only), a
// nodePort on an address that is not the node's, another port, fragments.
TEST_P(SvcFabricTest, NotAFrontendIsNotTranslated) {
  const uint8_t proto = GetParam();
  ASSERT_NO_FATAL_FAILURE(AddNodePort(proto, {kBeLocal}));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(proto, {kBeLocal}));
  const L4 l4 = Proto();
  const Bytes first_frag = Frame(kUnderlayGwMac, kFabricMac, kClientIp, kNode1Ip, kClientPort,
                                 kNodePort, l4, {.ttl = 50, .mf = true});
  for (const Bytes& in :
       {FromOutside(kClientIp, kVip, kClientPort, kVport, l4),
        FromOutside(kClientIp, kNode3Ip, kClientPort, kNodePort, l4),
        FromOutside(kClientIp, kNode1Ip, kClientPort, kNodePort + 1, l4), first_frag}) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(in, fabric_.ifindex, XVR_VERDICT_PASS, &r));
    EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  }
  ExpectOnlyCounter(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS, 4);
  ExpectNoServiceState();
}

INSTANTIATE_TEST_SUITE_P(Proto, SvcFabricTest, ::testing::Values(kTcp, kUdp),
                         [](const ::testing::TestParamInfo<uint8_t>& i) {
                           return ProtoName(i.param);
                         });

// --- 10. The node to a ClusterIP (tc_host_egress) ----------------------------------------------

// The node's own connection to the ClusterIP leaves with the gateway IP as
// source (the service CIDR's route says so); the frames reach
// tc_host_egress addressed to the loopback device itself.
Bytes FromHost(const Ipv4& dst, uint16_t dport, const L4& l4) {
  return Frame(kHostLoopMac, kHostLoopMac, kGatewayIp, dst, kHostPort, dport, l4);
}

TEST_F(SvcTest, HostToClusterIpLocalBackendAndBack) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kTcp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {kBeLocal}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromHost(kVip, kVport, Tcp()), host_loop_.ifindex, XVR_VERDICT_REDIRECT, &r));
  // The node does not route its own packets: TTL kept.
  ExpectFrame(r.out, ToPod(kPodB, kGatewayIp, kHostPort, kBport, Tcp(), 64));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  ExpectCt(Tuple(kGatewayIp, kVip, kHostPort, kVport, kTcp), kBeLocal, kPodB.ip, kBport, kGatewayIp,
           kHostPort, 0);

  // Pod B's reply to the gateway IP: from the VIP, to the kernel.
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpPod));
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromPod(kPodB, kGatewayIp, kBport, kHostPort, rl4),
                                    pod_b_.ifindex, XVR_VERDICT_PASS, &r));
  ExpectFrame(r.out, Frame(kPodB.mac, kPodB.host_mac, kVip, kGatewayIp, kVport, kHostPort, rl4));
  ExpectOnlyCounter(XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST);
}

TEST_F(SvcTest, HostToClusterIpRemoteBackendAndBack) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  ASSERT_NO_FATAL_FAILURE(AddBackends(kUdp));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {kBeRemote}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromHost(kVip, kVport, Udp()), host_loop_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectToNode2(r.out, Node1Inner(kGatewayIp, kRemotePodIp, kHostPort, kBport, Udp(), 63));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);

  // The reply comes back through the tunnel to the gateway IP: decapsulated
  // for the kernel, from the VIP.
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));
  const L4 rl4 = ReplyOf(Udp());
  ASSERT_NO_FATAL_FAILURE(RunExpect(FromNode2(kRemotePodIp, kGatewayIp, kBport, kHostPort, rl4),
                                    fabric_.ifindex, XVR_VERDICT_PASS, &r));
  ExpectFrame(r.out,
              Frame(kVtep2Mac, kFabricMac, kVip, kGatewayIp, kVport, kHostPort, rl4, Ttl(63)));
  ExpectOnlyCounter(XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST);
}

// No endpoints: the reject goes back up the node's stack (redirect to the
// device's ingress), counted as TX.
TEST_F(SvcTest, HostToClusterIpNoEndpoints) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kUdp, {}));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kTcp, {}));
  const Bytes udp = FromHost(kVip, kVport, Udp());
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(udp, host_loop_.ifindex, XVR_VERDICT_TX, &r));
  ExpectFrame(r.out, PortUnreachable(kHostLoopMac, kHostLoopMac, kVip, kGatewayIp, udp));
  L4 syn = Tcp();
  syn.payload.clear();
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromHost(kVip, kVport, syn), host_loop_.ifindex, XVR_VERDICT_TX, &r));
  ExpectFrame(r.out, Rst(kHostLoopMac, kHostLoopMac, kVip, kGatewayIp, kVport, kHostPort, 0, 1001,
                         kRst | kAck));
  ExpectOnlyCounter(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS, 2);
  ExpectNoServiceState();
}

// --- Backends outside the pod network ----------------------------------------------------------

// hostNetwork endpoints (the `kubernetes` service's API servers, node
// agents) have a node's address. Their replies do not pass where svc.h
// looks for replies (a pod's veth, a decapsulated packet).

// Regression test (found and fixed in this change): (bpf/lib/host.h, host_to_pod): a backend that is this node itself
// (hostNetwork endpoint, addr = node IP): pod A → VIP:443 is DNATed to
// node IP:6443 and handed to the kernel; the kernel's reply to pod A leaves
// through the host loopback device, where tc_host_egress delivers it
// without the svc_reply() lookup, from node IP:6443: pod A drops it.
// host_to_pod should run svc_reply() before svc_forward().
TEST_F(SvcTest, LocalHostNetworkBackendReplyIsTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  ASSERT_NO_FATAL_FAILURE(AddBackend(41, kNode1Ip, 6443, kTcp, true));
  ASSERT_NO_FATAL_FAILURE(AddFrontend(SvcKey(kVip, 443, kTcp, XVR_SVC_SCOPE_INTERNAL), {41}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, 443), pod_a_.ifindex, XVR_VERDICT_PASS, &r));
  ExpectFrame(r.out, Frame(kPodA.mac, kPodA.host_mac, kPodA.ip, kNode1Ip, kCport, 6443, Tcp()));
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kTcHostEgress));
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(Frame(kHostLoopMac, kHostLoopMac, kNode1Ip, kPodA.ip, 6443, kCport, rl4),
                host_loop_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kVip, 443, kCport, rl4, 64));
}

// Regression test (found and fixed in this change): (bpf/lib/fabric.h, fabric_plain): a backend on another node's
// address (hostNetwork endpoint on node 2): pod A → VIP:443 is DNATed to
// node 2:6443 and leaves through the kernel; node 2's reply arrives plain
// (not VXLAN) on the fabric NIC and fabric_plain() delivers it to pod A
// without the svc_reply() lookup, from node 2:6443. fabric_plain should
// run svc_reply() (before svc_forward()) for packets to a local pod.
TEST_F(SvcTest, RemoteHostNetworkBackendReplyIsTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  ASSERT_NO_FATAL_FAILURE(AddBackend(42, kNode2Ip, 6443, kTcp, false));
  ASSERT_NO_FATAL_FAILURE(AddFrontend(SvcKey(kVip, 443, kTcp, XVR_SVC_SCOPE_INTERNAL), {42}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(FromPod(kPodA, kVip, kCport, 443), pod_a_.ifindex, XVR_VERDICT_PASS, &r));
  ExpectFrame(r.out, Frame(kPodA.mac, kPodA.host_mac, kPodA.ip, kNode2Ip, kCport, 6443, Tcp()));
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));
  const L4 rl4 = ReplyOf(Tcp());
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(Frame(kNode2Mac, kFabricMac, kNode2Ip, kPodA.ip, 6443, kCport, rl4),
                fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectFrame(r.out, ToPod(kPodA, kVip, 443, kCport, rl4));
}

// Regression test (found and fixed in this change): (bpf/lib/host.h, host_to_pod, "if (!dst && translated)"): the node
// reaching a ClusterIP whose backend is neither a local pod nor in a
// tunnelled pod CIDR (a hostNetwork endpoint, e.g. the `kubernetes`
// service's API servers that hostNetwork pods use through
// KUBERNETES_SERVICE_HOST) is dropped as service_backend_missing after the
// connection was recorded. It should leave translated, the way the pod
// path hands such a packet on (pod_leave_cluster() / the kernel).
TEST_F(SvcTest, HostToHostNetworkBackendIsNotDropped) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  ASSERT_NO_FATAL_FAILURE(AddBackend(42, kNode2Ip, 6443, kTcp, false));
  ASSERT_NO_FATAL_FAILURE(AddFrontend(SvcKey(kVip, 443, kTcp, XVR_SVC_SCOPE_INTERNAL), {42}));
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(FromHost(kVip, 443, Tcp()), host_loop_.ifindex, &r));
  EXPECT_NE(ActionName(program(), r.retval), "TC_ACT_SHOT") << "counters:\n" << DescribeCounters();
  ASSERT_GE(r.out.size(), kL4Off + 4);
  EXPECT_EQ(IpAt(r.out, kIpOff + 16).str(), kNode2Ip.str());
  EXPECT_EQ(Be16At(r.out, kL4Off + 2), 6443);
  ExpectChecksums(r.out);
}

}  // namespace
}  // namespace xvr::test

// NAPT (spec.masquerade) in the data path through BPF_PROG_RUN: pod traffic
// leaving the cluster out of the fabric NIC (xdp_pod), replies translated
// back and outside clients delivered untranslated (xdp_fabric).
//
// The node is node 1 of vxlan_cases.h with masquerade on, cluster CIDR
// 10.244.0.0/16, a kernel default route via the underlay gateway
// 192.168.250.1 out of the fabric NIC and the gateway's MAC known.
//
// The fixture loads one program at a time with fresh maps, so a test that
// crosses programs (egress on xdp_pod, reply on xdp_fabric) carries the
// NAPT tables over by hand: SnapshotNat() before UnloadProgram(),
// RestoreNat() after the next LoadProgram().
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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

inline constexpr Ipv4 kOutsideIp{{198, 51, 100, 7}};
inline constexpr Ipv4 kOutsideClientIp{{203, 0, 113, 5}};
inline constexpr Ipv4 kOtherClusterIp{{10, 244, 3, 7}};  // in the cluster CIDR, no route
inline constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;
inline constexpr size_t kIpOff = kEthHdrLen;
inline constexpr size_t kL4Off = kEthHdrLen + kIpv4HdrLen;
const std::string kPayload = "xvr-napt-payload-0123456789";

uint16_t Sum16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The L4 checksum of an Ethernet/IPv4 (no options) frame, recomputed from
// scratch over the pseudo-header (TCP, UDP) or the ICMP message: true when
// the stored value verifies. A UDP checksum of 0 (none) verifies.
bool L4ChecksumOk(const Bytes& f) {
  if (f.size() < kL4Off) return false;
  const uint8_t proto = f[kIpOff + 9];
  const size_t tot = Be16At(f, kIpOff + 2);
  if (tot < kIpv4HdrLen || kIpOff + tot > f.size()) return false;
  const size_t l4len = tot - kIpv4HdrLen;
  const uint8_t* l4 = f.data() + kL4Off;
  if (proto == kIcmp) return InetChecksum(l4, l4len) == 0;
  if (proto == kUdp && Be16At(f, kL4Off + 6) == 0) return true;
  uint32_t seed = 0;
  for (size_t i = 0; i < 8; i += 2) seed += Sum16(f.data() + kIpOff + 12 + i);
  seed += proto;
  seed += static_cast<uint32_t>(l4len);
  return InetChecksum(l4, l4len, seed) == 0;
}

Ipv4 IpAt(const Bytes& f, size_t off) {
  Ipv4 ip;
  std::copy_n(f.begin() + static_cast<long>(off), 4, ip.b.begin());
  return ip;
}

Bytes Tcp(const PodAddr& pod, const Ipv4& dst, uint16_t sport, uint16_t dport,
          uint8_t flags = 0x02, IPv4Options o = {}) {
  return PacketBuilder()
      .Eth(pod.mac, pod.host_mac)
      .IPv4(pod.ip, dst, std::move(o))
      .TCP(sport, dport, 1000, 0, flags)
      .Payload(kPayload)
      .Build();
}

Bytes Udp(const PodAddr& pod, const Ipv4& dst, uint16_t sport, uint16_t dport,
          UdpOptions u = {}, IPv4Options o = {}) {
  return PacketBuilder()
      .Eth(pod.mac, pod.host_mac)
      .IPv4(pod.ip, dst, std::move(o))
      .UDP(sport, dport, u)
      .Payload(kPayload)
      .Build();
}

Bytes Icmp(const PodAddr& pod, const Ipv4& dst, uint8_t type, uint16_t id, IPv4Options o = {}) {
  return PacketBuilder()
      .Eth(pod.mac, pod.host_mac)
      .IPv4(pod.ip, dst, std::move(o))
      .ICMP(type, 0, id, 7)
      .Payload(kPayload)
      .Build();
}

struct NatSetup {
  bool masquerade = true;
  bool default_route = true;
  bool gateway_neigh = true;
};

using NatEntries = std::vector<std::pair<xvr_nat_key, xvr_nat_val>>;

class NatTest : public BpfProgramTest {
 protected:
  // Loads p and writes node 1 with masquerade. Use with
  // ASSERT_NO_FATAL_FAILURE.
  void Load(Program p, NatSetup s = {}) {
    ASSERT_NO_FATAL_FAILURE(LoadProgram(p));
    if (fabric_.ifindex == 0) {
      ASSERT_NO_FATAL_FAILURE(CreateFabric());
    }
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
    xvr_node_cfg cfg = Node1Overlay(DefaultNodeConfig(), fabric_.ifindex);
    if (s.masquerade) cfg.flags |= XVR_CFG_F_MASQUERADE;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
    ASSERT_NO_FATAL_FAILURE(PutDevmap(fabric_.ifindex));
    if (s.default_route) {
      xvr_route rt{};
      rt.type = XVR_RT_KERNEL;
      rt.nexthop = kUnderlayGwIp.be32();
      rt.ifindex = static_cast<uint32_t>(fabric_.ifindex);
      ASSERT_NO_FATAL_FAILURE(PutRoute(kZeroIp, 0, rt));
    }
    if (s.gateway_neigh) {
      ASSERT_NO_FATAL_FAILURE(PutNeigh(kUnderlayGwIp, kUnderlayGwMac, fabric_.ifindex));
    }
  }

  NatEntries Dump(const char* map) {
    NatEntries out;
    const int fd = MapFd(map);
    xvr_nat_key k{}, next{};
    const xvr_nat_key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      xvr_nat_val v{};
      if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.emplace_back(next, v);
      k = next;
      prev = &k;
    }
    return out;
  }
  void Restore(const char* map, const NatEntries& e) {
    for (const auto& [k, v] : e)
      ASSERT_EQ(bpf_map_update_elem(MapFd(map), &k, &v, BPF_ANY), 0) << std::strerror(errno);
  }
  // Unloads the program and loads `next` with the NAPT tables carried over.
  void Switch(Program next) {
    const NatEntries fwd = Dump(XVR_MAP_SNAT), rev = Dump(XVR_MAP_SNAT_REV);
    ASSERT_NO_FATAL_FAILURE(UnloadProgram());
    ASSERT_NO_FATAL_FAILURE(Load(next));
    ASSERT_NO_FATAL_FAILURE(Restore(XVR_MAP_SNAT, fwd));
    ASSERT_NO_FATAL_FAILURE(Restore(XVR_MAP_SNAT_REV, rev));
  }

  static xvr_nat_key Key(const Ipv4& s, const Ipv4& d, uint16_t sport, uint16_t dport,
                         uint8_t proto) {
    xvr_nat_key k{};
    k.saddr = s.be32();
    k.daddr = d.be32();
    k.sport = htons(sport);
    k.dport = htons(dport);
    k.proto = proto;
    return k;
  }
  bool Lookup(const char* map, const xvr_nat_key& k, xvr_nat_val* v) {
    return bpf_map_lookup_elem(MapFd(map), &k, v) == 0;
  }

  void RunExpect(const Bytes& pkt, int ifindex, uint32_t verdict, RunResult* r) {
    ASSERT_NO_FATAL_FAILURE(Run(pkt, ifindex, r));
    ASSERT_EQ(ActionName(program(), r->retval), ActionName(program(), ActionFor(program(), verdict)))
        << "input:\n"
        << HexDump(pkt) << "output:\n"
        << HexDump(r->out);
  }

  // Exactly one counter moved: (hook, verdict, reason), n packets.
  void ExpectOnlyCounter(uint32_t verdict, uint32_t reason, uint64_t n = 1) {
    const std::map<uint32_t, CounterValue> got = NonZeroCounters();
    ASSERT_EQ(got.size(), 1u) << "counters moved: " << got.size();
    EXPECT_EQ(CounterName(got.begin()->first),
              CounterName(xvr_counter_index(hook(), verdict, reason)));
    EXPECT_EQ(got.begin()->second.packets, n);
  }

  // A packet xdp_pod sent out of the fabric to the gateway: the
  // translated source port/id (host order).
  uint16_t ExpectLeft(const Bytes& in, const RunResult& r, bool translated,
                      std::optional<uint16_t> udp_check = std::nullopt) {
    SCOPED_TRACE("output:\n" + HexDump(r.out));
    EXPECT_EQ(r.out.size(), in.size());
    if (r.out.size() != in.size() || r.out.size() < kL4Off + 8) return 0;
    EXPECT_TRUE(std::equal(kUnderlayGwMac.begin(), kUnderlayGwMac.end(), r.out.begin()))
        << "eth dst = gateway MAC";
    EXPECT_TRUE(std::equal(kFabricMac.begin(), kFabricMac.end(), r.out.begin() + 6))
        << "eth src = fabric MAC";
    EXPECT_EQ(r.out[kIpOff + 8], in[kIpOff + 8] - 1) << "TTL - 1";
    EXPECT_TRUE(Ipv4HeaderChecksumOk(r.out)) << "IPv4 header checksum";
    EXPECT_TRUE(L4ChecksumOk(r.out)) << "L4 checksum";
    EXPECT_EQ(IpAt(r.out, kIpOff + 16), IpAt(in, kIpOff + 16)) << "daddr";
    const uint8_t proto = in[kIpOff + 9];
    const uint16_t port = Be16At(r.out, kL4Off + (proto == kIcmp ? 4 : 0));
    if (translated) {
      EXPECT_EQ(IpAt(r.out, kIpOff + 12).str(), kNode1Ip.str()) << "saddr = node IP";
      EXPECT_GE(port, XVR_NAT_PORT_MIN);
      EXPECT_LE(port, XVR_NAT_PORT_MIN + XVR_NAT_PORT_COUNT - 1);
    } else {
      EXPECT_EQ(IpAt(r.out, kIpOff + 12).str(), IpAt(in, kIpOff + 12).str()) << "saddr kept";
      EXPECT_EQ(port, Be16At(in, kL4Off + (proto == kIcmp ? 4 : 0))) << "port kept";
    }
    if (proto != kIcmp) {
      EXPECT_EQ(Be16At(r.out, kL4Off + 2), Be16At(in, kL4Off + 2)) << "dport";
    }
    if (udp_check) {
      EXPECT_EQ(Be16At(r.out, kL4Off + 6), *udp_check);
    }
    // Payload (everything after the L4 header) unchanged.
    const size_t l4h = proto == kTcp ? 20 : 8;
    EXPECT_TRUE(std::equal(in.begin() + static_cast<long>(kL4Off + l4h), in.end(),
                           r.out.begin() + static_cast<long>(kL4Off + l4h)))
        << "payload changed";
    // Everything but MACs, TTL, checksums, saddr, sport is unchanged.
    Bytes a = in, b = r.out;
    for (Bytes* x : {&a, &b}) {
      std::fill_n(x->begin(), 12, 0);
      (*x)[kIpOff + 8] = 0;
      std::fill_n(x->begin() + kIpOff + 10, 6, 0);
      const size_t csum = proto == kTcp ? 16 : proto == kUdp ? 6 : 2;
      std::fill_n(x->begin() + static_cast<long>(kL4Off + csum), 2, 0);
      std::fill_n(x->begin() + static_cast<long>(kL4Off + (proto == kIcmp ? 4 : 0)), 2, 0);
    }
    EXPECT_TRUE(a == b) << DescribeMismatch(a, b);
    return port;
  }

  // Pod A's packet leaves translated; checks both table entries.
  uint16_t Egress(const Bytes& pkt, const PodAddr& pod, int ifindex, uint8_t proto,
                  uint16_t sport, uint16_t dport,
                  std::optional<uint16_t> udp_check = std::nullopt) {
    RunResult r;
    RunExpect(pkt, ifindex, XVR_VERDICT_REDIRECT, &r);
    if (HasFatalFailure()) return 0;
    const uint16_t port = ExpectLeft(pkt, r, true, udp_check);
    xvr_nat_val v{};
    EXPECT_TRUE(Lookup(XVR_MAP_SNAT, Key(pod.ip, kOutsideIp, sport, dport, proto), &v))
        << "no xvr_snat entry";
    EXPECT_EQ(v.addr, kNode1Ip.be32());
    EXPECT_EQ(ntohs(v.port), port);
    xvr_nat_val o{};
    EXPECT_TRUE(Lookup(XVR_MAP_SNAT_REV, Key(kOutsideIp, kNode1Ip, dport, port, proto), &o))
        << "no xvr_snat_rev entry for port " << port;
    EXPECT_EQ(o.addr, pod.ip.be32());
    EXPECT_EQ(ntohs(o.port), sport);
    return port;
  }
};

// --- Leaving the cluster ----------------------------------------------------------------

TEST_F(NatTest, TcpSynIsTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  Egress(Tcp(kPodA, kOutsideIp, 40000, 443), kPodA, pod_a_.ifindex, kTcp, 40000, 443);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  EXPECT_TRUE(ConsumeEvents().empty());
}

TEST_F(NatTest, UdpIsTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  Egress(Udp(kPodA, kOutsideIp, 40000, 53), kPodA, pod_a_.ifindex, kUdp, 40000, 53);
}

TEST_F(NatTest, UdpWithoutChecksumKeepsZero) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  Egress(Udp(kPodA, kOutsideIp, 40000, 53, {.check = 0}), kPodA, pod_a_.ifindex, kUdp, 40000, 53,
         0);
}

TEST_F(NatTest, IcmpEchoRequestIdentifierIsTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  Egress(Icmp(kPodA, kOutsideIp, 8, 0x4242), kPodA, pod_a_.ifindex, kIcmp, 0x4242, 0);
}

// Many UDP flows: the incremental checksum update must hold for every
// port/address combination (including results that fold to 0xffff).
TEST_F(NatTest, ManyUdpFlowsKeepValidChecksums) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  std::set<uint16_t> ports;
  for (uint16_t sp = 1000; sp < 1200; ++sp) {
    const uint16_t p = Egress(Udp(kPodA, kOutsideIp, sp, 53), kPodA, pod_a_.ifindex, kUdp, sp, 53);
    ASSERT_FALSE(HasFailure()) << "sport " << sp;
    ports.insert(p);
  }
  EXPECT_EQ(ports.size(), 200u);
}

TEST_F(NatTest, SameFlowSamePortOtherPodOtherPort) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const uint16_t p1 =
      Egress(Tcp(kPodA, kOutsideIp, 40000, 443), kPodA, pod_a_.ifindex, kTcp, 40000, 443);
  const uint16_t p2 = Egress(Tcp(kPodA, kOutsideIp, 40000, 443, 0x10), kPodA, pod_a_.ifindex,
                             kTcp, 40000, 443);
  const uint16_t pb =
      Egress(Tcp(kPodB, kOutsideIp, 40000, 443), kPodB, pod_b_.ifindex, kTcp, 40000, 443);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(p1, p2);
  EXPECT_NE(p1, pb);
  EXPECT_EQ(Dump(XVR_MAP_SNAT).size(), 2u);
  EXPECT_EQ(Dump(XVR_MAP_SNAT_REV).size(), 2u);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 3);
}

// BUG (bpf/lib/nat.h, snat_lookup_or_alloc): both tables are LRU hashes
// and are evicted independently. When the reverse entry (the port's lock)
// is evicted while the forward entry lives, the flow keeps leaving with its
// port but replies are no longer translated (pass/not_ours), and the port
// is free for another flow to the same destination, whose replies then
// take over. A hit in xvr_snat should re-take the lock. Enable when fixed.
TEST_F(NatTest, EvictedReverseEntryIsRestored) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const Bytes syn = Tcp(kPodA, kOutsideIp, 40000, 443);
  const uint16_t p1 = Egress(syn, kPodA, pod_a_.ifindex, kTcp, 40000, 443);
  ASSERT_FALSE(HasFailure());
  const xvr_nat_key rev = Key(kOutsideIp, kNode1Ip, 443, p1, kTcp);
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_SNAT_REV), &rev), 0);  // as LRU eviction would
  const uint16_t p2 = Egress(Tcp(kPodA, kOutsideIp, 40000, 443, 0x10), kPodA, pod_a_.ifindex,
                             kTcp, 40000, 443);
  EXPECT_EQ(p1, p2);
}

// --- Replies ----------------------------------------------------------------------------

struct ReplyParam {
  const char* name;
  uint8_t proto;
  bool udp_no_csum = false;
};

class NatReplyTest : public NatTest, public ::testing::WithParamInterface<ReplyParam> {};

TEST_P(NatReplyTest, ReplyIsTranslatedBack) {
  const ReplyParam& p = GetParam();
  const uint16_t sport = 40000, dport = p.proto == kIcmp ? 0 : 443;
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const UdpOptions u = p.udp_no_csum ? UdpOptions{.check = 0} : UdpOptions{};
  const Bytes out = p.proto == kTcp   ? Tcp(kPodA, kOutsideIp, sport, dport)
                    : p.proto == kUdp ? Udp(kPodA, kOutsideIp, sport, dport, u)
                                      : Icmp(kPodA, kOutsideIp, 8, sport);
  const uint16_t nat = Egress(out, kPodA, pod_a_.ifindex, p.proto, sport, dport);
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));

  auto reply = [&](const Mac& smac, const Mac& dmac, const Ipv4& dst, uint16_t to_port,
                   uint8_t ttl) {
    PacketBuilder b;
    b.Eth(smac, dmac).IPv4(kOutsideIp, dst, {.ttl = ttl, .id = 0x777});
    if (p.proto == kTcp) b.TCP(dport, to_port, 5000, 1001, 0x12);
    if (p.proto == kUdp) b.UDP(dport, to_port, u);
    if (p.proto == kIcmp) b.ICMP(0, 0, to_port, 7);
    return b.Payload(kPayload).Build();
  };
  const Bytes in = reply(kUnderlayGwMac, kFabricMac, kNode1Ip, nat, 50);
  const Bytes want = reply(kPodA.host_mac, kPodA.mac, kPodA.ip, sport, 49);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  EXPECT_TRUE(r.out == want) << DescribeMismatch(want, r.out);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(r.out));
  EXPECT_TRUE(L4ChecksumOk(r.out));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);

  // A reply to a port nobody holds is not xvr's.
  const uint16_t other = nat == 61000 ? 61001 : 61000;
  const Bytes stray = reply(kUnderlayGwMac, kFabricMac, kNode1Ip, other, 50);
  ASSERT_NO_FATAL_FAILURE(RunExpect(stray, fabric_.ifindex, XVR_VERDICT_PASS, &r));
  EXPECT_TRUE(r.out == stray) << DescribeMismatch(stray, r.out);
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS).packets, 1u);
  EXPECT_TRUE(ConsumeEvents().empty());
}

INSTANTIATE_TEST_SUITE_P(Protocols, NatReplyTest,
                         ::testing::Values(ReplyParam{"tcp", kTcp}, ReplyParam{"udp", kUdp},
                                           ReplyParam{"udp_no_checksum", kUdp, true},
                                           ReplyParam{"icmp_echo", kIcmp}),
                         [](const auto& info) { return std::string(info.param.name); });

// --- Not translated ---------------------------------------------------------------------

TEST_F(NatTest, ClusterDestinationIsNotTranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const Bytes in = Tcp(kPodA, kOtherClusterIp, 40000, 443);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectLeft(in, r, false);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
  EXPECT_TRUE(Dump(XVR_MAP_SNAT_REV).empty());
}

TEST_F(NatTest, MasqueradeOffLeavesSourceUntouched) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod, {.masquerade = false}));
  for (const Bytes& in : {Tcp(kPodA, kOutsideIp, 40000, 443), Udp(kPodA, kOutsideIp, 4, 53),
                          Icmp(kPodA, kOutsideIp, 8, 9)}) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
    ExpectLeft(in, r, false);
  }
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
  EXPECT_TRUE(Dump(XVR_MAP_SNAT_REV).empty());
}

TEST_F(NatTest, IcmpEchoReplyLeavesUntranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const Bytes in = Icmp(kPodA, kOutsideIp, 0, 0x5151);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectLeft(in, r, false);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
}

struct DropParam {
  const char* name;
  Bytes pkt;
};

void PrintTo(const DropParam& p, std::ostream* os) { *os << p.name; }
void PrintTo(const ReplyParam& p, std::ostream* os) { *os << p.name; }

class NatUnsupportedTest : public NatTest, public ::testing::WithParamInterface<DropParam> {};

TEST_P(NatUnsupportedTest, Dropped) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const Bytes& in = GetParam().pkt;
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_NAT_UNSUPPORTED);
  const std::vector<xvr_drop_event> ev = ConsumeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_STREQ(ReasonName(ev[0].hdr.reason), "snat_unsupported");
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NatUnsupportedTest,
    ::testing::Values(
        DropParam{"udp_first_fragment", Udp(kPodA, kOutsideIp, 40000, 53, {}, {.mf = true})},
        DropParam{"tcp_first_fragment", Tcp(kPodA, kOutsideIp, 40000, 443, 2, {.mf = true})},
        DropParam{"udp_later_fragment",
                  PacketBuilder()
                      .Eth(kPodA.mac, kPodA.host_mac)
                      .IPv4(kPodA.ip, kOutsideIp, {.frag_offset = 3, .protocol = 17})
                      .Payload(Bytes(24, 1))
                      .Build()},
        DropParam{"gre",
                  PacketBuilder()
                      .Eth(kPodA.mac, kPodA.host_mac)
                      .IPv4(kPodA.ip, kOutsideIp, {.protocol = 47})
                      .Payload(Bytes(24, 1))
                      .Build()}),
    [](const auto& info) { return std::string(info.param.name); });

// BUG (bpf/lib/nat.h, pod_leave_cluster): fragments of ICMP are let out
// untranslated, with the pod's IP as source: the fragment check only covers
// protocols other than ICMP ("else if (ip->protocol != IPPROTO_ICMP)").
// Enable when fixed (drop with snat_unsupported like TCP/UDP fragments).
INSTANTIATE_TEST_SUITE_P(
    IcmpFragments, NatUnsupportedTest,
    ::testing::Values(
        // A large ping: the first fragment carries the echo header, the
        // others only data. Leaving untranslated would leak the pod IP.
        DropParam{"icmp_echo_first_fragment", Icmp(kPodA, kOutsideIp, 8, 9, {.mf = true})},
        DropParam{"icmp_later_fragment",
                  PacketBuilder()
                      .Eth(kPodA.mac, kPodA.host_mac)
                      .IPv4(kPodA.ip, kOutsideIp, {.frag_offset = 3, .protocol = 1})
                      .Payload(Bytes(24, 1))
                      .Build()}),
    [](const auto& info) { return std::string(info.param.name); });

// --- Outside clients --------------------------------------------------------------------

TEST_F(NatTest, OutsideClientReachesPodUntranslated) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpFabric));
  auto syn = [](const Mac& s, const Mac& d, uint8_t ttl) {
    return PacketBuilder()
        .Eth(s, d)
        .IPv4(kOutsideClientIp, kPodA.ip, {.ttl = ttl})
        .TCP(55555, 8080)
        .Payload(kPayload)
        .Build();
  };
  const Bytes in = syn(kUnderlayGwMac, kFabricMac, 50);
  const Bytes want = syn(kPodA.host_mac, kPodA.mac, 49);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, fabric_.ifindex, XVR_VERDICT_REDIRECT, &r));
  EXPECT_TRUE(r.out == want) << DescribeMismatch(want, r.out);
  xvr_nat_val v{1, 1, 1};
  ASSERT_TRUE(Lookup(XVR_MAP_SNAT, Key(kPodA.ip, kOutsideClientIp, 8080, 55555, kTcp), &v))
      << "no xvr_snat entry for the inbound flow";
  EXPECT_EQ(v.addr, 0u);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT_REV).empty());

  // The pod's SYN-ACK leaves with the pod's source.
  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpPod));
  const Bytes synack = PacketBuilder()
                           .Eth(kPodA.mac, kPodA.host_mac)
                           .IPv4(kPodA.ip, kOutsideClientIp)
                           .TCP(8080, 55555, 9000, 1001, 0x12)
                           .Payload(kPayload)
                           .Build();
  ASSERT_NO_FATAL_FAILURE(RunExpect(synack, pod_a_.ifindex, XVR_VERDICT_REDIRECT, &r));
  ExpectLeft(synack, r, false);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT_REV).empty());
}

// --- Port exhaustion --------------------------------------------------------------------

TEST_F(NatTest, PortExhaustionDropsSnatNoPort) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  const int fd = MapFd(XVR_MAP_SNAT_REV);
  for (uint32_t i = 0; i < XVR_NAT_PORT_COUNT; ++i) {
    const xvr_nat_key k =
        Key(kOutsideIp, kNode1Ip, 443, static_cast<uint16_t>(XVR_NAT_PORT_MIN + i), kTcp);
    xvr_nat_val v{};
    v.addr = kPodC.ip.be32();
    v.port = htons(static_cast<uint16_t>(1 + i));
    ASSERT_EQ(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0) << std::strerror(errno);
  }
  const Bytes in = Tcp(kPodA, kOutsideIp, 40000, 443);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_DROP, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_NAT_NO_PORT);
  const std::vector<xvr_drop_event> ev = ConsumeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_STREQ(ReasonName(ev[0].hdr.reason), "snat_no_port");
  EXPECT_EQ(ev[0].hdr.hook, XVR_HOOK_XDP_POD);
  EXPECT_EQ(ev[0].hdr.ifindex, static_cast<uint32_t>(pod_a_.ifindex));
  xvr_nat_val v{};
  EXPECT_FALSE(Lookup(XVR_MAP_SNAT, Key(kPodA.ip, kOutsideIp, 40000, 443, kTcp), &v));
  EXPECT_EQ(Dump(XVR_MAP_SNAT_REV).size(), XVR_NAT_PORT_COUNT);

  // Another destination port has its own port space.
  Egress(Tcp(kPodA, kOutsideIp, 40000, 80), kPodA, pod_a_.ifindex, kTcp, 40000, 80);
}

// --- No way out -------------------------------------------------------------------------

TEST_F(NatTest, NoGatewayNeighbourPassesNoNeighbour) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod, {.gateway_neigh = false}));
  const Bytes in = Tcp(kPodA, kOutsideIp, 40000, 443);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_PASS, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_PASS, XVR_R_PASS_NO_NEIGH);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
  EXPECT_TRUE(Dump(XVR_MAP_SNAT_REV).empty());
}

TEST_F(NatTest, NoRoutePassesNoEgressRoute) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod, {.default_route = false}));
  const Bytes in = Tcp(kPodA, kOutsideIp, 40000, 443);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(RunExpect(in, pod_a_.ifindex, XVR_VERDICT_PASS, &r));
  EXPECT_TRUE(r.out == in) << DescribeMismatch(in, r.out);
  ExpectOnlyCounter(XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS);
  EXPECT_TRUE(Dump(XVR_MAP_SNAT).empty());
}

}  // namespace
}  // namespace xvr::test

// VXLAN in the data path through BPF_PROG_RUN: encapsulation by xdp_pod and
// tc_pod toward a remote node's pods, decapsulation by xdp_fabric for this
// node's pods, and the two chained (one node's output is the other's
// input). The table rows are in vxlan_cases.cc; each is checked like the
// pod table: action, bytes, exactly one counter, the drop event.
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ostream>
#include <set>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/vxlan_cases.h"

namespace xvr::test {
namespace {

constexpr uint16_t kSportMin = 49152;  // RFC 7348 §5: the dynamic/private range

std::string DescribeCounters(const std::map<uint32_t, CounterValue>& m) {
  std::string s;
  for (const auto& [idx, v] : m)
    s += "  " + CounterName(idx) + ": " + std::to_string(v.packets) + " packets, " +
         std::to_string(v.bytes) + " bytes\n";
  return s.empty() ? "  (none)\n" : s;
}

Bytes Sub(const Bytes& b, size_t off) {
  return off <= b.size() ? Bytes(b.begin() + static_cast<long>(off), b.end()) : Bytes{};
}

// The fixed fields of a VXLAN packet xvr sent, read from the wire bytes
// without the packet builder (which made the expected bytes): what a
// receiver (a kernel VTEP, tshark) relies on.
void ExpectWellFormedEncap(const Bytes& out, uint32_t vni, uint16_t port) {
  SCOPED_TRACE("encapsulated packet:\n" + HexDump(out));
  ASSERT_GE(out.size(), kVxlanEncapLen + kEthHdrLen + kIpv4HdrLen);
  EXPECT_EQ(Be16At(out, 12), kEthPIp);
  EXPECT_EQ(out[kOuterIpOff], 0x45) << "version 4, IHL 5";
  EXPECT_EQ(Be16At(out, kOuterIpOff + 2), out.size() - kEthHdrLen) << "outer total length";
  EXPECT_EQ(Be16At(out, kOuterIpOff + 4), 0) << "outer id";
  EXPECT_EQ(Be16At(out, kOuterIpOff + 6), 0) << "outer flags/fragment offset";
  EXPECT_EQ(out[kOuterIpOff + 8], 64) << "outer TTL";
  EXPECT_EQ(out[kOuterIpOff + 9], 17) << "outer protocol";
  EXPECT_TRUE(Ipv4HeaderChecksumOk(out)) << "outer IPv4 header checksum";
  EXPECT_TRUE(std::equal(kNode1Ip.b.begin(), kNode1Ip.b.end(), out.begin() + kOuterIpOff + 12))
      << "outer source is the node IP";
  EXPECT_GE(Be16At(out, kOuterSportOff), kSportMin) << "outer UDP source port";
  EXPECT_EQ(Be16At(out, kOuterUdpOff + 2), port) << "outer UDP destination port";
  EXPECT_EQ(Be16At(out, kOuterUdpOff + 4), out.size() - kEthHdrLen - kIpv4HdrLen)
      << "outer UDP length";
  EXPECT_EQ(Be16At(out, kOuterUdpOff + 6), 0) << "outer UDP checksum";
  EXPECT_EQ(out[kVxlanOff], kVxlanFlagI) << "VXLAN flags";
  EXPECT_EQ(out[kVxlanOff + 1] | out[kVxlanOff + 2] | out[kVxlanOff + 3], 0) << "reserved";
  EXPECT_EQ(static_cast<uint32_t>(out[kVxlanOff + 4] << 16 | out[kVxlanOff + 5] << 8 |
                                  out[kVxlanOff + 6]),
            vni)
      << "VNI";
  EXPECT_EQ(out[kVxlanOff + 7], 0) << "reserved";
  const Bytes inner = Sub(out, kInnerFrameOff);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(inner)) << "inner IPv4 header checksum";
}

// Node 1 with the overlay: the pod topology of the fixture plus the fabric
// NIC, the overlay fields of xvr_node, routes and neighbours.
class VxlanFixture : public BpfProgramTest {
 protected:
  xvr_node_cfg OverlayConfig(const OverlaySetup& s) const {
    xvr_node_cfg cfg = Node1Overlay(DefaultNodeConfig(), fabric_.ifindex, s.port, s.vni);
    if (!s.vxlan) cfg.flags &= ~XVR_CFG_F_VXLAN;
    cfg.cluster_cidr = 0;  // the overlay rows run without a cluster CIDR
    cfg.cluster_prefixlen = 0;
    return cfg;
  }

  // Writes node 1 into the loaded program's maps (creating the fabric NIC
  // first if need be). Use with ASSERT_NO_FATAL_FAILURE.
  void SeedOverlay(const OverlaySetup& s) {
    if (fabric_.ifindex == 0) {
      ASSERT_NO_FATAL_FAILURE(CreateFabric());
    }
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
    xvr_node_cfg cfg = OverlayConfig(s);
    if (s.node == NodeState::kMissing) cfg = xvr_node_cfg{};
    if (s.node != NodeState::kReady) cfg.flags &= ~XVR_CFG_F_READY;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
    if (s.fabric_in_devmap) {
      ASSERT_NO_FATAL_FAILURE(PutDevmap(fabric_.ifindex));
    }
    for (const RouteSeed& r : s.routes) {
      xvr_route v{};
      v.type = r.type;
      v.nexthop = r.nexthop.be32();
      v.tunnel_dst = r.tunnel_dst.be32();
      v.ifindex = static_cast<uint32_t>(fabric_.ifindex);
      ASSERT_NO_FATAL_FAILURE(PutRoute(r.prefix, r.prefixlen, v));
    }
    for (const NeighSeed& n : s.neighs) {
      ASSERT_NO_FATAL_FAILURE(PutNeigh(n.ip, n.mac, fabric_.ifindex));
    }
  }

  // Runs the loaded pod program on pod A's packet and expects it in the
  // tunnel.
  void Encapsulate(const Bytes& pkt, RunResult* r) {
    ASSERT_NO_FATAL_FAILURE(Run(pkt, pod_a_.ifindex, r));
    ASSERT_EQ(ActionName(program(), r->retval),
              ActionName(program(), ActionFor(program(), XVR_VERDICT_REDIRECT)))
        << HexDump(pkt);
    ASSERT_GE(r->out.size(), kVxlanEncapLen + kEthHdrLen) << HexDump(r->out);
  }

  uint16_t EncapSport(const Bytes& pkt) {
    RunResult r;
    Encapsulate(pkt, &r);
    if (HasFatalFailure()) return 0;
    return Be16At(r.out, kOuterSportOff);
  }
};

// --- The tables ------------------------------------------------------------------------

struct VxlanParam {
  Program program;
  VxlanCase row;
};

void PrintTo(const VxlanParam& p, std::ostream* os) {
  *os << ProgramName(p.program) << "/" << p.row.name;
}

std::vector<VxlanParam> Rows(Program p) {
  std::vector<VxlanParam> out;
  if (p == Program::kXdpFabric) {
    for (VxlanCase& c : DecapCases())
      if (c.programs & kOnFabric) out.push_back({p, std::move(c)});
    return out;
  }
  const unsigned mask = IsXdp(p) ? kOnXdp : kOnTc;
  for (VxlanCase& c : EncapCases())
    if (c.programs & mask) out.push_back({p, std::move(c)});
  return out;
}

std::string RowName(const ::testing::TestParamInfo<VxlanParam>& info) {
  return info.param.row.name;
}

class VxlanTableTest : public VxlanFixture, public ::testing::WithParamInterface<VxlanParam> {};

TEST_P(VxlanTableTest, Row) {
  const Program prog = GetParam().program;
  const VxlanCase& c = GetParam().row;
  ASSERT_NO_FATAL_FAILURE(LoadProgram(prog));
  ASSERT_NO_FATAL_FAILURE(SeedOverlay(c.setup));
  const int ifindex = prog == Program::kXdpFabric ? fabric_.ifindex : pod_a_.ifindex;
  ASSERT_GT(ifindex, 0);

  RunResult r;
  const int err = TryRun(c.input, ifindex, 0, &r, IsXdp(prog) ? c.xdp_linear : 0);
  ASSERT_EQ(err, 0) << "bpf_prog_test_run_opts(" << ProgramName(prog)
                    << "): " << std::strerror(-err);
  SCOPED_TRACE("input:\n" + HexDump(c.input));

  EXPECT_EQ(ActionName(prog, r.retval), ActionName(prog, ActionFor(prog, c.verdict)));

  switch (c.output) {
    case Output::kUnchanged:
      EXPECT_TRUE(r.out == c.input) << "packet modified\n" << DescribeMismatch(c.input, r.out);
      break;
    case Output::kExact: {
      Bytes want = c.expected;
      if (c.sport_from_output) {
        ASSERT_GE(r.out.size(), kOuterSportOff + 2) << HexDump(r.out);
        const uint16_t sport = Be16At(r.out, kOuterSportOff);
        EXPECT_GE(sport, kSportMin) << "outer UDP source port outside 49152-65535";
        want[kOuterSportOff] = r.out[kOuterSportOff];
        want[kOuterSportOff + 1] = r.out[kOuterSportOff + 1];
        ExpectWellFormedEncap(r.out, c.setup.vni, c.setup.port);
      }
      EXPECT_TRUE(r.out == want) << DescribeMismatch(want, r.out);
      if (r.out.size() >= kEthHdrLen + kIpv4HdrLen && Be16At(r.out, 12) == kEthPIp) {
        EXPECT_TRUE(Ipv4HeaderChecksumOk(r.out)) << "IPv4 header checksum broken\n"
                                                 << HexDump(r.out);
      }
      break;
    }
    case Output::kAny: break;
  }

  // Exactly one counter moved. The programs count the frame as they leave
  // it (xvr_finish reads the length after the handler ran): encapsulated
  // packets 50 bytes more than they came in, decapsulated 50 less.
  const uint32_t want_idx = xvr_counter_index(hook(), c.verdict, c.reason);
  const std::map<uint32_t, CounterValue> want = {
      {want_idx, CounterValue{1, static_cast<uint64_t>(r.out.size())}}};
  const std::map<uint32_t, CounterValue> got = NonZeroCounters();
  EXPECT_TRUE(got == want) << "counters\nwant:\n"
                           << DescribeCounters(want) << "got:\n"
                           << DescribeCounters(got);
  if (c.output == Output::kUnchanged) {
    EXPECT_EQ(r.out.size(), c.input.size());
  }

  const std::vector<xvr_drop_event> events = ConsumeEvents();
  if (c.verdict != XVR_VERDICT_DROP || c.setup.node != NodeState::kReady) {
    EXPECT_TRUE(events.empty()) << events.size() << " unexpected event(s), first reason "
                                << (events.empty() ? "" : ReasonName(events[0].hdr.reason));
    return;
  }
  ASSERT_EQ(events.size(), 1u);
  const xvr_event_hdr& h = events[0].hdr;
  EXPECT_EQ(h.type, static_cast<uint32_t>(XVR_EVENT_DROP));
  EXPECT_EQ(h.hook, hook());
  EXPECT_EQ(h.verdict, XVR_VERDICT_DROP);
  EXPECT_EQ(ReasonName(h.reason), std::string(ReasonName(c.reason)));
  EXPECT_EQ(h.ifindex, static_cast<uint32_t>(ifindex));
  EXPECT_EQ(h.pkt_len, r.out.size());
  const size_t cap = std::min<size_t>(r.out.size(), XVR_EVENT_SNAP_LEN);
  ASSERT_EQ(h.cap_len, cap);
  const Bytes snap(events[0].data, events[0].data + cap);
  EXPECT_TRUE(snap == Truncate(r.out, cap)) << DescribeMismatch(Truncate(r.out, cap), snap);
}

INSTANTIATE_TEST_SUITE_P(XdpPod, VxlanTableTest, ::testing::ValuesIn(Rows(Program::kXdpPod)),
                         RowName);
INSTANTIATE_TEST_SUITE_P(TcPod, VxlanTableTest, ::testing::ValuesIn(Rows(Program::kTcPod)),
                         RowName);
INSTANTIATE_TEST_SUITE_P(XdpFabric, VxlanTableTest, ::testing::ValuesIn(Rows(Program::kXdpFabric)),
                         RowName);

// --- The outer UDP source port ----------------------------------------------------------

class VxlanSourcePortTest : public VxlanFixture, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    VxlanFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(GetParam()));
    OverlaySetup s;
    // 10.244.0.0/16 through the tunnel: several destination pods.
    s.routes.push_back({kClusterCidr, 16, XVR_RT_TUNNEL, kZeroIp, kNode2Ip});
    ASSERT_NO_FATAL_FAILURE(SeedOverlay(s));
  }

  static Bytes Udp(const Ipv4& dst, uint16_t sport, uint16_t dport, IPv4Options o = {},
                   const std::string& payload = "p") {
    return PodAUdp(dst, std::move(o), sport, dport, payload);
  }
  static Bytes Tcp(const Ipv4& dst, uint16_t sport, uint16_t dport) {
    return PacketBuilder()
        .Eth(kPodA.mac, kPodA.host_mac)
        .IPv4(kPodA.ip, dst)
        .TCP(sport, dport)
        .Build();
  }
};

TEST_P(VxlanSourcePortTest, SameFlowSamePort) {
  const uint16_t p1 = EncapSport(Udp(kRemotePodIp, 40000, 8080));
  const uint16_t p2 = EncapSport(Udp(kRemotePodIp, 40000, 8080));
  // Another packet of the flow: other TTL, id, TOS, length.
  const uint16_t p3 = EncapSport(
      Udp(kRemotePodIp, 40000, 8080, {.ttl = 9, .tos = 0x10, .id = 99}, std::string(700, 'z')));
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_GE(p1, kSportMin);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(p1, p3);
}

TEST_P(VxlanSourcePortTest, DifferentFlowsDifferentPorts) {
  const Ipv4 other_pod{{10, 244, 2, 6}};
  const uint16_t base = EncapSport(Udp(kRemotePodIp, 40000, 8080));
  const uint16_t client_port = EncapSport(Udp(kRemotePodIp, 40001, 8080));
  const uint16_t server_port = EncapSport(Udp(kRemotePodIp, 40000, 8081));
  const uint16_t dst = EncapSport(Udp(other_pod, 40000, 8080));
  const uint16_t tcp = EncapSport(Tcp(kRemotePodIp, 40000, 8080));
  ASSERT_FALSE(HasFatalFailure());
  const std::set<uint16_t> ports = {base, client_port, server_port, dst, tcp};
  EXPECT_EQ(ports.size(), 5u) << "base " << base << ", client port+1 " << client_port
                              << ", server port+1 " << server_port << ", other pod " << dst
                              << ", tcp " << tcp;
}

// Receivers spread flows by this port (RSS): many flows, many ports, all in
// range.
TEST_P(VxlanSourcePortTest, ManyFlowsSpreadOverTheRange) {
  std::set<uint16_t> ports;
  constexpr int kFlows = 256;
  for (int i = 0; i < kFlows; ++i) {
    const uint16_t p = EncapSport(Udp(kRemotePodIp, static_cast<uint16_t>(40000 + i), 8080));
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_GE(p, kSportMin);
    ports.insert(p);
  }
  // 256 flows into 16384 ports: about two collisions expected.
  EXPECT_GE(ports.size(), 248u);
  // Both halves of the range are used.
  EXPECT_LT(*ports.begin(), 0xe000);
  EXPECT_GE(*ports.rbegin(), 0xe000);
}

// Fragments carry no ports after the first: every fragment of a datagram
// hashes on addresses and protocol alone, so they share one port (and one
// receive queue).
TEST_P(VxlanSourcePortTest, FragmentsOfADatagramShareThePort) {
  const uint16_t first = EncapSport(Udp(kRemotePodIp, 40000, 8080, {.id = 5, .mf = true}));
  const uint16_t middle = EncapSport(PacketBuilder()
                                         .Eth(kPodA.mac, kPodA.host_mac)
                                         .IPv4(kPodA.ip, kRemotePodIp,
                                               {.id = 5, .mf = true, .frag_offset = 3,
                                                .protocol = 17})
                                         .Payload(Bytes(24, 1))
                                         .Build());
  const uint16_t last = EncapSport(
      PacketBuilder()
          .Eth(kPodA.mac, kPodA.host_mac)
          .IPv4(kPodA.ip, kRemotePodIp, {.id = 5, .frag_offset = 6, .protocol = 17})
          .Payload(Bytes(8, 2))
          .Build());
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(first, middle);
  EXPECT_EQ(first, last);
}

INSTANTIATE_TEST_SUITE_P(Pod, VxlanSourcePortTest,
                         ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         [](const ::testing::TestParamInfo<Program>& i) {
                           return std::string(i.param == Program::kXdpPod ? "XdpPod" : "TcPod");
                         });

// The two pod hooks put the same bytes on the wire, hash included.
TEST_F(VxlanFixture, XdpPodAndTcPodEncapsulateIdentically) {
  const Bytes flows[] = {
      PodAUdp(kRemotePodIp),
      PodAUdp(kRemotePodIp, {.tos = 0x2e, .df = true}, 1234, 4321, std::string(999, 'q')),
      PacketBuilder()
          .Eth(kPodA.mac, kPodA.host_mac)
          .IPv4(kPodA.ip, kRemotePodIp)
          .TCP(51000, 443, 1000, 0, 0x02)
          .Build(),
  };
  std::vector<Bytes> xdp, tc;
  ASSERT_NO_FATAL_FAILURE(LoadProgram(Program::kXdpPod));
  ASSERT_NO_FATAL_FAILURE(SeedOverlay({}));
  for (const Bytes& f : flows) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Encapsulate(f, &r));
    xdp.push_back(r.out);
  }
  ASSERT_NO_FATAL_FAILURE(UnloadProgram());
  ASSERT_NO_FATAL_FAILURE(LoadProgram(Program::kTcPod));
  ASSERT_NO_FATAL_FAILURE(SeedOverlay({}));
  for (const Bytes& f : flows) {
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Encapsulate(f, &r));
    tc.push_back(r.out);
  }
  for (size_t i = 0; i < std::size(flows); ++i)
    EXPECT_TRUE(xdp[i] == tc[i]) << "flow " << i << "\n" << DescribeMismatch(xdp[i], tc[i]);
}

// bpf_skb_adjust_room() will not grow a GSO skb that is neither TCP nor
// (with BPF_F_ADJ_ROOM_FIXED_GSO) UDP GSO: such a packet is dropped as
// encap_failed. BPF_PROG_RUN can make a GSO skb but not give it a type, so
// this is the one way to reach that reason here.
TEST_F(VxlanFixture, TcPodDropsAGsoSkbItCannotGrowAsEncapFailed) {
  ASSERT_NO_FATAL_FAILURE(LoadProgram(Program::kTcPod));
  ASSERT_NO_FATAL_FAILURE(SeedOverlay({}));
  const Bytes pkt = PodAUdp(kRemotePodIp, {}, 40000, 8080, std::string(3000, 'g'));
  RunResult r;
  const int err = TryRun(pkt, pod_a_.ifindex, 0, &r, 0, /*gso_size=*/1000);
  ASSERT_EQ(err, 0) << std::strerror(-err);
  EXPECT_EQ(ActionName(program(), r.retval), "TC_ACT_SHOT");
  // vxlan_send() lowers the TTL before it makes room: the dropped packet
  // (and the event's snapshot) has TTL 63, nothing else changed.
  Bytes ttl_lowered = PodAUdp(kRemotePodIp, {.ttl = 63}, 40000, 8080, std::string(3000, 'g'));
  EXPECT_TRUE(r.out == ttl_lowered) << DescribeMismatch(ttl_lowered, r.out);
  const std::map<uint32_t, CounterValue> want = {
      {xvr_counter_index(XVR_HOOK_TC_POD, XVR_VERDICT_DROP, XVR_R_ENCAP_FAILED),
       CounterValue{1, pkt.size()}}};
  const std::map<uint32_t, CounterValue> got = NonZeroCounters();
  EXPECT_TRUE(got == want) << "want:\n" << DescribeCounters(want) << "got:\n"
                           << DescribeCounters(got);
  const std::vector<xvr_drop_event> ev = ConsumeEvents();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].hdr.reason, XVR_R_ENCAP_FAILED);
}

// --- Round trip: node 1 encapsulates, node 2 decapsulates ---------------------------------

struct RoundTripParam {
  Program encap;
  uint32_t vni;
  uint16_t port;
};

class VxlanRoundTripTest : public VxlanFixture,
                           public ::testing::WithParamInterface<RoundTripParam> {
 protected:
  // Replaces node 1 by node 2 in this netns: fresh maps, xdp_fabric, node 2's
  // configuration and its pod at kRemotePodIp behind pod B's veth.
  void BecomeNode2() {
    ASSERT_NO_FATAL_FAILURE(UnloadProgram());
    ASSERT_NO_FATAL_FAILURE(LoadProgram(Program::kXdpFabric));
    xvr_node_cfg cfg{};
    cfg.gateway_ip = kNode2GatewayIp.be32();
    cfg.pod_cidr = kNode2PodCidr.be32();
    cfg.pod_prefixlen = 24;
    cfg.host_ifindex = static_cast<uint32_t>(host_loop_.ifindex);
    cfg.flags = XVR_CFG_F_READY | XVR_CFG_F_VXLAN;
    cfg.events_per_sec = 1000;
    cfg.node_ip = kNode2Ip.be32();
    cfg.fabric_ifindex = static_cast<uint32_t>(fabric_.ifindex);
    std::memcpy(cfg.fabric_mac, kNode2Mac.data(), 6);
    cfg.vxlan_port = htons(GetParam().port);
    cfg.vni = GetParam().vni;
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(cfg));
    const TestEndpoint pod{kNode2Pod, pod_b_.ifindex, pod_b_.peer_ifindex};
    ASSERT_NO_FATAL_FAILURE(PutEndpoint(pod, true));
  }

  // pkt from pod A on node 1 to node 2's pod; the frame node 2 delivers.
  void RoundTrip(const Bytes& pkt, Bytes* delivered) {
    const RoundTripParam& p = GetParam();
    ASSERT_NO_FATAL_FAILURE(LoadProgram(p.encap));
    OverlaySetup s;
    s.vni = p.vni;
    s.port = p.port;
    ASSERT_NO_FATAL_FAILURE(SeedOverlay(s));
    RunResult wire;
    ASSERT_NO_FATAL_FAILURE(Encapsulate(pkt, &wire));
    ASSERT_NO_FATAL_FAILURE(ExpectWellFormedEncap(wire.out, p.vni, p.port));

    ASSERT_NO_FATAL_FAILURE(BecomeNode2());
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Run(wire.out, fabric_.ifindex, &r));
    EXPECT_EQ(ActionName(program(), r.retval), "XDP_REDIRECT")
        << "counters:\n" << DescribeCounters(NonZeroCounters());
    EXPECT_EQ(Counter(XVR_HOOK_XDP_FABRIC, XVR_VERDICT_REDIRECT, XVR_R_OK).packets, 1u);
    *delivered = r.out;
  }

  // The IPv4 packet behind the Ethernet header, TTL lowered by `hops` and
  // the checksum recomputed.
  static Bytes IpWithTtlLowered(const Bytes& frame, int hops) {
    Bytes ip = Sub(frame, kEthHdrLen);
    ip[8] = static_cast<uint8_t>(ip[8] - hops);
    ip[10] = ip[11] = 0;
    const uint16_t c = InetChecksum(ip.data(), (ip[0] & 0x0f) * 4u);
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c);
    return ip;
  }
};

// One TTL decrement per node, as with the kernel's VXLAN device on both
// ends (node 1 routes into the tunnel, node 2 routes out of it): TTL − 2.
TEST_P(VxlanRoundTripTest, DeliversTheOriginalIpPacketWithTtlMinusTwo) {
  const Bytes sent = PodAUdp(kRemotePodIp, {.ttl = 64, .tos = 0x28, .id = 0xbeef, .df = true});
  Bytes delivered;
  ASSERT_NO_FATAL_FAILURE(RoundTrip(sent, &delivered));
  const Bytes want = InnerUdp(kNode2Pod.host_mac, kNode2Pod.mac, kPodA.ip, kRemotePodIp,
                              {.ttl = 62, .tos = 0x28, .id = 0xbeef, .df = true});
  EXPECT_TRUE(delivered == want) << DescribeMismatch(want, delivered);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(delivered)) << HexDump(delivered);
  // Independently of the builder: the IP packet is the one sent, TTL − 2.
  EXPECT_TRUE(Sub(delivered, kEthHdrLen) == IpWithTtlLowered(sent, 2))
      << DescribeMismatch(IpWithTtlLowered(sent, 2), Sub(delivered, kEthHdrLen));
}

TEST_P(VxlanRoundTripTest, TcpSegmentArrivesWithTtlMinusTwo) {
  const Bytes sent = PacketBuilder()
                         .Eth(kPodA.mac, kPodA.host_mac)
                         .IPv4(kPodA.ip, kRemotePodIp, {.ttl = 64, .df = true})
                         .TCP(51000, 443, 1000, 77, 0x18)
                         .Payload(std::string(1200, 'd'))
                         .Build();
  Bytes delivered;
  ASSERT_NO_FATAL_FAILURE(RoundTrip(sent, &delivered));
  EXPECT_TRUE(Sub(delivered, kEthHdrLen) == IpWithTtlLowered(sent, 2))
      << DescribeMismatch(IpWithTtlLowered(sent, 2), Sub(delivered, kEthHdrLen));
  ASSERT_GE(delivered.size(), kEthHdrLen);
  EXPECT_TRUE(std::equal(kNode2Pod.mac.begin(), kNode2Pod.mac.end(), delivered.begin()));
  EXPECT_TRUE(std::equal(kNode2Pod.host_mac.begin(), kNode2Pod.host_mac.end(),
                         delivered.begin() + 6));
}

// Sent with TTL 2: node 1 forwards it with 1, node 2 may not forward it.
TEST_P(VxlanRoundTripTest, Ttl2DiesOnTheSecondNode) {
  const RoundTripParam& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(LoadProgram(p.encap));
  OverlaySetup s;
  s.vni = p.vni;
  s.port = p.port;
  ASSERT_NO_FATAL_FAILURE(SeedOverlay(s));
  RunResult wire;
  ASSERT_NO_FATAL_FAILURE(Encapsulate(PodAUdp(kRemotePodIp, {.ttl = 2}), &wire));
  ASSERT_NO_FATAL_FAILURE(BecomeNode2());
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(wire.out, fabric_.ifindex, &r));
  EXPECT_EQ(ActionName(program(), r.retval), "XDP_DROP");
  EXPECT_EQ(Counter(XVR_HOOK_XDP_FABRIC, XVR_VERDICT_DROP, XVR_R_TTL_EXCEEDED).packets, 1u);
}

void PrintTo(const RoundTripParam& p, std::ostream* os) {
  *os << ProgramName(p.encap) << " VNI " << p.vni << " port " << p.port;
}

INSTANTIATE_TEST_SUITE_P(
    Nodes, VxlanRoundTripTest,
    ::testing::Values(RoundTripParam{Program::kXdpPod, 1, kVxlanPort},
                      RoundTripParam{Program::kXdpPod, 42, kVxlanPortLinux},
                      RoundTripParam{Program::kTcPod, 1, kVxlanPort},
                      RoundTripParam{Program::kTcPod, 42, kVxlanPortLinux}),
    [](const ::testing::TestParamInfo<RoundTripParam>& i) {
      return std::string(i.param.encap == Program::kXdpPod ? "XdpPod" : "TcPod") + "_Vni" +
             std::to_string(i.param.vni) + "_Port" + std::to_string(i.param.port);
    });

}  // namespace
}  // namespace xvr::test

// NetworkPolicy verdicts (bpf/lib/policy.h, abi.h "NetworkPolicy,
// compiled") through BPF_PROG_RUN, with xvr_ipcache, xvr_cidr_id and
// xvr_policy filled by hand: isolation flags, allow entries by peer pod
// identity, CIDR identity (longest prefix, except carved out) and any peer,
// by all protocols (prefix 72), one protocol (80), a port (96) and port
// ranges split into port prefixes (endPort); both ends' policies; the node
// always allowed; replies of an allowed connection never judged; the
// receiving node's ingress policy on the fabric (VXLAN and routed).
//
// A denied first packet is dropped with policy_denied_egress (28) or
// policy_denied_ingress (29) at the hook, and leaves no flow entry behind.
#include <arpa/inet.h>

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/flow_cases.h"

namespace xvr::test {
namespace {

inline constexpr uint16_t kPort = 8080;
inline constexpr uint32_t kCidrNet = XVR_ID_CIDR_MIN + 1;     // 203.0.113.0/24
inline constexpr uint32_t kCidrExcept = XVR_ID_CIDR_MIN + 2;  // 203.0.113.128/25
inline constexpr Ipv4 kExtNet{{203, 0, 113, 0}};
inline constexpr Ipv4 kExtIn{{203, 0, 113, 5}};      // in the /24, not the /25
inline constexpr Ipv4 kExtExcept{{203, 0, 113, 200}};  // in the /25
inline constexpr Ipv4 kExtOther{{198, 51, 100, 7}};  // in neither

std::string ProgTag(const ::testing::TestParamInfo<Program>& i) {
  return i.param == Program::kXdpPod ? "XdpPod" : "TcPod";
}

// --- The port range helper -----------------------------------------------------------------

// The blocks cover [lo, hi] exactly, each aligned to its size, and are the
// known minimal splits for a few ranges.
TEST(PolicyPortRangeHelper, BlocksCoverTheRangeExactly) {
  EXPECT_EQ(PortRangePrefixes(79, 81), (std::vector<PortPrefix>{{79, 16}, {80, 15}}));
  EXPECT_EQ(PortRangePrefixes(8080, 8080), (std::vector<PortPrefix>{{8080, 16}}));
  EXPECT_EQ(PortRangePrefixes(0, 65535), (std::vector<PortPrefix>{{0, 0}}));
  EXPECT_EQ(PortRangePrefixes(32768, 65535), (std::vector<PortPrefix>{{32768, 1}}));
  EXPECT_EQ(PortRangePrefixes(1, 65535).size(), 16u);
  const std::pair<uint16_t, uint16_t> ranges[] = {
      {79, 81}, {1000, 1999}, {1, 65535}, {0, 0}, {65535, 65535}, {30000, 32767}, {5, 6}};
  for (const auto& [lo, hi] : ranges) {
    SCOPED_TRACE(std::to_string(lo) + "-" + std::to_string(hi));
    std::vector<int> hits(65536, 0);
    for (const PortPrefix& b : PortRangePrefixes(lo, hi)) {
      ASSERT_GE(b.bits, 0);
      ASSERT_LE(b.bits, 16);
      const uint32_t size = 1u << (16 - b.bits);
      EXPECT_EQ(b.port % size, 0u) << "block " << b.port << "/" << b.bits << " not aligned";
      for (uint32_t p = b.port; p < b.port + size; ++p) ++hits[p];
    }
    for (uint32_t p = 0; p < 65536; ++p)
      ASSERT_EQ(hits[p], p >= lo && p <= hi ? 1 : 0) << "port " << p;
  }
}

// --- Pod hooks ---------------------------------------------------------------------------------

class PolicyPodTest : public FlowTestBase, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    FlowTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  }

  int IfindexOf(const PodAddr& p) const {
    if (p.ip == kPodA.ip) return pod_a_.ifindex;
    if (p.ip == kPodB.ip) return pod_b_.ifindex;
    return pod_c_.ifindex;
  }

  // The first packet of a new connection from pod `from` to dst:dport
  // (ICMP: an echo request, dport unused); a fresh source port each time.
  Bytes First(const PodAddr& from, const Ipv4& dst, uint8_t proto, uint16_t dport) {
    const uint16_t sport = next_sport_++;
    switch (proto) {
      case kProtoTcp: return PodTcp(from, dst, sport, dport, kTcpSyn);
      case kProtoUdp: return PodUdp(from, dst, sport, dport);
      case kProtoIcmp: return PodIcmpEcho(from, dst, kIcmpEcho, sport);
    }
    return PacketBuilder()
        .Eth(from.mac, from.host_mac)
        .IPv4(from.ip, dst, {.protocol = proto})
        .Payload(Bytes{static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport),
                       static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport), 0, 0, 0, 0})
        .Build();
  }

  // Sends that first packet and checks the verdict: `allowed` with
  // `ok_verdict`/`ok_reason` and one more flow pair; denied with `reason`,
  // no new entry. Returns the flow key (forward tuple).
  void Expect(bool allowed, const PodAddr& from, const Ipv4& dst, uint8_t proto, uint16_t dport,
              uint32_t deny_reason = XVR_R_POLICY_INGRESS,
              uint32_t ok_verdict = XVR_VERDICT_REDIRECT, uint32_t ok_reason = XVR_R_OK) {
    SCOPED_TRACE(from.ip.str() + " -> " + dst.str() + ":" + std::to_string(dport) + " proto " +
                 std::to_string(proto) + (allowed ? " allowed" : " denied"));
    const Bytes pkt = First(from, dst, proto, dport);
    const size_t flows = Flows().size();
    const uint32_t verdict = allowed ? ok_verdict : uint32_t{XVR_VERDICT_DROP};
    const uint32_t reason = allowed ? ok_reason : deny_reason;
    const uint64_t before = Counter(hook(), verdict, reason).packets;
    RunResult r;
    ASSERT_NO_FATAL_FAILURE(Run(pkt, IfindexOf(from), &r));
    EXPECT_EQ(ActionName(program(), r.retval), ActionName(program(), ActionFor(program(), verdict)))
        << "counters:\n"
        << DescribeCounters();
    EXPECT_EQ(Counter(hook(), verdict, reason).packets, before + 1)
        << "counter " << CounterName(xvr_counter_index(hook(), verdict, reason));
    EXPECT_EQ(Flows().size(), flows + (allowed ? 2 : 0)) << "flows:\n" << DescribeFlows();
  }

  uint16_t next_sport_ = 30000;
};

// No isolation flag: allowed whatever xvr_policy holds (here nothing that
// names pod A or pod B).
TEST_P(PolicyPodTest, NotIsolatedIsAllowed) {
  ASSERT_NO_FATAL_FAILURE(Allow(kIdC, XVR_POL_INGRESS, kIdB, kProtoTcp, 22));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoUdp, 53));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoIcmp, 0));
  ExpectFlowStats({{XVR_FS_CREATED, 3}});
}

// Ingress isolation of the destination without a rule: dropped at the hook
// with policy_denied_ingress (the only counter), a drop event, no entries.
// Isolation of the source for ingress does not concern its own egress.
TEST_P(PolicyPodTest, IngressIsolatedWithoutRuleIsDenied) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  const Bytes syn = PodTcp(kPodA, kPodB.ip, 40000, kPort, kTcpSyn);
  ASSERT_NO_FATAL_FAILURE(RunExpect(syn, pod_a_.ifindex, XVR_VERDICT_DROP));
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS, 1, syn.size());
  ExpectNoFlows();
  ExpectFlowStats({});
  const FlowEvents ev = ConsumeFlowEvents();
  ASSERT_EQ(ev.order, std::vector<uint32_t>{XVR_EVENT_DROP});
  EXPECT_EQ(ev.drops[0].hdr.reason, XVR_R_POLICY_INGRESS);
  EXPECT_EQ(ev.drops[0].hdr.hook, hook());
  EXPECT_STREQ(ReasonName(XVR_R_POLICY_INGRESS), "policy_denied_ingress");

  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodB, kPodA.ip, kProtoTcp, kPort));
}

TEST_P(PolicyPodTest, EgressIsolatedWithoutRuleIsDenied) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  const Bytes pkt = PodUdp(kPodA, kPodB.ip, 40000, 53);
  ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, pod_a_.ifindex, XVR_VERDICT_DROP));
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_POLICY_EGRESS, 1, pkt.size());
  ExpectNoFlows();
  ExpectFlowStats({});
  EXPECT_STREQ(ReasonName(XVR_R_POLICY_EGRESS), "policy_denied_egress");
  // Every destination, the remote pod and the internet too.
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kRemotePodIp, kProtoUdp, 53, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kInternetIp, kProtoTcp, 443, XVR_R_POLICY_EGRESS));
  // Pod A may still be reached.
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodB, kPodA.ip, kProtoUdp, 53));
}

// An entry for the peer's pod identity: that peer only, that subject only.
TEST_P(PolicyPodTest, AllowedByPeerPodIdentity) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodC.ip, kIdC, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodC, kPodB.ip, kProtoTcp, kPort));
  // Pod C is isolated too; the rule protects pod B, not pod C. (Pod C is
  // not in the device map: allowed would be redirect_failed, after the
  // policy verdict.)
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodC.ip, kProtoTcp, kPort));

  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(
      Expect(false, kPodA, kRemotePodIp, kProtoTcp, kPort, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdRemote, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kRemotePodIp, kProtoTcp, kPort));
  // The identities recorded are the ipcache's.
  const auto f = Flow(FlowKey(kPodA.ip, kRemotePodIp, next_sport_ - 1, kPort, kProtoTcp));
  ASSERT_TRUE(f.has_value()) << DescribeFlows();
  EXPECT_EQ(f->src_identity, kIdA);
  EXPECT_EQ(f->dst_identity, kIdRemote);
  EXPECT_EQ(FlowFlagsStr(f->flags), "EGRESS");
}

// ipBlock peers: the CIDR identity of the longest xvr_cidr_id prefix that
// holds the address. An except is a longer prefix with an identity of its
// own that no rule names: its addresses are denied even though the shorter
// prefix is allowed.
TEST_P(PolicyPodTest, AllowedByCidrIdentityLongestPrefix) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(PutCidrId(kExtNet, 24, kCidrNet));
  ASSERT_NO_FATAL_FAILURE(PutCidrId(Ip("203.0.113.128"), 25, kCidrExcept));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kCidrNet, kProtoTcp, 443));
  const uint32_t out = XVR_VERDICT_PASS, out_r = XVR_R_PASS_NO_EGRESS;  // no route out here
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kExtIn, kProtoTcp, 443, 0, out, out_r));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, Ip("203.0.113.127"), kProtoTcp, 443, 0, out, out_r));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kExtExcept, kProtoTcp, 443, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(
      Expect(false, kPodA, Ip("203.0.113.128"), kProtoTcp, 443, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kExtOther, kProtoTcp, 443, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kExtIn, kProtoTcp, 444, XVR_R_POLICY_EGRESS));
  // The flow of an address without a pod identity: dst_identity 0.
  const auto f = Flow(FlowKey(kPodA.ip, kExtIn, 30000, 443, kProtoTcp));
  ASSERT_TRUE(f.has_value()) << DescribeFlows();
  EXPECT_EQ(f->dst_identity, 0u);
  EXPECT_EQ(FlowFlagsStr(f->flags), "EGRESS");
  // A rule naming the except's own identity admits it.
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kCidrExcept, kProtoTcp, 443));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kExtExcept, kProtoTcp, 443, 0, out, out_r));
}

// Peer identity 0: any peer, for that subject, protocol and port.
TEST_P(PolicyPodTest, AllowedForAnyPeer) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, XVR_ID_NONE, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodC, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(DeleteIdent(kPodC.ip));  // no identity at all
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodC, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, kPort + 1));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoUdp, kPort));
}

// Prefix 80 (protocol, no port): every port of that protocol, no other
// protocol.
TEST_P(PolicyPodTest, ProtocolOnlyEntryAllowsEveryPort) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, 0, XVR_POL_PREFIX_PROTO));
  for (uint16_t port : {0, 1, 80, 8080, 32768, 65535})
    ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, port));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoUdp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoIcmp, 0));
}

// Prefix 72 (peer, no protocol): every protocol, ICMP included.
TEST_P(PolicyPodTest, AllProtocolsEntryAllowsIcmp) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, 0, 0, XVR_POL_PREFIX_PEER));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoIcmp, 0));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, 22));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoUdp, 5353));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, 132 /* SCTP */, 2905));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodC, kPodB.ip, kProtoIcmp, 0));
}

// Prefix 96: that port exactly.
TEST_P(PolicyPodTest, ExactPortEntry) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, kPort - 1));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, kPort + 1));
  // 8080 is 0x1f90: a port differing only in the low byte, or only in the
  // high byte, is another port.
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, 0x1f00));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, 0x0090));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, 0x901f));
}

// endPort: a range as port prefixes (PortRangePrefixes). Checked at
// port - 1, port, the middle, endPort and endPort + 1, on ingress and
// egress.
TEST_P(PolicyPodTest, PortRangeBounds) {
  const std::pair<uint16_t, uint16_t> ranges[] = {
      {79, 81}, {1000, 1999}, {32767, 32769}, {8080, 8080}, {1, 65535}, {65534, 65535}, {0, 3}};
  for (uint8_t dir : {XVR_POL_INGRESS, XVR_POL_EGRESS}) {
    for (const auto& [lo, hi] : ranges) {
      SCOPED_TRACE(std::string(dir == XVR_POL_INGRESS ? "ingress " : "egress ") +
                   std::to_string(lo) + "-" + std::to_string(hi));
      ASSERT_NO_FATAL_FAILURE(ClearPolicy());
      ASSERT_NO_FATAL_FAILURE(ClearFlows());
      ASSERT_NO_FATAL_FAILURE(SeedIdentities());
      const bool in = dir == XVR_POL_INGRESS;
      ASSERT_NO_FATAL_FAILURE(in ? PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn)
                                 : PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
      const size_t n = AllowRange(in ? kIdB : kIdA, dir, in ? kIdA : kIdB, kProtoTcp, lo, hi);
      ASSERT_FALSE(HasFatalFailure());
      EXPECT_EQ(DumpMap(XVR_MAP_POLICY).size(), n);
      const uint32_t deny = in ? XVR_R_POLICY_INGRESS : XVR_R_POLICY_EGRESS;
      if (lo > 0) {
        ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, lo - 1, deny));
      }
      ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, lo));
      ASSERT_NO_FATAL_FAILURE(
          Expect(true, kPodA, kPodB.ip, kProtoTcp, static_cast<uint16_t>((lo + hi) / 2)));
      ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, hi));
      if (hi < 65535) {
        ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, hi + 1, deny));
      }
      // The same range of another protocol is not this one.
      ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoUdp, lo, deny));
    }
  }
}

// A UDP rule does not admit TCP to the same port, nor the reverse.
TEST_P(PolicyPodTest, UdpRuleDoesNotAdmitTcp) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoUdp, 53));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoUdp, 53));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, 53));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, 5353));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoUdp, 5353));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, 5353));
}

// Pod to pod on one node: the source's egress and the destination's
// ingress must both allow; the reason is the side that refused.
TEST_P(PolicyPodTest, BothDirectionsMustAllow) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, kPort, XVR_R_POLICY_INGRESS));
  ASSERT_NO_FATAL_FAILURE(Disallow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kPodB.ip, kProtoTcp, kPort, XVR_R_POLICY_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Expect(true, kPodA, kPodB.ip, kProtoTcp, kPort));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_EGRESS).packets, 1u);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// Only the first packet is judged: the replies of an allowed connection
// pass although the replying pod may not open anything and the client
// accepts nothing; a connection the other way is judged and denied.
TEST_P(PolicyPodTest, RepliesOfAnAllowedConnectionAreNotJudged) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(RunExpect(PodTcp(kPodA, kPodB.ip, 40000, kPort, kTcpSyn),
                                    pod_a_.ifindex, XVR_VERDICT_REDIRECT));
  ASSERT_NO_FATAL_FAILURE(RunExpect(PodTcp(kPodB, kPodA.ip, kPort, 40000, kTcpSyn | kTcpAck),
                                    pod_b_.ifindex, XVR_VERDICT_REDIRECT));
  ASSERT_NO_FATAL_FAILURE(RunExpect(PodTcp(kPodB, kPodA.ip, kPort, 40000, kTcpPsh | kTcpAck, "d"),
                                    pod_b_.ifindex, XVR_VERDICT_REDIRECT));
  const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, 40000, kPort, kProtoTcp);
  ExpectOnlyPair(k);
  EXPECT_EQ(Flow(Reversed(k))->packets, 2u);
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodB, kPodA.ip, kProtoTcp, 40000, XVR_R_POLICY_EGRESS));
  ExpectOnlyPair(k);
}

// The node (XVR_ID_HOST) is always reachable from an egress-isolated pod;
// another node's address (XVR_ID_REMOTE_NODE) is not.
TEST_P(PolicyPodTest, NodeIsAlwaysReachable) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kNode2Ip, XVR_ID_REMOTE_NODE, 0));
  ASSERT_NO_FATAL_FAILURE(
      Expect(true, kPodA, kGatewayIp, kProtoTcp, 10250, 0, XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST));
  const auto f = Flow(FlowKey(kPodA.ip, kGatewayIp, next_sport_ - 1, 10250, kProtoTcp));
  ASSERT_TRUE(f.has_value()) << DescribeFlows();
  EXPECT_EQ(f->dst_identity, static_cast<uint32_t>(XVR_ID_HOST));
  EXPECT_EQ(FlowFlagsStr(f->flags), "EGRESS");
  ASSERT_NO_FATAL_FAILURE(
      Expect(true, kPodA, kNode1Ip, kProtoUdp, 53, 0, XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS));
  ASSERT_NO_FATAL_FAILURE(Expect(false, kPodA, kNode2Ip, kProtoTcp, 10250, XVR_R_POLICY_EGRESS));
}

INSTANTIATE_TEST_SUITE_P(Policy, PolicyPodTest,
                         ::testing::Values(Program::kXdpPod, Program::kTcPod), ProgTag);

// --- The node to its pods (tc_host_egress) ----------------------------------------------------

class PolicyHostTest : public FlowTestBase {
 protected:
  void SetUp() override {
    FlowTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  }
  // What the kernel routes into the host loopback device for `dst`.
  static Bytes ToLoop(const Ipv4& src, const Ipv4& dst, uint16_t sport, uint16_t dport,
                      IPv4Options o = {}) {
    return PacketBuilder()
        .Eth(kHostLoopMac, kHostLoopMac)
        .IPv4(src, dst, std::move(o))
        .TCP(sport, dport, 1, 0, kTcpSyn)
        .Build();
  }
};

// The node reaching an ingress-isolated pod (kubelet probes): allowed with
// no rule, tracked as XVR_ID_HOST → pod on tc_host_egress.
TEST_F(PolicyHostTest, NodeReachesAnIsolatedPod) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  const Bytes syn = ToLoop(kGatewayIp, kPodB.ip, 45000, 10250);
  ASSERT_NO_FATAL_FAILURE(RunExpect(syn, host_loop_.ifindex, XVR_VERDICT_REDIRECT));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  const xvr_flow_key k = FlowKey(kGatewayIp, kPodB.ip, 45000, 10250, kProtoTcp);
  ExpectOnlyPair(k);
  WantFlow w;
  w.state = XVR_FLOW_S_SYN_SENT;
  w.flags = XVR_FLOW_F_INGRESS;
  w.src_identity = XVR_ID_HOST;
  w.dst_identity = kIdB;
  w.packets = 1;
  w.bytes = syn.size();
  w.hook = XVR_HOOK_TC_HOST_EGRESS;
  w.ifindex = static_cast<uint32_t>(host_loop_.ifindex);
  w.tcp_flags = kTcpSyn;
  ExpectFlow(k, w);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// What the kernel forwards from another pod to a local pod through the
// loopback device is that pod's traffic, judged as such.
TEST_F(PolicyHostTest, KernelForwardedPodTrafficIsJudged) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(ToLoop(kPodA.ip, kPodB.ip, 40000, kPort), host_loop_.ifindex, XVR_VERDICT_DROP));
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS);
  ExpectNoFlows();
}

// Found by this test: (bpf/lib/host.h, host_to_pod: `if (!cfg ||
// ip->ihl != 5) fp.valid = 0;`, and bpf/lib/pod.h, pod_forward_ipv4:
// PASS_IP_OPTIONS before flow_process): a packet with IPv4 options is
// never judged. Pod A adds one option (4 bytes of NOP/EOL) to reach pod B,
// whose ingress policy admits nobody: xdp_pod/tc_pod hand it to the kernel
// unjudged (ip_options), the kernel routes it into the host loopback
// device, and tc_host_egress delivers it to pod B with flow_process() told
// "not valid". Expected: dropped with policy_denied_ingress (as the same
// packet without options is, KernelForwardedPodTrafficIsJudged); observed:
// TC_ACT_REDIRECT to pod B, no flow, no policy verdict.
TEST_F(PolicyHostTest, IpOptionsDoNotBypassIngressPolicy) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  const Bytes pkt = ToLoop(kPodA.ip, kPodB.ip, 40000, kPort, {.options = {1, 1, 1, 0}});
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(pkt, host_loop_.ifindex, &r));
  EXPECT_EQ(ActionName(program(), r.retval), "TC_ACT_SHOT")
      << "pod A's packet with an IPv4 option reached ingress-isolated pod B; counters:\n"
      << DescribeCounters();
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
}

// --- The fabric (xdp_fabric) ------------------------------------------------------------------

class PolicyFabricTest : public FlowTestBase {
 protected:
  void SetUp() override {
    FlowTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpFabric));
    ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn));
  }
  static Bytes Tunnelled(uint16_t sport, uint16_t dport, IPv4Options inner = {.ttl = 63}) {
    return VxlanEncap(Node2ToNode1(),
                      PacketBuilder()
                          .Eth(kVtep2Mac, kVtep1Mac)
                          .IPv4(kRemotePodIp, kPodA.ip, std::move(inner))
                          .UDP(sport, dport)
                          .Payload("through-the-tunnel")
                          .Build());
  }
  // An outside client's packet for pod A's address, routed to this node.
  static Bytes Routed(const Ipv4& src, uint16_t sport, uint16_t dport) {
    return PacketBuilder()
        .Eth(kUnderlayGwMac, kFabricMac)
        .IPv4(src, kPodA.ip, {.ttl = 50})
        .TCP(sport, dport, 1, 0, kTcpSyn)
        .Build();
  }
};

// Node 2's pod → pod A through the tunnel, no rule: dropped at xdp_fabric
// with policy_denied_ingress, nothing tracked.
TEST_F(PolicyFabricTest, DecapsulatedPacketDeniedWithoutRule) {
  // A rule for pod B, not for node 2's pod.
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_INGRESS, kIdB, kProtoUdp, kPort));
  const Bytes pkt = Tunnelled(40000, kPort);
  ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, fabric_.ifindex, XVR_VERDICT_DROP));
  ExpectOnlyCounter(XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS);
  EXPECT_EQ(hook(), static_cast<uint32_t>(XVR_HOOK_XDP_FABRIC));
  ExpectNoFlows();
  ExpectFlowStats({});
  const FlowEvents ev = ConsumeFlowEvents();
  ASSERT_EQ(ev.order, std::vector<uint32_t>{XVR_EVENT_DROP});
  EXPECT_EQ(ev.drops[0].hdr.reason, XVR_R_POLICY_INGRESS);
}

// A rule for the remote pod's identity admits it, tracked on xdp_fabric.
TEST_F(PolicyFabricTest, DecapsulatedPacketAllowedByRemotePodIdentity) {
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_INGRESS, kIdRemote, kProtoUdp, kPort));
  const Bytes pkt = Tunnelled(40000, kPort);
  ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, fabric_.ifindex, XVR_VERDICT_REDIRECT));
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK);
  const xvr_flow_key k = FlowKey(kRemotePodIp, kPodA.ip, 40000, kPort, kProtoUdp);
  ExpectOnlyPair(k);
  WantFlow w;
  w.state = XVR_FLOW_S_UNREPLIED;
  w.flags = XVR_FLOW_F_INGRESS;
  w.src_identity = kIdRemote;
  w.dst_identity = kIdA;
  w.packets = 1;
  w.bytes = pkt.size() - kVxlanEncapLen;
  w.hook = XVR_HOOK_XDP_FABRIC;
  w.ifindex = static_cast<uint32_t>(fabric_.ifindex);
  ExpectFlow(k, w);
  // Another port is another connection, and not allowed.
  ASSERT_NO_FATAL_FAILURE(RunExpect(Tunnelled(40000, kPort + 1), fabric_.ifindex,
                                    XVR_VERDICT_DROP));
  ExpectOnlyPair(k);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// A client outside the cluster reaching pod A's address directly (routed,
// not tunnelled): its CIDR identity decides.
TEST_F(PolicyFabricTest, RoutedClientJudgedByCidrIdentity) {
  ASSERT_NO_FATAL_FAILURE(PutCidrId(kExtNet, 24, kCidrNet));
  ASSERT_NO_FATAL_FAILURE(PutCidrId(Ip("203.0.113.128"), 25, kCidrExcept));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_INGRESS, kCidrNet, kProtoTcp, kPort));
  ASSERT_NO_FATAL_FAILURE(RunExpect(Routed(kExtIn, 55555, kPort), fabric_.ifindex,
                                    XVR_VERDICT_REDIRECT));
  const xvr_flow_key k = FlowKey(kExtIn, kPodA.ip, 55555, kPort, kProtoTcp);
  ExpectOnlyPair(k);
  const auto f = Flow(k);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->src_identity, 0u);
  EXPECT_EQ(f->dst_identity, kIdA);
  EXPECT_EQ(FlowFlagsStr(f->flags), "INGRESS");
  ASSERT_NO_FATAL_FAILURE(RunExpect(Routed(kExtExcept, 55555, kPort), fabric_.ifindex,
                                    XVR_VERDICT_DROP));
  ASSERT_NO_FATAL_FAILURE(RunExpect(Routed(kExtOther, 55555, kPort), fabric_.ifindex,
                                    XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 2u);
  ExpectOnlyPair(k);
}

// Found by this test: (bpf/lib/fabric.h, fabric_decap, with flow_parse()
// returning valid = 0 for ihl != 5): an inner packet with IPv4 options is
// delivered to the pod without its ingress policy. Node 2's pod, which no
// rule admits (DecapsulatedPacketDeniedWithoutRule), adds one option:
// expected a drop with policy_denied_ingress; observed XDP_REDIRECT to
// pod A and no flow.
TEST_F(PolicyFabricTest, IpOptionsInTheTunnelDoNotBypassIngressPolicy) {
  const Bytes pkt = Tunnelled(40000, kPort, {.ttl = 63, .options = {1, 1, 1, 0}});
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(pkt, fabric_.ifindex, &r));
  EXPECT_EQ(ActionName(program(), r.retval), "XDP_DROP")
      << "node 2's pod reached ingress-isolated pod A with an IPv4 option; counters:\n"
      << DescribeCounters();
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
}

}  // namespace
}  // namespace xvr::test

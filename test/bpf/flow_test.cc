// The flow table (bpf/lib/flow.h, abi.h "Flows") through BPF_PROG_RUN:
// which packets create an entry pair and with what, the TCP and UDP/ICMP
// state machines, replies meeting their REPLY entry, ICMP errors matched to
// the flow they quote, policy re-evaluation after a generation bump with
// its FLOW_END event, FLOW_NEW events, service connections keyed by their
// backend, the tunnel, LRU eviction accounting, and malformed packets.
//
// Every entry is read back by key and compared field by field; the flow
// stats (per-CPU sums) and the (hook, verdict, reason) counters are checked
// exactly. Pod-hook tests run on xdp_pod and tc_pod.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/flow_cases.h"
#include "xvr/skel/tc_pod.skel.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::test {
namespace {

inline constexpr uint16_t kSport = 40000;  // pod A's source port
inline constexpr uint16_t kDport = 8080;   // pod B's service port
inline constexpr uint8_t kBoth = XVR_FLOW_F_EGRESS | XVR_FLOW_F_INGRESS;

std::string ProgTag(const ::testing::TestParamInfo<Program>& i) {
  return i.param == Program::kXdpPod ? "XdpPod" : "TcPod";
}

// A frame as the pod hook delivers it to pod `to`: its veth's MACs, TTL 63.
Bytes Delivered(const Bytes& in, const PodAddr& to) {
  Bytes out = in;
  std::copy(to.mac.begin(), to.mac.end(), out.begin());
  std::copy(to.host_mac.begin(), to.host_mac.end(), out.begin() + 6);
  out[kEthHdrLen + 8] = static_cast<uint8_t>(out[kEthHdrLen + 8] - 1);
  // The header checksum updated for TTL - 1 as ip_decrease_ttl() does it.
  uint32_t c = static_cast<uint32_t>(out[kEthHdrLen + 10] << 8 | out[kEthHdrLen + 11]);
  c += 0x0100;
  c = (c + (c >= 0xffff)) & 0xffff;
  out[kEthHdrLen + 10] = static_cast<uint8_t>(c >> 8);
  out[kEthHdrLen + 11] = static_cast<uint8_t>(c);
  return out;
}

class FlowPodTest : public FlowTestBase, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    FlowTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(Load(GetParam()));
  }

  // An entry of a flow pod A opened to pod B on this hook.
  WantFlow AB(uint8_t state, uint64_t packets, uint64_t bytes, uint8_t tcp_flags = 0,
              bool reply = false) {
    WantFlow w;
    w.state = state;
    w.flags = static_cast<uint8_t>(kBoth | (reply ? XVR_FLOW_F_REPLY : 0));
    w.src_identity = kIdA;
    w.dst_identity = kIdB;
    w.packets = packets;
    w.bytes = bytes;
    w.hook = hook();
    w.ifindex = static_cast<uint32_t>(pod_a_.ifindex);
    w.tcp_flags = tcp_flags;
    return w;
  }
  WantFlow BA(uint8_t state, uint64_t packets, uint64_t bytes, uint8_t tcp_flags = 0) {
    return AB(state, packets, bytes, tcp_flags, true);
  }

  void FromA(const Bytes& pkt, uint32_t verdict = XVR_VERDICT_REDIRECT, RunResult* r = nullptr) {
    ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, pod_a_.ifindex, verdict, r));
  }
  void FromB(const Bytes& pkt, uint32_t verdict = XVR_VERDICT_REDIRECT, RunResult* r = nullptr) {
    ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, pod_b_.ifindex, verdict, r));
  }
  static Bytes TcpAB(uint8_t flags, const std::string& payload = "", uint16_t sport = kSport) {
    return PodTcp(kPodA, kPodB.ip, sport, kDport, flags, payload, 1000, flags & kTcpAck ? 5001 : 0);
  }
  static Bytes TcpBA(uint8_t flags, const std::string& payload = "", uint16_t sport = kSport) {
    return PodTcp(kPodB, kPodA.ip, kDport, sport, flags, payload, 5000, 1001);
  }
};

const xvr_flow_key kUdpAB = FlowKey(kPodA.ip, kPodB.ip, kSport, kDport, kProtoUdp);
const xvr_flow_key kTcpAB = FlowKey(kPodA.ip, kPodB.ip, kSport, kDport, kProtoTcp);

// --- Creation -------------------------------------------------------------------------------

// Pod A → pod B (both local in xvr_ipcache): one forward entry with the
// first packet, one REPLY entry with nothing yet; identities, hook, ingress
// interface and the policy generation of xvr_flow_cfg; the packet itself is
// forwarded exactly as without a flow table.
TEST_P(FlowPodTest, PodToPodCreatesExactlyOnePair) {
  const Bytes pkt = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  const uint64_t t0 = CoarseNowNs();
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(FromA(pkt, XVR_VERDICT_REDIRECT, &r));
  const uint64_t t1 = CoarseNowNs();
  EXPECT_TRUE(r.out == Delivered(pkt, kPodB)) << DescribeMismatch(Delivered(pkt, kPodB), r.out);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 1, pkt.size());

  ExpectOnlyPair(kUdpAB);
  const auto fwd = ExpectFlow(kUdpAB, AB(XVR_FLOW_S_UNREPLIED, 1, pkt.size()));
  const auto rep = ExpectFlow(Reversed(kUdpAB), BA(XVR_FLOW_S_UNREPLIED, 0, 0));
  ASSERT_TRUE(fwd && rep);
  EXPECT_GE(fwd->created_ns, t0);
  EXPECT_LE(fwd->created_ns, t1);
  EXPECT_EQ(fwd->last_ns, fwd->created_ns);
  EXPECT_EQ(rep->created_ns, fwd->created_ns);
  EXPECT_EQ(rep->last_ns, fwd->created_ns);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
  // Events are off in xvr_flow_cfg: nothing on the ring.
  EXPECT_TRUE(ConsumeFlowEvents().order.empty());
}

// The EGRESS/INGRESS flags and identities follow xvr_ipcache, not the
// endpoint maps; with no local pod at either end nothing is tracked.
TEST_P(FlowPodTest, LocalEndsFollowTheIpcache) {
  struct Row {
    const char* name;
    std::function<void()> setup;
    Ipv4 dst;
    uint32_t verdict, reason;
    uint8_t flags;  // 0: no entries
    uint32_t src_id, dst_id;
  };
  const std::vector<Row> rows = {
      {"source not local", [&] { PutIdent(kPodA.ip, kIdA, 0); }, kPodB.ip, XVR_VERDICT_REDIRECT,
       XVR_R_OK, XVR_FLOW_F_INGRESS, kIdA, kIdB},
      {"destination not local", [&] { PutIdent(kPodB.ip, kIdB, 0); }, kPodB.ip,
       XVR_VERDICT_REDIRECT, XVR_R_OK, XVR_FLOW_F_EGRESS, kIdA, kIdB},
      {"neither local",
       [&] {
         PutIdent(kPodA.ip, kIdA, 0);
         PutIdent(kPodB.ip, kIdB, 0);
       },
       kPodB.ip, XVR_VERDICT_REDIRECT, XVR_R_OK, 0, 0, 0},
      {"neither in the ipcache",
       [&] {
         DeleteIdent(kPodA.ip);
         DeleteIdent(kPodB.ip);
       },
       kPodB.ip, XVR_VERDICT_REDIRECT, XVR_R_OK, 0, 0, 0},
      // Outside the cluster, no identity: the pod's own end is enough.
      {"to the internet", [] {}, kInternetIp, XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS,
       XVR_FLOW_F_EGRESS, kIdA, 0},
      {"to a remote pod", [] {}, kRemotePodIp, XVR_VERDICT_REDIRECT, XVR_R_OK, XVR_FLOW_F_EGRESS,
       kIdA, kIdRemote},
  };
  uint64_t created = 0;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    ASSERT_NO_FATAL_FAILURE(SeedIdentities());
    ASSERT_NO_FATAL_FAILURE(ClearFlows());
    row.setup();
    const Bytes pkt = PodUdp(kPodA, row.dst, kSport, kDport);
    const uint64_t before = Counter(hook(), row.verdict, row.reason).packets;
    ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, pod_a_.ifindex, row.verdict));
    EXPECT_EQ(Counter(hook(), row.verdict, row.reason).packets, before + 1);
    const xvr_flow_key k = FlowKey(kPodA.ip, row.dst, kSport, kDport, kProtoUdp);
    if (!row.flags) {
      ExpectNoFlows();
      continue;
    }
    ++created;
    ExpectOnlyPair(k);
    WantFlow w = AB(XVR_FLOW_S_UNREPLIED, 1, pkt.size());
    w.flags = row.flags;
    w.src_identity = row.src_id;
    w.dst_identity = row.dst_id;
    ExpectFlow(k, w);
    w.flags |= XVR_FLOW_F_REPLY;
    w.packets = w.bytes = 0;
    ExpectFlow(Reversed(k), w);
  }
  ExpectFlowStats({{XVR_FS_CREATED, created}});
}

// --- TCP --------------------------------------------------------------------------------------

// The whole life of a connection: SYN, SYN-ACK (reply), ACK, data, FIN
// from the client, ACK and FIN from the server, last ACK. The state moves
// in both entries; packets, bytes and flags only in the packet's own.
TEST_P(FlowPodTest, TcpHandshakeDataAndClose) {
  const Bytes syn = TcpAB(kTcpSyn);
  const Bytes synack = TcpBA(kTcpSyn | kTcpAck);
  const Bytes ack = TcpAB(kTcpAck);
  const Bytes data = TcpAB(kTcpPsh | kTcpAck, std::string(100, 'd'));
  const Bytes fin = TcpAB(kTcpFin | kTcpAck);
  const Bytes ack_b = TcpBA(kTcpAck);
  const Bytes fin_b = TcpBA(kTcpFin | kTcpAck);
  const uint8_t sa = kTcpSyn | kTcpAck;

  ASSERT_NO_FATAL_FAILURE(FromA(syn));
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_SYN_SENT, 1, syn.size(), kTcpSyn));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_SYN_SENT, 0, 0));

  ASSERT_NO_FATAL_FAILURE(FromB(synack));
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_SYN_RECV, 1, syn.size(), kTcpSyn));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_SYN_RECV, 1, synack.size(), sa));

  ASSERT_NO_FATAL_FAILURE(FromA(ack));
  uint64_t fb = syn.size() + ack.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_ESTABLISHED, 2, fb, sa));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_ESTABLISHED, 1, synack.size(), sa));

  ASSERT_NO_FATAL_FAILURE(FromA(data));
  fb += data.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_ESTABLISHED, 3, fb, sa | kTcpPsh));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_ESTABLISHED, 1, synack.size(), sa));

  ASSERT_NO_FATAL_FAILURE(FromA(fin));
  fb += fin.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_FIN_WAIT, 4, fb, sa | kTcpPsh | kTcpFin));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_FIN_WAIT, 1, synack.size(), sa));

  ASSERT_NO_FATAL_FAILURE(FromB(ack_b));
  uint64_t rb = synack.size() + ack_b.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_FIN_WAIT, 4, fb, sa | kTcpPsh | kTcpFin));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_FIN_WAIT, 2, rb, sa));

  ASSERT_NO_FATAL_FAILURE(FromB(fin_b));
  rb += fin_b.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_CLOSED, 4, fb, sa | kTcpPsh | kTcpFin));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_CLOSED, 3, rb, sa | kTcpFin));

  ASSERT_NO_FATAL_FAILURE(FromA(ack));
  fb += ack.size();
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_CLOSED, 5, fb, sa | kTcpPsh | kTcpFin));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_CLOSED, 3, rb, sa | kTcpFin));

  ExpectOnlyPair(kTcpAB);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 8);
}

// A second FIN from the same side is not the other side's FIN.
TEST_P(FlowPodTest, TcpRetransmittedFinStaysFinWait) {
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn)));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpFin | kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpFin | kTcpAck)));
  EXPECT_EQ(FlowStateName(Flow(kTcpAB)->state), "FIN_WAIT");
  EXPECT_EQ(FlowStateName(Flow(Reversed(kTcpAB))->state), "FIN_WAIT");
}

// A RST from either side closes both entries at once.
TEST_P(FlowPodTest, TcpRstClosesBothEntries) {
  for (bool from_server : {true, false}) {
    SCOPED_TRACE(from_server ? "RST from the server" : "RST from the client");
    const uint16_t sport = from_server ? kSport : kSport + 1;
    const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, sport, kDport, kProtoTcp);
    ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn, "", sport)));
    ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck, "", sport)));
    ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck, "", sport)));
    ASSERT_EQ(FlowStateName(Flow(k)->state), "ESTABLISHED");
    if (from_server) {
      ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpRst | kTcpAck, "", sport)));
    } else {
      ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpRst, "", sport)));
    }
    EXPECT_EQ(FlowStateName(Flow(k)->state), "CLOSED");
    EXPECT_EQ(FlowStateName(Flow(Reversed(k))->state), "CLOSED");
    // CLOSED is final: a late ACK counts but does not revive it.
    ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck, "", sport)));
    EXPECT_EQ(FlowStateName(Flow(k)->state), "CLOSED");
    EXPECT_EQ(Flow(k)->packets, from_server ? 3u : 4u);
  }
  EXPECT_EQ(Flows().size(), 4u) << DescribeFlows();
  ExpectFlowStats({{XVR_FS_CREATED, 2}});
}

// The first packet the node sees of a connection need not be a SYN (agent
// restart, flushed table, LRU eviction): the state is what that packet
// says, mid-stream data is ESTABLISHED.
TEST_P(FlowPodTest, FirstPacketDecidesTheInitialState) {
  struct Row {
    uint8_t flags;
    uint8_t state;
  };
  const Row rows[] = {
      {kTcpSyn, XVR_FLOW_S_SYN_SENT},
      {kTcpSyn | kTcpAck, XVR_FLOW_S_SYN_RECV},
      {kTcpAck, XVR_FLOW_S_ESTABLISHED},
      {kTcpPsh | kTcpAck, XVR_FLOW_S_ESTABLISHED},
      {0, XVR_FLOW_S_ESTABLISHED},
      {kTcpFin | kTcpAck, XVR_FLOW_S_FIN_WAIT},
      {kTcpRst, XVR_FLOW_S_CLOSED},
      {kTcpRst | kTcpSyn, XVR_FLOW_S_CLOSED},
  };
  uint16_t sport = 41000;
  for (const Row& row : rows) {
    SCOPED_TRACE("flags 0x" + std::to_string(row.flags));
    const Bytes pkt = TcpAB(row.flags, "mid-stream", sport);
    const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, sport, kDport, kProtoTcp);
    ASSERT_NO_FATAL_FAILURE(FromA(pkt));
    ExpectFlow(k, AB(row.state, 1, pkt.size(), row.flags));
    ExpectFlow(Reversed(k), BA(row.state, 0, 0));
    ++sport;
  }
  EXPECT_EQ(Flows().size(), 2 * std::size(rows));
  ExpectFlowStats({{XVR_FS_CREATED, std::size(rows)}});

  // The picked-up connection goes on: the server's data hits the REPLY
  // entry and leaves the state alone.
  const xvr_flow_key mid = FlowKey(kPodA.ip, kPodB.ip, 41002, kDport, kProtoTcp);
  const Bytes rdata = TcpBA(kTcpPsh | kTcpAck, "answer", 41002);
  ASSERT_NO_FATAL_FAILURE(FromB(rdata));
  ExpectFlow(Reversed(mid), BA(XVR_FLOW_S_ESTABLISHED, 1, rdata.size(), kTcpPsh | kTcpAck));
  EXPECT_EQ(Flows().size(), 2 * std::size(rows));
}

// A new SYN on a CLOSED pair starts the connection afresh: REOPENED and
// CREATED count, the forward entry holds only the new SYN, the REPLY entry
// nothing; a SYN on a pair that is not CLOSED does not.
TEST_P(FlowPodTest, SynOnAClosedPairReopensIt) {
  const Bytes syn = TcpAB(kTcpSyn);
  ASSERT_NO_FATAL_FAILURE(FromA(syn));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck, "some data")));
  // A retransmitted SYN while the connection is up is just a packet.
  ASSERT_NO_FATAL_FAILURE(FromA(syn));
  EXPECT_EQ(FlowStateName(Flow(kTcpAB)->state), "ESTABLISHED");
  EXPECT_EQ(Flow(kTcpAB)->packets, 3u);
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpRst)));
  ASSERT_EQ(FlowStateName(Flow(kTcpAB)->state), "CLOSED");
  ExpectFlowStats({{XVR_FS_CREATED, 1}});

  const Bytes syn2 = TcpAB(kTcpSyn, "", kSport);
  ASSERT_NO_FATAL_FAILURE(FromA(syn2));
  ExpectOnlyPair(kTcpAB);
  ExpectFlow(kTcpAB, AB(XVR_FLOW_S_SYN_SENT, 1, syn2.size(), kTcpSyn));
  ExpectFlow(Reversed(kTcpAB), BA(XVR_FLOW_S_SYN_SENT, 0, 0));
  ExpectFlowStats({{XVR_FS_CREATED, 2}, {XVR_FS_REOPENED, 1}});
  // And the new connection proceeds.
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck)));
  EXPECT_EQ(FlowStateName(Flow(kTcpAB)->state), "SYN_RECV");
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 7);
}

// Reopening applies the policy of now: a SYN on a CLOSED pair that policy
// no longer allows is dropped with the policy's reason and opens nothing.
TEST_P(FlowPodTest, ReopenAppliesPolicyAgain) {
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn)));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpRst | kTcpAck)));
  ASSERT_EQ(FlowStateName(Flow(kTcpAB)->state), "CLOSED");
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn), XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
  EXPECT_EQ(FlowStat(XVR_FS_CREATED), 1u);
  // Whatever is left of the old pair is still the old, CLOSED connection.
  for (const auto& [k, f] : Flows()) EXPECT_EQ(FlowStateName(f.state), "CLOSED") << KeyStr(k);
}

// A data packet moves packets, bytes and last_ns of its own entry and
// leaves the other one byte for byte as it was.
TEST_P(FlowPodTest, DataUpdatesOnlyItsOwnEntry) {
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn)));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck)));
  // Age both entries by hand so a moved last_ns is visible (the data path
  // uses the coarse clock).
  for (const xvr_flow_key& k : {kTcpAB, Reversed(kTcpAB)}) {
    xvr_flow f = *Flow(k);
    f.last_ns = 1;
    ASSERT_NO_FATAL_FAILURE(PutFlow(k, f));
  }
  for (bool from_a : {true, false}) {
    SCOPED_TRACE(from_a ? "client data" : "server data");
    const xvr_flow_key own = from_a ? kTcpAB : Reversed(kTcpAB);
    const xvr_flow before = *Flow(own), other = *Flow(Reversed(own));
    const Bytes pkt = from_a ? TcpAB(kTcpPsh | kTcpAck, std::string(300, 'x'))
                             : TcpBA(kTcpPsh | kTcpAck, std::string(200, 'y'));
    const uint64_t t0 = CoarseNowNs();
    if (from_a) {
      ASSERT_NO_FATAL_FAILURE(FromA(pkt));
    } else {
      ASSERT_NO_FATAL_FAILURE(FromB(pkt));
    }
    const uint64_t t1 = CoarseNowNs();
    const xvr_flow after = *Flow(own), other_after = *Flow(Reversed(own));
    EXPECT_EQ(after.packets, before.packets + 1);
    EXPECT_EQ(after.bytes, before.bytes + pkt.size());
    EXPECT_GE(after.last_ns, t0);
    EXPECT_LE(after.last_ns, t1);
    EXPECT_EQ(after.created_ns, before.created_ns);
    EXPECT_EQ(after.tcp_flags, before.tcp_flags | kTcpPsh | kTcpAck);
    EXPECT_EQ(FlowStateName(after.state), "ESTABLISHED");
    EXPECT_EQ(std::memcmp(&other, &other_after, sizeof(other)), 0)
        << "the other direction's entry changed";
  }
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// --- UDP and ICMP -----------------------------------------------------------------------------

// UDP: UNREPLIED until the first reply, which hits the REPLY entry (its
// counters move, no entry is added) and makes both REPLIED.
TEST_P(FlowPodTest, UdpRepliedOnTheFirstReply) {
  const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport, "question");
  const Bytes rsp = PodUdp(kPodB, kPodA.ip, kDport, kSport, "the answer, longer");
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_UNREPLIED, 2, 2 * req.size()));
  ExpectFlow(Reversed(kUdpAB), BA(XVR_FLOW_S_UNREPLIED, 0, 0));

  ASSERT_NO_FATAL_FAILURE(FromB(rsp));
  ExpectOnlyPair(kUdpAB);
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_REPLIED, 2, 2 * req.size()));
  ExpectFlow(Reversed(kUdpAB), BA(XVR_FLOW_S_REPLIED, 1, rsp.size()));

  ASSERT_NO_FATAL_FAILURE(FromB(rsp));
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ExpectOnlyPair(kUdpAB);
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_REPLIED, 3, 3 * req.size()));
  ExpectFlow(Reversed(kUdpAB), BA(XVR_FLOW_S_REPLIED, 2, 2 * rsp.size()));
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 5);
}

// ICMP echo: the request is keyed sport = identifier, dport = 0; the reply
// sport = 0, dport = identifier, i.e. the REPLY entry. Another identifier
// is another flow.
TEST_P(FlowPodTest, IcmpEchoRequestAndReplyArePair) {
  const Bytes req = PodIcmpEcho(kPodA, kPodB.ip, kIcmpEcho, 0x1234);
  const Bytes rsp = PodIcmpEcho(kPodB, kPodA.ip, kIcmpEchoReply, 0x1234);
  const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, 0x1234, 0, kProtoIcmp);
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ExpectOnlyPair(k);
  EXPECT_TRUE(Flow(FlowKey(kPodB.ip, kPodA.ip, 0, 0x1234, kProtoIcmp)).has_value());
  ExpectFlow(k, AB(XVR_FLOW_S_UNREPLIED, 1, req.size()));
  ASSERT_NO_FATAL_FAILURE(FromB(rsp));
  ExpectOnlyPair(k);
  ExpectFlow(k, AB(XVR_FLOW_S_REPLIED, 1, req.size()));
  ExpectFlow(Reversed(k), BA(XVR_FLOW_S_REPLIED, 1, rsp.size()));

  ASSERT_NO_FATAL_FAILURE(FromA(PodIcmpEcho(kPodA, kPodB.ip, kIcmpEcho, 0x1235)));
  EXPECT_EQ(Flows().size(), 4u) << DescribeFlows();
  ExpectFlow(FlowKey(kPodA.ip, kPodB.ip, 0x1235, 0, kProtoIcmp),
             AB(XVR_FLOW_S_UNREPLIED, 1, req.size()));
  ExpectFlowStats({{XVR_FS_CREATED, 2}});
}

// A port unreachable from pod B quoting pod A's tracked datagram passes as
// related (even to a pod now isolated for ingress), counts RELATED and
// touches no entry.
TEST_P(FlowPodTest, IcmpErrorQuotingATrackedFlowIsRelated) {
  const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn));
  const Bytes err = PodIcmpError(kPodB, kPodA.ip, req);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(FromB(err, XVR_VERDICT_REDIRECT, &r));
  EXPECT_TRUE(r.out == Delivered(err, kPodA)) << DescribeMismatch(Delivered(err, kPodA), r.out);
  ExpectOnlyPair(kUdpAB);
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_UNREPLIED, 1, req.size()));
  ExpectFlow(Reversed(kUdpAB), BA(XVR_FLOW_S_UNREPLIED, 0, 0));
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_RELATED, 1}});
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 2);
}

// An ICMP error about nothing tracked is judged as plain ICMP between its
// outer addresses and never tracked: passed when allowed, dropped by an
// ingress-isolated destination.
TEST_P(FlowPodTest, UnrelatedIcmpErrorIsJudgedAsIcmpAndNotTracked) {
  const Bytes never_sent = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  const Bytes err = PodIcmpError(kPodB, kPodA.ip, never_sent);
  ASSERT_NO_FATAL_FAILURE(FromB(err, XVR_VERDICT_REDIRECT));
  ExpectNoFlows();
  ExpectFlowStats({});

  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(FromB(err, XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_REDIRECT, XVR_R_OK).packets, 1u);
  ExpectNoFlows();
  ExpectFlowStats({});
  // An ICMP rule for pod B lets it through, still untracked.
  ASSERT_NO_FATAL_FAILURE(
      Allow(kIdA, XVR_POL_INGRESS, kIdB, kProtoIcmp, 0, XVR_POL_PREFIX_PROTO));
  ASSERT_NO_FATAL_FAILURE(FromB(err, XVR_VERDICT_REDIRECT));
  ExpectNoFlows();
  ExpectFlowStats({});
}

// Found by this test: (bpf/lib/flow.h, flow_process, `if (p->icmp_err)`):
// an ICMP error is "related" whenever the tuple it quotes is tracked,
// whoever it is addressed to. A legitimate error goes back to the sender of
// the quoted packet (outer destination == quoted source; Linux conntrack
// checks exactly that in nf_conntrack_inet_error). Here pod C, which pod
// B's ingress policy shuts out, reaches pod B with a port unreachable
// quoting pod A's connection to pod B: expected a drop with
// policy_denied_ingress, observed REDIRECT and XVR_FS_RELATED + 1.
TEST_P(FlowPodTest, IcmpErrorNotAddressedToTheQuotedSenderIsNotRelated) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoUdp, kDport));
  const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  // Pod C itself may not reach pod B.
  ASSERT_NO_FATAL_FAILURE(
      RunExpect(PodUdp(kPodC, kPodB.ip, kSport, kDport), pod_c_.ifindex, XVR_VERDICT_DROP));
  const Bytes err = PodIcmpError(kPodC, kPodB.ip, req);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(err, pod_c_.ifindex, &r));
  EXPECT_EQ(ActionName(program(), r.retval),
            ActionName(program(), ActionFor(program(), XVR_VERDICT_DROP)))
      << "an ICMP error to pod B quoting pod A's packet to pod B passed pod B's ingress policy";
  EXPECT_EQ(FlowStat(XVR_FS_RELATED), 0u);
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 2u);
}

// --- Malformed and odd packets -------------------------------------------------------------

// A TCP header cut short: no crash, tracked with ports 0 and no flags
// (flow_parse's tuple), mid-stream ESTABLISHED.
TEST_P(FlowPodTest, TruncatedTcpHeaderIsTrackedWithPortsZero) {
  const Bytes head = TcpAB(kTcpSyn);
  const Bytes l4(head.begin() + kEthHdrLen + kIpv4HdrLen,
                 head.begin() + kEthHdrLen + kIpv4HdrLen + 12);
  const Bytes pkt = PacketBuilder()
                        .Eth(kPodA.mac, kPodA.host_mac)
                        .IPv4(kPodA.ip, kPodB.ip, {.protocol = kProtoTcp})
                        .Payload(l4)
                        .Build();
  ASSERT_NO_FATAL_FAILURE(FromA(pkt));
  const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, 0, 0, kProtoTcp);
  ExpectOnlyPair(k);
  ExpectFlow(k, AB(XVR_FLOW_S_ESTABLISHED, 1, pkt.size()));
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// UDP with fewer than 4 bytes after the IPv4 header: ports 0.
TEST_P(FlowPodTest, TruncatedUdpHeaderIsTrackedWithPortsZero) {
  const Bytes pkt = PacketBuilder()
                        .Eth(kPodA.mac, kPodA.host_mac)
                        .IPv4(kPodA.ip, kPodB.ip, {.protocol = kProtoUdp})
                        .Payload(Bytes{0x9c, 0x40, 0x1f})
                        .Build();
  ASSERT_NO_FATAL_FAILURE(FromA(pkt));
  const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, 0, 0, kProtoUdp);
  ExpectOnlyPair(k);
  ExpectFlow(k, AB(XVR_FLOW_S_UNREPLIED, 1, pkt.size()));
}

// An ICMP error too short to hold the quoted ports is no error to
// flow_parse: plain ICMP between its addresses (ports 0), tracked as such,
// and it does not count as related to the flow it tried to quote.
TEST_P(FlowPodTest, IcmpErrorTooShortIsPlainIcmp) {
  const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  const Bytes quoted(req.begin() + kEthHdrLen, req.begin() + kEthHdrLen + kIpv4HdrLen + 2);
  const Bytes err = PacketBuilder()
                        .Eth(kPodB.mac, kPodB.host_mac)
                        .IPv4(kPodB.ip, kPodA.ip)
                        .ICMP(kIcmpUnreach, kIcmpPortUnreach, 0, 0)
                        .Payload(quoted)
                        .Build();
  ASSERT_NO_FATAL_FAILURE(FromB(err));
  const xvr_flow_key k = FlowKey(kPodB.ip, kPodA.ip, 0, 0, kProtoIcmp);
  EXPECT_EQ(Flows().size(), 4u) << DescribeFlows();
  WantFlow w = AB(XVR_FLOW_S_UNREPLIED, 1, err.size());
  w.src_identity = kIdB;
  w.dst_identity = kIdA;
  w.ifindex = static_cast<uint32_t>(pod_b_.ifindex);
  ExpectFlow(k, w);
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_UNREPLIED, 1, req.size()));
  ExpectFlowStats({{XVR_FS_CREATED, 2}});

  // An ICMP header of 4 bytes: the same tuple, the same entry.
  const Bytes stub = PacketBuilder()
                         .Eth(kPodB.mac, kPodB.host_mac)
                         .IPv4(kPodB.ip, kPodA.ip, {.protocol = kProtoIcmp})
                         .Payload(Bytes{3, 3, 0, 0})
                         .Build();
  ASSERT_NO_FATAL_FAILURE(FromB(stub));
  EXPECT_EQ(Flows().size(), 4u) << DescribeFlows();
  EXPECT_EQ(Flow(k)->packets, 2u);
  ExpectFlowStats({{XVR_FS_CREATED, 2}});
}

// Fragments are tracked by addresses and protocol with ports 0: the first
// fragment (ports present) and a later one (none) share one pair.
TEST_P(FlowPodTest, FragmentsAreTrackedWithPortsZero) {
  const Bytes first = PacketBuilder()
                          .Eth(kPodA.mac, kPodA.host_mac)
                          .IPv4(kPodA.ip, kPodB.ip, {.id = 77, .mf = true})
                          .UDP(kSport, kDport, {.len = 40})
                          .Payload(std::string(16, 'f'))
                          .Build();
  const Bytes later = PacketBuilder()
                          .Eth(kPodA.mac, kPodA.host_mac)
                          .IPv4(kPodA.ip, kPodB.ip,
                                {.id = 77, .frag_offset = 3, .protocol = kProtoUdp})
                          .Payload(std::string(16, 'g'))
                          .Build();
  ASSERT_NO_FATAL_FAILURE(FromA(first));
  ASSERT_NO_FATAL_FAILURE(FromA(later));
  const xvr_flow_key k = FlowKey(kPodA.ip, kPodB.ip, 0, 0, kProtoUdp);
  ExpectOnlyPair(k);
  ExpectFlow(k, AB(XVR_FLOW_S_UNREPLIED, 2, first.size() + later.size()));
  EXPECT_FALSE(Flow(kUdpAB).has_value());
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// What never reaches the flow table: IPv4 options (handed to the kernel),
// a damaged IPv4 header (dropped before), ARP.
TEST_P(FlowPodTest, PacketsTheHookDoesNotForwardAreNotTracked) {
  const Bytes options = PacketBuilder()
                            .Eth(kPodA.mac, kPodA.host_mac)
                            .IPv4(kPodA.ip, kPodB.ip, {.options = {1, 1, 1, 0}})
                            .UDP(kSport, kDport)
                            .Payload("opt")
                            .Build();
  ASSERT_NO_FATAL_FAILURE(FromA(options, XVR_VERDICT_PASS));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_PASS, XVR_R_PASS_IP_OPTIONS).packets, 1u);
  const Bytes bad_len = PacketBuilder()
                            .Eth(kPodA.mac, kPodA.host_mac)
                            .IPv4(kPodA.ip, kPodB.ip, {.tot_len = 500})
                            .UDP(kSport, kDport)
                            .Build();
  ASSERT_NO_FATAL_FAILURE(FromA(bad_len, XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_BAD_IP_LEN).packets, 1u);
  ExpectNoFlows();
  ExpectFlowStats({});
}

// --- Events ---------------------------------------------------------------------------------

// XVR_FLOWCFG_F_EVENTS: a created flow puts one FLOW_NEW on the ring with
// the entry's fields and the first 64 bytes of its first packet; a packet
// hitting the flow puts nothing.
TEST_P(FlowPodTest, FlowNewEventCarriesTheFirstPacket) {
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen, XVR_FLOWCFG_F_EVENTS));
  const Bytes pkt = PodUdp(kPodA, kPodB.ip, kSport, kDport, std::string(120, 'e'));
  ASSERT_GT(pkt.size(), static_cast<size_t>(XVR_FLOW_EVENT_SNAP_LEN));
  ASSERT_NO_FATAL_FAILURE(FromA(pkt));
  ASSERT_NO_FATAL_FAILURE(FromA(pkt));
  const FlowEvents ev = ConsumeFlowEvents();
  ASSERT_EQ(ev.order, std::vector<uint32_t>{XVR_EVENT_FLOW_NEW});
  const xvr_flow_event& e = ev.flows[0];
  EXPECT_EQ(e.hdr.type, static_cast<uint32_t>(XVR_EVENT_FLOW_NEW));
  EXPECT_EQ(e.hdr.hook, hook());
  EXPECT_EQ(e.hdr.ifindex, static_cast<uint32_t>(pod_a_.ifindex));
  EXPECT_EQ(e.hdr.verdict, XVR_VERDICT_PASS);
  EXPECT_EQ(e.hdr.reason, XVR_R_OK);
  EXPECT_EQ(e.hdr.pkt_len, pkt.size());
  EXPECT_EQ(e.hdr.cap_len, XVR_FLOW_EVENT_SNAP_LEN);
  EXPECT_EQ(e.hdr.cpu, static_cast<uint32_t>(sched_getcpu()));
  EXPECT_NE(e.hdr.ts_ns, 0u);
  const Bytes snap(e.data, e.data + XVR_FLOW_EVENT_SNAP_LEN);
  EXPECT_TRUE(snap == Truncate(pkt, XVR_FLOW_EVENT_SNAP_LEN))
      << DescribeMismatch(Truncate(pkt, XVR_FLOW_EVENT_SNAP_LEN), snap);
  EXPECT_EQ(KeyStr(e.key), KeyStr(kUdpAB));
  EXPECT_EQ(e.src_identity, kIdA);
  EXPECT_EQ(e.dst_identity, kIdB);
  EXPECT_EQ(e.svc_addr, 0u);
  EXPECT_EQ(e.svc_port, 0);
  EXPECT_EQ(FlowStateName(e.state), "UNREPLIED");
  EXPECT_EQ(FlowFlagsStr(e.flags), FlowFlagsStr(kBoth));
  EXPECT_EQ(e.packets, 1u);
  EXPECT_EQ(e.bytes, pkt.size());
  EXPECT_EQ(e.rev_packets, 0u);
  EXPECT_EQ(e.rev_bytes, 0u);

  // A short first packet: the snapshot is the whole packet.
  const Bytes ping = PodIcmpEcho(kPodA, kPodB.ip, kIcmpEcho, 9);
  ASSERT_LT(ping.size(), static_cast<size_t>(XVR_FLOW_EVENT_SNAP_LEN));
  ASSERT_NO_FATAL_FAILURE(FromA(ping));
  const FlowEvents ev2 = ConsumeFlowEvents();
  ASSERT_EQ(ev2.flows.size(), 1u);
  EXPECT_EQ(ev2.flows[0].hdr.cap_len, ping.size());
  EXPECT_TRUE(Bytes(ev2.flows[0].data, ev2.flows[0].data + ping.size()) == ping);

  // Events off: a new flow is silent.
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen, 0));
  ASSERT_NO_FATAL_FAILURE(FromA(PodUdp(kPodA, kPodB.ip, kSport + 1, kDport)));
  EXPECT_TRUE(ConsumeFlowEvents().order.empty());
  ExpectFlowStats({{XVR_FS_CREATED, 3}});
}

// --- Policy generations ------------------------------------------------------------------------

// After a policy change (generation bumped) a flow that is still allowed
// takes the new generation and the identities of now, on its next packet;
// each entry is re-judged on its own next packet.
TEST_P(FlowPodTest, ReevaluatedFlowStillAllowedTakesTheNewGeneration) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoUdp, kDport));
  const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport);
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ExpectFlow(kUdpAB, AB(XVR_FLOW_S_UNREPLIED, 1, req.size()));

  // Pod A's labels changed: a new identity, allowed by a new rule.
  constexpr uint32_t kIdA2 = 1001;
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA2, kLocal));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA2, kProtoUdp, kDport));
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen + 1));
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  WantFlow w = AB(XVR_FLOW_S_UNREPLIED, 2, 2 * req.size());
  w.src_identity = kIdA2;
  w.policy_gen = kGen + 1;
  ExpectFlow(kUdpAB, w);
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_REEVALUATED, 1}});
  EXPECT_EQ(Flow(Reversed(kUdpAB))->policy_gen, kGen) << "not re-judged before its own packet";

  // Once judged, the next packet is the fast path again.
  ASSERT_NO_FATAL_FAILURE(FromA(req));
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_REEVALUATED, 1}});

  const Bytes rsp = PodUdp(kPodB, kPodA.ip, kDport, kSport);
  ASSERT_NO_FATAL_FAILURE(FromB(rsp));
  WantFlow wr = BA(XVR_FLOW_S_REPLIED, 1, rsp.size());
  wr.src_identity = kIdA2;
  wr.policy_gen = kGen + 1;
  ExpectFlow(Reversed(kUdpAB), wr);
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_REEVALUATED, 2}});
  ExpectOnlyPair(kUdpAB);
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 4);
}

// A flow the new policy denies ends on its next packet, in whichever
// direction that packet goes: both entries deleted, the packet dropped with
// the policy's reason, REEVALUATED and REEVAL_DENIED counted, and with
// events on a FLOW_END (reason XVR_FLOW_END_POLICY) for the forward tuple
// with both directions' counters, before the drop event.
TEST_P(FlowPodTest, ReevaluatedFlowNowDeniedIsEnded) {
  for (bool on_reply : {false, true}) {
    SCOPED_TRACE(on_reply ? "denied on the reply" : "denied on the request");
    ASSERT_NO_FATAL_FAILURE(ClearFlows());
    ASSERT_NO_FATAL_FAILURE(ClearPolicy());
    ConsumeFlowEvents();
    ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen, XVR_FLOWCFG_F_EVENTS));
    ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
    ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoUdp, kDport));
    const Bytes req = PodUdp(kPodA, kPodB.ip, kSport, kDport, "request");
    const Bytes rsp = PodUdp(kPodB, kPodA.ip, kDport, kSport, "response!");
    ASSERT_NO_FATAL_FAILURE(FromA(req));
    ASSERT_NO_FATAL_FAILURE(FromB(rsp));
    ASSERT_EQ(ConsumeFlowEvents().order, std::vector<uint32_t>{XVR_EVENT_FLOW_NEW});
    const std::array<uint64_t, XVR_FS_SLOTS> s0 = FlowStats();
    const uint64_t drops0 = Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets;

    ASSERT_NO_FATAL_FAILURE(Disallow(kIdB, XVR_POL_INGRESS, kIdA, kProtoUdp, kDport));
    ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen + 1, XVR_FLOWCFG_F_EVENTS));
    const Bytes& pkt = on_reply ? rsp : req;
    const int in = on_reply ? pod_b_.ifindex : pod_a_.ifindex;
    ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, in, XVR_VERDICT_DROP));

    ExpectNoFlows();
    const std::array<uint64_t, XVR_FS_SLOTS> s1 = FlowStats();
    EXPECT_EQ(s1[XVR_FS_REEVALUATED] - s0[XVR_FS_REEVALUATED], 1u);
    EXPECT_EQ(s1[XVR_FS_REEVAL_DENIED] - s0[XVR_FS_REEVAL_DENIED], 1u);
    EXPECT_EQ(s1[XVR_FS_CREATED], s0[XVR_FS_CREATED]);
    EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, drops0 + 1);

    const FlowEvents ev = ConsumeFlowEvents();
    ASSERT_EQ(ev.order, (std::vector<uint32_t>{XVR_EVENT_FLOW_END, XVR_EVENT_DROP}));
    const xvr_flow_event& e = ev.flows[0];
    EXPECT_EQ(e.hdr.hook, hook());
    EXPECT_EQ(e.hdr.verdict, XVR_VERDICT_DROP);
    EXPECT_EQ(e.hdr.reason, XVR_FLOW_END_POLICY);
    EXPECT_EQ(e.hdr.ifindex, static_cast<uint32_t>(in));
    EXPECT_EQ(e.hdr.pkt_len, pkt.size());
    EXPECT_EQ(e.hdr.cap_len, 0);
    EXPECT_EQ(KeyStr(e.key), KeyStr(kUdpAB)) << "FLOW_END names the forward tuple";
    EXPECT_EQ(e.src_identity, kIdA);
    EXPECT_EQ(e.dst_identity, kIdB);
    EXPECT_EQ(FlowStateName(e.state), "REPLIED");
    EXPECT_EQ(FlowFlagsStr(e.flags), FlowFlagsStr(kBoth));
    EXPECT_EQ(e.packets, 1u);
    EXPECT_EQ(e.bytes, req.size());
    EXPECT_EQ(e.rev_packets, 1u);
    EXPECT_EQ(e.rev_bytes, rsp.size());
    EXPECT_EQ(ev.drops[0].hdr.reason, XVR_R_POLICY_INGRESS);

    // The next packet is a new connection, judged (and denied) afresh.
    ASSERT_NO_FATAL_FAILURE(FromA(req, XVR_VERDICT_DROP));
    ExpectNoFlows();
    EXPECT_EQ(FlowStats()[XVR_FS_REEVALUATED], s1[XVR_FS_REEVALUATED]);
  }
}

// Without XVR_FLOWCFG_F_EVENTS the pair still ends; only the drop event.
TEST_P(FlowPodTest, ReevaluationDenialWithoutFlowEvents) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoOut));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdA, XVR_POL_EGRESS, kIdB, kProtoTcp, kDport));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpSyn)));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpSyn | kTcpAck)));
  ASSERT_NO_FATAL_FAILURE(FromA(TcpAB(kTcpAck)));
  ConsumeFlowEvents();
  ASSERT_NO_FATAL_FAILURE(ClearPolicy());
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen + 5));
  ASSERT_NO_FATAL_FAILURE(FromB(TcpBA(kTcpPsh | kTcpAck, "more"), XVR_VERDICT_DROP));
  ExpectNoFlows();
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_REEVALUATED, 1}, {XVR_FS_REEVAL_DENIED, 1}});
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_EGRESS).packets, 1u);
  const FlowEvents ev = ConsumeFlowEvents();
  ASSERT_EQ(ev.order, std::vector<uint32_t>{XVR_EVENT_DROP});
  EXPECT_EQ(ev.drops[0].hdr.reason, XVR_R_POLICY_EGRESS);
}

// --- Services -------------------------------------------------------------------------------

inline constexpr Ipv4 kVip{{10, 96, 0, 10}};
inline constexpr uint16_t kVport = 80;

// Pod A → ClusterIP 10.96.0.10:80 → backend pod B:8080: the flow is keyed
// by the backend tuple with XVR_FLOW_F_SVC and the frontend; pod B's reply
// (as it leaves pod B, before the frontend is put back) hits the REPLY
// entry; the client's next packet (to the frontend again) the forward one.
TEST_P(FlowPodTest, ClusterIpFlowIsKeyedByTheBackend) {
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kVip, kVport, kProtoTcp, kPodB.ip, kDport));
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen, XVR_FLOWCFG_F_EVENTS));
  // Pod B accepts 8080 from pod A only: the backend port is what policy
  // judges, not the service port.
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kDport));

  const Bytes syn = PodTcp(kPodA, kVip, kSport, kVport, kTcpSyn);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(FromA(syn, XVR_VERDICT_REDIRECT, &r));
  ASSERT_GE(r.out.size(), kEthHdrLen + kIpv4HdrLen + 4);
  EXPECT_EQ(Be16At(r.out, kEthHdrLen + kIpv4HdrLen + 2), kDport) << "not translated";
  ExpectOnlyPair(kTcpAB);
  WantFlow w = AB(XVR_FLOW_S_SYN_SENT, 1, syn.size(), kTcpSyn);
  w.flags |= XVR_FLOW_F_SVC;
  w.svc_addr = kVip;
  w.svc_port = kVport;
  ExpectFlow(kTcpAB, w);
  WantFlow wr = BA(XVR_FLOW_S_SYN_SENT, 0, 0);
  wr.flags |= XVR_FLOW_F_SVC;
  wr.svc_addr = kVip;
  wr.svc_port = kVport;
  ExpectFlow(Reversed(kTcpAB), wr);

  // FLOW_NEW: the backend tuple, the frontend, the packet as translated.
  const FlowEvents ev = ConsumeFlowEvents();
  ASSERT_EQ(ev.order, std::vector<uint32_t>{XVR_EVENT_FLOW_NEW});
  EXPECT_EQ(KeyStr(ev.flows[0].key), KeyStr(kTcpAB));
  EXPECT_EQ(ev.flows[0].svc_addr, kVip.be32());
  EXPECT_EQ(ntohs(ev.flows[0].svc_port), kVport);
  EXPECT_EQ(FlowFlagsStr(ev.flows[0].flags), FlowFlagsStr(kBoth | XVR_FLOW_F_SVC));
  EXPECT_EQ(ev.flows[0].hdr.cap_len, syn.size());
  // Translated to the backend, not yet routed (TTL and MACs as sent).
  const Bytes xlated = PodTcp(kPodA, kPodB.ip, kSport, kDport, kTcpSyn);
  const Bytes snap(ev.flows[0].data, ev.flows[0].data + ev.flows[0].hdr.cap_len);
  EXPECT_TRUE(snap == xlated) << DescribeMismatch(xlated, snap);

  const Bytes synack = TcpBA(kTcpSyn | kTcpAck);
  ASSERT_NO_FATAL_FAILURE(FromB(synack, XVR_VERDICT_REDIRECT, &r));
  ASSERT_GE(r.out.size(), kEthHdrLen + kIpv4HdrLen + 4);
  EXPECT_EQ(Be16At(r.out, kEthHdrLen + kIpv4HdrLen), kVport) << "reply not translated back";
  ExpectOnlyPair(kTcpAB);
  wr.state = XVR_FLOW_S_SYN_RECV;
  wr.packets = 1;
  wr.bytes = synack.size();
  wr.tcp_flags = kTcpSyn | kTcpAck;
  ExpectFlow(Reversed(kTcpAB), wr);

  const Bytes ack = PodTcp(kPodA, kVip, kSport, kVport, kTcpAck, "", 1001, 5001);
  ASSERT_NO_FATAL_FAILURE(FromA(ack));
  ExpectOnlyPair(kTcpAB);
  w.state = XVR_FLOW_S_ESTABLISHED;
  w.packets = 2;
  w.bytes = syn.size() + ack.size();
  w.tcp_flags = kTcpSyn | kTcpAck;
  ExpectFlow(kTcpAB, w);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
  ExpectOnlyCounter(XVR_VERDICT_REDIRECT, XVR_R_OK, 3);

  // An ICMP error from the backend about the client's packet as the
  // backend received it: related to the same flow.
  const Bytes as_received = TcpAB(kTcpAck);
  ASSERT_NO_FATAL_FAILURE(FromB(PodIcmpError(kPodB, kPodA.ip, as_received)));
  ExpectFlowStats({{XVR_FS_CREATED, 1}, {XVR_FS_RELATED, 1}});
  ExpectOnlyPair(kTcpAB);

  // A rule for the service port alone does not admit the connection.
  ASSERT_NO_FATAL_FAILURE(ClearPolicy());
  ASSERT_NO_FATAL_FAILURE(Allow(kIdB, XVR_POL_INGRESS, kIdA, kProtoTcp, kVport));
  ASSERT_NO_FATAL_FAILURE(
      FromA(PodTcp(kPodA, kVip, kSport + 1, kVport, kTcpSyn), XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
  ExpectOnlyPair(kTcpAB);
}

// Found by this test, a limitation more than a slip (bpf/lib/flow.h,
// flow_parse: "Fragments are tracked by address pair and protocol (ports
// 0)"): a fragmented reply does not meet its connection. Pod A (isolated
// for ingress, no rule) asks pod B over UDP; pod B's answer is larger than
// the MTU and arrives in fragments, whose tuple is (B, A, 0, 0, UDP), not
// the REPLY entry (B:8080 → A:40000). It is judged as a new connection
// into pod A and dropped (policy_denied_ingress). Expected: the answer to
// an allowed request passes, as it does unfragmented (Linux conntrack
// reassembles first). Disabled: the fix is a design decision (track
// fragments by IP id, or hand them to the kernel), not a one-liner.
TEST_P(FlowPodTest, DISABLED_FragmentedReplyMeetsItsConnection) {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn));
  ASSERT_NO_FATAL_FAILURE(FromA(PodUdp(kPodA, kPodB.ip, kSport, kDport, "big question")));
  const Bytes first = PacketBuilder()
                          .Eth(kPodB.mac, kPodB.host_mac)
                          .IPv4(kPodB.ip, kPodA.ip, {.id = 99, .mf = true})
                          .UDP(kDport, kSport, {.len = 1400})
                          .Payload(std::string(64, 'a'))
                          .Build();
  ASSERT_NO_FATAL_FAILURE(FromB(first, XVR_VERDICT_REDIRECT));
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 0u);
}

INSTANTIATE_TEST_SUITE_P(Flow, FlowPodTest, ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         ProgTag);

// --- The tunnel (xdp_fabric) -----------------------------------------------------------------

class FlowFabricTest : public FlowTestBase {};

Bytes FromNode2Pod(const Ipv4& dst, uint16_t sport, uint16_t dport, const std::string& payload) {
  return VxlanEncap(Node2ToNode1(), InnerUdp(kVtep2Mac, kVtep1Mac, kRemotePodIp, dst,
                                             {.ttl = 63}, sport, dport, payload));
}

// A decapsulated packet for pod A opens an INGRESS-only pair on xdp_fabric
// (the fabric NIC's ifindex, the inner frame's length).
TEST_F(FlowFabricTest, DecapsulatedPacketOpensAnIngressFlow) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpFabric));
  const Bytes pkt = FromNode2Pod(kPodA.ip, kSport, kDport, "over-the-tunnel");
  ASSERT_NO_FATAL_FAILURE(RunExpect(pkt, fabric_.ifindex, XVR_VERDICT_REDIRECT));
  const xvr_flow_key k = FlowKey(kRemotePodIp, kPodA.ip, kSport, kDport, kProtoUdp);
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
  w.flags |= XVR_FLOW_F_REPLY;
  w.packets = w.bytes = 0;
  ExpectFlow(Reversed(k), w);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// Pod A (isolated for ingress, no rule) talks to node 2's pod through the
// tunnel; the answer comes back decapsulated on xdp_fabric and meets the
// REPLY entry xdp_pod created: allowed, REPLIED. A connection node 2's pod
// opens itself is denied.
TEST_F(FlowFabricTest, ReplyThroughTheTunnelMeetsTheReplyEntry) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kXdpPod));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal | kIsoIn));
  const Bytes req = PodUdp(kPodA, kRemotePodIp, kSport, kDport);
  ASSERT_NO_FATAL_FAILURE(RunExpect(req, pod_a_.ifindex, XVR_VERDICT_REDIRECT));
  const xvr_flow_key k = FlowKey(kPodA.ip, kRemotePodIp, kSport, kDport, kProtoUdp);
  ExpectOnlyPair(k);

  ASSERT_NO_FATAL_FAILURE(Switch(Program::kXdpFabric));
  const Bytes rsp = FromNode2Pod(kPodA.ip, kDport, kSport, "tunnelled answer");
  ASSERT_NO_FATAL_FAILURE(RunExpect(rsp, fabric_.ifindex, XVR_VERDICT_REDIRECT));
  ExpectOnlyPair(k);
  WantFlow w;
  w.state = XVR_FLOW_S_REPLIED;
  w.flags = XVR_FLOW_F_EGRESS | XVR_FLOW_F_REPLY;
  w.src_identity = kIdA;
  w.dst_identity = kIdRemote;
  w.packets = 1;
  w.bytes = rsp.size() - kVxlanEncapLen;
  w.hook = XVR_HOOK_XDP_POD;
  w.ifindex = static_cast<uint32_t>(pod_a_.ifindex);
  ExpectFlow(Reversed(k), w);
  EXPECT_EQ(FlowStateName(Flow(k)->state), "REPLIED");

  ASSERT_NO_FATAL_FAILURE(RunExpect(FromNode2Pod(kPodA.ip, kDport, kSport + 1, "unsolicited"),
                                    fabric_.ifindex, XVR_VERDICT_DROP));
  EXPECT_EQ(Counter(XVR_HOOK_XDP_FABRIC, XVR_VERDICT_DROP, XVR_R_POLICY_INGRESS).packets, 1u);
  ExpectOnlyPair(k);
  ExpectFlowStats({});  // xdp_fabric's own stats: nothing created, nothing re-judged
}

// --- The node (tc_host_egress) -----------------------------------------------------------------

class FlowHostTest : public FlowTestBase {};

// The node reaching a ClusterIP whose backend is pod B: the flow is the
// backend tuple from the gateway address (XVR_ID_HOST), INGRESS only, with
// the frontend; created on tc_host_egress.
TEST_F(FlowHostTest, NodeToClusterIpFlowIsKeyedByTheBackend) {
  ASSERT_NO_FATAL_FAILURE(Load(Program::kTcHostEgress));
  ASSERT_NO_FATAL_FAILURE(AddClusterIp(kVip, kVport, kProtoTcp, kPodB.ip, kDport));
  const Bytes syn = PacketBuilder()
                        .Eth(kHostLoopMac, kHostLoopMac)
                        .IPv4(kGatewayIp, kVip)
                        .TCP(45000, kVport, 1, 0, kTcpSyn)
                        .Build();
  ASSERT_NO_FATAL_FAILURE(RunExpect(syn, host_loop_.ifindex, XVR_VERDICT_REDIRECT));
  const xvr_flow_key k = FlowKey(kGatewayIp, kPodB.ip, 45000, kDport, kProtoTcp);
  ExpectOnlyPair(k);
  WantFlow w;
  w.state = XVR_FLOW_S_SYN_SENT;
  w.flags = XVR_FLOW_F_INGRESS | XVR_FLOW_F_SVC;
  w.src_identity = XVR_ID_HOST;
  w.dst_identity = kIdB;
  w.packets = 1;
  w.bytes = syn.size();
  w.hook = XVR_HOOK_TC_HOST_EGRESS;
  w.ifindex = static_cast<uint32_t>(host_loop_.ifindex);
  w.tcp_flags = kTcpSyn;
  w.svc_addr = kVip;
  w.svc_port = kVport;
  ExpectFlow(k, w);
  ExpectFlowStats({{XVR_FS_CREATED, 1}});
}

// --- LRU eviction ---------------------------------------------------------------------------

// The fixture loads programs with the production sizes; this test loads
// the pod program itself with xvr_flows shrunk to 64 entries (what the
// agent does with spec.flows.tableSize: bpf_map__set_max_entries before
// load), pinned in the test's directory, and runs it directly.
class FlowLruTest : public BpfProgramTest, public ::testing::WithParamInterface<Program> {
 protected:
  static constexpr uint32_t kMaxFlows = 64;

  void TearDown() override {
    if (destroy_) destroy_();
    destroy_ = nullptr;
    BpfProgramTest::TearDown();
  }

  template <class Skel>
  void LoadShrunk() {
    bpf_object_open_opts opts{};
    opts.sz = sizeof(opts);
    opts.pin_root_path = pin_dir().c_str();
    Skel* s = Skel::open(&opts);
    ASSERT_NE(s, nullptr) << "open skeleton: " << std::strerror(errno);
    destroy_ = [s] { Skel::destroy(s); };
    ASSERT_EQ(bpf_map__set_max_entries(s->maps.xvr_flows, kMaxFlows), 0);
    ASSERT_EQ(Skel::load(s), 0) << "load skeleton: " << std::strerror(errno);
    obj_ = s->obj;
    prog_fd_ = bpf_program__fd(bpf_object__next_program(s->obj, nullptr));
    ASSERT_GE(prog_fd_, 0);
  }

  int Fd(const char* name) {
    bpf_map* m = bpf_object__find_map_by_name(obj_, name);
    return m ? bpf_map__fd(m) : -1;
  }

  void Put(const char* map, const void* k, const void* v) {
    ASSERT_EQ(bpf_map_update_elem(Fd(map), k, v, BPF_ANY), 0)
        << "update " << map << ": " << std::strerror(errno);
  }

  void PutEp(const TestEndpoint& ep) {
    xvr_endpoint v{};
    v.ip = ep.addr.ip.be32();
    v.ifindex = static_cast<uint32_t>(ep.ifindex);
    std::memcpy(v.mac, ep.addr.mac.data(), 6);
    std::memcpy(v.host_mac, ep.addr.host_mac.data(), 6);
    v.id = ep.addr.id;
    ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_EP_IFINDEX, &v.ifindex, &v));
    ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_EP_IP, &v.ip, &v));
    ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_DEVMAP, &v.ifindex, &v.ifindex));
    xvr_ident id{};
    id.identity = ep.addr.id + 1000;
    id.flags = XVR_ID_F_LOCAL;
    ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_IPCACHE, &v.ip, &id));
  }

  uint32_t RunOnce(const Bytes& pkt, int ifindex) {
    Bytes in = pkt, out(4096);
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = in.data();
    opts.data_size_in = static_cast<uint32_t>(in.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    opts.repeat = 1;
    xdp_md xctx{};
    __sk_buff sctx{};
    if (IsXdp(GetParam())) {
      xctx.data_end = static_cast<uint32_t>(in.size());
      xctx.ingress_ifindex = static_cast<uint32_t>(ifindex);
      opts.ctx_in = &xctx;
      opts.ctx_size_in = sizeof(xctx);
    } else {
      sctx.ifindex = static_cast<uint32_t>(ifindex);
      opts.ctx_in = &sctx;
      opts.ctx_size_in = sizeof(sctx);
    }
    const int err = bpf_prog_test_run_opts(prog_fd_, &opts);
    EXPECT_EQ(err, 0) << std::strerror(-err);
    return opts.retval;
  }

  uint64_t Stat(uint32_t slot) {
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> v(ncpu > 0 ? ncpu : 1);
    EXPECT_EQ(bpf_map_lookup_elem(Fd(XVR_MAP_FLOW_STATS), &slot, v.data()), 0);
    uint64_t s = 0;
    for (uint64_t x : v) s += x;
    return s;
  }

  bpf_object* obj_ = nullptr;
  int prog_fd_ = -1;
  std::function<void()> destroy_;
};

// More flows than the table holds: the LRU evicts without telling anyone,
// and the agent's arithmetic (flow_table.h) recovers it:
//   evicted pairs = Σ XVR_FS_CREATED − live pairs (a pair with one entry
//   left, an orphan, is live).
// Checked against the ground truth: the flows whose two entries are gone.
TEST_P(FlowLruTest, EvictionsAreCreatedMinusLivePairs) {
  if (GetParam() == Program::kXdpPod) {
    ASSERT_NO_FATAL_FAILURE(LoadShrunk<xvr_xdp_pod>());
  } else {
    ASSERT_NO_FATAL_FAILURE(LoadShrunk<xvr_tc_pod>());
  }
  bpf_map* flows = bpf_object__find_map_by_name(obj_, XVR_MAP_FLOWS);
  ASSERT_NE(flows, nullptr);
  ASSERT_EQ(bpf_map__max_entries(flows), kMaxFlows);
  const uint32_t zero = 0;
  xvr_node_cfg cfg = DefaultNodeConfig();
  ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_NODE, &zero, &cfg));
  ASSERT_NO_FATAL_FAILURE(PutEp(pod_a_));
  ASSERT_NO_FATAL_FAILURE(PutEp(pod_b_));
  xvr_flow_cfg fc{};
  fc.policy_gen = kGen;
  ASSERT_NO_FATAL_FAILURE(Put(XVR_MAP_FLOW_CFG, &zero, &fc));

  constexpr int kFlows = 300;
  const uint32_t redirect = ActionFor(GetParam(), XVR_VERDICT_REDIRECT);
  for (int i = 0; i < kFlows; ++i) {
    const uint16_t sport = static_cast<uint16_t>(20000 + i);
    ASSERT_EQ(RunOnce(PodUdp(kPodA, kPodB.ip, sport, kDport), pod_a_.ifindex), redirect)
        << "flow " << i;
  }

  // Ground truth from the table.
  std::set<uint16_t> fwd, rep;
  size_t entries = 0;
  xvr_flow_key k{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(bpf_map__fd(flows), prev, &next) == 0) {
    xvr_flow f{};
    if (bpf_map_lookup_elem(bpf_map__fd(flows), &next, &f) == 0) {
      ++entries;
      const bool reply = f.flags & XVR_FLOW_F_REPLY;
      const xvr_flow_key fk = reply ? Reversed(next) : next;
      EXPECT_EQ(fk.saddr, kPodA.ip.be32()) << KeyStr(next);
      EXPECT_EQ(fk.daddr, kPodB.ip.be32()) << KeyStr(next);
      EXPECT_EQ(ntohs(fk.dport), kDport) << KeyStr(next);
      (reply ? rep : fwd).insert(ntohs(fk.sport));
    }
    k = next;
    prev = &k;
  }
  EXPECT_LE(entries, kMaxFlows);
  size_t live = 0, gone = 0, orphans = 0;
  for (int i = 0; i < kFlows; ++i) {
    const uint16_t sport = static_cast<uint16_t>(20000 + i);
    const bool f = fwd.count(sport), r = rep.count(sport);
    (f || r ? live : gone) += 1;
    if (f != r) ++orphans;
  }
  const uint64_t created = Stat(XVR_FS_CREATED);
  RecordProperty("live_pairs", std::to_string(live));
  RecordProperty("orphans", std::to_string(orphans));
  RecordProperty("evicted_pairs", std::to_string(gone));
  RecordProperty("entries", std::to_string(entries));
  EXPECT_EQ(created, static_cast<uint64_t>(kFlows));
  EXPECT_EQ(Stat(XVR_FS_CREATE_FAILED), 0u) << "an LRU map evicts rather than fails";
  EXPECT_EQ(Stat(XVR_FS_REEVAL_DENIED), 0u);
  EXPECT_GT(created - live, 0u) << "nothing was evicted from a " << kMaxFlows << "-entry table";
  EXPECT_EQ(created - live, gone) << live << " live pairs (" << orphans << " orphans), "
                                  << entries << " entries";
}

INSTANTIATE_TEST_SUITE_P(Flow, FlowLruTest, ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         ProgTag);

}  // namespace
}  // namespace xvr::test

// Shared by flow_test.cc (connection tracking, bpf/lib/flow.h) and
// policy_test.cc (NetworkPolicy verdicts, bpf/lib/policy.h): the maps of
// abi.h "Flows" and "NetworkPolicy, compiled" filled and read by hand, the
// flow events on the ring buffer, the packets pods send to each other, and
// a port range split into the port prefixes xvr_policy holds.
//
// The node is node 1 of vxlan_cases.h (pods A, B and C of topology.h); every
// test fills xvr_ipcache itself, by default:
//
//   pod A 10.244.1.10   identity 1000   local
//   pod B 10.244.1.20   identity 2000   local
//   pod C 10.244.1.30   identity 3000   local
//   node 2's pod        identity 4000   (remote: no flags)
//   gateway, node IP    XVR_ID_HOST
//
// xvr_flow_cfg starts at policy generation kGen (7), events off.
#ifndef XVR_TEST_BPF_FLOW_CASES_H
#define XVR_TEST_BPF_FLOW_CASES_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test/bpf/bpf_fixture.h"
#include "test/bpf/packet_builder.h"
#include "test/bpf/topology.h"
#include "test/bpf/vxlan_cases.h"
#include "xvr/abi.h"

namespace xvr::test {

inline constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;
inline constexpr uint8_t kIcmpEchoReply = 0, kIcmpUnreach = 3, kIcmpPortUnreach = 3,
                         kIcmpEcho = 8;

inline constexpr uint32_t kIdA = 1000, kIdB = 2000, kIdC = 3000, kIdRemote = 4000;
inline constexpr uint32_t kLocal = XVR_ID_F_LOCAL;
inline constexpr uint32_t kIsoIn = XVR_ID_F_ISO_INGRESS;
inline constexpr uint32_t kIsoOut = XVR_ID_F_ISO_EGRESS;
inline constexpr uint32_t kGen = 7;

// --- Keys ---------------------------------------------------------------------------------

// A flow key from host-order ports.
xvr_flow_key FlowKey(const Ipv4& s, const Ipv4& d, uint16_t sport, uint16_t dport, uint8_t proto);
xvr_flow_key Reversed(const xvr_flow_key& k);
std::string KeyStr(const xvr_flow_key& k);
std::string FlowStateName(uint8_t state);
std::string FlowFlagsStr(uint8_t flags);
bool operator==(const xvr_flow_key& a, const xvr_flow_key& b);

// --- Port ranges --------------------------------------------------------------------------

// [lo, hi] as the fewest aligned blocks: (first port, prefix bits of the
// 16-bit port), bits 16 = one port, 0 = every port. An xvr_policy entry
// per block has prefixlen XVR_POL_PREFIX_PROTO + bits.
struct PortPrefix {
  uint16_t port;
  int bits;
  bool operator==(const PortPrefix&) const = default;
};
std::vector<PortPrefix> PortRangePrefixes(uint16_t lo, uint16_t hi);

// --- Packets ------------------------------------------------------------------------------

// TCP from pod `from` (to its gateway MAC).
Bytes PodTcp(const PodAddr& from, const Ipv4& dst, uint16_t sport, uint16_t dport, uint8_t flags,
             const std::string& payload = "", uint32_t seq = 1000, uint32_t ack = 0);
Bytes PodUdp(const PodAddr& from, const Ipv4& dst, uint16_t sport, uint16_t dport,
             const std::string& payload = "xvr-flow-payload");
Bytes PodIcmpEcho(const PodAddr& from, const Ipv4& dst, uint8_t type, uint16_t id,
                  uint16_t seq = 1);
// An ICMP error (type/code) from pod `from` to dst quoting the IPv4 header
// and first 8 bytes of `quoted` (an Ethernet frame).
Bytes PodIcmpError(const PodAddr& from, const Ipv4& dst, const Bytes& quoted,
                   uint8_t type = kIcmpUnreach, uint8_t code = kIcmpPortUnreach);

// --- The fixture ------------------------------------------------------------------------------

// What a flow entry must hold (times are checked separately).
struct WantFlow {
  uint8_t state = 0;
  uint8_t flags = 0;
  uint32_t src_identity = 0;
  uint32_t dst_identity = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint32_t hook = 0;
  uint32_t ifindex = 0;
  uint32_t policy_gen = kGen;
  uint8_t tcp_flags = 0;
  Ipv4 svc_addr{};
  uint16_t svc_port = 0;  // host order
};

struct FlowEvents {
  std::vector<xvr_flow_event> flows;  // XVR_EVENT_FLOW_NEW / FLOW_END, in ring order
  std::vector<xvr_drop_event> drops;
  std::vector<uint32_t> order;  // the type of every record, in ring order
};

class FlowTestBase : public BpfProgramTest {
 protected:
  // Loads p as node 1 (overlay: fabric NIC, node 2's pod CIDR through the
  // tunnel), with the default identities and xvr_flow_cfg {kGen, 0}. Use
  // with ASSERT_NO_FATAL_FAILURE.
  void Load(Program p);
  // Unloads and loads `next` carrying xvr_flows, xvr_ipcache, xvr_cidr_id,
  // xvr_policy, xvr_flow_cfg and the service tables over (one node, two
  // hooks). Flow stats and counters start from zero.
  void Switch(Program next);

  void SetFlowCfg(uint32_t gen, uint32_t flags = 0);
  void PutIdent(const Ipv4& ip, uint32_t identity, uint32_t flags);
  void DeleteIdent(const Ipv4& ip);
  void SeedIdentities();
  void PutCidrId(const Ipv4& prefix, uint32_t prefixlen, uint32_t identity);
  // xvr_policy[{prefixlen, subject, peer, dir, proto, port}] = {rule}.
  void Allow(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto, uint16_t port,
             uint32_t prefixlen = XVR_POL_PREFIX_FULL, uint32_t rule = 1);
  void Disallow(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto, uint16_t port,
                uint32_t prefixlen = XVR_POL_PREFIX_FULL);
  // One entry per block of PortRangePrefixes(lo, hi); returns how many.
  size_t AllowRange(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto, uint16_t lo,
                    uint16_t hi);
  void ClearPolicy();
  // A ClusterIP frontend vip:vport (scope INTERNAL) whose Maglev table
  // (id 7, 13 slots) holds the one backend 11, backend:bport.
  void AddClusterIp(const Ipv4& vip, uint16_t vport, uint8_t proto, const Ipv4& backend,
                    uint16_t bport);

  std::optional<xvr_flow> Flow(const xvr_flow_key& k);
  std::vector<std::pair<xvr_flow_key, xvr_flow>> Flows();
  void PutFlow(const xvr_flow_key& k, const xvr_flow& f);
  void ClearFlows();
  // xvr_flow_stats[slot] summed over CPUs.
  uint64_t FlowStat(uint32_t slot);
  std::array<uint64_t, XVR_FS_SLOTS> FlowStats();
  // Exactly these stats are non-zero (slot -> value).
  void ExpectFlowStats(const std::vector<std::pair<uint32_t, uint64_t>>& want);

  // Drains the ring buffer: flow events and drop events.
  FlowEvents ConsumeFlowEvents();

  void RunExpect(const Bytes& pkt, int ifindex, uint32_t verdict, RunResult* r = nullptr);
  // Exactly one counter moved: (hook(), verdict, reason), n packets, bytes.
  void ExpectOnlyCounter(uint32_t verdict, uint32_t reason, uint64_t n = 1,
                         std::optional<uint64_t> bytes = std::nullopt);
  // The entry at k holds `w`; returns it.
  std::optional<xvr_flow> ExpectFlow(const xvr_flow_key& k, const WantFlow& w);
  void ExpectNoFlows();
  // Exactly the pair of forward key k (and its reversed key) is in xvr_flows.
  void ExpectOnlyPair(const xvr_flow_key& k);

  std::string DescribeCounters();
  std::string DescribeFlows();

  static uint64_t CoarseNowNs();

  xvr_node_cfg node_cfg_{};
};

}  // namespace xvr::test

#endif

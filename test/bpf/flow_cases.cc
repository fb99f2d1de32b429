#include "test/bpf/flow_cases.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace xvr::test {

// --- Keys ---------------------------------------------------------------------------------

xvr_flow_key FlowKey(const Ipv4& s, const Ipv4& d, uint16_t sport, uint16_t dport,
                     uint8_t proto) {
  xvr_flow_key k{};
  k.saddr = s.be32();
  k.daddr = d.be32();
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  return k;
}

xvr_flow_key Reversed(const xvr_flow_key& k) {
  xvr_flow_key r{};
  r.saddr = k.daddr;
  r.daddr = k.saddr;
  r.sport = k.dport;
  r.dport = k.sport;
  r.proto = k.proto;
  return r;
}

bool operator==(const xvr_flow_key& a, const xvr_flow_key& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

namespace {
std::string IpStr(uint32_t be) {
  Ipv4 ip;
  std::memcpy(ip.b.data(), &be, 4);
  return ip.str();
}
}  // namespace

std::string KeyStr(const xvr_flow_key& k) {
  return IpStr(k.saddr) + ":" + std::to_string(ntohs(k.sport)) + " -> " + IpStr(k.daddr) + ":" +
         std::to_string(ntohs(k.dport)) + " proto " + std::to_string(k.proto);
}

std::string FlowStateName(uint8_t state) {
  switch (state) {
    case XVR_FLOW_S_SYN_SENT: return "SYN_SENT";
    case XVR_FLOW_S_SYN_RECV: return "SYN_RECV";
    case XVR_FLOW_S_ESTABLISHED: return "ESTABLISHED";
    case XVR_FLOW_S_FIN_WAIT: return "FIN_WAIT";
    case XVR_FLOW_S_CLOSED: return "CLOSED";
    case XVR_FLOW_S_UNREPLIED: return "UNREPLIED";
    case XVR_FLOW_S_REPLIED: return "REPLIED";
  }
  return "state " + std::to_string(state);
}

std::string FlowFlagsStr(uint8_t flags) {
  std::string s;
  auto add = [&](uint8_t bit, const char* name) {
    if (flags & bit) s += s.empty() ? name : std::string("|") + name;
  };
  add(XVR_FLOW_F_REPLY, "REPLY");
  add(XVR_FLOW_F_SVC, "SVC");
  add(XVR_FLOW_F_EGRESS, "EGRESS");
  add(XVR_FLOW_F_INGRESS, "INGRESS");
  if (flags & 0xf0) s += (s.empty() ? "" : "|") + std::to_string(flags & 0xf0);
  return s.empty() ? "0" : s;
}

// --- Port ranges --------------------------------------------------------------------------

std::vector<PortPrefix> PortRangePrefixes(uint16_t lo, uint16_t hi) {
  std::vector<PortPrefix> out;
  uint32_t p = lo;
  while (p <= hi) {
    int k = 0;  // block of 2^k ports starting at p
    while (k < 16 && (p & ((1u << (k + 1)) - 1)) == 0 && p + (1u << (k + 1)) - 1 <= hi) ++k;
    out.push_back({static_cast<uint16_t>(p), 16 - k});
    p += 1u << k;
  }
  return out;
}

// --- Packets ------------------------------------------------------------------------------

Bytes PodTcp(const PodAddr& from, const Ipv4& dst, uint16_t sport, uint16_t dport, uint8_t flags,
             const std::string& payload, uint32_t seq, uint32_t ack) {
  return PacketBuilder()
      .Eth(from.mac, from.host_mac)
      .IPv4(from.ip, dst)
      .TCP(sport, dport, seq, ack, flags)
      .Payload(payload)
      .Build();
}

Bytes PodUdp(const PodAddr& from, const Ipv4& dst, uint16_t sport, uint16_t dport,
             const std::string& payload) {
  return PacketBuilder()
      .Eth(from.mac, from.host_mac)
      .IPv4(from.ip, dst)
      .UDP(sport, dport)
      .Payload(payload)
      .Build();
}

Bytes PodIcmpEcho(const PodAddr& from, const Ipv4& dst, uint8_t type, uint16_t id,
                  uint16_t seq) {
  return PacketBuilder()
      .Eth(from.mac, from.host_mac)
      .IPv4(from.ip, dst)
      .ICMP(type, 0, id, seq)
      .Payload("xvr-ping-payload")
      .Build();
}

Bytes PodIcmpError(const PodAddr& from, const Ipv4& dst, const Bytes& quoted, uint8_t type,
                   uint8_t code) {
  const Bytes embedded(quoted.begin() + kEthHdrLen,
                       quoted.begin() + kEthHdrLen + kIpv4HdrLen + 8);
  return PacketBuilder()
      .Eth(from.mac, from.host_mac)
      .IPv4(from.ip, dst, {.ttl = 64, .id = 0, .df = true})
      .ICMP(type, code, 0, 0)
      .Payload(embedded)
      .Build();
}

// --- The fixture ------------------------------------------------------------------------------

void FlowTestBase::Load(Program p) {
  ASSERT_NO_FATAL_FAILURE(LoadProgram(p));
  if (fabric_.ifindex == 0) {
    ASSERT_NO_FATAL_FAILURE(CreateFabric());
  }
  ASSERT_NO_FATAL_FAILURE(SeedTopology());
  node_cfg_ = Node1Overlay(DefaultNodeConfig(), fabric_.ifindex);
  ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(node_cfg_));
  ASSERT_NO_FATAL_FAILURE(PutDevmap(fabric_.ifindex));
  xvr_route tun{};
  tun.type = XVR_RT_TUNNEL;
  tun.tunnel_dst = kNode2Ip.be32();
  ASSERT_NO_FATAL_FAILURE(PutRoute(kNode2PodCidr, 24, tun));
  ASSERT_NO_FATAL_FAILURE(PutNeigh(kNode2Ip, kNode2Mac, fabric_.ifindex));
  ASSERT_NO_FATAL_FAILURE(SeedIdentities());
  ASSERT_NO_FATAL_FAILURE(SetFlowCfg(kGen, 0));
}

void FlowTestBase::Switch(Program next) {
  const ServiceState svc = SnapshotServices();
  std::map<std::string, MapEntries> carried;
  for (const char* m :
       {XVR_MAP_FLOWS, XVR_MAP_IPCACHE, XVR_MAP_CIDR_ID, XVR_MAP_POLICY, XVR_MAP_FLOW_CFG})
    carried[m] = DumpMap(m);
  ASSERT_NO_FATAL_FAILURE(UnloadProgram());
  ASSERT_NO_FATAL_FAILURE(Load(next));
  ASSERT_NO_FATAL_FAILURE(RestoreServices(svc));
  // Load() wrote the default identities and flow config: the carried
  // state replaces them.
  for (const char* m : {XVR_MAP_IPCACHE, XVR_MAP_POLICY, XVR_MAP_CIDR_ID}) {
    const int fd = MapFd(m);
    for (const auto& [k, v] : DumpMap(m)) bpf_map_delete_elem(fd, k.data());
  }
  for (const auto& [name, entries] : carried) {
    ASSERT_NO_FATAL_FAILURE(RestoreMap(name.c_str(), entries));
  }
}

void FlowTestBase::SetFlowCfg(uint32_t gen, uint32_t flags) {
  const uint32_t zero = 0;
  xvr_flow_cfg c{};
  c.policy_gen = gen;
  c.flags = flags;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_FLOW_CFG), &zero, &c, BPF_ANY), 0)
      << "update " << XVR_MAP_FLOW_CFG << ": " << std::strerror(errno);
}

void FlowTestBase::PutIdent(const Ipv4& ip, uint32_t identity, uint32_t flags) {
  const uint32_t key = ip.be32();
  xvr_ident v{};
  v.identity = identity;
  v.flags = flags;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_IPCACHE), &key, &v, BPF_ANY), 0)
      << "update " << XVR_MAP_IPCACHE << "[" << ip.str() << "]: " << std::strerror(errno);
}

void FlowTestBase::DeleteIdent(const Ipv4& ip) {
  const uint32_t key = ip.be32();
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_IPCACHE), &key), 0)
      << "delete " << XVR_MAP_IPCACHE << "[" << ip.str() << "]: " << std::strerror(errno);
}

void FlowTestBase::SeedIdentities() {
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodA.ip, kIdA, kLocal));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodB.ip, kIdB, kLocal));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kPodC.ip, kIdC, kLocal));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kRemotePodIp, kIdRemote, 0));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kGatewayIp, XVR_ID_HOST, 0));
  ASSERT_NO_FATAL_FAILURE(PutIdent(kNode1Ip, XVR_ID_HOST, 0));
}

void FlowTestBase::PutCidrId(const Ipv4& prefix, uint32_t prefixlen, uint32_t identity) {
  const xvr_route_key k{prefixlen, prefix.be32()};
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_CIDR_ID), &k, &identity, BPF_ANY), 0)
      << "update " << XVR_MAP_CIDR_ID << "[" << prefix.str() << "/" << prefixlen
      << "]: " << std::strerror(errno);
}

namespace {
xvr_policy_key PolicyKey(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto,
                         uint16_t port, uint32_t prefixlen) {
  xvr_policy_key k{};
  k.prefixlen = prefixlen;
  k.subject = subject;
  k.peer = peer;
  k.dir = dir;
  if (prefixlen > XVR_POL_PREFIX_PEER) k.proto = proto;
  if (prefixlen > XVR_POL_PREFIX_PROTO) {
    const int bits = static_cast<int>(prefixlen) - XVR_POL_PREFIX_PROTO;
    const uint16_t mask = static_cast<uint16_t>(0xffffu << (16 - bits));
    k.dport = htons(port & mask);
  }
  return k;
}
}  // namespace

void FlowTestBase::Allow(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto,
                         uint16_t port, uint32_t prefixlen, uint32_t rule) {
  const xvr_policy_key k = PolicyKey(subject, dir, peer, proto, port, prefixlen);
  xvr_policy_val v{};
  v.rule = rule;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_POLICY), &k, &v, BPF_ANY), 0)
      << "update " << XVR_MAP_POLICY << ": " << std::strerror(errno);
}

void FlowTestBase::Disallow(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto,
                            uint16_t port, uint32_t prefixlen) {
  const xvr_policy_key k = PolicyKey(subject, dir, peer, proto, port, prefixlen);
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_POLICY), &k), 0)
      << "delete " << XVR_MAP_POLICY << ": " << std::strerror(errno);
}

size_t FlowTestBase::AllowRange(uint32_t subject, uint8_t dir, uint32_t peer, uint8_t proto,
                                uint16_t lo, uint16_t hi) {
  const std::vector<PortPrefix> blocks = PortRangePrefixes(lo, hi);
  for (const PortPrefix& b : blocks) {
    Allow(subject, dir, peer, proto, b.port, XVR_POL_PREFIX_PROTO + b.bits);
    if (HasFatalFailure()) break;
  }
  return blocks.size();
}

void FlowTestBase::ClearPolicy() {
  const int fd = MapFd(XVR_MAP_POLICY);
  for (const auto& [k, v] : DumpMap(XVR_MAP_POLICY))
    ASSERT_EQ(bpf_map_delete_elem(fd, k.data()), 0) << std::strerror(errno);
  ASSERT_TRUE(DumpMap(XVR_MAP_POLICY).empty());
}

void FlowTestBase::AddClusterIp(const Ipv4& vip, uint16_t vport, uint8_t proto,
                                const Ipv4& backend, uint16_t bport) {
  constexpr uint32_t kBackendId = 11, kTable = 7, kSlots = 13;
  xvr_backend be{};
  be.addr = backend.be32();
  be.port = htons(bport);
  be.proto = proto;
  be.flags = XVR_BE_F_LOCAL;
  ASSERT_NO_FATAL_FAILURE(PutBackend(kBackendId, be));
  ASSERT_NO_FATAL_FAILURE(PutMaglevTable(kTable, std::vector<uint32_t>(kSlots, kBackendId)));
  xvr_svc svc{};
  svc.table = kTable;
  svc.maglev_size = kSlots;
  svc.count = 1;
  xvr_svc_key sk{};
  sk.addr = vip.be32();
  sk.port = htons(vport);
  sk.proto = proto;
  sk.scope = XVR_SVC_SCOPE_INTERNAL;
  ASSERT_NO_FATAL_FAILURE(PutService(sk, svc));
}

std::optional<xvr_flow> FlowTestBase::Flow(const xvr_flow_key& k) {
  xvr_flow f{};
  if (bpf_map_lookup_elem(MapFd(XVR_MAP_FLOWS), &k, &f) != 0) return std::nullopt;
  return f;
}

std::vector<std::pair<xvr_flow_key, xvr_flow>> FlowTestBase::Flows() {
  std::vector<std::pair<xvr_flow_key, xvr_flow>> out;
  for (const auto& [kb, vb] : DumpMap(XVR_MAP_FLOWS)) {
    xvr_flow_key k{};
    xvr_flow f{};
    if (kb.size() != sizeof(k) || vb.size() != sizeof(f)) {
      ADD_FAILURE() << "xvr_flows entry of " << kb.size() << "/" << vb.size() << " bytes";
      continue;
    }
    std::memcpy(&k, kb.data(), sizeof(k));
    std::memcpy(&f, vb.data(), sizeof(f));
    out.emplace_back(k, f);
  }
  return out;
}

void FlowTestBase::PutFlow(const xvr_flow_key& k, const xvr_flow& f) {
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_FLOWS), &k, &f, BPF_EXIST), 0)
      << "update " << XVR_MAP_FLOWS << "[" << KeyStr(k) << "]: " << std::strerror(errno);
}

void FlowTestBase::ClearFlows() {
  const int fd = MapFd(XVR_MAP_FLOWS);
  for (const auto& [k, v] : DumpMap(XVR_MAP_FLOWS))
    ASSERT_EQ(bpf_map_delete_elem(fd, k.data()), 0) << std::strerror(errno);
  ASSERT_TRUE(DumpMap(XVR_MAP_FLOWS).empty());
}

uint64_t FlowTestBase::FlowStat(uint32_t slot) {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(ncpu > 0 ? ncpu : 1);
  if (bpf_map_lookup_elem(MapFd(XVR_MAP_FLOW_STATS), &slot, per_cpu.data()) != 0) {
    ADD_FAILURE() << "lookup " << XVR_MAP_FLOW_STATS << "[" << slot
                  << "]: " << std::strerror(errno);
    return 0;
  }
  uint64_t sum = 0;
  for (uint64_t v : per_cpu) sum += v;
  return sum;
}

std::array<uint64_t, XVR_FS_SLOTS> FlowTestBase::FlowStats() {
  std::array<uint64_t, XVR_FS_SLOTS> s{};
  for (uint32_t i = 0; i < XVR_FS_SLOTS; ++i) s[i] = FlowStat(i);
  return s;
}

void FlowTestBase::ExpectFlowStats(const std::vector<std::pair<uint32_t, uint64_t>>& want) {
  static const char* const kNames[XVR_FS_SLOTS] = {
      "CREATED", "REEVALUATED", "REEVAL_DENIED", "RELATED", "REOPENED", "CREATE_FAILED", "6",
      "7"};
  std::array<uint64_t, XVR_FS_SLOTS> w{};
  for (const auto& [slot, v] : want) w[slot] = v;
  const std::array<uint64_t, XVR_FS_SLOTS> got = FlowStats();
  for (uint32_t i = 0; i < XVR_FS_SLOTS; ++i)
    EXPECT_EQ(got[i], w[i]) << "xvr_flow_stats[XVR_FS_" << kNames[i] << "]";
}

FlowEvents FlowTestBase::ConsumeFlowEvents() {
  FlowEvents out;
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* evs = static_cast<FlowEvents*>(ctx);
    xvr_event_hdr hdr{};
    if (size < sizeof(hdr)) {
      ADD_FAILURE() << "ring buffer record of " << size << " bytes";
      return 0;
    }
    std::memcpy(&hdr, data, sizeof(hdr));
    evs->order.push_back(hdr.type);
    if (hdr.type == XVR_EVENT_FLOW_NEW || hdr.type == XVR_EVENT_FLOW_END) {
      xvr_flow_event ev{};
      EXPECT_EQ(size, sizeof(ev)) << "flow event size";
      std::memcpy(&ev, data, std::min(size, sizeof(ev)));
      evs->flows.push_back(ev);
    } else {
      xvr_drop_event ev{};
      EXPECT_EQ(size, sizeof(ev)) << "drop event size";
      std::memcpy(&ev, data, std::min(size, sizeof(ev)));
      evs->drops.push_back(ev);
    }
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(MapFd(XVR_MAP_EVENTS), cb, &out, nullptr);
  if (!rb) {
    ADD_FAILURE() << "ring_buffer__new(" << XVR_MAP_EVENTS << "): " << std::strerror(errno);
    return out;
  }
  const int n = ring_buffer__consume(rb);
  if (n < 0) ADD_FAILURE() << "ring_buffer__consume: " << std::strerror(-n);
  ring_buffer__free(rb);
  return out;
}

void FlowTestBase::RunExpect(const Bytes& pkt, int ifindex, uint32_t verdict, RunResult* r) {
  RunResult local;
  if (!r) r = &local;
  ASSERT_NO_FATAL_FAILURE(Run(pkt, ifindex, r));
  ASSERT_EQ(ActionName(program(), r->retval), ActionName(program(), ActionFor(program(), verdict)))
      << "input:\n"
      << HexDump(pkt) << "counters:\n"
      << DescribeCounters() << "flows:\n"
      << DescribeFlows();
}

void FlowTestBase::ExpectOnlyCounter(uint32_t verdict, uint32_t reason, uint64_t n,
                                     std::optional<uint64_t> bytes) {
  const std::map<uint32_t, CounterValue> got = NonZeroCounters();
  ASSERT_EQ(got.size(), 1u) << "counters:\n" << DescribeCounters();
  EXPECT_EQ(CounterName(got.begin()->first),
            CounterName(xvr_counter_index(hook(), verdict, reason)));
  EXPECT_EQ(got.begin()->second.packets, n);
  if (bytes) {
    EXPECT_EQ(got.begin()->second.bytes, *bytes);
  }
}

std::optional<xvr_flow> FlowTestBase::ExpectFlow(const xvr_flow_key& k, const WantFlow& w) {
  const std::optional<xvr_flow> f = Flow(k);
  EXPECT_TRUE(f.has_value()) << "no xvr_flows entry " << KeyStr(k) << "; flows:\n"
                             << DescribeFlows();
  if (!f) return f;
  SCOPED_TRACE("xvr_flows[" + KeyStr(k) + "]");
  EXPECT_EQ(FlowStateName(f->state), FlowStateName(w.state)) << "state";
  EXPECT_EQ(FlowFlagsStr(f->flags), FlowFlagsStr(w.flags)) << "flags";
  EXPECT_EQ(f->src_identity, w.src_identity) << "src_identity";
  EXPECT_EQ(f->dst_identity, w.dst_identity) << "dst_identity";
  EXPECT_EQ(f->packets, w.packets) << "packets";
  EXPECT_EQ(f->bytes, w.bytes) << "bytes";
  EXPECT_EQ(f->hook, w.hook) << "hook";
  EXPECT_EQ(f->ifindex, w.ifindex) << "ifindex";
  EXPECT_EQ(f->policy_gen, w.policy_gen) << "policy_gen";
  EXPECT_EQ(f->tcp_flags, w.tcp_flags) << "tcp_flags";
  EXPECT_EQ(IpStr(f->svc_addr), w.svc_addr.str()) << "svc_addr";
  EXPECT_EQ(ntohs(f->svc_port), w.svc_port) << "svc_port";
  EXPECT_EQ(f->pad, 0) << "pad";
  EXPECT_EQ(f->pad2, 0u) << "pad2";
  EXPECT_NE(f->created_ns, 0u) << "created_ns";
  EXPECT_GE(f->last_ns, f->created_ns) << "last_ns";
  return f;
}

void FlowTestBase::ExpectNoFlows() {
  EXPECT_TRUE(Flows().empty()) << "flows:\n" << DescribeFlows();
}

void FlowTestBase::ExpectOnlyPair(const xvr_flow_key& k) {
  const auto flows = Flows();
  EXPECT_EQ(flows.size(), 2u) << "flows:\n" << DescribeFlows();
  EXPECT_TRUE(Flow(k).has_value()) << "no forward entry " << KeyStr(k);
  EXPECT_TRUE(Flow(Reversed(k)).has_value()) << "no reply entry " << KeyStr(Reversed(k));
}

std::string FlowTestBase::DescribeCounters() {
  std::string s;
  for (const auto& [idx, v] : NonZeroCounters())
    s += "  " + CounterName(idx) + ": " + std::to_string(v.packets) + "\n";
  return s.empty() ? "  (none)\n" : s;
}

std::string FlowTestBase::DescribeFlows() {
  std::string s;
  for (const auto& [k, f] : Flows()) {
    s += "  " + KeyStr(k) + ": " + FlowStateName(f.state) + " " + FlowFlagsStr(f.flags) +
         " ids " + std::to_string(f.src_identity) + "->" + std::to_string(f.dst_identity) +
         " pkts " + std::to_string(f.packets) + " bytes " + std::to_string(f.bytes) + " gen " +
         std::to_string(f.policy_gen) + " hook " + std::to_string(f.hook) + "\n";
  }
  return s.empty() ? "  (none)\n" : s;
}

uint64_t FlowTestBase::CoarseNowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace xvr::test

// Packet capture in xvr_finish() (bpf/lib/capture.h, `xvrctl capture`):
// with xvr_cap_cfg off nothing reaches the xvr_capture ring; on, every
// packet that passes the filter is recorded with its hook, verdict, reason,
// ingress ifindex, length and the final frame's bytes; the filters (IPv4
// address, outer or VXLAN inner; reason; hook; verdict) exclude, snaplen
// cuts, and a capture whose owner stopped refreshing it disarms itself.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"
#include "test/bpf/bpf_fixture.h"
#include "test/bpf/vxlan_cases.h"

namespace xvr::test {
namespace {

struct Captured {
  xvr_capture_hdr hdr;
  Bytes data;
};

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

constexpr uint32_t kGen = 0x5eed;

// Everything on, no filter: what `xvrctl capture -w f` writes.
xvr_capture_cfg CaptureAll() {
  xvr_capture_cfg c{};
  c.enabled = 1;
  c.gen = kGen;
  c.owner_pid = 1;
  c.hook_mask = (1u << XVR_HOOK_MAX) - 1;
  c.verdict_mask = (1u << XVR_VERDICT_MAX) - 1;
  c.snaplen = XVR_CAP_SNAP_MAX;
  c.vxlan_port = htons(kVxlanPort);
  return c;
}

class CaptureFixture : public BpfProgramTest {
 protected:
  void SetCapture(xvr_capture_cfg c) {
    c.heartbeat_ns = MonotonicNs();
    const uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_CAP_CFG), &zero, &c, BPF_ANY), 0)
        << std::strerror(errno);
  }

  std::vector<Captured> Consume() {
    std::vector<Captured> out;
    auto cb = [](void* ctx, void* data, size_t size) -> int {
      auto* v = static_cast<std::vector<Captured>*>(ctx);
      Captured c{};
      EXPECT_GE(size, sizeof(c.hdr));
      if (size < sizeof(c.hdr)) return 0;
      std::memcpy(&c.hdr, data, sizeof(c.hdr));
      EXPECT_EQ(size, sizeof(c.hdr) + c.hdr.cap_len) << "a record is as long as its capture";
      const auto* p = static_cast<const uint8_t*>(data) + sizeof(c.hdr);
      c.data.assign(p, p + std::min<size_t>(c.hdr.cap_len, size - sizeof(c.hdr)));
      v->push_back(std::move(c));
      return 0;
    };
    ring_buffer* rb = ring_buffer__new(MapFd(XVR_MAP_CAPTURE), cb, &out, nullptr);
    if (!rb) {
      ADD_FAILURE() << "ring_buffer__new(" XVR_MAP_CAPTURE "): " << std::strerror(errno);
      return out;
    }
    const int n = ring_buffer__consume(rb);
    if (n < 0) ADD_FAILURE() << "ring_buffer__consume: " << std::strerror(-n);
    ring_buffer__free(rb);
    return out;
  }

  xvr_capture_stats Stats() {
    std::vector<xvr_capture_stats> v(static_cast<size_t>(libbpf_num_possible_cpus()));
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(MapFd(XVR_MAP_CAP_STATS), &zero, v.data()), 0)
        << std::strerror(errno);
    xvr_capture_stats s{};
    for (const auto& x : v) {
      s.captured += x.captured;
      s.lost += x.lost;
    }
    return s;
  }
};

class PodCaptureTest : public CaptureFixture, public ::testing::WithParamInterface<Program> {
 protected:
  void SetUp() override {
    CaptureFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(GetParam()));
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
  }

  static Bytes Forward(size_t payload = 32) {
    return PacketBuilder()
        .Eth(kPodA.mac, kPodA.host_mac)
        .IPv4(kPodA.ip, kPodB.ip)
        .UDP(1234, 5678)
        .Payload(Bytes(payload, 0x11))
        .Build();
  }

  // Another pod's source address: dropped, spoofed_source_ip.
  static Bytes Spoofed(size_t payload = 32) {
    return PacketBuilder()
        .Eth(kPodA.mac, kPodA.host_mac)
        .IPv4(kUnusedPodIp, kPodB.ip)
        .UDP(1234, 5678)
        .Payload(Bytes(payload, 0x42))
        .Build();
  }

  // Runs both packets, checks their actions; returns the forwarded frame.
  void RunBoth(RunResult* fwd) {
    ASSERT_NO_FATAL_FAILURE(Run(Forward(), pod_a_.ifindex, fwd));
    ASSERT_EQ(fwd->retval, ActionFor(program(), XVR_VERDICT_REDIRECT));
    RunResult drop;
    ASSERT_NO_FATAL_FAILURE(Run(Spoofed(), pod_a_.ifindex, &drop));
    ASSERT_EQ(drop.retval, ActionFor(program(), XVR_VERDICT_DROP));
  }

  size_t CapturedWith(const xvr_capture_cfg& c) {
    EXPECT_NO_FATAL_FAILURE(SetCapture(c));
    RunResult fwd;
    EXPECT_NO_FATAL_FAILURE(RunBoth(&fwd));
    return Consume().size();
  }
};

TEST_P(PodCaptureTest, OffCapturesNothing) {
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  EXPECT_TRUE(Consume().empty());
  // Explicitly disabled, filters and all.
  xvr_capture_cfg c = CaptureAll();
  c.enabled = 0;
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  EXPECT_TRUE(Consume().empty());
  EXPECT_EQ(Stats().captured, 0u);
}

TEST_P(PodCaptureTest, RedirectedAndDroppedPacketsAreCapturedWithTheirVerdict) {
  ASSERT_NO_FATAL_FAILURE(SetCapture(CaptureAll()));
  const uint64_t t0 = MonotonicNs();
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  const std::vector<Captured> got = Consume();
  ASSERT_EQ(got.size(), 2u);

  const Captured& r = got[0];
  EXPECT_EQ(r.hdr.gen, kGen);
  EXPECT_EQ(r.hdr.hook, hook());
  EXPECT_EQ(r.hdr.verdict, XVR_VERDICT_REDIRECT);
  EXPECT_EQ(r.hdr.reason, XVR_R_OK);
  EXPECT_EQ(r.hdr.ifindex, static_cast<uint32_t>(pod_a_.ifindex));
  EXPECT_EQ(r.hdr.pkt_len, Forward().size());
  EXPECT_EQ(r.hdr.cap_len, Forward().size());
  EXPECT_EQ(r.hdr.cpu, static_cast<uint32_t>(sched_getcpu()));
  EXPECT_GE(r.hdr.ts_ns, t0);
  EXPECT_LE(r.hdr.ts_ns, MonotonicNs());
  // The frame as the program leaves it: pod B's MACs, TTL - 1.
  EXPECT_TRUE(r.data == fwd.out) << DescribeMismatch(fwd.out, r.data);
  EXPECT_FALSE(r.data == Forward());

  const Captured& d = got[1];
  EXPECT_EQ(d.hdr.hook, hook());
  EXPECT_EQ(d.hdr.verdict, XVR_VERDICT_DROP);
  EXPECT_EQ(d.hdr.reason, XVR_R_SPOOFED_IP);
  EXPECT_EQ(d.hdr.ifindex, static_cast<uint32_t>(pod_a_.ifindex));
  EXPECT_EQ(d.hdr.pkt_len, Spoofed().size());
  EXPECT_TRUE(d.data == Spoofed()) << DescribeMismatch(Spoofed(), d.data);
  EXPECT_EQ(Counter(hook(), XVR_VERDICT_DROP, XVR_R_SPOOFED_IP).packets, 1u);

  const xvr_capture_stats st = Stats();
  EXPECT_EQ(st.captured, 2u);
  EXPECT_EQ(st.lost, 0u);
}

TEST_P(PodCaptureTest, FiltersExclude) {
  xvr_capture_cfg c = CaptureAll();
  c.ip = kPodC.ip.be32();  // neither end
  EXPECT_EQ(CapturedWith(c), 0u) << "ip filter";
  c.ip = kPodB.ip.be32();  // destination of both
  EXPECT_EQ(CapturedWith(c), 2u) << "ip filter (destination)";
  c.ip = kPodA.ip.be32();  // source of the forwarded packet only
  EXPECT_EQ(CapturedWith(c), 1u) << "ip filter (source)";

  c = CaptureAll();
  c.flags = XVR_CAP_F_REASON;
  c.reason = XVR_R_TTL_EXCEEDED;
  EXPECT_EQ(CapturedWith(c), 0u) << "reason filter";
  c.reason = XVR_R_SPOOFED_IP;
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  std::vector<Captured> got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.reason, XVR_R_SPOOFED_IP);
  c.reason = XVR_R_OK;  // reason 0 with the flag: only "ok"
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.verdict, XVR_VERDICT_REDIRECT);

  c = CaptureAll();
  c.hook_mask = ~(1u << hook()) & ((1u << XVR_HOOK_MAX) - 1);
  EXPECT_EQ(CapturedWith(c), 0u) << "hook filter";
  c.hook_mask = 1u << hook();
  EXPECT_EQ(CapturedWith(c), 2u) << "hook filter (this hook)";

  c = CaptureAll();
  c.verdict_mask = (1u << XVR_VERDICT_PASS) | (1u << XVR_VERDICT_TX);
  EXPECT_EQ(CapturedWith(c), 0u) << "verdict filter";
  c.verdict_mask = 1u << XVR_VERDICT_DROP;
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.verdict, XVR_VERDICT_DROP);
}

TEST_P(PodCaptureTest, SnaplenCutsTheCopyNotTheLength) {
  xvr_capture_cfg c = CaptureAll();
  c.snaplen = 40;
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  const Bytes pkt = Spoofed(300);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(pkt, pod_a_.ifindex, &r));
  std::vector<Captured> got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.pkt_len, pkt.size());
  EXPECT_EQ(got[0].hdr.cap_len, 40u);
  EXPECT_TRUE(got[0].data == Truncate(pkt, 40)) << DescribeMismatch(Truncate(pkt, 40), got[0].data);

  // A full 1500-byte IP packet fits whole under the maximum.
  ASSERT_NO_FATAL_FAILURE(SetCapture(CaptureAll()));
  const Bytes big = Spoofed(1500 - 20 - 8);
  ASSERT_EQ(big.size(), 1514u);
  ASSERT_NO_FATAL_FAILURE(Run(big, pod_a_.ifindex, &r));
  got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.cap_len, 1514u);
  EXPECT_TRUE(got[0].data == big) << DescribeMismatch(big, got[0].data);
}

TEST_P(PodCaptureTest, AStaleCaptureDisarmsItself) {
  xvr_capture_cfg c = CaptureAll();
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  // Its owner last refreshed it more than XVR_CAP_STALE_NS ago.
  c.heartbeat_ns = MonotonicNs() - XVR_CAP_STALE_NS - 1000000000ull;
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_CAP_CFG), &zero, &c, BPF_ANY), 0);
  RunResult fwd;
  ASSERT_NO_FATAL_FAILURE(RunBoth(&fwd));
  EXPECT_TRUE(Consume().empty());
}

INSTANTIATE_TEST_SUITE_P(Pod, PodCaptureTest, ::testing::Values(Program::kXdpPod, Program::kTcPod),
                         [](const ::testing::TestParamInfo<Program>& i) {
                           return std::string(i.param == Program::kXdpPod ? "XdpPod" : "TcPod");
                         });

// xdp_fabric: a VXLAN packet matches the filter by its inner addresses.
class FabricCaptureTest : public CaptureFixture {
 protected:
  void SetUp() override {
    CaptureFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NO_FATAL_FAILURE(LoadProgram(Program::kXdpFabric));
    ASSERT_NO_FATAL_FAILURE(CreateFabric());
    ASSERT_NO_FATAL_FAILURE(SeedTopology());
    ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(Node1Overlay(DefaultNodeConfig(), fabric_.ifindex)));
  }

  // Node 2's pod to pod A, encapsulated with `vni`.
  static Bytes Encapsulated(uint32_t vni) {
    const Bytes inner = PacketBuilder()
                            .Eth(kVtep2Mac, kVtep1Mac)
                            .IPv4(kRemotePodIp, kPodA.ip)
                            .UDP(1234, 5678)
                            .Payload(Bytes(24, 0x33))
                            .Build();
    return VxlanEncap({.src_mac = kNode2Mac, .dst_mac = kFabricMac, .src = kNode2Ip,
                       .dst = kNode1Ip, .vni = vni},
                      inner);
  }
};

TEST_F(FabricCaptureTest, VxlanMatchesOnTheInnerAddress) {
  xvr_capture_cfg c = CaptureAll();
  c.ip = kRemotePodIp.be32();  // only inside the tunnel
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  const Bytes bad_vni = Encapsulated(77);
  RunResult r;
  ASSERT_NO_FATAL_FAILURE(Run(bad_vni, fabric_.ifindex, &r));
  ASSERT_EQ(r.retval, static_cast<uint32_t>(XDP_DROP));
  std::vector<Captured> got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.hook, XVR_HOOK_XDP_FABRIC);
  EXPECT_EQ(got[0].hdr.verdict, XVR_VERDICT_DROP);
  EXPECT_EQ(got[0].hdr.reason, XVR_R_VXLAN_BAD_VNI);
  EXPECT_EQ(got[0].hdr.ifindex, static_cast<uint32_t>(fabric_.ifindex));
  EXPECT_TRUE(got[0].data == bad_vni) << DescribeMismatch(bad_vni, got[0].data);

  // Decapsulated and redirected to pod A: the record is the inner frame.
  const Bytes good = Encapsulated(1);
  ASSERT_NO_FATAL_FAILURE(Run(good, fabric_.ifindex, &r));
  ASSERT_EQ(r.retval, static_cast<uint32_t>(XDP_REDIRECT));
  got = Consume();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].hdr.verdict, XVR_VERDICT_REDIRECT);
  EXPECT_EQ(got[0].hdr.pkt_len, good.size() - kVxlanEncapLen);
  EXPECT_TRUE(got[0].data == r.out) << DescribeMismatch(r.out, got[0].data);

  // Another address, inside or out: nothing.
  c.ip = kPodC.ip.be32();
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(Run(bad_vni, fabric_.ifindex, &r));
  EXPECT_TRUE(Consume().empty());
  // The outer address matches too.
  c.ip = kNode2Ip.be32();
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(Run(bad_vni, fabric_.ifindex, &r));
  EXPECT_EQ(Consume().size(), 1u);
  // Without the VXLAN port the inner header is not looked at.
  c.ip = kRemotePodIp.be32();
  c.vxlan_port = htons(kVxlanPortLinux);
  ASSERT_NO_FATAL_FAILURE(SetCapture(c));
  ASSERT_NO_FATAL_FAILURE(Run(bad_vni, fabric_.ifindex, &r));
  EXPECT_TRUE(Consume().empty());
}

}  // namespace
}  // namespace xvr::test

// Ring-buffer records built by hand, byte for byte as the data path writes
// them, decoded and dispatched to observers.
#include <cstring>
#include <vector>

#include "agent/events/drop_events.h"
#include "flow_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

using test::Ip;
using test::Key;
using test::RecordingObserver;

// Ethernet + IPv4 (+ 4 bytes of L4 ports) as the programs capture it.
std::vector<uint8_t> Frame(const char* src, const char* dst, uint8_t proto, uint16_t sport,
                           uint16_t dport) {
  std::vector<uint8_t> f(14 + 20 + 8, 0);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  ip[2] = 0;
  ip[3] = 28;
  ip[8] = 64;
  ip[9] = proto;
  const uint32_t s = Ip(src), d = Ip(dst);
  std::memcpy(ip + 12, &s, 4);
  std::memcpy(ip + 16, &d, 4);
  uint8_t* l4 = ip + 20;
  l4[0] = sport >> 8;
  l4[1] = sport & 0xff;
  l4[2] = dport >> 8;
  l4[3] = dport & 0xff;
  return f;
}

std::vector<uint8_t> DropBytes(uint16_t reason, const std::vector<uint8_t>& frame,
                               uint64_t ts = 5000) {
  xvr_drop_event ev{};
  ev.hdr.ts_ns = ts;
  ev.hdr.type = XVR_EVENT_DROP;
  ev.hdr.ifindex = 12;
  ev.hdr.hook = XVR_HOOK_TC_POD;
  ev.hdr.verdict = XVR_VERDICT_DROP;
  ev.hdr.reason = reason;
  ev.hdr.cap_len = static_cast<uint16_t>(frame.size());
  ev.hdr.pkt_len = 98;
  ev.hdr.cpu = 1;
  std::memcpy(ev.data, frame.data(), frame.size());
  std::vector<uint8_t> b(sizeof(ev));
  std::memcpy(b.data(), &ev, sizeof(ev));
  return b;
}

xvr_flow_event FlowEventStruct(uint32_t type) {
  xvr_flow_event ev{};
  ev.hdr.ts_ns = 7 * test::kSec;
  ev.hdr.type = type;
  ev.hdr.ifindex = 9;
  ev.hdr.hook = XVR_HOOK_XDP_POD;
  ev.hdr.reason = type == XVR_EVENT_FLOW_END ? XVR_FLOW_END_POLICY : 0;
  ev.hdr.pkt_len = 74;
  ev.key = Key("10.244.1.2", 41000, "10.244.2.5", 8080, IPPROTO_TCP);
  ev.src_identity = 300;
  ev.dst_identity = 301;
  ev.svc_addr = Ip("10.96.0.20");
  ev.svc_port = htons(80);
  ev.state = XVR_FLOW_S_SYN_SENT;
  ev.flags = XVR_FLOW_F_SVC | XVR_FLOW_F_EGRESS;
  ev.packets = 1;
  ev.bytes = 74;
  ev.rev_packets = type == XVR_EVENT_FLOW_END ? 6 : 0;
  ev.rev_bytes = type == XVR_EVENT_FLOW_END ? 900 : 0;
  return ev;
}

template <typename T>
std::vector<uint8_t> Bytes(const T& v) {
  std::vector<uint8_t> b(sizeof(v));
  std::memcpy(b.data(), &v, sizeof(v));
  return b;
}

class EventReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { observers_.Add(&rec_); }
  FlowObserverSet observers_;
  RecordingObserver rec_;
};

TEST_F(EventReaderTest, DropIsDecodedNumberedAndDispatched) {
  DropEventReader reader(256, &observers_);
  const auto b = DropBytes(XVR_R_POLICY_INGRESS,
                           Frame("10.244.1.2", "10.244.1.3", IPPROTO_TCP, 40000, 80));
  reader.Dispatch(b.data(), b.size());
  reader.Dispatch(b.data(), b.size());
  ASSERT_EQ(reader.Recent().size(), 2u);
  const DropRecord r = reader.Recent()[1];
  EXPECT_EQ(r.seq, 2u);
  EXPECT_EQ(r.hook, "tc_pod");
  EXPECT_EQ(r.reason, "policy_denied_ingress");
  EXPECT_EQ(r.reason_code, static_cast<uint32_t>(XVR_R_POLICY_INGRESS));
  EXPECT_EQ(r.ifindex, 12u);
  EXPECT_EQ(r.pkt_len, 98u);
  ASSERT_TRUE(r.has_ip);
  EXPECT_EQ(r.src.ToString(), "10.244.1.2");
  EXPECT_EQ(r.dst.ToString(), "10.244.1.3");
  EXPECT_EQ(r.sport, 40000);
  EXPECT_EQ(r.dport, 80);
  EXPECT_EQ(r.proto, IPPROTO_TCP);
  EXPECT_EQ(r.summary, "10.244.1.2:40000 > 10.244.1.3:80 tcp");
  EXPECT_GT(r.wall_ns, 0u);
  ASSERT_EQ(rec_.drops.size(), 2u);
  EXPECT_EQ(rec_.drops[1].seq, 2u);
  EXPECT_EQ(reader.total(), 2u);
  EXPECT_EQ(reader.counts().drops, 2u);

  const nlohmann::json j = reader.ToJson();  // the old /v1/drops shape, extended
  EXPECT_EQ(j["total"], 2);
  EXPECT_EQ(j["drops"][0]["summary"], "10.244.1.2:40000 > 10.244.1.3:80 tcp");
  EXPECT_EQ(j["drops"][0]["tsNs"], 5000);
  EXPECT_EQ(j["drops"][0]["seq"], 1);
  EXPECT_EQ(j["drops"][0]["dport"], 80);
}

TEST_F(EventReaderTest, NonIpDropKeepsItsSummaryWithoutATuple) {
  DropEventReader reader;
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  const auto b = DropBytes(XVR_R_BAD_ARP, arp);
  reader.Dispatch(b.data(), b.size());
  ASSERT_EQ(reader.Recent().size(), 1u);
  EXPECT_FALSE(reader.Recent()[0].has_ip);
  EXPECT_EQ(reader.Recent()[0].summary, "ethertype 0x0806");
  EXPECT_FALSE(DropToJson(reader.Recent()[0]).contains("src"));
}

TEST_F(EventReaderTest, SinceReturnsNewerDropsAndCountsMissedOnes) {
  DropEventReader reader(3);
  const auto b = DropBytes(XVR_R_SPOOFED_IP, Frame("1.1.1.1", "2.2.2.2", IPPROTO_UDP, 1, 2));
  for (int i = 0; i < 5; ++i) reader.Dispatch(b.data(), b.size());
  uint64_t next = 0, missed = 0;
  std::vector<DropRecord> got = reader.Since(0, &next, &missed);
  ASSERT_EQ(got.size(), 3u);  // only 3 kept
  EXPECT_EQ(got[0].seq, 3u);
  EXPECT_EQ(next, 5u);
  EXPECT_EQ(missed, 2u);
  got = reader.Since(4, &next, &missed);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 5u);
  EXPECT_EQ(missed, 0u);
  got = reader.Since(5, &next, &missed);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(next, 5u);
  // A seq from an earlier agent run (beyond ours): everything kept.
  got = reader.Since(1000, &next, &missed);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(next, 5u);
}

TEST_F(EventReaderTest, FlowNewIsACreatedFlowAndAPacketOfInterest) {
  DropEventReader reader(256, &observers_);
  xvr_flow_event ev = FlowEventStruct(XVR_EVENT_FLOW_NEW);
  const auto frame = Frame("10.244.1.2", "10.96.0.20", IPPROTO_TCP, 41000, 80);
  std::memcpy(ev.data, frame.data(), frame.size());
  ev.hdr.cap_len = static_cast<uint16_t>(frame.size());
  const auto b = Bytes(ev);
  reader.Dispatch(b.data(), b.size());
  ASSERT_EQ(rec_.created.size(), 1u);
  const FlowRecord& f = rec_.created[0];
  EXPECT_EQ(f.src().ToString(), "10.244.1.2");
  EXPECT_EQ(f.dst().ToString(), "10.244.2.5");
  EXPECT_EQ(f.sport(), 41000);
  EXPECT_EQ(f.dport(), 8080);
  EXPECT_EQ(f.proto(), IPPROTO_TCP);
  EXPECT_EQ(f.state, XVR_FLOW_S_SYN_SENT);
  EXPECT_TRUE(f.is_service());
  EXPECT_EQ(f.svc_addr().ToString(), "10.96.0.20");
  EXPECT_EQ(f.svc_port, 80);
  EXPECT_EQ(f.src_identity, 300u);
  EXPECT_EQ(f.dst_identity, 301u);
  EXPECT_EQ(f.created_ns, 7 * test::kSec);
  EXPECT_EQ(f.hook, XVR_HOOK_XDP_POD);
  EXPECT_EQ(f.ifindex, 9u);
  EXPECT_EQ(f.packets, 1u);
  ASSERT_EQ(rec_.packets.size(), 1u);
  const PacketOfInterest& p = rec_.packets[0];
  EXPECT_EQ(p.cap_len, frame.size());
  EXPECT_EQ(std::memcmp(p.headers.data(), frame.data(), frame.size()), 0);
  EXPECT_EQ(p.pkt_len, 74u);
  EXPECT_EQ(p.flow.dport(), 8080);
  EXPECT_EQ(reader.counts().flow_new, 1u);
  EXPECT_TRUE(rec_.ended.empty());
  EXPECT_TRUE(reader.Recent().empty());  // not a drop
}

TEST_F(EventReaderTest, FlowEndIsAPolicyEndWithBothDirections) {
  DropEventReader reader(256, &observers_);
  const auto b = Bytes(FlowEventStruct(XVR_EVENT_FLOW_END));
  reader.Dispatch(b.data(), b.size());
  ASSERT_EQ(rec_.ended.size(), 1u);
  EXPECT_EQ(rec_.ended[0].second, EndReason::kPolicy);
  EXPECT_EQ(rec_.ended[0].first.reply_packets, 6u);
  EXPECT_EQ(rec_.ended[0].first.reply_bytes, 900u);
  EXPECT_EQ(rec_.ended[0].first.created_ns, 0u);  // unknown from the event
  EXPECT_TRUE(rec_.created.empty());
  EXPECT_TRUE(rec_.packets.empty());
  EXPECT_EQ(reader.counts().flow_end, 1u);
}

TEST_F(EventReaderTest, ShortCapturesAndRecordsAreClampedOrCounted) {
  DropEventReader reader(256, &observers_);
  // cap_len claims more than the record holds: only what is there is read.
  xvr_flow_event ev = FlowEventStruct(XVR_EVENT_FLOW_NEW);
  ev.hdr.cap_len = 64;
  auto b = Bytes(ev);
  b.resize(offsetof(xvr_flow_event, data) + 10);
  reader.Dispatch(b.data(), b.size());
  ASSERT_EQ(rec_.packets.size(), 1u);
  EXPECT_EQ(rec_.packets[0].cap_len, 10u);

  // Shorter than the flow fields, shorter than a header, of a newer type.
  b.resize(offsetof(xvr_flow_event, packets));
  reader.Dispatch(b.data(), b.size());
  std::vector<uint8_t> tiny(8, 0);
  reader.Dispatch(tiny.data(), tiny.size());
  xvr_event_hdr other{};
  other.type = 99;
  const auto o = Bytes(other);
  reader.Dispatch(o.data(), o.size());
  EXPECT_EQ(reader.counts().malformed, 2u);
  EXPECT_EQ(reader.counts().unknown, 1u);
  EXPECT_EQ(rec_.created.size(), 1u);
}

TEST(FlowObserverSet, EveryObserverHearsEachEventAndRemoveStopsIt) {
  FlowObserverSet set;
  RecordingObserver a, b;
  set.Add(&a);
  set.Add(&b);
  set.Add(&a);  // once only
  EXPECT_EQ(set.size(), 2u);
  FlowRecord f;
  set.NotifyEnded(f, EndReason::kTimeout);
  set.Remove(&a);
  set.NotifyEnded(f, EndReason::kFlushed);
  EXPECT_EQ(a.ended.size(), 1u);
  EXPECT_EQ(b.ended.size(), 2u);
}

}  // namespace
}  // namespace xvr

#include "agent/flows/flow_table.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "flow_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

using test::Entry;
using test::FakeFlowMaps;
using test::Ip;
using test::kSec;
using test::Key;
using test::PairSpec;
using test::RealMaps;
using test::RecordingObserver;
using test::Rev;

TEST(FlowTimeouts, DefaultsByProtocolAndState) {
  const FlowTimeouts t;
  struct Row {
    uint8_t proto;
    uint8_t state;
    uint64_t seconds;
  } rows[] = {
      {IPPROTO_TCP, XVR_FLOW_S_SYN_SENT, 60},     {IPPROTO_TCP, XVR_FLOW_S_SYN_RECV, 60},
      {IPPROTO_TCP, XVR_FLOW_S_ESTABLISHED, 21600}, {IPPROTO_TCP, XVR_FLOW_S_FIN_WAIT, 30},
      {IPPROTO_TCP, XVR_FLOW_S_CLOSED, 10},       {IPPROTO_UDP, XVR_FLOW_S_UNREPLIED, 30},
      {IPPROTO_UDP, XVR_FLOW_S_REPLIED, 120},     {IPPROTO_ICMP, XVR_FLOW_S_UNREPLIED, 30},
      {IPPROTO_ICMP, XVR_FLOW_S_REPLIED, 30},     {IPPROTO_SCTP, XVR_FLOW_S_REPLIED, 120},
      {IPPROTO_SCTP, XVR_FLOW_S_UNREPLIED, 30},   {47 /* GRE */, XVR_FLOW_S_REPLIED, 60},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(FlowTimeoutNs(t, r.proto, r.state), r.seconds * kSec)
        << ProtoName(r.proto) << " " << FlowStateName(r.state);
  }
  FlowTimeouts custom;
  custom.tcp_established = 7;
  custom.other = 3;
  EXPECT_EQ(FlowTimeoutNs(custom, IPPROTO_TCP, XVR_FLOW_S_ESTABLISHED), 7 * kSec);
  EXPECT_EQ(FlowTimeoutNs(custom, 112, XVR_FLOW_S_UNREPLIED), 3 * kSec);
}

TEST(PairFlowEntries, ForwardAndReplyFoldIntoOneRecord) {
  PairSpec p{Key("10.244.1.2", 40000, "10.244.1.3", 80, IPPROTO_TCP)};
  p.fwd_last_ns = 5 * kSec;
  p.rev_last_ns = 9 * kSec;
  p.svc_addr = Ip("10.96.0.10");
  p.svc_port = 8080;
  std::vector<FlowEntry> entries = {{Rev(p.key), Entry(p, true)}, {p.key, Entry(p, false)}};
  std::vector<FlowRecord> r = PairFlowEntries(entries);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].src().ToString(), "10.244.1.2");
  EXPECT_EQ(r[0].dst().ToString(), "10.244.1.3");
  EXPECT_EQ(r[0].sport(), 40000);
  EXPECT_EQ(r[0].dport(), 80);
  EXPECT_EQ(r[0].packets, 3u);
  EXPECT_EQ(r[0].bytes, 300u);
  EXPECT_EQ(r[0].reply_packets, 2u);
  EXPECT_EQ(r[0].reply_bytes, 200u);
  EXPECT_EQ(r[0].last_ns, 9 * kSec);  // the later direction
  EXPECT_EQ(r[0].created_ns, 1 * kSec);
  EXPECT_EQ(r[0].src_identity, 256u);
  EXPECT_EQ(r[0].dst_identity, 257u);
  EXPECT_TRUE(r[0].is_service());
  EXPECT_EQ(r[0].svc_addr().ToString(), "10.96.0.10");
  EXPECT_EQ(r[0].svc_port, 8080);
  EXPECT_EQ(r[0].flags & XVR_FLOW_F_REPLY, 0);
  EXPECT_FALSE(r[0].orphan());
}

TEST(PairFlowEntries, IcmpEchoRequestAndReplyPair) {
  // Request: sport = identifier, dport = 0; reply: sport = 0, dport = id.
  PairSpec p{Key("10.244.1.2", 0x1234, "8.8.8.8", 0, IPPROTO_ICMP), XVR_FLOW_S_REPLIED};
  const xvr_flow_key reply = Key("8.8.8.8", 0, "10.244.1.2", 0x1234, IPPROTO_ICMP);
  std::vector<FlowEntry> entries = {{p.key, Entry(p, false)}, {reply, Entry(p, true)}};
  std::vector<FlowRecord> r = PairFlowEntries(entries);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].sport(), 0x1234);
  EXPECT_EQ(r[0].dport(), 0);
  EXPECT_EQ(r[0].reply_packets, 2u);
  const xvr_flow_key rk = r[0].reply_key();
  EXPECT_EQ(std::memcmp(&rk, &reply, sizeof(reply)), 0);
}

TEST(PairFlowEntries, HalfPairsBecomeOrphanRecords) {
  PairSpec a{Key("10.0.0.1", 1000, "10.0.0.2", 80, IPPROTO_TCP)};
  PairSpec b{Key("10.0.0.3", 2000, "10.0.0.4", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  // a lost its reply entry, b its forward entry.
  std::vector<FlowEntry> entries = {{a.key, Entry(a, false)}, {Rev(b.key), Entry(b, true)}};
  std::vector<FlowRecord> r = PairFlowEntries(entries);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].has_forward);
  EXPECT_FALSE(r[0].has_reply);
  EXPECT_EQ(r[0].packets, 3u);
  EXPECT_EQ(r[0].reply_packets, 0u);
  // The orphan reply entry is reported under its forward tuple.
  EXPECT_EQ(r[1].src().ToString(), "10.0.0.3");
  EXPECT_EQ(r[1].dport(), 53);
  EXPECT_FALSE(r[1].has_forward);
  EXPECT_TRUE(r[1].has_reply);
  EXPECT_EQ(r[1].packets, 0u);
  EXPECT_EQ(r[1].reply_packets, 2u);
  EXPECT_EQ(r[1].state, XVR_FLOW_S_REPLIED);
}

// ---- FlowTable on three backends -------------------------------------------

enum class Backend { kLruBatch, kLruIterate, kFake };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kLruBatch:
      return "LruHashBatch";
    case Backend::kLruIterate:
      return "LruHashIterate";
    case Backend::kFake:
      return "Fake";
  }
  return "?";
}

class FlowTableTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kFake) {
      fake_ = std::make_unique<FakeFlowMaps>(Capacity());
      return;
    }
    real_ = RealMaps::Create(Capacity());
    if (!real_.ok()) GTEST_SKIP() << "cannot create BPF maps (not root?): " << std::strerror(errno);
    if (GetParam() == Backend::kLruIterate) real_.maps->set_use_batch(false);
  }

  virtual uint32_t Capacity() const { return 8192; }
  FlowMaps* maps() { return fake_ ? static_cast<FlowMaps*>(fake_.get()) : real_.maps.get(); }
  void PutPair(const PairSpec& p) { fake_ ? fake_->PutPair(p) : real_.PutPair(p); }
  void Put(const xvr_flow_key& k, const xvr_flow& v) { fake_ ? fake_->Put(k, v) : real_.Put(k, v); }
  bool Has(const xvr_flow_key& k) { return fake_ ? fake_->Has(k) : real_.Has(k); }
  void SetCounter(uint32_t slot, uint64_t v) {
    if (fake_) {
      fake_->counters[slot] = v;
    } else {
      real_.SetCounter(slot, v);
    }
  }

  std::unique_ptr<FlowTable> Table(PodNameFn pod_name = nullptr) {
    FlowTableOptions o;
    o.now_ns = [this] { return now_; };
    o.observers = &observers_;
    o.pod_name = std::move(pod_name);
    o.gc_interval_s = 1;
    observers_.Add(&rec_);
    return std::make_unique<FlowTable>(maps(), std::move(o));
  }

  uint64_t now_ = 100000 * kSec;
  std::unique_ptr<FakeFlowMaps> fake_;
  RealMaps real_;
  FlowObserverSet observers_;
  RecordingObserver rec_;
};

TEST_P(FlowTableTest, GcAgesEveryProtocolAndStateByItsTimeout) {
  struct Row {
    uint8_t proto;
    uint8_t state;
    uint64_t timeout_s;
    EndReason reason;
  } rows[] = {
      {IPPROTO_TCP, XVR_FLOW_S_SYN_SENT, 60, EndReason::kTimeout},
      {IPPROTO_TCP, XVR_FLOW_S_SYN_RECV, 60, EndReason::kTimeout},
      {IPPROTO_TCP, XVR_FLOW_S_ESTABLISHED, 21600, EndReason::kTimeout},
      {IPPROTO_TCP, XVR_FLOW_S_FIN_WAIT, 30, EndReason::kTimeout},
      {IPPROTO_TCP, XVR_FLOW_S_CLOSED, 10, EndReason::kClosed},
      {IPPROTO_UDP, XVR_FLOW_S_UNREPLIED, 30, EndReason::kTimeout},
      {IPPROTO_UDP, XVR_FLOW_S_REPLIED, 120, EndReason::kTimeout},
      {IPPROTO_ICMP, XVR_FLOW_S_REPLIED, 30, EndReason::kTimeout},
      {IPPROTO_SCTP, XVR_FLOW_S_REPLIED, 120, EndReason::kTimeout},
      {IPPROTO_SCTP, XVR_FLOW_S_UNREPLIED, 30, EndReason::kTimeout},
      {47, XVR_FLOW_S_UNREPLIED, 60, EndReason::kTimeout},
  };
  std::vector<xvr_flow_key> fresh, stale;
  uint16_t port = 1000;
  for (const Row& r : rows) {
    for (bool expired : {false, true}) {
      PairSpec p{Key("10.244.1.2", port++, "10.244.1.3", 80, r.proto), r.state};
      // One second inside or outside the timeout, in both directions.
      p.fwd_last_ns = p.rev_last_ns = now_ - (r.timeout_s + (expired ? 1 : -1)) * kSec;
      p.created_ns = p.fwd_last_ns - kSec;
      PutPair(p);
      (expired ? stale : fresh).push_back(p.key);
    }
  }
  auto table = Table();
  absl::StatusOr<GcResult> gc = table->RunGc();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->pairs, 2 * std::size(rows));
  EXPECT_EQ(gc->expired, std::size(rows));
  EXPECT_EQ(gc->entries_deleted, 2 * std::size(rows));
  for (const xvr_flow_key& k : fresh) {
    EXPECT_TRUE(Has(k) && Has(Rev(k))) << "port " << ntohs(k.sport);
  }
  for (const xvr_flow_key& k : stale) {
    EXPECT_FALSE(Has(k) || Has(Rev(k))) << "port " << ntohs(k.sport);
  }
  ASSERT_EQ(rec_.ended.size(), std::size(rows));
  for (const auto& [flow, reason] : rec_.ended) {
    const Row* row = nullptr;
    for (const Row& r : rows) {
      if (r.proto == flow.proto() && r.state == flow.state) row = &r;
    }
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(reason, row->reason) << ProtoName(flow.proto()) << " " << FlowStateName(flow.state);
    EXPECT_EQ(flow.packets, 3u);
    EXPECT_EQ(flow.reply_packets, 2u);
  }
  const FlowTableStats s = table->LastStats();
  EXPECT_EQ(s.ended[static_cast<size_t>(EndReason::kClosed)], 1u);
  EXPECT_EQ(s.ended[static_cast<size_t>(EndReason::kTimeout)], std::size(rows) - 1);
  EXPECT_EQ(s.live_pairs, std::size(rows));
  EXPECT_EQ(s.gc_runs, 1u);
  EXPECT_EQ(s.gc_deleted_pairs, std::size(rows));
  EXPECT_EQ(s.evicted, 0u);
}

TEST_P(FlowTableTest, IdleIsMeasuredFromTheLaterDirection) {
  PairSpec quiet_client{Key("10.0.0.1", 1, "10.0.0.2", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  quiet_client.fwd_last_ns = now_ - 1000 * kSec;
  quiet_client.rev_last_ns = now_ - 5 * kSec;
  PairSpec quiet_server{Key("10.0.0.1", 2, "10.0.0.2", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  quiet_server.fwd_last_ns = now_ - 5 * kSec;
  quiet_server.rev_last_ns = now_ - 1000 * kSec;
  PairSpec both_quiet{Key("10.0.0.1", 3, "10.0.0.2", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  both_quiet.fwd_last_ns = both_quiet.rev_last_ns = now_ - 121 * kSec;
  PutPair(quiet_client);
  PutPair(quiet_server);
  PutPair(both_quiet);
  auto table = Table();
  ASSERT_TRUE(table->RunGc().ok());
  EXPECT_TRUE(Has(quiet_client.key));
  EXPECT_TRUE(Has(quiet_server.key));
  EXPECT_FALSE(Has(both_quiet.key));
  EXPECT_FALSE(Has(Rev(both_quiet.key)));
}

TEST_P(FlowTableTest, OrphansAreListedCountedAndAged) {
  PairSpec fwd_only{Key("10.0.0.1", 1, "10.0.0.2", 80, IPPROTO_TCP)};
  fwd_only.fwd_last_ns = now_ - 5 * kSec;
  PairSpec rev_only{Key("10.0.0.1", 2, "10.0.0.2", 80, IPPROTO_TCP), XVR_FLOW_S_CLOSED};
  rev_only.rev_last_ns = now_ - 11 * kSec;
  Put(fwd_only.key, Entry(fwd_only, false));
  Put(Rev(rev_only.key), Entry(rev_only, true));
  auto table = Table();
  absl::StatusOr<std::vector<FlowRecord>> flows = table->List({});
  ASSERT_TRUE(flows.ok()) << flows.status();
  ASSERT_EQ(flows->size(), 2u);
  EXPECT_FALSE((*flows)[0].has_reply);
  EXPECT_FALSE((*flows)[1].has_forward);
  EXPECT_EQ(table->LastStats().orphans, 2u);
  EXPECT_EQ(table->LastStats().live_pairs, 2u);
  EXPECT_EQ(table->LastStats().live_entries, 2u);

  ASSERT_TRUE(table->RunGc().ok());
  ASSERT_EQ(rec_.ended.size(), 1u);
  EXPECT_EQ(rec_.ended[0].second, EndReason::kClosed);
  EXPECT_FALSE(Has(Rev(rev_only.key)));
  EXPECT_TRUE(Has(fwd_only.key));
  EXPECT_EQ(table->LastStats().orphans, 1u);
}

TEST_P(FlowTableTest, ListAndFlushFilter) {
  PairSpec web{Key("10.244.1.2", 40000, "10.244.1.3", 80, IPPROTO_TCP)};
  PairSpec dns{Key("10.244.1.2", 40001, "10.244.2.9", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  dns.svc_addr = Ip("10.96.0.10");
  dns.svc_port = 5353;
  PairSpec ping{Key("10.244.1.7", 9, "10.244.1.3", 0, IPPROTO_ICMP), XVR_FLOW_S_UNREPLIED};
  for (const PairSpec& p : {web, dns, ping}) PutPair(p);
  const PodNameFn names = [](uint32_t ip) -> std::string {
    if (ip == Ip("10.244.1.2")) return "default/client";
    if (ip == Ip("10.244.1.3")) return "default/server";
    return "";
  };
  auto table = Table(names);
  auto count = [&](FlowFilter f) {
    absl::StatusOr<std::vector<FlowRecord>> r = table->List(f);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->size() : size_t{999};
  };
  EXPECT_EQ(count({}), 3u);
  EXPECT_EQ(count({.proto = IPPROTO_UDP}), 1u);
  EXPECT_EQ(count({.state = XVR_FLOW_S_ESTABLISHED}), 1u);
  EXPECT_EQ(count({.ip = *Ipv4Addr::Parse("10.244.1.3")}), 2u);
  EXPECT_EQ(count({.ip = *Ipv4Addr::Parse("10.96.0.10")}), 1u);  // the service frontend
  EXPECT_EQ(count({.port = 5353}), 1u);                           // the service port
  EXPECT_EQ(count({.port = 40000}), 1u);
  EXPECT_EQ(count({.pod = "default/server"}), 2u);
  EXPECT_EQ(count({.pod = "default/client"}), 2u);
  EXPECT_EQ(count({.pod = "default/nobody"}), 0u);
  EXPECT_EQ(count({.pod = "default/client", .proto = IPPROTO_TCP}), 1u);

  absl::StatusOr<size_t> n = table->Flush({.pod = "default/server", .proto = IPPROTO_ICMP});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(Has(ping.key));
  EXPECT_FALSE(Has(Rev(ping.key)));
  EXPECT_TRUE(Has(web.key));
  ASSERT_EQ(rec_.ended.size(), 1u);
  EXPECT_EQ(rec_.ended[0].second, EndReason::kFlushed);

  n = table->Flush({});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(count({}), 0u);
  const FlowTableStats s = table->LastStats();
  EXPECT_EQ(s.ended[static_cast<size_t>(EndReason::kFlushed)], 3u);
  EXPECT_EQ(s.live_pairs, 0u);
  EXPECT_EQ(s.evicted, 0u);
}

TEST_P(FlowTableTest, StatsReportCapacityAndFill) {
  PutPair(PairSpec{Key("10.0.0.1", 1, "10.0.0.2", 80, IPPROTO_TCP)});
  PutPair(PairSpec{Key("10.0.0.1", 2, "10.0.0.2", 80, IPPROTO_TCP)});
  SetCounter(XVR_FS_REEVALUATED, 4);
  auto table = Table();
  absl::StatusOr<FlowTableStats> s = table->Stats();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->capacity, Capacity());
  EXPECT_EQ(s->live_entries, 4u);
  EXPECT_EQ(s->live_pairs, 2u);
  EXPECT_DOUBLE_EQ(s->fill, 4.0 / Capacity());
  EXPECT_EQ(s->counters[XVR_FS_REEVALUATED], 4u);
}

TEST_P(FlowTableTest, ReadsATableLargerThanOneBatch) {
  // 6000 entries: more than one 4096-entry lookup batch.
  for (uint16_t i = 0; i < 3000; ++i) {
    PutPair(PairSpec{Key("10.1.0.1", static_cast<uint16_t>(10000 + i), "10.1.0.2", 443,
                         IPPROTO_TCP)});
  }
  auto table = Table();
  absl::StatusOr<std::vector<FlowRecord>> flows = table->List({});
  ASSERT_TRUE(flows.ok()) << flows.status();
  EXPECT_EQ(flows->size(), 3000u);
  EXPECT_EQ(table->LastStats().orphans, 0u);
  EXPECT_EQ(table->LastStats().live_entries, 6000u);
}

TEST_P(FlowTableTest, GcThreadRunsAtOnceAndStops) {
  PairSpec old{Key("10.0.0.1", 1, "10.0.0.2", 80, IPPROTO_TCP), XVR_FLOW_S_CLOSED};
  old.fwd_last_ns = old.rev_last_ns = now_ - 60 * kSec;
  PutPair(old);
  auto table = Table();
  table->Start();
  for (int i = 0; i < 200 && table->LastStats().gc_runs == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  table->Stop();
  EXPECT_GE(table->LastStats().gc_runs, 1u);
  EXPECT_FALSE(Has(old.key));
}

INSTANTIATE_TEST_SUITE_P(Backends, FlowTableTest,
                         ::testing::Values(Backend::kLruBatch, Backend::kLruIterate,
                                           Backend::kFake),
                         BackendName);

// ---- Deleting keys that are already gone -----------------------------------

class BpfFlowMapsTest : public ::testing::TestWithParam<bool> {};

TEST_P(BpfFlowMapsTest, DeleteSkipsKeysAlreadyGone) {
  RealMaps real = RealMaps::Create(1024);
  if (!real.ok()) GTEST_SKIP() << "cannot create BPF maps (not root?)";
  real.maps->set_use_batch(GetParam());
  const PairSpec a{Key("10.0.0.1", 1, "10.0.0.2", 80, IPPROTO_TCP)};
  const PairSpec b{Key("10.0.0.1", 2, "10.0.0.2", 80, IPPROTO_TCP)};
  real.PutPair(a);
  real.PutPair(b);
  const xvr_flow_key gone1 = Key("10.9.9.9", 1, "10.0.0.2", 80, IPPROTO_TCP);
  const xvr_flow_key gone2 = Key("10.9.9.9", 2, "10.0.0.2", 80, IPPROTO_TCP);
  std::vector<size_t> missing;
  absl::StatusOr<size_t> n = real.maps->Delete({a.key, gone1, Rev(a.key), gone2, b.key}, &missing);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  EXPECT_THAT(missing, ::testing::ElementsAre(1, 3));
  EXPECT_FALSE(real.Has(a.key));
  EXPECT_FALSE(real.Has(b.key));
  EXPECT_TRUE(real.Has(Rev(b.key)));
  EXPECT_EQ(real.maps->Capacity(), 1024u);
}

INSTANTIATE_TEST_SUITE_P(BatchOrNot, BpfFlowMapsTest, ::testing::Bool());

// ---- Eviction accounting ----------------------------------------------------

TEST(FlowEvictions, ArithmeticFromCreatedEndedAndLive) {
  FakeFlowMaps maps;
  const uint64_t now = 1000 * kSec;
  auto pair = [&](uint16_t port) {
    PairSpec p{Key("10.0.0.1", port, "10.0.0.2", 80, IPPROTO_TCP)};
    p.fwd_last_ns = p.rev_last_ns = now - kSec;
    return p;
  };
  // Before the agent starts: 2 live pairs, 10 created over the map's life.
  maps.PutPair(pair(1));
  maps.PutPair(pair(2));
  maps.counters[XVR_FS_CREATED] = 10;
  FlowTableOptions o;
  o.now_ns = [&] { return now; };
  FlowTable table(&maps, o);
  auto stats = [&] {
    absl::StatusOr<FlowTableStats> s = table.Stats();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(FlowTableStats{});
  };
  EXPECT_EQ(stats().evicted, 0u);
  EXPECT_EQ(stats().created, 0u);

  // Three more pairs created.
  for (uint16_t p : {3, 4, 5}) maps.PutPair(pair(p));
  maps.counters[XVR_FS_CREATED] = 13;
  EXPECT_EQ(stats().created, 3u);
  EXPECT_EQ(stats().evicted, 0u);

  // The LRU takes a whole pair: nobody told.
  maps.Erase(pair(3).key);
  maps.Erase(Rev(pair(3).key));
  EXPECT_EQ(stats().evicted, 1u);

  // The agent flushes one: ended, not evicted.
  ASSERT_TRUE(table.Flush({.port = 4}).ok());
  EXPECT_EQ(stats().evicted, 1u);
  EXPECT_EQ(stats().ended[static_cast<size_t>(EndReason::kFlushed)], 1u);

  // A policy change denies one: the data path deletes it and counts it.
  maps.Erase(pair(5).key);
  maps.Erase(Rev(pair(5).key));
  maps.counters[XVR_FS_REEVAL_DENIED] = 1;
  EXPECT_EQ(stats().evicted, 1u);
  EXPECT_EQ(stats().ended[static_cast<size_t>(EndReason::kPolicy)], 1u);

  // The LRU takes half a pair: an orphan, still live.
  maps.Erase(Rev(pair(1).key));
  FlowTableStats s = stats();
  EXPECT_EQ(s.orphans, 1u);
  EXPECT_EQ(s.live_pairs, 2u);
  EXPECT_EQ(s.evicted, 1u);

  // Created but evicted before any scan saw it.
  maps.counters[XVR_FS_CREATED] = 15;
  EXPECT_EQ(stats().evicted, 3u);
}

TEST(FlowEvictions, PairGoneBetweenScanAndDeleteIsNotReportedAsEnded) {
  FakeFlowMaps maps;
  const uint64_t now = 1000 * kSec;
  PairSpec a{Key("10.0.0.1", 1, "10.0.0.2", 80, IPPROTO_TCP), XVR_FLOW_S_CLOSED};
  PairSpec b{Key("10.0.0.1", 2, "10.0.0.2", 80, IPPROTO_TCP), XVR_FLOW_S_CLOSED};
  a.fwd_last_ns = a.rev_last_ns = b.fwd_last_ns = b.rev_last_ns = now - 100 * kSec;
  maps.PutPair(a);
  maps.PutPair(b);
  maps.counters[XVR_FS_CREATED] = 2;
  FlowObserverSet observers;
  RecordingObserver rec;
  observers.Add(&rec);
  FlowTableOptions o;
  o.now_ns = [&] { return now; };
  o.observers = &observers;
  FlowTable table(&maps, o);
  ASSERT_TRUE(table.Stats().ok());  // baseline: 2 live, 2 created
  maps.after_dump = [&] {
    maps.Erase(b.key);  // evicted while the GC decides
    maps.Erase(Rev(b.key));
  };
  absl::StatusOr<GcResult> gc = table.RunGc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->expired, 1u);
  ASSERT_EQ(rec.ended.size(), 1u);
  EXPECT_EQ(rec.ended[0].first.sport(), 1);
  maps.after_dump = nullptr;
  absl::StatusOr<FlowTableStats> s = table.Stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ended[static_cast<size_t>(EndReason::kClosed)], 1u);
  EXPECT_EQ(s->evicted, 1u);
  EXPECT_EQ(s->live_pairs, 0u);
}

TEST(FlowEvictions, RealLruEvictionsAreCounted) {
  RealMaps real = RealMaps::Create(128);
  if (!real.ok()) GTEST_SKIP() << "cannot create BPF maps (not root?)";
  FlowTable table(real.maps.get(), FlowTableOptions{});
  ASSERT_TRUE(table.Stats().ok());  // baseline: empty
  constexpr uint64_t kPairs = 300;  // 600 entries into 128
  for (uint16_t i = 0; i < kPairs; ++i) {
    real.PutPair(PairSpec{Key("10.2.0.1", static_cast<uint16_t>(20000 + i), "10.2.0.2", 80,
                              IPPROTO_TCP)});
  }
  real.SetCounter(XVR_FS_CREATED, kPairs);
  absl::StatusOr<FlowTableStats> s = table.Stats();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_LE(s->live_entries, 128u);
  EXPECT_EQ(s->created, kPairs);
  EXPECT_GT(s->evicted, 0u);
  EXPECT_EQ(s->evicted, kPairs - s->live_pairs);
}

TEST(FlowTableErrors, AFailingMapIsAStatusAndCounted) {
  FakeFlowMaps maps;
  maps.fail = absl::PermissionDeniedError("nope");
  FlowTable table(&maps, FlowTableOptions{});
  EXPECT_EQ(table.RunGc().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(table.List({}).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(table.LastStats().gc_errors, 1u);
  EXPECT_EQ(table.LastStats().gc_last_error, "nope");
}

}  // namespace
}  // namespace xvr

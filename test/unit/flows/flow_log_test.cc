#include "agent/flows/flow_log.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "flow_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using json = nlohmann::ordered_json;
using test::Entry;
using test::Ip;
using test::kSec;
using test::Key;
using test::PairSpec;
using test::Rev;

FlowRecord DnsFlow() {
  PairSpec p{Key("10.244.1.2", 40001, "10.244.2.9", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
  p.svc_addr = Ip("10.96.0.10");
  p.svc_port = 53;
  p.created_ns = 10 * kSec;
  p.fwd_last_ns = 10 * kSec + 1000000;
  p.rev_last_ns = 10 * kSec + 2500000;
  const xvr_flow fwd = Entry(p, false), rev = Entry(p, true);
  return MakeFlowRecord(p.key, &fwd, &rev);
}

std::string Names(uint32_t ip) {
  if (ip == Ip("10.244.1.2")) return "default/client";
  if (ip == Ip("10.244.2.9")) return "kube-system/coredns-1";
  return "";
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(FlowLogRecord, FlowEndHasEveryField) {
  const EndReason why = EndReason::kTimeout;
  // 2024-05-01T10:00:00.5Z
  const uint64_t t = 1714557600ull * kSec + 500000000ull;
  const json j = FlowLogRecord(DnsFlow(), "flow_end", &why, t, "node-a", Names);
  EXPECT_EQ(j["time"], "2024-05-01T10:00:00.500000000Z");
  EXPECT_EQ(j["node"], "node-a");
  EXPECT_EQ(j["verdict"], "FORWARDED");
  EXPECT_EQ(j["event"], "flow_end");
  EXPECT_EQ(j["src"], json::parse(R"({"ip":"10.244.1.2","port":40001,"pod":"default/client",
                                      "identity":256})"));
  EXPECT_EQ(j["dst"], json::parse(R"({"ip":"10.244.2.9","port":53,
                                      "pod":"kube-system/coredns-1","identity":257})"));
  EXPECT_EQ(j["service"], json::parse(R"({"ip":"10.96.0.10","port":53})"));
  EXPECT_EQ(j["proto"], "udp");
  EXPECT_EQ(j["state"], "replied");
  EXPECT_EQ(j["packets"], json::parse(R"({"fwd":3,"rev":2})"));
  EXPECT_EQ(j["bytes"], json::parse(R"({"fwd":300,"rev":200})"));
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 0.0025);
  EXPECT_EQ(j["end_reason"], "timeout");
  EXPECT_EQ(j["hook"], "xdp_pod");
}

TEST(FlowLogRecord, UnknownPodsAndNoServiceAreLeftOut) {
  FlowRecord f = DnsFlow();
  f.flags &= ~XVR_FLOW_F_SVC;
  f.created_ns = 0;  // a policy FLOW_END carries no creation time
  f.src_identity = 0;
  const EndReason why = EndReason::kPolicy;
  const json j = FlowLogRecord(f, "flow_end", &why, kSec, "n", nullptr);
  EXPECT_FALSE(j.contains("service"));
  EXPECT_FALSE(j.contains("duration_s"));
  EXPECT_FALSE(j["src"].contains("pod"));
  EXPECT_FALSE(j["src"].contains("identity"));
  EXPECT_EQ(j["end_reason"], "policy");
  EXPECT_EQ(j["time"], "1970-01-01T00:00:01.000000000Z");
}

TEST(FlowLogRecord, PolicyDropIsDropped) {
  DropRecord d;
  d.wall_ns = 1714557600ull * kSec;
  d.hook = "tc_pod";
  d.reason = "policy_denied_egress";
  d.reason_code = XVR_R_POLICY_EGRESS;
  d.has_ip = true;
  d.src = *Ipv4Addr::Parse("10.244.1.2");
  d.dst = *Ipv4Addr::Parse("10.244.2.9");
  d.sport = 40001;
  d.dport = 5432;
  d.proto = IPPROTO_TCP;
  d.ifindex = 4;
  d.pkt_len = 74;
  const json j = DropLogRecord(d, "node-a", Names);
  EXPECT_EQ(j["verdict"], "DROPPED");
  EXPECT_EQ(j["event"], "drop");
  EXPECT_EQ(j["drop_reason"], "policy_denied_egress");
  EXPECT_EQ(j["time"], "2024-05-01T10:00:00.000000000Z");
  EXPECT_EQ(j["src"]["pod"], "default/client");
  EXPECT_EQ(j["dst"]["port"], 5432);
  EXPECT_EQ(j["proto"], "tcp");
  EXPECT_EQ(j["hook"], "tc_pod");
  EXPECT_EQ(j["node"], "node-a");
}

TEST(FlowLog, WritesOneJsonLinePerEndedFlowAndPolicyDrop) {
  testing::TempDir dir;
  FlowLogOptions o;
  o.path = dir.Sub("log/flows.log");  // the directory is created
  o.node = "node-a";
  o.pod_name = Names;
  absl::StatusOr<std::unique_ptr<FlowLog>> log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  FlowObserverSet observers;
  observers.Add(log->get());
  observers.NotifyEnded(DnsFlow(), EndReason::kClosed);
  observers.NotifyCreated(DnsFlow());  // not logged by default
  DropRecord policy;
  policy.reason = "policy_denied_ingress";
  policy.reason_code = XVR_R_POLICY_INGRESS;
  policy.wall_ns = kSec;
  observers.NotifyDrop(policy);
  DropRecord other;
  other.reason = "ttl_exceeded";
  other.reason_code = XVR_R_TTL_EXCEEDED;
  observers.NotifyDrop(other);  // not a policy drop
  (*log)->Sync();
  const std::vector<std::string> lines = Lines(o.path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("{\"time\":\"", 0), 0u) << "time first: " << lines[0];
  const json first = json::parse(lines[0]);
  EXPECT_EQ(first["event"], "flow_end");
  EXPECT_EQ(first["end_reason"], "closed");
  EXPECT_EQ(first["src"]["pod"], "default/client");
  EXPECT_TRUE(std::regex_match(first["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)")));
  const json second = json::parse(lines[1]);
  EXPECT_EQ(second["verdict"], "DROPPED");
  EXPECT_EQ(second["drop_reason"], "policy_denied_ingress");
  EXPECT_EQ((*log)->stats().written, 2u);
  EXPECT_EQ((*log)->stats().dropped, 0u);
  observers.Remove(log->get());
}

TEST(FlowLog, StartsAreLoggedWhenAskedFor) {
  testing::TempDir dir;
  FlowLogOptions o;
  o.path = dir.Sub("flows.log");
  o.log_starts = true;
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok());
  (*log)->OnFlowCreated(DnsFlow());
  (*log)->Sync();
  const std::vector<std::string> lines = Lines(o.path);
  ASSERT_EQ(lines.size(), 1u);
  const json j = json::parse(lines[0]);
  EXPECT_EQ(j["event"], "flow_start");
  EXPECT_FALSE(j.contains("end_reason"));
}

TEST(FlowLog, RotatesBySizeAndKeepsMaxFiles) {
  testing::TempDir dir;
  FlowLogOptions o;
  o.path = dir.Sub("flows.log");
  o.max_size_bytes = 4096;
  o.max_files = 2;
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 200; ++i) {
    (*log)->OnFlowEnded(DnsFlow(), EndReason::kTimeout);
    if (i % 20 == 0) (*log)->Sync();
  }
  (*log)->Sync();
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("flows.log")));
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("flows.1.log")));
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("flows.2.log")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("flows.3.log")));
  for (const char* f : {"flows.log", "flows.1.log", "flows.2.log"}) {
    EXPECT_LE(std::filesystem::file_size(dir.Sub(f)), 4096u) << f;
    for (const std::string& l : Lines(dir.Sub(f))) {
      EXPECT_FALSE(json::parse(l, nullptr, false).is_discarded()) << f << ": " << l;
    }
  }
}

TEST(FlowLog, TheQueueIsBoundedAndCountsWhatItDrops) {
  testing::TempDir dir;
  FlowLogOptions o;
  o.path = dir.Sub("flows.log");
  o.queue_capacity = 4;
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok());
  constexpr int kRecords = 5000;
  const FlowRecord f = DnsFlow();
  for (int i = 0; i < kRecords; ++i) (*log)->OnFlowEnded(f, EndReason::kTimeout);
  (*log)->Sync();
  const FlowLogStats s = (*log)->stats();
  EXPECT_EQ(s.written + s.dropped, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(Lines(o.path).size(), s.written);
  EXPECT_EQ(s.queued, 0u);
  (*log)->Stop();
  (*log)->OnFlowEnded(f, EndReason::kTimeout);  // after Stop: counted, not written
  EXPECT_EQ((*log)->stats().dropped, s.dropped + 1);
}

TEST(FlowLog, AnUnwritablePathIsAnError) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("file")) << "x";
  FlowLogOptions o;
  o.path = dir.Sub("file/flows.log");  // a file where the directory should be
  absl::StatusOr<std::unique_ptr<FlowLog>> log = FlowLog::Open(o);
  EXPECT_FALSE(log.ok());
  EXPECT_THAT(std::string(log.status().message()), ::testing::HasSubstr("flow log"));
}

}  // namespace
}  // namespace xvr

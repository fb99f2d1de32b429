#include "agent/flows/flows_api.h"

#include <httplib.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "agent/api/api_server.h"
#include "agent/state/state_store.h"
#include "fake_dataplane.h"
#include "flow_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using test::FakeFlowMaps;
using test::Ip;
using test::kSec;
using test::Key;
using test::PairSpec;
using test::Rev;

QueryParams Q(std::initializer_list<std::pair<const std::string, std::string>> kv) {
  return QueryParams(kv);
}

std::string ErrorOf(const QueryParams& q) {
  absl::StatusOr<FlowFilter> f = ParseFlowFilter(q);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(f.status().message());
}

TEST(ParseFlowFilter, AcceptsEveryFilter) {
  absl::StatusOr<FlowFilter> f = ParseFlowFilter(Q({{"pod", "kube-system/coredns-1"},
                                                    {"ip", "10.0.0.1"},
                                                    {"port", "53"},
                                                    {"proto", "UDP"},
                                                    {"state", "replied"}}));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*f->pod, "kube-system/coredns-1");
  EXPECT_EQ(f->ip->ToString(), "10.0.0.1");
  EXPECT_EQ(*f->port, 53);
  EXPECT_EQ(*f->proto, IPPROTO_UDP);
  EXPECT_EQ(*f->state, XVR_FLOW_S_REPLIED);
  EXPECT_TRUE(ParseFlowFilter(Q({})).value().empty());
  EXPECT_EQ(*ParseFlowFilter(Q({{"proto", "47"}})).value().proto, 47);
}

TEST(ParseFlowFilter, BadValuesNameTheParameter) {
  EXPECT_THAT(ErrorOf(Q({{"ip", "10.0.0"}})), HasSubstr("query parameter ip: not an IPv4"));
  EXPECT_THAT(ErrorOf(Q({{"port", "65536"}})), HasSubstr("query parameter port: must be"));
  EXPECT_THAT(ErrorOf(Q({{"port", "http"}})), HasSubstr("query parameter port"));
  EXPECT_THAT(ErrorOf(Q({{"port", "-1"}})), HasSubstr("query parameter port"));
  EXPECT_THAT(ErrorOf(Q({{"proto", "gre"}})), HasSubstr("query parameter proto: must be tcp"));
  EXPECT_THAT(ErrorOf(Q({{"proto", "256"}})), HasSubstr("query parameter proto"));
  EXPECT_THAT(ErrorOf(Q({{"state", "open"}})), HasSubstr("query parameter state: must be one of"));
  EXPECT_THAT(ErrorOf(Q({{"pod", "nginx"}})),
              HasSubstr("query parameter pod: must be namespace/name"));
  EXPECT_THAT(ErrorOf(Q({{"pod", "a/b/c"}})), HasSubstr("query parameter pod"));
  EXPECT_THAT(ErrorOf(Q({{"pod", "Default/x"}})), HasSubstr("query parameter pod"));
  EXPECT_THAT(ErrorOf(Q({{"protocol", "tcp"}})), HasSubstr("unknown query parameter \"protocol\""));
  EXPECT_THAT(ErrorOf(Q({{"port", "1"}, {"port", "2"}})), HasSubstr("port: given more than once"));
}

class FlowsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PairSpec web{Key("10.244.1.2", 40000, "10.244.1.3", 80, IPPROTO_TCP)};
    web.created_ns = now_ - 30 * kSec;
    web.fwd_last_ns = now_ - 2 * kSec;
    web.rev_last_ns = now_ - 1 * kSec;
    PairSpec dns{Key("10.244.1.2", 40001, "10.244.2.9", 53, IPPROTO_UDP), XVR_FLOW_S_REPLIED};
    dns.svc_addr = Ip("10.96.0.10");
    dns.svc_port = 53;
    dns.fwd_last_ns = dns.rev_last_ns = dns.created_ns = now_ - 5 * kSec;
    maps_.PutPair(web);
    maps_.PutPair(dns);
    FlowTableOptions o;
    o.now_ns = [this] { return now_; };
    o.pod_name = names_;
    table_ = std::make_unique<FlowTable>(&maps_, o);
    FlowsApiDeps d;
    d.table = table_.get();
    d.drops = &reader_;
    d.pod_name = names_;
    d.now_ns = [this] { return now_; };
    d.events = [this] {
      return FlowEventTotals{reader_.counts(), /*lost=*/3, /*suppressed=*/4, true};
    };
    api_ = std::make_unique<FlowsApi>(d);
  }

  uint64_t now_ = 5000 * kSec;
  PodNameFn names_ = [](uint32_t ip) -> std::string {
    if (ip == Ip("10.244.1.2")) return "default/client";
    if (ip == Ip("10.244.1.3")) return "default/web";
    return "";
  };
  FakeFlowMaps maps_;
  std::unique_ptr<FlowTable> table_;
  DropEventReader reader_;
  std::unique_ptr<FlowsApi> api_;
};

TEST_F(FlowsApiTest, FlowsHaveTheDocumentedFields) {
  absl::StatusOr<json> j = api_->Flows(Q({{"proto", "tcp"}}));
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ((*j)["flows"].size(), 1u);
  const json& f = (*j)["flows"][0];
  EXPECT_EQ(f["src"], "10.244.1.2");
  EXPECT_EQ(f["dst"], "10.244.1.3");
  EXPECT_EQ(f["sport"], 40000);
  EXPECT_EQ(f["dport"], 80);
  EXPECT_EQ(f["proto"], "tcp");
  EXPECT_EQ(f["state"], "established");
  EXPECT_TRUE(f["service"].is_null());
  EXPECT_EQ(f["src_pod"], "default/client");
  EXPECT_EQ(f["dst_pod"], "default/web");
  EXPECT_EQ(f["src_identity"], 256);
  EXPECT_EQ(f["dst_identity"], 257);
  EXPECT_EQ(f["packets"], 3);
  EXPECT_EQ(f["bytes"], 300);
  EXPECT_EQ(f["reply_packets"], 2);
  EXPECT_EQ(f["reply_bytes"], 200);
  EXPECT_DOUBLE_EQ(f["age_s"].get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(f["idle_s"].get<double>(), 1.0);
  EXPECT_EQ(f["hook"], "xdp_pod");
  EXPECT_EQ((*j)["total"], 1);
  EXPECT_EQ((*j)["truncated"], false);
  EXPECT_EQ((*j)["stats"]["live_pairs"], 2);
  EXPECT_EQ((*j)["stats"]["events"]["lost"], 3);

  j = api_->Flows(Q({{"port", "53"}}));
  ASSERT_TRUE(j.ok());
  ASSERT_EQ((*j)["flows"].size(), 1u);
  EXPECT_EQ((*j)["flows"][0]["service"], "10.96.0.10:53");
  EXPECT_TRUE((*j)["flows"][0]["dst_pod"].is_null());

  j = api_->Flows(Q({{"limit", "1"}}));
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["flows"].size(), 1u);
  EXPECT_EQ((*j)["total"], 2);
  EXPECT_EQ((*j)["truncated"], true);
  EXPECT_EQ(api_->Flows(Q({{"limit", "x"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FlowsApiTest, FlushAndStats) {
  absl::StatusOr<json> j = api_->Flush(Q({{"pod", "default/web"}}));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json({{"flushed", 1}}));
  EXPECT_EQ(maps_.size(), 2u);
  EXPECT_EQ(api_->Flush(Q({{"limit", "1"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  j = api_->Stats(Q({}));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["live_pairs"], 1);
  EXPECT_EQ((*j)["ended"]["flushed"], 1);
  EXPECT_EQ((*j)["capacity"], 1024);
  EXPECT_EQ((*j)["events"]["suppressed"], 4);
  EXPECT_TRUE((*j)["log"].is_null());
  for (const char* k :
       {"live_entries", "orphans", "fill", "created", "evicted", "counters", "gc"}) {
    EXPECT_TRUE(j->contains(k)) << k;
  }
  EXPECT_EQ(api_->Stats(Q({{"x", "1"}})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FlowsApiTest, DropsSinceWithPodsAndAccounting) {
  xvr_drop_event ev{};
  ev.hdr.type = XVR_EVENT_DROP;
  ev.hdr.hook = XVR_HOOK_XDP_POD;
  ev.hdr.reason = XVR_R_POLICY_EGRESS;
  const uint8_t frame[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00,
                           0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 244, 1, 2, 10, 244, 1, 3,
                           0x9c, 0x41, 0, 53};
  std::memcpy(ev.data, frame, sizeof(frame));
  ev.hdr.cap_len = sizeof(frame);
  for (int i = 0; i < 3; ++i) reader_.Dispatch(&ev, sizeof(ev));
  absl::StatusOr<json> j = api_->Drops(Q({{"since", "1"}}));
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ((*j)["drops"].size(), 2u);
  const json& d = (*j)["drops"][0];
  EXPECT_EQ(d["seq"], 2);
  EXPECT_EQ(d["reason"], "policy_denied_egress");
  EXPECT_EQ(d["src"], "10.244.1.2");
  EXPECT_EQ(d["dst"], "10.244.1.3");
  EXPECT_EQ(d["sport"], 40001);
  EXPECT_EQ(d["dport"], 53);
  EXPECT_EQ(d["proto"], "udp");
  EXPECT_EQ(d["src_pod"], "default/client");
  EXPECT_EQ(d["dst_pod"], "default/web");
  EXPECT_TRUE(d.contains("time"));
  EXPECT_EQ((*j)["next"], 3);
  EXPECT_EQ((*j)["lost"], 3);
  EXPECT_EQ((*j)["suppressed"], 4);
  EXPECT_EQ((*j)["total"], 3);
  EXPECT_EQ(api_->Drops(Q({{"since", "-1"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Drops(Q({{"after", "1"}})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The views through the agent's HTTP server: 400s are JSON, flush is a POST.
class FlowsHttpTest : public FlowsApiTest {
 protected:
  void SetUp() override {
    FlowsApiTest::SetUp();
    dp_.AddLink("veth0", 1000);
    const Ipv4Prefix cidr = *Ipv4Prefix::Parse("10.244.1.0/24");
    store_ = std::make_unique<StateStore>(dir_.Sub("state"));
    mgr_ = *EndpointManager::Create(PodNetwork{cidr, Ipv4Addr(cidr.network().value() + 1), 1450,
                                               PodAttach::kTc},
                                    dp_, *store_);
    ApiServerOptions opts;
    opts.socket_path = dir_.Sub("agent.sock");
    opts.query_views["/v1/flows"] = [this](const auto& q) { return api_->Flows(q); };
    opts.query_views["/v1/drops"] = [this](const auto& q) { return api_->Drops(q); };
    opts.actions["/v1/flows/flush"] = [this](const auto& q) { return api_->Flush(q); };
    server_ = std::make_unique<ApiServer>(opts, *mgr_);
    ASSERT_TRUE(server_->Start().ok());
    server_->SetReady(true);
  }
  void TearDown() override { server_.reset(); }

  std::pair<int, json> Call(const std::string& method, const std::string& path) {
    httplib::Client cli(dir_.Sub("agent.sock"));
    cli.set_address_family(AF_UNIX);
    auto res = method == "GET" ? cli.Get(path) : cli.Post(path, "", "application/json");
    EXPECT_TRUE(res);
    if (!res) return {-1, json()};
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  testing::TempDir dir_;
  testing::FakeDataplane dp_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<EndpointManager> mgr_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(FlowsHttpTest, BadQueryIs400AndFlushIsAPost) {
  auto [code, body] = Call("GET", "/v1/flows?port=eighty");
  EXPECT_EQ(code, 400);
  EXPECT_THAT(body["error"].get<std::string>(), HasSubstr("query parameter port"));
  std::tie(code, body) = Call("GET", "/v1/flows?pod=default%2Fweb");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body["flows"].size(), 1u);
  std::tie(code, body) = Call("GET", "/v1/drops?since=x");
  EXPECT_EQ(code, 400);
  std::tie(code, body) = Call("GET", "/v1/flows/flush");
  EXPECT_EQ(code, 405);
  std::tie(code, body) = Call("POST", "/v1/flows");
  EXPECT_EQ(code, 405);
  std::tie(code, body) = Call("POST", "/v1/flows/flush?state=bogus");
  EXPECT_EQ(code, 400);
  server_->SetReady(false);
  std::tie(code, body) = Call("POST", "/v1/flows/flush");
  EXPECT_EQ(code, 503);
  server_->SetReady(true);
  std::tie(code, body) = Call("POST", "/v1/flows/flush?proto=udp");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, json({{"flushed", 1}}));
}

}  // namespace
}  // namespace xvr

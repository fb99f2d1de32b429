#include "agent/api/api_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "fake_dataplane.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

json RegisterBody(int i) {
  return {{"containerID", absl::StrFormat("ctr%d", i)},
          {"ifname", "eth0"},
          {"netns", absl::StrFormat("/run/netns/pod%d", i)},
          {"hostIfname", absl::StrFormat("veth%d", i)},
          {"mac", absl::StrFormat("02:00:00:00:%02x:%02x", i >> 8, i & 0xff)},
          {"podNamespace", "default"},
          {"podName", absl::StrFormat("pod-%d", i)}};
}

class ApiServerTest : public ::testing::Test {
 protected:
  virtual const char* Cidr() const { return "10.244.1.0/24"; }

  void SetUp() override {
    for (int i = 0; i < 200; ++i) dp_.AddLink(absl::StrFormat("veth%d", i), 1000 + i);
    const Ipv4Prefix cidr = *Ipv4Prefix::Parse(Cidr());
    const PodNetwork net{cidr, Ipv4Addr(cidr.network().value() + 1), 1450, PodAttach::kTc};
    store_ = std::make_unique<StateStore>(dir_.Sub("state"));
    mgr_ = *EndpointManager::Create(net, dp_, *store_);
    ASSERT_TRUE(mgr_->Restore().ok());
    ApiServerOptions opts;
    opts.socket_path = SocketPath();
    opts.max_body_bytes = 64 * 1024;
    opts.event_stats = [] { return EventStats{3, 4}; };
    api_ = std::make_unique<ApiServer>(opts, *mgr_);
    ASSERT_TRUE(api_->Start().ok());
    api_->SetReady(true);
  }

  void TearDown() override { api_.reset(); }

  std::string SocketPath() const { return dir_.Sub("run/agent.sock"); }

  std::unique_ptr<httplib::Client> NewClient() const {
    auto cli = std::make_unique<httplib::Client>(SocketPath());
    cli->set_address_family(AF_UNIX);
    cli->set_read_timeout(10);
    return cli;
  }

  // One request; returns {status, parsed body}. Every answer must be JSON.
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    auto cli = NewClient();
    httplib::Result res = method == "GET"      ? cli->Get(path.c_str())
                          : method == "POST"   ? cli->Post(path.c_str(), body, "application/json")
                          : method == "PUT"    ? cli->Put(path.c_str(), body, "application/json")
                          : method == "DELETE" ? cli->Delete(path.c_str())
                                               : cli->Patch(path.c_str(), body, "application/json");
    EXPECT_TRUE(res) << method << " " << path << ": " << httplib::to_string(res.error());
    if (!res) return {-1, json()};
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << res->body;
    json j = json::parse(res->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << res->body;
    return {res->status, j};
  }

  ::xvr::testing::TempDir dir_;
  ::xvr::testing::FakeDataplane dp_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<EndpointManager> mgr_;
  std::unique_ptr<ApiServer> api_;
};

TEST_F(ApiServerTest, SocketIsCreatedWithMode0600) {
  struct stat st {};
  ASSERT_EQ(::stat(SocketPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ApiServerTest, HealthzIs503UntilReadyThen200) {
  api_->SetReady(false);
  auto [code, body] = Call("GET", "/healthz");
  EXPECT_EQ(code, 503);
  EXPECT_EQ(body, json({{"status", "starting"}}));
  api_->SetReady(true);
  std::tie(code, body) = Call("GET", "/healthz");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, json({{"status", "ok"}}));
}

TEST_F(ApiServerTest, RegisterAnswersTheDocumentedResult) {
  auto [code, body] = Call("POST", "/v1/endpoints", RegisterBody(1).dump());
  ASSERT_EQ(code, 200) << body;
  EXPECT_EQ(body["ip"], "10.244.1.2/24");
  EXPECT_EQ(body["gateway"], "10.244.1.1");
  EXPECT_EQ(body["routes"], json::parse(R"([{"dst": "0.0.0.0/0", "gw": "10.244.1.1"}])"));
  EXPECT_EQ(body["mtu"], 1450);
  EXPECT_EQ(body["hostIfindex"], 1001);
  EXPECT_EQ(body["hostMac"], "aa:bb:00:00:03:e9");
  const json& ep = body["endpoint"];
  EXPECT_EQ(ep["containerID"], "ctr1");
  EXPECT_EQ(ep["ifname"], "eth0");
  EXPECT_EQ(ep["ip"], "10.244.1.2");
  EXPECT_EQ(ep["mac"], "02:00:00:00:00:01");
  EXPECT_EQ(ep["hostIfname"], "veth1");
  EXPECT_EQ(ep["attach"], "tc");
  EXPECT_EQ(ep["podName"], "pod-1");
  EXPECT_TRUE(ep["id"].is_number_unsigned());
}

TEST_F(ApiServerTest, GetListAndDeleteFollowTheRegistration) {
  ASSERT_EQ(Call("POST", "/v1/endpoints", RegisterBody(1).dump()).first, 200);
  ASSERT_EQ(Call("POST", "/v1/endpoints", RegisterBody(2).dump()).first, 200);

  auto [code, one] = Call("GET", "/v1/endpoints/ctr1/eth0");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(one["ip"], "10.244.1.2");
  auto [lcode, list] = Call("GET", "/v1/endpoints");
  EXPECT_EQ(lcode, 200);
  ASSERT_EQ(list["endpoints"].size(), 2u);
  EXPECT_EQ(list["endpoints"][1]["containerID"], "ctr2");

  auto [dcode, del] = Call("DELETE", "/v1/endpoints/ctr1/eth0");
  EXPECT_EQ(dcode, 200);
  EXPECT_EQ(del, json({{"deleted", true}}));
  // CNI DEL must succeed again and again.
  std::tie(dcode, del) = Call("DELETE", "/v1/endpoints/ctr1/eth0");
  EXPECT_EQ(dcode, 200);
  EXPECT_EQ(del, json({{"deleted", false}}));

  auto [gcode, gone] = Call("GET", "/v1/endpoints/ctr1/eth0");
  EXPECT_EQ(gcode, 404);
  EXPECT_THAT(gone["error"].get<std::string>(), HasSubstr("ctr1/eth0 not found"));
}

TEST_F(ApiServerTest, MutatingCallsAre503BeforeReadyButReadsWork) {
  api_->SetReady(false);
  EXPECT_EQ(Call("POST", "/v1/endpoints", RegisterBody(1).dump()).first, 503);
  EXPECT_EQ(Call("DELETE", "/v1/endpoints/ctr1/eth0").first, 503);
  EXPECT_EQ(Call("POST", "/v1/gc", R"({"validAttachments": []})").first, 503);
  EXPECT_EQ(Call("GET", "/v1/endpoints").first, 200);
  EXPECT_EQ(mgr_->size(), 0u);
}

TEST_F(ApiServerTest, GarbageJsonIs400) {
  for (const std::string body : {"{nope", "", "[]", "42", "\"str\"", "{\"a\":1} trailing"}) {
    auto [code, res] = Call("POST", "/v1/endpoints", body);
    EXPECT_EQ(code, 400) << body;
    EXPECT_TRUE(res["error"].is_string()) << body;
  }
  auto [code, res] = Call("POST", "/v1/endpoints", "{nope");
  EXPECT_THAT(res["error"].get<std::string>(), HasSubstr("invalid JSON"));
}

TEST_F(ApiServerTest, MissingOrMistypedFieldsAre400NamingTheField) {
  for (const char* field : {"containerID", "ifname", "netns", "hostIfname", "mac"}) {
    json body = RegisterBody(1);
    body.erase(field);
    auto [code, res] = Call("POST", "/v1/endpoints", body.dump());
    EXPECT_EQ(code, 400) << field;
    EXPECT_EQ(res["error"], std::string(field) + ": required");
  }
  json body = RegisterBody(1);
  body["mac"] = 5;
  auto [code, res] = Call("POST", "/v1/endpoints", body.dump());
  EXPECT_EQ(code, 400);
  EXPECT_EQ(res["error"], "mac: must be a string, got number");
  body = RegisterBody(1);
  body["podName"] = json::array();
  std::tie(code, res) = Call("POST", "/v1/endpoints", body.dump());
  EXPECT_EQ(code, 400);
  EXPECT_EQ(res["error"], "podName: must be a string, got array");
  body = RegisterBody(1);
  body["mac"] = "zz:zz";
  std::tie(code, res) = Call("POST", "/v1/endpoints", body.dump());
  EXPECT_EQ(code, 400);
  EXPECT_THAT(res["error"].get<std::string>(), ::testing::StartsWith("mac: invalid MAC"));
  EXPECT_EQ(mgr_->size(), 0u);
}

TEST_F(ApiServerTest, UnknownHostIfnameIs404) {
  json body = RegisterBody(1);
  body["hostIfname"] = "vethmissing";
  auto [code, res] = Call("POST", "/v1/endpoints", body.dump());
  EXPECT_EQ(code, 404);
  EXPECT_THAT(res["error"].get<std::string>(), HasSubstr("hostIfname"));
}

TEST_F(ApiServerTest, InvalidUtf8InAFieldDoesNotBreakTheAnswer) {
  // Valid JSON escapes decoding to a lone surrogate are rejected by the
  // parser; raw invalid bytes too. Either way: a JSON 400, no crash.
  std::string body = RegisterBody(1).dump();
  body.replace(body.find("pod-1"), 5, "p\xff\xfe");
  auto [code, res] = Call("POST", "/v1/endpoints", body);
  EXPECT_EQ(code, 400);
}

TEST_F(ApiServerTest, UnknownPathIs404Json) {
  for (const char* path : {"/", "/v2/endpoints", "/v1/endpoints/a", "/v1/endpoints/a/b/c",
                           "/v1/endpoints/", "/healthz/x"}) {
    auto [code, res] = Call("GET", path);
    EXPECT_EQ(code, 404) << path;
    EXPECT_THAT(res["error"].get<std::string>(), HasSubstr("no such path")) << path;
  }
}

TEST_F(ApiServerTest, UnroutedRequestWithABodyGetsItsAnswerNotAReset) {
  const std::string body(32 * 1024, ' ');
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Call("POST", "/nope", body).first, 404);
    EXPECT_EQ(Call("PUT", "/v1/endpoints", body).first, 405);
  }
}

TEST_F(ApiServerTest, WrongMethodIs405JsonWithAllowHeader) {
  EXPECT_EQ(Call("PUT", "/v1/endpoints", "{}").first, 405);
  EXPECT_EQ(Call("DELETE", "/healthz").first, 405);
  EXPECT_EQ(Call("GET", "/v1/gc").first, 405);
  EXPECT_EQ(Call("POST", "/v1/endpoints/a/eth0", "{}").first, 405);
  EXPECT_EQ(Call("PATCH", "/v1/stats", "{}").first, 405);
  auto cli = NewClient();
  httplib::Result res = cli->Put("/v1/endpoints", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, POST");
}

TEST_F(ApiServerTest, OversizedBodyIsRejectedWithJson) {
  std::string big = "{\"containerID\": \"" + std::string(100 * 1024, 'a') + "\"}";
  auto [code, res] = Call("POST", "/v1/endpoints", big);
  EXPECT_EQ(code, 413);
  EXPECT_EQ(res["error"], "request body too large");
}

TEST_F(ApiServerTest, GcRemovesEverythingNotListed) {
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(Call("POST", "/v1/endpoints", RegisterBody(i).dump()).first, 200);
  }
  auto [code, res] = Call(
      "POST", "/v1/gc", R"({"validAttachments": [{"containerID": "ctr2", "ifname": "eth0"}]})");
  ASSERT_EQ(code, 200) << res;
  EXPECT_EQ(res["removed"], json::parse(R"([{"containerID": "ctr1", "ifname": "eth0"},
                                            {"containerID": "ctr3", "ifname": "eth0"}])"));
  EXPECT_EQ(mgr_->size(), 1u);
}

TEST_F(ApiServerTest, GcBodyErrorsAre400NamingTheField) {
  EXPECT_EQ(Call("POST", "/v1/gc", "{}").second["error"], "validAttachments: required");
  EXPECT_EQ(Call("POST", "/v1/gc", R"({"validAttachments": {}})").second["error"],
            "validAttachments: must be an array, got object");
  EXPECT_EQ(Call("POST", "/v1/gc", R"({"validAttachments": [{"containerID": "a"}]})").second["error"],
            "validAttachments[0].ifname: required");
  EXPECT_EQ(Call("POST", "/v1/gc", R"({"validAttachments": [1]})").second["error"],
            "validAttachments[0]: must be an object, got number");
}

TEST_F(ApiServerTest, StatsRendersNonZeroCountersAndEventTotals) {
  dp_.counters = {{"xdp_pod", "redirect", "ok", 10, 980},
                  {"xdp_pod", "drop", "spoofed_source_ip", 0, 0}};
  auto [code, res] = Call("GET", "/v1/stats");
  ASSERT_EQ(code, 200);
  EXPECT_EQ(res, json::parse(R"({"counters": [{"hook": "xdp_pod", "verdict": "redirect",
      "reason": "ok", "packets": 10, "bytes": 980}], "events": {"lost": 3, "suppressed": 4}})"));
}

TEST_F(ApiServerTest, SecondServerOnALiveSocketIsRefused) {
  ApiServerOptions opts;
  opts.socket_path = SocketPath();
  ApiServer second(opts, *mgr_);
  absl::Status st = second.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists) << st;
  EXPECT_EQ(Call("GET", "/healthz").first, 200) << "first server disturbed";
}

TEST_F(ApiServerTest, StaleSocketFileIsReplacedAndStopRemovesTheSocket) {
  api_->Stop();
  struct stat st {};
  EXPECT_NE(::stat(SocketPath().c_str(), &st), 0) << "Stop() left the socket";
  // A stale socket: bound, never served, then abandoned.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", SocketPath().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  ASSERT_EQ(::stat(SocketPath().c_str(), &st), 0);
  ApiServerOptions opts;
  opts.socket_path = SocketPath();
  api_ = std::make_unique<ApiServer>(opts, *mgr_);
  ASSERT_TRUE(api_->Start().ok());
  api_->SetReady(true);
  EXPECT_EQ(Call("GET", "/healthz").first, 200);
}

TEST_F(ApiServerTest, NonSocketFileAtThePathIsNotReplaced) {
  const std::string path = dir_.Sub("run/not-a-socket");
  { std::ofstream(path) << "keep me"; }
  ApiServerOptions opts;
  opts.socket_path = path;
  ApiServer other(opts, *mgr_);
  EXPECT_EQ(other.Start().code(), absl::StatusCode::kFailedPrecondition);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(ApiServerTest, HundredConcurrentRegistrationsGetHundredDistinctAddresses) {
  constexpr int kN = 100;
  std::vector<std::string> ips(kN);
  std::vector<int> codes(kN, 0);
  std::vector<std::string> errors(kN);
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      auto cli = NewClient();
      httplib::Result res = cli->Post("/v1/endpoints", RegisterBody(i).dump(), "application/json");
      if (!res) {
        errors[i] = httplib::to_string(res.error());
        return;
      }
      codes[i] = res->status;
      json j = json::parse(res->body, nullptr, false);
      if (!j.is_discarded() && j.contains("ip")) ips[i] = j["ip"].get<std::string>();
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> distinct;
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(codes[i], 200) << "request " << i << ": " << errors[i];
    distinct.insert(ips[i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kN));
  EXPECT_FALSE(distinct.contains(""));
  EXPECT_FALSE(distinct.contains("10.244.1.1/24")) << "gateway handed out";
  EXPECT_EQ(mgr_->size(), static_cast<size_t>(kN));
  EXPECT_EQ(dp_.endpoints().size(), static_cast<size_t>(kN));
}

class ApiServerSmallCidrTest : public ApiServerTest {
 protected:
  const char* Cidr() const override { return "10.9.0.0/29"; }
};

TEST_F(ApiServerSmallCidrTest, ExhaustedPodCidrIs507) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call("POST", "/v1/endpoints", RegisterBody(i).dump()).first, 200);
  }
  auto [code, res] = Call("POST", "/v1/endpoints", RegisterBody(5).dump());
  EXPECT_EQ(code, 507);
  EXPECT_THAT(res["error"].get<std::string>(), HasSubstr("exhausted"));
}

}  // namespace
}  // namespace xvr

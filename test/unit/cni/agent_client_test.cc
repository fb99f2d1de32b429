#include "cni-plugin/agent_client.h"

#include "cni-plugin/errors.h"
#include "gtest/gtest.h"
#include "test/unit/cni/fake_agent.h"
#include "test/unit/cni/test_util.h"

namespace xvr::cni {
namespace {

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override { agent_.Start(); }

  RegisterRequest Req(const std::string& cid) {
    // "lo" exists in every netns, so the fake agent accepts it as hostIfname.
    return {cid, "eth0", "/run/netns/p", "lo", "02:00:00:00:00:02", "default", "web-0"};
  }

  testing::TempDir dir_;
  testing::FakeAgent agent_{dir_.Sub("agent.sock")};
  AgentClient client_{dir_.Sub("agent.sock")};
};

TEST_F(AgentClientTest, RegisterGetDelete) {
  absl::StatusOr<RegisterAnswer> a = client_.Register(Req("c1"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ip, "10.244.7.2/24");
  EXPECT_EQ(a->gateway, "10.244.7.1");
  EXPECT_EQ(a->mtu, 1400u);
  ASSERT_EQ(a->routes.size(), 1u);
  EXPECT_EQ(a->routes[0].dst, "0.0.0.0/0");
  EXPECT_EQ(a->routes[0].gw, "10.244.7.1");
  const auto eps = agent_.Endpoints();
  ASSERT_EQ(eps.count("c1/eth0"), 1u);
  EXPECT_EQ(eps.at("c1/eth0").request.value("podName", ""), "web-0");
  EXPECT_EQ(eps.at("c1/eth0").request.value("podNamespace", ""), "default");

  absl::StatusOr<EndpointView> ep = client_.GetEndpoint("c1", "eth0");
  ASSERT_TRUE(ep.ok()) << ep.status();
  EXPECT_EQ(ep->ip, "10.244.7.2");
  EXPECT_EQ(ep->host_ifname, "lo");

  ASSERT_TRUE(client_.Unregister("c1", "eth0").ok());
  ASSERT_TRUE(client_.Unregister("c1", "eth0").ok());  // unknown is not an error
  absl::StatusOr<EndpointView> gone = client_.GetEndpoint("c1", "eth0");
  EXPECT_TRUE(absl::IsNotFound(gone.status())) << gone.status();
}

TEST_F(AgentClientTest, EscapesPathSegments) {
  EXPECT_EQ(EscapePathSegment("a.b-c_d~e"), "a.b-c_d~e");
  EXPECT_EQ(EscapePathSegment("e?h#0%"), "e%3Fh%230%25");
  RegisterRequest r = Req("c2");
  r.ifname = "e?h#0%";
  ASSERT_TRUE(client_.Register(r).ok());
  absl::StatusOr<EndpointView> ep = client_.GetEndpoint("c2", "e?h#0%");
  EXPECT_TRUE(ep.ok()) << ep.status();
}

TEST_F(AgentClientTest, UnreachableAndNotReadyAreCode11) {
  AgentClient nowhere(dir_.Sub("missing.sock"));
  absl::StatusOr<RegisterAnswer> a = nowhere.Register(Req("c1"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(CodeOf(a.status()), Code::kTryAgainLater) << a.status();
  EXPECT_EQ(CodeOf(nowhere.Unregister("c1", "eth0")), Code::kTryAgainLater);

  agent_.SetRegisterStatus(503);
  a = client_.Register(Req("c1"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(CodeOf(a.status()), Code::kTryAgainLater) << a.status();
}

TEST_F(AgentClientTest, RefusalsAreCode100WithTheAgentsMessage) {
  agent_.SetRegisterStatus(507);
  absl::StatusOr<RegisterAnswer> a = client_.Register(Req("c1"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(CodeOf(a.status()), Code::kAgentError);
  EXPECT_NE(a.status().message().find("canned failure"), absl::string_view::npos) << a.status();

  agent_.SetRegisterStatus(0);
  RegisterRequest r = Req("c1");
  r.host_ifname = "nosuchif0";  // 404 from POST: not "try again"
  a = client_.Register(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(CodeOf(a.status()), Code::kAgentError) << a.status();
}

TEST_F(AgentClientTest, GcAndList) {
  ASSERT_TRUE(client_.Register(Req("keep")).ok());
  ASSERT_TRUE(client_.Register(Req("drop")).ok());
  ASSERT_TRUE(client_.Gc({{"keep", "eth0"}}).ok());
  const auto eps = agent_.Endpoints();
  EXPECT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.count("keep/eth0"), 1u);
  absl::StatusOr<std::vector<std::string>> names = client_.ListHostIfnames();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, std::vector<std::string>{"lo"});
}

TEST_F(AgentClientTest, Healthz) {
  EXPECT_TRUE(client_.Healthz().ok());
  agent_.SetHealthy(false);
  EXPECT_EQ(CodeOf(client_.Healthz()), Code::kTryAgainLater);
}

}  // namespace
}  // namespace xvr::cni

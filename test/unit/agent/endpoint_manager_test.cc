#include "agent/endpoints/endpoint_manager.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_format.h"
#include "fake_dataplane.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FakeDataplane;

Ipv4Addr A(const char* s) { return *Ipv4Addr::Parse(s); }
AttachmentKey Key(int i) { return {absl::StrFormat("c%d", i), "eth0"}; }
std::string Veth(int i) { return absl::StrFormat("veth%d", i); }
uint32_t Ifindex(int i) { return 100 + i; }

RegisterRequest Req(int i) {
  RegisterRequest r;
  r.container_id = Key(i).container_id;
  r.ifname = "eth0";
  r.netns = absl::StrFormat("/run/netns/pod%d", i);
  r.host_ifname = Veth(i);
  r.mac = absl::StrFormat("02:00:00:00:00:%02x", i);
  r.pod_namespace = "default";
  r.pod_name = absl::StrFormat("pod-%d", i);
  return r;
}

class EndpointManagerTest : public ::testing::Test {
 protected:
  // A /29 with the gateway at .1: five pod addresses, .2 to .6.
  const PodNetwork net_{*Ipv4Prefix::Parse("10.244.1.0/29"), A("10.244.1.1"), 1450,
                        PodAttach::kXdp};

  void SetUp() override {
    for (int i = 0; i < 10; ++i) dp_.AddLink(Veth(i), Ifindex(i));
    ASSERT_TRUE(Restart().ok());
  }

  // A new manager over the same state directory and the same links: what an
  // agent restart looks like.
  absl::StatusOr<RestoreReport> Restart() {
    mgr_.reset();
    store_ = std::make_unique<StateStore>(dir_.Sub("state"));
    mgr_ = *EndpointManager::Create(net_, dp_, *store_);
    return mgr_->Restore();
  }

  RegisterResult MustRegister(int i) {
    absl::StatusOr<RegisterResult> r = mgr_->Register(Req(i));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RegisterResult{};
  }

  std::set<Ipv4Addr> LiveIps() {
    std::set<Ipv4Addr> out;
    for (const EndpointRecord& ep : mgr_->List()) out.insert(ep.ip);
    return out;
  }

  // Endpoints recorded on disk.
  size_t PersistedEndpoints() {
    absl::StatusOr<std::optional<NodeState>> s = StateStore(dir_.Sub("state")).Load();
    EXPECT_TRUE(s.ok() && s->has_value());
    return s.ok() && s->has_value() ? (*s)->endpoints.size() : 0;
  }

  // Registers until the pod CIDR is full; returns how many succeeded.
  int FillUp(int first_index) {
    int n = 0;
    for (int i = first_index; i < 10; ++i) {
      absl::StatusOr<RegisterResult> r = mgr_->Register(Req(i));
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
        break;
      }
      ++n;
    }
    return n;
  }

  ::xvr::testing::TempDir dir_;
  FakeDataplane dp_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<EndpointManager> mgr_;
};

TEST_F(EndpointManagerTest, RegisterAllocatesWritesTheDataplaneAndPersists) {
  RegisterResult r = MustRegister(1);
  EXPECT_EQ(r.endpoint.ip, A("10.244.1.2"));
  EXPECT_EQ(r.gateway, A("10.244.1.1"));
  EXPECT_EQ(r.pod_cidr.length(), 29);
  EXPECT_EQ(r.mtu, 1450u);
  EXPECT_EQ(r.endpoint.host_ifindex, Ifindex(1));
  EXPECT_EQ(r.endpoint.host_mac.ToString(), "aa:bb:00:00:00:65");
  EXPECT_EQ(r.endpoint.netns, "/run/netns/pod1");
  EXPECT_EQ(r.endpoint.pod_name, "pod-1");
  EXPECT_NE(r.endpoint.id, 0u);

  auto dp = dp_.endpoints();
  ASSERT_EQ(dp.size(), 1u);
  EXPECT_EQ(dp[Ifindex(1)].ip, A("10.244.1.2"));
  EXPECT_EQ(dp[Ifindex(1)].mac.ToString(), "02:00:00:00:00:01");
  EXPECT_EQ(dp[Ifindex(1)].id, r.endpoint.id);
  EXPECT_EQ(dp[Ifindex(1)].netns, "/run/netns/pod1");
  EXPECT_EQ(dp[Ifindex(1)].pod_ifname, "eth0");
  EXPECT_EQ(PersistedEndpoints(), 1u);
}

TEST_F(EndpointManagerTest, RegisteringTheSameAttachmentAgainReturnsTheSameAddressAndId) {
  RegisterResult first = MustRegister(1);
  RegisterResult again = MustRegister(1);
  EXPECT_EQ(again.endpoint.ip, first.endpoint.ip);
  EXPECT_EQ(again.endpoint.id, first.endpoint.id);
  EXPECT_EQ(mgr_->size(), 1u);
  EXPECT_EQ(dp_.upserts, 2);  // maps re-written
}

TEST_F(EndpointManagerTest, ReRegisterOnARecreatedVethMovesTheMapEntry) {
  RegisterResult first = MustRegister(1);
  dp_.DelLink(Veth(1));
  dp_.AddLink(Veth(1), 555);
  RegisterResult again = MustRegister(1);
  EXPECT_EQ(again.endpoint.ip, first.endpoint.ip);
  EXPECT_EQ(again.endpoint.host_ifindex, 555u);
  auto dp = dp_.endpoints();
  EXPECT_EQ(dp.count(Ifindex(1)), 0u);
  EXPECT_EQ(dp.count(555), 1u);
}

TEST_F(EndpointManagerTest, UnknownHostLinkIsNotFoundAndAllocatesNothing) {
  RegisterRequest r = Req(1);
  r.host_ifname = "nope";
  absl::StatusOr<RegisterResult> res = mgr_->Register(r);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(res.status().message()), HasSubstr("hostIfname"));
  EXPECT_EQ(mgr_->size(), 0u);
  EXPECT_EQ(FillUp(1), 5);
}

TEST_F(EndpointManagerTest, AHostVethAlreadyBoundToAnotherAttachmentIsRefused) {
  MustRegister(1);
  RegisterRequest r = Req(2);
  r.host_ifname = Veth(1);
  absl::StatusOr<RegisterResult> res = mgr_->Register(r);
  EXPECT_EQ(res.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(res.status().message()), HasSubstr("already bound to endpoint c1/eth0"));
  EXPECT_EQ(mgr_->size(), 1u);
  EXPECT_EQ(dp_.endpoints()[Ifindex(1)].mac.ToString(), "02:00:00:00:00:01");
  EXPECT_EQ(FillUp(2), 4) << "the refused registration leaked an address";
}

TEST_F(EndpointManagerTest, InvalidRequestFieldsAreNamed) {
  struct Case {
    std::function<void(RegisterRequest&)> mutate;
    std::string want;
  };
  const std::vector<Case> cases = {
      {[](RegisterRequest& r) { r.container_id = ""; }, "containerID: required"},
      {[](RegisterRequest& r) { r.container_id = "a/b"; }, "containerID: must be"},
      {[](RegisterRequest& r) { r.ifname = ""; }, "ifname: required"},
      {[](RegisterRequest& r) { r.ifname = "this-is-too-long-for-linux"; }, "ifname: invalid"},
      {[](RegisterRequest& r) { r.netns = ""; }, "netns: required"},
      {[](RegisterRequest& r) { r.host_ifname = ""; }, "hostIfname: required"},
      {[](RegisterRequest& r) { r.host_ifname = "a b"; }, "hostIfname: invalid"},
      {[](RegisterRequest& r) { r.mac = ""; }, "mac: required"},
      {[](RegisterRequest& r) { r.mac = "02:00:00:00:00"; }, "mac: invalid MAC"},
      {[](RegisterRequest& r) { r.mac = "01:00:5e:00:00:01"; }, "mac: \"01:00:5e:00:00:01\" is not a unicast"},
      {[](RegisterRequest& r) { r.pod_name = std::string(300, 'x'); }, "podName: too long"},
  };
  for (const Case& c : cases) {
    RegisterRequest r = Req(1);
    c.mutate(r);
    absl::StatusOr<RegisterResult> res = mgr_->Register(r);
    EXPECT_EQ(res.status().code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_THAT(std::string(res.status().message()), ::testing::StartsWith(c.want));
  }
  EXPECT_EQ(mgr_->size(), 0u);
  EXPECT_EQ(dp_.upserts, 0);
}

TEST_F(EndpointManagerTest, DataplaneFailureRollsBackAndLeavesNoAddressAllocated) {
  dp_.upsert_error = absl::InternalError("map full");
  absl::StatusOr<RegisterResult> res = mgr_->Register(Req(1));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(res.status().message()), HasSubstr("dataplane: map full"));
  EXPECT_EQ(mgr_->size(), 0u);
  EXPECT_TRUE(dp_.endpoints().empty()) << "half-written map entry left behind";
  EXPECT_EQ(PersistedEndpoints(), 0u);

  dp_.upsert_error = absl::OkStatus();
  EXPECT_EQ(FillUp(1), 5) << "the failed registration leaked an address";
}

TEST_F(EndpointManagerTest, PersistFailureRollsBackTheRegistration) {
  // The state directory turns into a file: every save fails, even as root.
  std::filesystem::remove_all(dir_.Sub("state"));
  std::ofstream(dir_.Sub("state")) << "x";
  absl::StatusOr<RegisterResult> res = mgr_->Register(Req(1));
  EXPECT_FALSE(res.ok());
  EXPECT_THAT(std::string(res.status().message()), HasSubstr("persisting state"));
  EXPECT_EQ(mgr_->size(), 0u);
  EXPECT_TRUE(dp_.endpoints().empty());

  std::filesystem::remove(dir_.Sub("state"));
  EXPECT_EQ(FillUp(1), 5);
}

TEST_F(EndpointManagerTest, FullPodCidrIsResourceExhausted) {
  EXPECT_EQ(FillUp(1), 5);
  absl::StatusOr<RegisterResult> res = mgr_->Register(Req(9));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(dp_.endpoints().size(), 5u);
  EXPECT_EQ(LiveIps().size(), 5u);
}

TEST_F(EndpointManagerTest, UnregisterFreesTheAddressAndIsRepeatable) {
  EXPECT_EQ(FillUp(1), 5);
  absl::StatusOr<bool> del = mgr_->Unregister(Key(3));
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(*del);
  del = mgr_->Unregister(Key(3));
  ASSERT_TRUE(del.ok());
  EXPECT_FALSE(*del);
  EXPECT_EQ(dp_.endpoints().count(Ifindex(3)), 0u);
  EXPECT_EQ(PersistedEndpoints(), 4u);
  EXPECT_TRUE(mgr_->Register(Req(9)).ok()) << "freed address not reusable";
}

TEST_F(EndpointManagerTest, UnregisterSucceedsWhenTheDataplaneCannotRemove) {
  MustRegister(1);
  dp_.remove_error = absl::InternalError("detach failed");
  absl::StatusOr<bool> del = mgr_->Unregister(Key(1));
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_TRUE(*del);
  EXPECT_EQ(mgr_->size(), 0u);
}

TEST_F(EndpointManagerTest, CallsBeforeRestoreAreUnavailable) {
  auto fresh = *EndpointManager::Create(net_, dp_, *store_);
  EXPECT_EQ(fresh->Register(Req(1)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fresh->Unregister(Key(1)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fresh->Gc({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(EndpointManagerTest, RestoreDropsEndpointsWhoseLinkVanishedAndKeepsTheOthersAddresses) {
  const RegisterResult r1 = MustRegister(1);
  const RegisterResult r2 = MustRegister(2);
  const RegisterResult r3 = MustRegister(3);
  dp_.DelLink(Veth(2));
  const int upserts_before = dp_.upserts;

  absl::StatusOr<RestoreReport> report = Restart();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->kept, 2u);
  EXPECT_EQ(report->dropped, 1u);
  EXPECT_EQ(report->failed, 0u);
  EXPECT_EQ(dp_.upserts - upserts_before, 2) << "kept endpoints' maps not reconciled";

  ASSERT_TRUE(mgr_->Get(Key(1)).has_value());
  EXPECT_EQ(mgr_->Get(Key(1))->ip, r1.endpoint.ip);
  EXPECT_EQ(mgr_->Get(Key(1))->id, r1.endpoint.id);
  EXPECT_EQ(mgr_->Get(Key(3))->ip, r3.endpoint.ip);
  EXPECT_FALSE(mgr_->Get(Key(2)).has_value());
  EXPECT_EQ(PersistedEndpoints(), 2u);

  // Re-registering a kept pod returns its address; new pods get others.
  EXPECT_EQ(MustRegister(1).endpoint.ip, r1.endpoint.ip);
  for (int i = 4; i < 7; ++i) {
    const Ipv4Addr ip = MustRegister(i).endpoint.ip;
    EXPECT_NE(ip, r1.endpoint.ip);
    EXPECT_NE(ip, r3.endpoint.ip);
  }
  EXPECT_EQ(LiveIps().size(), 5u);  // r2's address came back into use
  EXPECT_TRUE(LiveIps().contains(r2.endpoint.ip));
}

TEST_F(EndpointManagerTest, RestoreTreatsAReusedLinkNameWithAnotherIfindexAsGone) {
  MustRegister(1);
  dp_.DelLink(Veth(1));
  dp_.AddLink(Veth(1), 777);
  absl::StatusOr<RestoreReport> report = Restart();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->dropped, 1u);
  EXPECT_EQ(mgr_->size(), 0u);
}

TEST_F(EndpointManagerTest, RestoreKeepsAnEndpointWhoseMapsCannotBeRewritten) {
  const RegisterResult r1 = MustRegister(1);
  dp_.upsert_error = absl::UnavailableError("busy");
  absl::StatusOr<RestoreReport> report = Restart();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->failed, 1u);
  EXPECT_EQ(mgr_->Get(Key(1))->ip, r1.endpoint.ip);
  dp_.upsert_error = absl::OkStatus();
  // Its address stays reserved: four more fit, not five.
  EXPECT_EQ(FillUp(2), 4);
}

TEST_F(EndpointManagerTest, IdsSurviveRestartAndAreNotReused) {
  const uint32_t id1 = MustRegister(1).endpoint.id;
  const uint32_t id2 = MustRegister(2).endpoint.id;
  ASSERT_TRUE(mgr_->Unregister(Key(2)).ok());
  ASSERT_TRUE(Restart().ok());
  EXPECT_EQ(mgr_->Get(Key(1))->id, id1);
  const uint32_t id3 = MustRegister(3).endpoint.id;
  EXPECT_NE(id3, id1);
  EXPECT_NE(id3, id2);
}

TEST_F(EndpointManagerTest, RestoreRefusesACorruptStateFileAndStaysUnavailable) {
  MustRegister(1);
  mgr_.reset();
  std::ofstream(dir_.Sub("state/state.json")) << "{not json";
  absl::StatusOr<RestoreReport> report = Restart();
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(mgr_->Register(Req(2)).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(EndpointManagerTest, RestoreRefusesStateWrittenForAnotherPodCidr) {
  MustRegister(1);
  mgr_.reset();
  const PodNetwork other{*Ipv4Prefix::Parse("10.99.0.0/24"), A("10.99.0.1"), 1500,
                         PodAttach::kXdp};
  store_ = std::make_unique<StateStore>(dir_.Sub("state"));
  mgr_ = *EndpointManager::Create(other, dp_, *store_);
  absl::StatusOr<RestoreReport> report = mgr_->Restore();
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("10.244.1.0/29"));
}

TEST_F(EndpointManagerTest, OnLinkDeletedRemovesTheEndpointAndFreesItsAddress) {
  EXPECT_EQ(FillUp(1), 5);
  const Ipv4Addr freed = mgr_->Get(Key(3))->ip;
  dp_.DelLink(Veth(3));
  EXPECT_THAT(mgr_->OnLinkDeleted(Ifindex(3)), ElementsAre(Key(3)));
  EXPECT_FALSE(mgr_->Get(Key(3)).has_value());
  EXPECT_EQ(dp_.endpoints().count(Ifindex(3)), 0u);
  EXPECT_EQ(PersistedEndpoints(), 4u);
  EXPECT_EQ(MustRegister(9).endpoint.ip, freed);  // the only free address
}

TEST_F(EndpointManagerTest, OnLinkDeletedForAForeignLinkChangesNothing) {
  MustRegister(1);
  EXPECT_TRUE(mgr_->OnLinkDeleted(9999).empty());
  EXPECT_EQ(mgr_->size(), 1u);
}

TEST_F(EndpointManagerTest, ResyncLinksRemovesEndpointsWhoseLinkIsGone) {
  MustRegister(1);
  MustRegister(2);
  dp_.DelLink(Veth(1));
  EXPECT_THAT(mgr_->ResyncLinks(), ElementsAre(Key(1)));
  EXPECT_EQ(mgr_->size(), 1u);
}

TEST_F(EndpointManagerTest, GcRemovesEveryEndpointNotListed) {
  for (int i = 1; i <= 4; ++i) MustRegister(i);
  absl::StatusOr<std::vector<AttachmentKey>> removed = mgr_->Gc({Key(2), Key(4), Key(8)});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(*removed, ElementsAre(Key(1), Key(3)));
  EXPECT_EQ(mgr_->size(), 2u);
  EXPECT_EQ(dp_.endpoints().size(), 2u);
  EXPECT_EQ(PersistedEndpoints(), 2u);
}

TEST_F(EndpointManagerTest, StatsReturnsTheDataplaneCounters) {
  dp_.counters = {{"xdp_pod", "redirect", "ok", 10, 980}};
  absl::StatusOr<std::vector<CounterRow>> rows = mgr_->Stats();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].packets, 10u);
}

}  // namespace
}  // namespace xvr

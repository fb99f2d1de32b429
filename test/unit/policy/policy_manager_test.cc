// PolicyManager over in-memory maps: what is written, in which order, what
// an agent restart writes (nothing), when the policy generation moves, and
// how fast a change reaches the maps.
#include "agent/policy/policy_manager.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/ctl/policy_view.h"
#include "agent/policy/policy_json.h"
#include "test/unit/policy/fake_policy_maps.h"
#include "test/unit/policy/policy_fixture.h"

namespace xvr::policy::test {
namespace {

std::string Np(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  namespace: " + ns +
         "\n  name: " + name + "\nspec:\n" + spec + "\n---\n";
}

// xvr_ident has no operator== (a C struct).
bool SameIpcache(const std::map<Ipv4Addr, xvr_ident>& a, const std::map<Ipv4Addr, xvr_ident>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [ip, id] : a) {
    auto it = b.find(ip);
    if (it == b.end() || it->second.identity != id.identity || it->second.flags != id.flags) {
      return false;
    }
  }
  return true;
}

const char kAllowA[] = R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 80}])";

struct Harness {
  k8s::ClusterState cluster;
  FakePolicyMaps maps;
  std::atomic<uint32_t> gen{0};
  std::atomic<int> bumps{0};
  absl::Mutex ep_mu;
  std::vector<LocalEndpoint> endpoints;  // guarded by ep_mu

  std::unique_ptr<PolicyManager> Make(bool wait_for_sync = false) {
    PolicyManagerOptions o;
    o.node = LocalNode();
    o.wait_for_sync = wait_for_sync;
    o.endpoint_poll = absl::Milliseconds(20);
    return std::make_unique<PolicyManager>(
        &cluster, &maps, o,
        [this] {
          absl::MutexLock l(&ep_mu);
          return endpoints;
        },
        [this] {
          ++bumps;
          return ++gen;
        });
  }
};

TEST(PolicyManager, ProgramsTheCompiledStateAndBumpsOnce) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml() + Np("x", "allow-a", kAllowA));
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  const auto d = m->desired();
  ASSERT_TRUE(d);
  EXPECT_TRUE(SameIpcache(h.maps.ipcache, d->ipcache));
  EXPECT_EQ(h.maps.cidrs, d->cidr_ids);
  ASSERT_EQ(h.maps.policy.size(), d->entries.size());
  EXPECT_FALSE(h.maps.policy.empty());
  EXPECT_EQ(h.bumps, 1);
  const PolicyManagerStats st = m->stats();
  EXPECT_EQ(st.policy_gen, 1u);
  EXPECT_EQ(st.ipcache_entries, d->ipcache.size());
  EXPECT_EQ(st.policy_entries, d->entries.size());
  EXPECT_EQ(st.deletes, 0u);
  // Nothing changed: nothing written, no bump.
  const size_t ops = h.maps.log.size();
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.maps.log.size(), ops);
  EXPECT_EQ(h.bumps, 1);
}

TEST(PolicyManager, RestartWithUnchangedStateWritesNothing) {
  Harness h;
  ApplyYaml(h.cluster,
            BaseClusterYaml() + Np("x", "allow-a", kAllowA) + Np("x", "cidr", R"(  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{port: 1000, endPort: 2047}])"));
  {
    auto first = h.Make();
    ASSERT_TRUE(first->Reconcile().ok());
  }
  ASSERT_GT(h.maps.log.size(), 0u);
  ASSERT_EQ(h.bumps, 1);
  h.maps.log.clear();
  // A new agent on the same (pinned) maps.
  auto second = h.Make();
  ASSERT_TRUE(second->Reconcile().ok());
  EXPECT_TRUE(h.maps.log.empty()) << h.maps.log.size() << " operations, first "
                                  << h.maps.log[0].what << " " << h.maps.log[0].key;
  EXPECT_EQ(h.bumps, 1);
  const PolicyManagerStats st = second->stats();
  EXPECT_EQ(st.adopted_policy, h.maps.policy.size());
  EXPECT_EQ(st.adopted_ipcache, h.maps.ipcache.size());
  EXPECT_EQ(st.adopted_cidr, h.maps.cidrs.size());
  EXPECT_EQ(st.writes + st.deletes, 0u);
}

TEST(PolicyManager, RestartRemovesWhatIsNoLongerWanted) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml() + Np("x", "allow-a", kAllowA));
  {
    auto first = h.Make();
    ASSERT_TRUE(first->Reconcile().ok());
  }
  // The policy went away while the agent was down.
  h.cluster.Delete(k8s::Kind::kNetworkPolicy, "x", "allow-a");
  h.maps.log.clear();
  auto second = h.Make();
  ASSERT_TRUE(second->Reconcile().ok());
  EXPECT_TRUE(h.maps.policy.empty());
  EXPECT_EQ(h.maps.ipcache.at(Addr("x/b")).flags, XVR_ID_F_LOCAL);
  EXPECT_EQ(h.bumps, 2);
}

TEST(PolicyManager, EachChangeBumpsTheGenerationOnce) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml());
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 1);  // the ipcache was empty
  ApplyYaml(h.cluster, Np("x", "allow-a", kAllowA));
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 2);
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 2);
  // A pod relabelled.
  ApplyYaml(h.cluster, PodYaml("x", "a", "{pod: q}", "10.244.1.10", "n1"));
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 3);
  // A change that does not touch the maps (a pod without address).
  ApplyYaml(h.cluster, PodYaml("x", "pending", "{pod: p}", "", "n1"));
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 3);
  EXPECT_EQ(m->stats().policy_gen, 3u);
}

TEST(PolicyManager, AddsBeforeDeletesAndEntriesBeforeIsolation) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml());
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  h.maps.log.clear();

  // x/b becomes isolated: its allow entries exist before its flag.
  ApplyYaml(h.cluster, Np("x", "allow-a", kAllowA));
  ASSERT_TRUE(m->Reconcile().ok());
  ASSERT_FALSE(h.maps.log.empty());
  size_t last_policy = 0, first_ident = h.maps.log.size();
  for (size_t i = 0; i < h.maps.log.size(); ++i) {
    if (h.maps.log[i].what == "UpdatePolicy") last_policy = i;
    if (h.maps.log[i].what == "UpdateIdent") first_ident = std::min(first_ident, i);
  }
  EXPECT_LT(last_policy, first_ident);
  EXPECT_EQ(h.maps.Count("UpdateIdent"), 1u);  // x/b's flags
  EXPECT_EQ(h.maps.Deletes(), 0u);

  // The spec is replaced (port 80 → 81): adds first, then deletes.
  h.maps.log.clear();
  ApplyYaml(h.cluster, Np("x", "allow-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 81}])"));
  ASSERT_TRUE(m->Reconcile().ok());
  ASSERT_EQ(h.maps.Writes(), 1u);
  ASSERT_EQ(h.maps.Deletes(), 1u);
  EXPECT_EQ(h.maps.log[0].what, "UpdatePolicy");
  EXPECT_EQ(h.maps.log[1].what, "DeletePolicy");

  // A relabel moves a pod to a new identity: the new identity's entries,
  // then the pod's ipcache entry, then the old entries go.
  h.maps.log.clear();
  ApplyYaml(h.cluster, PodYaml("x", "b", "{pod: b, v: '2'}", "10.244.1.11", "n1") +
                           Np("x", "allow-a", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: 81}])"));
  ASSERT_TRUE(m->Reconcile().ok());
  bool seen_delete = false;
  std::vector<std::string> kinds;
  for (const auto& op : h.maps.log) {
    const bool del = op.what.rfind("Delete", 0) == 0;
    EXPECT_FALSE(seen_delete && !del) << "write after a delete: " << op.what << " " << op.key;
    seen_delete |= del;
    kinds.push_back(op.what);
  }
  EXPECT_EQ(kinds, std::vector<std::string>({"UpdatePolicy", "UpdateIdent", "DeletePolicy"}));
}

TEST(PolicyManager, FailedWriteIsRetriedAndBumpsOnceDone) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml());
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  ASSERT_EQ(h.bumps, 1);
  ApplyYaml(h.cluster, Np("x", "allow-a", kAllowA));
  h.maps.fail_op = "UpdateIdent";
  h.maps.fail_times = 1;
  EXPECT_FALSE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 1);  // not while half written
  EXPECT_EQ(m->stats().errors, 1u);
  EXPECT_FALSE(m->stats().last_error.empty());
  ASSERT_TRUE(m->Reconcile().ok());
  EXPECT_EQ(h.bumps, 2);
  EXPECT_TRUE(SameIpcache(h.maps.ipcache, m->desired()->ipcache));
  EXPECT_TRUE(m->stats().last_error.empty());
}

TEST(PolicyManager, PartialWriteThenRevertStillBumps) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml());
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  ApplyYaml(h.cluster, Np("x", "allow-a", kAllowA));
  h.maps.fail_op = "UpdateIdent";
  h.maps.fail_times = 1;
  EXPECT_FALSE(m->Reconcile().ok());  // the entries were written
  h.cluster.Delete(k8s::Kind::kNetworkPolicy, "x", "allow-a");
  ASSERT_TRUE(m->Reconcile().ok());  // they are deleted again
  EXPECT_EQ(h.bumps, 2);
  EXPECT_TRUE(h.maps.policy.empty());
}

TEST(PolicyManager, WaitsForTheSourcesToList) {
  Harness h;
  auto m = h.Make(/*wait_for_sync=*/true);
  const absl::Status s = m->Reconcile();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(h.maps.log.empty());
  for (k8s::Kind k :
       {k8s::Kind::kPod, k8s::Kind::kNamespace, k8s::Kind::kNetworkPolicy, k8s::Kind::kNode}) {
    ASSERT_TRUE(h.cluster.ReplaceAll(k, {}).ok());
  }
  EXPECT_TRUE(m->Reconcile().ok());
}

TEST(PolicyManager, WorkerFollowsClusterChangesWithinASecond) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml());
  auto m = h.Make();
  ASSERT_TRUE(m->Start().ok());
  ASSERT_TRUE(m->WaitForGeneration(h.cluster.generation(), absl::Seconds(5)));
  const int before = h.bumps;
  const absl::Time t0 = absl::Now();
  ApplyYaml(h.cluster, Np("x", "allow-a", kAllowA));
  ASSERT_TRUE(m->WaitForGeneration(h.cluster.generation(), absl::Seconds(5)));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  EXPECT_EQ(h.bumps, before + 1);
  m->Stop();
  EXPECT_EQ(h.maps.ipcache.at(Addr("x/b")).flags, XVR_ID_F_LOCAL | XVR_ID_F_ISO_INGRESS);
  EXPECT_LT(m->stats().last_change_to_programmed, absl::Seconds(1));
}

TEST(PolicyManager, WorkerNoticesNewEndpoints) {
  Harness h;
  ApplyYaml(h.cluster, PodYaml("x", "web", "{app: web}", "", "") +
                           Np("x", "deny", "  podSelector: {matchLabels: {app: web}}"));
  auto m = h.Make();
  ASSERT_TRUE(m->Start().ok());
  ASSERT_TRUE(m->WaitForGeneration(h.cluster.generation(), absl::Seconds(5)));
  ASSERT_TRUE(m->desired());
  EXPECT_FALSE(m->desired()->ipcache.contains(Ip("10.244.1.50")));
  const absl::Time t0 = absl::Now();
  {
    absl::MutexLock l(&h.ep_mu);
    h.endpoints.push_back({"x", "web", Ip("10.244.1.50")});
  }
  bool seen = false;
  while (!seen && absl::Now() - t0 < absl::Seconds(5)) {
    absl::SleepFor(absl::Milliseconds(5));
    const auto d = m->desired();
    seen = d && d->ipcache.contains(Ip("10.244.1.50"));
  }
  m->Stop();
  ASSERT_TRUE(seen);
  EXPECT_LT(absl::Now() - t0, absl::Seconds(1));
  EXPECT_EQ(h.maps.ipcache.at(Ip("10.244.1.50")).flags, XVR_ID_F_LOCAL | XVR_ID_F_ISO_INGRESS);
}

// ---- the view --------------------------------------------------------------

TEST(PolicyView, JsonAndCheck) {
  Harness h;
  ApplyYaml(h.cluster, BaseClusterYaml() + Np("x", "allow-a", kAllowA));
  auto m = h.Make();
  ASSERT_TRUE(m->Reconcile().ok());
  absl::StatusOr<nlohmann::json> j =
      PolicyToJson(*m, {{"check", "10.244.1.20,10.244.1.11,tcp,80"}, {"entries", "1"}});
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_TRUE((*j)["enforced"].get<bool>());
  EXPECT_EQ((*j)["generation"], 1);
  EXPECT_EQ((*j)["maps"]["policy"], h.maps.policy.size());
  EXPECT_EQ((*j)["entries"].size(), h.maps.policy.size());
  EXPECT_EQ((*j)["rules"][0]["name"], "x/allow-a ingress[0]");
  EXPECT_FALSE((*j)["check"]["allowed"].get<bool>());
  EXPECT_EQ((*j)["check"]["reason"], "policy_denied_ingress");

  j = PolicyToJson(*m, {{"check", "10.244.1.10,10.244.1.11,TCP,80"}});
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE((*j)["check"]["allowed"].get<bool>());
  EXPECT_EQ((*j)["check"]["ingress"]["ruleName"], "x/allow-a ingress[0]");
  EXPECT_FALSE(j->contains("entries"));

  const std::string text = RenderPolicy(*j, /*verbose=*/true);
  EXPECT_NE(text.find("x/b"), std::string::npos) << text;
  EXPECT_NE(text.find("x/allow-a ingress[0]"), std::string::npos) << text;
  const std::string check = RenderPolicyCheck((*j)["check"]);
  EXPECT_NE(check.find("ALLOWED"), std::string::npos) << check;

  EXPECT_FALSE(PolicyToJson(*m, {{"check", "10.0.0.1,10.0.0.2"}}).ok());
  EXPECT_FALSE(PolicyToJson(*m, {{"check", "10.0.0.1,10.0.0.2,tcp"}}).ok());
  EXPECT_FALSE(PolicyToJson(*m, {{"check", "10.0.0.1,x,tcp,80"}}).ok());
  EXPECT_FALSE(PolicyToJson(*m, {{"check", "10.0.0.1,10.0.0.2,tcp,70000"}}).ok());
  EXPECT_TRUE(PolicyToJson(*m, {{"check", "10.0.0.1,10.0.0.2,icmp"}}).ok());
}

// Without the pinned maps (an older data path) the agent still compiles
// and shows policy, says loudly that it is not enforced, and bumps nothing.
TEST(PolicyView, NotEnforcedWithoutPinnedMaps) {
  absl::StatusOr<std::unique_ptr<BpfPolicyMaps>> missing =
      BpfPolicyMaps::Open("/nonexistent/xvr/maps");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(XVR_MAP_IPCACHE), std::string::npos);

  k8s::ClusterState cluster;
  ApplyYaml(cluster, BaseClusterYaml() + Np("x", "allow-a", kAllowA));
  MemoryPolicyMaps memory;
  PolicyManagerOptions o;
  o.node = LocalNode();
  o.wait_for_sync = false;
  o.not_enforced_reason = std::string(missing.status().message());
  PolicyManager m(&cluster, &memory, o, nullptr, PolicyManager::GenBumper());
  ASSERT_TRUE(m.Reconcile().ok());
  absl::StatusOr<nlohmann::json> j = PolicyToJson(m, {});
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE((*j)["enforced"].get<bool>());
  EXPECT_EQ((*j)["generation"], 0);
  EXPECT_NE(RenderPolicy(*j, false).find("NOT ENFORCED"), std::string::npos);
  EXPECT_FALSE(memory.policy.empty());  // computed all the same
}

}  // namespace
}  // namespace xvr::policy::test

// The desired-state store: apply/delete/relist, change notifications,
// snapshots, and the RemoteNodes view the overlay routes come from.
#include "agent/k8s/cluster_state.h"

#include <gtest/gtest.h>

#include <thread>

namespace xvr::k8s {
namespace {

Node MakeNode(const std::string& name, std::vector<std::string> cidrs,
              std::vector<NodeAddress> addrs, const std::string& rv = "") {
  Node n;
  n.meta.name = name;
  n.meta.resource_version = rv;
  n.pod_cidrs = std::move(cidrs);
  n.addresses = std::move(addrs);
  return n;
}

Node SimpleNode(const std::string& name, const std::string& cidr, const std::string& ip) {
  return MakeNode(name, {cidr}, {{NodeAddressType::kInternalIP, ip}});
}

Service MakeService(const std::string& ns, const std::string& name, int port = 80) {
  Service s;
  s.meta.namespace_name = ns;
  s.meta.name = name;
  s.ports.push_back({"http", Protocol::kTcp, port, IntOrString::Int(port), 0});
  return s;
}

// Records every notification batch.
struct Recorder {
  explicit Recorder(ClusterState& s) : state(s) {
    id = s.Subscribe([this](const std::vector<Change>& c) { batches.push_back(c); });
  }
  ~Recorder() { state.Unsubscribe(id); }
  std::vector<Change> All() const {
    std::vector<Change> out;
    for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
  }
  ClusterState& state;
  ClusterState::SubscriptionId id;
  std::vector<std::vector<Change>> batches;
};

TEST(ClusterState, ApplyAddsThenUpdatesAndReportsEach) {
  ClusterState state;
  Recorder rec(state);
  EXPECT_TRUE(state.Apply(MakeService("default", "web")));
  EXPECT_TRUE(state.Apply(MakeService("default", "web", 8080)));
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_EQ(rec.batches[0], (std::vector<Change>{
                                {{Kind::kService, "default", "web"}, ChangeType::kAdded}}));
  EXPECT_EQ(rec.batches[1], (std::vector<Change>{
                                {{Kind::kService, "default", "web"}, ChangeType::kUpdated}}));
  std::shared_ptr<const Service> s = state.Get<Service>("default", "web");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->ports[0].port, 8080);
  EXPECT_EQ(state.Get<Service>("other", "web"), nullptr);
  EXPECT_EQ(state.Count(Kind::kService), 1u);
}

TEST(ClusterState, ReapplyingTheSameObjectIsNotAChange) {
  ClusterState state;
  Recorder rec(state);
  EXPECT_TRUE(state.Apply(SimpleNode("n1", "10.244.1.0/24", "192.168.0.1")));
  const uint64_t gen = state.generation();
  EXPECT_FALSE(state.Apply(SimpleNode("n1", "10.244.1.0/24", "192.168.0.1")));
  EXPECT_EQ(state.generation(), gen);
  EXPECT_EQ(rec.batches.size(), 1u);
}

TEST(ClusterState, NewResourceVersionAloneIsStoredButNotReported) {
  ClusterState state;
  Recorder rec(state);
  state.Apply(MakeNode("n1", {"10.244.1.0/24"}, {}, "1"));
  EXPECT_FALSE(state.Apply(MakeNode("n1", {"10.244.1.0/24"}, {}, "2")));
  EXPECT_EQ(state.Get<Node>("", "n1")->meta.resource_version, "2");
  EXPECT_TRUE(state.Apply(MakeNode("n1", {"10.244.9.0/24"}, {}, "3")));
  EXPECT_EQ(rec.All().size(), 2u);
}

TEST(ClusterState, DeleteRemovesAndReportsOnlyWhatExisted) {
  ClusterState state;
  state.Apply(MakeService("a", "s"));
  Recorder rec(state);
  EXPECT_FALSE(state.Delete(Kind::kService, "b", "s"));
  EXPECT_FALSE(state.Delete(Kind::kPod, "a", "s")) << "keys include the kind";
  EXPECT_TRUE(state.Delete(Kind::kService, "a", "s"));
  EXPECT_FALSE(state.Delete(Kind::kService, "a", "s"));
  EXPECT_EQ(rec.All(), (std::vector<Change>{
                           {{Kind::kService, "a", "s"}, ChangeType::kDeleted}}));
  EXPECT_EQ(state.Count(Kind::kService), 0u);
}

TEST(ClusterState, ReplaceAllIsAFullRelistOfOneKind) {
  ClusterState state;
  state.Apply(MakeService("d", "keep"));
  state.Apply(MakeService("d", "change"));
  state.Apply(MakeService("d", "gone"));
  state.Apply(SimpleNode("n1", "10.0.1.0/24", "192.168.0.1"));
  EXPECT_FALSE(state.Synced(Kind::kService));
  Recorder rec(state);

  std::vector<Object> list = {MakeService("d", "keep"), MakeService("d", "change", 9090),
                              MakeService("d", "new")};
  absl::StatusOr<size_t> n = state.ReplaceAll(Kind::kService, std::move(list));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  ASSERT_EQ(rec.batches.size(), 1u) << "one relist, one notification";
  std::vector<Change> changes = rec.batches[0];
  std::sort(changes.begin(), changes.end(),
            [](const Change& a, const Change& b) { return a.key < b.key; });
  EXPECT_EQ(changes, (std::vector<Change>{
                         {{Kind::kService, "d", "change"}, ChangeType::kUpdated},
                         {{Kind::kService, "d", "gone"}, ChangeType::kDeleted},
                         {{Kind::kService, "d", "new"}, ChangeType::kAdded},
                     }));
  EXPECT_TRUE(state.Synced(Kind::kService));
  EXPECT_FALSE(state.Synced(Kind::kNode));
  EXPECT_EQ(state.Count(Kind::kNode), 1u) << "other kinds are untouched";
  std::vector<std::shared_ptr<const Service>> services = state.List<Service>();
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0]->meta.name, "change");
  EXPECT_EQ(services[1]->meta.name, "keep");
  EXPECT_EQ(services[2]->meta.name, "new");

  // An identical relist changes nothing and notifies nobody.
  std::vector<Object> same = {MakeService("d", "keep"), MakeService("d", "change", 9090),
                              MakeService("d", "new")};
  EXPECT_EQ(*state.ReplaceAll(Kind::kService, std::move(same)), 0u);
  EXPECT_EQ(rec.batches.size(), 1u);

  // An empty relist empties the kind.
  EXPECT_EQ(*state.ReplaceAll(Kind::kService, {}), 3u);
  EXPECT_EQ(state.Count(Kind::kService), 0u);
}

TEST(ClusterState, ReplaceAllWithAnotherKindFailsAndChangesNothing) {
  ClusterState state;
  state.Apply(MakeService("d", "s"));
  std::vector<Object> list = {MakeService("d", "t"), SimpleNode("n", "10.0.0.0/24", "1.1.1.1")};
  absl::StatusOr<size_t> n = state.ReplaceAll(Kind::kService, std::move(list));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().message(), "ReplaceAll(Service): got Node n");
  EXPECT_NE(state.Get<Service>("d", "s"), nullptr);
  EXPECT_EQ(state.Get<Service>("d", "t"), nullptr);
  EXPECT_FALSE(state.Synced(Kind::kService));
}

TEST(ClusterState, ReplaceAllDuplicateKeysLastWinsOneChange) {
  ClusterState state;
  Recorder rec(state);
  std::vector<Object> list = {MakeService("d", "s", 1), MakeService("d", "s", 2)};
  EXPECT_EQ(*state.ReplaceAll(Kind::kService, std::move(list)), 1u);
  EXPECT_EQ(state.Get<Service>("d", "s")->ports[0].port, 2);
  EXPECT_EQ(rec.All(), (std::vector<Change>{{{Kind::kService, "d", "s"}, ChangeType::kAdded}}));
}

TEST(ClusterState, SnapshotIsImmutableAndSharesObjects) {
  ClusterState state;
  state.Apply(MakeService("d", "s", 1));
  Snapshot snap = state.GetSnapshot();
  state.Apply(MakeService("d", "s", 2));
  state.Apply(MakeService("d", "t"));
  EXPECT_LT(snap.generation(), state.generation());
  ASSERT_NE(snap.Get<Service>("d", "s"), nullptr);
  EXPECT_EQ(snap.Get<Service>("d", "s")->ports[0].port, 1);
  EXPECT_EQ(snap.Get<Service>("d", "t"), nullptr);
  EXPECT_EQ(snap.List<Service>().size(), 1u);
  EXPECT_EQ(snap.Count(Kind::kService), 1u);
  EXPECT_EQ(state.GetSnapshot().List<Service>().size(), 2u);
}

TEST(ClusterState, ListenersMayReadAndWriteTheStore) {
  ClusterState state;
  std::vector<size_t> seen_counts;
  state.Subscribe([&](const std::vector<Change>& changes) {
    seen_counts.push_back(state.Count(Kind::kService));
    // A listener deriving state: add a companion object once.
    if (changes[0].key.name == "a") state.Apply(MakeService("d", "derived"));
  });
  state.Apply(MakeService("d", "a"));
  EXPECT_EQ(seen_counts, (std::vector<size_t>{1, 2}));
  EXPECT_NE(state.Get<Service>("d", "derived"), nullptr);
}

TEST(ClusterState, UnsubscribedListenersAreNotCalled) {
  ClusterState state;
  int calls = 0;
  ClusterState::SubscriptionId id = state.Subscribe([&](const auto&) { ++calls; });
  state.Apply(MakeService("d", "a"));
  state.Unsubscribe(id);
  state.Apply(MakeService("d", "b"));
  EXPECT_EQ(calls, 1);
}

TEST(ClusterState, ConcurrentWritersAndReadersSeeConsistentState) {
  ClusterState state;
  std::atomic<int> notified{0};
  state.Subscribe([&](const std::vector<Change>& c) { notified += static_cast<int>(c.size()); });
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        state.Apply(MakeService("ns" + std::to_string(t), "s" + std::to_string(i)));
      }
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < 200; ++i) {
      Snapshot s = state.GetSnapshot();
      EXPECT_EQ(s.List<Service>().size(), s.Count(Kind::kService));
    }
  });
  for (auto& th : threads) th.join();
  reader.join();
  EXPECT_EQ(state.Count(Kind::kService), 4u * kPerThread);
  EXPECT_EQ(notified.load(), 4 * kPerThread);
}

TEST(ClusterState, ObjectKeyToString) {
  EXPECT_EQ((ObjectKey{Kind::kNode, "", "n1"}).ToString(), "Node n1");
  EXPECT_EQ((ObjectKey{Kind::kService, "d", "web"}).ToString(), "Service d/web");
  EXPECT_EQ(ObjectKey::Of(MakeService("x", "y")), (ObjectKey{Kind::kService, "x", "y"}));
}

// ---- RemoteNodes -------------------------------------------------------------

TEST(RemoteNodes, EveryOtherNodeWithPodCidrAndInternalIp) {
  ClusterState state;
  state.Apply(SimpleNode("n1", "10.244.1.0/24", "192.168.0.1"));
  state.Apply(SimpleNode("n2", "10.244.2.0/24", "192.168.0.2"));
  state.Apply(SimpleNode("n3", "10.244.3.0/24", "192.168.0.3"));
  std::vector<SkippedNode> skipped;
  std::vector<RemoteNode> remote = state.RemoteNodes("n1", &skipped);
  ASSERT_EQ(remote.size(), 2u);
  EXPECT_EQ(remote[0].name, "n2");
  EXPECT_EQ(remote[0].pod_cidr.ToString(), "10.244.2.0/24");
  EXPECT_EQ(remote[0].node_ip.ToString(), "192.168.0.2");
  EXPECT_EQ(remote[1].name, "n3");
  EXPECT_TRUE(skipped.empty()) << "the local node is not a skip";
  EXPECT_EQ(state.GetSnapshot().RemoteNodes("n1"), remote);
}

TEST(RemoteNodes, NodesLackingPodCidrOrInternalIpAreSkippedWithAReason) {
  ClusterState state;
  state.Apply(MakeNode("no-cidr", {}, {{NodeAddressType::kInternalIP, "192.168.0.4"}}));
  state.Apply(MakeNode("v6-only", {"fd00:5::/64"}, {{NodeAddressType::kInternalIP, "192.168.0.5"}}));
  state.Apply(MakeNode("bad-cidr", {"10.244.6.1/24"}, {{NodeAddressType::kInternalIP, "192.168.0.6"}}));
  state.Apply(MakeNode("external-only", {"10.244.7.0/24"},
                       {{NodeAddressType::kExternalIP, "203.0.113.7"},
                        {NodeAddressType::kHostname, "external-only"}}));
  state.Apply(MakeNode("bad-ip", {"10.244.8.0/24"}, {{NodeAddressType::kInternalIP, "192.168.0"}}));
  state.Apply(MakeNode("dual", {"fd00:9::/64", "10.244.9.0/24"},
                       {{NodeAddressType::kInternalIP, "fd00::9"},
                        {NodeAddressType::kInternalIP, "192.168.0.9"}}));
  std::vector<SkippedNode> skipped;
  std::vector<RemoteNode> remote = state.RemoteNodes("local", &skipped);
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_EQ(remote[0].name, "dual") << "dual-stack nodes use their IPv4 entries";
  EXPECT_EQ(remote[0].pod_cidr.ToString(), "10.244.9.0/24");
  EXPECT_EQ(remote[0].node_ip.ToString(), "192.168.0.9");
  ASSERT_EQ(skipped.size(), 5u);
  std::map<std::string, std::string> reasons;
  for (const SkippedNode& s : skipped) reasons[s.name] = s.reason;
  EXPECT_EQ(reasons["no-cidr"], "no spec.podCIDR");
  EXPECT_EQ(reasons["v6-only"], "no IPv4 spec.podCIDR");
  EXPECT_EQ(reasons["bad-cidr"].rfind("spec.podCIDR \"10.244.6.1/24\": ", 0), 0u)
      << reasons["bad-cidr"];
  EXPECT_EQ(reasons["external-only"], "no IPv4 InternalIP in status.addresses");
  EXPECT_EQ(reasons["bad-ip"].rfind("InternalIP \"192.168.0\": ", 0), 0u) << reasons["bad-ip"];
}

TEST(RemoteNodes, OverlappingPodCidrsAreSkippedIncludingTheLocalOne) {
  ClusterState state;
  state.Apply(SimpleNode("local", "10.244.0.0/24", "192.168.0.1"));
  state.Apply(SimpleNode("a", "10.244.1.0/24", "192.168.0.2"));
  state.Apply(SimpleNode("b", "10.244.1.128/25", "192.168.0.3"));
  state.Apply(SimpleNode("c", "10.244.0.0/16", "192.168.0.4"));
  state.Apply(SimpleNode("d", "10.245.0.0/24", "192.168.0.5"));
  std::vector<SkippedNode> skipped;
  std::vector<RemoteNode> remote = state.RemoteNodes("local", &skipped);
  ASSERT_EQ(remote.size(), 2u);
  EXPECT_EQ(remote[0].name, "a");
  EXPECT_EQ(remote[1].name, "d");
  EXPECT_EQ(skipped, (std::vector<SkippedNode>{
                         {"b", "pod CIDR 10.244.1.128/25 overlaps the pod CIDR of node a"},
                         {"c", "pod CIDR 10.244.0.0/16 overlaps the pod CIDR of node local"},
                     }));
}

TEST(RemoteNodes, FollowsNodesAddedAndRemoved) {
  ClusterState state;
  EXPECT_TRUE(state.RemoteNodes("n1").empty());
  state.Apply(SimpleNode("n2", "10.244.2.0/24", "192.168.0.2"));
  EXPECT_EQ(state.RemoteNodes("n1").size(), 1u);
  state.Delete(Kind::kNode, "", "n2");
  EXPECT_TRUE(state.RemoteNodes("n1").empty());
}

}  // namespace
}  // namespace xvr::k8s

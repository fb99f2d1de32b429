#include "agent/flows/pod_names.h"

#include "agent/k8s/cluster_state.h"
#include "agent/k8s/objects.h"
#include "flow_test_util.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

using test::Ip;

k8s::Pod MakePod(const std::string& ns, const std::string& name, const std::string& ip,
                 k8s::PodPhase phase = k8s::PodPhase::kRunning, bool host_network = false) {
  k8s::Pod p;
  p.meta.namespace_name = ns;
  p.meta.name = name;
  p.pod_ips = {ip};
  p.phase = phase;
  p.host_network = host_network;
  return p;
}

TEST(PodNames, EndpointsThenClusterPods) {
  k8s::ClusterState cluster;
  cluster.Apply(MakePod("default", "remote", "10.244.2.5"));
  cluster.Apply(MakePod("default", "stale-name", "10.244.1.2"));
  cluster.Apply(MakePod("kube-system", "hostnet", "192.168.0.1", k8s::PodPhase::kRunning, true));
  cluster.Apply(MakePod("default", "done", "10.244.2.6", k8s::PodPhase::kSucceeded));
  std::vector<EndpointRecord> eps(1);
  eps[0].pod_namespace = "default";
  eps[0].pod_name = "local";
  eps[0].ip = *Ipv4Addr::Parse("10.244.1.2");
  PodNames names([&] { return eps; }, &cluster, absl::ZeroDuration());
  EXPECT_EQ(names.Resolve(Ip("10.244.2.5")), "default/remote");
  EXPECT_EQ(names.Resolve(Ip("10.244.1.2")), "default/local");  // the endpoint wins
  EXPECT_EQ(names.Resolve(Ip("192.168.0.1")), "");              // host network: the node's
  EXPECT_EQ(names.Resolve(Ip("10.244.2.6")), "");               // finished
  EXPECT_EQ(names.Resolve(Ip("10.9.9.9")), "");
  // A new pod is seen once the index is rebuilt (refresh 0: every call).
  cluster.Apply(MakePod("default", "new", "10.244.2.7"));
  EXPECT_EQ(names.AsFunction()(Ip("10.244.2.7")), "default/new");
}

TEST(PodNames, WorksWithoutSources) {
  PodNames names(nullptr, nullptr);
  EXPECT_EQ(names.Resolve(Ip("10.0.0.1")), "");
}

}  // namespace
}  // namespace xvr

// Turns the cluster's Nodes into tunnel routes: every other Node's pod CIDR
// via VXLAN to its InternalIP. Also keeps the underlay neighbours of those
// nodes resolved, because xdp_pod takes outer MACs from the mirrored
// neighbour table and the kernel only resolves a neighbour it sends to.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "agent/k8s/cluster_state.h"
#include "agent/routing/route_table.h"

namespace xvr {

class TunnelManager {
 public:
  TunnelManager(k8s::ClusterState* state, RouteTable* routes, std::string local_node)
      : state_(state), routes_(routes), local_node_(std::move(local_node)) {}
  ~TunnelManager() { Stop(); }
  TunnelManager(const TunnelManager&) = delete;
  TunnelManager& operator=(const TunnelManager&) = delete;

  // Programs the current Nodes, then follows changes; probes the remote
  // nodes every probe_interval so their neighbour entries stay valid.
  absl::Status Start(int probe_interval_seconds = 10);
  void Stop();

  std::vector<k8s::RemoteNode> Current() const;

 private:
  void Sync();
  void ProbeLoop(int interval);
  std::vector<Ipv4Addr> ProbeTargets() const;
  static void Probe(const std::vector<Ipv4Addr>& targets);

  k8s::ClusterState* state_;
  RouteTable* routes_;
  const std::string local_node_;
  k8s::ClusterState::SubscriptionId sub_ = 0;
  bool subscribed_ = false;

  mutable std::mutex mu_;
  std::vector<k8s::RemoteNode> current_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread prober_;
};

}  // namespace xvr

#include "agent/overlay/tunnel_manager.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "agent/dataplane/unique_fd.h"
#include "spdlog/spdlog.h"

namespace xvr {

absl::Status TunnelManager::Start(int probe_interval_seconds) {
  sub_ = state_->Subscribe([this](const std::vector<k8s::Change>& changes) {
    for (const k8s::Change& c : changes) {
      if (c.key.kind == k8s::Kind::kNode) {
        Sync();
        return;
      }
    }
  });
  subscribed_ = true;
  Sync();
  prober_ = std::thread([this, probe_interval_seconds] { ProbeLoop(probe_interval_seconds); });
  return absl::OkStatus();
}

void TunnelManager::Stop() {
  if (subscribed_) {
    state_->Unsubscribe(sub_);
    subscribed_ = false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (prober_.joinable()) prober_.join();
}

std::vector<k8s::RemoteNode> TunnelManager::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void TunnelManager::Sync() {
  std::vector<k8s::SkippedNode> skipped;
  std::vector<k8s::RemoteNode> nodes = state_->RemoteNodes(local_node_, &skipped);
  for (const k8s::SkippedNode& s : skipped) {
    spdlog::warn("node {} is not a tunnel destination: {}", s.name, s.reason);
  }
  std::vector<TunnelRoute> routes;
  routes.reserve(nodes.size());
  for (const k8s::RemoteNode& n : nodes) routes.push_back({n.pod_cidr, n.node_ip});
  if (absl::Status s = routes_->SetTunnelRoutes(routes); !s.ok()) {
    spdlog::warn("tunnel routes: {}", s.ToString());
  }
  spdlog::info("tunnel routes: {} remote node(s)", nodes.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(nodes);
  }
  Probe(ProbeTargets());
}

std::vector<Ipv4Addr> TunnelManager::ProbeTargets() const {
  std::vector<Ipv4Addr> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const k8s::RemoteNode& n : current_) out.push_back(n.node_ip);
  }
  // Gateways of kernel routes (the default route above all): pod traffic
  // leaving the cluster goes to them, with MACs from the neighbour map.
  for (const RouteEntry& e : routes_->Snapshot()) {
    if (e.type == XVR_RT_KERNEL && e.nexthop.value() != 0) out.push_back(e.nexthop);
  }
  return out;
}

void TunnelManager::ProbeLoop(int interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(interval), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Probe(ProbeTargets());
    lock.lock();
  }
}

// A datagram to the discard port makes the kernel resolve the next hop
// towards each node; the netlink mirror then copies the neighbour into
// xvr_neigh. The remote kernel answers with a port unreachable at worst.
void TunnelManager::Probe(const std::vector<Ipv4Addr>& targets) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return;
  for (const Ipv4Addr& ip : targets) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = ip.be();
    (void)::sendto(fd.get(), "", 0, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }
}

}  // namespace xvr

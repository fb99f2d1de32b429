// A network namespace with the route/neighbour mirroring running in it, for
// the routing e2e tests and the route-learning benchmark. Root only.
//
// The namespace ("xvrrt-<pid>-<n>", so `ip -n` works and leftovers of a
// crashed run can be told apart) holds a veth pair xr0/xr1, 192.168.77.1/24
// on xr0, gateway 192.168.77.2. The maps are real BPF maps made with
// bpf_map_create (not pinned: they go with the process): an LPM trie like
// xvr_routes and a hash like xvr_neigh. The watchers' threads enter the
// namespace before opening their sockets; the caller's thread stays where
// it is.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/netlink/neigh_watcher.h"
#include "agent/netlink/route_watcher.h"
#include "agent/routing/neigh_table.h"
#include "agent/routing/route_table.h"
#include "xvr/abi.h"

namespace xvr::test {

inline constexpr char kLabDev[] = "xr0";
inline constexpr char kLabAddr[] = "192.168.77.1";
inline constexpr char kLabGateway[] = "192.168.77.2";
inline constexpr char kLabGateway2[] = "192.168.77.3";

struct RoutingLabOptions {
  int rcvbuf_bytes = 32 << 20;  // event socket receive buffer of both watchers
  bool start = true;            // start the watchers in Create()
};

class RoutingLab {
 public:
  static absl::StatusOr<std::unique_ptr<RoutingLab>> Create(RoutingLabOptions opts = {});
  ~RoutingLab();  // stops the watchers, deletes the namespace

  // Starts both watchers (when created with start = false).
  absl::Status Start();

  // `ip -n <ns> <args>`; an error carries the command and its output.
  absl::Status Ip(const std::string& args) const;
  absl::StatusOr<std::string> IpOutput(const std::string& args) const;
  // `ip -n <ns> -batch <file>` with these lines.
  absl::Status IpBatch(const std::vector<std::string>& lines) const;

  const std::string& netns() const { return name_; }
  uint32_t dev_ifindex() const { return dev_ifindex_; }
  int routes_fd() const { return routes_map_->fd(); }
  int neigh_fd() const { return neigh_map_->fd(); }
  BpfMap<xvr_route_key, xvr_route>& routes_map() { return *routes_map_; }
  RouteTable& routes() { return *routes_; }
  NeighTable& neighs() { return *neighs_; }
  RouteWatcher& route_watcher() { return *route_watcher_; }
  NeighWatcher& neigh_watcher() { return *neigh_watcher_; }

 private:
  RoutingLab() = default;

  std::string name_;
  uint32_t dev_ifindex_ = 0;
  std::unique_ptr<BpfMap<xvr_route_key, xvr_route>> routes_map_;
  std::unique_ptr<BpfMap<__be32, xvr_neigh>> neigh_map_;
  std::unique_ptr<RouteTable> routes_;
  std::unique_ptr<NeighTable> neighs_;
  std::unique_ptr<RouteWatcher> route_watcher_;
  std::unique_ptr<NeighWatcher> neigh_watcher_;
};

// Deletes namespaces xvrrt-<pid>-* whose process is gone (a crashed run).
void CleanStaleLabs();

// --- Reading the real maps (syscalls, not the tables' view) ---

// LPM lookup of one address (a /32 key), as the data path does it.
std::optional<xvr_route> LpmLookup(int fd, const std::string& ip);
std::optional<xvr_neigh> NeighLookup(int fd, const std::string& ip);
// Number of keys, walked with bpf_map_get_next_key.
size_t CountKeys(int fd, size_t key_size);
// Every LPM entry: "a.b.c.d/len" → value.
std::map<std::string, xvr_route> DumpRoutes(int fd);

// Polls `pred` every `every` until true or `timeout`; returns the time it
// took, or nullopt on timeout.
template <typename Pred>
std::optional<std::chrono::microseconds> WaitFor(
    Pred pred, std::chrono::milliseconds timeout,
    std::chrono::microseconds every = std::chrono::microseconds(100)) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (pred()) {
      return std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - start);
    }
    if (std::chrono::steady_clock::now() - start > timeout) return std::nullopt;
    std::this_thread::sleep_for(every);
  }
}

// Batch lines adding (or deleting) n /24 routes from `first` on, via gw.
std::vector<std::string> RouteBatch(const char* verb, const std::string& first, int n,
                                    const std::string& gw);

}  // namespace xvr::test

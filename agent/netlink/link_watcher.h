// Watches link events (RTNLGRP_LINK) and reports deleted interfaces, so
// endpoints whose host veth vanished are cleaned up.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "agent/netlink/nl.h"

namespace xvr {

// What the watcher saw, for the agent's metrics.
struct LinkWatcherStats {
  uint64_t events = 0;    // link messages received (any type)
  uint64_t deleted = 0;   // RTM_DELLINK
  uint64_t overruns = 0;  // events lost to a full socket buffer (→ resync)
  uint64_t errors = 0;    // other receive errors
};

class LinkWatcher {
 public:
  struct Callbacks {
    std::function<void(uint32_t ifindex, const std::string& ifname)> on_deleted;
    // Events were lost (socket overrun): the caller must re-check every link.
    std::function<void()> on_resync;
  };

  explicit LinkWatcher(Callbacks cb) : cb_(std::move(cb)) {}
  ~LinkWatcher() { Stop(); }
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  absl::Status Start();
  void Stop();
  LinkWatcherStats stats() const {
    return {events_.load(), deleted_.load(), overruns_.load(), errors_.load()};
  }

 private:
  void Run();
  static int OnMessage(nl_msg* msg, void* arg);

  Callbacks cb_;
  NlSock sock_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0}, deleted_{0}, overruns_{0}, errors_{0};
  std::thread thread_;
};

}  // namespace xvr

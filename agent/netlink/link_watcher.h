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

 private:
  void Run();
  static int OnMessage(nl_msg* msg, void* arg);

  Callbacks cb_;
  NlSock sock_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace xvr

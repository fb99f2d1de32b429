// Network namespaces: an owned handle on one, and a guard that moves the
// calling thread into it and back.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr::cni {

// An open network namespace (e.g. CNI_NETNS, /run/netns/<name>).
class Netns {
 public:
  // Code 8 if `path` cannot be opened, is not a netns, or is the calling
  // thread's own netns (skel refuses that too: the plugin would reconfigure
  // the node).
  static absl::StatusOr<Netns> Open(const std::string& path);
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  Netns(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// While alive, the calling thread is in the target netns; the destructor
// returns it to the netns it came from (/proc/thread-self/ns/net, so it is
// right on any thread). Sockets and /proc/sys files opened meanwhile belong
// to the target. Never move it to another thread.
class NetnsGuard {
 public:
  static absl::StatusOr<NetnsGuard> Enter(const Netns& ns);
  NetnsGuard(NetnsGuard&&) = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  ~NetnsGuard();

 private:
  explicit NetnsGuard(UniqueFd origin) : origin_(std::move(origin)) {}
  UniqueFd origin_;
};

}  // namespace xvr::cni

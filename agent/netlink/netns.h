// Entering a network namespace for the calling thread, and leaving it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr {

// While alive, the calling thread is in the netns at `path`; the destructor
// returns it to the netns it came from. Never move it to another thread.
class NetnsGuard {
 public:
  static absl::StatusOr<NetnsGuard> Enter(const std::string& path);
  NetnsGuard(NetnsGuard&&) = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  ~NetnsGuard();

 private:
  explicit NetnsGuard(UniqueFd origin) : origin_(std::move(origin)) {}
  UniqueFd origin_;
};

}  // namespace xvr

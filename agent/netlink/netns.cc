#include "agent/netlink/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {

absl::StatusOr<NetnsGuard> NetnsGuard::Enter(const std::string& path) {
  UniqueFd origin(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!origin.valid()) return ErrnoStatus(errno, "open own netns");
  UniqueFd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target.valid()) return ErrnoStatus(errno, absl::StrCat("open netns ", path));
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    return ErrnoStatus(errno, absl::StrCat("setns ", path));
  }
  return NetnsGuard(std::move(origin));
}

NetnsGuard::~NetnsGuard() {
  if (!origin_.valid()) return;  // moved from
  if (::setns(origin_.get(), CLONE_NEWNET) != 0) {
    // A thread stuck in a pod's netns would program the wrong namespace
    // from then on; there is no safe way to continue.
    spdlog::critical("cannot return to the agent's netns: {}", std::strerror(errno));
    std::abort();
  }
}

}  // namespace xvr

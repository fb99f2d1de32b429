#include "cni-plugin/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cni-plugin/errors.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

constexpr char kOwnNetns[] = "/proc/thread-self/ns/net";

absl::Status NetnsError(const std::string& path, absl::string_view why) {
  return CniError(Code::kInvalidNetns, absl::StrCat("netns \"", path, "\": ", why));
}

}  // namespace

absl::StatusOr<Netns> Netns::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return NetnsError(path, std::strerror(errno));
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0) return NetnsError(path, std::strerror(errno));
  if (fs.f_type != NSFS_MAGIC && fs.f_type != PROC_SUPER_MAGIC) {
    return NetnsError(path, "not a network namespace");
  }
  struct stat target {}, own {};
  if (::fstat(fd.get(), &target) != 0 || ::stat(kOwnNetns, &own) != 0) {
    return NetnsError(path, std::strerror(errno));
  }
  if (target.st_dev == own.st_dev && target.st_ino == own.st_ino) {
    return NetnsError(path, "is the plugin's own network namespace");
  }
  return Netns(std::move(fd), path);
}

absl::StatusOr<NetnsGuard> NetnsGuard::Enter(const Netns& ns) {
  UniqueFd origin(::open(kOwnNetns, O_RDONLY | O_CLOEXEC));
  if (!origin.valid()) {
    return CniError(Code::kInternal, absl::StrCat("open ", kOwnNetns, ": ", std::strerror(errno)));
  }
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) {
    return CniError(Code::kInvalidNetns,
                    absl::StrCat("setns into ", ns.path(), ": ", std::strerror(errno)));
  }
  return NetnsGuard(std::move(origin));
}

NetnsGuard::~NetnsGuard() {
  if (!origin_.valid()) return;  // moved from
  if (::setns(origin_.get(), CLONE_NEWNET) != 0) {
    // Anything done from here on would change the pod instead of the node.
    spdlog::critical("cannot return to the node's netns: {}", std::strerror(errno));
    std::abort();
  }
}

}  // namespace xvr::cni

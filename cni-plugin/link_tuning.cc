#include "cni-plugin/link_tuning.h"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr::cni {
namespace {

absl::Status Ethtool(const std::string& ifname, ethtool_value* ev, const char* what) {
  if (ifname.size() >= IFNAMSIZ) return absl::InvalidArgumentError("interface name too long");
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket for ethtool");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ifr.ifr_data = reinterpret_cast<char*>(ev);
  if (::ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0) {
    return ErrnoStatus(errno, absl::StrCat(what, " ", ifname));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SetGro(const std::string& ifname, bool on) {
  ethtool_value ev{ETHTOOL_SGRO, on ? 1u : 0u};
  return Ethtool(ifname, &ev, "ethtool ETHTOOL_SGRO");
}

absl::StatusOr<bool> GetGro(const std::string& ifname) {
  ethtool_value ev{ETHTOOL_GGRO, 0};
  RETURN_IF_ERROR(Ethtool(ifname, &ev, "ethtool ETHTOOL_GGRO"));
  return ev.data != 0;
}

absl::Status SetTxChecksum(const std::string& ifname, bool on) {
  ethtool_value ev{ETHTOOL_STXCSUM, on ? 1u : 0u};
  return Ethtool(ifname, &ev, "ethtool ETHTOOL_STXCSUM");
}

absl::StatusOr<bool> GetTxChecksum(const std::string& ifname) {
  ethtool_value ev{ETHTOOL_GTXCSUM, 0};
  RETURN_IF_ERROR(Ethtool(ifname, &ev, "ethtool ETHTOOL_GTXCSUM"));
  return ev.data != 0;
}

absl::Status SetSegmentation(const std::string& ifname, bool on) {
  ethtool_value tso{ETHTOOL_STSO, on ? 1u : 0u};
  RETURN_IF_ERROR(Ethtool(ifname, &tso, "ethtool ETHTOOL_STSO"));
  ethtool_value gso{ETHTOOL_SGSO, on ? 1u : 0u};
  return Ethtool(ifname, &gso, "ethtool ETHTOOL_SGSO");
}

absl::Status DisableIpv6(const std::string& ifname) {
  if (::access("/proc/sys/net/ipv6", F_OK) != 0) return absl::OkStatus();
  // /proc/sys/net resolves against the opening thread's netns.
  const std::string path = absl::StrCat("/proc/sys/net/ipv6/conf/", ifname, "/disable_ipv6");
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  if (::write(fd.get(), "1\n", 2) != 2) return ErrnoStatus(errno, absl::StrCat("write ", path));
  return absl::OkStatus();
}

}  // namespace xvr::cni

#include "test/bpf/test_netns.h"

#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace xvr::test {
namespace {

absl::Status Errno(int err, const std::string& what) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", std::strerror(err)));
}

// Just enough of an rtnetlink request builder for RTM_NEWLINK / RTM_DELLINK.
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_SPACE(sizeof(ifinfomsg)));
    auto* h = hdr();
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    h->nlmsg_seq = 1;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    ifi->ifi_family = AF_UNSPEC;
  }

  ifinfomsg* ifi() { return static_cast<ifinfomsg*>(NLMSG_DATA(hdr())); }

  void Put(uint16_t type, const void* data, size_t len) {
    const size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    buf_.resize(off + RTA_SPACE(len));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + off);
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    if (len) std::memcpy(RTA_DATA(rta), data, len);
    hdr()->nlmsg_len = static_cast<uint32_t>(off + RTA_SPACE(len));
  }
  void PutString(uint16_t type, const std::string& s) { Put(type, s.c_str(), s.size() + 1); }
  // Raw bytes inside the message (a nested ifinfomsg).
  void PutRaw(const void* data, size_t len) {
    const size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    buf_.resize(off + NLMSG_ALIGN(len));
    std::memcpy(buf_.data() + off, data, len);
    hdr()->nlmsg_len = static_cast<uint32_t>(off + NLMSG_ALIGN(len));
  }
  size_t BeginNest(uint16_t type) {
    const size_t off = NLMSG_ALIGN(hdr()->nlmsg_len);
    Put(type, nullptr, 0);
    return off;
  }
  void EndNest(size_t off) {
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + off);
    rta->rta_len = static_cast<uint16_t>(hdr()->nlmsg_len - off);
  }

  absl::Status Send(const std::string& what) {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return Errno(errno, "socket(NETLINK_ROUTE)");
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    absl::Status st;
    if (::sendto(fd, buf_.data(), hdr()->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa),
                 sizeof(sa)) < 0) {
      st = Errno(errno, what);
    } else {
      char reply[8192];
      const ssize_t n = ::recv(fd, reply, sizeof(reply), 0);
      if (n < 0) {
        st = Errno(errno, what);
      } else {
        auto* h = reinterpret_cast<nlmsghdr*>(reply);
        if (!NLMSG_OK(h, static_cast<uint32_t>(n)) || h->nlmsg_type != NLMSG_ERROR) {
          st = absl::InternalError(absl::StrCat(what, ": unexpected netlink reply"));
        } else {
          const auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
          if (err->error != 0) st = Errno(-err->error, what);
        }
      }
    }
    ::close(fd);
    return st;
  }

 private:
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char> buf_;
};

}  // namespace

absl::Status ScopedNetns::Enter() {
  if (orig_fd_ >= 0) return absl::FailedPreconditionError("already in a test netns");
  const int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "open /proc/thread-self/ns/net");
  if (::unshare(CLONE_NEWNET) != 0) {
    const int err = errno;
    ::close(fd);
    return Errno(err, "unshare(CLONE_NEWNET)");
  }
  orig_fd_ = fd;
  return absl::OkStatus();
}

void ScopedNetns::Leave() {
  if (orig_fd_ < 0) return;
  // The namespace, with whatever is left in it, goes with its last user.
  if (::setns(orig_fd_, CLONE_NEWNET) != 0) std::abort();  // the thread would stay astray
  ::close(orig_fd_);
  orig_fd_ = -1;
}

absl::StatusOr<VethPair> CreateVethPair(const std::string& name, const std::string& peer_name) {
  if (name.size() >= IFNAMSIZ || peer_name.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError("interface name too long");
  NlRequest req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.PutString(IFLA_IFNAME, name);
  const size_t linkinfo = req.BeginNest(IFLA_LINKINFO);
  req.PutString(IFLA_INFO_KIND, "veth");
  const size_t data = req.BeginNest(IFLA_INFO_DATA);
  const size_t peer = req.BeginNest(VETH_INFO_PEER);
  ifinfomsg peer_ifi{};
  peer_ifi.ifi_family = AF_UNSPEC;
  req.PutRaw(&peer_ifi, sizeof(peer_ifi));
  req.PutString(IFLA_IFNAME, peer_name);
  req.EndNest(peer);
  req.EndNest(data);
  req.EndNest(linkinfo);
  if (absl::Status st = req.Send(absl::StrCat("create veth ", name, "/", peer_name)); !st.ok())
    return st;

  VethPair v;
  v.name = name;
  v.peer_name = peer_name;
  v.ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  v.peer_ifindex = static_cast<int>(if_nametoindex(peer_name.c_str()));
  if (v.ifindex == 0 || v.peer_ifindex == 0)
    return absl::InternalError(absl::StrCat("veth ", name, " created but not found"));
  return v;
}

absl::Status DeleteLink(const std::string& name) {
  const unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return absl::NotFoundError(absl::StrCat("no link ", name));
  NlRequest req(RTM_DELLINK, 0);
  req.ifi()->ifi_index = static_cast<int>(ifindex);
  return req.Send(absl::StrCat("delete link ", name));
}

}  // namespace xvr::test

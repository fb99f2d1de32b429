// RAII owners for libnl objects and the route-netlink calls the agent makes.
#pragma once

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/common/net_types.h"

namespace xvr {

struct NlSockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using NlSock = std::unique_ptr<nl_sock, NlSockDeleter>;

struct NlObjectDeleter {
  void operator()(void* o) const { nl_object_put(static_cast<nl_object*>(o)); }
};
template <typename T>
using NlObject = std::unique_ptr<T, NlObjectDeleter>;

// nl_addr has its own reference count (nl_addr_put), not nl_object's.
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;

// A connected NETLINK_ROUTE socket.
absl::StatusOr<NlSock> ConnectRoute();

absl::Status NlStatus(int nlerr, const std::string& what);

struct LinkAttrs {
  uint32_t ifindex = 0;
  MacAddr mac;
  unsigned flags = 0;
  uint32_t mtu = 0;
};

// The first IPv4 address on `ifindex` (the node's underlay address on the
// fabric NIC). NotFound when it has none.
absl::StatusOr<Ipv4Addr> FirstIpv4(nl_sock* sock, uint32_t ifindex);
absl::StatusOr<LinkAttrs> GetLink(nl_sock* sock, const std::string& ifname);

// The host loopback pair: `host` (ARP off, carries the gateway /32 and the
// pod-CIDR route) and its peer. Idempotent.
absl::StatusOr<LinkAttrs> EnsureHostPair(const std::string& host, const std::string& peer,
                                         Ipv4Addr gateway, const Ipv4Prefix& pod_cidr,
                                         uint32_t mtu);

// Routes `prefix` into the host loopback device `host` with source `src`
// (the service CIDR: the node's own ClusterIP connections). Idempotent.
absl::Status EnsureHostRoute(const std::string& host, const Ipv4Prefix& prefix, Ipv4Addr src);

// Writes /proc/sys/net/ipv4/conf/<ifname>/<key> in the caller's netns.
absl::Status SetIpv4ConfSysctl(const std::string& ifname, const std::string& key,
                               const std::string& value);

}  // namespace xvr

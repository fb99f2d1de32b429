// Route-netlink through libnl-route-3: links, veth pairs, addresses, routes.
// An Rtnl works on the netns its socket was opened in, so open one per
// netns (inside a NetnsGuard for the pod).
#pragma once

#include <netlink/netlink.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

struct rtnl_link;

namespace xvr::cni {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;  // IFLA_INFO_KIND ("veth"), empty for none
  std::string mac;   // "aa:bb:cc:dd:ee:ff"
  uint32_t mtu = 0;
  unsigned flags = 0;  // IFF_*
  bool up() const;
};

struct AddrInfo {
  int ifindex = 0;
  std::string local;  // "10.1.2.3"
  int prefixlen = 0;
};

struct RouteInfo {
  std::string dst;  // "0.0.0.0/0"
  std::string gw;   // empty if none
  int oif = 0;
  uint32_t table = 0;
  int scope = 0;
};

struct RouteSpec {
  std::string dst;  // CIDR
  std::string gw;   // empty: a device route
  int oif = 0;
  int scope = 0;    // RT_SCOPE_*
};

struct NlSockDeleter {
  void operator()(nl_sock* s) const;
};

class Rtnl {
 public:
  // A NETLINK_ROUTE socket in the calling thread's current netns.
  static absl::StatusOr<Rtnl> Open();

  // NotFound if there is no such link.
  absl::StatusOr<LinkInfo> GetLink(const std::string& name);
  absl::StatusOr<std::vector<LinkInfo>> ListLinks();

  // AlreadyExists if either name is taken.
  absl::Status CreateVeth(const std::string& name, const std::string& peer);
  absl::Status MoveToNetns(const std::string& name, int netns_fd);
  absl::Status Rename(const std::string& name, const std::string& new_name);
  absl::Status SetMtu(const std::string& name, uint32_t mtu);
  absl::Status SetUp(const std::string& name);
  // NotFound if there is no such link. Deleting one veth end deletes both.
  absl::Status DeleteLink(const std::string& name);

  absl::Status AddAddress(int ifindex, const std::string& cidr);
  absl::StatusOr<std::vector<AddrInfo>> ListAddresses();  // IPv4

  absl::Status AddRoute(const RouteSpec& r);
  absl::StatusOr<std::vector<RouteInfo>> ListRoutes();  // IPv4, main table

 private:
  explicit Rtnl(nl_sock* s) : sock_(s) {}
  // Applies `set` to an empty change object and sends it for link `name`.
  absl::Status Change(const std::string& name, absl::string_view what,
                      absl::FunctionRef<void(rtnl_link*)> set);
  std::unique_ptr<nl_sock, NlSockDeleter> sock_;
};

}  // namespace xvr::cni

// The agent's HTTP API over its unix socket (docs/API.md), as the plugin
// uses it. Errors carry CNI codes: transport failures and 503 are 11 (try
// again later), any other non-2xx answer is 100 with the agent's message,
// and a 404 is absl::NotFoundError (also code 100) so GetEndpoint() callers
// can tell "unknown endpoint" apart. Plain HTTP/1.1 on the socket (one
// request per connection), not cpp-httplib: the plugin runs on the host and
// is linked statically (cni-plugin/CMakeLists.txt).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cni-plugin/conf.h"
#include "nlohmann/json.hpp"

namespace xvr::cni {

struct RegisterRequest {
  std::string container_id;
  std::string ifname;
  std::string netns;
  std::string host_ifname;
  std::string mac;  // pod side
  std::string pod_namespace;
  std::string pod_name;
};

struct AgentRoute {
  std::string dst;
  std::string gw;  // may be empty
};

struct RegisterAnswer {
  std::string ip;  // "10.244.1.5/24"
  std::string gateway;
  std::vector<AgentRoute> routes;
  uint32_t mtu = 0;  // 0: leave the default
  std::string host_mac;
  // Offloads the pod's interface may keep (the agent decides: XDP on the
  // host veth needs checksums computed by the pod's stack).
  bool tx_checksum_offload = true;
  bool segmentation_offload = true;
};

struct EndpointView {
  std::string ip;  // "10.244.1.5", no prefix length
  std::string host_ifname;
  std::string mac;
};

class AgentClient {
 public:
  explicit AgentClient(std::string socket_path) : socket_(std::move(socket_path)) {}

  absl::StatusOr<RegisterAnswer> Register(const RegisterRequest& req);
  absl::Status Unregister(const std::string& container_id, const std::string& ifname);
  absl::StatusOr<EndpointView> GetEndpoint(const std::string& container_id,
                                           const std::string& ifname);
  // The hostIfname of every endpoint the agent knows.
  absl::StatusOr<std::vector<std::string>> ListHostIfnames();
  absl::Status Gc(const std::vector<Attachment>& valid);
  // OK on 200 from /healthz.
  absl::Status Healthz();

  const std::string& socket() const { return socket_; }

 private:
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      const nlohmann::json* body);
  std::string socket_;
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string EscapePathSegment(const std::string& s);

}  // namespace xvr::cni

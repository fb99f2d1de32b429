// One pod attachment as the agent remembers it: the persisted record and the
// object the API answers with (same JSON field names in both places).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "agent/common/net_types.h"
#include "agent/config/vrouter.h"
#include "agent/ipam/attachment_key.h"

namespace xvr {

struct EndpointRecord {
  uint32_t id = 0;  // agent-assigned, stable for the life of the attachment
  AttachmentKey key;
  std::string netns;
  std::string pod_namespace;
  std::string pod_name;
  Ipv4Addr ip;
  MacAddr mac;  // pod side
  std::string host_ifname;
  uint32_t host_ifindex = 0;
  MacAddr host_mac;
  PodAttach attach = PodAttach::kXdp;

  bool operator==(const EndpointRecord&) const = default;
};

// {"id", "containerID", "ifname", "netns", "podNamespace", "podName", "ip",
//  "mac", "hostIfname", "hostIfindex", "hostMac", "attach"}; ip without
// prefix length.
nlohmann::json EndpointToJson(const EndpointRecord& ep);
// Strict inverse of EndpointToJson; errors name the field.
absl::StatusOr<EndpointRecord> EndpointFromJson(const nlohmann::json& j);

}  // namespace xvr

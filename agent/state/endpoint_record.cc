#include "agent/state/endpoint_record.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace xvr {
namespace {

absl::StatusOr<std::string> Str(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return absl::InvalidArgumentError(absl::StrCat(name, ": missing"));
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(name, ": not a string"));
  return it->get<std::string>();
}

absl::StatusOr<uint32_t> U32(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return absl::InvalidArgumentError(absl::StrCat(name, ": missing"));
  if (!it->is_number_unsigned() || it->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not a 32-bit unsigned integer"));
  }
  return static_cast<uint32_t>(it->get<uint64_t>());
}

template <typename T>
absl::StatusOr<T> Prefixed(absl::StatusOr<T> v, const char* name) {
  if (v.ok()) return v;
  return absl::Status(v.status().code(), absl::StrCat(name, ": ", v.status().message()));
}

}  // namespace

nlohmann::json EndpointToJson(const EndpointRecord& ep) {
  return {{"id", ep.id},
          {"containerID", ep.key.container_id},
          {"ifname", ep.key.ifname},
          {"netns", ep.netns},
          {"podNamespace", ep.pod_namespace},
          {"podName", ep.pod_name},
          {"ip", ep.ip.ToString()},
          {"mac", ep.mac.ToString()},
          {"hostIfname", ep.host_ifname},
          {"hostIfindex", ep.host_ifindex},
          {"hostMac", ep.host_mac.ToString()},
          {"attach", PodAttachName(ep.attach)}};
}

absl::StatusOr<EndpointRecord> EndpointFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("endpoint: not an object");
  EndpointRecord ep;
  ASSIGN_OR_RETURN(ep.id, U32(j, "id"));
  ASSIGN_OR_RETURN(ep.key.container_id, Str(j, "containerID"));
  ASSIGN_OR_RETURN(ep.key.ifname, Str(j, "ifname"));
  ASSIGN_OR_RETURN(ep.netns, Str(j, "netns"));
  ASSIGN_OR_RETURN(ep.pod_namespace, Str(j, "podNamespace"));
  ASSIGN_OR_RETURN(ep.pod_name, Str(j, "podName"));
  ASSIGN_OR_RETURN(std::string ip, Str(j, "ip"));
  ASSIGN_OR_RETURN(ep.ip, Prefixed(Ipv4Addr::Parse(ip), "ip"));
  ASSIGN_OR_RETURN(std::string mac, Str(j, "mac"));
  ASSIGN_OR_RETURN(ep.mac, Prefixed(MacAddr::Parse(mac), "mac"));
  ASSIGN_OR_RETURN(ep.host_ifname, Str(j, "hostIfname"));
  ASSIGN_OR_RETURN(ep.host_ifindex, U32(j, "hostIfindex"));
  ASSIGN_OR_RETURN(std::string host_mac, Str(j, "hostMac"));
  ASSIGN_OR_RETURN(ep.host_mac, Prefixed(MacAddr::Parse(host_mac), "hostMac"));
  ASSIGN_OR_RETURN(std::string attach, Str(j, "attach"));
  if (attach == "xdp") {
    ep.attach = PodAttach::kXdp;
  } else if (attach == "tc") {
    ep.attach = PodAttach::kTc;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("attach: unknown value \"", attach, "\""));
  }
  return ep;
}

}  // namespace xvr

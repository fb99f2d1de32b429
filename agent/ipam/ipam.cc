#include "agent/ipam/ipam.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace xvr {

Ipam::Ipam(Ipv4Prefix cidr, Ipv4Addr gateway)
    : cidr_(cidr), gateway_(gateway), last_(cidr.network()) {}

absl::StatusOr<Ipam> Ipam::Create(Ipv4Prefix cidr, Ipv4Addr gateway) {
  if (cidr.length() < 1 || cidr.length() > 30) {
    return absl::InvalidArgumentError(
        absl::StrCat("IPAM: pod CIDR ", cidr.ToString(), " must be /1 to /30"));
  }
  if (!cidr.Contains(gateway) || gateway == cidr.network() || gateway == cidr.broadcast()) {
    return absl::InvalidArgumentError(absl::StrCat("IPAM: gateway ", gateway.ToString(),
                                                   " is not a host address of ", cidr.ToString()));
  }
  return Ipam(cidr, gateway);
}

bool Ipam::IsReserved(Ipv4Addr ip) const {
  return ip == cidr_.network() || ip == cidr_.broadcast() || ip == gateway_;
}

size_t Ipam::capacity() const { return static_cast<size_t>(cidr_.size() - 3); }

absl::StatusOr<Ipv4Addr> Ipam::Allocate(const AttachmentKey& key) {
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;

  const uint32_t first = cidr_.network().value() + 1;
  const uint32_t last_host = cidr_.broadcast().value() - 1;
  const uint64_t hosts = uint64_t{last_host} - first + 1;
  uint32_t cand = last_.value();
  for (uint64_t i = 0; i < hosts; ++i) {
    cand = (cand >= last_host || cand < first) ? first : cand + 1;
    const Ipv4Addr ip(cand);
    if (IsReserved(ip) || by_ip_.contains(cand)) continue;
    by_ip_.emplace(cand, key);
    by_key_.emplace(key, ip);
    last_ = ip;
    return ip;
  }
  return absl::ResourceExhaustedError(absl::StrCat("pod CIDR ", cidr_.ToString(), " exhausted (",
                                                   by_ip_.size(), " addresses in use)"));
}

absl::Status Ipam::Claim(const AttachmentKey& key, Ipv4Addr ip) {
  if (!cidr_.Contains(ip)) {
    return absl::InvalidArgumentError(
        absl::StrCat("IPAM: ", ip.ToString(), " is outside ", cidr_.ToString()));
  }
  if (IsReserved(ip)) {
    return absl::InvalidArgumentError(absl::StrCat("IPAM: ", ip.ToString(), " is reserved"));
  }
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    if (it->second == ip) return absl::OkStatus();
    return absl::AlreadyExistsError(absl::StrCat("IPAM: ", key.ToString(), " already holds ",
                                                 it->second.ToString()));
  }
  if (auto it = by_ip_.find(ip.value()); it != by_ip_.end()) {
    return absl::AlreadyExistsError(absl::StrCat("IPAM: ", ip.ToString(), " is held by ",
                                                 it->second.ToString()));
  }
  by_ip_.emplace(ip.value(), key);
  by_key_.emplace(key, ip);
  return absl::OkStatus();
}

bool Ipam::Release(const AttachmentKey& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return false;
  by_ip_.erase(it->second.value());
  by_key_.erase(it);
  return true;
}

std::optional<Ipv4Addr> Ipam::Lookup(const AttachmentKey& key) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

nlohmann::json Ipam::ToJson() const {
  nlohmann::json allocs = nlohmann::json::array();
  // Sorted by address so the file is stable and diffable.
  std::vector<std::pair<uint32_t, const AttachmentKey*>> sorted;
  sorted.reserve(by_ip_.size());
  for (const auto& [ip, key] : by_ip_) sorted.emplace_back(ip, &key);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [ip, key] : sorted) {
    allocs.push_back({{"containerID", key->container_id},
                      {"ifname", key->ifname},
                      {"ip", Ipv4Addr(ip).ToString()}});
  }
  return {{"cidr", cidr_.ToString()},
          {"gateway", gateway_.ToString()},
          {"last", last_.ToString()},
          {"allocations", std::move(allocs)}};
}

namespace {

absl::StatusOr<std::string> StringField(const nlohmann::json& j, const char* name,
                                        absl::string_view where) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".", name, ": missing or not a string"));
  }
  return it->get<std::string>();
}

}  // namespace

absl::StatusOr<Ipam> Ipam::FromJson(const nlohmann::json& j, Ipv4Prefix cidr, Ipv4Addr gateway) {
  ASSIGN_OR_RETURN(Ipam ipam, Create(cidr, gateway));
  if (!j.is_object()) return absl::InvalidArgumentError("ipam: not an object");
  ASSIGN_OR_RETURN(std::string stored_cidr, StringField(j, "cidr", "ipam"));
  if (stored_cidr != cidr.ToString()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ipam: state was written for pod CIDR ", stored_cidr,
                     " but the configured pod CIDR is ", cidr.ToString()));
  }
  ASSIGN_OR_RETURN(std::string stored_gw, StringField(j, "gateway", "ipam"));
  if (stored_gw != gateway.ToString()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ipam: state was written for gateway ", stored_gw,
                     " but the configured gateway is ", gateway.ToString()));
  }
  ASSIGN_OR_RETURN(std::string last_str, StringField(j, "last", "ipam"));
  ASSIGN_OR_RETURN(Ipv4Addr last, Ipv4Addr::Parse(last_str));
  if (!cidr.Contains(last)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ipam.last: ", last.ToString(), " is outside ", cidr.ToString()));
  }
  auto allocs = j.find("allocations");
  if (allocs == j.end() || !allocs->is_array()) {
    return absl::InvalidArgumentError("ipam.allocations: missing or not an array");
  }
  for (const nlohmann::json& a : *allocs) {
    if (!a.is_object()) return absl::InvalidArgumentError("ipam.allocations: entry not an object");
    AttachmentKey key;
    ASSIGN_OR_RETURN(key.container_id, StringField(a, "containerID", "ipam.allocations[]"));
    ASSIGN_OR_RETURN(key.ifname, StringField(a, "ifname", "ipam.allocations[]"));
    ASSIGN_OR_RETURN(std::string ip_str, StringField(a, "ip", "ipam.allocations[]"));
    ASSIGN_OR_RETURN(Ipv4Addr ip, Ipv4Addr::Parse(ip_str));
    RETURN_IF_ERROR(ipam.Claim(key, ip));
  }
  ipam.last_ = last;
  return ipam;
}

}  // namespace xvr

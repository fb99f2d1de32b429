#include "agent/endpoints/endpoint_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/common/validate.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

constexpr size_t kMaxNetnsLen = 4096;
constexpr size_t kMaxPodNameLen = 253;

absl::Status Invalid(absl::string_view field, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", msg));
}

absl::Status WithPrefix(const absl::Status& st, absl::string_view prefix) {
  return absl::Status(st.code(), absl::StrCat(prefix, st.message()));
}

absl::StatusOr<MacAddr> ValidateRequest(const RegisterRequest& req) {
  if (req.container_id.empty()) return Invalid("containerID", "required");
  if (!IsValidContainerId(req.container_id)) {
    return Invalid("containerID", "must be 1-256 characters of [A-Za-z0-9_.-]");
  }
  if (req.ifname.empty()) return Invalid("ifname", "required");
  if (!IsValidIfname(req.ifname)) {
    return Invalid("ifname", absl::StrCat("invalid interface name \"", req.ifname, "\""));
  }
  if (req.netns.empty()) return Invalid("netns", "required");
  if (req.netns.size() > kMaxNetnsLen) return Invalid("netns", "too long");
  if (req.host_ifname.empty()) return Invalid("hostIfname", "required");
  if (!IsValidIfname(req.host_ifname)) {
    return Invalid("hostIfname", absl::StrCat("invalid interface name \"", req.host_ifname, "\""));
  }
  if (req.mac.empty()) return Invalid("mac", "required");
  absl::StatusOr<MacAddr> mac = MacAddr::Parse(req.mac);
  if (!mac.ok()) return Invalid("mac", mac.status().message());
  if (mac->IsZero() || (mac->bytes()[0] & 1) != 0) {
    return Invalid("mac", absl::StrCat("\"", req.mac, "\" is not a unicast address"));
  }
  if (req.pod_namespace.size() > kMaxPodNameLen) return Invalid("podNamespace", "too long");
  if (req.pod_name.size() > kMaxPodNameLen) return Invalid("podName", "too long");
  return *mac;
}

}  // namespace

DpEndpoint ToDpEndpoint(const EndpointRecord& ep) {
  DpEndpoint d;
  d.id = ep.id;
  d.ip = ep.ip;
  d.mac = ep.mac;
  d.host_ifname = ep.host_ifname;
  d.host_ifindex = ep.host_ifindex;
  d.host_mac = ep.host_mac;
  d.netns = ep.netns;
  d.pod_ifname = ep.key.ifname;
  return d;
}

absl::StatusOr<std::unique_ptr<EndpointManager>> EndpointManager::Create(const PodNetwork& net,
                                                                         Dataplane& dp,
                                                                         StateStore& store) {
  ASSIGN_OR_RETURN(Ipam ipam, Ipam::Create(net.pod_cidr, net.gateway));
  return std::unique_ptr<EndpointManager>(new EndpointManager(net, std::move(ipam), dp, store));
}

EndpointManager::EndpointManager(const PodNetwork& net, Ipam ipam, Dataplane& dp,
                                 StateStore& store)
    : net_(net), dp_(dp), store_(store), ipam_(std::move(ipam)) {}

size_t EndpointManager::size() const {
  absl::MutexLock l(&mu_);
  return endpoints_.size();
}

RegisterResult EndpointManager::ResultFor(const EndpointRecord& ep) const {
  return RegisterResult{ep, net_.pod_cidr, net_.gateway, net_.mtu, net_.tx_checksum_offload,
                        net_.segmentation_offload};
}

uint32_t EndpointManager::NextIdLocked() {
  for (;;) {
    const uint32_t id = next_id_++;
    if (id == 0) continue;
    bool used = false;
    for (const auto& [k, ep] : endpoints_) used = used || ep.id == id;
    if (!used) return id;
  }
}

absl::Status EndpointManager::PersistLocked() {
  NodeState st;
  st.next_id = next_id_;
  st.ipam = ipam_.ToJson();
  st.endpoints.reserve(endpoints_.size());
  for (const auto& [k, ep] : endpoints_) st.endpoints.push_back(ep);
  std::sort(st.endpoints.begin(), st.endpoints.end(),
            [](const EndpointRecord& a, const EndpointRecord& b) { return a.id < b.id; });
  absl::Status s = store_.Save(st);
  if (!s.ok()) return WithPrefix(s, "persisting state: ");
  return s;
}

void EndpointManager::PersistAfterRemovalLocked() {
  if (absl::Status s = PersistLocked(); !s.ok()) {
    spdlog::error("endpoints: {} (retried with the next change)", s.ToString());
  }
}

void EndpointManager::RemoveLocked(const AttachmentKey& key, absl::string_view why) {
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return;
  const EndpointRecord& ep = it->second;
  if (absl::Status s = dp_.RemoveEndpoint(ToDpEndpoint(ep)); !s.ok()) {
    spdlog::warn("endpoints: removing {} (id {}, {}) from the dataplane: {}", key.ToString(), ep.id,
                 ep.host_ifname, s.ToString());
  }
  spdlog::info("endpoints: removed {} id {} ip {} ({})", key.ToString(), ep.id, ep.ip.ToString(),
               std::string(why));
  ipam_.Release(key);
  endpoints_.erase(it);
}

absl::StatusOr<RestoreReport> EndpointManager::Restore() {
  absl::MutexLock l(&mu_);
  if (restored_) return absl::FailedPreconditionError("endpoints: Restore() called twice");
  ASSIGN_OR_RETURN(std::optional<NodeState> loaded, store_.Load());

  // Start from nothing so a Restore() retried after a failure is clean.
  endpoints_.clear();
  next_id_ = 1;
  ASSIGN_OR_RETURN(ipam_, Ipam::Create(net_.pod_cidr, net_.gateway));

  RestoreReport report;
  if (loaded) {
    const std::string where = absl::StrCat("state file ", store_.path(), ": ");
    if (!loaded->ipam.is_null()) {
      absl::StatusOr<Ipam> ipam = Ipam::FromJson(loaded->ipam, net_.pod_cidr, net_.gateway);
      if (!ipam.ok()) return WithPrefix(ipam.status(), where);
      ipam_ = *std::move(ipam);
    }
    uint32_t max_id = 0;
    for (const EndpointRecord& ep : loaded->endpoints) {
      if (endpoints_.contains(ep.key)) {
        return absl::DataLossError(absl::StrCat(where, "endpoint ", ep.key.ToString(),
                                                " appears twice"));
      }
      // The endpoint list is the source of truth for addresses; IPAM must
      // agree with it. A disagreement cannot come from this code's writes.
      const std::optional<Ipv4Addr> held = ipam_.Lookup(ep.key);
      if (held && *held != ep.ip) {
        return absl::DataLossError(absl::StrCat(where, "endpoint ", ep.key.ToString(), " has ip ",
                                                ep.ip.ToString(), " but IPAM records ",
                                                held->ToString()));
      }
      if (!held) {
        if (absl::Status s = ipam_.Claim(ep.key, ep.ip); !s.ok()) return WithPrefix(s, where);
        spdlog::warn("endpoints: {} had no IPAM record; claimed {}", ep.key.ToString(),
                     ep.ip.ToString());
      }
      max_id = std::max(max_id, ep.id);
      endpoints_.emplace(ep.key, ep);
    }
    // Addresses IPAM holds for attachments that have no endpoint would leak.
    std::vector<AttachmentKey> orphans;
    for (const auto& a : loaded->ipam.is_null() ? nlohmann::json::array()
                                                 : loaded->ipam.value("allocations",
                                                                      nlohmann::json::array())) {
      AttachmentKey k{a.value("containerID", ""), a.value("ifname", "")};
      if (!endpoints_.contains(k)) orphans.push_back(std::move(k));
    }
    for (const AttachmentKey& k : orphans) {
      spdlog::warn("endpoints: freeing IPAM address of {} which has no endpoint", k.ToString());
      ipam_.Release(k);
    }
    next_id_ = std::max(loaded->next_id, max_id + 1);
  }

  // Reconcile with the links that exist now.
  std::vector<AttachmentKey> gone;
  for (auto& [key, ep] : endpoints_) {
    absl::StatusOr<LinkInfo> link = dp_.ResolveLink(ep.host_ifname);
    if (absl::IsNotFound(link.status()) || (link.ok() && link->ifindex != ep.host_ifindex)) {
      gone.push_back(key);
      continue;
    }
    if (!link.ok()) {
      ++report.failed;
      spdlog::error("endpoints: restore {}: resolving {}: {}", key.ToString(), ep.host_ifname,
                    link.status().ToString());
      continue;
    }
    ep.host_mac = link->mac;
    ep.attach = net_.attach;
    if (absl::Status s = dp_.UpsertEndpoint(ToDpEndpoint(ep)); !s.ok()) {
      ++report.failed;
      spdlog::error("endpoints: restore {}: dataplane: {}", key.ToString(), s.ToString());
      continue;
    }
    ++report.kept;
  }
  for (const AttachmentKey& key : gone) {
    RemoveLocked(key, "host veth gone at restore");
    ++report.dropped;
  }
  RETURN_IF_ERROR(PersistLocked());
  restored_ = true;
  spdlog::info("endpoints: restored {} endpoints ({} dropped, {} failed); {} of {} addresses in use",
               report.kept + report.failed, report.dropped, report.failed, ipam_.allocated(),
               ipam_.capacity());
  return report;
}

absl::StatusOr<RegisterResult> EndpointManager::Register(const RegisterRequest& req) {
  ASSIGN_OR_RETURN(MacAddr mac, ValidateRequest(req));
  absl::StatusOr<RegisterResult> r;
  {
    absl::MutexLock l(&mu_);
    if (!restored_) return absl::UnavailableError("endpoints: state not restored yet");
    r = RegisterLocked(req, mac);
  }
  if (r.ok()) NotifyChange();
  return r;
}

absl::StatusOr<RegisterResult> EndpointManager::RegisterLocked(const RegisterRequest& req,
                                                               MacAddr mac) {
  const AttachmentKey key{req.container_id, req.ifname};
  absl::StatusOr<LinkInfo> link = dp_.ResolveLink(req.host_ifname);
  if (absl::IsNotFound(link.status())) {
    return absl::NotFoundError(
        absl::StrCat("hostIfname: link \"", req.host_ifname, "\" does not exist"));
  }
  if (!link.ok()) return WithPrefix(link.status(), "hostIfname: ");
  // The dataplane keys endpoints by host ifindex: two attachments on one
  // veth would overwrite each other, and removing one would cut the other.
  for (const auto& [other_key, other] : endpoints_) {
    if (other_key != key && other.host_ifindex == link->ifindex) {
      return absl::AlreadyExistsError(absl::StrCat(
          "hostIfname: link \"", req.host_ifname, "\" (ifindex ", link->ifindex,
          ") is already bound to endpoint ", other_key.ToString()));
    }
  }

  EndpointRecord ep;
  ep.key = key;
  ep.netns = req.netns;
  ep.pod_namespace = req.pod_namespace;
  ep.pod_name = req.pod_name;
  ep.mac = mac;
  ep.host_ifname = req.host_ifname;
  ep.host_ifindex = link->ifindex;
  ep.host_mac = link->mac;
  ep.attach = net_.attach;

  if (auto it = endpoints_.find(key); it != endpoints_.end()) {
    // Repeated ADD (a retry, or the runtime re-creating the veth): same
    // address and id; the maps follow the link named now.
    const EndpointRecord old = it->second;
    ep.id = old.id;
    ep.ip = old.ip;
    const bool moved = old.host_ifindex != ep.host_ifindex || old.mac != ep.mac;
    if (moved) {
      if (absl::Status s = dp_.RemoveEndpoint(ToDpEndpoint(old)); !s.ok()) {
        spdlog::warn("endpoints: re-register {}: removing old entry: {}", key.ToString(),
                     s.ToString());
      }
    }
    if (absl::Status s = dp_.UpsertEndpoint(ToDpEndpoint(ep)); !s.ok()) {
      if (moved) {
        if (absl::Status r = dp_.UpsertEndpoint(ToDpEndpoint(old)); !r.ok()) {
          spdlog::warn("endpoints: re-register {}: restoring old entry: {}", key.ToString(),
                       r.ToString());
        }
      }
      return WithPrefix(s, "dataplane: ");
    }
    it->second = ep;
    // On a persist failure the maps and memory hold the new link already;
    // the next successful save records it.
    RETURN_IF_ERROR(PersistLocked());
    spdlog::info("endpoints: re-registered {} id {} ip {} on {} ({})", key.ToString(), ep.id,
                 ep.ip.ToString(), ep.host_ifname, ep.host_ifindex);
    return ResultFor(ep);
  }

  ASSIGN_OR_RETURN(ep.ip, ipam_.Allocate(key));
  ep.id = NextIdLocked();
  // From here on every failure undoes what was done before it.
  if (absl::Status s = dp_.UpsertEndpoint(ToDpEndpoint(ep)); !s.ok()) {
    if (absl::Status r = dp_.RemoveEndpoint(ToDpEndpoint(ep)); !r.ok()) {
      spdlog::warn("endpoints: rollback of {}: {}", key.ToString(), r.ToString());
    }
    ipam_.Release(key);
    return WithPrefix(s, "dataplane: ");
  }
  endpoints_.emplace(key, ep);
  if (absl::Status s = PersistLocked(); !s.ok()) {
    RemoveLocked(key, "rollback: state not persisted");
    return s;
  }
  spdlog::info("endpoints: registered {} id {} ip {} on {} ({})", key.ToString(), ep.id,
               ep.ip.ToString(), ep.host_ifname, ep.host_ifindex);
  return ResultFor(ep);
}

absl::StatusOr<bool> EndpointManager::Unregister(const AttachmentKey& key) {
  {
    absl::MutexLock l(&mu_);
    if (!restored_) return absl::UnavailableError("endpoints: state not restored yet");
    if (!endpoints_.contains(key)) return false;
    RemoveLocked(key, "unregistered");
    RETURN_IF_ERROR(PersistLocked());
  }
  NotifyChange();
  return true;
}

std::optional<EndpointRecord> EndpointManager::Get(const AttachmentKey& key) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) return std::nullopt;
  return it->second;
}

std::vector<EndpointRecord> EndpointManager::List() const {
  std::vector<EndpointRecord> out;
  {
    absl::MutexLock l(&mu_);
    out.reserve(endpoints_.size());
    for (const auto& [k, ep] : endpoints_) out.push_back(ep);
  }
  std::sort(out.begin(), out.end(),
            [](const EndpointRecord& a, const EndpointRecord& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<std::vector<AttachmentKey>> EndpointManager::Gc(
    const absl::flat_hash_set<AttachmentKey>& valid) {
  absl::MutexLock l(&mu_);
  if (!restored_) return absl::UnavailableError("endpoints: state not restored yet");
  std::vector<AttachmentKey> removed;
  for (const auto& [key, ep] : endpoints_) {
    if (!valid.contains(key)) removed.push_back(key);
  }
  std::sort(removed.begin(), removed.end());
  for (const AttachmentKey& key : removed) RemoveLocked(key, "garbage collected");
  if (!removed.empty()) RETURN_IF_ERROR(PersistLocked());
  return removed;
}

std::vector<AttachmentKey> EndpointManager::OnLinkDeleted(uint32_t ifindex) {
  absl::MutexLock l(&mu_);
  std::vector<AttachmentKey> removed;
  for (const auto& [key, ep] : endpoints_) {
    if (ep.host_ifindex == ifindex) removed.push_back(key);
  }
  for (const AttachmentKey& key : removed) RemoveLocked(key, "host veth deleted");
  if (!removed.empty()) PersistAfterRemovalLocked();
  return removed;
}

std::vector<AttachmentKey> EndpointManager::ResyncLinks() {
  absl::MutexLock l(&mu_);
  std::vector<AttachmentKey> removed;
  for (const auto& [key, ep] : endpoints_) {
    absl::StatusOr<LinkInfo> link = dp_.ResolveLink(ep.host_ifname);
    if (absl::IsNotFound(link.status()) || (link.ok() && link->ifindex != ep.host_ifindex)) {
      removed.push_back(key);
    }
  }
  for (const AttachmentKey& key : removed) RemoveLocked(key, "host veth gone at resync");
  if (!removed.empty()) PersistAfterRemovalLocked();
  return removed;
}

absl::StatusOr<std::vector<CounterRow>> EndpointManager::Stats() {
  absl::MutexLock l(&mu_);
  return dp_.ReadCounters();
}

}  // namespace xvr

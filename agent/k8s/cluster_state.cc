#include "agent/k8s/cluster_state.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace xvr::k8s {
namespace {

ObjectMeta& MutableMetaOf(Object& o) {
  return std::visit([](auto& x) -> ObjectMeta& { return x.meta; }, o);
}

std::pair<std::string, std::string> MapKey(const Object& o) {
  const ObjectMeta& m = MetaOf(o);
  return {m.namespace_name, m.name};
}

// The first IPv4 entry of spec.podCIDRs (dual-stack lists may start with
// IPv6), or a reason why there is none.
absl::StatusOr<Ipv4Prefix> NodePodCidr(const Node& n) {
  if (n.pod_cidrs.empty()) return absl::NotFoundError("no spec.podCIDR");
  for (const std::string& c : n.pod_cidrs) {
    if (c.find(':') != std::string::npos) continue;  // IPv6
    absl::StatusOr<Ipv4Prefix> p = Ipv4Prefix::Parse(c);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.podCIDR \"", c, "\": ", p.status().message()));
    }
    return *p;
  }
  return absl::NotFoundError("no IPv4 spec.podCIDR");
}

absl::StatusOr<Ipv4Addr> NodeInternalIp(const Node& n) {
  for (const NodeAddress& a : n.addresses) {
    if (a.type != NodeAddressType::kInternalIP || a.address.find(':') != std::string::npos) {
      continue;
    }
    absl::StatusOr<Ipv4Addr> ip = Ipv4Addr::Parse(a.address);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("InternalIP \"", a.address, "\": ", ip.status().message()));
    }
    return *ip;
  }
  return absl::NotFoundError("no IPv4 InternalIP in status.addresses");
}

// Non-overlapping address ranges [first, last] with the node owning each.
class RangeSet {
 public:
  // The owner of a range overlapping `p`, or nullptr.
  const std::string* Overlap(const Ipv4Prefix& p) const {
    const uint32_t first = p.network().value(), last = p.broadcast().value();
    auto it = ranges_.upper_bound(first);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second.first >= first) return &prev->second.second;
    }
    if (it != ranges_.end() && it->first <= last) return &it->second.second;
    return nullptr;
  }
  void Add(const Ipv4Prefix& p, std::string owner) {
    ranges_[p.network().value()] = {p.broadcast().value(), std::move(owner)};
  }

 private:
  std::map<uint32_t, std::pair<uint32_t, std::string>> ranges_;
};

}  // namespace

ObjectKey ObjectKey::Of(const Object& o) {
  const ObjectMeta& m = MetaOf(o);
  return {KindOf(o), m.namespace_name, m.name};
}

std::string ObjectKey::ToString() const {
  if (namespace_name.empty()) return absl::StrCat(KindName(kind), " ", name);
  return absl::StrCat(KindName(kind), " ", namespace_name, "/", name);
}

const char* ChangeTypeName(ChangeType t) {
  switch (t) {
    case ChangeType::kAdded:
      return "added";
    case ChangeType::kUpdated:
      return "updated";
    case ChangeType::kDeleted:
      return "deleted";
  }
  return "?";
}

namespace internal {

std::vector<RemoteNode> RemoteNodesOf(const ObjectMap& nodes, absl::string_view local_node_name,
                                      std::vector<SkippedNode>* skipped) {
  RangeSet taken;
  // The local node's own pod CIDR is never a tunnel destination.
  for (const auto& [key, obj] : nodes) {
    if (key.second != local_node_name) continue;
    absl::StatusOr<Ipv4Prefix> own = NodePodCidr(std::get<Node>(*obj));
    if (own.ok()) taken.Add(*own, key.second);
  }
  std::vector<RemoteNode> out;
  for (const auto& [key, obj] : nodes) {
    const Node& n = std::get<Node>(*obj);
    if (n.meta.name == local_node_name) continue;
    auto skip = [&](std::string reason) {
      if (skipped) skipped->push_back({n.meta.name, std::move(reason)});
    };
    absl::StatusOr<Ipv4Prefix> cidr = NodePodCidr(n);
    if (!cidr.ok()) {
      skip(std::string(cidr.status().message()));
      continue;
    }
    absl::StatusOr<Ipv4Addr> ip = NodeInternalIp(n);
    if (!ip.ok()) {
      skip(std::string(ip.status().message()));
      continue;
    }
    if (const std::string* owner = taken.Overlap(*cidr)) {
      skip(absl::StrCat("pod CIDR ", cidr->ToString(), " overlaps the pod CIDR of node ",
                        *owner));
      continue;
    }
    taken.Add(*cidr, n.meta.name);
    out.push_back({n.meta.name, *cidr, *ip});
  }
  return out;
}

}  // namespace internal

void ClusterState::PutLocked(Object obj, std::vector<Change>* changes) {
  auto& map = objects_[obj.index()];
  auto key = MapKey(obj);
  auto it = map.find(key);
  if (it == map.end()) {
    changes->push_back({ObjectKey::Of(obj), ChangeType::kAdded});
    map.emplace(std::move(key), std::make_shared<const Object>(std::move(obj)));
    return;
  }
  // A new resourceVersion alone (a status heartbeat in fields xvr ignores)
  // is stored but not reported.
  ObjectMeta& meta = MutableMetaOf(obj);
  std::string version = std::exchange(meta.resource_version, MetaOf(*it->second).resource_version);
  const bool same = obj == *it->second;
  meta.resource_version = std::move(version);
  if (!same) changes->push_back({ObjectKey::Of(obj), ChangeType::kUpdated});
  it->second = std::make_shared<const Object>(std::move(obj));
}

bool ClusterState::Apply(Object obj) {
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    PutLocked(std::move(obj), &changes);
    if (!changes.empty()) ++generation_;
  }
  Notify(changes);
  return !changes.empty();
}

bool ClusterState::Delete(Kind kind, absl::string_view ns, absl::string_view name) {
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    auto& map = objects_[static_cast<size_t>(kind)];
    auto it = map.find({std::string(ns), std::string(name)});
    if (it == map.end()) return false;
    changes.push_back({ObjectKey{kind, std::string(ns), std::string(name)}, ChangeType::kDeleted});
    map.erase(it);
    ++generation_;
  }
  Notify(changes);
  return true;
}

absl::StatusOr<size_t> ClusterState::ReplaceAll(Kind kind, std::vector<Object> objects) {
  for (const Object& o : objects) {
    if (KindOf(o) != kind) {
      return absl::InvalidArgumentError(absl::StrCat("ReplaceAll(", KindName(kind),
                                                     "): got ", Describe(o)));
    }
  }
  std::vector<Change> changes;
  {
    absl::MutexLock lock(&mu_);
    auto& map = objects_[static_cast<size_t>(kind)];
    std::set<std::pair<std::string, std::string>> keep;
    for (Object& o : objects) {
      keep.insert(MapKey(o));
      PutLocked(std::move(o), &changes);
    }
    // A key applied twice reports one change.
    std::stable_sort(changes.begin(), changes.end(),
              [](const Change& a, const Change& b) { return a.key < b.key; });
    changes.erase(std::unique(changes.begin(), changes.end(),
                              [](const Change& a, const Change& b) { return a.key == b.key; }),
                  changes.end());
    for (auto it = map.begin(); it != map.end();) {
      if (keep.contains(it->first)) {
        ++it;
        continue;
      }
      changes.push_back({ObjectKey{kind, it->first.first, it->first.second}, ChangeType::kDeleted});
      it = map.erase(it);
    }
    synced_[static_cast<size_t>(kind)] = true;
    if (!changes.empty()) ++generation_;
  }
  Notify(changes);
  return changes.size();
}

bool ClusterState::Synced(Kind kind) const {
  absl::ReaderMutexLock lock(&mu_);
  return synced_[static_cast<size_t>(kind)];
}

std::shared_ptr<const Object> ClusterState::GetObject(Kind kind, absl::string_view ns,
                                                      absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  const auto& map = objects_[static_cast<size_t>(kind)];
  auto it = map.find({std::string(ns), std::string(name)});
  return it == map.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Object>> ClusterState::ListObjects(Kind kind) const {
  absl::ReaderMutexLock lock(&mu_);
  const auto& map = objects_[static_cast<size_t>(kind)];
  std::vector<std::shared_ptr<const Object>> out;
  out.reserve(map.size());
  for (const auto& [key, obj] : map) out.push_back(obj);
  return out;
}

size_t ClusterState::Count(Kind kind) const {
  absl::ReaderMutexLock lock(&mu_);
  return objects_[static_cast<size_t>(kind)].size();
}

Snapshot ClusterState::GetSnapshot() const {
  Snapshot s;
  absl::ReaderMutexLock lock(&mu_);
  s.generation_ = generation_;
  s.objects_ = objects_;
  return s;
}

uint64_t ClusterState::generation() const {
  absl::ReaderMutexLock lock(&mu_);
  return generation_;
}

ClusterState::SubscriptionId ClusterState::Subscribe(Listener listener) {
  absl::MutexLock lock(&listeners_mu_);
  const SubscriptionId id = next_id_++;
  listeners_.emplace(id, std::make_shared<const Listener>(std::move(listener)));
  return id;
}

void ClusterState::Unsubscribe(SubscriptionId id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

void ClusterState::Notify(const std::vector<Change>& changes) {
  if (changes.empty()) return;
  std::vector<std::shared_ptr<const Listener>> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    for (const auto& [id, l] : listeners_) listeners.push_back(l);
  }
  for (const auto& l : listeners) (*l)(changes);
}

std::vector<RemoteNode> ClusterState::RemoteNodes(absl::string_view local_node_name,
                                                  std::vector<SkippedNode>* skipped) const {
  absl::ReaderMutexLock lock(&mu_);
  return internal::RemoteNodesOf(objects_[static_cast<size_t>(Kind::kNode)], local_node_name,
                                 skipped);
}

}  // namespace xvr::k8s

// The desired-state model: every Kubernetes object the sources (manifests
// directory, API server) have delivered, keyed by kind/namespace/name.
//
// Sources write (Apply, Delete, ReplaceAll); reconcilers read (Get, List,
// snapshots, derived views such as RemoteNodes) and subscribe to changes.
// Notifications are level-triggered hints: a subscriber learns which keys
// changed and reads the current state; it never receives object contents it
// could act on out of order.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/common/net_types.h"
#include "agent/k8s/objects.h"

namespace xvr::k8s {

struct ObjectKey {
  Kind kind = Kind::kNode;
  std::string namespace_name;  // empty for cluster-scoped kinds
  std::string name;

  static ObjectKey Of(const Object& o);
  std::string ToString() const;  // "Service default/web", "Node n1"
  auto operator<=>(const ObjectKey&) const = default;
};

enum class ChangeType : uint8_t { kAdded, kUpdated, kDeleted };
const char* ChangeTypeName(ChangeType t);

struct Change {
  ObjectKey key;
  ChangeType type = ChangeType::kAdded;
  bool operator==(const Change&) const = default;
};

// Another Node's tunnel endpoint: its pod CIDR is reached via VXLAN to
// node_ip.
struct RemoteNode {
  std::string name;
  Ipv4Prefix pod_cidr;
  Ipv4Addr node_ip;
  auto operator<=>(const RemoteNode&) const = default;
};

// A Node RemoteNodes() could not use, and why (for the caller's log).
struct SkippedNode {
  std::string name;
  std::string reason;
  bool operator==(const SkippedNode&) const = default;
};

namespace internal {
// (namespace, name) → object; std::map keeps List() output ordered.
using ObjectMap = std::map<std::pair<std::string, std::string>, std::shared_ptr<const Object>>;
std::vector<RemoteNode> RemoteNodesOf(const ObjectMap& nodes, absl::string_view local_node_name,
                                      std::vector<SkippedNode>* skipped);
}  // namespace internal

// An immutable copy of the store at one generation. Objects are shared with
// the store (they are immutable), so a snapshot costs one pointer per object.
class Snapshot {
 public:
  uint64_t generation() const { return generation_; }

  template <typename T>
  const T* Get(absl::string_view ns, absl::string_view name) const {
    const auto& m = objects_[static_cast<size_t>(T::kKind)];
    auto it = m.find({std::string(ns), std::string(name)});
    return it == m.end() ? nullptr : &std::get<T>(*it->second);
  }
  // Every object of kind T, ordered by (namespace, name).
  template <typename T>
  std::vector<const T*> List() const {
    std::vector<const T*> out;
    const auto& m = objects_[static_cast<size_t>(T::kKind)];
    out.reserve(m.size());
    for (const auto& [key, obj] : m) out.push_back(&std::get<T>(*obj));
    return out;
  }
  size_t Count(Kind k) const { return objects_[static_cast<size_t>(k)].size(); }
  std::vector<RemoteNode> RemoteNodes(absl::string_view local_node_name,
                                      std::vector<SkippedNode>* skipped = nullptr) const {
    return internal::RemoteNodesOf(objects_[static_cast<size_t>(Kind::kNode)], local_node_name,
                                   skipped);
  }

 private:
  friend class ClusterState;
  uint64_t generation_ = 0;
  std::array<internal::ObjectMap, kNumKinds> objects_;
};

class ClusterState {
 public:
  using Listener = std::function<void(const std::vector<Change>&)>;
  using SubscriptionId = uint64_t;

  ClusterState() = default;
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // Adds or replaces the object under its key. Returns true when the stored
  // state changed; re-applying an object that differs only in
  // resourceVersion stores the new version but is not a change.
  bool Apply(Object obj);
  // Returns true when the object existed.
  bool Delete(Kind kind, absl::string_view ns, absl::string_view name);
  // A full relist of `kind`: afterwards the store holds exactly `objects`
  // of that kind (the last one wins for duplicate keys). Returns the number
  // of changes. Fails, changing nothing, when an object is of another kind.
  absl::StatusOr<size_t> ReplaceAll(Kind kind, std::vector<Object> objects);
  // True once ReplaceAll(kind, …) has run: the source delivered a complete
  // list, so an absent object is really absent.
  bool Synced(Kind kind) const;

  template <typename T>
  std::shared_ptr<const T> Get(absl::string_view ns, absl::string_view name) const {
    std::shared_ptr<const Object> o = GetObject(T::kKind, ns, name);
    if (!o) return nullptr;
    const T* t = &std::get<T>(*o);
    return std::shared_ptr<const T>(std::move(o), t);
  }
  template <typename T>
  std::vector<std::shared_ptr<const T>> List() const {
    std::vector<std::shared_ptr<const T>> out;
    for (std::shared_ptr<const Object>& o : ListObjects(T::kKind)) {
      const T* t = &std::get<T>(*o);
      out.emplace_back(std::move(o), t);
    }
    return out;
  }
  std::shared_ptr<const Object> GetObject(Kind kind, absl::string_view ns,
                                          absl::string_view name) const;
  std::vector<std::shared_ptr<const Object>> ListObjects(Kind kind) const;
  size_t Count(Kind kind) const;
  Snapshot GetSnapshot() const;
  // Increases with every change; equal generations mean equal contents.
  uint64_t generation() const;

  // Listeners run on the writer's thread after the write, outside the
  // store's lock (they may read the store or write to it). One call per
  // Apply/Delete/ReplaceAll that changed something.
  SubscriptionId Subscribe(Listener listener);
  void Unsubscribe(SubscriptionId id);

  // Every other Node with an IPv4 pod CIDR and an IPv4 InternalIP, ordered
  // by name. Nodes lacking either, or whose pod CIDR overlaps another node's
  // (the local node's included), are left out and listed in `skipped`.
  std::vector<RemoteNode> RemoteNodes(absl::string_view local_node_name,
                                      std::vector<SkippedNode>* skipped = nullptr) const;

 private:
  // Stores `obj`; appends a Change when the content differs.
  void PutLocked(Object obj, std::vector<Change>* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::vector<Change>& changes);

  mutable absl::Mutex mu_;
  std::array<internal::ObjectMap, kNumKinds> objects_ ABSL_GUARDED_BY(mu_);
  std::array<bool, kNumKinds> synced_ ABSL_GUARDED_BY(mu_) = {};
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex listeners_mu_;
  SubscriptionId next_id_ ABSL_GUARDED_BY(listeners_mu_) = 1;
  std::map<SubscriptionId, std::shared_ptr<const Listener>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace xvr::k8s

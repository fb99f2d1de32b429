// The one owner of the node's endpoints (pod attachments): IPAM, the
// dataplane's endpoint maps and the persisted state change together here,
// under one lock, or not at all.
//
// Every call into Dataplane and StateStore is made with the lock held, so
// neither needs to be thread-safe for the manager's sake.
#pragma once

#include <functional>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/common/net_types.h"
#include "agent/config/vrouter.h"
#include "agent/dataplane/dataplane.h"
#include "agent/ipam/attachment_key.h"
#include "agent/ipam/ipam.h"
#include "agent/state/endpoint_record.h"
#include "agent/state/state_store.h"

namespace xvr {

// What the pods on this node are told about their network.
struct PodNetwork {
  Ipv4Prefix pod_cidr;
  Ipv4Addr gateway;
  uint32_t mtu = 1500;
  PodAttach attach = PodAttach::kXdp;
  // Offloads the pod's interface may keep. Frames that an XDP program on
  // the host veth redirects lose the skb's checksum state, so a pod sending
  // CHECKSUM_PARTIAL packets would deliver them with a half-computed TCP
  // checksum; generic XDP additionally cannot take GSO super-packets.
  bool tx_checksum_offload = true;
  bool segmentation_offload = true;

  static PodNetwork FromConfig(const VRouterConfig& cfg) {
    const bool xdp = cfg.pod_attach == PodAttach::kXdp;
    return {cfg.pod_cidr, cfg.gateway_ip, cfg.mtu, cfg.pod_attach,
            /*tx_checksum_offload=*/!xdp,
            /*segmentation_offload=*/!(xdp && cfg.agent_mode == AgentMode::kXdpGeneric)};
  }
};

// A CNI ADD as the plugin reports it (API field names in comments). Values
// are validated by Register(); errors name the API field.
struct RegisterRequest {
  std::string container_id;   // containerID
  std::string ifname;         // ifname
  std::string netns;          // netns
  std::string host_ifname;    // hostIfname
  std::string mac;            // mac, "02:42:ac:11:00:02"
  std::string pod_namespace;  // podNamespace (optional)
  std::string pod_name;       // podName (optional)
};

struct RegisterResult {
  EndpointRecord endpoint;
  Ipv4Prefix pod_cidr;  // the pod's address is endpoint.ip/pod_cidr.length()
  Ipv4Addr gateway;
  uint32_t mtu = 0;
  bool tx_checksum_offload = true;
  bool segmentation_offload = true;
};

struct RestoreReport {
  size_t kept = 0;     // link present, maps re-written
  size_t dropped = 0;  // link gone: endpoint removed, address freed
  size_t failed = 0;   // link present but re-writing the maps failed; kept,
                       // address still reserved, a later ADD retries
};

class EndpointManager {
 public:
  // `dp` and `store` must outlive the manager. InvalidArgument if `net`
  // is not a usable pod network (config validation prevents that).
  static absl::StatusOr<std::unique_ptr<EndpointManager>> Create(const PodNetwork& net,
                                                                 Dataplane& dp,
                                                                 StateStore& store);
  EndpointManager(const EndpointManager&) = delete;
  EndpointManager& operator=(const EndpointManager&) = delete;

  // Loads the persisted state and reconciles it with the node: endpoints
  // whose host veth still exists (same ifindex) are upserted again, the
  // others are dropped and their addresses freed; then persists. Must run
  // once, before anything else; mutating calls fail with Unavailable until
  // it succeeded. Fails on a corrupt state file (see StateStore::Load).
  absl::StatusOr<RestoreReport> Restore() ABSL_LOCKS_EXCLUDED(mu_);

  // CNI ADD. Idempotent per attachment: the same key gets the same address
  // and id again and the maps are re-written with the request's link. Errors:
  // InvalidArgument (names the field), NotFound (hostIfname has no link),
  // AlreadyExists (hostIfname's link belongs to another attachment),
  // ResourceExhausted (pod CIDR full), Unavailable (before Restore), others
  // from the dataplane or the disk. A failed first registration leaves
  // nothing behind: no address, no map entry, no state.
  absl::StatusOr<RegisterResult> Register(const RegisterRequest& req) ABSL_LOCKS_EXCLUDED(mu_);

  // CNI DEL. Returns whether the attachment existed. Dataplane errors are
  // logged, not returned (the veth is usually gone already); the address is
  // freed either way.
  absl::StatusOr<bool> Unregister(const AttachmentKey& key) ABSL_LOCKS_EXCLUDED(mu_);

  std::optional<EndpointRecord> Get(const AttachmentKey& key) const ABSL_LOCKS_EXCLUDED(mu_);
  // Sorted by id.
  std::vector<EndpointRecord> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // CNI GC: removes every endpoint whose key is not in `valid`; returns the
  // removed keys.
  absl::StatusOr<std::vector<AttachmentKey>> Gc(const absl::flat_hash_set<AttachmentKey>& valid)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Netlink: the link `ifindex` was deleted. Removes the endpoints whose
  // host veth it was; returns their keys. Safe to call for any link.
  std::vector<AttachmentKey> OnLinkDeleted(uint32_t ifindex) ABSL_LOCKS_EXCLUDED(mu_);
  // Netlink events were lost: re-checks every endpoint's link by name and
  // removes those whose link is gone or has another ifindex.
  std::vector<AttachmentKey> ResyncLinks() ABSL_LOCKS_EXCLUDED(mu_);

  // The dataplane's non-zero counters.
  absl::StatusOr<std::vector<CounterRow>> Stats() ABSL_LOCKS_EXCLUDED(mu_);

  // Called (outside the lock) after an endpoint was added or removed by
  // Register, Unregister or Gc: the policy compiler needs to see a new pod
  // at once. Set it before serving CNI requests.
  void SetChangeListener(std::function<void()> fn) { on_change_ = std::move(fn); }

  const PodNetwork& network() const { return net_; }
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void NotifyChange() const {
    if (on_change_) on_change_();
  }

  std::function<void()> on_change_;

  EndpointManager(const PodNetwork& net, Ipam ipam, Dataplane& dp, StateStore& store);

  // Removes an endpoint from the dataplane (errors logged), IPAM and the
  // table. Does not persist.
  void RemoveLocked(const AttachmentKey& key, absl::string_view why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PersistLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Persists after a removal; a failure is logged and retried by the next
  // persist (every save writes the whole state).
  void PersistAfterRemovalLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t NextIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RegisterResult> RegisterLocked(const RegisterRequest& req, MacAddr mac)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RegisterResult ResultFor(const EndpointRecord& ep) const;

  const PodNetwork net_;
  Dataplane& dp_;
  StateStore& store_;

  mutable absl::Mutex mu_;
  bool restored_ ABSL_GUARDED_BY(mu_) = false;
  Ipam ipam_ ABSL_GUARDED_BY(mu_);
  uint32_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<AttachmentKey, EndpointRecord> endpoints_ ABSL_GUARDED_BY(mu_);
};

DpEndpoint ToDpEndpoint(const EndpointRecord& ep);

}  // namespace xvr

// Address management over the node's pod CIDR, in the manner of the CNI
// host-local plugin: one address per attachment, handed out round-robin
// (the search starts after the last address handed out) so an address that
// was just freed is not given to the next pod while packets for the old pod
// may still be in flight. Pure in-memory and not thread-safe: the endpoint
// manager owns it under its lock and persists ToJson() with the state.
#pragma once

#include <cstddef>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/net_types.h"
#include "agent/ipam/attachment_key.h"

namespace xvr {

class Ipam {
 public:
  // The network, broadcast and gateway addresses are never handed out.
  // cidr must be /1../30 and contain gateway (not as network or broadcast).
  static absl::StatusOr<Ipam> Create(Ipv4Prefix cidr, Ipv4Addr gateway);

  // The address of `key`, allocating one if it has none (idempotent).
  // ResourceExhausted when every usable address is taken.
  absl::StatusOr<Ipv4Addr> Allocate(const AttachmentKey& key);
  // Claims a specific address for `key` (state restore). AlreadyExists if
  // another key holds it or `key` holds another address; InvalidArgument if
  // the address is reserved or outside the CIDR. Claiming what `key` already
  // holds is a no-op.
  absl::Status Claim(const AttachmentKey& key, Ipv4Addr ip);
  // Frees the address of `key`; false if it had none.
  bool Release(const AttachmentKey& key);

  std::optional<Ipv4Addr> Lookup(const AttachmentKey& key) const;
  bool IsAllocated(Ipv4Addr ip) const { return by_ip_.contains(ip.value()); }
  size_t allocated() const { return by_ip_.size(); }
  // Number of addresses that can ever be handed out.
  size_t capacity() const;

  Ipv4Prefix cidr() const { return cidr_; }
  Ipv4Addr gateway() const { return gateway_; }
  // The last address handed out (the round-robin cursor).
  Ipv4Addr last() const { return last_; }

  // {"cidr", "gateway", "last", "allocations": [{"containerID", "ifname",
  // "ip"}]}.
  nlohmann::json ToJson() const;
  // Rebuilds an Ipam from ToJson() output. Fails if the stored CIDR or
  // gateway differ from the configured ones or the allocations conflict.
  static absl::StatusOr<Ipam> FromJson(const nlohmann::json& j, Ipv4Prefix cidr, Ipv4Addr gateway);

 private:
  Ipam(Ipv4Prefix cidr, Ipv4Addr gateway);
  bool IsReserved(Ipv4Addr ip) const;

  Ipv4Prefix cidr_;
  Ipv4Addr gateway_;
  Ipv4Addr last_;
  absl::flat_hash_map<AttachmentKey, Ipv4Addr> by_key_;
  absl::flat_hash_map<uint32_t, AttachmentKey> by_ip_;
};

}  // namespace xvr

// Security identities (Cilium's model): a number that stands for "every pod
// of namespace N with labels L", so the data path compares numbers instead
// of evaluating selectors, and one policy entry covers every replica.
//
// An identity must be the same on every node and across agent restarts
// without any coordination (there is no identity allocator in the cluster):
// it is a 64-bit hash of the canonical (namespace, sorted labels) folded into
// the pod range [XVR_ID_POD_MIN, XVR_ID_CIDR_MIN). Two label sets that fold
// to the same number are resolved by linear probing in the sorted order of
// their keys, so every node that sees the same pods assigns the same
// numbers. CIDR identities work the same way over (network, length) in
// [XVR_ID_CIDR_MIN, 1 << 31).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "agent/common/net_types.h"
#include "agent/k8s/objects.h"
#include "xvr/abi.h"

namespace xvr::policy {

inline constexpr uint32_t kPodIdMin = XVR_ID_POD_MIN;
inline constexpr uint32_t kPodIdEnd = XVR_ID_CIDR_MIN;  // exclusive
inline constexpr uint32_t kCidrIdMin = XVR_ID_CIDR_MIN;
inline constexpr uint32_t kCidrIdEnd = 1u << 31;  // exclusive

// What a pod identity stands for.
struct PodIdentityKey {
  std::string namespace_name;
  k8s::Labels labels;  // std::map: sorted by key
  auto operator<=>(const PodIdentityKey&) const = default;
  bool operator==(const PodIdentityKey&) const = default;
};

// Stable 64-bit hashes of the canonical encodings (FNV-1a over
// length-prefixed fields, then a SplitMix64 finaliser). Part of the
// cluster-wide contract: changing them renumbers every identity.
uint64_t HashPodIdentity(const PodIdentityKey& key);
uint64_t HashCidr(const Ipv4Prefix& prefix);

// The identity a hash lands on before collision resolution.
uint32_t FoldPodIdentity(uint64_t hash);
uint32_t FoldCidrIdentity(uint64_t hash);

// Identities for a set of keys: each key gets its folded hash, or the next
// free number of its range (wrapping) when a key sorting before it took
// that number already.
std::map<PodIdentityKey, uint32_t> AssignPodIdentities(const std::set<PodIdentityKey>& keys);
// `prefixes` must be normalised (no host bits).
std::map<Ipv4Prefix, uint32_t> AssignCidrIdentities(const std::set<Ipv4Prefix>& prefixes);

bool IsPodIdentity(uint32_t id);
bool IsCidrIdentity(uint32_t id);
// "any", "host", "world", "remote-node", "reserved:7", or "" for pod and
// CIDR identities.
std::string ReservedIdentityName(uint32_t id);

// "app=web,tier=frontend"; "" for no labels.
std::string LabelsToString(const k8s::Labels& labels);

}  // namespace xvr::policy

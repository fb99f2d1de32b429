#include "agent/policy/identity.h"

#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace xvr::policy {
namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

class Hasher {
 public:
  explicit Hasher(absl::string_view domain) { Field(domain); }
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= kFnvPrime;
    }
  }
  void U32(uint32_t v) {
    // Little-endian whatever the host: the hash is a wire contract.
    const unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                                static_cast<unsigned char>(v >> 16),
                                static_cast<unsigned char>(v >> 24)};
    Bytes(b, 4);
  }
  // Length-prefixed, so ("ab","c") and ("a","bc") differ.
  void Field(absl::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  uint64_t Finish() const {
    // SplitMix64's finaliser spreads FNV's weak low bits.
    uint64_t z = h_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t h_ = kFnvOffset;
};

// Assigns slots in [base, end) to hashes given in key order.
template <typename Key>
std::map<Key, uint32_t> Assign(const std::set<Key>& keys, uint32_t base, uint32_t end,
                               uint32_t (*fold)(uint64_t), uint64_t (*hash)(const Key&)) {
  std::map<Key, uint32_t> out;
  std::unordered_set<uint32_t> taken;
  taken.reserve(keys.size() * 2);
  const uint64_t range = uint64_t{end} - base;
  if (keys.size() >= range) return out;  // cannot happen with real sizes
  for (const Key& k : keys) {
    uint32_t id = fold(hash(k));
    while (taken.contains(id)) id = id + 1 >= end ? base : id + 1;
    taken.insert(id);
    out.emplace(k, id);
  }
  return out;
}

}  // namespace

uint64_t HashPodIdentity(const PodIdentityKey& key) {
  Hasher h("xvr.pod-identity.v1");
  h.Field(key.namespace_name);
  h.U32(static_cast<uint32_t>(key.labels.size()));
  for (const auto& [k, v] : key.labels) {
    h.Field(k);
    h.Field(v);
  }
  return h.Finish();
}

uint64_t HashCidr(const Ipv4Prefix& prefix) {
  Hasher h("xvr.cidr-identity.v1");
  h.U32(prefix.network().value());
  h.U32(static_cast<uint32_t>(prefix.length()));
  return h.Finish();
}

uint32_t FoldPodIdentity(uint64_t hash) {
  return kPodIdMin + static_cast<uint32_t>(hash % (uint64_t{kPodIdEnd} - kPodIdMin));
}

uint32_t FoldCidrIdentity(uint64_t hash) {
  return kCidrIdMin + static_cast<uint32_t>(hash % (uint64_t{kCidrIdEnd} - kCidrIdMin));
}

std::map<PodIdentityKey, uint32_t> AssignPodIdentities(const std::set<PodIdentityKey>& keys) {
  return Assign<PodIdentityKey>(keys, kPodIdMin, kPodIdEnd, &FoldPodIdentity, &HashPodIdentity);
}

std::map<Ipv4Prefix, uint32_t> AssignCidrIdentities(const std::set<Ipv4Prefix>& prefixes) {
  return Assign<Ipv4Prefix>(prefixes, kCidrIdMin, kCidrIdEnd, &FoldCidrIdentity, &HashCidr);
}

bool IsPodIdentity(uint32_t id) { return id >= kPodIdMin && id < kPodIdEnd; }
bool IsCidrIdentity(uint32_t id) { return id >= kCidrIdMin && id < kCidrIdEnd; }

std::string ReservedIdentityName(uint32_t id) {
  switch (id) {
    case XVR_ID_NONE:
      return "any";
    case XVR_ID_HOST:
      return "host";
    case XVR_ID_WORLD:
      return "world";
    case XVR_ID_REMOTE_NODE:
      return "remote-node";
    default:
      break;
  }
  if (IsPodIdentity(id) || IsCidrIdentity(id)) return "";
  return absl::StrCat("reserved:", id);
}

std::string LabelsToString(const k8s::Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, k, "=", v);
  }
  return out;
}

}  // namespace xvr::policy

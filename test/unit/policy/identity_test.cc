// Identities: deterministic, in range, collision resolution by key order;
// port ranges as LPM prefixes.
#include "agent/policy/identity.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/policy/policy_compiler.h"

namespace xvr::policy {
namespace {

PodIdentityKey Key(std::string ns, k8s::Labels labels) {
  return {std::move(ns), std::move(labels)};
}

TEST(Identity, HashIsPinned) {
  // Every node of a cluster must agree, whichever agent version it runs:
  // these numbers are part of the wire contract.
  EXPECT_EQ(HashPodIdentity(Key("default", {{"app", "web"}})), 0xabe0329daecc2c38ull)
      << std::hex << HashPodIdentity(Key("default", {{"app", "web"}}));
  EXPECT_EQ(HashCidr(Ipv4Prefix(*Ipv4Addr::Parse("10.0.0.0"), 8)), 0x7a87be2767eaa00bull)
      << std::hex << HashCidr(Ipv4Prefix(*Ipv4Addr::Parse("10.0.0.0"), 8));
}

TEST(Identity, DependsOnNamespaceAndEveryLabel) {
  const uint64_t base = HashPodIdentity(Key("x", {{"app", "web"}, {"tier", "fe"}}));
  EXPECT_EQ(base, HashPodIdentity(Key("x", {{"tier", "fe"}, {"app", "web"}})));
  EXPECT_NE(base, HashPodIdentity(Key("y", {{"app", "web"}, {"tier", "fe"}})));
  EXPECT_NE(base, HashPodIdentity(Key("x", {{"app", "web"}})));
  EXPECT_NE(base, HashPodIdentity(Key("x", {{"app", "web"}, {"tier", "be"}})));
  // Field boundaries are part of the encoding.
  EXPECT_NE(HashPodIdentity(Key("x", {{"ab", "c"}})), HashPodIdentity(Key("x", {{"a", "bc"}})));
  EXPECT_NE(HashPodIdentity(Key("xa", {{"b", ""}})), HashPodIdentity(Key("x", {{"ab", ""}})));
}

TEST(Identity, FoldsIntoItsRange) {
  for (uint64_t h : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}, uint64_t{0x123456789abcdef}}) {
    EXPECT_TRUE(IsPodIdentity(FoldPodIdentity(h))) << h;
    EXPECT_TRUE(IsCidrIdentity(FoldCidrIdentity(h))) << h;
  }
  EXPECT_FALSE(IsPodIdentity(XVR_ID_HOST));
  EXPECT_FALSE(IsPodIdentity(XVR_ID_CIDR_MIN));
  EXPECT_TRUE(IsCidrIdentity(XVR_ID_CIDR_MIN));
  EXPECT_EQ(ReservedIdentityName(XVR_ID_NONE), "any");
  EXPECT_EQ(ReservedIdentityName(XVR_ID_HOST), "host");
  EXPECT_EQ(ReservedIdentityName(XVR_ID_REMOTE_NODE), "remote-node");
  EXPECT_EQ(ReservedIdentityName(300), "");
}

TEST(Identity, AssignmentIsStableWhenOthersComeAndGo) {
  std::set<PodIdentityKey> keys;
  for (int i = 0; i < 200; ++i) keys.insert(Key("ns", {{"app", absl::StrCat("a", i)}}));
  const auto all = AssignPodIdentities(keys);
  ASSERT_EQ(all.size(), keys.size());
  std::set<uint32_t> distinct;
  for (const auto& [k, id] : all) {
    EXPECT_TRUE(IsPodIdentity(id));
    distinct.insert(id);
    // Without collisions an identity is its folded hash: the same alone.
    EXPECT_EQ(AssignPodIdentities({k}).at(k), id);
  }
  EXPECT_EQ(distinct.size(), keys.size());
}

TEST(Identity, CollisionsResolveInKeyOrder) {
  // Find two keys whose hashes fold to the same identity.
  std::map<uint32_t, PodIdentityKey> seen;
  std::optional<std::pair<PodIdentityKey, PodIdentityKey>> pair;
  for (int i = 0; i < 200000 && !pair; ++i) {
    PodIdentityKey k = Key("default", {{"app", absl::StrCat("p", i)}});
    const uint32_t id = FoldPodIdentity(HashPodIdentity(k));
    auto [it, fresh] = seen.emplace(id, k);
    if (!fresh) pair = std::make_pair(it->second, k);
  }
  ASSERT_TRUE(pair) << "no collision found";
  const auto& [k1, k2] = *pair;
  const PodIdentityKey& first = std::min(k1, k2);
  const PodIdentityKey& second = std::max(k1, k2);
  const uint32_t folded = FoldPodIdentity(HashPodIdentity(k1));
  const auto ids = AssignPodIdentities({k1, k2});
  EXPECT_EQ(ids.at(first), folded);
  EXPECT_EQ(ids.at(second), folded + 1 == XVR_ID_CIDR_MIN ? uint32_t{XVR_ID_POD_MIN} : folded + 1);
  // The same answer whatever else is in the set (nothing else collides).
  std::set<PodIdentityKey> more = {k2, k1, Key("other", {}), Key("zzz", {{"a", "b"}})};
  const auto ids2 = AssignPodIdentities(more);
  EXPECT_EQ(ids2.at(first), ids.at(first));
  EXPECT_EQ(ids2.at(second), ids.at(second));
}

TEST(Identity, CidrIdentities) {
  std::set<Ipv4Prefix> prefixes = {Ipv4Prefix(*Ipv4Addr::Parse("10.0.0.0"), 8),
                                   Ipv4Prefix(*Ipv4Addr::Parse("10.1.0.0"), 16),
                                   Ipv4Prefix(*Ipv4Addr::Parse("0.0.0.0"), 0)};
  const auto ids = AssignCidrIdentities(prefixes);
  std::set<uint32_t> distinct;
  for (const auto& [p, id] : ids) {
    EXPECT_TRUE(IsCidrIdentity(id)) << p.ToString();
    distinct.insert(id);
  }
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(AssignCidrIdentities(prefixes), ids);
}

// ---- port prefixes ---------------------------------------------------------

// Checks that the prefixes cover exactly [lo, hi]; returns how many.
size_t CheckCover(uint16_t lo, uint16_t hi) {
  const auto prefixes = PortRangePrefixes(lo, hi);
  std::vector<int> covered(65536, 0);
  for (const auto& [port, bits] : prefixes) {
    EXPECT_GE(bits, 0);
    EXPECT_LE(bits, 16);
    const uint32_t size = 1u << (16 - bits);
    EXPECT_EQ(port % size, 0u) << "unaligned " << port << "/" << bits;
    for (uint32_t p = port; p < port + size && p < 65536; ++p) ++covered[p];
  }
  for (uint32_t p = 0; p < 65536; ++p) {
    const int want = p >= lo && p <= hi ? 1 : 0;
    if (covered[p] != want) {
      ADD_FAILURE() << "range " << lo << "-" << hi << ": port " << p << " covered " << covered[p]
                    << " times";
      break;
    }
  }
  return prefixes.size();
}

TEST(PortRange, MinimalPrefixes) {
  EXPECT_EQ(CheckCover(80, 80), 1u);
  EXPECT_EQ(CheckCover(79, 81), 2u);      // 79/16, 80/15
  EXPECT_EQ(CheckCover(1000, 2047), 3u);  // 1000/13, 1008/12, 1024/6
  EXPECT_EQ(CheckCover(1024, 2047), 1u);
  EXPECT_EQ(CheckCover(0, 65535), 1u);
  EXPECT_EQ(CheckCover(1, 65535), 16u);
  EXPECT_EQ(CheckCover(32768, 65535), 1u);
  EXPECT_EQ(CheckCover(65535, 65535), 1u);
  EXPECT_EQ(CheckCover(1, 65534), 30u);  // the worst case: 2 x 15
  EXPECT_EQ(PortRangePrefixes(79, 81), (std::vector<std::pair<uint16_t, int>>{{79, 16}, {80, 15}}));
}

TEST(PortRange, ManyRangesCoverExactly) {
  for (uint32_t lo : {1u, 7u, 79u, 1000u, 4095u, 30000u, 65000u}) {
    for (uint32_t len : {0u, 1u, 2u, 3u, 100u, 1047u, 535u}) {
      if (lo + len > 65535) continue;
      CheckCover(static_cast<uint16_t>(lo), static_cast<uint16_t>(lo + len));
    }
  }
}

}  // namespace
}  // namespace xvr::policy

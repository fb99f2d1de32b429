#include "agent/ipam/ipam.h"

#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <vector>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

Ipv4Prefix P(const char* s) { return *Ipv4Prefix::Parse(s); }
Ipv4Addr A(const char* s) { return *Ipv4Addr::Parse(s); }
AttachmentKey K(int i) { return {"c" + std::to_string(i), "eth0"}; }

Ipam Make(const char* cidr, const char* gw) {
  absl::StatusOr<Ipam> ipam = Ipam::Create(P(cidr), A(gw));
  EXPECT_TRUE(ipam.ok()) << ipam.status();
  return *std::move(ipam);
}

TEST(Ipam, SlashThirtyHasOneUsableAddressThenExhausts) {
  Ipam ipam = Make("10.0.0.0/30", "10.0.0.1");
  EXPECT_EQ(ipam.capacity(), 1u);
  absl::StatusOr<Ipv4Addr> ip = ipam.Allocate(K(1));
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_EQ(*ip, A("10.0.0.2"));
  absl::StatusOr<Ipv4Addr> none = ipam.Allocate(K(2));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(none.status().message()), ::testing::HasSubstr("10.0.0.0/30 exhausted"));
}

TEST(Ipam, SlashTwentyNineHandsOutFiveDistinctNonReservedAddresses) {
  Ipam ipam = Make("10.0.0.8/29", "10.0.0.9");
  std::set<Ipv4Addr> seen;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Ipv4Addr> ip = ipam.Allocate(K(i));
    ASSERT_TRUE(ip.ok()) << ip.status();
    EXPECT_NE(*ip, A("10.0.0.8")) << "network address issued";
    EXPECT_NE(*ip, A("10.0.0.9")) << "gateway issued";
    EXPECT_NE(*ip, A("10.0.0.15")) << "broadcast issued";
    EXPECT_TRUE(seen.insert(*ip).second) << "duplicate " << ip->ToString();
  }
  EXPECT_EQ(ipam.Allocate(K(99)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ipam.allocated(), 5u);
}

TEST(Ipam, GatewayInTheMiddleIsSkipped) {
  Ipam ipam = Make("10.0.0.0/29", "10.0.0.3");
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) got.push_back(ipam.Allocate(K(i))->ToString());
  EXPECT_THAT(got, ::testing::ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5",
                                          "10.0.0.6"));
}

TEST(Ipam, AllocateIsIdempotentPerAttachment) {
  Ipam ipam = Make("10.244.1.0/24", "10.244.1.1");
  const Ipv4Addr first = *ipam.Allocate(K(1));
  EXPECT_EQ(*ipam.Allocate(K(1)), first);
  EXPECT_EQ(ipam.allocated(), 1u);
  // Same container, other interface: another attachment.
  EXPECT_NE(*ipam.Allocate({"c1", "net1"}), first);
}

TEST(Ipam, ReleasedAddressIsNotReissuedUntilTheCursorWrapsAround) {
  Ipam ipam = Make("10.0.0.0/29", "10.0.0.1");  // usable: .2 .. .6
  const Ipv4Addr a = *ipam.Allocate(K(1));      // .2
  EXPECT_EQ(a, A("10.0.0.2"));
  EXPECT_EQ(*ipam.Allocate(K(2)), A("10.0.0.3"));
  EXPECT_TRUE(ipam.Release(K(1)));
  EXPECT_FALSE(ipam.Release(K(1)));
  // Round-robin: .4, .5, .6, and only then the freed .2.
  EXPECT_EQ(*ipam.Allocate(K(3)), A("10.0.0.4"));
  EXPECT_EQ(*ipam.Allocate(K(4)), A("10.0.0.5"));
  EXPECT_EQ(*ipam.Allocate(K(5)), A("10.0.0.6"));
  EXPECT_EQ(*ipam.Allocate(K(6)), A("10.0.0.2"));
  EXPECT_FALSE(ipam.Lookup(K(1)).has_value());
}

TEST(Ipam, NeverIssuesAnAllocatedAddressUnderChurn) {
  Ipam ipam = Make("10.1.0.0/26", "10.1.0.1");
  std::map<int, Ipv4Addr> live;
  for (int round = 0; round < 2000; ++round) {
    const int k = (round * 7919) % 97;
    if (live.count(k) && round % 3 == 0) {
      ASSERT_TRUE(ipam.Release(K(k)));
      live.erase(k);
      continue;
    }
    absl::StatusOr<Ipv4Addr> ip = ipam.Allocate(K(k));
    if (!ip.ok()) {
      ASSERT_EQ(ip.status().code(), absl::StatusCode::kResourceExhausted);
      ASSERT_EQ(live.size(), ipam.capacity());
      continue;
    }
    if (live.count(k)) {
      ASSERT_EQ(live[k], *ip);
    } else {
      for (const auto& [other, addr] : live) ASSERT_NE(addr, *ip) << "held by " << other;
      live[k] = *ip;
    }
  }
}

TEST(Ipam, ClaimRejectsConflictsAndReservedAddresses) {
  Ipam ipam = Make("10.0.0.0/24", "10.0.0.1");
  EXPECT_TRUE(ipam.Claim(K(1), A("10.0.0.50")).ok());
  EXPECT_TRUE(ipam.Claim(K(1), A("10.0.0.50")).ok());
  EXPECT_EQ(ipam.Claim(K(2), A("10.0.0.50")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ipam.Claim(K(1), A("10.0.0.51")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ipam.Claim(K(3), A("10.0.0.1")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ipam.Claim(K(3), A("10.0.0.0")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ipam.Claim(K(3), A("10.0.0.255")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ipam.Claim(K(3), A("10.0.1.5")).code(), absl::StatusCode::kInvalidArgument);
  // A claimed address is never allocated to someone else.
  for (int i = 10; i < 300; ++i) {
    absl::StatusOr<Ipv4Addr> ip = ipam.Allocate(K(i));
    if (!ip.ok()) break;
    EXPECT_NE(*ip, A("10.0.0.50"));
  }
}

TEST(Ipam, CreateRejectsUnusableNetworks) {
  EXPECT_FALSE(Ipam::Create(P("10.0.0.0/31"), A("10.0.0.1")).ok());
  EXPECT_FALSE(Ipam::Create(P("10.0.0.0/24"), A("10.0.1.1")).ok());
  EXPECT_FALSE(Ipam::Create(P("10.0.0.0/24"), A("10.0.0.0")).ok());
}

TEST(Ipam, JsonRoundTripKeepsAllocationsAndCursor) {
  Ipam ipam = Make("10.0.0.0/28", "10.0.0.1");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ipam.Allocate(K(i)).ok());
  ipam.Release(K(3));  // .5 freed, cursor stays at .5
  const nlohmann::json j = ipam.ToJson();
  absl::StatusOr<Ipam> back = Ipam::FromJson(j, P("10.0.0.0/28"), A("10.0.0.1"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(), j);
  EXPECT_EQ(back->last(), A("10.0.0.5"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(back->Lookup(K(i)), ipam.Lookup(K(i)));
  EXPECT_EQ(*back->Allocate(K(10)), A("10.0.0.6"));
}

TEST(Ipam, FromJsonRefusesStateOfAnotherPodCidr) {
  Ipam ipam = Make("10.0.0.0/28", "10.0.0.1");
  absl::StatusOr<Ipam> back = Ipam::FromJson(ipam.ToJson(), P("10.0.1.0/28"), A("10.0.1.1"));
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(back.status().message()), ::testing::HasSubstr("10.0.0.0/28"));
}

TEST(Ipam, FromJsonRefusesDuplicateAddresses) {
  nlohmann::json j = Make("10.0.0.0/28", "10.0.0.1").ToJson();
  j["allocations"] = {{{"containerID", "a"}, {"ifname", "eth0"}, {"ip", "10.0.0.4"}},
                      {{"containerID", "b"}, {"ifname", "eth0"}, {"ip", "10.0.0.4"}}};
  EXPECT_EQ(Ipam::FromJson(j, P("10.0.0.0/28"), A("10.0.0.1")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace xvr

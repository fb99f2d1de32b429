#include "agent/routing/neigh_table.h"

#include <gtest/gtest.h>
#include <linux/neighbour.h>

#include "test/unit/routing/fake_map.h"

namespace xvr {
namespace {

using NeighMap = test::FakeMap<__be32, xvr_neigh>;

Ipv4Addr A(const char* s) { return *Ipv4Addr::Parse(s); }

KernelNeigh N(const char* ip, uint32_t ifindex, uint16_t state,
              const char* mac = "02:00:00:00:00:01") {
  KernelNeigh n;
  n.ip = A(ip);
  n.ifindex = ifindex;
  n.state = state;
  n.mac = *MacAddr::Parse(mac);
  n.has_lladdr = true;
  return n;
}

std::optional<xvr_neigh> At(const NeighMap& m, const char* ip) {
  auto v = m.Lookup(A(ip).be());
  if (!v.ok()) return std::nullopt;
  return *v;
}

TEST(NeighTableTest, UsableStates) {
  for (uint16_t s : {NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_PERMANENT, NUD_NOARP}) {
    EXPECT_TRUE(IsUsableNeighState(s)) << NeighStateName(s);
  }
  for (uint16_t s : {NUD_NONE, NUD_INCOMPLETE, NUD_FAILED}) {
    EXPECT_FALSE(IsUsableNeighState(s)) << NeighStateName(s);
  }
  EXPECT_EQ(NeighStateName(NUD_PERMANENT), "permanent");
  EXPECT_EQ(NeighStateName(NUD_NONE), "none");
}

TEST(NeighTableTest, FiltersByStateAndLinkLayerAddress) {
  struct Case {
    uint16_t state;
    bool in_map;
  } cases[] = {
      {NUD_REACHABLE, true},   {NUD_STALE, true},     {NUD_DELAY, true},
      {NUD_PROBE, true},       {NUD_PERMANENT, true}, {NUD_NOARP, true},
      {NUD_INCOMPLETE, false}, {NUD_FAILED, false},   {NUD_NONE, false},
  };
  for (const Case& c : cases) {
    NeighMap map;
    NeighTable t(&map);
    t.UpsertKernelNeigh(N("192.168.5.2", 3, c.state));
    EXPECT_EQ(At(map, "192.168.5.2").has_value(), c.in_map) << NeighStateName(c.state);
  }
  NeighMap map;
  NeighTable t(&map);
  KernelNeigh no_ll = N("192.168.5.3", 3, NUD_REACHABLE);
  no_ll.has_lladdr = false;
  t.UpsertKernelNeigh(no_ll);
  t.UpsertKernelNeigh(N("192.168.5.4", 3, NUD_NOARP, "00:00:00:00:00:00"));
  EXPECT_EQ(map.size(), 0u);
}

TEST(NeighTableTest, ValueAndTransitionsOut) {
  NeighMap map;
  NeighTable t(&map);
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_REACHABLE, "02:aa:bb:cc:dd:ee"));
  auto v = At(map, "192.168.5.2");
  ASSERT_TRUE(v);
  EXPECT_EQ(MacAddr(v->mac).ToString(), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(v->state, NUD_REACHABLE);
  EXPECT_EQ(v->ifindex, 3u);

  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_STALE, "02:aa:bb:cc:dd:ee"));
  EXPECT_EQ(At(map, "192.168.5.2")->state, NUD_STALE);
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_FAILED, "02:aa:bb:cc:dd:ee"));
  EXPECT_FALSE(At(map, "192.168.5.2"));

  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_PERMANENT));
  EXPECT_TRUE(At(map, "192.168.5.2"));
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_INCOMPLETE));
  EXPECT_FALSE(At(map, "192.168.5.2"));

  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_PERMANENT));
  t.RemoveKernelNeigh(A("192.168.5.2"), 3);
  EXPECT_FALSE(At(map, "192.168.5.2"));
  EXPECT_EQ(t.stats().entries, 0u);
  EXPECT_EQ(t.stats().in_map, 0u);
}

TEST(NeighTableTest, SameAddressOnTwoInterfacesBestStateThenLowestIfindex) {
  NeighMap map;
  NeighTable t(&map);
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_STALE, "02:00:00:00:00:03"));
  t.UpsertKernelNeigh(N("192.168.5.2", 5, NUD_REACHABLE, "02:00:00:00:00:05"));
  EXPECT_EQ(At(map, "192.168.5.2")->ifindex, 5u);
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_REACHABLE, "02:00:00:00:00:03"));
  EXPECT_EQ(At(map, "192.168.5.2")->ifindex, 3u);
  t.RemoveKernelNeigh(A("192.168.5.2"), 3);
  EXPECT_EQ(At(map, "192.168.5.2")->ifindex, 5u);
  auto snap = t.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].candidates, 1u);
}

TEST(NeighTableTest, WritesOnlyChanges) {
  NeighMap map;
  NeighTable t(&map);
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_REACHABLE));
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_REACHABLE));
  EXPECT_EQ(map.updates, 1);
  // A worse entry on another interface does not change the value.
  t.UpsertKernelNeigh(N("192.168.5.2", 9, NUD_STALE));
  EXPECT_EQ(map.updates, 1);
  t.RemoveKernelNeigh(A("192.168.5.77"), 3);  // unknown
  EXPECT_EQ(map.erases, 0);
}

TEST(NeighTableTest, ResyncRemovesStaleAndAddsNew) {
  NeighMap map;
  map.Poke(A("10.0.0.9").be(), xvr_neigh{{2, 0, 0, 0, 0, 9}, NUD_REACHABLE, 1});  // leftover
  NeighTable t(&map);
  t.ReplaceKernelNeighs({N("192.168.5.2", 3, NUD_REACHABLE), N("192.168.5.3", 3, NUD_STALE),
                         N("192.168.5.4", 3, NUD_FAILED)});
  EXPECT_FALSE(At(map, "10.0.0.9"));
  EXPECT_EQ(map.size(), 2u);

  map.ResetCounters();
  t.ReplaceKernelNeighs({N("192.168.5.3", 3, NUD_STALE), N("192.168.5.4", 3, NUD_REACHABLE),
                         N("192.168.5.5", 3, NUD_PERMANENT)});
  EXPECT_EQ(map.erases, 1);   // .2
  EXPECT_EQ(map.updates, 2);  // .4 .5; .3 unchanged
  EXPECT_FALSE(At(map, "192.168.5.2"));
  EXPECT_TRUE(At(map, "192.168.5.4"));
  EXPECT_TRUE(At(map, "192.168.5.5"));
  EXPECT_EQ(t.stats().resyncs, 2u);
  EXPECT_EQ(t.stats().entries, 3u);
}

TEST(NeighTableTest, FailedWritesRepairedByReconcile) {
  NeighMap map;
  NeighTable t(&map);
  map.fail_writes = true;
  t.UpsertKernelNeigh(N("192.168.5.2", 3, NUD_REACHABLE));
  EXPECT_EQ(t.stats().map_errors, 1u);
  EXPECT_FALSE(t.Snapshot()[0].in_map);
  map.fail_writes = false;
  ASSERT_TRUE(t.Reconcile().ok());
  EXPECT_TRUE(At(map, "192.168.5.2"));
  EXPECT_TRUE(t.Snapshot()[0].in_map);
}

}  // namespace
}  // namespace xvr

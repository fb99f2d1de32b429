#include "agent/routing/route_table.h"

#include <gtest/gtest.h>

#include <thread>

#include "test/unit/routing/fake_map.h"

namespace xvr {
namespace {

using RouteMap = test::FakeMap<xvr_route_key, xvr_route>;

Ipv4Prefix P(const char* s) { return *Ipv4Prefix::Parse(s); }
Ipv4Addr A(const char* s) { return *Ipv4Addr::Parse(s); }

KernelRoute KR(const char* dst, const char* gw, uint32_t ifindex, uint32_t metric = 0) {
  KernelRoute r;
  r.dst = P(dst);
  r.gateway = A(gw);
  r.ifindex = ifindex;
  r.priority = metric;
  r.protocol = 4;  // RTPROT_STATIC
  return r;
}

// The map value at exactly `prefix`, or nullopt.
std::optional<xvr_route> At(const RouteMap& m, const char* prefix) {
  auto v = m.Lookup(RouteTable::MapKey(P(prefix)));
  if (!v.ok()) return std::nullopt;
  return *v;
}

TEST(RouteTableTest, KernelRouteIsWrittenWithNexthopAndIfindex) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.5.2", 7));
  auto v = At(map, "10.99.0.0/16");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, XVR_RT_KERNEL);
  EXPECT_EQ(v->nexthop, A("192.168.5.2").be());
  EXPECT_EQ(v->ifindex, 7u);
  EXPECT_EQ(v->tunnel_dst, 0u);
  const xvr_route_key k = RouteTable::MapKey(P("10.99.0.0/16"));
  EXPECT_EQ(k.prefixlen, 16u);
  EXPECT_EQ(k.addr, A("10.99.0.0").be());
}

TEST(RouteTableTest, PrecedenceLocalOverTunnelOverKernelAndFallback) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.244.1.0/24", "192.168.5.2", 7));
  EXPECT_EQ(At(map, "10.244.1.0/24")->type, XVR_RT_KERNEL);

  ASSERT_TRUE(t.SetTunnelRoutes({{P("10.244.1.0/24"), A("172.18.0.3")}}).ok());
  auto v = At(map, "10.244.1.0/24");
  EXPECT_EQ(v->type, XVR_RT_TUNNEL);
  EXPECT_EQ(v->tunnel_dst, A("172.18.0.3").be());
  EXPECT_EQ(v->nexthop, 0u);

  ASSERT_TRUE(t.SetLocalPodCidr(P("10.244.1.0/24")).ok());
  EXPECT_EQ(At(map, "10.244.1.0/24")->type, XVR_RT_LOCAL);

  // A kernel change underneath the winner changes nothing in the map.
  map.ResetCounters();
  t.UpsertKernelRoute(KR("10.244.1.0/24", "192.168.5.9", 8));
  EXPECT_EQ(map.updates, 0);

  // Removing sources uncovers the next one, with its current value.
  ASSERT_TRUE(t.SetLocalPodCidr(std::nullopt).ok());
  EXPECT_EQ(At(map, "10.244.1.0/24")->type, XVR_RT_TUNNEL);
  ASSERT_TRUE(t.SetTunnelRoutes({}).ok());
  v = At(map, "10.244.1.0/24");
  EXPECT_EQ(v->type, XVR_RT_KERNEL);
  EXPECT_EQ(v->nexthop, A("192.168.5.9").be());
  EXPECT_EQ(v->ifindex, 8u);
  t.RemoveKernelRoute(KR("10.244.1.0/24", "192.168.5.9", 8));
  EXPECT_FALSE(At(map, "10.244.1.0/24"));
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(t.stats().prefixes, 0u);
}

TEST(RouteTableTest, LocalOverKernelWithoutTunnel) {
  RouteMap map;
  RouteTable t(&map);
  ASSERT_TRUE(t.SetLocalPodCidr(P("10.244.0.0/24")).ok());
  t.UpsertKernelRoute(KR("10.244.0.0/24", "0.0.0.0", 3));  // the host pair's route
  EXPECT_EQ(At(map, "10.244.0.0/24")->type, XVR_RT_LOCAL);
  // Moving the local CIDR uncovers the kernel route at the old one.
  ASSERT_TRUE(t.SetLocalPodCidr(P("10.244.5.0/24")).ok());
  EXPECT_EQ(At(map, "10.244.0.0/24")->type, XVR_RT_KERNEL);
  EXPECT_EQ(At(map, "10.244.5.0/24")->type, XVR_RT_LOCAL);
}

TEST(RouteTableTest, LowestMetricWinsAmongKernelRoutes) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.5.2", 7, 100));
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.6.2", 9, 50));
  EXPECT_EQ(At(map, "10.99.0.0/16")->ifindex, 9u);
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.7.2", 11, 200));
  EXPECT_EQ(At(map, "10.99.0.0/16")->ifindex, 9u);
  t.RemoveKernelRoute(KR("10.99.0.0/16", "192.168.6.2", 9, 50));
  EXPECT_EQ(At(map, "10.99.0.0/16")->ifindex, 7u);
  EXPECT_EQ(t.stats().kernel_routes, 2u);
}

TEST(RouteTableTest, DeletingAnAlternateLeavesTheActiveRoute) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.5.2", 7));
  t.RemoveKernelRoute(KR("10.99.0.0/16", "192.168.5.3", 7));      // other gateway
  t.RemoveKernelRoute(KR("10.99.0.0/16", "192.168.5.2", 7, 10));  // other metric
  EXPECT_TRUE(At(map, "10.99.0.0/16"));
}

TEST(RouteTableTest, ReplaceOfSameKeyRewritesOnce) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.5.2", 7));
  t.UpsertKernelRoute(KR("10.99.0.0/16", "192.168.5.3", 7));  // ip route replace
  EXPECT_EQ(At(map, "10.99.0.0/16")->nexthop, A("192.168.5.3").be());
  EXPECT_EQ(map.updates, 2);
  EXPECT_EQ(t.stats().kernel_routes, 1u);
}

TEST(RouteTableTest, WritesOnlyChangedKeys) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));  // duplicate notification
  EXPECT_EQ(map.updates, 1);
  // A worse metric for the same prefix does not change the value.
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.9", 7, 500));
  EXPECT_EQ(map.updates, 1);

  std::vector<TunnelRoute> tunnels = {{P("10.244.1.0/24"), A("172.18.0.3")},
                                      {P("10.244.2.0/24"), A("172.18.0.4")},
                                      {P("10.244.3.0/24"), A("172.18.0.5")}};
  ASSERT_TRUE(t.SetTunnelRoutes(tunnels).ok());
  EXPECT_EQ(map.updates, 4);
  map.ResetCounters();
  ASSERT_TRUE(t.SetTunnelRoutes(tunnels).ok());
  EXPECT_EQ(map.updates + map.erases, 0);
  tunnels[1].node_ip = A("172.18.0.40");  // one node moved
  tunnels.pop_back();                     // one node left
  ASSERT_TRUE(t.SetTunnelRoutes(tunnels).ok());
  EXPECT_EQ(map.updates, 1);
  EXPECT_EQ(map.erases, 1);
  EXPECT_EQ(t.stats().tunnel_routes, 2u);

  // A kernel resync that finds the same routes writes nothing.
  map.ResetCounters();
  t.ReplaceKernelRoutes(
      {KR("10.1.0.0/16", "192.168.5.2", 7), KR("10.1.0.0/16", "192.168.5.9", 7, 500)});
  EXPECT_EQ(map.updates + map.erases, 0);
}

TEST(RouteTableTest, ResyncRemovesStaleAddsNewAndKeepsTheRest) {
  RouteMap map;
  // A key left by an earlier agent, and a right key with a wrong value.
  map.Poke(RouteTable::MapKey(P("10.200.0.0/16")), xvr_route{XVR_RT_KERNEL, 1, 0, 1, 0});
  map.Poke(RouteTable::MapKey(P("10.2.0.0/16")), xvr_route{XVR_RT_KERNEL, 1, 0, 1, 0});
  RouteTable t(&map);
  t.ReplaceKernelRoutes({KR("10.1.0.0/16", "192.168.5.2", 7), KR("10.2.0.0/16", "192.168.5.2", 7),
                         KR("10.3.0.0/16", "192.168.5.2", 7)});
  EXPECT_FALSE(map.Has(RouteTable::MapKey(P("10.200.0.0/16"))));
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(At(map, "10.2.0.0/16")->nexthop, A("192.168.5.2").be());

  // Lost events: 10.1 went away, 10.3 changed, 10.4 appeared.
  map.ResetCounters();
  t.ReplaceKernelRoutes({KR("10.2.0.0/16", "192.168.5.2", 7), KR("10.3.0.0/16", "192.168.5.3", 7),
                         KR("10.4.0.0/16", "192.168.5.2", 7)});
  EXPECT_EQ(map.erases, 1);
  EXPECT_EQ(map.updates, 2);
  EXPECT_FALSE(At(map, "10.1.0.0/16"));
  EXPECT_EQ(At(map, "10.3.0.0/16")->nexthop, A("192.168.5.3").be());
  EXPECT_TRUE(At(map, "10.4.0.0/16"));
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(t.stats().kernel_resyncs, 2u);
}

TEST(RouteTableTest, ResyncKeepsAgentSourcesAndFirstOfDuplicates) {
  RouteMap map;
  RouteTable t(&map);
  ASSERT_TRUE(t.SetTunnelRoutes({{P("10.244.1.0/24"), A("172.18.0.3")}}).ok());
  t.UpsertKernelRoute(KR("10.244.1.0/24", "192.168.5.2", 7));
  t.ReplaceKernelRoutes({KR("10.5.0.0/16", "192.168.5.2", 7),
                         KR("10.5.0.0/16", "192.168.5.3", 8)});  // same key: first wins
  EXPECT_EQ(At(map, "10.244.1.0/24")->type, XVR_RT_TUNNEL);
  EXPECT_EQ(At(map, "10.5.0.0/16")->ifindex, 7u);
  EXPECT_EQ(map.size(), 2u);
  auto snap = t.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].prefix, P("10.5.0.0/16"));
  EXPECT_EQ(snap[1].sources, 1u << XVR_RT_TUNNEL);  // the kernel route is gone
}

TEST(RouteTableTest, HostBitsAreClearedAndDefaultRouteWorks) {
  RouteMap map;
  RouteTable t(&map);
  KernelRoute r = KR("0.0.0.0/0", "192.168.5.1", 7);
  t.UpsertKernelRoute(r);
  ASSERT_TRUE(t.SetTunnelRoutes({{Ipv4Prefix(A("10.244.1.77"), 24), A("172.18.0.3")}}).ok());
  EXPECT_TRUE(At(map, "0.0.0.0/0"));
  EXPECT_EQ(At(map, "10.244.1.0/24")->type, XVR_RT_TUNNEL);
  EXPECT_EQ(map.size(), 2u);
}

TEST(RouteTableTest, DuplicateTunnelCidrLowestNodeWinsWhateverTheOrder) {
  RouteMap m1, m2;
  RouteTable t1(&m1), t2(&m2);
  ASSERT_TRUE(t1.SetTunnelRoutes(
                    {{P("10.244.1.0/24"), A("172.18.0.9")}, {P("10.244.1.0/24"), A("172.18.0.3")}})
                  .ok());
  ASSERT_TRUE(t2.SetTunnelRoutes(
                    {{P("10.244.1.0/24"), A("172.18.0.3")}, {P("10.244.1.0/24"), A("172.18.0.9")}})
                  .ok());
  EXPECT_EQ(At(m1, "10.244.1.0/24")->tunnel_dst, A("172.18.0.3").be());
  EXPECT_EQ(At(m2, "10.244.1.0/24")->tunnel_dst, A("172.18.0.3").be());
}

TEST(RouteTableTest, FailedWritesAreCountedAndRepairedByTheNextResync) {
  RouteMap map;
  RouteTable t(&map);
  t.ReplaceKernelRoutes({});
  map.fail_writes = true;
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  EXPECT_FALSE(t.SetTunnelRoutes({{P("10.244.1.0/24"), A("172.18.0.3")}}).ok());
  EXPECT_EQ(t.stats().map_errors, 2u);
  EXPECT_EQ(map.size(), 0u);
  auto snap = t.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_FALSE(snap[0].in_map);

  map.fail_writes = false;
  t.ReplaceKernelRoutes({KR("10.1.0.0/16", "192.168.5.2", 7)});  // nothing changed, but dirty
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(t.stats().in_map, 2u);
  for (const RouteEntry& e : t.Snapshot()) EXPECT_TRUE(e.in_map);
}

TEST(RouteTableTest, FailedDeleteIsRetriedByReconcile) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  map.fail_writes = true;
  t.RemoveKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  EXPECT_EQ(map.size(), 1u);
  map.fail_writes = false;
  ASSERT_TRUE(t.Reconcile().ok());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(t.stats().prefixes, 0u);
}

TEST(RouteTableTest, TracksRoutesPerInterface) {
  RouteMap map;
  RouteTable t(&map);
  t.UpsertKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  t.UpsertKernelRoute(KR("10.2.0.0/16", "192.168.5.2", 7));
  EXPECT_TRUE(t.HasKernelRoutesVia(7));
  EXPECT_FALSE(t.HasKernelRoutesVia(8));
  t.UpsertKernelRoute(KR("10.2.0.0/16", "192.168.6.2", 8));  // replace moves it
  t.RemoveKernelRoute(KR("10.1.0.0/16", "192.168.5.2", 7));
  EXPECT_FALSE(t.HasKernelRoutesVia(7));
  EXPECT_TRUE(t.HasKernelRoutesVia(8));
  t.ReplaceKernelRoutes({KR("10.3.0.0/16", "192.168.5.2", 7)});
  EXPECT_TRUE(t.HasKernelRoutesVia(7));
  EXPECT_FALSE(t.HasKernelRoutesVia(8));
}

TEST(RouteTableTest, ConcurrentSourcesEndConsistent) {
  RouteMap map;
  RouteTable t(&map);
  std::thread kernel([&] {
    for (int i = 0; i < 2000; ++i) {
      KernelRoute r = KR("10.0.0.0/24", "192.168.5.2", 7);
      r.dst = Ipv4Prefix(Ipv4Addr(A("10.0.0.0").value() + ((i % 200) << 8)), 24);
      if (i < 1000)
        t.UpsertKernelRoute(r);
      else
        t.RemoveKernelRoute(r);
    }
  });
  std::thread agent([&] {
    for (int i = 0; i < 200; ++i) {
      std::vector<TunnelRoute> tunnels;
      for (int j = 0; j < i % 50; ++j) {
        tunnels.push_back(
            {Ipv4Prefix(Ipv4Addr(A("10.0.0.0").value() + (j << 8)), 24), A("172.18.0.3")});
      }
      (void)t.SetTunnelRoutes(tunnels);
    }
  });
  kernel.join();
  agent.join();
  // Kernel routes all removed; the last tunnel set (i = 199 → 49 routes) remains.
  EXPECT_EQ(map.size(), 49u);
  EXPECT_EQ(t.stats().in_map, 49u);
  EXPECT_EQ(t.stats().kernel_routes, 0u);
}

}  // namespace
}  // namespace xvr

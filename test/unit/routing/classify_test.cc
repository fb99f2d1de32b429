// The netlink classifiers on libnl objects built in memory (no socket).
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/route/nexthop.h>

#include "agent/netlink/neigh_watcher.h"
#include "agent/netlink/route_watcher.h"

namespace xvr {
namespace {

// nl_addr is not an nl_object: it has its own reference count.
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;

NlAddr Addr(const char* s, int family = AF_INET) {
  nl_addr* a = nullptr;
  EXPECT_EQ(nl_addr_parse(s, family, &a), 0) << s;
  return NlAddr(a);
}

struct NhSpec {
  const char* gw;  // nullptr: on-link
  int ifindex;
  unsigned flags = 0;  // RTNH_F_*
};

struct RouteSpec {
  int family = AF_INET;
  const char* dst = "10.99.0.0/16";
  uint32_t table = RT_TABLE_MAIN;
  uint8_t type = RTN_UNICAST;
  uint8_t tos = 0;
  uint8_t protocol = RTPROT_STATIC;
  uint32_t priority = 0;
  std::vector<NhSpec> nexthops = DefaultNexthops();
  static std::vector<NhSpec> DefaultNexthops() { return {NhSpec{"192.168.5.2", 7}}; }
};

NlObject<rtnl_route> Route(const RouteSpec& s) {
  NlObject<rtnl_route> r(rtnl_route_alloc());
  rtnl_route_set_family(r.get(), s.family);
  auto dst = Addr(s.dst, s.family);
  EXPECT_EQ(rtnl_route_set_dst(r.get(), dst.get()), 0);
  rtnl_route_set_table(r.get(), s.table);
  rtnl_route_set_type(r.get(), s.type);
  rtnl_route_set_tos(r.get(), s.tos);
  rtnl_route_set_protocol(r.get(), s.protocol);
  rtnl_route_set_priority(r.get(), s.priority);
  for (const NhSpec& spec : s.nexthops) {
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (spec.gw) {
      auto a = Addr(spec.gw, s.family);
      rtnl_route_nh_set_gateway(nh, a.get());
    }
    rtnl_route_nh_set_ifindex(nh, spec.ifindex);
    if (spec.flags) rtnl_route_nh_set_flags(nh, spec.flags);
    rtnl_route_add_nexthop(r.get(), nh);
  }
  return r;
}

TEST(ClassifyRouteTest, UnicastMainRouteIsMirrored) {
  RouteSpec s;
  s.priority = 100;
  auto r = Route(s);
  const ClassifiedRoute c = ClassifyRoute(r.get(), {});
  ASSERT_EQ(c.cls, RouteClass::kMirror);
  EXPECT_EQ(c.route.dst.ToString(), "10.99.0.0/16");
  EXPECT_EQ(c.route.gateway.ToString(), "192.168.5.2");
  EXPECT_EQ(c.route.ifindex, 7u);
  EXPECT_EQ(c.route.priority, 100u);
  EXPECT_EQ(c.route.protocol, RTPROT_STATIC);
}

TEST(ClassifyRouteTest, OnLinkAndDefaultRoutes) {
  RouteSpec s;
  s.nexthops = {{nullptr, 4}};
  auto onlink = Route(s);
  ClassifiedRoute c = ClassifyRoute(onlink.get(), {});
  ASSERT_EQ(c.cls, RouteClass::kMirror);
  EXPECT_EQ(c.route.gateway, Ipv4Addr(0));

  for (const char* def : {"0.0.0.0/0", "default"}) {
    RouteSpec d;
    d.dst = def;
    auto r = Route(d);
    c = ClassifyRoute(r.get(), {});
    ASSERT_EQ(c.cls, RouteClass::kMirror) << def;
    EXPECT_EQ(c.route.dst.ToString(), "0.0.0.0/0");
  }
}

TEST(ClassifyRouteTest, MultipathUsesTheFirstNexthop) {
  RouteSpec s;
  s.nexthops = {{"192.168.5.2", 7}, {"192.168.6.2", 8}};
  auto r = Route(s);
  const ClassifiedRoute c = ClassifyRoute(r.get(), {});
  ASSERT_EQ(c.cls, RouteClass::kMirror);
  EXPECT_EQ(c.route.ifindex, 7u);
}

TEST(ClassifyRouteTest, DeadNexthopsAreSkipped) {
  RouteSpec s;
  s.nexthops = {{"192.168.5.2", 7, RTNH_F_DEAD}, {"192.168.6.2", 8}};
  auto r = Route(s);
  ClassifiedRoute c = ClassifyRoute(r.get(), {});
  ASSERT_EQ(c.cls, RouteClass::kMirror);
  EXPECT_EQ(c.route.ifindex, 8u);
  s.nexthops = {{"192.168.5.2", 7, RTNH_F_DEAD}};
  auto dead = Route(s);
  EXPECT_EQ(ClassifyRoute(dead.get(), {}).cls, RouteClass::kShadow);
}

TEST(ClassifyRouteTest, OutOfScopeRoutesAreIgnored) {
  RouteSpec local;
  local.table = RT_TABLE_LOCAL;
  RouteSpec v6;
  v6.family = AF_INET6;
  v6.dst = "fd00::/64";
  v6.nexthops = {{"fe80::1", 7}};
  RouteSpec tos;
  tos.tos = 0x10;
  RouteSpec mine;
  mine.protocol = 99;
  RouteWatcherOptions opts;
  opts.ignore_protocols = {99};
  for (const RouteSpec* s : {&local, &v6, &tos, &mine}) {
    auto r = Route(*s);
    EXPECT_EQ(ClassifyRoute(r.get(), opts).cls, RouteClass::kIgnore) << s->dst;
  }
}

TEST(ClassifyRouteTest, UnforwardableMainRoutesShadowTheirKey) {
  RouteSpec blackhole;
  blackhole.type = RTN_BLACKHOLE;
  blackhole.nexthops = {};
  RouteSpec unreachable;
  unreachable.type = RTN_UNREACHABLE;
  unreachable.nexthops = {};
  RouteSpec nhid;  // a route through a nexthop object carries no nexthop for libnl 3.7
  nhid.nexthops = {};
  for (const RouteSpec* s : {&blackhole, &unreachable, &nhid}) {
    auto r = Route(*s);
    const ClassifiedRoute c = ClassifyRoute(r.get(), {});
    EXPECT_EQ(c.cls, RouteClass::kShadow);
    EXPECT_EQ(c.route.dst.ToString(), "10.99.0.0/16");
  }
}

NlObject<rtnl_neigh> Neigh(int family, const char* dst, const char* ll, int state, int ifindex,
                           unsigned flags = 0) {
  NlObject<rtnl_neigh> n(rtnl_neigh_alloc());
  rtnl_neigh_set_family(n.get(), family);
  auto d = Addr(dst, family);
  rtnl_neigh_set_dst(n.get(), d.get());
  if (ll) {
    auto l = Addr(ll, AF_LLC);
    rtnl_neigh_set_lladdr(n.get(), l.get());
  }
  rtnl_neigh_set_state(n.get(), state);
  rtnl_neigh_set_ifindex(n.get(), ifindex);
  if (flags) rtnl_neigh_set_flags(n.get(), flags);
  return n;
}

TEST(ClassifyNeighTest, Ipv4EntryWithLinkLayerAddress) {
  auto n = Neigh(AF_INET, "192.168.5.2", "02:aa:bb:cc:dd:ee", NUD_REACHABLE, 3);
  auto k = ClassifyNeigh(n.get());
  ASSERT_TRUE(k);
  EXPECT_EQ(k->ip.ToString(), "192.168.5.2");
  EXPECT_EQ(k->ifindex, 3u);
  EXPECT_TRUE(k->has_lladdr);
  EXPECT_EQ(k->mac.ToString(), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(k->state, NUD_REACHABLE);
}

TEST(ClassifyNeighTest, IncompleteEntryHasNoLinkLayerAddress) {
  auto n = Neigh(AF_INET, "192.168.5.2", nullptr, NUD_INCOMPLETE, 3);
  auto k = ClassifyNeigh(n.get());
  ASSERT_TRUE(k);
  EXPECT_FALSE(k->has_lladdr);
}

TEST(ClassifyNeighTest, OtherFamiliesAndProxyEntriesAreSkipped) {
  auto v6 = Neigh(AF_INET6, "fe80::1", "02:aa:bb:cc:dd:ee", NUD_REACHABLE, 3);
  EXPECT_FALSE(ClassifyNeigh(v6.get()));
  auto proxy = Neigh(AF_INET, "192.168.5.2", nullptr, NUD_NONE, 3, NTF_PROXY);
  EXPECT_FALSE(ClassifyNeigh(proxy.get()));
}

}  // namespace
}  // namespace xvr

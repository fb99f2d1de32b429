// The route and neighbour watchers against a real kernel (a private netns)
// and real BPF maps. Root only; each test makes and deletes its own netns.
#include <gtest/gtest.h>
#include <linux/neighbour.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "test/e2e/routing/routing_lab.h"

namespace xvr::test {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double Ms(microseconds us) { return us.count() / 1000.0; }
double Ms(Clock::duration d) { return duration_cast<microseconds>(d).count() / 1000.0; }

class RoutingE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, BPF maps)";
  }

  void MakeLab(RoutingLabOptions opts = {}) {
    auto lab = RoutingLab::Create(opts);
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = std::move(*lab);
  }

  // Runs `ip …`, then waits for pred; prints and returns the latency
  // measured from just before `ip` was started and from when it returned.
  void ExpectWithin(const std::string& what, const std::string& ip_args,
                    const std::function<bool()>& pred, milliseconds limit = milliseconds(1000)) {
    const auto t0 = Clock::now();
    ASSERT_TRUE(lab_->Ip(ip_args).ok()) << ip_args;
    const auto t1 = Clock::now();
    auto waited = WaitFor(pred, limit, microseconds(50));
    ASSERT_TRUE(waited.has_value()) << what << ": not seen within " << limit.count() << " ms";
    const auto total = Clock::now() - t0;
    std::printf("[latency] %-28s %7.3f ms after `ip` returned, %7.3f ms including `ip` (%.3f ms)\n",
                what.c_str(), Ms(*waited), Ms(total), Ms(t1 - t0));
    EXPECT_LT(total, limit);
  }

  std::unique_ptr<RoutingLab> lab_;
};

TEST_F(RoutingE2E, RouteAddAndDelReachTheLpmMap) {
  MakeLab();
  const int fd = lab_->routes_fd();
  // The connected route came with the initial dump.
  ASSERT_TRUE(LpmLookup(fd, "192.168.77.9"));
  EXPECT_EQ(LpmLookup(fd, "192.168.77.9")->nexthop, 0u);
  ASSERT_FALSE(LpmLookup(fd, "10.99.1.2"));

  ExpectWithin("ip route add", absl::StrCat("route add 10.99.0.0/16 via ", kLabGateway),
               [&] { return LpmLookup(fd, "10.99.1.2").has_value(); });
  const auto v = LpmLookup(fd, "10.99.1.2");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, XVR_RT_KERNEL);
  EXPECT_EQ(v->nexthop, Ipv4Addr::Parse(kLabGateway)->be());
  EXPECT_EQ(v->ifindex, lab_->dev_ifindex());

  ExpectWithin("ip route replace", absl::StrCat("route replace 10.99.0.0/16 via ", kLabGateway2),
               [&] {
                 auto r = LpmLookup(fd, "10.99.1.2");
                 return r && r->nexthop == Ipv4Addr::Parse(kLabGateway2)->be();
               });

  ExpectWithin("ip route del", "route del 10.99.0.0/16",
               [&] { return !LpmLookup(fd, "10.99.1.2").has_value(); });
  EXPECT_EQ(lab_->route_watcher().stats().overruns, 0u);
}

TEST_F(RoutingE2E, NeighbourAddChangeAndDeleteReachTheMap) {
  MakeLab();
  const int fd = lab_->neigh_fd();
  const std::string dev = kLabDev;
  ExpectWithin("ip neigh add permanent",
               "neigh add 192.168.77.5 lladdr 02:11:22:33:44:55 dev " + dev + " nud permanent",
               [&] { return NeighLookup(fd, "192.168.77.5").has_value(); });
  auto v = NeighLookup(fd, "192.168.77.5");
  ASSERT_TRUE(v);
  EXPECT_EQ(MacAddr(v->mac).ToString(), "02:11:22:33:44:55");
  EXPECT_EQ(v->state, NUD_PERMANENT);
  EXPECT_EQ(v->ifindex, lab_->dev_ifindex());

  ExpectWithin("ip neigh del", "neigh del 192.168.77.5 dev " + dev,
               [&] { return !NeighLookup(fd, "192.168.77.5").has_value(); });

  // State filtering on the live path: STALE is usable, FAILED is not.
  ExpectWithin("ip neigh add stale",
               "neigh replace 192.168.77.6 lladdr 02:11:22:33:44:66 dev " + dev + " nud stale",
               [&] {
                 auto n = NeighLookup(fd, "192.168.77.6");
                 return n && n->state == NUD_STALE;
               });
  ExpectWithin("ip neigh change failed", "neigh change 192.168.77.6 dev " + dev + " nud failed",
               [&] { return !NeighLookup(fd, "192.168.77.6").has_value(); });
}

TEST_F(RoutingE2E, InitialDumpAndLeftoversInThePinnedMap) {
  RoutingLabOptions opts;
  opts.start = false;
  MakeLab(opts);
  ASSERT_TRUE(lab_->Ip(absl::StrCat("route add 10.98.0.0/16 via ", kLabGateway)).ok());
  ASSERT_TRUE(lab_->Ip(absl::StrCat("neigh add 192.168.77.7 lladdr 02:00:00:00:00:07 dev ", kLabDev,
                                    " nud permanent"))
                  .ok());
  // What an earlier agent might have left in a pinned map.
  ASSERT_TRUE(lab_->routes_map()
                  .Update(RouteTable::MapKey(*Ipv4Prefix::Parse("10.250.0.0/16")),
                          xvr_route{XVR_RT_KERNEL, 0, 0, 1, 0})
                  .ok());
  ASSERT_TRUE(lab_->Start().ok());
  // Start() returns after the first dump: no waiting needed.
  EXPECT_TRUE(LpmLookup(lab_->routes_fd(), "10.98.3.4"));
  EXPECT_FALSE(LpmLookup(lab_->routes_fd(), "10.250.0.1"));
  EXPECT_TRUE(NeighLookup(lab_->neigh_fd(), "192.168.77.7"));
}

TEST_F(RoutingE2E, TenThousandRoutesFromIpBatch) {
  MakeLab();
  const int fd = lab_->routes_fd();
  const size_t base = CountKeys(fd, sizeof(xvr_route_key));
  constexpr int kRoutes = 10000;
  const auto add = RouteBatch("add", "10.100.0.0", kRoutes, kLabGateway);

  const auto t0 = Clock::now();
  ASSERT_TRUE(lab_->IpBatch(add).ok());
  const auto t_ip = Clock::now() - t0;
  auto waited = WaitFor([&] { return CountKeys(fd, sizeof(xvr_route_key)) == base + kRoutes; },
                        milliseconds(20000), microseconds(2000));
  const auto total = Clock::now() - t0;
  ASSERT_TRUE(waited) << "map holds " << CountKeys(fd, sizeof(xvr_route_key)) - base << " of "
                      << kRoutes;
  const auto st = lab_->route_watcher().stats();
  std::printf(
      "[10k routes] ip -batch %.1f ms; all %d in the LPM map %.1f ms after start "
      "(%.1f ms after ip returned); events %lu, overruns %lu, resyncs %lu\n",
      Ms(t_ip), kRoutes, Ms(total), Ms(*waited), st.events, st.overruns, st.resyncs);
  // Every one of them is right, not just counted.
  const auto dump = DumpRoutes(fd);
  const auto gw = Ipv4Addr::Parse(kLabGateway)->be();
  int right = 0;
  for (const std::string& line : add) {
    const std::string prefix = line.substr(10, line.find(' ', 10) - 10);
    auto it = dump.find(prefix);
    if (it != dump.end() && it->second.nexthop == gw && it->second.ifindex == lab_->dev_ifindex())
      ++right;
  }
  EXPECT_EQ(right, kRoutes);

  const auto t2 = Clock::now();
  ASSERT_TRUE(lab_->IpBatch(RouteBatch("del", "10.100.0.0", kRoutes, kLabGateway)).ok());
  ASSERT_TRUE(WaitFor([&] { return CountKeys(fd, sizeof(xvr_route_key)) == base; },
                      milliseconds(20000), microseconds(2000)));
  std::printf("[10k routes] deleted again, map back to %zu entries %.1f ms after start\n", base,
              Ms(Clock::now() - t2));
}

// ip -j route show table main, reduced to what the map holds:
// "prefix" → (gateway, ifindex) of the lowest-metric unicast route.
std::map<std::string, std::pair<uint32_t, uint32_t>> KernelMainTable(const RoutingLab& lab) {
  std::map<std::string, std::pair<uint32_t, uint32_t>> out;
  auto links = nlohmann::json::parse(*lab.IpOutput("-j link show"), nullptr, false);
  std::map<std::string, uint32_t> ifindex;
  for (const auto& l : links) ifindex[l.value("ifname", "")] = l.value("ifindex", 0u);
  auto routes = nlohmann::json::parse(*lab.IpOutput("-j route show table main"), nullptr, false);
  std::map<std::string, uint32_t> best_metric;
  for (const auto& r : routes) {
    if (r.contains("type") && r["type"] != "unicast") continue;
    std::string dst = r.value("dst", "");
    if (dst == "default") dst = "0.0.0.0/0";
    if (dst.find('/') == std::string::npos) dst += "/32";
    const uint32_t metric = r.value("metric", 0u);
    auto bm = best_metric.find(dst);
    if (bm != best_metric.end() && bm->second <= metric) continue;
    best_metric[dst] = metric;
    uint32_t gw = 0;
    if (r.contains("gateway")) gw = Ipv4Addr::Parse(r["gateway"].get<std::string>())->be();
    out[dst] = {gw, ifindex[r.value("dev", "")]};
  }
  return out;
}

std::map<std::string, std::pair<uint32_t, uint32_t>> MapTable(int fd) {
  std::map<std::string, std::pair<uint32_t, uint32_t>> out;
  for (const auto& [prefix, v] : DumpRoutes(fd)) out[prefix] = {v.nexthop, v.ifindex};
  return out;
}

TEST_F(RoutingE2E, OverrunForcesAResyncThatMatchesTheKernel) {
  RoutingLabOptions opts;
  opts.rcvbuf_bytes = 1024;  // the kernel's minimum: a few notifications
  MakeLab(opts);
  const int fd = lab_->routes_fd();
  // A flood of adds, deletes and replaces, far more than the buffer holds.
  std::vector<std::string> flood = RouteBatch("add", "10.120.0.0", 4000, kLabGateway);
  for (auto& l : RouteBatch("del", "10.120.0.0", 1500, kLabGateway)) flood.push_back(l);
  for (auto& l : RouteBatch("replace", "10.126.0.0", 500, kLabGateway2)) flood.push_back(l);
  flood.push_back("route add default via " + std::string(kLabGateway));
  for (int round = 0; round < 5 && lab_->route_watcher().stats().overruns == 0; ++round) {
    if (round > 0) {  // start over: the flood adds routes that must not exist yet
      ASSERT_TRUE(lab_->Ip("route flush root 10.0.0.0/8").ok());
      ASSERT_TRUE(lab_->Ip("route del default").ok());
    }
    ASSERT_TRUE(lab_->IpBatch(flood).ok());
  }
  const auto st0 = lab_->route_watcher().stats();
  ASSERT_GT(st0.overruns, 0u) << "the flood did not overrun the event socket";

  const auto t0 = Clock::now();
  std::map<std::string, std::pair<uint32_t, uint32_t>> want, got;
  auto equal = WaitFor(
      [&] {
        want = KernelMainTable(*lab_);
        got = MapTable(fd);
        return want == got;
      },
      milliseconds(10000), microseconds(20000));
  const auto st = lab_->route_watcher().stats();
  std::printf(
      "[overrun] %lu overruns, %lu resyncs (%lu interrupted dumps), %lu events, "
      "%lu discarded; map == kernel (%zu routes) %.1f ms after the flood\n",
      st.overruns, st.resyncs, st.dumps_interrupted, st.events, st.discarded, want.size(),
      Ms(Clock::now() - t0));
  ASSERT_TRUE(equal) << "map has " << got.size() << " routes, kernel " << want.size();
  EXPECT_GT(st.resyncs, 1u);  // the initial dump and at least one after an overrun
  EXPECT_EQ(want.size(), 4000u - 1500u + 1u + 1u);  // + default + the connected /24
  size_t replaced = 0;
  for (const auto& [prefix, v] : got) replaced += v.first == Ipv4Addr::Parse(kLabGateway2)->be();
  EXPECT_EQ(replaced, 500u);
}

TEST_F(RoutingE2E, LinkDownFlushIsNoticed) {
  MakeLab();
  const int fd = lab_->routes_fd();
  ExpectWithin("ip route add", absl::StrCat("route add 10.97.0.0/16 via ", kLabGateway),
               [&] { return LpmLookup(fd, "10.97.0.1").has_value(); });
  // IPv4 flushes routes of a downed link without RTM_DELROUTE.
  ExpectWithin("ip link set down", absl::StrCat("link set ", kLabDev, " down"), [&] {
    return !LpmLookup(fd, "10.97.0.1").has_value() && !LpmLookup(fd, "192.168.77.9").has_value();
  });
  ExpectWithin("ip link set up", absl::StrCat("link set ", kLabDev, " up"),
               [&] { return LpmLookup(fd, "192.168.77.9").has_value(); });
  // Removing the address takes the gateway route with it, also silently.
  ExpectWithin("ip route add (again)", absl::StrCat("route add 10.97.0.0/16 via ", kLabGateway),
               [&] { return LpmLookup(fd, "10.97.0.1").has_value(); });
  ExpectWithin("ip addr del", absl::StrCat("addr del ", kLabAddr, "/24 dev ", kLabDev),
               [&] { return !LpmLookup(fd, "10.97.0.1").has_value(); });
  EXPECT_EQ(MapTable(fd), KernelMainTable(*lab_));
}

TEST_F(RoutingE2E, AppendedAlternateTakesOverWhenTheActiveRouteGoes) {
  MakeLab();
  const int fd = lab_->routes_fd();
  const uint32_t gw1 = Ipv4Addr::Parse(kLabGateway)->be();
  const uint32_t gw2 = Ipv4Addr::Parse(kLabGateway2)->be();
  ExpectWithin("ip route add", absl::StrCat("route add 10.96.0.0/16 via ", kLabGateway),
               [&] { return LpmLookup(fd, "10.96.0.1").has_value(); });
  ASSERT_TRUE(lab_->Ip(absl::StrCat("route append 10.96.0.0/16 via ", kLabGateway2)).ok());
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(LpmLookup(fd, "10.96.0.1")->nexthop, gw1);  // the kernel keeps using the first
  ExpectWithin("ip route del (active)", absl::StrCat("route del 10.96.0.0/16 via ", kLabGateway),
               [&] {
                 auto r = LpmLookup(fd, "10.96.0.1");
                 return r && r->nexthop == gw2;
               });
  EXPECT_EQ(MapTable(fd), KernelMainTable(*lab_));
}

}  // namespace
}  // namespace xvr::test

// ServiceManager over in-memory maps: what is written, in which order of
// dependencies, what is flushed, what survives an agent restart, and how a
// burst of cluster changes is coalesced.
#include "agent/services/service_manager.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>
#include <set>

#include "agent/ctl/services_view.h"
#include "agent/services/services_json.h"
#include "test/unit/services/fake_service_maps.h"

namespace xvr::services {
namespace {

using test::FakeServiceMaps;

Ipv4Addr Ip(const char* s) { return *Ipv4Addr::Parse(s); }

BackendAddr BA(const char* ip, uint16_t port, uint8_t proto) { return {Ip(ip), port, proto}; }

Backend Be(const char* ip, uint16_t port, uint8_t proto, bool local = false,
           bool terminating = false) {
  Backend b;
  b.addr = BA(ip, port, proto);
  b.local = local;
  b.terminating = terminating;
  b.node_name = local ? "n1" : "n2";
  b.pod = std::string("default/pod-") + ip;
  return b;
}

Frontend Fe(const char* ip, uint16_t port, uint8_t proto, std::vector<Backend> backends,
            std::string service, uint16_t flags = 0) {
  Frontend f;
  f.key = {Ip(ip), port, proto, XVR_SVC_SCOPE_INTERNAL};
  f.service = std::move(service);
  f.flags = flags;
  if (flags & XVR_SVC_F_AFFINITY) f.affinity_timeout_seconds = 10800;
  std::sort(backends.begin(), backends.end(),
            [](const Backend& a, const Backend& b) { return a.addr < b.addr; });
  f.backends = std::move(backends);
  return f;
}

std::vector<Frontend> Sorted(std::vector<Frontend> v) {
  std::sort(v.begin(), v.end(), [](const Frontend& a, const Frontend& b) { return a.key < b.key; });
  return v;
}

xvr_svc_key SK(const FrontendKey& k) { return ToSvcKey(k); }

std::optional<xvr_svc> SvcOf(const FakeServiceMaps& m, const FrontendKey& k) {
  auto it = m.svc.find(SK(k));
  if (it == m.svc.end()) return std::nullopt;
  return it->second;
}

// The id under which `a` is in xvr_backends; 0 if it is not.
uint32_t IdOf(const FakeServiceMaps& m, const BackendAddr& a) {
  for (const auto& [id, v] : m.backends) {
    if (v.addr == a.addr.be() && ntohs(v.port) == a.port && v.proto == a.proto) return id;
  }
  return 0;
}

// A flow of `client:cport` to frontend `f` that the data path sent to
// backend `b` (id `id`) from table `table`: the CT entry and its reverse.
struct Flow {
  xvr_nat_key ct_key{};
  xvr_nat_key rev_key{};
};
Flow AddFlow(FakeServiceMaps& m, const char* client, uint16_t cport, const FrontendKey& f,
             const BackendAddr& b, uint32_t id, uint32_t table) {
  Flow fl;
  fl.ct_key.saddr = Ip(client).be();
  fl.ct_key.daddr = f.addr.be();
  fl.ct_key.sport = htons(cport);
  fl.ct_key.dport = htons(f.port);
  fl.ct_key.proto = f.proto;
  xvr_svc_ct ct{};
  ct.backend_id = id;
  ct.daddr = b.addr.be();
  ct.dport = htons(b.port);
  ct.saddr = fl.ct_key.saddr;
  ct.sport = fl.ct_key.sport;
  ct.table = table;
  m.ct[fl.ct_key] = ct;
  fl.rev_key.saddr = ct.daddr;
  fl.rev_key.daddr = ct.saddr;
  fl.rev_key.sport = ct.dport;
  fl.rev_key.dport = ct.sport;
  fl.rev_key.proto = f.proto;
  xvr_svc_rev rv{};
  rv.vaddr = f.addr.be();
  rv.caddr = ct.saddr;
  rv.vport = fl.ct_key.dport;
  rv.cport = fl.ct_key.sport;
  m.rev[fl.rev_key] = rv;
  return fl;
}

xvr_aff_key AddAffinity(FakeServiceMaps& m, const char* client, uint32_t table, uint32_t id) {
  xvr_aff_key k{};
  k.client = Ip(client).be();
  k.table = table;
  xvr_aff_val v{};
  v.last_ns = 1;
  v.backend_id = id;
  m.aff[k] = v;
  return k;
}

ServiceManagerOptions Opts() {
  ServiceManagerOptions o;
  o.local_node = "n1";
  o.wait_for_sync = false;
  return o;
}

// web: TCP 10.96.0.10:80 → three pods; dns: UDP 10.96.0.53:53 → two pods.
Frontend Web(std::vector<Backend> bs = {Be("10.0.1.1", 8080, IPPROTO_TCP, true),
                                        Be("10.0.2.1", 8080, IPPROTO_TCP),
                                        Be("10.0.3.1", 8080, IPPROTO_TCP)}) {
  return Fe("10.96.0.10", 80, IPPROTO_TCP, std::move(bs), "default/web");
}
Frontend Dns(std::vector<Backend> bs = {Be("10.0.1.2", 53, IPPROTO_UDP, true),
                                        Be("10.0.2.2", 53, IPPROTO_UDP)},
             uint16_t flags = XVR_SVC_F_AFFINITY) {
  return Fe("10.96.0.53", 53, IPPROTO_UDP, std::move(bs), "kube-system/dns", flags);
}

TEST(ServiceManagerTest, ProgramsFrontendsBackendsAndTables) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());

  ASSERT_EQ(maps.svc.size(), 2u);
  ASSERT_EQ(maps.backends.size(), 5u);
  ASSERT_EQ(maps.tables.size(), 2u);
  std::set<uint32_t> ids;
  for (const auto& [id, v] : maps.backends) {
    EXPECT_NE(id, 0u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 5u);

  const xvr_backend local = maps.backends.at(IdOf(maps, BA("10.0.1.1", 8080, IPPROTO_TCP)));
  EXPECT_EQ(local.addr, Ip("10.0.1.1").be());
  EXPECT_EQ(local.port, htons(8080));
  EXPECT_EQ(local.proto, IPPROTO_TCP);
  EXPECT_EQ(local.flags, XVR_BE_F_LOCAL);

  for (const Frontend& f : {Web(), Dns()}) {
    SCOPED_TRACE(f.key.ToString());
    std::optional<xvr_svc> s = SvcOf(maps, f.key);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->count, f.backends.size());
    EXPECT_EQ(s->maglev_size, *MaglevTableSize(f.backends.size()));
    EXPECT_EQ(s->flags, f.flags);
    EXPECT_EQ(s->affinity_timeout, f.affinity_timeout_seconds);
    // The table is the one BuildMaglevTable makes from "addr" names.
    std::vector<MaglevBackend> mb;
    for (const Backend& b : f.backends) mb.push_back({b.addr.ToString(), IdOf(maps, b.addr)});
    ASSERT_TRUE(maps.tables.contains(s->table));
    EXPECT_EQ(maps.tables.at(s->table), *BuildMaglevTable(mb, s->maglev_size));
  }
  EXPECT_NE(SvcOf(maps, Web().key)->table, SvcOf(maps, Dns().key)->table);

  const ServiceManagerStats st = mgr.stats();
  EXPECT_EQ(st.reconciles, 1u);
  EXPECT_EQ(st.frontends, 2u);
  EXPECT_EQ(st.backends, 5u);
  EXPECT_EQ(st.tables, 2u);
  EXPECT_EQ(st.errors, 0u);

  // Programmed(): model plus ids and Maglev health.
  std::vector<ProgrammedService> p = mgr.Programmed();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].frontend.service, "default/web");  // 10.96.0.10 < 10.96.0.53
  ASSERT_EQ(p[0].backend_ids.size(), 3u);
  EXPECT_EQ(p[0].backend_ids[0], IdOf(maps, BA("10.0.1.1", 8080, IPPROTO_TCP)));
  EXPECT_EQ(p[0].maglev.backends, 3u);
  EXPECT_LE(p[0].maglev.max_deviation, 0.02);
}

TEST(ServiceManagerTest, NothingIsWrittenWhenNothingChanged) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  const auto ids = maps.backends;
  maps.ResetCounters();
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  EXPECT_EQ(maps.svc_updates + maps.backend_updates + maps.TableSets() + maps.svc_deletes +
                maps.backend_deletes + maps.table_clears,
            0);
  EXPECT_EQ(maps.backends.size(), ids.size());
  for (const auto& [id, v] : ids) EXPECT_TRUE(maps.backends.contains(id));
}

TEST(ServiceManagerTest, RemovedUdpBackendRewritesOnlyItsTableAndFlushesItsFlows) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  const BackendAddr gone = BA("10.0.2.2", 53, IPPROTO_UDP);
  const BackendAddr kept = BA("10.0.1.2", 53, IPPROTO_UDP);
  const uint32_t gone_id = IdOf(maps, gone);
  const uint32_t kept_id = IdOf(maps, kept);
  const uint32_t dns_table = SvcOf(maps, Dns().key)->table;
  const uint32_t web_table = SvcOf(maps, Web().key)->table;
  const auto web_ids_before = mgr.Programmed()[0].backend_ids;

  const Flow to_gone = AddFlow(maps, "10.0.9.1", 40000, Dns().key, gone, gone_id, dns_table);
  const Flow to_gone2 = AddFlow(maps, "10.0.9.2", 40001, Dns().key, gone, gone_id, dns_table);
  const Flow to_kept = AddFlow(maps, "10.0.9.3", 40002, Dns().key, kept, kept_id, dns_table);
  // Same backend id but another table (a stale entry of another frontend):
  // not this frontend's flow.
  const Flow other_table = AddFlow(maps, "10.0.9.4", 40003, Dns().key, gone, gone_id, web_table);
  const xvr_aff_key aff_gone = AddAffinity(maps, "10.0.9.1", dns_table, gone_id);
  const xvr_aff_key aff_kept = AddAffinity(maps, "10.0.9.3", dns_table, kept_id);
  maps.ResetCounters();

  ASSERT_TRUE(
      mgr.ReconcileFrontends(Sorted({Web(), Dns({Be("10.0.1.2", 53, IPPROTO_UDP, true)})})).ok());
  // Only the dns table was rewritten, at the same table id.
  EXPECT_EQ(maps.table_sets, (std::map<uint32_t, int>{{dns_table, 1}}));
  EXPECT_EQ(SvcOf(maps, Dns().key)->table, dns_table);
  EXPECT_EQ(SvcOf(maps, Dns().key)->count, 1);
  EXPECT_EQ(maps.tables.at(dns_table),
            std::vector<uint32_t>(maps.tables.at(dns_table).size(), kept_id));
  // M is kept while it is >= 100 x backends.
  EXPECT_EQ(SvcOf(maps, Dns().key)->maglev_size, *MaglevTableSize(2));
  // Ids of the others are stable; the removed backend is gone.
  EXPECT_EQ(IdOf(maps, kept), kept_id);
  EXPECT_EQ(mgr.Programmed()[0].backend_ids, web_ids_before);
  EXPECT_FALSE(maps.backends.contains(gone_id));
  // Flows of the removed backend in this table are flushed with their
  // reverse entries; the others stay.
  EXPECT_FALSE(maps.ct.contains(to_gone.ct_key));
  EXPECT_FALSE(maps.rev.contains(to_gone.rev_key));
  EXPECT_FALSE(maps.ct.contains(to_gone2.ct_key));
  EXPECT_FALSE(maps.rev.contains(to_gone2.rev_key));
  EXPECT_TRUE(maps.ct.contains(to_kept.ct_key));
  EXPECT_TRUE(maps.rev.contains(to_kept.rev_key));
  EXPECT_TRUE(maps.ct.contains(other_table.ct_key));
  EXPECT_FALSE(maps.aff.contains(aff_gone));
  EXPECT_TRUE(maps.aff.contains(aff_kept));
  EXPECT_EQ(mgr.stats().flushed_flows, 2u);
  EXPECT_EQ(mgr.stats().flushed_affinities, 1u);
}

TEST(ServiceManagerTest, RemovedTcpBackendKeepsItsFlowsButNotItsAffinity) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  const uint16_t aff = XVR_SVC_F_AFFINITY;
  Frontend web = Web();
  web.flags = aff;
  web.affinity_timeout_seconds = 60;
  ASSERT_TRUE(mgr.ReconcileFrontends({web}).ok());
  const BackendAddr gone = BA("10.0.3.1", 8080, IPPROTO_TCP);
  const uint32_t gone_id = IdOf(maps, gone);
  const uint32_t table = SvcOf(maps, web.key)->table;
  const Flow flow = AddFlow(maps, "10.0.9.1", 40000, web.key, gone, gone_id, table);
  const xvr_aff_key a = AddAffinity(maps, "10.0.9.1", table, gone_id);

  web.backends.pop_back();  // 10.0.3.1
  ASSERT_TRUE(mgr.ReconcileFrontends({web}).ok());
  EXPECT_EQ(SvcOf(maps, web.key)->count, 2);
  EXPECT_TRUE(maps.ct.contains(flow.ct_key));
  EXPECT_TRUE(maps.rev.contains(flow.rev_key));
  EXPECT_FALSE(maps.aff.contains(a));
  EXPECT_EQ(mgr.stats().flushed_flows, 0u);
  EXPECT_EQ(mgr.stats().flushed_affinities, 1u);
}

TEST(ServiceManagerTest, RemovedFrontendLosesEntryTableAndUnusedBackends) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  // "api" shares a backend with web.
  Frontend api = Fe("10.96.0.20", 443, IPPROTO_TCP,
                    {Be("10.0.1.1", 8080, IPPROTO_TCP, true), Be("10.0.4.1", 8443, IPPROTO_TCP)},
                    "default/api");
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), api, Dns()})).ok());
  const uint32_t dns_table = SvcOf(maps, Dns().key)->table;
  const uint32_t dns_id = IdOf(maps, BA("10.0.1.2", 53, IPPROTO_UDP));
  const Flow dns_flow = AddFlow(maps, "10.0.9.1", 40000, Dns().key, BA("10.0.1.2", 53, IPPROTO_UDP),
                                dns_id, dns_table);
  const xvr_aff_key a = AddAffinity(maps, "10.0.9.1", dns_table, dns_id);
  const uint32_t shared = IdOf(maps, BA("10.0.1.1", 8080, IPPROTO_TCP));
  const uint32_t api_table = SvcOf(maps, api.key)->table;

  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web()})).ok());
  EXPECT_FALSE(SvcOf(maps, api.key));
  EXPECT_FALSE(SvcOf(maps, Dns().key));
  EXPECT_FALSE(maps.tables.contains(api_table));
  EXPECT_FALSE(maps.tables.contains(dns_table));
  EXPECT_EQ(maps.tables.size(), 1u);
  EXPECT_EQ(maps.backends.size(), 3u);  // web's
  EXPECT_EQ(IdOf(maps, BA("10.0.1.1", 8080, IPPROTO_TCP)), shared);
  EXPECT_EQ(IdOf(maps, BA("10.0.4.1", 8443, IPPROTO_TCP)), 0u);
  EXPECT_FALSE(maps.ct.contains(dns_flow.ct_key));
  EXPECT_FALSE(maps.rev.contains(dns_flow.rev_key));
  EXPECT_FALSE(maps.aff.contains(a));
  EXPECT_EQ(mgr.stats().frontends, 1u);
  EXPECT_EQ(mgr.stats().tables, 1u);
}

TEST(ServiceManagerTest, IdsAreStableAndFreedIdsAreNotReusedAtOnce) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  const auto before = maps.backends;
  const uint32_t web_table = SvcOf(maps, Web().key)->table;
  const uint32_t gone_id = IdOf(maps, BA("10.0.3.1", 8080, IPPROTO_TCP));

  // 10.0.3.1 leaves, 10.0.5.1 arrives.
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web({Be("10.0.1.1", 8080, IPPROTO_TCP, true),
                                                  Be("10.0.2.1", 8080, IPPROTO_TCP),
                                                  Be("10.0.5.1", 8080, IPPROTO_TCP)}),
                                             Dns()}))
                  .ok());
  for (const auto& [id, v] : before) {
    if (id == gone_id) continue;
    EXPECT_TRUE(maps.backends.contains(id)) << id;
    EXPECT_EQ(maps.backends.at(id).addr, v.addr);
  }
  const uint32_t new_id = IdOf(maps, BA("10.0.5.1", 8080, IPPROTO_TCP));
  EXPECT_NE(new_id, 0u);
  EXPECT_NE(new_id, gone_id);
  EXPECT_FALSE(before.contains(new_id));
  EXPECT_EQ(SvcOf(maps, Web().key)->table, web_table);

  // A frontend that comes back gets a table id, not necessarily its old one,
  // and never one in use.
  ASSERT_TRUE(mgr.ReconcileFrontends({Web()}).ok());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  EXPECT_NE(SvcOf(maps, Dns().key)->table, SvcOf(maps, Web().key)->table);
}

TEST(ServiceManagerTest, TableIdsWrapAroundToFreedOnes) {
  FakeServiceMaps maps(/*table_capacity=*/2);
  ServiceManager mgr(nullptr, &maps, Opts());
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  Frontend third = Fe("10.96.0.30", 80, IPPROTO_TCP, {Be("10.0.6.1", 80, IPPROTO_TCP)}, "a/b");
  // No table left: the frontend is skipped with a warning, the others stay.
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns(), third})).ok());
  EXPECT_FALSE(SvcOf(maps, third.key));
  ASSERT_EQ(mgr.warnings().size(), 1u);
  EXPECT_NE(mgr.warnings()[0].find("in use"), std::string::npos);
  // Once dns is gone its table id is free again (ids are allocated before
  // vanished frontends release theirs, so from the next reconcile on).
  const uint32_t dns_table = SvcOf(maps, Dns().key)->table;
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), third})).ok());
  EXPECT_FALSE(SvcOf(maps, Dns().key));
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), third})).ok());
  ASSERT_TRUE(SvcOf(maps, third.key));
  EXPECT_EQ(SvcOf(maps, third.key)->table, dns_table);
  EXPECT_TRUE(mgr.warnings().empty());
}

TEST(ServiceManagerTest, EmptyFrontendHasCountZeroAndNoTable) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  const uint16_t flags = XVR_SVC_F_LOCAL | XVR_SVC_F_EMPTY_DROP;
  Frontend f = Fe("10.96.0.40", 80, IPPROTO_UDP, {}, "default/empty", flags);
  ASSERT_TRUE(mgr.ReconcileFrontends({f}).ok());
  std::optional<xvr_svc> s = SvcOf(maps, f.key);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->count, 0);
  EXPECT_EQ(s->maglev_size, 0u);
  EXPECT_EQ(s->flags, flags);
  EXPECT_TRUE(maps.tables.empty());
  EXPECT_TRUE(maps.backends.empty());

  // Endpoints appear, then all go away again.
  f.backends = {Be("10.0.1.7", 80, IPPROTO_UDP, true)};
  ASSERT_TRUE(mgr.ReconcileFrontends({f}).ok());
  s = SvcOf(maps, f.key);
  EXPECT_EQ(s->count, 1);
  EXPECT_TRUE(maps.tables.contains(s->table));
  const uint32_t id = IdOf(maps, f.backends[0].addr);
  const Flow flow = AddFlow(maps, "10.0.9.1", 40000, f.key, f.backends[0].addr, id, s->table);

  f.backends.clear();
  ASSERT_TRUE(mgr.ReconcileFrontends({f}).ok());
  s = SvcOf(maps, f.key);
  EXPECT_EQ(s->count, 0);
  EXPECT_EQ(s->maglev_size, 0u);
  EXPECT_TRUE(maps.tables.empty());
  EXPECT_TRUE(maps.backends.empty());
  EXPECT_FALSE(maps.ct.contains(flow.ct_key));
  EXPECT_EQ(mgr.Programmed()[0].maglev_size, 0u);
}

TEST(ServiceManagerTest, RestartAdoptsIdsAndRemovesStaleEntries) {
  FakeServiceMaps maps;
  Frontend api =
      Fe("10.96.0.20", 443, IPPROTO_TCP, {Be("10.0.4.1", 8443, IPPROTO_TCP)}, "default/api");
  std::map<uint32_t, xvr_backend> ids_before;
  uint32_t web_table = 0, api_table = 0;
  {
    ServiceManager first(nullptr, &maps, Opts());
    ASSERT_TRUE(first.ReconcileFrontends(Sorted({Web(), Dns(), api})).ok());
    ids_before = maps.backends;
    web_table = SvcOf(maps, Web().key)->table;
    api_table = SvcOf(maps, api.key)->table;
  }
  // Leftovers of some earlier state: a backend and a table nobody uses.
  xvr_backend stale{};
  stale.addr = Ip("10.0.8.8").be();
  stale.port = htons(80);
  stale.proto = IPPROTO_TCP;
  maps.backends[4242] = stale;
  maps.tables[777] = {4242};
  maps.ResetCounters();

  // The agent restarts; api is gone meanwhile.
  ServiceManager second(nullptr, &maps, Opts());
  ASSERT_TRUE(second.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  // Nothing of web and dns was rewritten: same ids, same tables.
  EXPECT_EQ(maps.TableSets(), 0);
  EXPECT_EQ(maps.svc_updates, 0);
  EXPECT_EQ(maps.backend_updates, 0);
  EXPECT_EQ(SvcOf(maps, Web().key)->table, web_table);
  for (const Frontend& f : {Web(), Dns()}) {
    for (const Backend& b : f.backends) {
      const uint32_t id = IdOf(maps, b.addr);
      ASSERT_TRUE(ids_before.contains(id));
      EXPECT_EQ(ids_before.at(id).addr, b.addr.addr.be());
    }
  }
  // Stale things are gone.
  EXPECT_FALSE(SvcOf(maps, api.key));
  EXPECT_FALSE(maps.tables.contains(api_table));
  EXPECT_FALSE(maps.tables.contains(777));
  EXPECT_FALSE(maps.backends.contains(4242));
  EXPECT_EQ(IdOf(maps, BA("10.0.4.1", 8443, IPPROTO_TCP)), 0u);
  EXPECT_EQ(maps.backends.size(), 5u);
  EXPECT_EQ(second.stats().adopted_frontends, 3u);
  EXPECT_EQ(second.stats().adopted_backends, 7u);  // 6 + the stale one
  // The adopted tables are what the manager reports.
  EXPECT_EQ(second.Programmed()[0].maglev.backends, 3u);

  // A new backend after the restart gets an id not used before it.
  ASSERT_TRUE(second
                  .ReconcileFrontends(Sorted({Web({Be("10.0.1.1", 8080, IPPROTO_TCP, true),
                                                   Be("10.0.9.9", 8080, IPPROTO_TCP)}),
                                              Dns()}))
                  .ok());
  const uint32_t new_id = IdOf(maps, BA("10.0.9.9", 8080, IPPROTO_TCP));
  EXPECT_NE(new_id, 0u);
  EXPECT_FALSE(ids_before.contains(new_id));
  EXPECT_NE(new_id, 4242u);
}

TEST(ServiceManagerTest, RestartRewritesATableThatDiffers) {
  FakeServiceMaps maps;
  {
    ServiceManager first(nullptr, &maps, Opts());
    ASSERT_TRUE(first.ReconcileFrontends({Web()}).ok());
  }
  const uint32_t table = SvcOf(maps, Web().key)->table;
  const std::vector<uint32_t> good = maps.tables.at(table);
  std::vector<uint32_t> bad = good;
  std::reverse(bad.begin(), bad.end());
  maps.tables[table] = bad;
  maps.ResetCounters();

  ServiceManager second(nullptr, &maps, Opts());
  ASSERT_TRUE(second.ReconcileFrontends({Web()}).ok());
  EXPECT_EQ(maps.TableSets(), 1);
  EXPECT_EQ(maps.tables.at(table), good);
}

TEST(ServiceManagerTest, FailedWriteIsReportedAndRepairedByTheNextReconcile) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  maps.fail_op = "SetTable";
  absl::Status s = mgr.ReconcileFrontends(Sorted({Web(), Dns()}));
  EXPECT_FALSE(s.ok());
  // Backends went first; no frontend points at a missing table.
  EXPECT_EQ(maps.backends.size(), 5u);
  EXPECT_TRUE(maps.svc.empty());
  EXPECT_EQ(mgr.stats().errors, 1u);
  EXPECT_NE(mgr.stats().last_error.find("SetTable"), std::string::npos);

  maps.fail_op = "";
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Web(), Dns()})).ok());
  EXPECT_EQ(maps.svc.size(), 2u);
  EXPECT_EQ(maps.tables.size(), 2u);
  EXPECT_EQ(mgr.stats().last_error, "");

  // A failed flush is retried by the next reconcile.
  const uint32_t dns_table = SvcOf(maps, Dns().key)->table;
  const BackendAddr gone = BA("10.0.2.2", 53, IPPROTO_UDP);
  const Flow flow = AddFlow(maps, "10.0.9.1", 40000, Dns().key, gone, IdOf(maps, gone), dns_table);
  maps.fail_op = "ScanCt";
  const std::vector<Frontend> fewer = Sorted({Web(), Dns({Be("10.0.1.2", 53, IPPROTO_UDP, true)})});
  EXPECT_FALSE(mgr.ReconcileFrontends(fewer).ok());
  EXPECT_TRUE(maps.ct.contains(flow.ct_key));
  EXPECT_EQ(IdOf(maps, gone), 0u);  // unused backends are still removed
  maps.fail_op = "";
  ASSERT_TRUE(mgr.ReconcileFrontends(fewer).ok());
  EXPECT_FALSE(maps.ct.contains(flow.ct_key));
  EXPECT_FALSE(maps.rev.contains(flow.rev_key));
}

TEST(ServiceManagerTest, TooManyBackendsAreCappedWithAWarning) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  std::vector<Backend> many;
  for (int i = 0; i < 1400; ++i) {
    Backend b;
    b.addr = {Ipv4Addr(0x0a000000u + 256 + i), 80, IPPROTO_TCP};
    many.push_back(b);
  }
  Frontend f = Fe("10.96.0.99", 80, IPPROTO_TCP, many, "default/big");
  ASSERT_TRUE(mgr.ReconcileFrontends({f}).ok());
  EXPECT_EQ(SvcOf(maps, f.key)->count, XVR_MAGLEV_MAX / 100);
  EXPECT_EQ(mgr.stats().warnings, 1u);
}

// ---- Driven by the ClusterState --------------------------------------------

k8s::Service WebService(const std::string& name, const std::string& ip) {
  k8s::Service s;
  s.meta.namespace_name = "default";
  s.meta.name = name;
  s.cluster_ips = {ip};
  k8s::ServicePort p;
  p.name = "http";
  p.protocol = k8s::Protocol::kTcp;
  p.port = 80;
  p.target_port = k8s::IntOrString::Int(8080);
  s.ports = {p};
  return s;
}

k8s::EndpointSlice WebSlice(const std::string& service, std::vector<std::string> addrs) {
  k8s::EndpointSlice sl;
  sl.meta.namespace_name = "default";
  sl.meta.name = service + "-abc";
  sl.meta.labels[k8s::kServiceNameLabel] = service;
  sl.ports = {{"http", k8s::Protocol::kTcp, 8080}};
  for (std::string& a : addrs) {
    k8s::Endpoint e;
    e.addresses = {std::move(a)};
    e.node_name = "n2";
    sl.endpoints.push_back(std::move(e));
  }
  return sl;
}

TEST(ServiceManagerTest, ReconcileWaitsForTheSourcesToList) {
  FakeServiceMaps maps;
  k8s::ClusterState state;
  // A frontend left by an earlier agent must survive until the lists are in.
  xvr_svc_key key{};
  key.addr = Ip("10.96.0.1").be();
  key.port = htons(443);
  key.proto = IPPROTO_TCP;
  maps.svc[key] = xvr_svc{};
  ServiceManagerOptions o = Opts();
  o.wait_for_sync = true;
  ServiceManager mgr(&state, &maps, o);
  EXPECT_TRUE(absl::IsUnavailable(mgr.Reconcile()));
  EXPECT_EQ(maps.svc.size(), 1u);
  EXPECT_FALSE(mgr.stats().synced);

  ASSERT_TRUE(state.ReplaceAll(k8s::Kind::kService, {WebService("web", "10.96.0.10")}).ok());
  ASSERT_TRUE(
      state.ReplaceAll(k8s::Kind::kEndpointSlice, {WebSlice("web", {"10.0.2.1", "10.0.3.1"})})
          .ok());
  ASSERT_TRUE(mgr.Reconcile().ok());
  EXPECT_TRUE(mgr.stats().synced);
  ASSERT_EQ(maps.svc.size(), 1u);
  const FrontendKey web{Ip("10.96.0.10"), 80, IPPROTO_TCP, XVR_SVC_SCOPE_INTERNAL};
  ASSERT_TRUE(SvcOf(maps, web));
  EXPECT_EQ(SvcOf(maps, web)->count, 2);
  EXPECT_NE(IdOf(maps, BA("10.0.2.1", 8080, IPPROTO_TCP)), 0u);
  EXPECT_EQ(mgr.stats().programmed_generation, state.generation());
}

TEST(ServiceManagerTest, WorkerCoalescesABurstOfChanges) {
  FakeServiceMaps maps;
  k8s::ClusterState state;
  ServiceManagerOptions o = Opts();
  o.debounce = absl::Milliseconds(200);  // generous: the burst below takes far less
  ServiceManager mgr(&state, &maps, o);
  ASSERT_TRUE(mgr.Start().ok());
  // Wait for the first reconcile (of the empty state).
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (mgr.stats().reconciles < 1 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(mgr.stats().reconciles, 1u);

  constexpr int kServices = 30;
  for (int i = 0; i < kServices; ++i) {
    const std::string name = "web" + std::to_string(i);
    state.Apply(WebService(name, "10.96.1." + std::to_string(i + 1)));
    state.Apply(WebSlice(name, {"10.0.2." + std::to_string(i + 1)}));
  }
  const uint64_t burst = state.generation();
  // Changes of other kinds don't wake the manager.
  k8s::Namespace ns;
  ns.meta.name = "other";
  state.Apply(ns);
  ASSERT_TRUE(mgr.WaitForGeneration(burst, absl::Seconds(10)));
  const ServiceManagerStats st = mgr.stats();
  EXPECT_LE(st.reconciles, 3u);  // the first + at most 2 for the burst
  EXPECT_EQ(maps.svc.size(), static_cast<size_t>(kServices));
  EXPECT_GT(st.last_change_to_programmed, absl::ZeroDuration());
  EXPECT_GE(st.max_change_to_programmed, st.last_change_to_programmed);

  // One more change is picked up too.
  state.Delete(k8s::Kind::kService, "default", "web0");
  ASSERT_TRUE(mgr.WaitForGeneration(state.generation(), absl::Seconds(10)));
  EXPECT_EQ(maps.svc.size(), static_cast<size_t>(kServices - 1));
  mgr.Stop();
  mgr.Stop();  // idempotent
}

// ---- JSON --------------------------------------------------------------------

TEST(ServicesJsonTest, DescribesFrontendsBackendsAndMaglev) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  Frontend np = Fe("0.0.0.0", 30053, IPPROTO_UDP, Dns().backends, "kube-system/dns",
                   XVR_SVC_F_LOCAL | XVR_SVC_F_KEEP_SRC | XVR_SVC_F_EMPTY_DROP);
  np.key.scope = XVR_SVC_SCOPE_EXTERNAL;
  np.type = Frontend::Type::kNodePort;
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({Dns(), np}), {"a warning"}).ok());

  nlohmann::json j = ServicesToJson(mgr);
  ASSERT_EQ(j["services"].size(), 2u);
  const nlohmann::json& n = j["services"][0];  // 0.0.0.0 sorts first
  EXPECT_EQ(n["service"], "kube-system/dns");
  EXPECT_EQ(n["frontend"], "*:30053/UDP");
  EXPECT_EQ(n["type"], "NodePort");
  EXPECT_EQ(n["scope"], "external");
  EXPECT_EQ(n["flags"], nlohmann::json({"local", "keepSrc", "emptyDrop"}));
  const nlohmann::json& d = j["services"][1];
  EXPECT_EQ(d["frontend"], "10.96.0.53:53/UDP");
  EXPECT_EQ(d["type"], "ClusterIP");
  EXPECT_EQ(d["scope"], "internal");
  EXPECT_EQ(d["flags"], nlohmann::json({"affinity"}));
  EXPECT_EQ(d["affinityTimeoutSeconds"], 10800);
  ASSERT_EQ(d["backends"].size(), 2u);
  EXPECT_EQ(d["backends"][0]["addr"], "10.0.1.2:53/UDP");
  EXPECT_EQ(d["backends"][0]["id"], IdOf(maps, BA("10.0.1.2", 53, IPPROTO_UDP)));
  EXPECT_EQ(d["backends"][0]["local"], true);
  EXPECT_EQ(d["backends"][0]["terminating"], false);
  EXPECT_EQ(d["backends"][0]["node"], "n1");
  EXPECT_EQ(d["backends"][0]["pod"], "default/pod-10.0.1.2");
  EXPECT_EQ(d["maglev"]["size"], *MaglevTableSize(2));
  EXPECT_EQ(d["maglev"]["backends"], 2);
  EXPECT_EQ(d["maglev"]["minSlots"].get<int>() + d["maglev"]["maxSlots"].get<int>(),
            static_cast<int>(*MaglevTableSize(2)));
  EXPECT_FALSE(d["maglev"].contains("verified"));
  EXPECT_EQ(j["warnings"], nlohmann::json({"a warning"}));
  EXPECT_EQ(j["stats"]["frontends"], 2);
  EXPECT_EQ(j["stats"]["reconciles"], 1);
  EXPECT_TRUE(j["stats"].contains("lastChangeToProgrammedMs"));

  // verify: the kernel's copy is compared with what was written.
  nlohmann::json v = ServicesToJson(mgr, /*verify=*/true);
  EXPECT_EQ(v["services"][1]["maglev"]["verified"], true);
  EXPECT_EQ(v["services"][1]["maglev"]["mismatches"], 0);
  const uint32_t table = SvcOf(maps, Dns().key)->table;
  maps.tables[table][0] ^= 1;
  maps.tables[table][1] ^= 1;
  v = ServicesToJson(mgr, /*verify=*/true);
  EXPECT_EQ(v["services"][1]["maglev"]["verified"], false);
  EXPECT_EQ(v["services"][1]["maglev"]["mismatches"], 2);
  maps.tables.erase(table);
  v = ServicesToJson(mgr, /*verify=*/true);
  EXPECT_EQ(v["services"][1]["maglev"]["verified"], false);
  EXPECT_TRUE(v["services"][1]["maglev"].contains("error"));
}

TEST(ServicesJsonTest, XvrctlRendersTheView) {
  FakeServiceMaps maps;
  ServiceManager mgr(nullptr, &maps, Opts());
  Frontend web = Web({Be("10.0.1.1", 8080, IPPROTO_TCP, true, /*terminating=*/true),
                      Be("10.0.2.1", 8080, IPPROTO_TCP, false, /*terminating=*/true)});
  Frontend empty = Fe("10.96.0.40", 80, IPPROTO_TCP, {}, "default/empty");
  ASSERT_TRUE(mgr.ReconcileFrontends(Sorted({web, Dns(), empty}), {"port skipped"}).ok());

  const std::string brief = RenderServices(ServicesToJson(mgr), false);
  EXPECT_NE(brief.find("SERVICE"), std::string::npos) << brief;
  EXPECT_NE(brief.find("MAGLEV"), std::string::npos) << brief;
  EXPECT_NE(brief.find("default/web"), std::string::npos) << brief;
  EXPECT_NE(brief.find("2 (2 terminating)"), std::string::npos) << brief;
  EXPECT_NE(brief.find("affinity=10800s"), std::string::npos) << brief;
  EXPECT_NE(brief.find("251 dev "), std::string::npos) << brief;
  EXPECT_NE(brief.find("port skipped"), std::string::npos) << brief;
  EXPECT_EQ(brief.find("10.0.2.1:8080/TCP"), std::string::npos) << brief;  // backends: -v only

  const std::string verbose = RenderServices(ServicesToJson(mgr, /*verify=*/true), true);
  EXPECT_NE(verbose.find("10.0.2.1:8080/TCP"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("local,terminating"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("verified"), std::string::npos) << verbose;

  // Whatever the agent answers, rendering does not throw.
  EXPECT_NO_THROW(RenderServices(nlohmann::json::object(), true));
  EXPECT_NO_THROW(RenderServices(nlohmann::json::parse(R"({"services":[{"backends":3}]})"), true));
}

}  // namespace
}  // namespace xvr::services

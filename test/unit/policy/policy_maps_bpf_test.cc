// BpfPolicyMaps on real kernel maps (created here with the layouts of
// bpf/lib/maps.h, pinned in a private bpffs directory): what the manager
// writes, the kernel's LPM tries answer exactly as Evaluate() does, key by
// key (port prefixes in network byte order, prefix lengths, CIDR longest
// match), and a second manager adopts the maps without writing. Needs root
// (label bpf); skipped without CAP_BPF.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/dataplane/unique_fd.h"
#include "agent/policy/policy_manager.h"
#include "agent/policy/policy_maps.h"
#include "test/unit/policy/policy_fixture.h"

namespace xvr::policy::test {
namespace {

class PolicyMapsBpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/sys/fs/bpf/xvr_policy_test_" + std::to_string(getpid());
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) GTEST_SKIP() << "no bpffs at /sys/fs/bpf: " << ec.message();
    LIBBPF_OPTS(bpf_map_create_opts, lpm, .map_flags = BPF_F_NO_PREALLOC);
    const int ipcache = bpf_map_create(BPF_MAP_TYPE_HASH, XVR_MAP_IPCACHE, 4, sizeof(xvr_ident),
                                       XVR_MAX_IPCACHE, nullptr);
    if (ipcache < 0) {
      std::filesystem::remove_all(dir_, ec);
      GTEST_SKIP() << "bpf_map_create: " << strerror(-ipcache) << " (needs root)";
    }
    ipcache_ = UniqueFd(ipcache);
    cidr_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, XVR_MAP_CIDR_ID, sizeof(xvr_route_key),
                                    4, XVR_MAX_CIDR_ID, &lpm));
    policy_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, XVR_MAP_POLICY, sizeof(xvr_policy_key),
                                      sizeof(xvr_policy_val), XVR_MAX_POLICY, &lpm));
    ASSERT_GE(cidr_.get(), 0);
    ASSERT_GE(policy_.get(), 0);
    ASSERT_EQ(bpf_obj_pin(ipcache_.get(), (dir_ + "/" XVR_MAP_IPCACHE).c_str()), 0);
    ASSERT_EQ(bpf_obj_pin(cidr_.get(), (dir_ + "/" XVR_MAP_CIDR_ID).c_str()), 0);
    ASSERT_EQ(bpf_obj_pin(policy_.get(), (dir_ + "/" XVR_MAP_POLICY).c_str()), 0);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // bpf/lib/policy.h, in user space on the same maps.
  std::optional<xvr_ident> KIdent(Ipv4Addr a) {
    const __be32 k = a.be();
    xvr_ident v{};
    if (bpf_map_lookup_elem(ipcache_.get(), &k, &v) != 0) return std::nullopt;
    return v;
  }
  uint32_t KCidr(Ipv4Addr a) {
    xvr_route_key k{32, a.be()};
    uint32_t v = 0;
    return bpf_map_lookup_elem(cidr_.get(), &k, &v) == 0 ? v : 0;
  }
  bool KAllows(uint32_t subject, uint8_t dir, uint32_t peer_id, Ipv4Addr peer, uint8_t proto,
               uint16_t port) {
    xvr_policy_key k{};
    k.prefixlen = XVR_POL_PREFIX_FULL;
    k.subject = subject;
    k.dir = dir;
    k.proto = proto;
    k.dport = htons(port);
    xvr_policy_val v{};
    if (peer_id) {
      k.peer = peer_id;
      if (bpf_map_lookup_elem(policy_.get(), &k, &v) == 0) return true;
    }
    if (const uint32_t c = KCidr(peer)) {
      k.peer = c;
      if (bpf_map_lookup_elem(policy_.get(), &k, &v) == 0) return true;
    }
    k.peer = XVR_ID_NONE;
    return bpf_map_lookup_elem(policy_.get(), &k, &v) == 0;
  }
  bool KVerdict(Ipv4Addr src, Ipv4Addr dst, uint8_t proto, uint16_t port) {
    const auto s = KIdent(src), d = KIdent(dst);
    const uint32_t sid = s ? s->identity : 0, did = d ? d->identity : 0;
    if (s && (s->flags & XVR_ID_F_LOCAL) && (s->flags & XVR_ID_F_ISO_EGRESS) &&
        did != XVR_ID_HOST && !KAllows(sid, XVR_POL_EGRESS, did, dst, proto, port)) {
      return false;
    }
    if (d && (d->flags & XVR_ID_F_LOCAL) && (d->flags & XVR_ID_F_ISO_INGRESS) &&
        sid != XVR_ID_HOST && !KAllows(did, XVR_POL_INGRESS, sid, src, proto, port)) {
      return false;
    }
    return true;
  }

  std::string dir_;
  UniqueFd ipcache_, cidr_, policy_;
};

std::string Np(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  namespace: " + ns +
         "\n  name: " + name + "\nspec:\n" + spec + "\n---\n";
}

TEST_F(PolicyMapsBpfTest, KernelAgreesWithEvaluateAndRestartWritesNothing) {
  k8s::ClusterState cluster;
  ApplyYaml(cluster, BaseClusterYaml() + Np("x", "ranges", R"(  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]
    ports: [{port: 79, endPort: 81}, {port: 1000, endPort: 2047, protocol: UDP}, {port: http}]
  - from: [{ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.30/31]}}]
    ports: [{protocol: SCTP}])") +
                         Np("x", "out", R"(  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.244.0.0/16]}}]
  - to: [{podSelector: {}}]
    ports: [{port: http}, {port: 32768, endPort: 65535}])") +
                         Np("y", "deny", "  podSelector: {matchLabels: {pod: c}}"));
  absl::StatusOr<std::unique_ptr<BpfPolicyMaps>> maps = BpfPolicyMaps::Open(dir_);
  ASSERT_TRUE(maps.ok()) << maps.status();
  std::atomic<int> bumps{0};
  PolicyManagerOptions opts;
  opts.node = LocalNode();
  opts.wait_for_sync = false;
  {
    PolicyManager m(&cluster, maps->get(), opts, nullptr, [&] { return ++bumps; });
    ASSERT_TRUE(m.Reconcile().ok()) << m.stats().last_error;
    EXPECT_EQ(bumps, 1);
    const auto d = m.desired();
    ASSERT_GT(d->entries.size(), 10u);

    // What the kernel lists is what was compiled.
    absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> listed = (*maps)->ListPolicy();
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(listed->size(), d->entries.size());
    for (const auto& [k, v] : d->entries) {
      auto it = listed->find(k);
      ASSERT_NE(it, listed->end()) << k.PortString();
      EXPECT_EQ(it->second.rule, v.rule);
    }
    absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> cidrs = (*maps)->ListCidrs();
    ASSERT_TRUE(cidrs.ok());
    EXPECT_EQ(*cidrs, d->cidr_ids);

    std::vector<std::string> who;
    for (const auto& [name, ip] : PodIps()) who.push_back(name);
    for (const char* other : {"8.8.8.8", "10.244.1.1", "192.168.0.2", "10.244.3.7"}) {
      who.push_back(other);
    }
    size_t probes = 0, denied = 0;
    for (const std::string& s : who) {
      for (const std::string& t : who) {
        if (s == t) continue;
        for (uint8_t proto : {kProtoTcp, kProtoUdp, kProtoSctp, kProtoIcmp}) {
          for (uint16_t port : {0, 78, 79, 80, 81, 82, 999, 1000, 1500, 2047, 2048, 8080, 9090,
                                32767, 32768, 65535}) {
            const Verdict v = Evaluate(*d, Addr(s), Addr(t), proto, port);
            ASSERT_EQ(KVerdict(Addr(s), Addr(t), proto, port), v.allowed)
                << s << " -> " << t << " " << ProtocolString(proto) << "/" << port << ": "
                << v.explanation;
            ++probes;
            denied += !v.allowed;
          }
        }
      }
    }
    EXPECT_GT(denied, 0u);
    EXPECT_LT(denied, probes);
  }
  // A restarted agent: adopts the maps, writes nothing, leaves the generation.
  PolicyManager again(&cluster, maps->get(), opts, nullptr, [&] { return ++bumps; });
  ASSERT_TRUE(again.Reconcile().ok());
  EXPECT_EQ(again.stats().writes + again.stats().deletes, 0u);
  EXPECT_GT(again.stats().adopted_policy, 0u);
  EXPECT_EQ(bumps, 1);
  // And follows a change: the policy is gone, its entries and prefixes too.
  cluster.Delete(k8s::Kind::kNetworkPolicy, "x", "out");
  cluster.Delete(k8s::Kind::kNetworkPolicy, "x", "ranges");
  cluster.Delete(k8s::Kind::kNetworkPolicy, "y", "deny");
  ASSERT_TRUE(again.Reconcile().ok());
  EXPECT_EQ(bumps, 2);
  EXPECT_TRUE((*maps)->ListPolicy()->empty());
  EXPECT_TRUE((*maps)->ListCidrs()->empty());
  EXPECT_EQ(KIdent(Addr("x/b"))->flags, XVR_ID_F_LOCAL);
}

}  // namespace
}  // namespace xvr::policy::test

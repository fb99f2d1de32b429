// The xvr-cni binary run the way a runtime runs it (environment + config on
// stdin, result on stdout) against real network namespaces and a fake agent.
// Each test makes two netns: a "node" the plugin runs in (so nothing touches
// the machine's own links, and GC's sweep of xvr* veths cannot hit anyone
// else's), and a "pod". State is checked with iproute2 and ethtool, not with
// the plugin's own code. Needs root; label e2e.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cni-plugin/veth_name.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/unit/cni/fake_agent.h"
#include "test/unit/cni/test_util.h"

#ifndef XVR_CNI_BIN
#error "XVR_CNI_BIN must name the built xvr-cni binary"
#endif

namespace xvr::cni {
namespace {

using nlohmann::json;
using testing::FakeAgent;
using testing::ProcResult;
using testing::Sh;

std::string UniqueSuffix() {
  static std::atomic<int> n{0};
  return absl::StrCat(::getpid(), "-", n++);
}

// A named netns ("xvrcni-<pid>-<n>"), deleted when the test ends however it ends.
class ScopedNetns {
 public:
  ScopedNetns() : name_("xvrcni-" + UniqueSuffix()) {
    const ProcResult r = Sh("ip netns add " + name_);
    if (r.exit_code != 0) throw std::runtime_error("ip netns add " + name_ + ": " + r.err);
  }
  ~ScopedNetns() { Remove(); }
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  void Remove() {
    if (!removed_) Sh("ip netns del " + name_);
    removed_ = true;
  }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string name_;
  bool removed_ = false;
};

struct CniOut {
  int rc = -1;
  std::string out;
  std::string err;
  json j;  // stdout parsed; null when empty
};

class CniE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    node_ = std::make_unique<ScopedNetns>();
    pod_ = std::make_unique<ScopedNetns>();
    agent_ = std::make_unique<FakeAgent>(dir_.Sub("agent.sock"));
    agent_->Start(node_->path());
    cid_ = "ctr-" + UniqueSuffix();
  }

  void TearDown() override {
    if (agent_) agent_->Stop();
  }

  json Conf(const std::string& version, const json& extra = json::object()) const {
    json c = {{"cniVersion", version},
              {"name", "xvr-e2e"},
              {"type", "xvr-cni"},
              {"agentSocket", dir_.Sub("agent.sock")},
              {"logLevel", "debug"}};
    c.update(extra);
    return c;
  }

  // The CNI_* environment of a runtime for attachment (cid, ifname) in
  // `netns` ("" for none).
  static std::vector<std::string> EnvFor(const std::string& cmd, const std::string& cid,
                                         const std::string& netns, const std::string& ifname) {
    std::vector<std::string> env = {
        "CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + cid, "CNI_IFNAME=" + ifname,
        "CNI_PATH=/opt/cni/bin",
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=e2e;K8S_POD_NAME=pod-a;"
        "K8S_POD_INFRA_CONTAINER_ID=" + cid + ";K8S_POD_UID=uid-1"};
    if (!netns.empty()) env.push_back("CNI_NETNS=" + netns);
    return env;
  }
  std::vector<std::string> Env(const std::string& cmd, const std::string& ifname = "eth0",
                               bool with_netns = true) const {
    return EnvFor(cmd, cid_, with_netns ? pod_->path() : "", ifname);
  }

  // The plugin binary in the node netns, as a runtime would exec it.
  CniOut Cni(const std::vector<std::string>& env, const json& conf) const {
    const ProcResult r =
        testing::RunProcess({"ip", "netns", "exec", node_->name(), XVR_CNI_BIN}, env, conf.dump());
    CniOut o{r.exit_code, r.out, r.err, nullptr};
    if (!r.out.empty()) o.j = json::parse(r.out, nullptr, false);
    return o;
  }

  CniOut Add(const std::string& version = "1.1.0", const std::string& ifname = "eth0") const {
    return Cni(Env("ADD", ifname), Conf(version));
  }
  CniOut Del(const std::string& ifname = "eth0") const {
    return Cni(Env("DEL", ifname), Conf("1.1.0"));
  }
  CniOut Check(const json& prev, const std::string& version = "1.1.0") const {
    return Cni(Env("CHECK"), Conf(version, {{"prevResult", prev}}));
  }

  // `ip -j [-d] -n <ns> <args>` parsed; null on failure.
  static json Ip(const ScopedNetns& ns, const std::string& args) {
    const ProcResult r = Sh("ip -j -d -n " + ns.name() + " " + args);
    if (r.exit_code != 0) return nullptr;
    return json::parse(r.out, nullptr, false);
  }
  static json Link(const ScopedNetns& ns, const std::string& name) {
    json j = Ip(ns, "link show dev " + name);
    return j.is_array() && j.size() == 1 ? j[0] : json();
  }
  static std::set<std::string> LinkNames(const ScopedNetns& ns) {
    std::set<std::string> out;
    for (const json& l : Ip(ns, "link show")) out.insert(l.value("ifname", ""));
    return out;
  }
  static bool IsUp(const json& link) {
    const json flags = link.value("flags", json::array());
    return std::find(flags.begin(), flags.end(), "UP") != flags.end();
  }
  static std::string InNetns(const ScopedNetns& ns, const std::string& cmd) {
    return Sh("ip netns exec " + ns.name() + " " + cmd).out;
  }

  static void ExpectError(const CniOut& o, int code) {
    EXPECT_EQ(o.rc, 1) << o.out << o.err;
    ASSERT_TRUE(o.j.is_object()) << "stdout: " << o.out << "\nstderr: " << o.err;
    EXPECT_EQ(o.j.value("code", 0), code) << o.out;
    EXPECT_TRUE(o.j.contains("msg") && o.j.contains("details") && o.j.contains("cniVersion"));
  }

  std::string HostName(const std::string& ifname = "eth0") const {
    return HostVethName(cid_, ifname);
  }

  testing::TempDir dir_;
  std::unique_ptr<ScopedNetns> node_;
  std::unique_ptr<ScopedNetns> pod_;
  std::unique_ptr<FakeAgent> agent_;
  std::string cid_;
};

class CniVersionE2eTest : public CniE2eTest,
                          public ::testing::WithParamInterface<std::string> {};

TEST_P(CniVersionE2eTest, AddCheckDelDel) {
  const std::string version = GetParam();
  const bool v1 = version[0] == '1';
  const bool can_check = version != "0.3.0" && version != "0.3.1";

  const CniOut add = Add(version);
  ASSERT_EQ(add.rc, 0) << add.out << add.err;
  const json& r = add.j;
  ASSERT_TRUE(r.is_object()) << add.out;

  // The result, in the requested version.
  EXPECT_EQ(r["cniVersion"], version);
  ASSERT_EQ(r["interfaces"].size(), 2u) << r.dump();
  const json& host_if = r["interfaces"][0];
  const json& pod_if = r["interfaces"][1];
  EXPECT_EQ(host_if["name"], HostName());
  EXPECT_FALSE(host_if.contains("sandbox"));
  EXPECT_EQ(pod_if["name"], "eth0");
  EXPECT_EQ(pod_if["sandbox"], pod_->path());
  EXPECT_EQ(pod_if.contains("mtu"), version == "1.1.0") << r.dump();
  if (version == "1.1.0") {
    EXPECT_EQ(pod_if["mtu"], FakeAgent::kMtu);
  }
  ASSERT_EQ(r["ips"].size(), 1u);
  const json& ip = r["ips"][0];
  EXPECT_EQ(ip["address"], "10.244.7.2/24");
  EXPECT_EQ(ip["gateway"], FakeAgent::kGateway);
  EXPECT_EQ(ip["interface"], 1);
  EXPECT_EQ(ip.contains("version"), !v1);
  if (!v1) {
    EXPECT_EQ(ip["version"], "4");
  }
  EXPECT_EQ(r["routes"], json::parse(R"([{"dst": "0.0.0.0/0", "gw": "10.244.7.1"}])"));

  // Node side: the host veth, up, with the agent's MTU; no temporary peer left.
  const json host = Link(*node_, HostName());
  ASSERT_TRUE(host.is_object()) << "host veth missing";
  EXPECT_TRUE(IsUp(host));
  EXPECT_EQ(host.value("mtu", 0), static_cast<int>(FakeAgent::kMtu));
  EXPECT_EQ(host["linkinfo"]["info_kind"], "veth");
  EXPECT_EQ(host.value("address", ""), host_if.value("mac", "?"));
  EXPECT_EQ(LinkNames(*node_), (std::set<std::string>{"lo", HostName()}));

  // Pod side: eth0 with the address, MTU, routes, GRO on, no IPv6; lo up.
  const json eth0 = Link(*pod_, "eth0");
  ASSERT_TRUE(eth0.is_object()) << "eth0 missing in the pod";
  EXPECT_TRUE(IsUp(eth0));
  EXPECT_EQ(eth0.value("mtu", 0), static_cast<int>(FakeAgent::kMtu));
  EXPECT_EQ(eth0["linkinfo"]["info_kind"], "veth");
  EXPECT_EQ(eth0.value("address", ""), pod_if.value("mac", "?"));
  EXPECT_TRUE(IsUp(Link(*pod_, "lo")));
  const json addrs = Ip(*pod_, "addr show dev eth0");
  ASSERT_EQ(addrs.size(), 1u);
  std::vector<std::string> got_addrs;
  for (const json& a : addrs[0]["addr_info"]) {
    got_addrs.push_back(absl::StrCat(a.value("family", ""), " ", a.value("local", ""), "/",
                                     a.value("prefixlen", 0)));
  }
  EXPECT_EQ(got_addrs, std::vector<std::string>{"inet 10.244.7.2/24"});  // no inet6 at all
  EXPECT_EQ(absl::StripAsciiWhitespace(
                InNetns(*pod_, "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6")),
            "1");
  bool default_route = false, gw_route = false;
  for (const json& rt : Ip(*pod_, "route show")) {
    default_route |= rt.value("dst", "") == "default" &&
                     rt.value("gateway", "") == FakeAgent::kGateway && rt.value("dev", "") == "eth0";
    gw_route |= rt.value("dst", "") == FakeAgent::kGateway && rt.value("dev", "") == "eth0" &&
                rt.value("scope", "") == "link";
  }
  EXPECT_TRUE(default_route) << Ip(*pod_, "route show").dump();
  EXPECT_TRUE(gw_route) << Ip(*pod_, "route show").dump();
  EXPECT_TRUE(absl::StrContains(InNetns(*pod_, "ethtool -k eth0"),
                                "generic-receive-offload: on"))
      << InNetns(*pod_, "ethtool -k eth0");

  // What the agent was told.
  const auto eps = agent_->Endpoints();
  ASSERT_EQ(eps.count(cid_ + "/eth0"), 1u);
  const json& req = eps.at(cid_ + "/eth0").request;
  EXPECT_EQ(req["hostIfname"], HostName());
  EXPECT_EQ(req["netns"], pod_->path());
  EXPECT_EQ(req["mac"], eth0.value("address", ""));
  EXPECT_EQ(req["podNamespace"], "e2e");
  EXPECT_EQ(req["podName"], "pod-a");

  if (can_check) {
    const CniOut check = Check(r, version);
    EXPECT_EQ(check.rc, 0) << check.out << check.err;
    EXPECT_EQ(check.out, "");
  }

  const CniOut del = Del();
  EXPECT_EQ(del.rc, 0) << del.out << del.err;
  EXPECT_EQ(del.out, "");
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_EQ(LinkNames(*pod_), std::set<std::string>{"lo"});
  EXPECT_TRUE(agent_->Endpoints().empty());

  const CniOut del2 = Del();
  EXPECT_EQ(del2.rc, 0) << del2.out << del2.err;

  if (can_check) ExpectError(Check(r, version), 101);
}

INSTANTIATE_TEST_SUITE_P(AllVersions, CniVersionE2eTest,
                         ::testing::Values("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '.' ? '_' : c;
                           return "v" + n;
                         });

TEST_F(CniE2eTest, CheckFailsOnEachBreakage) {
  struct Breakage {
    const char* what;
    std::string cmd;  // shell; empty: forget the endpoint at the agent
  };
  const std::vector<Breakage> cases = {
      {"address deleted", "ip -n " + pod_->name() + " addr del 10.244.7.2/24 dev eth0"},
      {"default route deleted", "ip -n " + pod_->name() + " route del default"},
      {"pod link down", "ip -n " + pod_->name() + " link set eth0 down"},
      {"GRO off", "ip netns exec " + pod_->name() + " ethtool -K eth0 gro off"},
      {"host veth down", "ip -n " + node_->name() + " link set " + HostName() + " down"},
      {"agent forgot the endpoint", ""},
  };
  for (const Breakage& b : cases) {
    SCOPED_TRACE(b.what);
    const CniOut add = Add();
    ASSERT_EQ(add.rc, 0) << add.out << add.err;
    const CniOut ok = Check(add.j);
    ASSERT_EQ(ok.rc, 0) << ok.out << ok.err;
    if (b.cmd.empty()) {
      agent_->Forget(cid_ + "/eth0");
    } else {
      ASSERT_EQ(Sh(b.cmd).exit_code, 0) << b.cmd;
    }
    ExpectError(Check(add.j), 101);
    ASSERT_EQ(Del().rc, 0);
  }
}

TEST_F(CniE2eTest, CheckFailsWhenPrevResultLacksTheAttachment) {
  const CniOut add = Add();
  ASSERT_EQ(add.rc, 0) << add.out << add.err;
  json prev = add.j;
  prev["ips"] = json::array();
  ExpectError(Check(prev), 101);
  EXPECT_EQ(Check(add.j).rc, 0);
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, AddWithAgentDownIsCode11AndLeavesNothing) {
  agent_->Stop();
  ExpectError(Add(), 11);
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_EQ(LinkNames(*pod_), std::set<std::string>{"lo"});

  // DEL with the agent down: the veth would be deleted, but the agent still
  // holds the address, so DEL fails (code 11) and the runtime retries.
  ExpectError(Del(), 11);

  agent_->Start(node_->path());
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, DelWithAgentDownDeletesTheVethAndFails) {
  ASSERT_EQ(Add().rc, 0);
  agent_->Stop();
  ExpectError(Del(), 11);
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  agent_->Start(node_->path());
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, AddWithExistingIfnameFailsAndLeaksNothing) {
  // Something else's eth0 (the kernel here has no dummy driver: a veth pair).
  ASSERT_EQ(Sh("ip -n " + pod_->name() + " link add eth0 type veth peer name theirs0").exit_code,
            0);
  const std::set<std::string> before = LinkNames(*pod_);
  ExpectError(Add(), 102);
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_EQ(LinkNames(*pod_), before);
  for (const std::string& r : agent_->Requests()) EXPECT_NE(r, "POST /v1/endpoints");
  EXPECT_TRUE(agent_->Endpoints().empty());
  // The runtime DELs after a failed ADD; that must not touch the pod's eth0.
  EXPECT_EQ(Del().rc, 0);
  EXPECT_EQ(LinkNames(*pod_), before);
}

TEST_F(CniE2eTest, BadNetnsIsCode8AndLeaksNothing) {
  for (const std::string& netns : std::vector<std::string>{
           node_->path(),  // the plugin's own netns: skel refuses it
           "/run/netns/xvrcni-does-not-exist", "/etc/hostname"}) {
    SCOPED_TRACE(netns);
    ExpectError(Cni(EnvFor("ADD", cid_, netns, "eth0"), Conf("1.1.0")), 8);
    ExpectError(Cni(EnvFor("CHECK", cid_, netns, "eth0"), Conf("1.1.0")), 8);
  }
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_TRUE(agent_->Requests().empty());
}

TEST_F(CniE2eTest, AddTwiceWithoutDelFailsAndKeepsTheFirst) {
  const CniOut first = Add();
  ASSERT_EQ(first.rc, 0);
  ExpectError(Add(), 102);  // eth0 exists
  EXPECT_EQ(Check(first.j).rc, 0);
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, AgentRefusalRollsBack) {
  agent_->SetRegisterStatus(507);
  ExpectError(Add(), 100);
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_EQ(LinkNames(*pod_), std::set<std::string>{"lo"});
}

TEST_F(CniE2eTest, FailureAfterRegistrationUnregistersAndDeletes) {
  agent_->SetExtraRoutes(json::parse(R"([{"dst": "not-a-prefix", "gw": "10.244.7.1"}])"));
  const CniOut add = Add();
  EXPECT_EQ(add.rc, 1) << add.out << add.err;
  EXPECT_TRUE(agent_->Endpoints().empty());
  const std::vector<std::string> reqs = agent_->Requests();
  EXPECT_NE(std::find(reqs.begin(), reqs.end(),
                      "DELETE /v1/endpoints/" + cid_ + "/eth0"),
            reqs.end());
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_EQ(LinkNames(*pod_), std::set<std::string>{"lo"});
}

TEST_F(CniE2eTest, DelWithoutNetnsAndWithNetnsGone) {
  ASSERT_EQ(Add().rc, 0);
  const CniOut del = Cni(Env("DEL", "eth0", /*with_netns=*/false), Conf("1.1.0"));
  EXPECT_EQ(del.rc, 0) << del.out << del.err;
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
  EXPECT_TRUE(agent_->Endpoints().empty());

  ASSERT_EQ(Add().rc, 0);
  pod_->Remove();  // the runtime tore the sandbox down first
  for (int i = 0; i < 2; ++i) {
    const CniOut d = Del();
    EXPECT_EQ(d.rc, 0) << d.out << d.err;
  }
  EXPECT_TRUE(agent_->Endpoints().empty());
  EXPECT_EQ(LinkNames(*node_), std::set<std::string>{"lo"});
}

TEST_F(CniE2eTest, ChainedAddAppendsToPrevResult) {
  const json prev = json::parse(R"({"cniVersion": "1.0.0",
      "interfaces": [{"name": "dummy0"}],
      "ips": [{"address": "192.168.9.9/24", "interface": 0}],
      "dns": {"nameservers": ["10.96.0.10"]}})");
  const CniOut add = Cni(Env("ADD"), Conf("1.0.0", {{"prevResult", prev}}));
  ASSERT_EQ(add.rc, 0) << add.out << add.err;
  ASSERT_EQ(add.j["interfaces"].size(), 3u);
  EXPECT_EQ(add.j["interfaces"][2]["name"], "eth0");
  ASSERT_EQ(add.j["ips"].size(), 2u);
  EXPECT_EQ(add.j["ips"][0]["address"], "192.168.9.9/24");
  EXPECT_EQ(add.j["ips"][1]["interface"], 2);
  EXPECT_EQ(add.j["dns"]["nameservers"], json::array({"10.96.0.10"}));
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, GcDropsInvalidAttachmentsAndStrayVeths) {
  // Two pods; the second is gone from the runtime's list of valid attachments.
  ScopedNetns pod2;
  const std::string cid2 = cid_ + "-b";
  ASSERT_EQ(Add().rc, 0);
  const CniOut second = Cni(EnvFor("ADD", cid2, pod2.path(), "eth0"), Conf("1.1.0"));
  ASSERT_EQ(second.rc, 0) << second.out << second.err;
  // A veth named like a host end that nobody claims (an ADD killed before it
  // registered), and an unrelated veth that GC must leave alone.
  const std::string stray = HostVethName("stray-" + cid_, "eth0");
  const std::string other = "keepme" + std::to_string(::getpid() % 100000);
  ASSERT_EQ(Sh("ip -n " + node_->name() + " link add " + stray + " type veth peer name s" +
               stray.substr(3))
                .exit_code,
            0);
  ASSERT_EQ(Sh("ip -n " + node_->name() + " link add " + other + " type veth peer name " +
               other + "p")
                .exit_code,
            0);

  const json valid = json::array({{{"containerID", cid_}, {"ifname", "eth0"}}});
  const CniOut gc = Cni({"CNI_COMMAND=GC", "CNI_PATH=/opt/cni/bin"},
                        Conf("1.1.0", {{"cni.dev/valid-attachments", valid},
                                       {"cni.dev/attachments", valid}}));
  EXPECT_EQ(gc.rc, 0) << gc.out << gc.err;
  EXPECT_EQ(gc.out, "");

  const auto eps = agent_->Endpoints();
  EXPECT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps.count(cid_ + "/eth0"), 1u);
  EXPECT_EQ(LinkNames(*node_), (std::set<std::string>{"lo", HostName(), other, other + "p"}));
  EXPECT_EQ(LinkNames(*pod_), (std::set<std::string>{"lo", "eth0"}));
  EXPECT_EQ(LinkNames(pod2), std::set<std::string>{"lo"});

  // Only the older key (the spec-v1.1.0 tag), and again: nothing more to do.
  const CniOut gc2 = Cni({"CNI_COMMAND=GC"}, Conf("1.1.0", {{"cni.dev/attachments", valid}}));
  EXPECT_EQ(gc2.rc, 0) << gc2.out << gc2.err;
  EXPECT_EQ(agent_->Endpoints().size(), 1u);
  EXPECT_EQ(LinkNames(*node_), (std::set<std::string>{"lo", HostName(), other, other + "p"}));

  // The runtime's DEL of the collected pod still succeeds.
  EXPECT_EQ(Cni(EnvFor("DEL", cid2, pod2.path(), "eth0"), Conf("1.1.0")).rc, 0);
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, GcKeepsVethsWhenTheAgentIsDown) {
  ASSERT_EQ(Add().rc, 0);
  agent_->Stop();
  ExpectError(Cni({"CNI_COMMAND=GC"},
                  Conf("1.1.0", {{"cni.dev/valid-attachments", json::array()}})),
              11);
  EXPECT_EQ(LinkNames(*node_), (std::set<std::string>{"lo", HostName()}));
  agent_->Start(node_->path());
  EXPECT_EQ(Del().rc, 0);
}

TEST_F(CniE2eTest, StatusFollowsTheAgent) {
  const CniOut ok = Cni({"CNI_COMMAND=STATUS"}, Conf("1.1.0"));
  EXPECT_EQ(ok.rc, 0) << ok.out << ok.err;
  agent_->SetHealthy(false);
  ExpectError(Cni({"CNI_COMMAND=STATUS"}, Conf("1.1.0")), 50);
  agent_->Stop();
  ExpectError(Cni({"CNI_COMMAND=STATUS"}, Conf("1.1.0")), 50);
}

}  // namespace
}  // namespace xvr::cni

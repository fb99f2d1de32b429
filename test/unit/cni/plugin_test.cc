// The dispatcher end to end without root: everything up to the first kernel
// call (VERSION, validation, version gates, STATUS against a fake agent).
#include "cni-plugin/plugin.h"

#include <sstream>

#include "absl/strings/str_format.h"
#include "cni-plugin/veth_name.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/unit/cni/fake_agent.h"
#include "test/unit/cni/test_util.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

struct Outcome {
  int rc;
  std::string out;
  json j;  // out parsed (null if empty)
};

Outcome RunWith(const EnvMap& env, const std::string& stdin_data) {
  std::ostringstream out;
  const int rc = Run(env, stdin_data, out);
  Outcome o{rc, out.str(), nullptr};
  if (!o.out.empty()) o.j = json::parse(o.out, nullptr, false);
  return o;
}

EnvMap Env(const char* cmd) {
  return {{"CNI_COMMAND", cmd},
          {"CNI_CONTAINERID", "ctr1"},
          {"CNI_NETNS", "/run/netns/none"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"}};
}

std::string Conf(const std::string& version, const std::string& extra = "") {
  return R"({"cniVersion": ")" + version + R"(", "name": "xvr", "type": "xvr-cni")" + extra + "}";
}

// The error object: exactly these keys, exit status 1.
void ExpectError(const Outcome& o, int code, const std::string& version) {
  EXPECT_EQ(o.rc, 1) << o.out;
  ASSERT_TRUE(o.j.is_object()) << o.out;
  EXPECT_EQ(o.j.size(), 4u) << o.out;
  EXPECT_EQ(o.j.value("cniVersion", ""), version) << o.out;
  EXPECT_EQ(o.j.value("code", 0), code) << o.out;
  ASSERT_TRUE(o.j.contains("msg") && o.j["msg"].is_string()) << o.out;
  EXPECT_FALSE(o.j["msg"].get<std::string>().empty());
  ASSERT_TRUE(o.j.contains("details") && o.j["details"].is_string()) << o.out;
}

TEST(PluginTest, VersionEchoesInputVersion) {
  const json supported = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  Outcome o = RunWith({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "1.0.0"})");
  EXPECT_EQ(o.rc, 0);
  EXPECT_EQ(o.j, (json{{"cniVersion", "1.0.0"}, {"supportedVersions", supported}}));
  // libcni's probe, with the dummy variables it sets.
  o = RunWith({{"CNI_COMMAND", "VERSION"}, {"CNI_NETNS", "dummy"}, {"CNI_IFNAME", "dummy"},
               {"CNI_PATH", "dummy"}},
              R"({"cniVersion": "1.1.0"})");
  EXPECT_EQ(o.rc, 0);
  EXPECT_EQ(o.j, (json{{"cniVersion", "1.1.0"}, {"supportedVersions", supported}}));
}

TEST(PluginTest, VersionWithoutInputIsLatest) {
  for (const char* in : {"", "{}", "not json"}) {
    Outcome o = RunWith({{"CNI_COMMAND", "VERSION"}}, in);
    EXPECT_EQ(o.rc, 0) << in;
    EXPECT_EQ(o.j.value("cniVersion", ""), "1.1.0") << in;
  }
}

TEST(PluginTest, EnvErrorsAreCode4) {
  ExpectError(RunWith({}, Conf("1.1.0")), 4, "1.1.0");
  ExpectError(RunWith({{"CNI_COMMAND", "BOGUS"}}, Conf("0.4.0")), 4, "0.4.0");
  EnvMap env = Env("ADD");
  env.erase("CNI_NETNS");
  ExpectError(RunWith(env, Conf("1.0.0")), 4, "1.0.0");
  env = Env("CHECK");
  env["CNI_IFNAME"] = "way-too-long-name0";
  ExpectError(RunWith(env, Conf("1.1.0")), 4, "1.1.0");
  env = Env("DEL");
  env["CNI_CONTAINERID"] = "../etc";
  ExpectError(RunWith(env, Conf("1.1.0")), 4, "1.1.0");
}

TEST(PluginTest, ConfigErrors) {
  ExpectError(RunWith(Env("ADD"), "{not json"), 6, "1.1.0");
  ExpectError(RunWith(Env("ADD"), R"({"cniVersion": "1.0.0"})"), 7, "1.0.0");
  ExpectError(RunWith(Env("ADD"), R"({"cniVersion": "1.0.0", "name": "bad name"})"), 7, "1.0.0");
  // The error object echoes the version the runtime sent, even unsupported.
  ExpectError(RunWith(Env("ADD"), Conf("0.2.0")), 1, "0.2.0");
  ExpectError(RunWith(Env("ADD"), Conf("1.1.0", R"(, "logLevel": "loud")")), 7, "1.1.0");
}

TEST(PluginTest, VersionGatesAreCode1) {
  for (const char* v : {"0.3.0", "0.3.1"}) ExpectError(RunWith(Env("CHECK"), Conf(v)), 1, v);
  for (const char* v : {"0.3.0", "0.3.1", "0.4.0", "1.0.0"}) {
    ExpectError(RunWith(Env("STATUS"), Conf(v)), 1, v);
    ExpectError(RunWith(Env("GC"), Conf(v, R"(, "cni.dev/valid-attachments": [])")), 1, v);
  }
}

TEST(PluginTest, GcNeedsValidAttachments) {
  ExpectError(RunWith(Env("GC"), Conf("1.1.0", R"(, "agentSocket": "/nonexistent/a.sock")")), 7,
              "1.1.0");
}

TEST(PluginTest, StatusAgainstTheAgent) {
  testing::TempDir dir;
  const std::string sock = dir.Sub("agent.sock");
  const std::string conf = Conf("1.1.0", R"(, "agentSocket": ")" + sock + "\"");
  EnvMap env = {{"CNI_COMMAND", "STATUS"}};

  ExpectError(RunWith(env, conf), 50, "1.1.0");  // nobody listening

  testing::FakeAgent agent(sock);
  agent.Start();
  Outcome ok = RunWith(env, conf);
  EXPECT_EQ(ok.rc, 0) << ok.out;
  EXPECT_EQ(ok.out, "");  // nothing on success

  agent.SetHealthy(false);  // 503 {"status": "starting"}
  ExpectError(RunWith(env, conf), 50, "1.1.0");
}

TEST(VethNameTest, DeterministicAndDistinct) {
  const std::string a = HostVethName("c0ffee", "eth0");
  EXPECT_EQ(a, HostVethName("c0ffee", "eth0"));
  EXPECT_EQ(a.size(), 15u);  // IFNAMSIZ - 1
  EXPECT_EQ(a.substr(0, 3), "xvr");
  EXPECT_TRUE(IsHostVethName(a));
  EXPECT_NE(a, HostVethName("c0ffee", "eth1"));
  EXPECT_NE(a, HostVethName("c0ffef", "eth0"));
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  EXPECT_NE(HostVethName("ab", "c"), HostVethName("a", "bc"));
  EXPECT_EQ(TempPeerName("c0ffee", "eth0").substr(3), a.substr(3));
  EXPECT_FALSE(IsHostVethName(TempPeerName("c0ffee", "eth0")));
  // Pinned value: a change would orphan every existing pod's veth on upgrade.
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(HostVethName("c0ffee", "eth0"),
            "xvr" + absl::StrFormat("%016x", Fnv1a64("c0ffee/eth0")).substr(0, 12));
}

TEST(VethNameTest, PatternRejectsOthers) {
  for (const char* n : {"xvr_host", "xvr_net", "xvr0123456789a", "xvr0123456789abc",
                        "xvr0123456789AB", "eth0", "xvq0123456789ab"}) {
    EXPECT_FALSE(IsHostVethName(n)) << n;
  }
}

}  // namespace
}  // namespace xvr::cni

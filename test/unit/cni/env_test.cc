#include "cni-plugin/env.h"

#include "cni-plugin/errors.h"
#include "gtest/gtest.h"

namespace xvr::cni {
namespace {

EnvMap AddEnv() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c0ffee-1.x_y"},
          {"CNI_NETNS", "/run/netns/pod"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"}};
}

Code CodeOfEnv(const EnvMap& env) {
  absl::StatusOr<CmdEnv> e = ParseEnv(env);
  return e.ok() ? Code{0} : CodeOf(e.status());
}

TEST(EnvTest, ParsesAdd) {
  EnvMap env = AddEnv();
  env["CNI_ARGS"] =
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
      "K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=1234-5678";
  absl::StatusOr<CmdEnv> e = ParseEnv(env);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->command, Command::kAdd);
  EXPECT_EQ(e->container_id, "c0ffee-1.x_y");
  EXPECT_EQ(e->netns, "/run/netns/pod");
  EXPECT_EQ(e->ifname, "eth0");
  EXPECT_EQ(e->path, "/opt/cni/bin");
  EXPECT_EQ(e->args.pod_namespace, "default");
  EXPECT_EQ(e->args.pod_name, "web-0");
  EXPECT_EQ(e->args.infra_container_id, "c0ffee");
  EXPECT_EQ(e->args.pod_uid, "1234-5678");
}

TEST(EnvTest, CommandMissingOrUnknownIsCode4) {
  EnvMap env = AddEnv();
  env.erase("CNI_COMMAND");
  EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv);
  env["CNI_COMMAND"] = "";
  EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv);
  env["CNI_COMMAND"] = "add";
  EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv);
  env["CNI_COMMAND"] = "FROB";
  EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv);
}

TEST(EnvTest, RequiredVariablesPerCommand) {
  for (const char* cmd : {"ADD", "CHECK"}) {
    for (const char* var : {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}) {
      EnvMap env = AddEnv();
      env["CNI_COMMAND"] = cmd;
      env.erase(var);
      absl::StatusOr<CmdEnv> e = ParseEnv(env);
      ASSERT_FALSE(e.ok()) << cmd << " without " << var;
      EXPECT_EQ(CodeOf(e.status()), Code::kInvalidEnv);
      EXPECT_NE(e.status().message().find(var), absl::string_view::npos) << e.status();
    }
  }
  // DEL: CNI_NETNS is optional (the netns may be gone).
  EnvMap del = AddEnv();
  del["CNI_COMMAND"] = "DEL";
  del.erase("CNI_NETNS");
  EXPECT_EQ(CodeOfEnv(del), Code{0});
  del.erase("CNI_IFNAME");
  EXPECT_EQ(CodeOfEnv(del), Code::kInvalidEnv);
  // STATUS, GC and VERSION need none of them; CNI_PATH is never required.
  for (const char* cmd : {"STATUS", "GC", "VERSION"}) {
    EXPECT_EQ(CodeOfEnv({{"CNI_COMMAND", cmd}}), Code{0}) << cmd;
  }
}

TEST(EnvTest, ContainerIdCharset) {
  for (const char* bad : {"-abc", ".abc", "_abc", "a/b", "a b", "a:b", "a;b", "ä"}) {
    EnvMap env = AddEnv();
    env["CNI_CONTAINERID"] = bad;
    EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv) << bad;
  }
  for (const char* good : {"a", "0", "abc-DEF_0.9", "9f86d081884c7d659a2feaa0c55ad015"}) {
    EnvMap env = AddEnv();
    env["CNI_CONTAINERID"] = good;
    EXPECT_EQ(CodeOfEnv(env), Code{0}) << good;
  }
}

TEST(EnvTest, IfnameRules) {
  for (const char* bad : {".", "..", "a/b", "a:b", "a b", "a\tb", "0123456789abcdef"}) {
    EnvMap env = AddEnv();
    env["CNI_IFNAME"] = bad;
    EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv) << bad;
  }
  for (const char* good : {"eth0", "net1", "a", "0123456789abcde", "a.b", "a-b_c"}) {
    EXPECT_TRUE(IsValidIfname(good)) << good;
  }
}

TEST(EnvTest, CniArgs) {
  absl::StatusOr<CniArgs> a = ParseCniArgs("K8S_POD_NAME=a=b;;Other=x;K8S_POD_NAMESPACE=");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->pod_name, "a=b");  // split at the first '='
  EXPECT_EQ(a->pod_namespace, "");
  EXPECT_EQ(a->all.at("Other"), "x");  // unknown keys are kept and ignored

  EXPECT_TRUE(ParseCniArgs("").ok());
  for (const char* bad : {"K8S_POD_NAME", "=x", "a=1;novalue"}) {
    absl::StatusOr<CniArgs> b = ParseCniArgs(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(CodeOf(b.status()), Code::kInvalidEnv);
  }
  EnvMap env = AddEnv();
  env["CNI_ARGS"] = "garbage";
  EXPECT_EQ(CodeOfEnv(env), Code::kInvalidEnv);
}

TEST(EnvTest, FromEnviron) {
  char a[] = "CNI_COMMAND=ADD";
  char b[] = "CNI_ARGS=K=V=W";
  char c[] = "NOEQUALS";
  char* envp[] = {a, b, c, nullptr};
  EnvMap env = EnvFromEnviron(envp);
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env["CNI_COMMAND"], "ADD");
  EXPECT_EQ(env["CNI_ARGS"], "K=V=W");
}

}  // namespace
}  // namespace xvr::cni

#include "cni-plugin/conflist.h"

#include "cni-plugin/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr::cni {
namespace {

using ::testing::HasSubstr;

TEST(ConfListTest, ParsesListAndInjectsNameAndVersion) {
  absl::StatusOr<ConfList> l = ParseConfList(R"({
    "cniVersion": "1.0.0", "name": "xvr", "disableCheck": true,
    "plugins": [
      {"type": "xvr-cni", "agentSocket": "/run/xvr/agent.sock", "logLevel": "info"},
      {"type": "portmap", "name": "ignored", "cniVersion": "0.3.1",
       "capabilities": {"portMappings": true}}
    ]})");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->name, "xvr");
  EXPECT_EQ(l->cni_version, "1.0.0");
  EXPECT_TRUE(l->cni_versions.empty());
  EXPECT_TRUE(l->disable_check);
  EXPECT_FALSE(l->disable_gc);
  ASSERT_EQ(l->plugins.size(), 2u);
  EXPECT_EQ(l->plugins[0].type, "xvr-cni");
  EXPECT_EQ(l->plugins[0].log_level, "info");
  // The list's name and version replace the plugin's own (libcni InjectConf).
  EXPECT_EQ(l->plugins[1].name, "xvr");
  EXPECT_EQ(l->plugins[1].cni_version, "1.0.0");
  EXPECT_EQ(l->plugins[1].type, "portmap");
}

TEST(ConfListTest, CniVersionsPicksHighestNotNewerThanSpec) {
  absl::StatusOr<ConfList> l = ParseConfList(R"({
    "cniVersion": "0.4.0", "cniVersions": ["1.0.0", "9.9.9", "1.1.0", "0.3.1"],
    "name": "xvr", "plugins": [{"type": "xvr-cni"}]})");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->cni_version, "1.1.0");
  EXPECT_EQ(l->cni_versions, (std::vector<std::string>{"1.0.0", "9.9.9", "1.1.0", "0.3.1"}));
  EXPECT_EQ(l->plugins[0].cni_version, "1.1.0");

  // Only versions newer than this spec: "cniVersion" stays.
  l = ParseConfList(R"({"cniVersion": "1.0.0", "cniVersions": ["2.0.0"], "name": "x",
                        "plugins": [{"type": "xvr-cni"}]})");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->cni_version, "1.0.0");

  // "cniVersions" alone is enough.
  l = ParseConfList(R"({"cniVersions": ["0.4.0", "1.0.0"], "name": "x",
                        "plugins": [{"type": "xvr-cni"}]})");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->cni_version, "1.0.0");
}

TEST(ConfListTest, BoolsAcceptStrings) {
  absl::StatusOr<ConfList> l = ParseConfList(R"({"cniVersion": "1.1.0", "name": "x",
    "disableCheck": "TRUE", "disableGC": "false", "plugins": [{"type": "xvr-cni"}]})");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->disable_check);
  EXPECT_FALSE(l->disable_gc);
  l = ParseConfList(R"({"cniVersion": "1.1.0", "name": "x", "disableGC": true,
                        "plugins": [{"type": "xvr-cni"}]})");
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->disable_gc);
}

struct BadCase {
  const char* json;
  Code code;
  const char* msg;
};

TEST(ConfListTest, ListErrors) {
  const BadCase cases[] = {
      {"", Code::kDecode, "invalid JSON"},
      {"[]", Code::kDecode, "must be a JSON object"},
      {R"({"cniVersion": "1.1.0", "plugins": [{"type": "a"}]})", Code::kInvalidConfig,
       "no name"},
      {R"({"name": 3, "plugins": []})", Code::kDecode, "invalid name type"},
      {R"({"name": "x", "cniVersion": 1, "plugins": []})", Code::kDecode, "cniVersion type"},
      {R"({"name": "x", "cniVersions": "1.0.0", "plugins": []})", Code::kDecode,
       "invalid type for cniVersions"},
      {R"({"name": "x", "cniVersions": [1], "plugins": []})", Code::kDecode,
       "cniVersions index 0"},
      {R"({"name": "x", "cniVersions": ["1.0.0", "one"], "plugins": []})",
       Code::kInvalidConfig, "invalid cniVersions entry one at index 1"},
      {R"({"name": "x", "cniVersion": "1.1.0", "disableCheck": "yes", "plugins": []})",
       Code::kInvalidConfig, "invalid value \"yes\" for disableCheck"},
      {R"({"name": "x", "cniVersion": "1.1.0", "disableGC": 1, "plugins": []})",
       Code::kDecode, "for disableGC"},
      {R"({"name": "x", "cniVersion": "1.1.0"})", Code::kInvalidConfig, "no 'plugins' key"},
      {R"({"name": "x", "cniVersion": "1.1.0", "plugins": {}})", Code::kDecode,
       "invalid 'plugins' type"},
      {R"({"name": "x", "cniVersion": "1.1.0", "plugins": []})", Code::kInvalidConfig,
       "no plugins in list"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<ConfList> l = ParseConfList(c.json);
    ASSERT_FALSE(l.ok()) << c.json;
    EXPECT_EQ(CodeOf(l.status()), c.code) << c.json << ": " << l.status();
    EXPECT_THAT(l.status().message(), HasSubstr(c.msg)) << c.json;
  }
}

TEST(ConfListTest, PluginErrorsNameTheIndex) {
  const BadCase cases[] = {
      {R"({"name": "x", "cniVersion": "1.1.0", "plugins": [{"type": "a"}, 7]})", Code::kDecode,
       "plugins[1]: must be a JSON object"},
      {R"({"name": "x", "cniVersion": "1.1.0", "plugins": [{"type": "a"}, {"k": 1}]})",
       Code::kInvalidConfig, "plugins[1]: missing 'type'"},
      {R"({"name": "x", "cniVersion": "1.1.0", "plugins": [{"type": "a", "logLevel": 3}]})",
       Code::kInvalidConfig, "plugins[0]: \"logLevel\" must be a string"},
      // The list's name and version are checked through each plugin, as the
      // plugin itself would check them on stdin.
      {R"({"name": "bad name!", "cniVersion": "1.1.0", "plugins": [{"type": "a"}]})",
       Code::kInvalidConfig, "plugins[0]: invalid characters"},
      {R"({"name": "x", "cniVersion": "0.2.0", "plugins": [{"type": "a"}]})",
       Code::kIncompatibleVersion, "plugins[0]: incompatible CNI versions"},
      {R"({"name": "x", "plugins": [{"type": "a", "cniVersion": "1.1.0"}]})",
       Code::kIncompatibleVersion, "plugins[0]"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<ConfList> l = ParseConfList(c.json);
    ASSERT_FALSE(l.ok()) << c.json;
    EXPECT_EQ(CodeOf(l.status()), c.code) << c.json << ": " << l.status();
    EXPECT_THAT(l.status().message(), HasSubstr(c.msg)) << c.json;
  }
}

}  // namespace
}  // namespace xvr::cni

#include "cni-plugin/conf.h"

#include "cni-plugin/errors.h"
#include "gtest/gtest.h"

namespace xvr::cni {
namespace {

Code CodeOfConf(const std::string& s) {
  absl::StatusOr<NetConf> c = ParseNetConf(s);
  return c.ok() ? Code{0} : CodeOf(c.status());
}

TEST(ConfTest, ParsesStandardAndOwnKeys) {
  absl::StatusOr<NetConf> c = ParseNetConf(R"({
    "cniVersion": "1.1.0", "name": "xvr-net", "type": "xvr-cni",
    "agentSocket": "/tmp/a.sock", "logLevel": "debug",
    "runtimeConfig": {"foo": 1}, "args": {"x": "y"}, "unknownKey": [1, 2],
    "prevResult": {"cniVersion": "1.1.0", "ips": []},
    "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}],
    "cni.dev/attachments": [{"containerID": "old", "ifname": "eth0"}]
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->cni_version, "1.1.0");
  EXPECT_EQ(c->name, "xvr-net");
  EXPECT_EQ(c->type, "xvr-cni");
  EXPECT_EQ(c->agent_socket, "/tmp/a.sock");
  EXPECT_EQ(c->log_level, "debug");
  ASSERT_TRUE(c->prev_result.has_value());
  ASSERT_TRUE(c->valid_attachments.has_value());
  // The current key wins over the spec-v1.1.0 tag's spelling.
  EXPECT_EQ(*c->valid_attachments, (std::vector<Attachment>{{"c1", "eth0"}}));
}

TEST(ConfTest, Defaults) {
  absl::StatusOr<NetConf> c = ParseNetConf(R"({"cniVersion": "0.4.0", "name": "n"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->agent_socket, kDefaultAgentSocket);
  EXPECT_FALSE(c->prev_result.has_value());
  EXPECT_FALSE(c->valid_attachments.has_value());
}

TEST(ConfTest, OlderAttachmentsKey) {
  absl::StatusOr<NetConf> c = ParseNetConf(
      R"({"cniVersion": "1.1.0", "name": "n", "cni.dev/attachments": [{"containerID": "a", "ifname": "eth1"}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c->valid_attachments, (std::vector<Attachment>{{"a", "eth1"}}));
  absl::StatusOr<NetConf> empty =
      ParseNetConf(R"({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": []})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->valid_attachments->empty());
}

TEST(ConfTest, DecodeErrorsAreCode6) {
  EXPECT_EQ(CodeOfConf(""), Code::kDecode);
  EXPECT_EQ(CodeOfConf("{"), Code::kDecode);
  EXPECT_EQ(CodeOfConf("[1]"), Code::kDecode);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "n",)"), Code::kDecode);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "n", "prevResult": 3})"),
            Code::kDecode);
}

TEST(ConfTest, NameErrorsAreCode7) {
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0"})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": ""})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "-net"})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "a b"})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "a/b"})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": 5})"), Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "Net_1.a-b"})"), Code{0});
}

TEST(ConfTest, OtherInvalidFieldsAreCode7) {
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "n", "agentSocket": 1})"),
            Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(R"({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": {}})"),
            Code::kInvalidConfig);
  EXPECT_EQ(CodeOfConf(
                R"({"cniVersion": "1.1.0", "name": "n", "cni.dev/valid-attachments": [{"containerID": "a"}]})"),
            Code::kInvalidConfig);
}

TEST(ConfTest, UnsupportedVersionIsCode1) {
  EXPECT_EQ(CodeOfConf(R"({"name": "n"})"), Code::kIncompatibleVersion);  // taken as 0.1.0
  for (const char* v : {"0.1.0", "0.2.0", "1.2.0", "2.0.0", "1.1", "x"}) {
    EXPECT_EQ(CodeOfConf(std::string(R"({"name": "n", "cniVersion": ")") + v + "\"}"),
              Code::kIncompatibleVersion)
        << v;
  }
  for (const char* v : {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    EXPECT_EQ(CodeOfConf(std::string(R"({"name": "n", "cniVersion": ")") + v + "\"}"), Code{0})
        << v;
  }
}

TEST(ConfTest, PeekVersion) {
  EXPECT_EQ(PeekCniVersion(R"({"cniVersion": "0.4.0"})"), "0.4.0");
  EXPECT_EQ(PeekCniVersion(""), "");
  EXPECT_EQ(PeekCniVersion("nope"), "");
  EXPECT_EQ(PeekCniVersion(R"({"cniVersion": 1})"), "");
}

}  // namespace
}  // namespace xvr::cni

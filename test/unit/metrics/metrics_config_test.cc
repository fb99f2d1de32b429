// spec.metricsAddress in the VRouter resource.
#include <string>

#include "agent/config/vrouter.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] = R"(
apiVersion: xvr.dev/v1alpha1
kind: VRouter
metadata:
  name: node-a
spec:
  nodeName: node-a
  podCIDR: 10.244.1.0/24
)";

absl::StatusOr<VRouterConfig> WithAddress(const std::string& value) {
  return ParseVRouter(std::string(kMinimal) + "  metricsAddress: " + value + "\n");
}

TEST(MetricsAddress, DefaultsToAllAddressesPort9890) {
  absl::StatusOr<VRouterConfig> cfg = ParseVRouter(kMinimal);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->metrics_address, "0.0.0.0:9890");
}

TEST(MetricsAddress, AcceptsHostPortForms) {
  for (const char* ok : {"\"127.0.0.1:9090\"", "0.0.0.0:0", "\"[::1]:9890\"", "\"[::]:9890\"",
                         "localhost:65535", "metrics.example.com:80"}) {
    absl::StatusOr<VRouterConfig> cfg = WithAddress(ok);
    ASSERT_TRUE(cfg.ok()) << ok << ": " << cfg.status();
  }
  EXPECT_EQ(WithAddress("\"[::1]:9890\"")->metrics_address, "[::1]:9890");
}

TEST(MetricsAddress, EmptyStringTurnsTheListenerOff) {
  absl::StatusOr<VRouterConfig> cfg = WithAddress("\"\"");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->metrics_address, "");
  // null means "absent": the default.
  EXPECT_EQ(WithAddress("null")->metrics_address, "0.0.0.0:9890");
}

TEST(MetricsAddress, ErrorsNameTheField) {
  const struct {
    const char* value;
    const char* why;
  } cases[] = {
      {"9890", "must be host:port"},
      {"\":9890\"", "host missing"},
      {"\"1.2.3.4:\"", "port must be an integer"},
      {"\"1.2.3.4:65536\"", "port must be an integer between 0 and 65535"},
      {"\"1.2.3.4:-1\"", "port must be"},
      {"\"1.2.3.4:http\"", "port must be"},
      {"\"1.2.3.256:80\"", "invalid IPv4 address"},
      {"\"::1:80\"", "IPv6 host must be in brackets"},
      {"\"[zz]:80\"", "invalid IPv6"},
      {"\"bad_host:80\"", "invalid host name"},
      {"[1, 2]", "must be a string"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<VRouterConfig> cfg = WithAddress(c.value);
    ASSERT_FALSE(cfg.ok()) << c.value;
    EXPECT_EQ(cfg.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(cfg.status().message()), StartsWith("spec.metricsAddress: "))
        << c.value;
    EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(c.why)) << c.value;
  }
}

TEST(MetricsAddress, ParseHostPortSplits) {
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(ParseHostPort("[fe80::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "fe80::1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseHostPort("10.0.0.1:9890", &host, &port).ok());
  EXPECT_EQ(host, "10.0.0.1");
  EXPECT_EQ(port, 9890);
}

}  // namespace
}  // namespace xvr

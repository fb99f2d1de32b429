#include "cni-plugin/result.h"

#include "cni-plugin/errors.h"
#include "cni-plugin/version.h"
#include "gtest/gtest.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

// What ADD returns: the host veth, the pod interface, one address, the
// agent's default route.
Result AddResult() {
  Result r;
  Interface& host = r.interfaces.emplace_back();
  host.name = "xvr0123456789ab";
  host.mac = "aa:bb:cc:dd:ee:01";
  host.mtu = 1400;
  Interface& pod = r.interfaces.emplace_back();
  pod.name = "eth0";
  pod.mac = "02:42:ac:11:00:02";
  pod.sandbox = "/run/netns/pod";
  pod.mtu = 1400;
  IpConfig& ip = r.ips.emplace_back();
  ip.address = "10.244.7.2/24";
  ip.gateway = "10.244.7.1";
  ip.interface = 1;
  Route& rt = r.routes.emplace_back();
  rt.dst = "0.0.0.0/0";
  rt.gw = "10.244.7.1";
  return r;
}

constexpr char kGolden03x04x[] = R"({
  "cniVersion": "VERSION",
  "interfaces": [
    {"name": "xvr0123456789ab", "mac": "aa:bb:cc:dd:ee:01"},
    {"name": "eth0", "mac": "02:42:ac:11:00:02", "sandbox": "/run/netns/pod"}
  ],
  "ips": [{"version": "4", "address": "10.244.7.2/24", "gateway": "10.244.7.1", "interface": 1}],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.7.1"}],
  "dns": {}
})";

constexpr char kGolden100[] = R"({
  "cniVersion": "1.0.0",
  "interfaces": [
    {"name": "xvr0123456789ab", "mac": "aa:bb:cc:dd:ee:01"},
    {"name": "eth0", "mac": "02:42:ac:11:00:02", "sandbox": "/run/netns/pod"}
  ],
  "ips": [{"address": "10.244.7.2/24", "gateway": "10.244.7.1", "interface": 1}],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.7.1"}],
  "dns": {}
})";

constexpr char kGolden110[] = R"({
  "cniVersion": "1.1.0",
  "interfaces": [
    {"name": "xvr0123456789ab", "mac": "aa:bb:cc:dd:ee:01", "mtu": 1400},
    {"name": "eth0", "mac": "02:42:ac:11:00:02", "mtu": 1400, "sandbox": "/run/netns/pod"}
  ],
  "ips": [{"address": "10.244.7.2/24", "gateway": "10.244.7.1", "interface": 1}],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.7.1"}],
  "dns": {}
})";

json Golden(const std::string& version) {
  if (version == "1.0.0") return json::parse(kGolden100);
  if (version == "1.1.0") return json::parse(kGolden110);
  json j = json::parse(kGolden03x04x);
  j["cniVersion"] = version;
  return j;
}

class ResultGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ResultGoldenTest, RendersExactlyTheVersionsFields) {
  const json got = RenderResult(AddResult(), GetParam());
  EXPECT_EQ(got, Golden(GetParam())) << got.dump(2);
}

TEST_P(ResultGoldenTest, RoundTripsThroughPrevResult) {
  const json first = RenderResult(AddResult(), GetParam());
  absl::StatusOr<Result> parsed = ParseResult(first);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(RenderResult(*parsed, GetParam()), first);
}

INSTANTIATE_TEST_SUITE_P(AllVersions, ResultGoldenTest, ::testing::ValuesIn(SupportedVersions()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '.' ? '_' : c;
                           return "v" + n;
                         });

TEST(ResultTest, EveryVersionHasAGolden) {
  EXPECT_EQ(SupportedVersions(),
            (std::vector<std::string>{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
}

TEST(ResultTest, NewFieldsOnlyIn11) {
  Result r;
  Interface& i = r.interfaces.emplace_back();
  i.name = "vhost0";
  i.socket_path = "/run/vhost.sock";
  i.pci_id = "0000:00:1f.6";
  IpConfig& ip = r.ips.emplace_back();
  ip.address = "fd00::5/64";  // no interface index: IPAM-style
  Route& rt = r.routes.emplace_back();
  rt.dst = "10.0.0.0/8";
  rt.mtu = 1300;
  rt.advmss = 1260;
  rt.priority = 10;
  rt.table = 100;
  rt.scope = 253;
  r.dns.nameservers = {"10.96.0.10"};
  r.dns.search = {"svc.cluster.local"};

  EXPECT_EQ(RenderResult(r, "1.1.0"), json::parse(R"({
    "cniVersion": "1.1.0",
    "interfaces": [{"name": "vhost0", "socketPath": "/run/vhost.sock", "pciID": "0000:00:1f.6"}],
    "ips": [{"address": "fd00::5/64"}],
    "routes": [{"dst": "10.0.0.0/8", "mtu": 1300, "advmss": 1260, "priority": 10,
                "table": 100, "scope": 253}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}
  })"));
  EXPECT_EQ(RenderResult(r, "1.0.0"), json::parse(R"({
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "vhost0"}],
    "ips": [{"address": "fd00::5/64"}],
    "routes": [{"dst": "10.0.0.0/8"}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}
  })"));
  EXPECT_EQ(RenderResult(r, "0.4.0")["ips"][0]["version"], "6");
}

TEST(ResultTest, AppendShiftsInterfaceIndexes) {
  absl::StatusOr<Result> prev = ParseResult(json::parse(R"({
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "other0"}],
    "ips": [{"version": "4", "address": "192.168.0.2/24", "interface": 0}],
    "dns": {"nameservers": ["1.1.1.1"]}
  })"));
  ASSERT_TRUE(prev.ok()) << prev.status();
  const Result merged = AppendResult(*prev, AddResult());
  ASSERT_EQ(merged.interfaces.size(), 3u);
  ASSERT_EQ(merged.ips.size(), 2u);
  EXPECT_EQ(merged.ips[0].interface, 0);
  EXPECT_EQ(merged.ips[1].interface, 2);  // eth0 is now the third interface
  EXPECT_EQ(merged.interfaces[2].name, "eth0");
  EXPECT_EQ(merged.dns.nameservers, std::vector<std::string>{"1.1.1.1"});
}

TEST(ResultTest, ParseErrorsAreCode6) {
  for (const char* bad : {R"([])", R"({"ips": {}})", R"({"ips": [{"gateway": "1.2.3.4"}]})",
                          R"({"ips": [{"address": 5}]})", R"({"routes": [{"gw": "1.2.3.4"}]})",
                          R"({"interfaces": [3]})", R"({"dns": []})",
                          R"({"ips": [{"address": "1.2.3.4/32", "interface": "eth0"}]})"}) {
    absl::StatusOr<Result> r = ParseResult(json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(CodeOf(r.status()), Code::kDecode) << bad;
  }
}

}  // namespace
}  // namespace xvr::cni

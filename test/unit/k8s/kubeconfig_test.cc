// Kubeconfig and in-cluster configuration: the variants kubectl users have
// (token, tokenFile, CA file or data, client certificate file or data,
// insecure), and errors that name the file and the field.
#include "agent/k8s/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "absl/strings/escaping.h"
#include "test/unit/agent/temp_dir.h"

namespace xvr::k8s {
namespace {

using xvr::testing::TempDir;
using ::testing::HasSubstr;

// Not real certificates: the loader only checks that the PEM block is of the
// right type; ApiSource parses it (api_source_test covers real ones).
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

// A kubeconfig with one context "dev" → cluster "c1", user "u1", whose
// cluster and user bodies are given.
std::string Kubeconfig(const std::string& cluster_body, const std::string& user_body,
                       const std::string& current = "dev") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "contexts:\n"
         "- name: other\n"
         "  context: {cluster: c2, user: u1}\n"
         "- name: dev\n"
         "  context:\n"
         "    cluster: c1\n"
         "    user: u1\n"
         "    namespace: kube-system\n"
         "clusters:\n"
         "- name: c2\n"
         "  cluster: {server: 'http://10.0.0.2:8080'}\n"
         "- name: c1\n"
         "  cluster:\n" +
         cluster_body +
         "users:\n"
         "- name: u1\n"
         "  user:\n" +
         user_body;
}

TEST(ParseKubeconfig, TokenAndCaData) {
  absl::StatusOr<ApiServerConfig> c = ParseKubeconfig(
      Kubeconfig("    server: https://k8s.example:6443\n"
                 "    certificate-authority-data: " + B64(kCaPem) + "\n",
                 "    token: abc.def\n"),
      "/home/u/.kube/config");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://k8s.example:6443");
  EXPECT_EQ(c->ca.pem, kCaPem);
  EXPECT_EQ(c->ca.origin,
            "/home/u/.kube/config: clusters[name=c1].cluster.certificate-authority-data");
  EXPECT_EQ(c->token, "abc.def");
  EXPECT_TRUE(c->token_file.empty());
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_TRUE(c->client_cert.empty());
  EXPECT_THAT(c->origin, HasSubstr("context dev"));
}

TEST(ParseKubeconfig, FilesAreRelativeToTheKubeconfig) {
  TempDir dir;
  WriteFile(dir.Sub("ca.crt"), kCaPem);
  WriteFile(dir.Sub("client.crt"), kCertPem);
  WriteFile(dir.Sub("client.key"), kKeyPem);
  const std::string path = dir.Sub("config");
  WriteFile(path, Kubeconfig("    server: https://127.0.0.1:6443/\n"
                             "    certificate-authority: ca.crt\n"
                             "    tls-server-name: kubernetes\n",
                             "    client-certificate: client.crt\n"
                             "    client-key: " + dir.Sub("client.key") + "\n"));
  absl::StatusOr<ApiServerConfig> c = LoadKubeconfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ca.pem, kCaPem);
  EXPECT_EQ(c->ca.origin, dir.Sub("ca.crt"));
  EXPECT_EQ(c->client_cert.pem, kCertPem);
  EXPECT_EQ(c->client_key.pem, kKeyPem);
  EXPECT_EQ(c->tls_server_name, "kubernetes");
  EXPECT_TRUE(c->token.empty());
}

TEST(ParseKubeconfig, ClientCertificateDataWinsOverFile) {
  absl::StatusOr<ApiServerConfig> c = ParseKubeconfig(
      Kubeconfig("    server: https://h\n    insecure-skip-tls-verify: true\n",
                 "    client-certificate-data: " + B64(kCertPem) +
                     "\n"
                     "    client-certificate: /does/not/exist\n"
                     "    client-key-data: " + B64(kKeyPem) + "\n"),
      "kc");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  EXPECT_TRUE(c->ca.empty());
  EXPECT_EQ(c->client_cert.pem, kCertPem);
  EXPECT_EQ(c->client_key.pem, kKeyPem);
  EXPECT_EQ(c->client_key.origin, "kc: users[name=u1].user.client-key-data");
}

TEST(ParseKubeconfig, TokenFileIsReadAndWinsOverToken) {
  TempDir dir;
  WriteFile(dir.Sub("token"), "from-file\n");
  absl::StatusOr<ApiServerConfig> c = ParseKubeconfig(
      Kubeconfig("    server: http://127.0.0.1:8080\n",
                 "    token: inline\n    tokenFile: token\n"),
      dir.Sub("config"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->token, "from-file");
  EXPECT_EQ(c->token_file, dir.Sub("token"));
}

TEST(ParseKubeconfig, NamedContextOverridesCurrentContext) {
  absl::StatusOr<ApiServerConfig> c =
      ParseKubeconfig(Kubeconfig("    server: https://h\n", "    token: t\n"), "kc", "other");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "http://10.0.0.2:8080");
}

TEST(ParseKubeconfig, UserlessContextIsAnonymous) {
  absl::StatusOr<ApiServerConfig> c = ParseKubeconfig(
      "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
      "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n",
      "kc");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->token.empty());
}

struct ErrorCase {
  const char* name;
  std::string text;
  std::string context;
  std::vector<std::string> expect;  // substrings of the message
};

TEST(ParseKubeconfig, ErrorsNameFileAndField) {
  const std::string ok_cluster = "    server: https://h\n";
  const std::string ok_user = "    token: t\n";
  const std::vector<ErrorCase> cases = {
      {"no current-context",
       "contexts: []\nclusters: []\nusers: []\n",
       "",
       {"kc: current-context: not set"}},
      {"current-context names a missing context",
       Kubeconfig(ok_cluster, ok_user, "prod"),
       "",
       {"kc: current-context: \"prod\" is not in contexts"}},
      {"named context missing",
       Kubeconfig(ok_cluster, ok_user),
       "nope",
       {"\"nope\" is not in contexts"}},
      {"context without cluster",
       "current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n",
       "",
       {"kc: line 4: contexts[name=x].context.cluster: required"}},
      {"cluster missing",
       "current-context: x\ncontexts: [{name: x, context: {cluster: gone}}]\nclusters: []\n",
       "",
       {"contexts[name=x].context.cluster: \"gone\" is not in clusters"}},
      {"no server",
       Kubeconfig("    insecure-skip-tls-verify: true\n", ok_user),
       "",
       {"clusters[name=c1].cluster.server: required"}},
      {"bad server URL",
       Kubeconfig("    server: k8s.example:6443\n", ok_user),
       "",
       {"clusters[name=c1].cluster.server", "https:// or http://"}},
      {"bad base64",
       Kubeconfig(ok_cluster + "    certificate-authority-data: '***'\n", ok_user),
       "",
       {"clusters[name=c1].cluster.certificate-authority-data: not valid base64"}},
      {"CA data is not a certificate",
       Kubeconfig(ok_cluster + "    certificate-authority-data: " + B64(kKeyPem) + "\n",
                  ok_user),
       "",
       {"certificate-authority-data: does not contain a PEM certificate"}},
      {"CA file missing",
       Kubeconfig(ok_cluster + "    certificate-authority: /nonexistent/ca.crt\n", ok_user),
       "",
       {"clusters[name=c1].cluster.certificate-authority", "/nonexistent/ca.crt",
        "No such file"}},
      {"insecure with a CA",
       Kubeconfig(ok_cluster + "    insecure-skip-tls-verify: true\n"
                               "    certificate-authority-data: " + B64(kCaPem) + "\n",
                  ok_user),
       "",
       {"both set"}},
      {"insecure not a bool",
       Kubeconfig(ok_cluster + "    insecure-skip-tls-verify: maybe\n", ok_user),
       "",
       {"insecure-skip-tls-verify: must be true or false"}},
      {"cert without key",
       Kubeconfig(ok_cluster, "    client-certificate-data: " + B64(kCertPem) + "\n"),
       "",
       {"users[name=u1].user: client-certificate is set without client-key"}},
      {"key is a certificate",
       Kubeconfig(ok_cluster, "    client-certificate-data: " + B64(kCertPem) +
                                  "\n    client-key-data: " + B64(kCertPem) + "\n"),
       "",
       {"client-key-data: does not contain a PEM private key"}},
      {"exec plugin only",
       Kubeconfig(ok_cluster, "    exec: {command: aws, apiVersion: "
                              "client.authentication.k8s.io/v1beta1}\n"),
       "",
       {"users[name=u1].user.exec: credential plugins are not supported"}},
      {"basic auth",
       Kubeconfig(ok_cluster, "    username: admin\n    password: secret\n"),
       "",
       {"basic authentication"}},
      {"token file missing",
       Kubeconfig(ok_cluster, "    tokenFile: /nonexistent/token\n"),
       "",
       {"users[name=u1].user.tokenFile", "/nonexistent/token"}},
      {"not YAML", "current-context: [unterminated\n", "", {"kc: line ", "not valid YAML"}},
      {"not a mapping", "- a\n- b\n", "", {"must be a mapping"}},
      {"server not a string",
       Kubeconfig("    server: {a: 1}\n", ok_user),
       "",
       {"clusters[name=c1].cluster.server: must be a string"}},
  };
  for (const ErrorCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<ApiServerConfig> c = ParseKubeconfig(tc.text, "kc", tc.context);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    for (const std::string& want : tc.expect) {
      EXPECT_THAT(std::string(c.status().message()), HasSubstr(want));
    }
  }
}

TEST(LoadKubeconfig, MissingFileIsNamed) {
  absl::StatusOr<ApiServerConfig> c = LoadKubeconfig("/nonexistent/kubeconfig");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/kubeconfig"));
}

TEST(ParseServerUrl, Variants) {
  absl::StatusOr<ServerUrl> u = ParseServerUrl("https://k8s.example");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "k8s.example");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->base_path, "");

  u = ParseServerUrl("http://127.0.0.1:8080/");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->base_path, "");

  u = ParseServerUrl("https://[fd00::1]:6443/k8s/clusters/c-1/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "fd00::1");
  EXPECT_EQ(u->port, 6443);
  EXPECT_EQ(u->base_path, "/k8s/clusters/c-1");

  for (const char* bad : {"k8s:6443", "ftp://h", "https://", "https://h:0", "https://h:99999",
                          "https://h:x", "https://fd00::1:443", "https://[fd00::1",
                          "https://u:p@h", "https://h/?q=1"}) {
    EXPECT_FALSE(ParseServerUrl(bad).ok()) << bad;
  }
}

// ---- in-cluster ------------------------------------------------------------------

class InClusterTest : public ::testing::Test {
 protected:
  InClusterOptions Options() {
    InClusterOptions o;
    o.token_file = dir_.Sub("token");
    o.ca_file = dir_.Sub("ca.crt");
    o.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return o;
  }
  TempDir dir_;
  std::map<std::string, std::string> env_ = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                             {"KUBERNETES_SERVICE_PORT", "443"}};
};

TEST_F(InClusterTest, ReadsEnvironmentTokenAndCa) {
  WriteFile(dir_.Sub("token"), "eyJhbGciOi.token\n");
  WriteFile(dir_.Sub("ca.crt"), kCaPem);
  absl::StatusOr<ApiServerConfig> c = InClusterConfig(Options());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token, "eyJhbGciOi.token");
  EXPECT_EQ(c->token_file, dir_.Sub("token"));  // so that it is re-read as it rotates
  EXPECT_EQ(c->ca.pem, kCaPem);
  EXPECT_EQ(c->ca.origin, dir_.Sub("ca.crt"));
}

TEST_F(InClusterTest, Ipv6ServiceHostIsBracketed) {
  WriteFile(dir_.Sub("token"), "t");
  WriteFile(dir_.Sub("ca.crt"), kCaPem);
  env_["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
  absl::StatusOr<ApiServerConfig> c = InClusterConfig(Options());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "https://[fd00:10:96::1]:443");
}

TEST_F(InClusterTest, Errors) {
  env_.clear();
  absl::StatusOr<ApiServerConfig> c = InClusterConfig(Options());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("KUBERNETES_SERVICE_HOST"));

  env_ = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  c = InClusterConfig(Options());  // no files yet
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(dir_.Sub("ca.crt")));

  WriteFile(dir_.Sub("ca.crt"), kCaPem);
  c = InClusterConfig(Options());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(dir_.Sub("token")));

  WriteFile(dir_.Sub("token"), "\n");
  c = InClusterConfig(Options());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("empty"));
}

}  // namespace
}  // namespace xvr::k8s

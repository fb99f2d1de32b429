// Where the API server is and how to authenticate to it: from a kubeconfig
// file (development, `--kubeconfig`) or from the pod's service account
// (in-cluster).
//
// Only what xvr needs is read: the current context's (or a named context's)
// cluster server URL, its CA (file or base64 data) or
// insecure-skip-tls-verify, tls-server-name, and the user's bearer token
// (token or tokenFile) and/or client certificate and key (file or data).
// Credential plugins (exec, auth-provider) are rejected with an error rather
// than silently connecting anonymously.
//
// Files a kubeconfig names are read at load time, relative to the
// kubeconfig's directory as kubectl does, so a typo fails start-up with the
// file and field named. The token file is the exception that is also re-read
// later: bound service-account tokens rotate (ApiSource re-reads it).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace xvr::k8s {

inline constexpr char kServiceAccountTokenFile[] =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";
inline constexpr char kServiceAccountCaFile[] =
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

// PEM text and where it came from, so a bad certificate is reported as
// "<kubeconfig>: clusters[name=kind].cluster.certificate-authority-data: …".
struct PemData {
  std::string pem;
  std::string origin;
  bool empty() const { return pem.empty(); }
};

struct ApiServerConfig {
  std::string server;  // "https://10.96.0.1:443", "http://127.0.0.1:8080"
  std::string origin;  // for logs: "in-cluster", "kubeconfig /x (context dev)"

  // TLS (https only). An empty CA means the system's trusted CAs.
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // name to verify instead of the URL's host
  PemData ca;
  PemData client_cert;  // both or neither
  PemData client_key;

  // Bearer token. When token_file is set it wins (client-go does the same)
  // and is re-read as it rotates; `token` then holds its content at load.
  std::string token;
  std::string token_file;
};

// The parts of a server URL: scheme http or https, a host (an IPv6 literal
// in brackets), an optional port (default 80/443) and an optional path
// prefix (API servers behind a proxy, e.g. "https://rancher/k8s/clusters/c").
struct ServerUrl {
  bool https = true;
  std::string host;  // without brackets
  int port = 443;
  std::string base_path;  // "" or "/prefix", never ending in '/'
};
absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url);

// Parses kubeconfig text. `path` names the file in errors and is the base
// for relative file names. `context` selects a context; empty means
// current-context. Errors read "<path>: <field>: <problem>".
absl::StatusOr<ApiServerConfig> ParseKubeconfig(const std::string& text, const std::string& path,
                                                const std::string& context = {});
// Reads and parses the kubeconfig file at `path`.
absl::StatusOr<ApiServerConfig> LoadKubeconfig(const std::string& path,
                                               const std::string& context = {});

struct InClusterOptions {
  std::string token_file = kServiceAccountTokenFile;
  std::string ca_file = kServiceAccountCaFile;
  // Looks up an environment variable (KUBERNETES_SERVICE_HOST/_PORT); null
  // means the process environment. Tests inject a map instead of setenv(),
  // which races with other threads' getenv().
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// The service-account configuration every pod gets: the API server's
// in-cluster Service address from the environment, the mounted CA and token.
absl::StatusOr<ApiServerConfig> InClusterConfig(const InClusterOptions& options = {});

// The whole file, or an error naming `path` and the reason.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace xvr::k8s

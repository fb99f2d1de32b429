#include "agent/k8s/kubeconfig.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/common/status_macros.h"

namespace xvr::k8s {
namespace {

// ---- errors ------------------------------------------------------------------

// "<file>: line 12: users[name=admin].user.client-key-data: not valid base64".
// yaml-cpp marks are 0-based; a node without a position (absent) has none.
absl::Status FieldError(const std::string& file, const YAML::Node& at, const std::string& field,
                        absl::string_view problem) {
  std::string line;
  if (at.IsDefined() && at.Mark().line >= 0) line = absl::StrCat("line ", at.Mark().line + 1, ": ");
  return absl::InvalidArgumentError(absl::StrCat(file, ": ", line, field, ": ", problem));
}

absl::Status FieldError(const std::string& file, const std::string& field,
                        absl::string_view problem) {
  return FieldError(file, YAML::Node(YAML::NodeType::Undefined), field, problem);
}

// ---- typed access ------------------------------------------------------------

// A child of a map node; an Undefined node when `parent` is not a map or
// lacks `key`. yaml-cpp's own answer for a missing key is an invalid node on
// which Type(), IsMap() and Mark() throw, so it never leaves this function.
YAML::Node Child(const YAML::Node& parent, const char* key) {
  if (!parent.IsDefined() || !parent.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  YAML::Node n = parent[key];
  if (!n.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return n;
}

bool Present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

// A string field; "" when absent or null.
absl::StatusOr<std::string> ReadString(const std::string& file, const YAML::Node& parent,
                                       const char* key, const std::string& field) {
  const YAML::Node n = Child(parent, key);
  if (!Present(n)) return std::string();
  if (!n.IsScalar()) return FieldError(file, n, field, "must be a string");
  return n.Scalar();
}

absl::StatusOr<bool> ReadBool(const std::string& file, const YAML::Node& parent, const char* key,
                              const std::string& field) {
  const YAML::Node n = Child(parent, key);
  if (!Present(n)) return false;
  if (n.IsScalar()) {
    const std::string v = absl::AsciiStrToLower(n.Scalar());
    if (v == "true") return true;
    if (v == "false") return false;
  }
  return FieldError(file, n, field, "must be true or false");
}

// Finds the entry named `name` in a kubeconfig list (clusters, contexts,
// users: [{name: …, <body_key>: {…}}]) and returns its body.
absl::StatusOr<YAML::Node> FindNamed(const std::string& file, const YAML::Node& root,
                                     const char* list_key, const char* body_key,
                                     const std::string& name, const std::string& referrer) {
  const YAML::Node list = Child(root, list_key);
  if (Present(list) && !list.IsSequence()) {
    return FieldError(file, list, list_key, "must be a list");
  }
  if (Present(list)) {
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node entry = list[i];
      const YAML::Node n = Child(entry, "name");
      if (!n.IsScalar() || n.Scalar() != name) continue;
      const YAML::Node body = Child(entry, body_key);
      const std::string field = absl::StrCat(list_key, "[name=", name, "].", body_key);
      if (!Present(body)) return FieldError(file, entry, field, "required");
      if (!body.IsMap()) return FieldError(file, body, field, "must be a mapping");
      return body;
    }
  }
  return FieldError(file, referrer,
                    absl::StrCat("\"", name, "\" is not in ", list_key));
}

std::string RemoveWhitespace(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

// What a PEM block of `what` must contain, checked here so a pasted
// certificate in the key field fails at load with the field named; ApiSource
// parses the PEM itself later.
absl::Status CheckPem(const std::string& pem, absl::string_view what, absl::string_view marker) {
  if (!absl::StrContains(pem, "-----BEGIN ") || !absl::StrContains(pem, marker)) {
    return absl::InvalidArgumentError(absl::StrCat("does not contain a PEM ", what));
  }
  return absl::OkStatus();
}

// A PEM given inline (`<key>-data`, base64) or as a file (`<key>`); data
// wins, as in client-go. Relative file names are relative to the
// kubeconfig's directory.
absl::StatusOr<PemData> ReadPem(const std::string& file, const YAML::Node& body,
                                const std::string& field_base, const std::string& key,
                                absl::string_view what, absl::string_view marker) {
  const std::string data_key = key + "-data";
  const std::string data_field = absl::StrCat(field_base, ".", data_key);
  const std::string file_field = absl::StrCat(field_base, ".", key);
  ASSIGN_OR_RETURN(std::string data, ReadString(file, body, data_key.c_str(), data_field));
  PemData out;
  if (!data.empty()) {
    if (!absl::Base64Unescape(RemoveWhitespace(data), &out.pem)) {
      return FieldError(file, Child(body, data_key.c_str()), data_field, "not valid base64");
    }
    if (absl::Status st = CheckPem(out.pem, what, marker); !st.ok()) {
      return FieldError(file, Child(body, data_key.c_str()), data_field, st.message());
    }
    out.origin = absl::StrCat(file, ": ", data_field);
    return out;
  }
  ASSIGN_OR_RETURN(std::string name, ReadString(file, body, key.c_str(), file_field));
  if (name.empty()) return out;
  std::filesystem::path p(name);
  if (p.is_relative()) p = std::filesystem::path(file).parent_path() / p;
  absl::StatusOr<std::string> text = ReadFileToString(p.string());
  if (!text.ok()) {
    return FieldError(file, Child(body, key.c_str()), file_field, text.status().message());
  }
  if (absl::Status st = CheckPem(*text, what, marker); !st.ok()) {
    return FieldError(file, Child(body, key.c_str()), file_field,
                      absl::StrCat(p.string(), " ", st.message()));
  }
  out.pem = *std::move(text);
  out.origin = p.string();
  return out;
}

// A token file's content without the trailing newline editors and
// `kubectl create token > f` leave.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  ASSIGN_OR_RETURN(std::string token, ReadFileToString(path));
  token = std::string(absl::StripAsciiWhitespace(token));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": token file is empty"));
  return token;
}

std::string JoinHostPort(absl::string_view host, absl::string_view port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot read ", path));
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("server URL \"", std::string(url), "\": ", why));
  };
  ServerUrl out;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    out.https = true;
    out.port = 443;
  } else if (absl::ConsumePrefix(&rest, "http://")) {
    out.https = false;
    out.port = 80;
  } else {
    return bad("must start with https:// or http://");
  }
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    absl::string_view path = rest.substr(slash);
    if (absl::StrContains(path, '?') || absl::StrContains(path, '#')) {
      return bad("must not have a query or fragment");
    }
    while (absl::ConsumeSuffix(&path, "/")) {
    }
    out.base_path = std::string(path);
  }
  if (absl::StrContains(authority, '@')) return bad("user info is not supported");
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated [IPv6 address]");
    out.host = std::string(authority.substr(0, close));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) return bad("junk after ]");
    port = after;
  } else {
    const size_t colon = authority.find(':');
    if (colon != absl::string_view::npos && authority.find(':', colon + 1) != absl::string_view::npos) {
      return bad("an IPv6 address must be in brackets");
    }
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (!port.empty()) {
    int p = 0;
    if (!absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) return bad("invalid port");
    out.port = p;
  }
  return out;
}

absl::StatusOr<ApiServerConfig> ParseKubeconfig(const std::string& text, const std::string& path,
                                                const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // Third-party exceptions stop here; the mark says where.
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", e.mark.is_null() ? "" : absl::StrCat("line ", e.mark.line + 1, ": "),
        "not valid YAML: ", e.msg));
  }
  if (!root.IsMap()) return FieldError(path, "(document)", "must be a mapping (a kubeconfig)");

  // ---- context -------------------------------------------------------------
  std::string context_name = context;
  std::string context_ref = "context";  // how errors name the reference
  if (context_name.empty()) {
    ASSIGN_OR_RETURN(context_name, ReadString(path, root, "current-context", "current-context"));
    if (context_name.empty()) {
      return FieldError(path, "current-context",
                        "not set; set it (kubectl config use-context) or name a context");
    }
    context_ref = "current-context";
  }
  ASSIGN_OR_RETURN(YAML::Node ctx,
                   FindNamed(path, root, "contexts", "context", context_name, context_ref));
  const std::string ctx_field = absl::StrCat("contexts[name=", context_name, "].context");
  ASSIGN_OR_RETURN(std::string cluster_name,
                   ReadString(path, ctx, "cluster", ctx_field + ".cluster"));
  if (cluster_name.empty()) return FieldError(path, ctx, ctx_field + ".cluster", "required");
  ASSIGN_OR_RETURN(std::string user_name, ReadString(path, ctx, "user", ctx_field + ".user"));

  ApiServerConfig cfg;
  cfg.origin = absl::StrCat("kubeconfig ", path, " (context ", context_name, ")");

  // ---- cluster -------------------------------------------------------------
  ASSIGN_OR_RETURN(YAML::Node cluster, FindNamed(path, root, "clusters", "cluster", cluster_name,
                                                 ctx_field + ".cluster"));
  const std::string cl_field = absl::StrCat("clusters[name=", cluster_name, "].cluster");
  ASSIGN_OR_RETURN(cfg.server, ReadString(path, cluster, "server", cl_field + ".server"));
  if (cfg.server.empty()) return FieldError(path, cluster, cl_field + ".server", "required");
  if (absl::StatusOr<ServerUrl> u = ParseServerUrl(cfg.server); !u.ok()) {
    return FieldError(path, Child(cluster, "server"), cl_field + ".server", u.status().message());
  }
  ASSIGN_OR_RETURN(cfg.insecure_skip_tls_verify,
                   ReadBool(path, cluster, "insecure-skip-tls-verify",
                            cl_field + ".insecure-skip-tls-verify"));
  ASSIGN_OR_RETURN(cfg.tls_server_name,
                   ReadString(path, cluster, "tls-server-name", cl_field + ".tls-server-name"));
  ASSIGN_OR_RETURN(cfg.ca, ReadPem(path, cluster, cl_field, "certificate-authority",
                                   "certificate", "CERTIFICATE-----"));
  if (cfg.insecure_skip_tls_verify && !cfg.ca.empty()) {
    // client-go refuses this too: which of the two did the user mean?
    return FieldError(path, cluster, cl_field,
                      "certificate-authority and insecure-skip-tls-verify are both set");
  }

  // ---- user ----------------------------------------------------------------
  // A context without a user connects anonymously, as kubectl does.
  if (!user_name.empty()) {
    ASSIGN_OR_RETURN(YAML::Node user,
                     FindNamed(path, root, "users", "user", user_name, ctx_field + ".user"));
    const std::string u_field = absl::StrCat("users[name=", user_name, "].user");
    ASSIGN_OR_RETURN(cfg.token, ReadString(path, user, "token", u_field + ".token"));
    ASSIGN_OR_RETURN(std::string token_file,
                     ReadString(path, user, "tokenFile", u_field + ".tokenFile"));
    if (!token_file.empty()) {
      std::filesystem::path p(token_file);
      if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
      cfg.token_file = p.string();
      absl::StatusOr<std::string> t = ReadToken(cfg.token_file);
      if (!t.ok()) {
        return FieldError(path, Child(user, "tokenFile"), u_field + ".tokenFile",
                          t.status().message());
      }
      cfg.token = *std::move(t);
    }
    ASSIGN_OR_RETURN(cfg.client_cert, ReadPem(path, user, u_field, "client-certificate",
                                              "certificate", "CERTIFICATE-----"));
    ASSIGN_OR_RETURN(cfg.client_key, ReadPem(path, user, u_field, "client-key", "private key",
                                             "PRIVATE KEY-----"));
    if (cfg.client_cert.empty() != cfg.client_key.empty()) {
      return FieldError(path, user, u_field,
                        cfg.client_cert.empty()
                            ? "client-key is set without client-certificate"
                            : "client-certificate is set without client-key");
    }
    const bool has_credential = !cfg.token.empty() || !cfg.client_cert.empty();
    for (const char* plugin : {"exec", "auth-provider"}) {
      if (Present(Child(user, plugin)) && !has_credential) {
        return FieldError(path, Child(user, plugin), absl::StrCat(u_field, ".", plugin),
                          "credential plugins are not supported; use token, tokenFile or "
                          "client-certificate/client-key");
      }
    }
    if (Present(Child(user, "username")) || Present(Child(user, "password"))) {
      return FieldError(path, user, u_field,
                        "basic authentication (username/password) is not supported");
    }
  }
  return cfg;
}

absl::StatusOr<ApiServerConfig> LoadKubeconfig(const std::string& path,
                                               const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseKubeconfig(text, path, context);
}

absl::StatusOr<ApiServerConfig> InClusterConfig(const InClusterOptions& options) {
  auto getenv = [&](const std::string& name) -> std::optional<std::string> {
    if (options.getenv) return options.getenv(name);
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  const std::optional<std::string> host = getenv("KUBERNETES_SERVICE_HOST");
  const std::optional<std::string> port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(not running in a pod? use --kubeconfig)");
  }
  ApiServerConfig cfg;
  cfg.origin = "in-cluster service account";
  cfg.server = absl::StrCat("https://", JoinHostPort(*host, *port));
  if (absl::StatusOr<ServerUrl> u = ParseServerUrl(cfg.server); !u.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("in-cluster config: KUBERNETES_SERVICE_HOST/PORT: ", u.status().message()));
  }
  absl::StatusOr<std::string> ca = ReadFileToString(options.ca_file);
  if (!ca.ok()) return absl::Status(ca.status().code(), absl::StrCat("in-cluster config: ", ca.status().message()));
  if (absl::Status st = CheckPem(*ca, "certificate", "CERTIFICATE-----"); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("in-cluster config: ", options.ca_file, " ", st.message()));
  }
  cfg.ca = {*std::move(ca), options.ca_file};
  cfg.token_file = options.token_file;
  absl::StatusOr<std::string> token = ReadToken(cfg.token_file);
  if (!token.ok()) {
    return absl::Status(token.status().code(),
                        absl::StrCat("in-cluster config: ", token.status().message()));
  }
  cfg.token = *std::move(token);
  return cfg;
}

}  // namespace xvr::k8s

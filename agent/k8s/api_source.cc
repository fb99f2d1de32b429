#include "agent/k8s/api_source.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "agent/common/status_macros.h"

namespace xvr::k8s {

using json = nlohmann::json;

const char* KindCollectionPath(Kind kind) {
  switch (kind) {
    case Kind::kNode:
      return "/api/v1/nodes";
    case Kind::kNamespace:
      return "/api/v1/namespaces";
    case Kind::kPod:
      return "/api/v1/pods";
    case Kind::kService:
      return "/api/v1/services";
    case Kind::kEndpointSlice:
      return "/apis/discovery.k8s.io/v1/endpointslices";
    case Kind::kNetworkPolicy:
      return "/apis/networking.k8s.io/v1/networkpolicies";
  }
  return "";
}

namespace {

// An event is one line; Kubernetes caps objects near 1.5 MiB, so a "line"
// far past that is a stream we cannot parse, not an object.
constexpr size_t kMaxEventBytes = 16u << 20;
// An error body is only read for its message.
constexpr size_t kMaxErrorBodyBytes = 64u << 10;
// A watch that ends this soon without an event is treated as a failure so a
// proxy that answers every watch with an empty 200 cannot make us spin
// (client-go's "very short watch").
constexpr absl::Duration kMinHealthyWatch = absl::Seconds(1);

// ---- OpenSSL ownership ---------------------------------------------------------

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The newest OpenSSL error on this thread's queue, which is then cleared.
std::string OpenSslError() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const PemData& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.pem.data(), static_cast<int>(pem.pem.size())));
  std::vector<X509Ptr> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  // Reading stops with "no start line" at the end of the input; anything
  // else means a damaged block.
  const unsigned long err = ERR_peek_last_error();
  if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem.origin, ": bad PEM certificate: ", OpenSslError()));
  }
  ERR_clear_error();
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(pem.origin, ": no PEM certificate found"));
  }
  return out;
}

absl::StatusOr<PkeyPtr> ParsePrivateKey(const PemData& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.pem.data(), static_cast<int>(pem.pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem.origin, ": bad PEM private key: ", OpenSslError()));
  }
  return key;
}

// The certificate error OpenSSL found during this thread's last handshake;
// httplib only reports "SSL connection failed".
thread_local std::string tls_verify_error;

int RecordVerifyError(int ok, X509_STORE_CTX* ctx) {
  if (!ok) {
    tls_verify_error =
        absl::StrCat("certificate verify failed: ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)), " (depth ",
                     X509_STORE_CTX_get_error_depth(ctx), ")");
  }
  return ok;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// ---- Backoff -------------------------------------------------------------------

class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max) {}

  absl::Duration Next() {
    absl::Duration d = initial_;
    for (int i = 0; i < attempt_ && d < max_; ++i) d *= 2;
    ++attempt_;
    d = std::min(d, max_) * absl::Uniform(gen_, 0.8, 1.2);
    return std::min(d, max_);
  }
  void Reset() { attempt_ = 0; }

 private:
  const absl::Duration initial_;
  const absl::Duration max_;
  int attempt_ = 0;
  absl::BitGen gen_;
};

// ---- Interrupting a request from another thread -----------------------------------

// httplib has no way to cancel a request that is blocked in connect() or
// read(), and its stop() takes a lock held through connect and the TLS
// handshake. So httplib hands us every socket it makes (set_socket_options)
// and we keep a dup() of it: shutdown() on the dup interrupts whatever the
// request thread is blocked in, at any stage, and since the dup is ours it
// cannot be a reused descriptor of some unrelated socket.
class SocketInterrupter {
 public:
  ~SocketInterrupter() { Release(); }

  void OnSocket(int sock) {
    std::lock_guard<std::mutex> l(mu_);
    CloseLocked();
    if (interrupted_) {
      // Stop() came between our check and the socket: fail it now.
      ::shutdown(sock, SHUT_RDWR);
      return;
    }
    dup_ = ::fcntl(sock, F_DUPFD_CLOEXEC, 0);
  }
  // After the request returned (httplib has closed its descriptor).
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    CloseLocked();
  }
  // Permanent: every later socket is shut down as soon as it is made.
  void Interrupt() {
    std::lock_guard<std::mutex> l(mu_);
    interrupted_ = true;
    if (dup_ >= 0) ::shutdown(dup_, SHUT_RDWR);
  }

 private:
  void CloseLocked() {
    if (dup_ >= 0) ::close(dup_);
    dup_ = -1;
  }
  std::mutex mu_;
  int dup_ = -1;
  bool interrupted_ = false;
};

// ---- Bearer token ----------------------------------------------------------------

// A static token, or a token file re-read every `interval` and after a 401:
// projected service-account tokens are rotated by the kubelet (hourly by
// default) and the old one stops working.
class TokenSource {
 public:
  TokenSource(std::string token, std::string file, absl::Duration interval)
      : token_(std::move(token)), file_(std::move(file)), interval_(interval),
        read_at_(absl::Now()) {}

  std::string Get() {
    absl::MutexLock l(&mu_);
    if (!file_.empty() && (stale_ || absl::Now() - read_at_ >= interval_)) {
      absl::StatusOr<std::string> t = ReadFileToString(file_);
      read_at_ = absl::Now();
      stale_ = false;
      std::string token = t.ok() ? std::string(absl::StripAsciiWhitespace(*t)) : std::string();
      if (token.empty()) {
        spdlog::warn("k8s api: cannot re-read token file {}: {}; keeping the previous token",
                     file_, t.ok() ? std::string("file is empty") : std::string(t.status().message()));
      } else if (token != token_) {
        spdlog::info("k8s api: token file {} changed; using the new token", file_);
        token_ = std::move(token);
      }
    }
    return token_;
  }
  // The server rejected the token: read the file again before the next request.
  void Invalidate() {
    absl::MutexLock l(&mu_);
    stale_ = true;
  }

 private:
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  const std::string file_;
  const absl::Duration interval_;
  absl::Time read_at_ ABSL_GUARDED_BY(mu_);
  bool stale_ ABSL_GUARDED_BY(mu_) = false;
};

// ---- HTTP -------------------------------------------------------------------------

std::string TransportError(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "read failed (connection closed, reset or idle too long)";
    case httplib::Error::Write:
      return "write failed";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::Compression:
      return "cannot decompress the response";
    default:
      return absl::StrCat("HTTP client error ", httplib::to_string(e));
  }
}

struct HttpResponse {
  httplib::Error error = httplib::Error::Success;  // transport; Canceled when we stopped reading
  int status = 0;                                  // 0: no response headers
  std::string body;  // the body, unless streamed to on_data (errors: the first 64 KiB)
  std::string retry_after;
  std::string tls_error;  // certificate problem found in the handshake, if any

  bool transport_ok() const { return error == httplib::Error::Success; }
  // "cannot connect", "HTTP 503: etcdserver: leader changed".
  std::string Describe() const {
    if (!transport_ok()) {
      std::string s = TransportError(error);
      if (!tls_error.empty()) absl::StrAppend(&s, ": ", tls_error);
      return s;
    }
    std::string msg;
    // Kubernetes answers errors with a Status object; its message is the
    // useful part ("pods is forbidden: User … cannot list …").
    json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      msg = j["message"].get<std::string>();
    } else {
      msg = body.substr(0, 200);
    }
    return msg.empty() ? absl::StrCat("HTTP ", status) : absl::StrCat("HTTP ", status, ": ", msg);
  }
};

enum class Outcome {
  kListed,      // list applied; watch next
  kWatchEnded,  // the server ended a healthy watch; watch again now
  kRetry,       // transient failure; back off, then resume (or list again)
  kRelist,      // 410 or a stream we cannot trust; back off, then list
  kStopped,
};

}  // namespace

// ---- ApiSource::Impl ---------------------------------------------------------------

class ApiSource::Impl {
 public:
  struct KindState {
    Kind kind;
    std::thread thread;
    SocketInterrupter interrupter;
  };

  Impl(ApiServerConfig config, ServerUrl url, ClusterState* state, ApiSourceOptions options)
      : config_(std::move(config)),
        url_(std::move(url)),
        state_(state),
        options_(std::move(options)),
        token_(config_.token, config_.token_file, options_.token_reload_interval) {
    std::set<Kind> seen;
    for (Kind k : options_.kinds) {
      if (!seen.insert(k).second) continue;
      auto ks = std::make_unique<KindState>();
      ks->kind = k;
      kinds_.push_back(std::move(ks));
      stats_.kinds[static_cast<size_t>(k)].watched = true;
    }
  }

  ~Impl() { Stop(); }

  absl::Status LoadTls() {
    if (!url_.https) return absl::OkStatus();
    if (!config_.ca.empty()) {
      ASSIGN_OR_RETURN(ca_, ParseCertificates(config_.ca));
    }
    if (!config_.client_cert.empty()) {
      ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ParseCertificates(config_.client_cert));
      ASSIGN_OR_RETURN(client_key_, ParsePrivateKey(config_.client_key));
      if (X509_check_private_key(chain[0].get(), client_key_.get()) != 1) {
        ERR_clear_error();
        return absl::InvalidArgumentError(absl::StrCat(
            config_.client_key.origin, ": does not match the client certificate from ",
            config_.client_cert.origin));
      }
      client_cert_ = std::move(chain[0]);
      for (size_t i = 1; i < chain.size(); ++i) client_chain_.push_back(std::move(chain[i]));
    }
    return absl::OkStatus();
  }

  absl::Status Start() {
    absl::MutexLock l(&stop_mu_);
    if (started_ || stopping_) {
      return absl::FailedPreconditionError("ApiSource already started or stopped");
    }
    started_ = true;
    spdlog::info("k8s api: watching {} at {}{}", KindList(), config_.server,
                 config_.origin.empty() ? std::string() : absl::StrCat(" (", config_.origin, ")"));
    for (auto& ks : kinds_) {
      KindState* k = ks.get();
      k->thread = std::thread([this, k] { Run(k); });
    }
    return absl::OkStatus();
  }

  void Stop() {
    {
      absl::MutexLock l(&stop_mu_);
      if (stopping_) return;
      stopping_ = true;
      stop_flag_.store(true);
    }
    for (auto& ks : kinds_) ks->interrupter.Interrupt();
    oneoff_.interrupter.Interrupt();
    for (auto& ks : kinds_) {
      if (ks->thread.joinable()) ks->thread.join();
    }
    // Wake WaitForSync(): its condition reads stop_flag_, and absl::Mutex
    // re-evaluates conditions when the mutex is released.
    absl::MutexLock l(&stats_mu_);
  }

  bool Synced() const {
    absl::MutexLock l(&stats_mu_);
    return SyncedLocked();
  }

  absl::Status WaitForSync(absl::Duration timeout) const {
    absl::MutexLock l(&stats_mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mu_) {
      return SyncedLocked() || stop_flag_.load();
    };
    stats_mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    if (SyncedLocked()) return absl::OkStatus();
    std::vector<std::string> missing;
    for (const auto& ks : kinds_) {
      const KindStats& s = stats_.kinds[static_cast<size_t>(ks->kind)];
      if (s.synced) continue;
      missing.push_back(s.last_error.empty()
                            ? std::string(KindName(ks->kind))
                            : absl::StrCat(KindName(ks->kind), " (", s.last_error, ")"));
    }
    const std::string what =
        absl::StrCat("API server ", config_.server, ": not synced: ", absl::StrJoin(missing, "; "));
    if (stop_flag_.load()) return absl::CancelledError(absl::StrCat("stopped; ", what));
    return absl::DeadlineExceededError(
        absl::StrCat("waited ", absl::FormatDuration(timeout), "; ", what));
  }

  ApiSourceStats stats() const {
    absl::MutexLock l(&stats_mu_);
    return stats_;
  }

  const ApiServerConfig& config() const { return config_; }

  absl::StatusOr<std::string> GetJson(const std::string& path, absl::Duration timeout) {
    std::lock_guard<std::mutex> l(oneoff_mu_);
    if (Stopping()) return absl::CancelledError("stopped");
    HttpResponse r = Get(&oneoff_, path, {}, timeout, /*gzip=*/false, nullptr, nullptr);
    const std::string what = absl::StrCat("GET ", path, ": ", r.Describe());
    if (!r.transport_ok()) return absl::UnavailableError(what);
    switch (r.status) {
      case 200:
        return std::move(r.body);
      case 404:
        return absl::NotFoundError(what);
      case 401:
        token_.Invalidate();
        return absl::UnauthenticatedError(what);
      case 403:
        return absl::PermissionDeniedError(what);
      default:
        return absl::UnavailableError(what);
    }
  }

 private:
  std::string KindList() const {
    std::vector<std::string> names;
    for (const auto& ks : kinds_) names.push_back(KindName(ks->kind));
    return absl::StrJoin(names, ", ");
  }

  bool SyncedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mu_) {
    for (const auto& ks : kinds_) {
      if (!stats_.kinds[static_cast<size_t>(ks->kind)].synced) return false;
    }
    return true;
  }

  bool Stopping() const { return stop_flag_.load(std::memory_order_relaxed); }

  // Sleeps `d` unless stopped first; returns false when stopped.
  bool Sleep(absl::Duration d) {
    absl::MutexLock l(&stop_mu_);
    stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
    return !stopping_;
  }

  template <typename F>
  void UpdateStats(Kind kind, F f) {
    absl::MutexLock l(&stats_mu_);
    f(stats_.kinds[static_cast<size_t>(kind)]);
  }

  // Counts a failure that leads to a retry or relist. Logged as a warning
  // when it differs from the previous error of the kind, so a long outage
  // is one line per kind rather than one per retry.
  void RecordError(Kind kind, const std::string& msg) {
    bool repeated = false;
    UpdateStats(kind, [&](KindStats& s) {
      ++s.errors;
      repeated = s.last_error == msg;
      s.last_error = msg;
    });
    if (repeated) {
      spdlog::debug("k8s api: {}: {}", KindName(kind), msg);
    } else {
      spdlog::warn("k8s api: {}: {}", KindName(kind), msg);
    }
  }

  // ---- HTTP ----

  std::unique_ptr<httplib::ClientImpl> NewClient() {
    if (!url_.https) return std::make_unique<httplib::ClientImpl>(url_.host, url_.port);
    auto cli = std::make_unique<httplib::SSLClient>(url_.host, url_.port, client_cert_.get(),
                                                    client_key_.get());
    // httplib's own check cannot match a certificate's IP address SAN to an
    // IP host (the in-cluster case), so OpenSSL verifies chain and name
    // during the handshake instead.
    cli->enable_server_certificate_verification(false);
    SSL_CTX* ctx = cli->ssl_context();
    if (ctx == nullptr) return cli;  // is_valid() is false; the request fails
    for (const X509Ptr& c : client_chain_) SSL_CTX_add1_chain_cert(ctx, c.get());
    if (config_.insecure_skip_tls_verify) return cli;
    if (!ca_.empty()) {
      // A fresh store per context: SSL_CTX_set_cert_store takes ownership.
      X509_STORE* store = X509_STORE_new();
      for (const X509Ptr& c : ca_) X509_STORE_add_cert(store, c.get());
      SSL_CTX_set_cert_store(ctx, store);
    } else {
      SSL_CTX_set_default_verify_paths(ctx);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, RecordVerifyError);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    const std::string& name = config_.tls_server_name.empty() ? url_.host : config_.tls_server_name;
    if (IsIpLiteral(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
    return cli;
  }

  // GET `path` with `params`. A 200 body goes to `on_data` chunk by chunk
  // when given (return false to stop reading), else into the response.
  HttpResponse Get(KindState* ks, const std::string& path, const httplib::Params& params,
                   absl::Duration read_timeout, bool gzip,
                   const std::function<void(int)>& on_status,
                   const std::function<bool(const char*, size_t)>& on_data) {
    HttpResponse out;
    std::unique_ptr<httplib::ClientImpl> cli = NewClient();
    cli->set_keep_alive(false);
    cli->set_follow_location(false);
    cli->set_connection_timeout(absl::ToChronoMicroseconds(options_.connect_timeout));
    cli->set_read_timeout(absl::ToChronoMicroseconds(read_timeout));
    cli->set_write_timeout(absl::ToChronoMicroseconds(options_.connect_timeout));
    SocketInterrupter* intr = &ks->interrupter;
    cli->set_socket_options([intr](socket_t sock) { intr->OnSocket(sock); });

    httplib::Headers headers = {
        {"User-Agent", options_.user_agent},
        {"Accept", "application/json"},
    };
    // Lists of every pod are large and compress well; watch streams must
    // not be compressed, or events would wait in the compressor.
    if (gzip) headers.emplace("Accept-Encoding", "gzip");
    if (std::string token = token_.Get(); !token.empty()) {
      headers.emplace("Authorization", absl::StrCat("Bearer ", token));
    }
    tls_verify_error.clear();
    httplib::Result res = cli->Get(
        url_.base_path + path, params, headers,
        [&](const httplib::Response& r) {
          out.status = r.status;
          out.retry_after = r.get_header_value("Retry-After");
          if (on_status) on_status(r.status);
          return !Stopping();
        },
        [&](const char* data, size_t n) {
          if (Stopping()) return false;
          if (out.status == 200 && on_data) return on_data(data, n);
          if (out.status == 200 || out.body.size() < kMaxErrorBodyBytes) out.body.append(data, n);
          return true;
        });
    ks->interrupter.Release();
    if (!res) {
      out.error = res.error();
      out.tls_error = tls_verify_error;
      if (out.error == httplib::Error::SSLConnection && out.tls_error.empty()) {
        out.tls_error = OpenSslError();
      }
    }
    ERR_clear_error();
    return out;
  }

  // The delay after a failed request: the backoff, or the server's
  // Retry-After (429, 503) when longer, capped at max_backoff.
  absl::Duration RetryDelay(Backoff& backoff, const HttpResponse& r) {
    absl::Duration d = backoff.Next();
    int64_t secs = 0;
    if (!r.retry_after.empty() && absl::SimpleAtoi(r.retry_after, &secs) && secs > 0) {
      d = std::max(d, std::min(absl::Seconds(secs), options_.max_backoff));
    }
    return d;
  }

  // ---- the loop ----

  void Run(KindState* ks) {
    Backoff backoff(options_.initial_backoff, options_.max_backoff);
    std::string rv;  // where the next watch starts; "" = list first
    HttpResponse last;
    while (!Stopping()) {
      Outcome o = rv.empty() ? List(ks, &rv, &last) : Watch(ks, &rv, &backoff, &last);
      switch (o) {
        case Outcome::kListed:
        case Outcome::kWatchEnded:
          break;
        case Outcome::kRelist:
          rv.clear();
          UpdateStats(ks->kind, [](KindStats& s) { s.resource_version.clear(); });
          [[fallthrough]];
        case Outcome::kRetry:
          if (!Sleep(RetryDelay(backoff, last))) return;
          break;
        case Outcome::kStopped:
          return;
      }
    }
  }

  httplib::Params BaseParams(Kind kind) const {
    httplib::Params p;
    if (kind == Kind::kPod && !options_.pod_field_selector.empty()) {
      p.emplace("fieldSelector", options_.pod_field_selector);
    }
    return p;
  }

  // LIST every page, then ReplaceAll. Always a consistent read from etcd (no
  // resourceVersion=0): after a 410 the state must become the server's.
  Outcome List(KindState* ks, std::string* rv_out, HttpResponse* last) {
    const Kind kind = ks->kind;
    const char* name = KindName(kind);
    std::vector<Object> objects;
    std::string cont;
    std::string rv;
    size_t bad = 0;
    int page = 0;
    do {
      httplib::Params params = BaseParams(kind);
      if (options_.page_size > 0) params.emplace("limit", std::to_string(options_.page_size));
      if (!cont.empty()) params.emplace("continue", cont);
      *last = Get(ks, KindCollectionPath(kind), params, options_.request_timeout, /*gzip=*/true,
                  nullptr, nullptr);
      const HttpResponse& r = *last;
      if (Stopping()) return Outcome::kStopped;
      if (!r.transport_ok() || r.status != 200) {
        if (r.status == 401) token_.Invalidate();
        if (r.status == 410) {
          // The continue token outlived the snapshot it points into.
          UpdateStats(kind, [](KindStats& s) { ++s.gone; });
          RecordError(kind, absl::StrCat("list: page ", page + 1, " expired (", r.Describe(),
                                         "); listing again from the start"));
        } else {
          RecordError(kind, absl::StrCat("list: ", r.Describe()));
        }
        return Outcome::kRetry;
      }
      ++page;
      UpdateStats(kind, [](KindStats& s) { ++s.list_pages; });
      const json j = json::parse(r.body, nullptr, false);
      if (!j.is_object()) {
        RecordError(kind, "list: response is not a JSON object");
        return Outcome::kRetry;
      }
      const json* items = j.contains("items") ? &j["items"] : nullptr;
      if (items != nullptr && !items->is_null() && !items->is_array()) {
        RecordError(kind, "list: items: not an array");
        return Outcome::kRetry;
      }
      const json* md = j.contains("metadata") ? &j["metadata"] : nullptr;
      if (md == nullptr || !md->is_object() || !md->contains("resourceVersion") ||
          !(*md)["resourceVersion"].is_string() ||
          (*md)["resourceVersion"].get_ref<const std::string&>().empty()) {
        RecordError(kind, "list: metadata.resourceVersion: missing");
        return Outcome::kRetry;
      }
      rv = (*md)["resourceVersion"].get<std::string>();
      cont.clear();
      if (md->contains("continue") && (*md)["continue"].is_string()) {
        cont = (*md)["continue"].get<std::string>();
      }
      if (items != nullptr && items->is_array()) {
        for (size_t i = 0; i < items->size(); ++i) {
          absl::StatusOr<Object> o = ParseObject(kind, (*items)[i], absl::StrCat("items[", i, "]"));
          if (o.ok()) {
            objects.push_back(*std::move(o));
            continue;
          }
          // One broken object must not hide all the others; it is left out
          // (so it is absent from the state) and counted.
          ++bad;
          const std::string msg = absl::StrCat("list page ", page, ": skipped ",
                                               ItemName((*items)[i]), ": ", o.status().message());
          spdlog::error("k8s api: {}: {}", name, msg);
          UpdateStats(kind, [&](KindStats& s) {
            ++s.bad_objects;
            s.last_error = msg;
          });
        }
      }
    } while (!cont.empty());

    const size_t count = objects.size();
    absl::StatusOr<size_t> changes = state_->ReplaceAll(kind, std::move(objects));
    if (!changes.ok()) {
      // ParseObject(kind) only yields objects of `kind`; cannot happen.
      RecordError(kind, absl::StrCat("list: ", changes.status().message()));
      return Outcome::kRetry;
    }
    bool first = false;
    UpdateStats(kind, [&](KindStats& s) {
      first = !s.synced;
      if (s.lists > 0) ++s.relists;
      ++s.lists;
      s.synced = true;
      s.resource_version = rv;
    });
    spdlog::info("k8s api: {}: {} {} objects ({} changes{}) at resourceVersion {}", name,
                 first ? "synced" : "relisted", count, *changes,
                 bad > 0 ? absl::StrCat(", ", bad, " skipped") : std::string(), rv);
    *rv_out = rv;
    return Outcome::kListed;
  }

  // "Pod default/web-1" for log lines about an item that did not parse.
  static std::string ItemName(const json& item) {
    if (!item.is_object() || !item.contains("metadata") || !item["metadata"].is_object()) {
      return "an item without metadata";
    }
    const json& md = item["metadata"];
    std::string ns, n;
    if (md.contains("namespace") && md["namespace"].is_string()) ns = md["namespace"];
    if (md.contains("name") && md["name"].is_string()) n = md["name"];
    if (n.empty()) return "an item without a name";
    return ns.empty() ? n : absl::StrCat(ns, "/", n);
  }

  // What one line of a watch stream means for the loop.
  enum class LineResult { kContinue, kGone, kError, kGarbage };

  // WATCH from *rv until the server ends it or something goes wrong.
  Outcome Watch(KindState* ks, std::string* rv, Backoff* backoff, HttpResponse* last) {
    const Kind kind = ks->kind;
    httplib::Params params = BaseParams(kind);
    params.emplace("watch", "1");
    params.emplace("resourceVersion", *rv);
    params.emplace("allowWatchBookmarks", "true");
    params.emplace("timeoutSeconds",
                   std::to_string(std::max<int64_t>(1, absl::ToInt64Seconds(options_.watch_timeout))));

    std::string buf;
    LineResult end = LineResult::kContinue;
    std::string end_msg;
    uint64_t events = 0;
    auto handle = [&](absl::string_view line) {
      end = HandleLine(kind, line, rv, &end_msg);
      if (end == LineResult::kContinue && !absl::StripAsciiWhitespace(line).empty()) {
        if (events++ == 0) backoff->Reset();  // the watch works again
      }
      return end == LineResult::kContinue;
    };
    const absl::Time start = absl::Now();
    *last = Get(
        ks, KindCollectionPath(kind), params, options_.watch_timeout + options_.watch_idle_slack,
        /*gzip=*/false,
        [&](int status) {
          if (status == 200) UpdateStats(kind, [](KindStats& s) { ++s.watches; });
        },
        [&](const char* data, size_t n) {
          buf.append(data, n);
          size_t begin = 0;
          for (size_t nl; (nl = buf.find('\n', begin)) != std::string::npos; begin = nl + 1) {
            if (!handle(absl::string_view(buf).substr(begin, nl - begin))) return false;
          }
          buf.erase(0, begin);
          if (buf.size() > kMaxEventBytes) {
            end = LineResult::kGarbage;
            end_msg = absl::StrCat("watch: no newline in ", buf.size(), " bytes");
            return false;
          }
          return true;
        });
    const HttpResponse& r = *last;
    if (Stopping()) return Outcome::kStopped;

    if (end == LineResult::kContinue && r.transport_ok() && r.status == 200 &&
        !absl::StripAsciiWhitespace(buf).empty()) {
      // The stream ended cleanly inside an event: an encoder that omits the
      // final newline, or a truncated event (then it will not parse).
      handle(buf);
    }
    switch (end) {
      case LineResult::kContinue:
        break;
      case LineResult::kGone:
        UpdateStats(kind, [](KindStats& s) { ++s.gone; });
        spdlog::info("k8s api: {}: {}; relisting", KindName(kind), end_msg);
        return Outcome::kRelist;
      case LineResult::kError:
        RecordError(kind, end_msg);
        return Outcome::kRetry;
      case LineResult::kGarbage:
        RecordError(kind, absl::StrCat(end_msg, "; relisting"));
        return Outcome::kRelist;
    }
    if (r.status == 410) {
      // An older server's answer to a compacted resourceVersion (newer ones
      // send a 200 and an ERROR event).
      UpdateStats(kind, [](KindStats& s) { ++s.gone; });
      spdlog::info("k8s api: {}: watch from resourceVersion {}: {}; relisting", KindName(kind),
                   *rv, r.Describe());
      return Outcome::kRelist;
    }
    if (r.status != 0 && r.status != 200) {
      if (r.status == 401) token_.Invalidate();
      RecordError(kind, absl::StrCat("watch: ", r.Describe()));
      return Outcome::kRetry;
    }
    if (!r.transport_ok()) {
      RecordError(kind, r.status == 200
                            ? absl::StrCat("watch: stream broken after ", events,
                                           " events: ", r.Describe())
                            : absl::StrCat("watch: ", r.Describe()));
      return Outcome::kRetry;
    }
    if (events == 0 && absl::Now() - start < kMinHealthyWatch) {
      RecordError(kind, "watch: ended at once without events");
      return Outcome::kRetry;
    }
    backoff->Reset();
    spdlog::debug("k8s api: {}: watch ended after {} events; resuming at resourceVersion {}",
                  KindName(kind), events, *rv);
    return Outcome::kWatchEnded;
  }

  // Applies one watch event line.
  LineResult HandleLine(Kind kind, absl::string_view raw, std::string* rv, std::string* msg) {
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty()) return LineResult::kContinue;
    auto garbage = [&](absl::string_view why) {
      *msg = absl::StrCat("watch: ", why, ": ", std::string(line.substr(0, 120)),
                          line.size() > 120 ? "…" : "");
      return LineResult::kGarbage;
    };
    const json ev = json::parse(line.begin(), line.end(), nullptr, false);
    if (ev.is_discarded()) return garbage("not JSON");
    if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() ||
        !ev.contains("object") || !ev["object"].is_object()) {
      return garbage("not a watch event");
    }
    const std::string& type = ev["type"].get_ref<const std::string&>();
    const json& obj = ev["object"];

    if (type == "ERROR") {
      // A Status object: {"kind":"Status","code":410,"reason":"Expired",…}.
      int code = 0;
      if (obj.contains("code") && obj["code"].is_number_integer()) code = obj["code"].get<int>();
      std::string text;
      if (obj.contains("message") && obj["message"].is_string()) text = obj["message"];
      UpdateStats(kind, [](KindStats& s) { ++s.error_events; });
      *msg = absl::StrCat("watch: ERROR event ", code, ": ", text);
      return code == 410 ? LineResult::kGone : LineResult::kError;
    }

    // Every other event carries the object's metadata; BOOKMARK carries only
    // resourceVersion.
    const json* md = obj.contains("metadata") && obj["metadata"].is_object() ? &obj["metadata"]
                                                                              : nullptr;
    std::string new_rv;
    if (md != nullptr && md->contains("resourceVersion") &&
        (*md)["resourceVersion"].is_string()) {
      new_rv = (*md)["resourceVersion"].get<std::string>();
    }
    if (type == "BOOKMARK") {
      if (new_rv.empty()) return garbage("BOOKMARK without metadata.resourceVersion");
      *rv = new_rv;
      UpdateStats(kind, [&](KindStats& s) {
        ++s.bookmarks;
        s.resource_version = new_rv;
      });
      return LineResult::kContinue;
    }
    if (type == "ADDED" || type == "MODIFIED") {
      absl::StatusOr<Object> o = ParseObject(kind, obj, "object");
      if (!o.ok()) {
        // The stored object is now stale and this one cannot replace it. A
        // relist skips it and so removes the stale copy.
        UpdateStats(kind, [](KindStats& s) { ++s.bad_objects; });
        return garbage(absl::StrCat(type, " ", ItemName(obj), ": ", o.status().message()));
      }
      state_->Apply(*std::move(o));
    } else if (type == "DELETED") {
      // Only the key matters; an object that no longer parses is still gone.
      std::string ns, name;
      if (md != nullptr && md->contains("name") && (*md)["name"].is_string()) name = (*md)["name"];
      if (md != nullptr && md->contains("namespace") && (*md)["namespace"].is_string()) {
        ns = (*md)["namespace"];
      }
      if (name.empty()) return garbage("DELETED without metadata.name");
      if (!IsNamespaced(kind)) {
        ns.clear();
      } else if (ns.empty()) {
        ns = kDefaultNamespace;
      }
      state_->Delete(kind, ns, name);
    } else {
      return garbage(absl::StrCat("unknown event type \"", type, "\""));
    }
    if (!new_rv.empty()) *rv = new_rv;
    UpdateStats(kind, [&](KindStats& s) {
      if (type == "ADDED") {
        ++s.added;
      } else if (type == "MODIFIED") {
        ++s.modified;
      } else {
        ++s.deleted;
      }
      s.resource_version = *rv;
    });
    return LineResult::kContinue;
  }

  const ApiServerConfig config_;
  const ServerUrl url_;
  ClusterState* const state_;
  const ApiSourceOptions options_;
  TokenSource token_;

  // TLS material parsed once by LoadTls(); every request's SSL context
  // references it.
  std::vector<X509Ptr> ca_;
  X509Ptr client_cert_;
  std::vector<X509Ptr> client_chain_;
  PkeyPtr client_key_;

  std::vector<std::unique_ptr<KindState>> kinds_;
  // GetJson: one request at a time, on an interrupter of its own.
  std::mutex oneoff_mu_;
  KindState oneoff_;

  absl::Mutex stop_mu_;
  bool started_ ABSL_GUARDED_BY(stop_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::atomic<bool> stop_flag_{false};  // stopping_, readable without the lock

  mutable absl::Mutex stats_mu_;
  ApiSourceStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

// ---- ApiSource -------------------------------------------------------------------

absl::StatusOr<std::string> ApiSource::GetJson(const std::string& path, absl::Duration timeout) {
  return impl_->GetJson(path, timeout);
}
ApiSource::ApiSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiSource::~ApiSource() = default;

absl::StatusOr<std::unique_ptr<ApiSource>> ApiSource::Create(ApiServerConfig config,
                                                             ClusterState* state,
                                                             ApiSourceOptions options) {
  ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(config.server));
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("ApiSource: need 0 < initial_backoff <= max_backoff");
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(url), state, std::move(options));
  RETURN_IF_ERROR(impl->LoadTls());
  return std::unique_ptr<ApiSource>(new ApiSource(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<ApiSource>> ApiSource::FromKubeconfig(const std::string& path,
                                                                     ClusterState* state,
                                                                     ApiSourceOptions options,
                                                                     const std::string& context) {
  ASSIGN_OR_RETURN(ApiServerConfig config, LoadKubeconfig(path, context));
  return Create(std::move(config), state, std::move(options));
}

absl::StatusOr<std::unique_ptr<ApiSource>> ApiSource::InCluster(ClusterState* state,
                                                                ApiSourceOptions options,
                                                                InClusterOptions in_cluster) {
  ASSIGN_OR_RETURN(ApiServerConfig config, InClusterConfig(in_cluster));
  return Create(std::move(config), state, std::move(options));
}

absl::Status ApiSource::Start() { return impl_->Start(); }
void ApiSource::Stop() { impl_->Stop(); }
bool ApiSource::Synced() const { return impl_->Synced(); }
absl::Status ApiSource::WaitForSync(absl::Duration timeout) const {
  return impl_->WaitForSync(timeout);
}
ApiSourceStats ApiSource::stats() const { return impl_->stats(); }
const ApiServerConfig& ApiSource::config() const { return impl_->config(); }

}  // namespace xvr::k8s

#include "test/unit/k8s/fake_apiserver.h"

#include <chrono>

#include <httplib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/k8s/api_source.h"

namespace xvr::k8s::testing {

using json = nlohmann::json;

namespace {

// How often an idle watch handler checks whether its client went away.
constexpr auto kIdlePoll = std::chrono::milliseconds(20);

json StatusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

void ReplyStatus(httplib::Response& res, int code, const std::string& reason,
                 const std::string& message) {
  res.status = code;
  res.set_content(StatusBody(code, reason, message).dump(), "application/json");
}

std::string ReasonFor(int status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 410:
      return "Expired";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    default:
      return "Unknown";
  }
}

std::string EventLine(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

}  // namespace

std::string RecordedRequest::Param(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? std::string() : it->second;
}

// One open watch: what it still has to send.
struct FakeApiServer::WatchState {
  std::vector<std::string> replay;  // history newer than the client's RV
  size_t next = 0;                  // next index into KindData::stream
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

FakeApiServer::FakeApiServer() = default;
FakeApiServer::FakeApiServer(TlsFiles tls) : tls_(std::move(tls)) {}
FakeApiServer::~FakeApiServer() { Stop(); }

absl::Status FakeApiServer::Start(int port) {
  if (tls_) {
    svr_ = std::make_unique<httplib::SSLServer>(
        tls_->cert_file.c_str(), tls_->key_file.c_str(),
        tls_->client_ca_file.empty() ? nullptr : tls_->client_ca_file.c_str());
  } else {
    svr_ = std::make_unique<httplib::Server>();
  }
  if (!svr_->is_valid()) return absl::InternalError("fake API server: bad TLS certificate or key");
  // Every open watch holds a worker; the default pool (8) is too small for
  // six kinds plus handlers of clients that just went away.
  svr_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  for (Kind kind : kAllKinds) {
    svr_->Get(KindCollectionPath(kind), [this, kind](const httplib::Request& req,
                                                      httplib::Response& res) {
      Handle(kind, req, res);
    });
  }
  if (extra_routes_) extra_routes_(*svr_);
  if (port == 0) {
    port_ = svr_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return absl::InternalError("fake API server: cannot bind 127.0.0.1");
  } else {
    if (!svr_->bind_to_port("127.0.0.1", port)) {
      return absl::InternalError(absl::StrCat("fake API server: cannot bind 127.0.0.1:", port));
    }
    port_ = port;
  }
  // bind_to_*() already listen()s: clients connecting before the accept
  // loop runs wait in the backlog.
  thread_ = std::thread([this] { svr_->listen_after_bind(); });
  return absl::OkStatus();
}

void FakeApiServer::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (svr_) svr_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeApiServer::url() const {
  return absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", port_);
}

// ---- store -------------------------------------------------------------------

int64_t FakeApiServer::StoreLocked(Kind kind, json object, bool silent) {
  KindData& d = Data(kind);
  const int64_t rv = ++rv_;
  object["kind"] = KindName(kind);
  object["apiVersion"] = KindApiVersion(kind);
  json& md = object["metadata"];
  md["resourceVersion"] = std::to_string(rv);
  const std::string ns = md.contains("namespace") ? md["namespace"].get<std::string>() : "";
  const std::string name = md.value("name", "");
  auto key = std::make_pair(ns, name);
  const bool existed = d.objects.count(key) > 0;
  d.objects[key] = object;
  if (!silent) {
    PushLocked(kind, {Entry::Type::kEvent, rv, EventLine(existed ? "MODIFIED" : "ADDED", object),
                      /*replayable=*/true});
  }
  return rv;
}

int64_t FakeApiServer::Upsert(Kind kind, json object, bool silent) {
  std::lock_guard<std::mutex> l(mu_);
  const int64_t rv = StoreLocked(kind, std::move(object), silent);
  cv_.notify_all();
  return rv;
}

int64_t FakeApiServer::Remove(Kind kind, const std::string& ns, const std::string& name,
                              bool silent) {
  std::lock_guard<std::mutex> l(mu_);
  KindData& d = Data(kind);
  auto it = d.objects.find({ns, name});
  if (it == d.objects.end()) return rv_;
  json object = std::move(it->second);
  d.objects.erase(it);
  const int64_t rv = ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  if (!silent) {
    PushLocked(kind, {Entry::Type::kEvent, rv, EventLine("DELETED", object), true});
  }
  cv_.notify_all();
  return rv;
}

int64_t FakeApiServer::resource_version() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

size_t FakeApiServer::Count(Kind kind) const {
  std::lock_guard<std::mutex> l(mu_);
  return Data(kind).objects.size();
}

// ---- stream ------------------------------------------------------------------

void FakeApiServer::PushLocked(Kind kind, Entry e) { Data(kind).stream.push_back(std::move(e)); }

int64_t FakeApiServer::SendBookmark(Kind kind) {
  std::lock_guard<std::mutex> l(mu_);
  const int64_t rv = ++rv_;
  const json object = {{"kind", KindName(kind)},
                       {"apiVersion", KindApiVersion(kind)},
                       {"metadata", {{"resourceVersion", std::to_string(rv)}}}};
  PushLocked(kind, {Entry::Type::kEvent, rv, EventLine("BOOKMARK", object), false});
  cv_.notify_all();
  return rv;
}

void FakeApiServer::SendRaw(Kind kind, std::string bytes) {
  std::lock_guard<std::mutex> l(mu_);
  PushLocked(kind, {Entry::Type::kRaw, rv_, std::move(bytes), false});
  cv_.notify_all();
}

void FakeApiServer::SendError(Kind kind, int code) {
  std::lock_guard<std::mutex> l(mu_);
  const std::string line =
      EventLine("ERROR", StatusBody(code, ReasonFor(code),
                                    absl::StrCat("too old resource version (", rv_, ")")));
  PushLocked(kind, {Entry::Type::kRaw, rv_, line, false});
  cv_.notify_all();
}

void FakeApiServer::EndWatches(Kind kind) {
  std::lock_guard<std::mutex> l(mu_);
  PushLocked(kind, {Entry::Type::kEnd, rv_, {}, false});
  cv_.notify_all();
}

void FakeApiServer::DropWatches(Kind kind) {
  std::lock_guard<std::mutex> l(mu_);
  PushLocked(kind, {Entry::Type::kDrop, rv_, {}, false});
  cv_.notify_all();
}

void FakeApiServer::Compact(Kind kind) {
  std::lock_guard<std::mutex> l(mu_);
  KindData& d = Data(kind);
  d.compacted_rv = rv_;
  for (Entry& e : d.stream) e.replayable = false;
}

void FakeApiServer::FailNext(Kind kind, RequestKind which, int status, int count) {
  std::lock_guard<std::mutex> l(mu_);
  for (int i = 0; i < count; ++i) Data(kind).failures.emplace_back(which, status);
}

void FakeApiServer::ClearFailures(Kind kind) {
  std::lock_guard<std::mutex> l(mu_);
  Data(kind).failures.clear();
}

void FakeApiServer::RequireToken(std::string token) {
  std::lock_guard<std::mutex> l(mu_);
  token_ = std::move(token);
}

// ---- observation ----------------------------------------------------------------

std::vector<RecordedRequest> FakeApiServer::Requests(Kind kind, RequestKind which) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<RecordedRequest> out;
  for (const RecordedRequest& r : Data(kind).requests) {
    if (which == RequestKind::kAny || r.watch == (which == RequestKind::kWatch)) out.push_back(r);
  }
  return out;
}

size_t FakeApiServer::WatchesStarted(Kind kind) const {
  std::lock_guard<std::mutex> l(mu_);
  return Data(kind).watches_started;
}

size_t FakeApiServer::OpenWatches(Kind kind) const {
  std::lock_guard<std::mutex> l(mu_);
  return Data(kind).open_watches;
}

bool FakeApiServer::WaitForWatches(Kind kind, size_t n, absl::Duration timeout) const {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, absl::ToChronoMilliseconds(timeout),
                      [&] { return Data(kind).watches_started >= n; });
}

// ---- handlers ---------------------------------------------------------------------

void FakeApiServer::Handle(Kind kind, const httplib::Request& req, httplib::Response& res) {
  const bool watch = req.get_param_value("watch") == "1" || req.get_param_value("watch") == "true";
  {
    std::lock_guard<std::mutex> l(mu_);
    KindData& d = Data(kind);
    RecordedRequest r;
    r.kind = kind;
    r.watch = watch;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.params[k] = v;
    r.authorization = req.get_header_value("Authorization");
    r.user_agent = req.get_header_value("User-Agent");
    d.requests.push_back(r);
    cv_.notify_all();

    if (!token_.empty() && r.authorization != "Bearer " + token_) {
      ReplyStatus(res, 401, "Unauthorized", "Unauthorized");
      return;
    }
    for (auto it = d.failures.begin(); it != d.failures.end(); ++it) {
      if (it->first == RequestKind::kAny || (it->first == RequestKind::kWatch) == watch) {
        const int status = it->second;
        d.failures.erase(it);
        ReplyStatus(res, status, ReasonFor(status), absl::StrCat("injected failure ", status));
        return;
      }
    }
  }
  if (watch) {
    HandleWatch(kind, req, res);
  } else {
    HandleList(kind, req, res);
  }
}

void FakeApiServer::HandleList(Kind kind, const httplib::Request& req, httplib::Response& res) {
  std::lock_guard<std::mutex> l(mu_);
  const KindData& d = Data(kind);
  size_t limit = 0;
  if (req.has_param("limit") && !absl::SimpleAtoi(req.get_param_value("limit"), &limit)) {
    ReplyStatus(res, 400, "BadRequest", "bad limit");
    return;
  }
  // The continue token: the snapshot's RV and the last key served. Base64,
  // as the real one is, so the client has to URL-encode it.
  int64_t list_rv = rv_;
  auto it = d.objects.begin();
  if (req.has_param("continue")) {
    std::string raw;
    std::vector<std::string> parts;
    if (absl::Base64Unescape(req.get_param_value("continue"), &raw)) {
      parts = absl::StrSplit(raw, '\n');
    }
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &list_rv)) {
      ReplyStatus(res, 400, "BadRequest", "bad continue token");
      return;
    }
    it = d.objects.upper_bound({parts[1], parts[2]});
  }
  json items = json::array();
  for (; it != d.objects.end() && (limit == 0 || items.size() < limit); ++it) {
    json item = it->second;
    // Items in a list carry no kind or apiVersion.
    item.erase("kind");
    item.erase("apiVersion");
    items.push_back(std::move(item));
  }
  json md = {{"resourceVersion", std::to_string(list_rv)}};
  if (it != d.objects.end() && !items.empty()) {
    auto last = std::prev(it);
    md["continue"] = absl::Base64Escape(
        absl::StrCat(list_rv, "\n", last->first.first, "\n", last->first.second));
  }
  const json body = {{"kind", absl::StrCat(KindName(kind), "List")},
                     {"apiVersion", KindApiVersion(kind)},
                     {"metadata", md},
                     {"items", items}};
  res.set_content(body.dump(), "application/json");
}

void FakeApiServer::HandleWatch(Kind kind, const httplib::Request& req, httplib::Response& res) {
  auto st = std::make_shared<WatchState>();
  {
    std::lock_guard<std::mutex> l(mu_);
    KindData& d = Data(kind);
    int64_t from = 0;
    if (!absl::SimpleAtoi(req.get_param_value("resourceVersion"), &from)) {
      ReplyStatus(res, 400, "BadRequest", "the fake needs a resourceVersion to watch from");
      return;
    }
    if (from < d.compacted_rv) {
      ReplyStatus(res, 410, "Expired",
                  absl::StrCat("too old resource version: ", from, " (", d.compacted_rv, ")"));
      return;
    }
    for (const Entry& e : d.stream) {
      if (e.replayable && e.rv > from) st->replay.push_back(e.bytes);
    }
    st->next = d.stream.size();
    int64_t timeout = 0;
    if (absl::SimpleAtoi(req.get_param_value("timeoutSeconds"), &timeout) && timeout > 0) {
      st->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
    }
    ++d.open_watches;
    ++d.watches_started;
    cv_.notify_all();
  }
  res.set_chunked_content_provider(
      "application/json",
      [this, kind, st](size_t, httplib::DataSink& sink) {
        enum class After { kMore, kEnd, kDrop } after = After::kMore;
        std::vector<std::string> out;
        {
          std::unique_lock<std::mutex> l(mu_);
          for (;;) {
            if (stopping_) return false;
            out.swap(st->replay);
            const std::vector<Entry>& stream = Data(kind).stream;
            while (after == After::kMore && st->next < stream.size()) {
              const Entry& e = stream[st->next++];
              switch (e.type) {
                case Entry::Type::kEvent:
                case Entry::Type::kRaw:
                  out.push_back(e.bytes);
                  break;
                case Entry::Type::kEnd:
                  after = After::kEnd;
                  break;
                case Entry::Type::kDrop:
                  after = After::kDrop;
                  break;
              }
            }
            if (!out.empty() || after != After::kMore) break;
            if (std::chrono::steady_clock::now() >= st->deadline) {
              after = After::kEnd;
              break;
            }
            // Nothing to send: notice a client that went away, or this
            // worker would wait for it until the server stops.
            l.unlock();
            const bool alive = sink.is_writable();
            l.lock();
            if (!alive) return false;
            cv_.wait_for(l, kIdlePoll);
          }
        }
        // Written outside the lock: a client that does not read must not
        // stall the test thread.
        for (const std::string& bytes : out) {
          if (!sink.write(bytes.data(), bytes.size())) return false;
        }
        if (after == After::kDrop) return false;  // no final chunk: a broken body
        if (after == After::kEnd) sink.done();
        return true;
      },
      [this, kind](bool) {
        std::lock_guard<std::mutex> l(mu_);
        --Data(kind).open_watches;
        cv_.notify_all();
      });
}

}  // namespace xvr::k8s::testing

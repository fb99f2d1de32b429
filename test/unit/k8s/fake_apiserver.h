// An in-process Kubernetes API server for tests of API clients: an
// httplib::Server on 127.0.0.1 (an ephemeral port unless one is given),
// plain HTTP or HTTPS, serving the collections xvr watches
// (KindCollectionPath()).
//
// It keeps, per kind, an object store and an event history, as the real
// server's watch cache does:
//   - LIST honours limit/continue and returns the store with the current
//     resourceVersion (one counter shared by all kinds, like etcd's);
//   - WATCH from resourceVersion R replays the recorded events newer than R,
//     then streams new ones (chunked, one JSON event per line) until the
//     test ends or drops it, timeoutSeconds passes, or the server stops;
//   - a watch from before the last Compact() gets HTTP 410.
// Tests script the rest: bookmarks, ERROR events, raw bytes (garbage, or an
// event split across chunks), clean ends, abrupt drops, HTTP failures for
// the next requests, a required bearer token. Every request to a collection
// is recorded with its decoded query parameters.
//
// Thread-safe: tests drive it from their thread while clients run on theirs.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/k8s/objects.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace xvr::k8s::testing {

enum class RequestKind { kList, kWatch, kAny };

struct RecordedRequest {
  Kind kind = Kind::kNode;
  bool watch = false;
  std::string path;
  std::map<std::string, std::string> params;  // decoded
  std::string authorization;
  std::string user_agent;

  // The parameter's value, "" when absent.
  std::string Param(const std::string& key) const;
  bool Has(const std::string& key) const { return params.count(key) > 0; }
};

class FakeApiServer {
 public:
  struct TlsFiles {
    std::string cert_file;  // PEM
    std::string key_file;
    // When set, clients must present a certificate signed by this CA.
    std::string client_ca_file;
  };

  FakeApiServer();
  explicit FakeApiServer(TlsFiles tls);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Routes served beside the collections (a control interface, say):
  // `add` registers them on the server when Start() builds it. Call before
  // Start().
  void SetExtraRoutes(std::function<void(httplib::Server&)> add) { extra_routes_ = std::move(add); }

  // Listens on 127.0.0.1:`port` (0: ephemeral) and serves on a thread.
  absl::Status Start(int port = 0);
  // Ends open watches (abruptly) and stops serving. Idempotent.
  void Stop();
  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>" (https with TLS)

  // ---- the object store ----------------------------------------------------
  // Stores `object` under its metadata namespace/name, with kind and
  // apiVersion set and metadata.resourceVersion stamped with a new RV, and
  // records ADDED or MODIFIED — unless `silent`: a change made while no
  // watch could see it and whose event is lost to compaction. Returns the RV.
  int64_t Upsert(Kind kind, nlohmann::json object, bool silent = false);
  // Removes an object (DELETED event unless silent). Returns the RV.
  int64_t Remove(Kind kind, const std::string& ns, const std::string& name, bool silent = false);
  int64_t resource_version() const;
  size_t Count(Kind kind) const;

  // ---- the watch stream ----------------------------------------------------
  // Advances the RV (as if other resources changed) and sends a BOOKMARK at
  // it to the open watches. Returns the RV.
  int64_t SendBookmark(Kind kind);
  // Sends `bytes` verbatim to the open watches (not replayed later).
  void SendRaw(Kind kind, std::string bytes);
  // Sends an ERROR event carrying a Status with `code` (410: Expired).
  void SendError(Kind kind, int code);
  // Ends the open watches cleanly, as timeoutSeconds does.
  void EndWatches(Kind kind);
  // Closes the open watches' connections in the middle of the chunked body.
  void DropWatches(Kind kind);
  // Forgets the event history: a watch from an RV older than the current
  // one is answered HTTP 410 Gone.
  void Compact(Kind kind);

  // ---- scripted failures ---------------------------------------------------
  // The next `count` requests of `kind` matching `which` get HTTP `status`
  // with a Kubernetes Status body.
  void FailNext(Kind kind, RequestKind which, int status, int count = 1);
  // Forgets the failures FailNext() scripted that have not happened yet.
  void ClearFailures(Kind kind);
  // Requests without "Authorization: Bearer <token>" get 401; "" = no auth.
  void RequireToken(std::string token);

  // ---- observation ---------------------------------------------------------
  std::vector<RecordedRequest> Requests(Kind kind, RequestKind which = RequestKind::kAny) const;
  // Watch streams opened (answered 200) / still open.
  size_t WatchesStarted(Kind kind) const;
  size_t OpenWatches(Kind kind) const;
  // Waits until at least `n` watch streams of `kind` were opened, so that
  // what the test sends next reaches the latest one.
  bool WaitForWatches(Kind kind, size_t n, absl::Duration timeout = absl::Seconds(5)) const;

 private:
  struct Entry {
    enum class Type { kEvent, kRaw, kEnd, kDrop } type = Type::kEvent;
    int64_t rv = 0;
    std::string bytes;
    bool replayable = false;  // recorded events replay to later watches
  };
  struct KindData {
    std::map<std::pair<std::string, std::string>, nlohmann::json> objects;
    std::vector<Entry> stream;
    int64_t compacted_rv = 0;
    size_t open_watches = 0;
    size_t watches_started = 0;
    std::deque<std::pair<RequestKind, int>> failures;  // (which, status)
    std::vector<RecordedRequest> requests;
  };
  struct WatchState;

  KindData& Data(Kind kind) { return kinds_[static_cast<size_t>(kind)]; }
  const KindData& Data(Kind kind) const { return kinds_[static_cast<size_t>(kind)]; }
  void Handle(Kind kind, const httplib::Request& req, httplib::Response& res);
  void HandleList(Kind kind, const httplib::Request& req, httplib::Response& res);
  void HandleWatch(Kind kind, const httplib::Request& req, httplib::Response& res);
  void PushLocked(Kind kind, Entry e);
  int64_t StoreLocked(Kind kind, nlohmann::json object, bool silent);

  std::optional<TlsFiles> tls_;
  std::function<void(httplib::Server&)> extra_routes_;
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  int64_t rv_ = 100;
  std::string token_;
  std::array<KindData, kNumKinds> kinds_;
};

}  // namespace xvr::k8s::testing

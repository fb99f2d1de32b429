// The agent's HTTP API (docs/API.md) on a unix socket, served by
// cpp-httplib's thread pool over the EndpointManager. A request can never
// take the agent down: every handler turns whatever goes wrong into a JSON
// error answer.
#pragma once

#include <map>

#include "nlohmann/json.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/endpoints/endpoint_manager.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace xvr {

// Ring-buffer event accounting shown by GET /v1/stats.
struct EventStats {
  uint64_t lost = 0;        // dropped because the ring buffer was full
  uint64_t suppressed = 0;  // not emitted because of the rate limit
};

struct ApiServerOptions {
  std::string socket_path = "/run/xvr/agent.sock";
  size_t max_body_bytes = 1 << 20;
  // Supplies the "events" object of /v1/stats; zeros when unset.
  std::function<EventStats()> event_stats;
  // Read-only views served as GET <path> (e.g. /v1/drops, /v1/routes):
  // each function returns the JSON body of a 200 answer.
  std::map<std::string, std::function<nlohmann::json()>> views;
  // Views (GET) and actions (POST) that read the query string, e.g.
  // /v1/flows?proto=tcp and POST /v1/flows/flush: a Status answers as an
  // error (InvalidArgument → 400), JSON as the body of a 200. Actions answer
  // 503 until the agent is ready, like every mutating call.
  using QueryParams = std::multimap<std::string, std::string>;
  using QueryHandler = std::function<absl::StatusOr<nlohmann::json>(const QueryParams&)>;
  std::map<std::string, QueryHandler> query_views;
  std::map<std::string, QueryHandler> actions;
  // Optional: told about every request of the CNI plugin's calls, after the
  // answer is built: op "add" (POST /v1/endpoints), "del" (DELETE
  // /v1/endpoints/ID/IF), "check" (GET /v1/endpoints/ID/IF), "gc" (POST
  // /v1/gc), the HTTP status and the handling time. Called on a server
  // thread.
  std::function<void(const char* op, int status, double seconds)> on_cni_request;
};

class ApiServer {
 public:
  // `endpoints` must outlive the server.
  ApiServer(ApiServerOptions opts, EndpointManager& endpoints);
  ~ApiServer();  // Stop()s
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Creates the socket's parent directory (0755) if missing, replaces a
  // stale socket file (AlreadyExists if another process still answers on
  // it, FailedPrecondition if the path is not a socket), binds, sets mode
  // 0600 and starts serving on a background thread. Returns once requests
  // are accepted.
  absl::Status Start();
  // Stops accepting, waits for the serving thread and removes the socket
  // file. Idempotent.
  void Stop();

  // Until set, /healthz answers 503 and mutating calls 503. The agent sets
  // it after Restore() and once the programs are loaded.
  void SetReady(bool ready) { ready_.store(ready); }
  bool ready() const { return ready_.load(); }

 private:
  void Route(httplib::Server& svr);
  // Handlers answer through the Response; never throw.
  void HandleRegister(const httplib::Request& req, httplib::Response& res);
  void HandleList(const httplib::Request& req, httplib::Response& res);
  void HandleGet(const httplib::Request& req, httplib::Response& res);
  void HandleDelete(const httplib::Request& req, httplib::Response& res);
  void HandleGc(const httplib::Request& req, httplib::Response& res);
  void HandleHealthz(const httplib::Request& req, httplib::Response& res);
  void HandleStats(const httplib::Request& req, httplib::Response& res);

  ApiServerOptions opts_;
  EndpointManager& endpoints_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
};

// HTTP status for a Status code as the API documents it (400, 404, 503,
// 507, ...).
int HttpStatusFor(const absl::Status& st);

}  // namespace xvr

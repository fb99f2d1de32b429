#include "agent/api/api_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"
#include "agent/state/atomic_file.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

using nlohmann::json;

constexpr char kEndpointsPath[] = "/v1/endpoints";
constexpr char kEndpointPrefix[] = "/v1/endpoints/";
constexpr char kEndpointPattern[] = R"(/v1/endpoints/([^/]+)/([^/]+))";
constexpr char kGcPath[] = "/v1/gc";
constexpr char kStatsPath[] = "/v1/stats";
constexpr char kHealthzPath[] = "/healthz";
constexpr int kStatusInsufficientStorage = 507;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Strings from clients may hold invalid UTF-8; dump() would throw on them.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void ReplyError(httplib::Response& res, int status, absl::string_view msg) {
  Reply(res, status, json{{"error", std::string(msg)}});
}

void ReplyStatus(httplib::Response& res, const absl::Status& st) {
  ReplyError(res, HttpStatusFor(st), st.message());
}

// The methods a known path accepts, or empty for an unknown path.
std::vector<std::string> AllowedMethods(const std::string& path) {
  if (path == kHealthzPath || path == kStatsPath) return {"GET"};
  if (path == kEndpointsPath) return {"GET", "POST"};
  if (path == kGcPath) return {"POST"};
  if (absl::StartsWith(path, kEndpointPrefix)) {
    const std::string rest = path.substr(sizeof(kEndpointPrefix) - 1);
    const size_t slash = rest.find('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < rest.size() &&
        rest.find('/', slash + 1) == std::string::npos) {
      return {"GET", "DELETE"};
    }
  }
  return {};
}

// Parses a request body that must be a JSON object.
absl::StatusOr<json> ParseObject(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!j.is_object()) return absl::InvalidArgumentError("request body must be a JSON object");
  return j;
}

// A string member; `required` makes absence (or null) an error.
absl::Status GetString(const json& obj, const char* name, absl::string_view path, bool required,
                       std::string* out) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) {
    if (required) return absl::InvalidArgumentError(absl::StrCat(path, ": required"));
    return absl::OkStatus();
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be a string, got ", it->type_name()));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

// Runs a handler with every exception turned into a 500 answer.
template <typename F>
httplib::Server::Handler Guard(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const std::exception& e) {
      spdlog::error("api: {} {}: {}", req.method, req.path, e.what());
      ReplyError(res, 500, absl::StrCat("internal error: ", e.what()));
    } catch (...) {
      spdlog::error("api: {} {}: unknown exception", req.method, req.path);
      ReplyError(res, 500, "internal error");
    }
  };
}

std::string DescribeHttpError(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    case 416:
      return "range not satisfiable";
    default:
      return absl::StrCat("HTTP error ", status);
  }
}

json KeyJson(const AttachmentKey& k) {
  return {{"containerID", k.container_id}, {"ifname", k.ifname}};
}

// httplib listens with a backlog of 5. A unix-socket connect() that finds
// the backlog full fails at once with EAGAIN (there is no SYN retry as with
// TCP), so a burst of pod creations would see spurious errors; the kernel
// takes a second listen() on the bound socket as a new backlog.
class UnixServer : public httplib::Server {
 public:
  bool RaiseBacklog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

}  // namespace

int HttpStatusFor(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return kStatusInsufficientStorage;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

ApiServer::ApiServer(ApiServerOptions opts, EndpointManager& endpoints)
    : opts_(std::move(opts)), endpoints_(endpoints) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Route(httplib::Server& svr) {
  // Errors httplib produces itself (malformed request, body too large).
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      ReplyError(res, res.status, DescribeHttpError(res.status));
    }
  });
  svr.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        ReplyError(res, 500, "internal error");
      });
  svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("api: {} {} -> {}", req.method, req.path, res.status);
  });

  svr.Get(kHealthzPath, Guard([this](const auto& q, auto& r) { HandleHealthz(q, r); }));
  svr.Get(kStatsPath, Guard([this](const auto& q, auto& r) { HandleStats(q, r); }));
  // The CNI plugin's calls, timed for the metrics.
  auto timed = [this](const char* op, httplib::Server::Handler h) -> httplib::Server::Handler {
    if (!opts_.on_cni_request) return h;
    return [this, op, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = std::chrono::steady_clock::now();
      h(req, res);
      opts_.on_cni_request(
          op, res.status,
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
  };
  svr.Get(kEndpointsPath, Guard([this](const auto& q, auto& r) { HandleList(q, r); }));
  svr.Post(kEndpointsPath,
           timed("add", Guard([this](const auto& q, auto& r) { HandleRegister(q, r); })));
  svr.Get(kEndpointPattern,
          timed("check", Guard([this](const auto& q, auto& r) { HandleGet(q, r); })));
  svr.Delete(kEndpointPattern,
             timed("del", Guard([this](const auto& q, auto& r) { HandleDelete(q, r); })));
  svr.Post(kGcPath, timed("gc", Guard([this](const auto& q, auto& r) { HandleGc(q, r); })));
  for (const auto& [path, view] : opts_.views) {
    svr.Get(path, Guard([view = view](const auto&, auto& r) {
      r.status = 200;
      r.set_content(view().dump(), "application/json");
    }));
  }
  for (const auto& [path, view] : opts_.query_views) {
    svr.Get(path, Guard([view = view](const auto& q, auto& r) {
      absl::StatusOr<json> body = view(q.params);
      if (!body.ok()) return ReplyStatus(r, body.status());
      Reply(r, 200, *body);
    }));
  }
  for (const auto& [path, action] : opts_.actions) {
    svr.Post(path, Guard([this, action = action](const auto& q, auto& r) {
      if (!ready()) return ReplyError(r, 503, "agent not ready");
      absl::StatusOr<json> body = action(q.params);
      if (!body.ok()) return ReplyStatus(r, body.status());
      Reply(r, 200, *body);
    }));
  }

  // Everything the routes above did not take: 404 or 405. Registered as
  // ordinary handlers (httplib tries patterns in order) rather than in a
  // pre-routing hook, so the request body has been read: answering and
  // closing with a body still unread would reset the client's connection.
  const httplib::Server::Handler unrouted = Guard([this](const auto& req, auto& res) {
    std::vector<std::string> allowed = AllowedMethods(req.path);
    if (opts_.views.contains(req.path) || opts_.query_views.contains(req.path)) {
      allowed.push_back("GET");
    }
    if (opts_.actions.contains(req.path)) allowed.push_back("POST");
    if (allowed.empty()) return ReplyError(res, 404, absl::StrCat("no such path: ", req.path));
    res.set_header("Allow", absl::StrJoin(allowed, ", "));
    ReplyError(res, 405,
               absl::StrCat("method ", req.method, " not allowed on ", req.path, " (allowed: ",
                            absl::StrJoin(allowed, ", "), ")"));
  });
  constexpr char kAny[] = ".*";
  svr.Get(kAny, unrouted);
  svr.Post(kAny, unrouted);
  svr.Put(kAny, unrouted);
  svr.Patch(kAny, unrouted);
  svr.Delete(kAny, unrouted);
  svr.Options(kAny, unrouted);
}

void ApiServer::HandleHealthz(const httplib::Request&, httplib::Response& res) {
  if (ready()) {
    Reply(res, 200, json{{"status", "ok"}});
  } else {
    Reply(res, 503, json{{"status", "starting"}});
  }
}

void ApiServer::HandleRegister(const httplib::Request& req, httplib::Response& res) {
  if (!ready()) return ReplyError(res, 503, "agent not ready");
  absl::StatusOr<json> body = ParseObject(req.body);
  if (!body.ok()) return ReplyStatus(res, body.status());
  RegisterRequest r;
  for (absl::Status st : {
           GetString(*body, "containerID", "containerID", true, &r.container_id),
           GetString(*body, "ifname", "ifname", true, &r.ifname),
           GetString(*body, "netns", "netns", true, &r.netns),
           GetString(*body, "hostIfname", "hostIfname", true, &r.host_ifname),
           GetString(*body, "mac", "mac", true, &r.mac),
           GetString(*body, "podNamespace", "podNamespace", false, &r.pod_namespace),
           GetString(*body, "podName", "podName", false, &r.pod_name),
       }) {
    if (!st.ok()) return ReplyStatus(res, st);
  }
  absl::StatusOr<RegisterResult> result = endpoints_.Register(r);
  if (!result.ok()) {
    spdlog::warn("api: register {}/{}: {}", r.container_id, r.ifname, result.status().ToString());
    return ReplyStatus(res, result.status());
  }
  const std::string gw = result->gateway.ToString();
  Reply(res, 200,
        json{{"ip", absl::StrCat(result->endpoint.ip.ToString(), "/", result->pod_cidr.length())},
             {"gateway", gw},
             {"routes", json::array({json{{"dst", "0.0.0.0/0"}, {"gw", gw}}})},
             {"mtu", result->mtu},
             {"offloads", json{{"txChecksum", result->tx_checksum_offload},
                               {"segmentation", result->segmentation_offload}}},
             {"hostMac", result->endpoint.host_mac.ToString()},
             {"hostIfindex", result->endpoint.host_ifindex},
             {"endpoint", EndpointToJson(result->endpoint)}});
}

void ApiServer::HandleList(const httplib::Request&, httplib::Response& res) {
  json eps = json::array();
  for (const EndpointRecord& ep : endpoints_.List()) eps.push_back(EndpointToJson(ep));
  Reply(res, 200, json{{"endpoints", std::move(eps)}});
}

void ApiServer::HandleGet(const httplib::Request& req, httplib::Response& res) {
  const AttachmentKey key{req.matches[1].str(), req.matches[2].str()};
  std::optional<EndpointRecord> ep = endpoints_.Get(key);
  if (!ep) return ReplyError(res, 404, absl::StrCat("endpoint ", key.ToString(), " not found"));
  Reply(res, 200, EndpointToJson(*ep));
}

void ApiServer::HandleDelete(const httplib::Request& req, httplib::Response& res) {
  if (!ready()) return ReplyError(res, 503, "agent not ready");
  const AttachmentKey key{req.matches[1].str(), req.matches[2].str()};
  absl::StatusOr<bool> deleted = endpoints_.Unregister(key);
  if (!deleted.ok()) return ReplyStatus(res, deleted.status());
  Reply(res, 200, json{{"deleted", *deleted}});
}

void ApiServer::HandleGc(const httplib::Request& req, httplib::Response& res) {
  if (!ready()) return ReplyError(res, 503, "agent not ready");
  absl::StatusOr<json> body = ParseObject(req.body);
  if (!body.ok()) return ReplyStatus(res, body.status());
  auto list = body->find("validAttachments");
  if (list == body->end() || list->is_null()) {
    return ReplyError(res, 400, "validAttachments: required");
  }
  if (!list->is_array()) {
    return ReplyError(res, 400,
                      absl::StrCat("validAttachments: must be an array, got ", list->type_name()));
  }
  absl::flat_hash_set<AttachmentKey> valid;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& a = (*list)[i];
    const std::string path = absl::StrCat("validAttachments[", i, "]");
    if (!a.is_object()) {
      return ReplyError(res, 400, absl::StrCat(path, ": must be an object, got ", a.type_name()));
    }
    AttachmentKey k;
    for (absl::Status st : {
             GetString(a, "containerID", absl::StrCat(path, ".containerID"), true, &k.container_id),
             GetString(a, "ifname", absl::StrCat(path, ".ifname"), true, &k.ifname),
         }) {
      if (!st.ok()) return ReplyStatus(res, st);
    }
    valid.insert(std::move(k));
  }
  absl::StatusOr<std::vector<AttachmentKey>> removed = endpoints_.Gc(valid);
  if (!removed.ok()) return ReplyStatus(res, removed.status());
  json out = json::array();
  for (const AttachmentKey& k : *removed) out.push_back(KeyJson(k));
  Reply(res, 200, json{{"removed", std::move(out)}});
}

void ApiServer::HandleStats(const httplib::Request&, httplib::Response& res) {
  absl::StatusOr<std::vector<CounterRow>> rows = endpoints_.Stats();
  if (!rows.ok()) return ReplyStatus(res, rows.status());
  json counters = json::array();
  for (const CounterRow& c : *rows) {
    if (c.packets == 0 && c.bytes == 0) continue;
    counters.push_back({{"hook", c.hook},
                        {"verdict", c.verdict},
                        {"reason", c.reason},
                        {"packets", c.packets},
                        {"bytes", c.bytes}});
  }
  const EventStats ev = opts_.event_stats ? opts_.event_stats() : EventStats{};
  Reply(res, 200,
        json{{"counters", std::move(counters)},
             {"events", {{"lost", ev.lost}, {"suppressed", ev.suppressed}}}});
}

namespace {

// A socket file left by a previous run is removed; one that still answers
// belongs to a running agent and is left alone.
absl::Status ClearStaleSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket(AF_UNIX)");
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("another process is serving on ", path, " (is an agent already running?)"));
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove stale socket ", path));
  }
  spdlog::info("api: removed stale socket {}", path);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApiServer::Start() {
  if (svr_) return absl::FailedPreconditionError("api: already started");
  const std::string& path = opts_.socket_path;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("api: bad socket path \"", path, "\""));
  }
  if (const size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    RETURN_IF_ERROR(MakeDirs(path.substr(0, slash), 0755));
  }
  RETURN_IF_ERROR(ClearStaleSocket(path));

  auto svr = std::make_unique<UnixServer>();
  svr->set_address_family(AF_UNIX);
  svr->set_payload_max_length(opts_.max_body_bytes);
  svr->set_keep_alive_timeout(2);
  // Local clients send small bodies at once; a client that stalls mid-request
  // must not hold one of the few worker threads (and /healthz) for long.
  svr->set_read_timeout(2);
  svr->set_write_timeout(10);
  Route(*svr);
  // The port is ignored for AF_UNIX.
  if (!svr->bind_to_port(path, 80)) {
    return absl::InternalError(
        absl::StrCat("api: cannot bind unix socket ", path, ": ", std::strerror(errno)));
  }
  if (!svr->RaiseBacklog()) {
    spdlog::warn("api: raising the listen backlog on {}: {}", path, std::strerror(errno));
  }
  // Only root may talk to the agent. Until this chmod the umask applies,
  // which already denies other users the write permission connect() needs.
  if (::chmod(path.c_str(), 0600) != 0) {
    const absl::Status st = ErrnoStatus(errno, absl::StrCat("chmod 0600 ", path));
    svr.reset();
    ::unlink(path.c_str());
    return st;
  }
  svr_ = std::move(svr);
  thread_ = std::thread([s = svr_.get()] { s->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs; wait for it so Stop()
  // right after Start() cannot hang.
  for (int i = 0; i < 5000 && !svr_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!svr_->is_running()) {
    Stop();
    return absl::InternalError(absl::StrCat("api: server on ", path, " did not start"));
  }
  spdlog::info("api: serving on unix:{}", path);
  return absl::OkStatus();
}

void ApiServer::Stop() {
  if (!svr_) return;
  svr_->stop();
  if (thread_.joinable()) thread_.join();
  svr_.reset();
  ::unlink(opts_.socket_path.c_str());
}

}  // namespace xvr

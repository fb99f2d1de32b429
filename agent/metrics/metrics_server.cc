#include "agent/metrics/metrics_server.h"

#include <httplib.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/config/vrouter.h"
#include "spdlog/spdlog.h"

namespace xvr::metrics {
namespace {

constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Closes a socket that was bound but never served (httplib's stop() only
// acts on a running server).
class TcpServer : public httplib::Server {
 public:
  ~TcpServer() override {
    if (!is_running() && svr_sock_ != INVALID_SOCKET) {
      ::close(svr_sock_);
      svr_sock_ = INVALID_SOCKET;
    }
  }
};

void ReplyJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

}  // namespace

MetricsServer::MetricsServer(MetricsServerOptions opts) : opts_(std::move(opts)) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Bind() {
  if (svr_) return absl::FailedPreconditionError("metrics: already bound");
  std::string host;
  uint16_t port = 0;
  if (absl::Status st = ParseHostPort(opts_.address, &host, &port); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", opts_.address, "\": ", st.message()));
  }
  std::unique_ptr<httplib::Server> svr = std::make_unique<TcpServer>();
  svr->set_keep_alive_timeout(5);
  svr->set_read_timeout(5);
  svr->set_write_timeout(10);
  svr->set_payload_max_length(4096);
  // httplib's default sets SO_REUSEPORT, which would let a second agent
  // bind the same port and silently share the scrapes; SO_REUSEADDR alone
  // still allows a restart while old connections sit in TIME_WAIT.
  svr->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  svr->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    scrapes_.fetch_add(1, std::memory_order_relaxed);
    try {
      res.status = 200;
      res.set_content(opts_.render ? opts_.render() : std::string(), kExpositionContentType);
    } catch (const std::exception& e) {
      spdlog::error("metrics: render failed: {}", e.what());
      ReplyJson(res, 500, {{"error", absl::StrCat("internal error: ", e.what())}});
    }
  });
  svr->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content("ok\n", "text/plain");
  });
  svr->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const Readiness r = opts_.readiness ? opts_.readiness() : Readiness{true, ""};
    if (r.ready) {
      res.status = 200;
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat("not ready: ", r.reason, "\n"), "text/plain");
    }
  });
  const httplib::Server::Handler not_found = [](const httplib::Request& req,
                                                httplib::Response& res) {
    ReplyJson(res, 404,
              {{"error", absl::StrCat("no such path: ", req.method, " ", req.path,
                                      " (serving GET /metrics, /healthz, /readyz)")}});
  };
  svr->Get(".*", not_found);
  svr->Post(".*", not_found);
  svr->Put(".*", not_found);
  svr->Patch(".*", not_found);
  svr->Delete(".*", not_found);
  svr->Options(".*", not_found);
  svr->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) ReplyJson(res, res.status, {{"error", absl::StrCat("HTTP error ", res.status)}});
  });

  errno = 0;
  int bound_port = port;
  if (port == 0) {
    bound_port = svr->bind_to_any_port(host);
    if (bound_port <= 0) bound_port = -1;
  } else if (!svr->bind_to_port(host, port)) {
    bound_port = -1;
  }
  if (bound_port < 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrCat(
        "metrics: cannot listen on ", opts_.address, err ? absl::StrCat(": ", std::strerror(err)) : "",
        " (spec.metricsAddress; \"\" turns the listener off)"));
  }
  port_ = static_cast<uint16_t>(bound_port);
  const bool v6 = host.find(':') != std::string::npos;
  bound_ = absl::StrCat(v6 ? "[" : "", host, v6 ? "]" : "", ":", port_);
  svr_ = std::move(svr);
  return absl::OkStatus();
}

absl::Status MetricsServer::Serve() {
  if (!svr_) return absl::FailedPreconditionError("metrics: Serve() before Bind()");
  if (thread_.joinable()) return absl::OkStatus();
  thread_ = std::thread([s = svr_.get()] { s->listen_after_bind(); });
  for (int i = 0; i < 5000 && !svr_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!svr_->is_running()) {
    Stop();
    return absl::InternalError(absl::StrCat("metrics: server on ", bound_, " did not start"));
  }
  spdlog::info("metrics: serving /metrics, /healthz, /readyz on http://{}", bound_);
  return absl::OkStatus();
}

void MetricsServer::Stop() {
  if (!svr_) return;
  svr_->stop();
  if (thread_.joinable()) thread_.join();
  svr_.reset();
}

}  // namespace xvr::metrics

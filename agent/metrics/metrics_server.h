// The agent's TCP listener for Prometheus and the kubelet's probes
// (spec.metricsAddress): GET /metrics (text exposition 0.0.4), /healthz
// (liveness: 200 while the process serves), /readyz (200 once the agent is
// ready, else 503 with the reason); anything else 404 JSON. Separate from the
// unix-socket API on purpose: it is reachable from the network, so it is
// read-only and serves nothing but these three paths.
//
// Bind() and Serve() are separate so the agent can claim the address before
// it touches the data path (a taken port is a start-up error naming the
// address) and start answering once the components the collectors read
// exist.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace httplib {
class Server;
}

namespace xvr::metrics {

struct Readiness {
  bool ready = false;
  std::string reason;  // why not ready; shown by /readyz
};

struct MetricsServerOptions {
  std::string address;  // "host:port"; port 0 binds an ephemeral port
  // The body of GET /metrics. Called on a server thread per scrape.
  std::function<std::string()> render = nullptr;
  std::function<Readiness()> readiness = nullptr;
};

class MetricsServer {
 public:
  explicit MetricsServer(MetricsServerOptions opts);
  ~MetricsServer();  // Stop()s
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Parses the address and binds; InvalidArgument for a bad address,
  // Unavailable when the address cannot be bound. Names the address.
  absl::Status Bind();
  // Starts answering on a background thread; returns once it accepts.
  absl::Status Serve();
  void Stop();

  // "host:port" with the port actually bound (after Bind()).
  const std::string& bound_address() const { return bound_; }
  uint16_t port() const { return port_; }

  // Requests served, by outcome (for the agent's own metrics).
  uint64_t scrapes() const { return scrapes_.load(); }

 private:
  MetricsServerOptions opts_;
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  std::string bound_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> scrapes_{0};
};

}  // namespace xvr::metrics

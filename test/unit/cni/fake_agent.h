// An in-process stand-in for xvr-agent's HTTP API (docs/API.md) on a unix
// socket, with a toy IPAM over 10.244.7.0/24 and knobs for failures.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace httplib {
class Server;
}

namespace xvr::cni::testing {

class FakeAgent {
 public:
  static constexpr char kGateway[] = "10.244.7.1";
  static constexpr int kPrefixLen = 24;
  static constexpr unsigned kMtu = 1400;

  struct Endpoint {
    nlohmann::json request;  // the POST body
    std::string ip;          // without prefix length
  };

  explicit FakeAgent(std::string socket_path);
  ~FakeAgent();

  // Serves until Stop(). hostIfname must exist, as for the real agent; with
  // `netns` (a /run/netns path) the serving threads run in it, so it is
  // looked up there (the plugin's "node" netns in the e2e tests).
  void Start(const std::string& netns = "");
  void Stop();

  // Knobs.
  void SetHealthy(bool healthy);
  void SetRegisterStatus(int status);          // non-zero: answer POST with it
  void SetExtraRoutes(nlohmann::json routes);  // appended to the answer's routes

  // State.
  std::map<std::string, Endpoint> Endpoints() const;  // key "containerID/ifname"
  std::vector<std::string> Requests() const;          // "POST /v1/endpoints", ...
  void Forget(const std::string& key);                // drop an endpoint

 private:
  void Route();
  std::string socket_;
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  mutable std::mutex mu_;
  bool healthy_ = true;
  int register_status_ = 0;
  nlohmann::json extra_routes_ = nlohmann::json::array();
  int next_host_ = 2;
  std::map<std::string, Endpoint> endpoints_;
  std::vector<std::string> requests_;
};

}  // namespace xvr::cni::testing

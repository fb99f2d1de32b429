#include "test/unit/cni/fake_agent.h"

#include <fcntl.h>
#include <httplib.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace xvr::cni::testing {
namespace {

using nlohmann::json;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

}  // namespace

FakeAgent::FakeAgent(std::string socket_path) : socket_(std::move(socket_path)) {}

FakeAgent::~FakeAgent() { Stop(); }

void FakeAgent::Start(const std::string& netns) {
  ::unlink(socket_.c_str());
  svr_ = std::make_unique<httplib::Server>();
  svr_->set_address_family(AF_UNIX);
  Route();
  if (!svr_->bind_to_port(socket_, 80)) throw std::runtime_error("fake agent: bind failed");
  int ns_fd = -1;
  if (!netns.empty()) {
    ns_fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) throw std::runtime_error("fake agent: open netns failed");
  }
  // httplib's worker threads are started by this thread and inherit its netns.
  thread_ = std::thread([s = svr_.get(), ns_fd] {
    if (ns_fd >= 0) {
      if (::setns(ns_fd, CLONE_NEWNET) != 0) std::abort();
      ::close(ns_fd);
    }
    s->listen_after_bind();
  });
  for (int i = 0; i < 5000 && !svr_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void FakeAgent::Stop() {
  if (!svr_) return;
  svr_->stop();
  if (thread_.joinable()) thread_.join();
  svr_.reset();
  ::unlink(socket_.c_str());
}

void FakeAgent::SetHealthy(bool healthy) {
  std::lock_guard<std::mutex> l(mu_);
  healthy_ = healthy;
}

void FakeAgent::SetRegisterStatus(int status) {
  std::lock_guard<std::mutex> l(mu_);
  register_status_ = status;
}

void FakeAgent::SetExtraRoutes(json routes) {
  std::lock_guard<std::mutex> l(mu_);
  extra_routes_ = std::move(routes);
}

std::map<std::string, FakeAgent::Endpoint> FakeAgent::Endpoints() const {
  std::lock_guard<std::mutex> l(mu_);
  return endpoints_;
}

std::vector<std::string> FakeAgent::Requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

void FakeAgent::Forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  endpoints_.erase(key);
}

void FakeAgent::Route() {
  svr_->set_logger([this](const httplib::Request& req, const httplib::Response&) {
    std::lock_guard<std::mutex> l(mu_);
    requests_.push_back(req.method + " " + req.path);
  });
  svr_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    if (healthy_) return Reply(res, 200, {{"status", "ok"}});
    Reply(res, 503, {{"status", "starting"}});
  });
  svr_->Post("/v1/endpoints", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    if (register_status_ != 0) return Reply(res, register_status_, {{"error", "canned failure"}});
    json body = json::parse(req.body, nullptr, false);
    for (const char* k : {"containerID", "ifname", "netns", "hostIfname", "mac"}) {
      if (!body.is_object() || !body.contains(k) || !body[k].is_string() ||
          body[k].get<std::string>().empty()) {
        return Reply(res, 400, {{"error", std::string(k) + ": required"}});
      }
    }
    const std::string host = body["hostIfname"];
    if (::if_nametoindex(host.c_str()) == 0) {
      return Reply(res, 404, {{"error", "hostIfname " + host + " does not exist"}});
    }
    const std::string key =
        body["containerID"].get<std::string>() + "/" + body["ifname"].get<std::string>();
    auto it = endpoints_.find(key);
    if (it == endpoints_.end()) {
      it = endpoints_.emplace(key, Endpoint{body, "10.244.7." + std::to_string(next_host_++)})
               .first;
    }
    it->second.request = body;
    json routes = json::array({{{"dst", "0.0.0.0/0"}, {"gw", kGateway}}});
    for (const json& r : extra_routes_) routes.push_back(r);
    Reply(res, 200,
          {{"ip", it->second.ip + "/" + std::to_string(kPrefixLen)},
           {"gateway", kGateway},
           {"routes", routes},
           {"mtu", kMtu},
           {"hostMac", "02:00:00:00:00:01"},
           {"hostIfindex", ::if_nametoindex(host.c_str())}});
  });
  auto endpoint_json = [](const Endpoint& ep) {
    return json{{"containerID", ep.request["containerID"]},
                {"ifname", ep.request["ifname"]},
                {"ip", ep.ip},
                {"mac", ep.request["mac"]},
                {"hostIfname", ep.request["hostIfname"]}};
  };
  svr_->Get("/v1/endpoints", [this, endpoint_json](const httplib::Request&,
                                                   httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    json list = json::array();
    for (const auto& [k, ep] : endpoints_) list.push_back(endpoint_json(ep));
    Reply(res, 200, {{"endpoints", list}});
  });
  svr_->Get(R"(/v1/endpoints/([^/]+)/([^/]+))",
            [this, endpoint_json](const httplib::Request& req, httplib::Response& res) {
              std::lock_guard<std::mutex> l(mu_);
              auto it = endpoints_.find(req.matches[1].str() + "/" + req.matches[2].str());
              if (it == endpoints_.end()) return Reply(res, 404, {{"error", "not found"}});
              Reply(res, 200, endpoint_json(it->second));
            });
  svr_->Delete(R"(/v1/endpoints/([^/]+)/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard<std::mutex> l(mu_);
                 const bool deleted =
                     endpoints_.erase(req.matches[1].str() + "/" + req.matches[2].str()) > 0;
                 Reply(res, 200, {{"deleted", deleted}});
               });
  svr_->Post("/v1/gc", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("validAttachments") ||
        !body["validAttachments"].is_array()) {
      return Reply(res, 400, {{"error", "validAttachments: required"}});
    }
    std::map<std::string, bool> valid;
    for (const json& a : body["validAttachments"]) {
      valid[a.value("containerID", "") + "/" + a.value("ifname", "")] = true;
    }
    json removed = json::array();
    for (auto it = endpoints_.begin(); it != endpoints_.end();) {
      if (valid.count(it->first) == 0) {
        removed.push_back({{"containerID", it->second.request["containerID"]},
                           {"ifname", it->second.request["ifname"]}});
        it = endpoints_.erase(it);
      } else {
        ++it;
      }
    }
    Reply(res, 200, {{"removed", removed}});
  });
}

}  // namespace xvr::cni::testing

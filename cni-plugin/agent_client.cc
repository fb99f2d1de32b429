#include "cni-plugin/agent_client.h"

#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/errors.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

// A burst of pod creations can find the agent's listen backlog full; a unix
// connect() then fails at once, so retry the connect a few times. Only
// connection failures are retried: the request was never sent.
constexpr int kConnectAttempts = 3;
constexpr auto kConnectBackoff = std::chrono::milliseconds(100);

std::string StringField(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::Status BadAnswer(absl::string_view what) {
  return CniError(Code::kAgentError, absl::StrCat("agent answered ", what));
}

}  // namespace

std::string EscapePathSegment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

absl::StatusOr<json> AgentClient::Call(const std::string& method, const std::string& path,
                                       const json* body) {
  httplib::Client cli(socket_);
  cli.set_address_family(AF_UNIX);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(15, 0);
  cli.set_write_timeout(5, 0);
  // Strings from CNI_ARGS may hold invalid UTF-8; dump() would throw on them.
  const std::string payload =
      body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
  httplib::Result res{nullptr, httplib::Error::Unknown};
  for (int attempt = 1; attempt <= kConnectAttempts; ++attempt) {
    if (method == "GET") {
      res = cli.Get(path);
    } else if (method == "POST") {
      res = cli.Post(path, payload, "application/json");
    } else {
      res = cli.Delete(path);
    }
    if (res || res.error() != httplib::Error::Connection) break;
    if (attempt < kConnectAttempts) std::this_thread::sleep_for(kConnectBackoff);
  }
  if (!res) {
    return CniError(Code::kTryAgainLater,
                    absl::StrCat("cannot reach the xvr agent at ", socket_, " (",
                                 httplib::to_string(res.error()), ")"));
  }
  spdlog::debug("agent: {} {} -> {}", method, path, res->status);
  json answer = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status >= 200 && res->status < 300) {
    if (answer.is_discarded() || !answer.is_object()) return BadAnswer("with invalid JSON");
    return answer;
  }
  std::string msg = answer.is_object() ? StringField(answer, "error") : std::string();
  if (msg.empty()) msg = res->body;
  const std::string text =
      absl::StrCat("agent: ", method, " ", path, " answered ", res->status, ": ", msg);
  if (res->status == 503) {
    return CniError(Code::kTryAgainLater, text);
  }
  // NotFound keeps code 100 but lets GetEndpoint() callers tell it apart.
  if (res->status == 404) return WithCode(absl::NotFoundError(text), Code::kAgentError);
  return CniError(Code::kAgentError, text);
}

absl::StatusOr<RegisterAnswer> AgentClient::Register(const RegisterRequest& req) {
  json body = {{"containerID", req.container_id}, {"ifname", req.ifname},
               {"netns", req.netns},              {"hostIfname", req.host_ifname},
               {"mac", req.mac}};
  if (!req.pod_namespace.empty()) body["podNamespace"] = req.pod_namespace;
  if (!req.pod_name.empty()) body["podName"] = req.pod_name;
  absl::StatusOr<json> j = Call("POST", "/v1/endpoints", &body);
  if (!j.ok()) return j.status();

  RegisterAnswer out;
  out.ip = StringField(*j, "ip");
  out.gateway = StringField(*j, "gateway");
  out.host_mac = StringField(*j, "hostMac");
  if (out.ip.empty() || out.gateway.empty()) return BadAnswer("without \"ip\" or \"gateway\"");
  if (auto o = j->find("offloads"); o != j->end() && o->is_object()) {
    if (auto t = o->find("txChecksum"); t != o->end() && t->is_boolean()) {
      out.tx_checksum_offload = t->get<bool>();
    }
    if (auto g = o->find("segmentation"); g != o->end() && g->is_boolean()) {
      out.segmentation_offload = g->get<bool>();
    }
  }
  if (auto m = j->find("mtu"); m != j->end() && m->is_number_integer()) {
    const int64_t mtu = m->get<int64_t>();
    if (mtu < 0 || mtu > 65535) return BadAnswer(absl::StrCat("with mtu ", mtu));
    out.mtu = static_cast<uint32_t>(mtu);
  }
  if (auto r = j->find("routes"); r != j->end() && r->is_array()) {
    for (const json& e : *r) {
      if (!e.is_object() || StringField(e, "dst").empty()) return BadAnswer("with a bad route");
      out.routes.push_back({StringField(e, "dst"), StringField(e, "gw")});
    }
  }
  return out;
}

absl::Status AgentClient::Unregister(const std::string& container_id, const std::string& ifname) {
  absl::StatusOr<json> j = Call(
      "DELETE",
      absl::StrCat("/v1/endpoints/", EscapePathSegment(container_id), "/",
                   EscapePathSegment(ifname)),
      nullptr);
  return j.status();
}

absl::StatusOr<EndpointView> AgentClient::GetEndpoint(const std::string& container_id,
                                                      const std::string& ifname) {
  ASSIGN_OR_RETURN(json j, Call("GET",
                                absl::StrCat("/v1/endpoints/", EscapePathSegment(container_id),
                                             "/", EscapePathSegment(ifname)),
                                nullptr));
  return EndpointView{StringField(j, "ip"), StringField(j, "hostIfname"), StringField(j, "mac")};
}

absl::StatusOr<std::vector<std::string>> AgentClient::ListHostIfnames() {
  absl::StatusOr<json> j = Call("GET", "/v1/endpoints", nullptr);
  if (!j.ok()) return j.status();
  auto eps = j->find("endpoints");
  if (eps == j->end() || !eps->is_array()) return BadAnswer("without \"endpoints\"");
  std::vector<std::string> out;
  for (const json& e : *eps) {
    if (e.is_object()) out.push_back(StringField(e, "hostIfname"));
  }
  return out;
}

absl::Status AgentClient::Gc(const std::vector<Attachment>& valid) {
  json list = json::array();
  for (const Attachment& a : valid) {
    list.push_back({{"containerID", a.container_id}, {"ifname", a.ifname}});
  }
  const json body = {{"validAttachments", std::move(list)}};
  absl::StatusOr<json> j = Call("POST", "/v1/gc", &body);
  if (!j.ok()) return j.status();
  if (auto r = j->find("removed"); r != j->end() && r->is_array() && !r->empty()) {
    spdlog::info("gc: the agent removed {} endpoint(s): {}", r->size(), r->dump());
  }
  return absl::OkStatus();
}

absl::Status AgentClient::Healthz() {
  absl::StatusOr<json> j = Call("GET", "/healthz", nullptr);
  return j.status();
}

}  // namespace xvr::cni

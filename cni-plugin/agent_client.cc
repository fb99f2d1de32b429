#include "cni-plugin/agent_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"
#include "cni-plugin/errors.h"
#include "spdlog/spdlog.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

// A burst of pod creations can find the agent's listen backlog full; connect()
// then waits up to kConnectTimeout and fails, so retry the connect a few
// times. Only connection failures are retried: the request was never sent.
constexpr int kConnectAttempts = 3;
constexpr auto kConnectBackoff = std::chrono::milliseconds(100);
// Per send()/recv() call, as SO_SNDTIMEO/SO_RCVTIMEO (a unix-socket
// connect() waits for backlog room up to SO_SNDTIMEO).
constexpr int kConnectTimeoutSec = 2;
constexpr int kWriteTimeoutSec = 5;
constexpr int kReadTimeoutSec = 15;
// The agent's answers are small JSON documents; anything bigger is broken.
constexpr size_t kMaxLineBytes = 8 << 10;
constexpr int kMaxHeaderLines = 100;
constexpr size_t kMaxBodyBytes = 16 << 20;

std::string StringField(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::Status BadAnswer(absl::string_view what) {
  return CniError(Code::kAgentError, absl::StrCat("agent answered ", what));
}

// Transport failures are plain Statuses here; Call() gives them CNI codes.
absl::Status Errno(absl::string_view what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(err)));
}

absl::Status SetTimeout(int fd, int opt, int seconds) {
  const timeval tv{.tv_sec = seconds, .tv_usec = 0};
  if (::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) != 0) return Errno("setsockopt", errno);
  return absl::OkStatus();
}

// A connected stream socket to `path`, with the read and write timeouts
// set. InvalidArgument for a path that cannot be a unix socket address (not
// worth retrying), Unavailable otherwise.
absl::StatusOr<UniqueFd> Connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket path must have 1 to ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno("socket", errno);
  RETURN_IF_ERROR(SetTimeout(fd.get(), SO_SNDTIMEO, kConnectTimeoutSec));
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EAGAIN || errno == EINPROGRESS) {
      return absl::UnavailableError(
          absl::StrCat("connect: timed out after ", kConnectTimeoutSec, "s (backlog full)"));
    }
    return Errno("connect", errno);
  }
  RETURN_IF_ERROR(SetTimeout(fd.get(), SO_SNDTIMEO, kWriteTimeoutSec));
  RETURN_IF_ERROR(SetTimeout(fd.get(), SO_RCVTIMEO, kReadTimeoutSec));
  return fd;
}

// One connection with a read buffer: just enough HTTP/1.1 for the agent's
// answers (Content-Length, chunked, or a body up to the close).
class Conn {
 public:
  explicit Conn(UniqueFd fd) : fd_(std::move(fd)) {}

  absl::Status Send(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return absl::UnavailableError(
            absl::StrCat("send: timed out after ", kWriteTimeoutSec, "s"));
      }
      if (n < 0) return Errno("send", errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // The next line without its CRLF (or bare LF).
  absl::StatusOr<std::string> ReadLine() {
    for (;;) {
      const size_t eol = buf_.find('\n', pos_);
      if (eol != std::string::npos) {
        std::string line = buf_.substr(pos_, eol - pos_);
        pos_ = eol + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buf_.size() - pos_ > kMaxLineBytes) {
        return absl::UnavailableError(absl::StrCat("a line longer than ", kMaxLineBytes, " bytes"));
      }
      ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) return absl::UnavailableError("connection closed in the middle of the headers");
    }
  }

  absl::Status ReadExactly(size_t n, std::string* out) {
    while (buf_.size() - pos_ < n) {
      ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) {
        return absl::UnavailableError(absl::StrCat(
            "connection closed with ", buf_.size() - pos_, " of ", n, " expected bytes read"));
      }
    }
    out->append(buf_, pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status ReadToEof(std::string* out) {
    for (;;) {
      out->append(buf_, pos_, std::string::npos);
      buf_.clear();
      pos_ = 0;
      if (out->size() > kMaxBodyBytes) return TooBig();
      ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) return absl::OkStatus();
    }
  }

  static absl::Status TooBig() {
    return absl::UnavailableError(absl::StrCat("a body over ", kMaxBodyBytes, " bytes"));
  }

 private:
  // Appends what recv() gives; false at the end of the stream.
  absl::StatusOr<bool> Fill() {
    if (pos_ > 0 && pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    char chunk[16 << 10];
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return absl::UnavailableError(
            absl::StrCat("recv: timed out after ", kReadTimeoutSec, "s"));
      }
      if (n < 0) return Errno("recv", errno);
      buf_.append(chunk, static_cast<size_t>(n));
      return n > 0;
    }
  }

  UniqueFd fd_;
  std::string buf_;
  size_t pos_ = 0;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

absl::StatusOr<HttpAnswer> ReadChunked(Conn& conn) {
  HttpAnswer out;
  for (;;) {
    ASSIGN_OR_RETURN(std::string line, conn.ReadLine());
    absl::string_view size_hex = line;
    if (size_t semi = size_hex.find(';'); semi != absl::string_view::npos) {
      size_hex = size_hex.substr(0, semi);
    }
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_hex), &size)) {
      return absl::UnavailableError(absl::StrCat("bad chunk size \"", line, "\""));
    }
    if (size == 0) break;
    if (size > kMaxBodyBytes || out.body.size() + size > kMaxBodyBytes) return Conn::TooBig();
    RETURN_IF_ERROR(conn.ReadExactly(size, &out.body));
    ASSIGN_OR_RETURN(std::string crlf, conn.ReadLine());
    if (!crlf.empty()) return absl::UnavailableError("chunk not followed by CRLF");
  }
  // Trailers, up to the empty line.
  for (int i = 0; i < kMaxHeaderLines; ++i) {
    ASSIGN_OR_RETURN(std::string trailer, conn.ReadLine());
    if (trailer.empty()) return out;
  }
  return absl::UnavailableError("too many trailer lines");
}

// Sends one request (`payload`: a JSON body, or none) with "Connection:
// close" and reads the answer.
absl::StatusOr<HttpAnswer> RoundTrip(Conn conn, const std::string& method,
                                     const std::string& path, const std::string* payload) {
  std::string req = absl::StrCat(method, " ", path,
                                 " HTTP/1.1\r\n"
                                 "Host: localhost\r\n"
                                 "Accept: application/json\r\n"
                                 "Connection: close\r\n");
  if (payload != nullptr) {
    absl::StrAppend(&req, "Content-Type: application/json\r\nContent-Length: ", payload->size(),
                    "\r\n\r\n", *payload);
  } else {
    absl::StrAppend(&req, "\r\n");
  }
  RETURN_IF_ERROR(conn.Send(req));

  // "HTTP/1.1 200 OK"
  ASSIGN_OR_RETURN(std::string status_line, conn.ReadLine());
  HttpAnswer out;
  {
    const absl::string_view sl = status_line;
    if (!absl::StartsWith(sl, "HTTP/1.") || sl.size() < 12 || sl[8] != ' ' ||
        !absl::SimpleAtoi(sl.substr(9, 3), &out.status) || out.status < 100 ||
        (sl.size() > 12 && sl[12] != ' ')) {
      return absl::UnavailableError(
          absl::StrCat("bad status line \"", absl::CEscape(sl.substr(0, 64)), "\""));
    }
  }
  std::optional<uint64_t> content_length;
  bool chunked = false;
  for (int i = 0;; ++i) {
    if (i == kMaxHeaderLines) return absl::UnavailableError("too many header lines");
    ASSIGN_OR_RETURN(std::string line, conn.ReadLine());
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) {
      return absl::UnavailableError(
          absl::StrCat("bad header line \"", absl::CEscape(line.substr(0, 64)), "\""));
    }
    const absl::string_view name = absl::string_view(line).substr(0, colon);
    const absl::string_view value =
        absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::UnavailableError(absl::StrCat("bad Content-Length \"", value, "\""));
      }
      content_length = n;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
    }
  }
  // RFC 9112 §6.3: no body for 1xx, 204 and 304; chunked wins over a length.
  if (out.status < 200 || out.status == 204 || out.status == 304) return out;
  if (chunked) {
    ASSIGN_OR_RETURN(HttpAnswer body, ReadChunked(conn));
    out.body = std::move(body.body);
    return out;
  }
  if (content_length) {
    if (*content_length > kMaxBodyBytes) return Conn::TooBig();
    RETURN_IF_ERROR(conn.ReadExactly(*content_length, &out.body));
    return out;
  }
  RETURN_IF_ERROR(conn.ReadToEof(&out.body));
  return out;
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
  // Strings from CNI_ARGS may hold invalid UTF-8; dump() would throw on them.
  const std::string payload =
      body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
  absl::StatusOr<UniqueFd> fd = absl::UnavailableError("not tried");
  for (int attempt = 1; attempt <= kConnectAttempts; ++attempt) {
    fd = Connect(socket_);
    if (fd.ok() || absl::IsInvalidArgument(fd.status())) break;
    if (attempt < kConnectAttempts) std::this_thread::sleep_for(kConnectBackoff);
  }
  if (!fd.ok()) {
    return CniError(Code::kTryAgainLater, absl::StrCat("cannot reach the xvr agent at ", socket_,
                                                       " (", fd.status().message(), ")"));
  }
  absl::StatusOr<HttpAnswer> res =
      RoundTrip(Conn(*std::move(fd)), method, path, body ? &payload : nullptr);
  if (!res.ok()) {
    return CniError(Code::kTryAgainLater,
                    absl::StrCat("no answer from the xvr agent at ", socket_, " to ", method, " ",
                                 path, " (", res.status().message(), ")"));
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

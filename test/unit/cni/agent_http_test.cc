// The agent client's own HTTP/1.1 code against canned byte streams: framing
// the agent's server could use (Content-Length, chunked, close-delimited)
// and broken answers, which must all be CNI code 11 (try again later).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/errors.h"
#include "gtest/gtest.h"
#include "test/unit/cni/test_util.h"

namespace xvr::cni {
namespace {

// Accepts one connection on `path`, reads the request (headers and a
// Content-Length body), writes `answer` and closes.
class CannedServer {
 public:
  CannedServer(const std::string& path, std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  // What the client sent (valid after the client call returned).
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void Serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    size_t want = std::string::npos;
    while (want == std::string::npos || request_.size() < want) {
      const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
      const size_t end = request_.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const size_t cl = request_.find("Content-Length: ");
      want = end + 4 + (cl != std::string::npos && cl < end ? std::stoul(request_.substr(cl + 16))
                                                            : 0);
    }
    ::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  int fd_ = -1;
  std::string answer_;
  std::string request_;
  std::thread thread_;
};

class AgentHttpTest : public ::testing::Test {
 protected:
  std::string Sock() const { return dir_.Sub("agent.sock"); }
  testing::TempDir dir_;
};

TEST_F(AgentHttpTest, ContentLengthAndRequestFraming) {
  CannedServer srv(Sock(),
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 40\r\n"
                   "\r\n{\"endpoints\":[{\"hostIfname\":\"xvr0abc\"}]}");
  AgentClient c(Sock());
  absl::StatusOr<std::vector<std::string>> names = c.ListHostIfnames();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(*names, std::vector<std::string>{"xvr0abc"});
  EXPECT_TRUE(absl::StartsWith(srv.request(), "GET /v1/endpoints HTTP/1.1\r\n")) << srv.request();
  EXPECT_TRUE(absl::StrContains(srv.request(), "Connection: close\r\n"));
}

TEST_F(AgentHttpTest, PostSendsTheBodyWithItsLength) {
  CannedServer srv(Sock(), "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"removed\":[]}");
  AgentClient c(Sock());
  ASSERT_TRUE(c.Gc({{"c1", "eth0"}}).ok());
  const std::string body = R"({"validAttachments":[{"containerID":"c1","ifname":"eth0"}]})";
  const std::string req = srv.request();
  EXPECT_TRUE(absl::StartsWith(req, "POST /v1/gc HTTP/1.1\r\n")) << req;
  EXPECT_TRUE(absl::StrContains(req, "Content-Length: " + std::to_string(body.size()) + "\r\n"));
  EXPECT_TRUE(absl::EndsWith(req, "\r\n\r\n" + body)) << req;
}

TEST_F(AgentHttpTest, Chunked) {
  CannedServer srv(Sock(),
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "8\r\n{\"status\r\n8;ext=1\r\n\":\"ok\"}\r\n0\r\nX-Trailer: 1\r\n\r\n");
  EXPECT_TRUE(AgentClient(Sock()).Healthz().ok());
}

TEST_F(AgentHttpTest, BodyUpToTheClose) {
  CannedServer srv(Sock(), "HTTP/1.0 404 Not Found\n\n{\"error\":\"no such endpoint\"}");
  absl::StatusOr<EndpointView> ep = AgentClient(Sock()).GetEndpoint("c1", "eth0");
  EXPECT_TRUE(absl::IsNotFound(ep.status())) << ep.status();
  EXPECT_EQ(CodeOf(ep.status()), Code::kAgentError);
  EXPECT_TRUE(absl::StrContains(ep.status().message(), "no such endpoint")) << ep.status();
}

TEST_F(AgentHttpTest, BrokenAnswersAreCode11) {
  for (const char* answer : {
           "",                                               // closed without a word
           "SSH-2.0-OpenSSH_9.2\r\n",                        // not HTTP
           "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{",  // cut short
           "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n{}",  // bad length
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nno colon\r\n\r\n{}",
       }) {
    ::unlink(Sock().c_str());
    CannedServer srv(Sock(), answer);
    absl::Status st = AgentClient(Sock()).Healthz();
    ASSERT_FALSE(st.ok()) << answer;
    EXPECT_EQ(CodeOf(st), Code::kTryAgainLater) << st;
    EXPECT_TRUE(absl::StrContains(st.message(), "no answer from the xvr agent")) << st;
  }
}

TEST_F(AgentHttpTest, UnusableSocketPathIsCode11) {
  absl::Status st = AgentClient(std::string(200, 'x')).Healthz();
  EXPECT_EQ(CodeOf(st), Code::kTryAgainLater) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "socket path")) << st;
}

}  // namespace
}  // namespace xvr::cni

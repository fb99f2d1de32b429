// xvr-bench-crr: TCP connect/request/response/close rate (netperf's TCP_CRR
// shape), one connection at a time.
//
//   xvr-bench-crr server --port P [--pidfile F]
//       single-threaded epoll server on 0.0.0.0:P: accepts, reads the
//       request, writes it back, and closes when the client has closed.
//   xvr-bench-crr client --host H --port P --seconds T [--size 8] [--label L]
//       for T seconds: socket, connect, send --size bytes, read them back,
//       close; prints one JSON line (connections, errors, conn/s, latency
//       percentiles of one whole connect..close in microseconds).
//
// Closing: the client sets SO_LINGER {on, 0}, so close() sends a RST and
// neither side keeps the connection in TIME_WAIT; the server sees the RST
// (ECONNRESET) or EOF and closes its end. Without it a loop like this one
// runs out of ephemeral ports (or fills the TIME_WAIT table) within seconds
// and then measures the port allocator instead of the path. Consequence:
// the client's ephemeral ports are reused quickly, so a new connection may
// carry the same 4-tuple as one a few seconds earlier (Linux's connect()
// port choice walks the range), which a connection tracker may still hold.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status Serve(uint16_t port, const std::string& pidfile) {
  UniqueFd lfd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!lfd.valid()) return ErrnoStatus(errno, "socket");
  const int one = 1;
  ::setsockopt(lfd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::bind(lfd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind 0.0.0.0:", port));
  }
  if (::listen(lfd.get(), 4096) != 0) return ErrnoStatus(errno, "listen");
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return ErrnoStatus(errno, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd.get();
  if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, lfd.get(), &ev) != 0) return ErrnoStatus(errno, "epoll_ctl");
  if (!pidfile.empty()) std::ofstream(pidfile) << ::getpid() << "\n";

  std::vector<epoll_event> events(256);
  char buf[4096];
  for (;;) {
    const int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == lfd.get()) {
        for (;;) {
          const int c = ::accept4(lfd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;  // EAGAIN (or a connection reset before accept)
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, c, &cev) != 0) {
            ::close(c);
            continue;
          }
        }
        continue;
      }
      bool done = false;
      for (;;) {
        const ssize_t r = ::read(fd, buf, sizeof(buf));
        if (r > 0) {
          // Echo whatever arrived (requests are tiny: one write).
          if (::write(fd, buf, r) != r) done = true;
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
        done = true;  // EOF or ECONNRESET: the client is gone
        break;
      }
      if (done) {
        ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
      }
    }
  }
}

struct ClientResult {
  uint64_t connections = 0;
  uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  std::vector<uint32_t> us;  // per connection
};

// One connection; returns "" or what failed.
std::string Once(const sockaddr_in& dst, const std::vector<char>& req, std::vector<char>& resp) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return absl::StrCat("socket: ", std::strerror(errno));
  const linger lg{1, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  const int one = 1;
  ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const timeval tv{2, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)) != 0) {
    return absl::StrCat("connect: ", std::strerror(errno));
  }
  if (::send(s.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return absl::StrCat("send: ", std::strerror(errno));
  }
  size_t got = 0;
  while (got < resp.size()) {
    const ssize_t r = ::recv(s.get(), resp.data() + got, resp.size() - got, 0);
    if (r <= 0) return r == 0 ? "recv: EOF before the answer" : absl::StrCat("recv: ", std::strerror(errno));
    got += r;
  }
  if (std::memcmp(resp.data(), req.data(), req.size()) != 0) return "answer differs from request";
  return "";  // UniqueFd closes: RST (SO_LINGER 0)
}

absl::Status Client(const std::string& host, uint16_t port, double seconds, size_t size,
                    const std::string& label) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &dst.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--host: not an IPv4 address: ", host));
  }
  std::vector<char> req(size), resp(size);
  for (size_t i = 0; i < size; ++i) req[i] = static_cast<char>('a' + i % 26);
  ClientResult res;
  res.us.reserve(1 << 20);
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    const auto t0 = Clock::now();
    if (t0 >= end) break;
    std::string err = Once(dst, req, resp);
    const auto t1 = Clock::now();
    if (err.empty()) {
      ++res.connections;
      res.us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
    } else {
      if (res.errors++ == 0) res.first_error = err;
      if (res.errors > 100 && res.errors > res.connections) break;  // nothing works: stop early
    }
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(res.us.begin(), res.us.end());
  auto pct = [&](double p) -> uint32_t {
    if (res.us.empty()) return 0;
    size_t r = static_cast<size_t>(p / 100 * res.us.size() + 0.999999);
    r = std::clamp<size_t>(r, 1, res.us.size());
    return res.us[r - 1];
  };
  std::string fe;
  for (char c : res.first_error) fe += (c == '"' || c == '\\') ? ' ' : c;
  std::cout << absl::StrFormat(
                   "{\"label\":\"%s\",\"host\":\"%s\",\"port\":%d,\"seconds\":%.3f,"
                   "\"connections\":%d,\"errors\":%d,\"cps\":%.1f,\"p50_us\":%d,\"p99_us\":%d,"
                   "\"first_error\":\"%s\"}",
                   label, host, port, res.seconds, res.connections, res.errors,
                   res.connections / res.seconds, pct(50), pct(99), fe)
            << std::endl;
  if (res.connections == 0) return absl::UnavailableError(absl::StrCat("no connection succeeded: ", fe));
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  CLI::App app{"TCP connect/request/response/close rate"};
  app.require_subcommand(1);
  uint16_t port = 8080;
  std::string pidfile, host, label;
  double seconds = 2;
  size_t size = 8;
  auto* srv = app.add_subcommand("server", "accept, echo, close (epoll, one thread)");
  srv->add_option("--port", port)->capture_default_str();
  srv->add_option("--pidfile", pidfile, "write the pid here once listening");
  auto* cli = app.add_subcommand("client", "open/request/response/close connections for --seconds");
  cli->add_option("--host", host)->required();
  cli->add_option("--port", port)->capture_default_str();
  cli->add_option("--seconds", seconds)->capture_default_str();
  cli->add_option("--size", size, "request (= response) bytes")->capture_default_str();
  cli->add_option("--label", label, "copied into the JSON line");
  CLI11_PARSE(app, argc, argv);
  absl::Status s = *srv ? xvr::bench::Serve(port, pidfile)
                        : xvr::bench::Client(host, port, seconds, size, label);
  if (!s.ok()) {
    std::cerr << "xvr-bench-crr: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

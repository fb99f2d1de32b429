// xvr-bench-svcwatch: how long an agent takes to program a service change,
// read from the pinned maps of its data path (the agent is not asked).
//
//   xvr-bench-svcwatch count --maps DIR --want N [--rename SRC DST] [--timeout S]
//       renames SRC to DST (the manifest drop: the clock starts just
//       before rename()), then polls xvr_svc until it holds N frontends.
//   xvr-bench-svcwatch change --maps DIR --frontend IP:PORT --expect IP:PORT
//         [--gone IP:PORT] [--rename SRC DST] [--timeout S]
//       renames, then polls until the frontend's Maglev table (xvr_svc ->
//       xvr_maglev[table] -> slots -> xvr_backends) names a backend at
//       --expect and none at --gone: the moment a new connection to the
//       frontend can reach the new endpoint and no longer the old one.
// Prints one JSON line: {"ms": elapsed, "polls": n, ...}. Exit 1 on timeout.
// Polls every --interval-us (200 us: each poll is a few syscalls, `count`
// reads xvr_svc in batches of 4096 entries; sleeping between polls leaves
// the CPU to the agent, which matters on a 2-CPU machine).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"
#include "xvr/abi.h"

namespace xvr::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<UniqueFd> OpenPinned(const std::string& dir, const char* name) {
  const std::string path = absl::StrCat(dir, "/", name);
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", path, ")"));
  return UniqueFd(fd);
}

struct Endpoint {
  uint32_t addr = 0;  // network order
  uint16_t port = 0;  // network order
};

absl::StatusOr<Endpoint> ParseEndpoint(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, ':');
  in_addr a{};
  int port = 0;
  if (parts.size() != 2 || inet_pton(AF_INET, parts[0].c_str(), &a) != 1 ||
      std::sscanf(parts[1].c_str(), "%d", &port) != 1 || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("not IP:PORT: \"", s, "\""));
  }
  return Endpoint{a.s_addr, htons(static_cast<uint16_t>(port))};
}

// Entries of a hash map, counted with BPF_MAP_LOOKUP_BATCH.
absl::StatusOr<uint64_t> CountSvc(int fd) {
  constexpr uint32_t kBatch = 4096;
  static std::vector<xvr_svc_key> keys(kBatch);
  static std::vector<xvr_svc> values(kBatch);
  uint64_t total = 0;
  uint32_t out_batch = 0;
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int ret = bpf_map_lookup_batch(fd, first ? nullptr : &out_batch, &out_batch, keys.data(),
                                         values.data(), &count, &opts);
    first = false;
    if (ret != 0 && errno != ENOENT) return ErrnoStatus(errno, "bpf_map_lookup_batch(xvr_svc)");
    total += count;
    if (ret != 0) break;  // ENOENT: that was the last batch
  }
  return total;
}

struct ChangeMaps {
  UniqueFd svc, backends, maglev;
};

// True when the frontend's table names a backend at `expect` and, with
// `gone`, none at it.
absl::StatusOr<bool> TableReady(const ChangeMaps& m, const xvr_svc_key& key, const Endpoint& expect,
                                const Endpoint* gone) {
  xvr_svc svc{};
  if (bpf_map_lookup_elem(m.svc.get(), &key, &svc) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "bpf_map_lookup_elem(xvr_svc)");
  }
  uint32_t inner_id = 0;
  if (bpf_map_lookup_elem(m.maglev.get(), &svc.table, &inner_id) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "bpf_map_lookup_elem(xvr_maglev)");
  }
  const int ifd = bpf_map_get_fd_by_id(inner_id);
  if (ifd < 0) {
    if (errno == ENOENT) return false;  // swapped out meanwhile
    return ErrnoStatus(errno, "bpf_map_get_fd_by_id(maglev table)");
  }
  UniqueFd inner(ifd);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(inner.get(), &info, &len) != 0) {
    return ErrnoStatus(errno, "bpf_obj_get_info_by_fd(maglev table)");
  }
  std::vector<uint32_t> keys(info.max_entries), slots(info.max_entries);
  uint32_t count = info.max_entries, out_batch = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_lookup_batch(inner.get(), nullptr, &out_batch, keys.data(), slots.data(), &count,
                           &opts) != 0 &&
      errno != ENOENT) {
    return ErrnoStatus(errno, "bpf_map_lookup_batch(maglev table)");
  }
  std::set<uint32_t> ids(slots.begin(), slots.begin() + count);
  bool has = false;
  for (uint32_t id : ids) {
    xvr_backend be{};
    if (bpf_map_lookup_elem(m.backends.get(), &id, &be) != 0) continue;
    if (be.addr == expect.addr && be.port == expect.port) has = true;
    if (gone && be.addr == gone->addr && be.port == gone->port) return false;
  }
  return has;
}

struct Common {
  std::string maps, rename_src, rename_dst;
  double timeout = 300;
  int interval_us = 200;
};

absl::Status Rename(const Common& c) {
  if (c.rename_src.empty()) return absl::OkStatus();
  if (std::rename(c.rename_src.c_str(), c.rename_dst.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", c.rename_src, " ", c.rename_dst));
  }
  return absl::OkStatus();
}

template <typename Poll>
absl::Status Watch(const Common& c, const std::string& what, Poll poll) {
  const auto t0 = Clock::now();
  RETURN_IF_ERROR(Rename(c));
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(c.timeout));
  uint64_t polls = 0;
  std::string last;
  for (;;) {
    ++polls;
    ASSIGN_OR_RETURN(bool done, poll(&last));
    const auto now = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - t0).count();
    if (done) {
      std::cout << absl::StrFormat("{\"what\":\"%s\",\"ms\":%.3f,\"polls\":%d%s}", what, ms, polls,
                                   last)
                << std::endl;
      return absl::OkStatus();
    }
    if (now > deadline) {
      std::cout << absl::StrFormat("{\"what\":\"%s\",\"timeout_ms\":%.0f,\"polls\":%d%s}", what, ms,
                                   polls, last)
                << std::endl;
      return absl::DeadlineExceededError(absl::StrCat(what, ": not programmed after ", ms, " ms"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(c.interval_us));
  }
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  using namespace xvr::bench;
  CLI::App app{"time until a service change is in the pinned maps"};
  app.require_subcommand(1);
  Common c;
  uint64_t want = 0;
  std::string frontend, expect, gone;
  auto common = [&](CLI::App* s) {
    s->add_option("--maps", c.maps, "directory of the pinned maps (<bpfRoot>/maps)")->required();
    s->add_option("--rename", [&](const std::vector<std::string>& v) {
         c.rename_src = v[0];
         c.rename_dst = v[1];
         return true;
       }, "SRC DST: rename first, the clock starts just before")
        ->expected(2);
    s->add_option("--timeout", c.timeout, "seconds")->capture_default_str();
    s->add_option("--interval-us", c.interval_us, "pause between polls")->capture_default_str();
  };
  auto* count = app.add_subcommand("count", "until xvr_svc holds --want frontends");
  common(count);
  count->add_option("--want", want)->required();
  auto* change = app.add_subcommand("change", "until a frontend's table names --expect (not --gone)");
  common(change);
  change->add_option("--frontend", frontend, "ClusterIP:port (TCP, internal)")->required();
  change->add_option("--expect", expect, "backend IP:port that must appear")->required();
  change->add_option("--gone", gone, "backend IP:port that must disappear");
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);

  absl::Status s = [&]() -> absl::Status {
    if (*count) {
      ASSIGN_OR_RETURN(xvr::UniqueFd svc, OpenPinned(c.maps, XVR_MAP_SVC));
      return Watch(c, "count", [&](std::string* last) -> absl::StatusOr<bool> {
        ASSIGN_OR_RETURN(uint64_t n, CountSvc(svc.get()));
        *last = absl::StrCat(",\"frontends\":", n);
        return n == want;
      });
    }
    ChangeMaps m;
    ASSIGN_OR_RETURN(m.svc, OpenPinned(c.maps, XVR_MAP_SVC));
    ASSIGN_OR_RETURN(m.backends, OpenPinned(c.maps, XVR_MAP_BACKENDS));
    ASSIGN_OR_RETURN(m.maglev, OpenPinned(c.maps, XVR_MAP_MAGLEV));
    ASSIGN_OR_RETURN(Endpoint fe, ParseEndpoint(frontend));
    ASSIGN_OR_RETURN(Endpoint ex, ParseEndpoint(expect));
    std::optional<Endpoint> gn;
    if (!gone.empty()) {
      ASSIGN_OR_RETURN(gn, ParseEndpoint(gone));
    }
    xvr_svc_key key{};
    key.addr = fe.addr;
    key.port = fe.port;
    key.proto = IPPROTO_TCP;
    key.scope = XVR_SVC_SCOPE_INTERNAL;
    return Watch(c, "change", [&](std::string*) -> absl::StatusOr<bool> {
      return TableReady(m, key, ex, gn ? &*gn : nullptr);
    });
  }();
  if (!s.ok()) {
    std::cerr << "xvr-bench-svcwatch: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

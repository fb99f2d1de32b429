// The "netlink learning" benchmark of docs/BENCHMARKS.md: time from adding
// N routes with `ip -batch` to all N in the LPM map, in a private netns with
// the real watchers, tables and a real BPF LPM trie. Root only.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace xvr::test {

struct RouteLearnOptions {
  int routes = 100000;
  int rcvbuf_bytes = 32 << 20;  // event socket receive buffer
  int timeout_s = 120;
};

struct RouteLearnResult {
  int routes = 0;
  double ip_batch_ms = 0;  // `ip -batch` start → exit (the kernel's own cost)
  double learn_ms = 0;     // `ip -batch` start → all routes in the map
  double after_ip_ms = 0;  // `ip -batch` exit → all routes in the map
  double verify_ms = 0;    // walking the map with get_next_key to count them
  uint64_t events = 0, overruns = 0, resyncs = 0;
  uint64_t map_updates = 0;
  std::string ToJson() const;
};

// Measures with the table's own count of written entries (cheap to poll
// every 200 µs), then confirms the count by walking the real map.
absl::StatusOr<RouteLearnResult> RunRouteLearn(const RouteLearnOptions& opts);

}  // namespace xvr::test

#include "test/e2e/routing/route_learn_bench.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "test/e2e/routing/routing_lab.h"

namespace xvr::test {

std::string RouteLearnResult::ToJson() const {
  return nlohmann::json{
      {"routes", routes},           {"ip_batch_ms", ip_batch_ms}, {"learn_ms", learn_ms},
      {"after_ip_ms", after_ip_ms}, {"verify_ms", verify_ms},     {"events", events},
      {"overruns", overruns},       {"resyncs", resyncs},         {"map_updates", map_updates}}
      .dump();
}

absl::StatusOr<RouteLearnResult> RunRouteLearn(const RouteLearnOptions& opts) {
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0;
  };
  RoutingLabOptions lopts;
  lopts.rcvbuf_bytes = opts.rcvbuf_bytes;
  ASSIGN_OR_RETURN(std::unique_ptr<RoutingLab> lab, RoutingLab::Create(lopts));
  // /24s from 16.0.0.0 on: room for 2^16 per /8, no overlap with the lab's
  // 192.168.77.0/24.
  const std::vector<std::string> batch = RouteBatch("add", "16.0.0.0", opts.routes, kLabGateway);
  const uint64_t base = lab->routes().stats().in_map;
  const uint64_t target = base + static_cast<uint64_t>(opts.routes);

  const auto t0 = Clock::now();
  RETURN_IF_ERROR(lab->IpBatch(batch));
  const auto t_ip = Clock::now();
  auto waited =
      WaitFor([&] { return lab->routes().stats().in_map >= target; },
              std::chrono::milliseconds(opts.timeout_s * 1000), std::chrono::microseconds(200));
  const auto t_done = Clock::now();
  if (!waited) {
    return absl::DeadlineExceededError(absl::StrCat("only ", lab->routes().stats().in_map - base,
                                                    " of ", opts.routes, " routes learned"));
  }
  const size_t keys = CountKeys(lab->routes_fd(), sizeof(xvr_route_key));
  const auto t_verify = Clock::now();
  if (keys != target) {
    return absl::InternalError(absl::StrCat("map holds ", keys, " keys, expected ", target));
  }
  RouteLearnResult r;
  r.routes = opts.routes;
  r.ip_batch_ms = ms(t_ip - t0);
  r.learn_ms = ms(t_done - t0);
  r.after_ip_ms = t_done > t_ip ? ms(t_done - t_ip) : 0;
  r.verify_ms = ms(t_verify - t_done);
  const auto st = lab->route_watcher().stats();
  r.events = st.events;
  r.overruns = st.overruns;
  r.resyncs = st.resyncs;
  r.map_updates = lab->routes().stats().map_updates;
  return r;
}

}  // namespace xvr::test

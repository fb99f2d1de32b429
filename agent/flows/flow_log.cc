#include "agent/flows/flow_log.h"

#include <netinet/in.h>

#include <atomic>
#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/dataplane/reasons.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

using json = nlohmann::ordered_json;

json Endpoint(uint32_t ip_be, uint16_t port, uint32_t identity, bool with_port,
              const PodNameFn& pod_name) {
  json j = {{"ip", Ipv4Addr::FromBe(ip_be).ToString()}};
  if (with_port) j["port"] = port;
  if (pod_name) {
    if (std::string pod = pod_name(ip_be); !pod.empty()) j["pod"] = std::move(pod);
  }
  if (identity != 0) j["identity"] = identity;
  return j;
}

bool IsPolicyDrop(uint32_t reason) {
  return reason == XVR_R_POLICY_EGRESS || reason == XVR_R_POLICY_INGRESS;
}

}  // namespace

json FlowLogRecord(const FlowRecord& f, const char* event, const EndReason* reason,
                   uint64_t wall_ns, const std::string& node, const PodNameFn& pod_name) {
  json j = {{"time", FormatRfc3339(wall_ns)},
            {"node", node},
            {"verdict", "FORWARDED"},
            {"event", event},
            {"src", Endpoint(f.key.saddr, f.sport(), f.src_identity, true, pod_name)},
            {"dst", Endpoint(f.key.daddr, f.dport(), f.dst_identity, true, pod_name)}};
  if (f.is_service()) {
    j["service"] = {{"ip", f.svc_addr().ToString()}, {"port", f.svc_port}};
  }
  j["proto"] = ProtoName(f.proto());
  j["state"] = FlowStateName(f.state);
  j["packets"] = {{"fwd", f.packets}, {"rev", f.reply_packets}};
  j["bytes"] = {{"fwd", f.bytes}, {"rev", f.reply_bytes}};
  if (f.created_ns != 0 && f.last_ns >= f.created_ns) {
    j["duration_s"] = static_cast<double>(f.last_ns - f.created_ns) / 1e9;
  }
  if (reason) j["end_reason"] = EndReasonName(*reason);
  j["hook"] = HookName(f.hook);
  return j;
}

json DropLogRecord(const DropRecord& d, const std::string& node, const PodNameFn& pod_name) {
  json j = {{"time", FormatRfc3339(d.wall_ns)},
            {"node", node},
            {"verdict", "DROPPED"},
            {"event", "drop"},
            {"drop_reason", d.reason}};
  if (d.has_ip) {
    const bool ports = d.proto == IPPROTO_TCP || d.proto == IPPROTO_UDP ||
                       d.proto == IPPROTO_SCTP;
    j["src"] = Endpoint(d.src.be(), d.sport, 0, ports, pod_name);
    j["dst"] = Endpoint(d.dst.be(), d.dport, 0, ports, pod_name);
    j["proto"] = ProtoName(d.proto);
  } else {
    j["summary"] = d.summary;
  }
  j["hook"] = d.hook;
  j["ifindex"] = d.ifindex;
  j["len"] = d.pkt_len;
  return j;
}

absl::StatusOr<std::unique_ptr<FlowLog>> FlowLog::Open(FlowLogOptions opts) {
  if (opts.path.empty()) return absl::InvalidArgumentError("flow log: empty path");
  if (opts.max_size_bytes == 0 || opts.max_files == 0) {
    return absl::InvalidArgumentError("flow log: max size and max files must be positive");
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        opts.path, opts.max_size_bytes, opts.max_files);
    // Not registered: the agent's global pattern and level must not apply.
    logger = std::make_shared<spdlog::logger>("xvr-flows", std::move(sink));
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("flow log ", opts.path, ": ", e.what()));
  }
  std::unique_ptr<FlowLog> log(new FlowLog(std::move(opts), std::move(logger)));
  log->thread_ = std::thread([l = log.get()] { l->Run(); });
  return log;
}

FlowLog::FlowLog(FlowLogOptions opts, std::shared_ptr<spdlog::logger> logger)
    : opts_(std::move(opts)),
      logger_(std::move(logger)),
      errors_(std::make_shared<std::atomic<uint64_t>>(0)) {
  logger_->set_error_handler([errors = errors_](const std::string&) { ++*errors; });
}

FlowLog::~FlowLog() { Stop(); }

void FlowLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FlowLog::Enqueue(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= opts_.queue_capacity) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

void FlowLog::OnFlowCreated(const FlowRecord& flow) {
  if (!opts_.log_starts) return;
  Enqueue(FlowItem{flow, false, EndReason::kTimeout, MonoToWallNs(flow.created_ns)});
}

void FlowLog::OnFlowEnded(const FlowRecord& flow, EndReason reason) {
  Enqueue(FlowItem{flow, true, reason, WallNowNs()});
}

void FlowLog::OnDrop(const DropRecord& drop) {
  if (!opts_.log_all_drops && !IsPolicyDrop(drop.reason_code)) return;
  Enqueue(drop);
}

void FlowLog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, all written
    std::deque<Item> batch;
    batch.swap(queue_);
    in_flight_ = batch.size();
    lock.unlock();
    for (const Item& item : batch) {
      json j;
      if (const FlowItem* f = std::get_if<FlowItem>(&item)) {
        j = FlowLogRecord(f->flow, f->ended ? "flow_end" : "flow_start",
                          f->ended ? &f->reason : nullptr, f->wall_ns, opts_.node, opts_.pod_name);
      } else {
        j = DropLogRecord(std::get<DropRecord>(item), opts_.node, opts_.pod_name);
      }
      const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace);
      logger_->log(spdlog::level::info, spdlog::string_view_t(line));
    }
    logger_->flush();
    lock.lock();
    written_ += batch.size();
    in_flight_ = 0;
    idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

void FlowLog::Sync() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && in_flight_ == 0; });
}

FlowLogStats FlowLog::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return FlowLogStats{written_, dropped_, errors_->load(), queue_.size() + in_flight_};
}

}  // namespace xvr

#include "agent/flows/flow_table.h"

#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

constexpr uint64_t kNsPerSec = 1000000000ull;

using PackedKey = std::pair<uint64_t, uint64_t>;

PackedKey Pack(const xvr_flow_key& k) {
  static_assert(sizeof(xvr_flow_key) == 2 * sizeof(uint64_t));
  xvr_flow_key clean = k;
  std::memset(clean.pad, 0, sizeof(clean.pad));
  PackedKey p;
  std::memcpy(&p.first, &clean, sizeof(uint64_t));
  std::memcpy(&p.second, reinterpret_cast<const char*>(&clean) + sizeof(uint64_t),
              sizeof(uint64_t));
  return p;
}

auto Order(const FlowRecord& r) {
  return std::make_tuple(r.src().value(), r.dst().value(), r.sport(), r.dport(), r.proto());
}

uint64_t Sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace

bool FlowMatches(const FlowRecord& r, const FlowFilter& f, const PodNameFn& pod_name) {
  if (f.proto && r.proto() != *f.proto) return false;
  if (f.state && r.state != *f.state) return false;
  if (f.ip) {
    const uint32_t be = f.ip->be();
    if (r.key.saddr != be && r.key.daddr != be && !(r.is_service() && r.svc_addr_be == be)) {
      return false;
    }
  }
  if (f.port) {
    if (r.sport() != *f.port && r.dport() != *f.port &&
        !(r.is_service() && r.svc_port == *f.port)) {
      return false;
    }
  }
  if (f.pod) {
    if (!pod_name) return false;
    if (pod_name(r.key.saddr) != *f.pod && pod_name(r.key.daddr) != *f.pod) return false;
  }
  return true;
}

std::vector<FlowRecord> PairFlowEntries(const std::vector<FlowEntry>& entries, bool sorted) {
  struct Slot {
    xvr_flow_key key;
    const xvr_flow* fwd = nullptr;
    const xvr_flow* rev = nullptr;
  };
  std::vector<Slot> slots;
  slots.reserve(entries.size() / 2 + 1);
  absl::flat_hash_map<PackedKey, size_t> index;
  index.reserve(entries.size() / 2 + 1);
  for (const FlowEntry& e : entries) {
    const bool reply = (e.value.flags & XVR_FLOW_F_REPLY) != 0;
    const xvr_flow_key fwd_key = reply ? ReverseKey(e.key) : e.key;
    auto [it, added] = index.try_emplace(Pack(fwd_key), slots.size());
    if (added) slots.push_back(Slot{fwd_key});
    Slot& s = slots[it->second];
    (reply ? s.rev : s.fwd) = &e.value;
  }
  std::vector<FlowRecord> out;
  out.reserve(slots.size());
  for (const Slot& s : slots) out.push_back(MakeFlowRecord(s.key, s.fwd, s.rev));
  if (sorted) {
    std::sort(out.begin(), out.end(),
              [](const FlowRecord& a, const FlowRecord& b) { return Order(a) < Order(b); });
  }
  return out;
}

uint64_t FlowTimeoutNs(const FlowTimeouts& t, uint8_t proto, uint8_t state) {
  uint32_t s = t.other;
  switch (proto) {
    case IPPROTO_TCP:
      switch (state) {
        case XVR_FLOW_S_SYN_SENT:
        case XVR_FLOW_S_SYN_RECV:
          s = t.tcp_syn;
          break;
        case XVR_FLOW_S_ESTABLISHED:
          s = t.tcp_established;
          break;
        case XVR_FLOW_S_FIN_WAIT:
          s = t.tcp_fin;
          break;
        case XVR_FLOW_S_CLOSED:
          s = t.tcp_closed;
          break;
        default:
          s = t.tcp_syn;  // not a TCP state: treat as not yet established
      }
      break;
    case IPPROTO_UDP:
      s = state == XVR_FLOW_S_REPLIED ? t.udp_replied : t.udp;
      break;
    case IPPROTO_ICMP:
      s = t.icmp;
      break;
    case IPPROTO_SCTP:
      // An SCTP association without an answer ages like unanswered UDP.
      s = state == XVR_FLOW_S_REPLIED ? t.sctp : t.udp;
      break;
    default:
      break;
  }
  return static_cast<uint64_t>(s) * kNsPerSec;
}

FlowTable::FlowTable(FlowMaps* maps, FlowTableOptions opts) : maps_(maps), opts_(std::move(opts)) {
  stats_.capacity = maps_->Capacity();
  stats_.gc_interval_s = opts_.gc_interval_s;
}

FlowTable::~FlowTable() { Stop(); }

uint64_t FlowTable::Now() const { return opts_.now_ns ? opts_.now_ns() : MonotonicNowNs(); }

void FlowTable::Start() {
  std::lock_guard<std::mutex> lock(gc_mu_);
  if (gc_thread_.joinable()) return;
  stop_ = false;
  gc_thread_ = std::thread([this] { GcLoop(); });
}

void FlowTable::Stop() {
  {
    std::lock_guard<std::mutex> lock(gc_mu_);
    stop_ = true;
  }
  gc_cv_.notify_all();
  if (gc_thread_.joinable()) gc_thread_.join();
}

void FlowTable::SetTimeouts(const FlowTimeouts& timeouts, uint32_t gc_interval_s) {
  {
    std::lock_guard<std::mutex> lock(op_mu_);
    opts_.timeouts = timeouts;
  }
  {
    std::lock_guard<std::mutex> lock(gc_mu_);
    opts_.gc_interval_s = gc_interval_s;
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.gc_interval_s = gc_interval_s;
}

void FlowTable::GcLoop() {
  std::string last_error;
  std::unique_lock<std::mutex> lock(gc_mu_);
  while (!stop_) {
    lock.unlock();
    absl::StatusOr<GcResult> r = RunGc();
    if (!r.ok()) {
      // Once per distinct error: a broken map would otherwise log every run.
      if (std::string msg(r.status().message()); msg != last_error) {
        spdlog::warn("flows: GC failed: {}", msg);
        last_error = std::move(msg);
      }
    } else {
      if (!last_error.empty()) spdlog::info("flows: GC works again");
      last_error.clear();
      if (r->expired > 0) {
        spdlog::debug("flows: GC ended {} of {} pairs in {} us", r->expired, r->pairs,
                      r->duration_us);
      }
    }
    lock.lock();
    gc_cv_.wait_for(lock, std::chrono::seconds(std::max<uint32_t>(1, opts_.gc_interval_s)),
                    [this] { return stop_; });
  }
}

absl::StatusOr<std::vector<FlowRecord>> FlowTable::ScanLocked() {
  ASSIGN_OR_RETURN(std::vector<FlowEntry> entries, maps_->Dump());
  std::vector<FlowRecord> pairs = PairFlowEntries(entries, /*sorted=*/false);
  // Counters after the dump: a pair created in between is counted as
  // created but not seen live, which errs towards too few evictions.
  ASSIGN_OR_RETURN(FlowCounters counters, maps_->Counters());
  uint64_t orphans = 0;
  for (const FlowRecord& p : pairs) orphans += p.orphan();
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.live_pairs = pairs.size();
  stats_.live_entries = entries.size();
  stats_.orphans = orphans;
  stats_.counters = counters;
  if (!have_baseline_) {
    have_baseline_ = true;
    base_live_ = pairs.size();
    base_created_ = counters[XVR_FS_CREATED];
    base_denied_ = counters[XVR_FS_REEVAL_DENIED];
  }
  RecomputeLocked();
  return pairs;
}

void FlowTable::RecomputeLocked() {
  FlowTableStats& s = stats_;
  s.capacity = maps_->Capacity();
  s.fill = s.capacity ? static_cast<double>(s.live_entries) / s.capacity : 0;
  // A counter below its baseline means the stats map was re-created: count
  // from zero.
  const uint64_t created = s.counters[XVR_FS_CREATED];
  const uint64_t denied = s.counters[XVR_FS_REEVAL_DENIED];
  s.created = created >= base_created_ ? created - base_created_ : created;
  s.ended[static_cast<size_t>(EndReason::kPolicy)] =
      denied >= base_denied_ ? denied - base_denied_ : denied;
  const uint64_t existed = base_live_ + s.created;
  const uint64_t accounted =
      ended_by_agent_ + s.ended[static_cast<size_t>(EndReason::kPolicy)] + s.live_pairs;
  s.evicted = Sub0(existed, accounted);
}

absl::StatusOr<size_t> FlowTable::EndLocked(const std::vector<const FlowRecord*>& pairs,
                                            const std::vector<EndReason>& reasons,
                                            size_t* entries_deleted) {
  std::vector<xvr_flow_key> keys;
  std::vector<size_t> owner;
  keys.reserve(pairs.size() * 2);
  owner.reserve(pairs.size() * 2);
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (pairs[i]->has_forward) {
      keys.push_back(pairs[i]->key);
      owner.push_back(i);
    }
    if (pairs[i]->has_reply) {
      keys.push_back(pairs[i]->reply_key());
      owner.push_back(i);
    }
  }
  if (keys.empty()) return 0;
  std::vector<size_t> missing;
  ASSIGN_OR_RETURN(const size_t deleted, maps_->Delete(keys, &missing));
  *entries_deleted = deleted;
  // A pair whose every entry was already gone was ended by someone else
  // (the LRU, or the data path on a policy change): not ours to report.
  std::vector<int> present(pairs.size(), 0);
  for (size_t o : owner) ++present[o];
  for (size_t m : missing) {
    if (m < owner.size()) --present[owner[m]];
  }
  size_t ended = 0;
  std::array<uint64_t, kNumEndReasons> by_reason{};
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (present[i] <= 0) continue;
    ++ended;
    ++by_reason[static_cast<size_t>(reasons[i])];
    if (opts_.observers) opts_.observers->NotifyEnded(*pairs[i], reasons[i]);
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  for (size_t r = 0; r < kNumEndReasons; ++r) stats_.ended[r] += by_reason[r];
  ended_by_agent_ += ended;
  // Everything we tried to delete is gone now, ours or not.
  stats_.live_pairs = Sub0(stats_.live_pairs, pairs.size());
  uint64_t orphans = 0;
  for (const FlowRecord* p : pairs) orphans += p->orphan();
  stats_.orphans = Sub0(stats_.orphans, orphans);
  stats_.live_entries = Sub0(stats_.live_entries, keys.size());
  RecomputeLocked();
  return ended;
}

absl::StatusOr<std::vector<FlowRecord>> FlowTable::List(const FlowFilter& filter) {
  std::lock_guard<std::mutex> lock(op_mu_);
  ASSIGN_OR_RETURN(std::vector<FlowRecord> pairs, ScanLocked());
  std::vector<FlowRecord> out;
  if (filter.empty()) {
    out = std::move(pairs);
  } else {
    for (FlowRecord& p : pairs) {
      if (FlowMatches(p, filter, opts_.pod_name)) out.push_back(std::move(p));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const FlowRecord& a, const FlowRecord& b) { return Order(a) < Order(b); });
  return out;
}

absl::StatusOr<size_t> FlowTable::Flush(const FlowFilter& filter) {
  std::lock_guard<std::mutex> lock(op_mu_);
  ASSIGN_OR_RETURN(std::vector<FlowRecord> pairs, ScanLocked());
  std::vector<const FlowRecord*> chosen;
  for (const FlowRecord& p : pairs) {
    if (FlowMatches(p, filter, opts_.pod_name)) chosen.push_back(&p);
  }
  size_t entries = 0;
  ASSIGN_OR_RETURN(const size_t ended,
                   EndLocked(chosen, std::vector<EndReason>(chosen.size(), EndReason::kFlushed),
                             &entries));
  if (!chosen.empty()) spdlog::info("flows: flushed {} pairs ({} entries)", ended, entries);
  return ended;
}

absl::StatusOr<GcResult> FlowTable::RunGc() {
  const auto t0 = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(op_mu_);
  GcResult res;
  absl::Status st = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<FlowRecord> pairs, ScanLocked());
    res.pairs = pairs.size();
    const uint64_t now = Now();
    std::vector<const FlowRecord*> expired;
    std::vector<EndReason> reasons;
    for (const FlowRecord& p : pairs) {
      const uint64_t idle = Sub0(now, p.last_ns);
      if (idle < FlowTimeoutNs(opts_.timeouts, p.proto(), p.state)) continue;
      expired.push_back(&p);
      reasons.push_back(p.proto() == IPPROTO_TCP && p.state == XVR_FLOW_S_CLOSED
                            ? EndReason::kClosed
                            : EndReason::kTimeout);
    }
    ASSIGN_OR_RETURN(res.expired, EndLocked(expired, reasons, &res.entries_deleted));
    return absl::OkStatus();
  }();
  res.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
  std::lock_guard<std::mutex> slock(stats_mu_);
  ++stats_.gc_runs;
  stats_.gc_last_duration_us = res.duration_us;
  stats_.gc_total_duration_us += res.duration_us;
  if (!st.ok()) {
    ++stats_.gc_errors;
    stats_.gc_last_error = std::string(st.message());
    return st;
  }
  stats_.gc_deleted_pairs += res.expired;
  stats_.gc_last_expired = res.expired;
  return res;
}

absl::StatusOr<FlowTableStats> FlowTable::Stats() {
  {
    std::lock_guard<std::mutex> lock(op_mu_);
    RETURN_IF_ERROR(ScanLocked().status());
  }
  return LastStats();
}

FlowTableStats FlowTable::LastStats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

}  // namespace xvr

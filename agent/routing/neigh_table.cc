#include "agent/routing/neigh_table.h"

#include <linux/neighbour.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

constexpr uint16_t kUsableStates =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

int Rank(uint16_t state) {
  if (state & (NUD_PERMANENT | NUD_NOARP)) return 4;
  if (state & NUD_REACHABLE) return 3;
  if (state & (NUD_DELAY | NUD_PROBE)) return 2;
  if (state & NUD_STALE) return 1;
  return 0;
}

bool SameNeigh(const xvr_neigh& a, const xvr_neigh& b) {
  return std::memcmp(&a, &b, sizeof(xvr_neigh)) == 0;
}

void LogMapError(uint64_t count, const absl::Status& st) {
  if (count == 1 || count % 1000 == 0) {
    spdlog::error("neighbour map write failed ({} failures so far): {}", count,
                  std::string(st.message()));
  }
}

}  // namespace

bool IsUsableNeighState(uint16_t state) { return (state & kUsableStates) != 0; }

std::string NeighStateName(uint16_t state) {
  static constexpr std::pair<uint16_t, const char*> kNames[] = {
      {NUD_INCOMPLETE, "incomplete"}, {NUD_REACHABLE, "reachable"}, {NUD_STALE, "stale"},
      {NUD_DELAY, "delay"},           {NUD_PROBE, "probe"},         {NUD_FAILED, "failed"},
      {NUD_NOARP, "noarp"},           {NUD_PERMANENT, "permanent"},
  };
  std::vector<std::string> parts;
  for (const auto& [bit, name] : kNames) {
    if (state & bit) parts.emplace_back(name);
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, "|");
}

std::optional<xvr_neigh> NeighTable::Desired(const IpState& s) {
  const Candidate* best = nullptr;
  for (const Candidate& c : s.cands) {
    if (!best || Rank(c.state) > Rank(best->state) ||
        (Rank(c.state) == Rank(best->state) && c.ifindex < best->ifindex)) {
      best = &c;
    }
  }
  if (!best) return std::nullopt;
  xvr_neigh v{};
  std::memcpy(v.mac, best->mac.bytes().data(), XVR_ETH_ALEN);
  v.state = best->state;
  v.ifindex = best->ifindex;
  return v;
}

void NeighTable::SetLocked(Ipv4Addr ip, uint32_t ifindex, const Candidate* c) {
  auto it = ips_.find(ip.value());
  if (it == ips_.end()) {
    if (!c) return;
    it = ips_.try_emplace(ip.value()).first;
  }
  auto& cands = it->second.cands;
  auto pos = std::find_if(cands.begin(), cands.end(),
                          [&](const Candidate& x) { return x.ifindex == ifindex; });
  if (c) {
    if (pos == cands.end()) {
      cands.push_back(*c);
      ++stats_.entries;
    } else {
      *pos = *c;
    }
  } else if (pos != cands.end()) {
    cands.erase(pos);
    --stats_.entries;
  }
}

absl::Status NeighTable::SyncLocked(uint32_t ip) {
  auto it = ips_.find(ip);
  if (it == ips_.end()) return absl::OkStatus();
  IpState& s = it->second;
  const std::optional<xvr_neigh> want = Desired(s);
  const __be32 key = Ipv4Addr(ip).be();
  absl::Status st;
  if (want) {
    if (!s.in_map || !SameNeigh(s.programmed, *want)) {
      st = map_->Update(key, *want);
      if (st.ok()) {
        if (!s.in_map) ++stats_.in_map;
        s.in_map = true;
        s.programmed = *want;
        ++stats_.map_updates;
      }
    }
  } else if (s.in_map) {
    st = map_->Erase(key);
    if (st.ok()) {
      s.in_map = false;
      --stats_.in_map;
      ++stats_.map_deletes;
    }
  }
  if (!st.ok()) {
    needs_reconcile_ = true;
    LogMapError(++stats_.map_errors, st);
  }
  if (!want && !s.in_map) ips_.erase(it);
  return st;
}

void NeighTable::UpsertKernelNeigh(const KernelNeigh& n) {
  absl::MutexLock l(&mu_);
  if (n.has_lladdr && !n.mac.IsZero() && IsUsableNeighState(n.state)) {
    const Candidate c{n.ifindex, n.mac, n.state};
    SetLocked(n.ip, n.ifindex, &c);
  } else {
    SetLocked(n.ip, n.ifindex, nullptr);
  }
  (void)SyncLocked(n.ip.value());
}

void NeighTable::RemoveKernelNeigh(Ipv4Addr ip, uint32_t ifindex) {
  absl::MutexLock l(&mu_);
  SetLocked(ip, ifindex, nullptr);
  (void)SyncLocked(ip.value());
}

void NeighTable::ReplaceKernelNeighs(const std::vector<KernelNeigh>& neighs) {
  absl::MutexLock l(&mu_);
  absl::flat_hash_map<uint32_t, absl::InlinedVector<Candidate, 1>> fresh;
  uint64_t entries = 0;
  for (const KernelNeigh& n : neighs) {
    if (!n.has_lladdr || n.mac.IsZero() || !IsUsableNeighState(n.state)) continue;
    auto& v = fresh[n.ip.value()];
    if (std::any_of(v.begin(), v.end(),
                    [&](const Candidate& c) { return c.ifindex == n.ifindex; })) {
      continue;
    }
    v.push_back(Candidate{n.ifindex, n.mac, n.state});
    ++entries;
  }
  std::vector<uint32_t> changed;
  for (auto& [ip, s] : ips_) {
    if (!fresh.contains(ip)) {
      s.cands.clear();
      changed.push_back(ip);
    }
  }
  for (auto& [ip, v] : fresh) {
    IpState& s = ips_[ip];
    if (s.cands != v) {
      s.cands = std::move(v);
      changed.push_back(ip);
    }
  }
  stats_.entries = entries;
  for (uint32_t ip : changed) (void)SyncLocked(ip);
  ++stats_.resyncs;
  if (needs_reconcile_) (void)ReconcileLocked();
}

absl::Status NeighTable::Reconcile() {
  absl::MutexLock l(&mu_);
  return ReconcileLocked();
}

absl::Status NeighTable::ReconcileLocked() {
  absl::Status first;
  auto keys = map_->Keys();
  if (!keys.ok()) {
    needs_reconcile_ = true;
    LogMapError(++stats_.map_errors, keys.status());
    return keys.status();
  }
  auto note = [&](const absl::Status& st) {
    if (st.ok()) return;
    LogMapError(++stats_.map_errors, st);
    first.Update(st);
  };
  absl::flat_hash_set<uint32_t> present;
  for (__be32 k : *keys) {
    const uint32_t ip = Ipv4Addr::FromBe(k).value();
    auto it = ips_.find(ip);
    if (it != ips_.end() && Desired(it->second)) {
      present.insert(ip);
      continue;
    }
    absl::Status st = map_->Erase(k);
    if (st.ok()) ++stats_.map_deletes;
    note(st);
  }
  std::vector<uint32_t> drop;
  uint64_t in_map = 0;
  for (auto& [ip, s] : ips_) {
    const std::optional<xvr_neigh> want = Desired(s);
    if (!want) {
      s.in_map = false;
      drop.push_back(ip);
      continue;
    }
    const __be32 key = Ipv4Addr(ip).be();
    bool same = false;
    if (present.contains(ip)) {
      auto cur = map_->Lookup(key);
      same = cur.ok() && SameNeigh(*cur, *want);
    }
    if (!same) {
      absl::Status st = map_->Update(key, *want);
      note(st);
      if (!st.ok()) {
        s.in_map = false;
        continue;
      }
      ++stats_.map_updates;
    }
    s.in_map = true;
    s.programmed = *want;
    ++in_map;
  }
  for (uint32_t ip : drop) ips_.erase(ip);
  stats_.in_map = in_map;
  needs_reconcile_ = !first.ok();
  return first;
}

std::vector<NeighEntry> NeighTable::Snapshot() const {
  absl::MutexLock l(&mu_);
  std::vector<NeighEntry> out;
  out.reserve(ips_.size());
  for (const auto& [ip, s] : ips_) {
    const std::optional<xvr_neigh> want = Desired(s);
    if (!want) continue;
    NeighEntry e;
    e.ip = Ipv4Addr(ip);
    e.mac = MacAddr(want->mac);
    e.ifindex = want->ifindex;
    e.state = want->state;
    e.candidates = static_cast<uint32_t>(s.cands.size());
    e.in_map = s.in_map && SameNeigh(s.programmed, *want);
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(),
            [](const NeighEntry& a, const NeighEntry& b) { return a.ip < b.ip; });
  return out;
}

NeighTableStats NeighTable::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

}  // namespace xvr

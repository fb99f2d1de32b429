#include "agent/routing/route_table.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

bool SameRoute(const xvr_route& a, const xvr_route& b) {
  return std::memcmp(&a, &b, sizeof(xvr_route)) == 0;
}

Ipv4Prefix Normalize(const Ipv4Prefix& p) {
  const int len = std::clamp(p.length(), 0, 32);
  const Ipv4Prefix shape(Ipv4Addr(0), len);
  return Ipv4Prefix(Ipv4Addr(p.network().value() & shape.mask()), len);
}

// Logs the first map error and then one in 1000, so a full map does not
// flood the log; every error is counted.
void LogMapError(uint64_t count, const absl::Status& st) {
  if (count == 1 || count % 1000 == 0) {
    spdlog::error("route map write failed ({} failures so far): {}", count,
                  std::string(st.message()));
  }
}

}  // namespace

const char* RouteTypeName(uint32_t type) {
  switch (type) {
    case XVR_RT_LOCAL:
      return "local";
    case XVR_RT_TUNNEL:
      return "tunnel";
    case XVR_RT_KERNEL:
      return "kernel";
    default:
      return "?";
  }
}

xvr_route_key RouteTable::MapKey(const Ipv4Prefix& p) {
  const Ipv4Prefix n = Normalize(p);
  xvr_route_key k{};
  k.prefixlen = static_cast<uint32_t>(n.length());
  k.addr = n.network().be();
  return k;
}

RouteTable::PrefixKey RouteTable::KeyOf(const Ipv4Prefix& p) {
  const Ipv4Prefix n = Normalize(p);
  return PrefixKey{n.network().value(), static_cast<uint8_t>(n.length())};
}

Ipv4Prefix RouteTable::PrefixOf(const PrefixKey& k) { return Ipv4Prefix(Ipv4Addr(k.net), k.len); }

std::optional<xvr_route> RouteTable::Desired(const PrefixState& s) {
  xvr_route r{};
  if (s.local) {
    r.type = XVR_RT_LOCAL;
  } else if (s.tunnel) {
    r.type = XVR_RT_TUNNEL;
    r.tunnel_dst = s.tunnel_dst.be();
  } else if (!s.kernel.empty()) {
    r.type = XVR_RT_KERNEL;
    r.nexthop = s.kernel.front().gateway.be();
    r.ifindex = s.kernel.front().ifindex;
  } else {
    return std::nullopt;
  }
  return r;
}

absl::Status RouteTable::SyncLocked(const PrefixKey& key) {
  auto it = prefixes_.find(key);
  if (it == prefixes_.end()) return absl::OkStatus();
  PrefixState& s = it->second;
  const std::optional<xvr_route> want = Desired(s);
  absl::Status st;
  if (want) {
    if (!s.in_map || !SameRoute(s.programmed, *want)) {
      st = map_->Update(MapKey(PrefixOf(key)), *want);
      if (st.ok()) {
        if (!s.in_map) ++stats_.in_map;
        s.in_map = true;
        s.programmed = *want;
        ++stats_.map_updates;
      }
    }
  } else if (s.in_map) {
    st = map_->Erase(MapKey(PrefixOf(key)));
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
  if (!want && !s.in_map) prefixes_.erase(it);
  return st;
}

void RouteTable::CountIfindex(uint32_t ifindex, int delta) {
  if (delta > 0) {
    ++kernel_per_ifindex_[ifindex];
    return;
  }
  auto it = kernel_per_ifindex_.find(ifindex);
  if (it != kernel_per_ifindex_.end() && --it->second == 0) kernel_per_ifindex_.erase(it);
}

void RouteTable::AddKernelLocked(const KernelRoute& r) {
  PrefixState& s = prefixes_[KeyOf(r.dst)];
  const KernelNh nh{r.priority, r.gateway, r.ifindex, r.protocol};
  auto pos = std::lower_bound(s.kernel.begin(), s.kernel.end(), r.priority,
                              [](const KernelNh& a, uint32_t p) { return a.priority < p; });
  if (pos != s.kernel.end() && pos->priority == r.priority) {
    if (*pos == nh) return;
    CountIfindex(pos->ifindex, -1);
    *pos = nh;
  } else {
    s.kernel.insert(pos, nh);
    ++stats_.kernel_routes;
  }
  CountIfindex(r.ifindex, +1);
}

void RouteTable::UpsertKernelRoute(const KernelRoute& route) {
  absl::MutexLock l(&mu_);
  AddKernelLocked(route);
  (void)SyncLocked(KeyOf(route.dst));
}

void RouteTable::RemoveKernelRoute(const KernelRoute& route) {
  absl::MutexLock l(&mu_);
  const PrefixKey key = KeyOf(route.dst);
  auto it = prefixes_.find(key);
  if (it == prefixes_.end()) return;
  auto& kernel = it->second.kernel;
  auto pos = std::find_if(kernel.begin(), kernel.end(),
                          [&](const KernelNh& nh) { return nh.priority == route.priority; });
  if (pos == kernel.end() || pos->gateway != route.gateway || pos->ifindex != route.ifindex) {
    return;  // not the route we mirror (an alternate, or unknown)
  }
  CountIfindex(pos->ifindex, -1);
  kernel.erase(pos);
  --stats_.kernel_routes;
  (void)SyncLocked(key);
}

void RouteTable::ReplaceKernelRoutes(const std::vector<KernelRoute>& routes) {
  absl::MutexLock l(&mu_);
  // The new kernel source, per prefix, sorted by metric; first one wins.
  absl::flat_hash_map<PrefixKey, absl::InlinedVector<KernelNh, 1>> fresh;
  fresh.reserve(routes.size());
  for (const KernelRoute& r : routes) {
    auto& v = fresh[KeyOf(r.dst)];
    auto pos = std::lower_bound(v.begin(), v.end(), r.priority,
                                [](const KernelNh& a, uint32_t p) { return a.priority < p; });
    if (pos != v.end() && pos->priority == r.priority) continue;
    v.insert(pos, KernelNh{r.priority, r.gateway, r.ifindex, r.protocol});
  }

  std::vector<PrefixKey> changed;
  for (auto& [key, s] : prefixes_) {
    if (!s.kernel.empty() && !fresh.contains(key)) {
      s.kernel.clear();
      changed.push_back(key);
    }
  }
  stats_.kernel_routes = 0;
  kernel_per_ifindex_.clear();
  for (auto& [key, v] : fresh) {
    stats_.kernel_routes += v.size();
    for (const KernelNh& nh : v) ++kernel_per_ifindex_[nh.ifindex];
    PrefixState& s = prefixes_[key];
    if (s.kernel != v) {
      s.kernel = std::move(v);
      changed.push_back(key);
    }
  }
  size_t writes_before = stats_.map_updates + stats_.map_deletes;
  for (const PrefixKey& key : changed) (void)SyncLocked(key);
  ++stats_.kernel_resyncs;
  spdlog::debug("kernel routes resynced: {} routes, {} prefixes changed, {} map writes",
                routes.size(), changed.size(),
                stats_.map_updates + stats_.map_deletes - writes_before);
  if (needs_reconcile_) (void)ReconcileLocked();
}

bool RouteTable::HasKernelRoutesVia(uint32_t ifindex) const {
  absl::MutexLock l(&mu_);
  return kernel_per_ifindex_.contains(ifindex);
}

absl::Status RouteTable::SetLocalPodCidr(std::optional<Ipv4Prefix> cidr) {
  absl::MutexLock l(&mu_);
  std::optional<PrefixKey> next;
  if (cidr) next = KeyOf(*cidr);
  if (next == local_) return absl::OkStatus();
  absl::Status first;
  if (local_) {
    auto it = prefixes_.find(*local_);
    if (it != prefixes_.end()) {
      it->second.local = false;
      first.Update(SyncLocked(*local_));
    }
  }
  local_ = next;
  if (next) {
    prefixes_[*next].local = true;
    first.Update(SyncLocked(*next));
  }
  return first;
}

absl::Status RouteTable::SetTunnelRoutes(const std::vector<TunnelRoute>& routes) {
  absl::flat_hash_map<PrefixKey, Ipv4Addr> fresh;
  fresh.reserve(routes.size());
  for (const TunnelRoute& t : routes) {
    const PrefixKey key = KeyOf(t.pod_cidr);
    auto [it, inserted] = fresh.try_emplace(key, t.node_ip);
    if (!inserted && it->second != t.node_ip) {
      const Ipv4Addr keep = std::min(it->second, t.node_ip);
      spdlog::warn("pod CIDR {} claimed by nodes {} and {}; using {}", PrefixOf(key).ToString(),
                   it->second.ToString(), t.node_ip.ToString(), keep.ToString());
      it->second = keep;
    }
  }

  absl::MutexLock l(&mu_);
  std::vector<PrefixKey> changed;
  for (const auto& [key, ip] : tunnels_) {
    if (!fresh.contains(key)) {
      auto it = prefixes_.find(key);
      if (it != prefixes_.end()) it->second.tunnel = false;
      changed.push_back(key);
    }
  }
  for (const auto& [key, ip] : fresh) {
    PrefixState& s = prefixes_[key];
    if (!s.tunnel || s.tunnel_dst != ip) {
      s.tunnel = true;
      s.tunnel_dst = ip;
      changed.push_back(key);
    }
  }
  tunnels_ = std::move(fresh);
  stats_.tunnel_routes = tunnels_.size();
  absl::Status first;
  for (const PrefixKey& key : changed) first.Update(SyncLocked(key));
  return first;
}

absl::Status RouteTable::Reconcile() {
  absl::MutexLock l(&mu_);
  return ReconcileLocked();
}

absl::Status RouteTable::ReconcileLocked() {
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

  // 1. Keys in the map the table does not want (or not in canonical form).
  absl::flat_hash_set<PrefixKey> present;
  present.reserve(keys->size());
  for (const xvr_route_key& mk : *keys) {
    const int len = static_cast<int>(std::min<uint32_t>(mk.prefixlen, 32));
    const Ipv4Prefix p(Ipv4Addr::FromBe(mk.addr), len);
    const PrefixKey key = KeyOf(p);
    const xvr_route_key canonical = MapKey(p);
    auto it = prefixes_.find(key);
    const bool wanted = it != prefixes_.end() && Desired(it->second).has_value();
    if (wanted && canonical.prefixlen == mk.prefixlen && canonical.addr == mk.addr) {
      present.insert(key);
      continue;
    }
    absl::Status st = map_->Erase(mk);
    if (st.ok()) ++stats_.map_deletes;
    note(st);
  }

  // 2. Every prefix: write what is missing or differs; forget the empty ones.
  std::vector<PrefixKey> drop;
  uint64_t in_map = 0;
  for (auto& [key, s] : prefixes_) {
    const std::optional<xvr_route> want = Desired(s);
    if (!want) {
      s.in_map = false;
      drop.push_back(key);
      continue;
    }
    const xvr_route_key mk = MapKey(PrefixOf(key));
    bool same = false;
    if (present.contains(key)) {
      auto cur = map_->Lookup(mk);
      same = cur.ok() && SameRoute(*cur, *want);
    }
    if (!same) {
      absl::Status st = map_->Update(mk, *want);
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
  for (const PrefixKey& key : drop) prefixes_.erase(key);
  stats_.in_map = in_map;
  needs_reconcile_ = !first.ok();
  return first;
}

std::vector<RouteEntry> RouteTable::Snapshot() const {
  absl::MutexLock l(&mu_);
  std::vector<RouteEntry> out;
  out.reserve(prefixes_.size());
  for (const auto& [key, s] : prefixes_) {
    RouteEntry e;
    e.prefix = PrefixOf(key);
    const std::optional<xvr_route> want = Desired(s);
    if (want) {
      e.type = want->type;
      e.nexthop = Ipv4Addr::FromBe(want->nexthop);
      e.tunnel_dst = Ipv4Addr::FromBe(want->tunnel_dst);
      e.ifindex = want->ifindex;
    }
    if (!s.kernel.empty()) {
      e.sources |= 1u << XVR_RT_KERNEL;
      if (e.type == XVR_RT_KERNEL) {
        e.metric = s.kernel.front().priority;
        e.protocol = s.kernel.front().protocol;
      }
    }
    if (s.tunnel) e.sources |= 1u << XVR_RT_TUNNEL;
    if (s.local) e.sources |= 1u << XVR_RT_LOCAL;
    e.in_map = want && s.in_map && SameRoute(s.programmed, *want);
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(),
            [](const RouteEntry& a, const RouteEntry& b) { return a.prefix < b.prefix; });
  return out;
}

RouteTableStats RouteTable::stats() const {
  absl::MutexLock l(&mu_);
  RouteTableStats s = stats_;
  s.prefixes = prefixes_.size();
  return s;
}

}  // namespace xvr

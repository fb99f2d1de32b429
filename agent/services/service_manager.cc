#include "agent/services/service_manager.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr::services {
namespace {

// Backend ids run 1..kMaxBackendId and then wrap.
constexpr uint32_t kMaxBackendId = 0x7fffffff;
// MaglevTableSize() fails above this many backends.
constexpr size_t kMaxTableBackends = XVR_MAGLEV_MAX / 100;


xvr_backend BackendValueOf(const BackendAddr& a, uint8_t flags) {
  xvr_backend v{};
  v.addr = a.addr.be();
  v.port = htons(a.port);
  v.proto = a.proto;
  v.flags = flags;
  return v;
}

BackendAddr BackendAddrOf(const xvr_backend& v) {
  BackendAddr a;
  a.addr = Ipv4Addr::FromBe(v.addr);
  a.port = ntohs(v.port);
  a.proto = v.proto;
  return a;
}

// Both structs have no padding (abi.h asserts their sizes).
bool Same(const xvr_svc& a, const xvr_svc& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }
bool Same(const xvr_backend& a, const xvr_backend& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

bool Relevant(k8s::Kind kind) {
  return kind == k8s::Kind::kService || kind == k8s::Kind::kEndpointSlice ||
         kind == k8s::Kind::kPod || kind == k8s::Kind::kNode;
}

std::set<uint32_t> Minus(const std::set<uint32_t>& a, const std::set<uint32_t>& b) {
  std::set<uint32_t> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

}  // namespace

// Map work done by one reconcile, added to the stats at its end.
struct ServiceManager::Delta {
  uint64_t backend_writes = 0;
  uint64_t table_writes = 0;
  uint64_t frontend_writes = 0;
  uint64_t deletes = 0;
  uint64_t flushed_flows = 0;
  uint64_t flushed_affinities = 0;
  bool Any() const {
    return backend_writes + table_writes + frontend_writes + deletes + flushed_flows +
               flushed_affinities >
           0;
  }
};

ServiceManager::ServiceManager(k8s::ClusterState* state, ServiceMaps* maps,
                               ServiceManagerOptions opts)
    : state_(state),
      maps_(maps),
      opts_(std::move(opts)),
      reconciler_(state_,
                  {.log_name = "services",
                   .debounce = opts_.debounce,
                   .retry_delay = opts_.retry_delay},
                  {.relevant = [](const k8s::Change& c) { return Relevant(c.key.kind); },
                   .reconcile =
                       [this](std::optional<absl::Time> changed_at) {
                         return ReconcileState(changed_at);
                       },
                   .synced = [this] { return stats().synced; }}) {}

ServiceManager::~ServiceManager() { Stop(); }

absl::Status ServiceManager::Start() {
  if (state_ == nullptr) return absl::FailedPreconditionError("ServiceManager: no ClusterState");
  reconciler_.Start();
  return absl::OkStatus();
}

void ServiceManager::Stop() { reconciler_.Stop(); }

absl::Status ServiceManager::Reconcile() { return ReconcileState(std::nullopt); }

absl::Status ServiceManager::ReconcileState(std::optional<absl::Time> changed_at) {
  if (state_ == nullptr) return absl::FailedPreconditionError("ServiceManager: no ClusterState");
  const bool synced = !opts_.wait_for_sync || (state_->Synced(k8s::Kind::kService) &&
                                               state_->Synced(k8s::Kind::kEndpointSlice));
  {
    absl::MutexLock l(&stats_mu_);
    stats_.synced = synced;
  }
  if (!synced) {
    return absl::UnavailableError("waiting for Services and EndpointSlices to be listed");
  }
  const k8s::Snapshot snap = state_->GetSnapshot();
  std::vector<std::string> warnings;
  std::vector<Frontend> frontends =
      BuildFrontends(snap, ModelInput{.local_node = opts_.local_node}, &warnings);
  absl::MutexLock l(&mu_);
  return ReconcileLocked(frontends, std::move(warnings), snap.generation(), changed_at);
}

absl::Status ServiceManager::ReconcileFrontends(const std::vector<Frontend>& frontends,
                                                std::vector<std::string> warnings) {
  absl::MutexLock l(&mu_);
  return ReconcileLocked(frontends, std::move(warnings), 0, std::nullopt);
}

absl::Status ServiceManager::ReconcileLocked(const std::vector<Frontend>& frontends,
                                             std::vector<std::string> warnings, uint64_t generation,
                                             std::optional<absl::Time> changed_at) {
  const absl::Time start = absl::Now();
  Delta delta;
  absl::Status s = adopted_ ? absl::OkStatus() : AdoptLocked();
  if (s.ok()) s = ApplyLocked(frontends, &warnings, &delta);
  const absl::Time end = absl::Now();
  const absl::Duration took = end - start;

  // Log a warning once, not on every reconcile that still has it.
  const std::set<std::string> before(warnings_.begin(), warnings_.end());
  for (const std::string& w : warnings) {
    if (!before.contains(w)) spdlog::warn("services: {}", w);
  }
  warnings_ = std::move(warnings);

  uint64_t tables = 0;
  for (const auto& [key, st] : frontends_) tables += st.slots != nullptr;
  uint64_t backends = 0;
  for (const auto& [id, b] : backends_) backends += b.written;
  if (s.ok() && delta.Any()) {
    spdlog::info(
        "services: {} frontends, {} backends; wrote {} backends, {} tables, {} frontends; "
        "{} deletions; flushed {} flows, {} affinities ({})",
        frontends_.size(), backends, delta.backend_writes, delta.table_writes,
        delta.frontend_writes, delta.deletes, delta.flushed_flows, delta.flushed_affinities,
        absl::FormatDuration(took));
  }

  absl::MutexLock l(&stats_mu_);
  if (s.ok()) {
    ++stats_.reconciles;
    stats_.last_error.clear();
    stats_.programmed_generation = std::max(stats_.programmed_generation, generation);
    if (changed_at) {
      stats_.last_change_to_programmed = end - *changed_at;
      stats_.max_change_to_programmed =
          std::max(stats_.max_change_to_programmed, stats_.last_change_to_programmed);
    }
  } else {
    ++stats_.errors;
    stats_.last_error = s.ToString();
  }
  stats_.last_reconcile_duration = took;
  stats_.frontends = frontends_.size();
  stats_.backends = backends;
  stats_.tables = tables;
  stats_.backend_writes += delta.backend_writes;
  stats_.table_writes += delta.table_writes;
  stats_.frontend_writes += delta.frontend_writes;
  stats_.deletes += delta.deletes;
  stats_.flushed_flows += delta.flushed_flows;
  stats_.flushed_affinities += delta.flushed_affinities;
  stats_.warnings = warnings_.size();
  return s;
}

absl::Status ServiceManager::AdoptLocked() {
  ASSIGN_OR_RETURN(auto backends, maps_->ListBackends());
  ASSIGN_OR_RETURN(auto fronts, maps_->ListFrontends());
  ASSIGN_OR_RETURN(std::vector<uint32_t> tables, maps_->ListTables());
  const uint32_t capacity = maps_->TableCapacity();

  // Lowest id first, so of two entries for one address (never written by
  // us) the same one wins every time; the other is deleted as unused.
  std::sort(backends.begin(), backends.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  uint32_t max_id = 0;
  for (const auto& [id, value] : backends) {
    BackendState& b = backends_[id];
    b.addr = BackendAddrOf(value);
    b.written = true;
    b.value = value;
    if (id != 0 && id <= kMaxBackendId) {
      backend_ids_.try_emplace(b.addr, id);
      max_id = std::max(max_id, id);
    }
  }
  tables_in_use_.insert(tables.begin(), tables.end());

  uint32_t max_table = 0;
  bool any_table = !tables.empty();
  if (any_table) max_table = tables.back();
  for (const auto& [key, value] : fronts) {
    const FrontendKey fk = FromSvcKey(key);
    FrontendState& st = frontends_[fk];
    st.model.key = fk;
    st.svc_written = true;
    st.svc = value;
    st.adopted = true;
    // A table claimed twice (never written by us) stays with the first
    // frontend; the other gets a new one.
    bool claimed = false;
    for (const auto& [k, t] : table_ids_) claimed |= t == value.table;
    if (value.table >= capacity || claimed) continue;
    table_ids_[fk] = value.table;
    tables_in_use_.insert(value.table);
    any_table = true;
    max_table = std::max(max_table, value.table);
    if (value.count == 0 || value.maglev_size == 0) continue;
    absl::StatusOr<std::vector<uint32_t>> slots = maps_->ReadTable(value.table);
    if (!slots.ok()) {
      spdlog::debug("services: table {} of {} not read back ({}); it will be rewritten",
                    value.table, fk.ToString(), slots.status().ToString());
      continue;
    }
    st.table_ids = std::set<uint32_t>(slots->begin(), slots->end());
    st.health = MeasureMaglevTable(*slots);
    st.slots = std::make_shared<const std::vector<uint32_t>>(std::move(*slots));
  }
  next_backend_id_ = max_id >= kMaxBackendId ? 1 : max_id + 1;
  next_table_ = any_table && capacity > 0 ? (max_table + 1) % capacity : 0;
  adopted_ = true;

  {
    absl::MutexLock l(&stats_mu_);
    stats_.adopted_frontends = fronts.size();
    stats_.adopted_backends = backends.size();
  }
  if (!fronts.empty() || !backends.empty() || !tables.empty()) {
    spdlog::info("services: adopted {} frontends, {} backends and {} tables from the maps",
                 fronts.size(), backends.size(), tables.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ServiceManager::BackendIdLocked(const BackendAddr& addr) {
  if (auto it = backend_ids_.find(addr); it != backend_ids_.end()) return it->second;
  for (size_t tries = 0; tries <= backends_.size(); ++tries) {
    const uint32_t id = next_backend_id_;
    next_backend_id_ = id >= kMaxBackendId ? 1 : id + 1;
    if (backends_.contains(id)) continue;
    backends_[id].addr = addr;
    backend_ids_[addr] = id;
    return id;
  }
  return absl::ResourceExhaustedError("no free backend id");
}

absl::StatusOr<uint32_t> ServiceManager::TableIdLocked(const FrontendKey& key) {
  if (auto it = table_ids_.find(key); it != table_ids_.end()) return it->second;
  const uint32_t capacity = maps_->TableCapacity();
  for (uint32_t tries = 0; tries < capacity; ++tries) {
    const uint32_t t = next_table_;
    next_table_ = (t + 1) % capacity;
    if (tables_in_use_.contains(t)) continue;
    tables_in_use_.insert(t);
    table_ids_[key] = t;
    return t;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("all ", capacity, " Maglev tables (" XVR_MAP_MAGLEV ") are in use"));
}

void ServiceManager::FreeTableLocked(const FrontendKey& key) {
  auto it = table_ids_.find(key);
  if (it == table_ids_.end()) return;
  tables_in_use_.erase(it->second);
  table_ids_.erase(it);
}

void ServiceManager::QueueFlushLocked(uint32_t table, uint8_t proto, const std::set<uint32_t>& ids,
                                      bool all) {
  if (ids.empty() && !all) return;
  FlushWork& w = pending_flush_[table];
  // kube-proxy flushes conntrack for UDP only: a UDP "flow" never ends on
  // its own while the client keeps sending, a TCP one does.
  w.udp |= proto == IPPROTO_UDP;
  w.all |= all;
  w.ids.insert(ids.begin(), ids.end());
}

absl::Status ServiceManager::ApplyLocked(const std::vector<Frontend>& frontends,
                                         std::vector<std::string>* warnings, Delta* delta) {
  // The desired state, with ids.
  struct Plan {
    const Frontend* f = nullptr;
    std::vector<Backend> backends;
    std::vector<uint32_t> ids;  // parallel to backends
    std::set<uint32_t> id_set;
    uint32_t table = 0;
    bool kept_m = false;
    xvr_svc svc{};
  };
  std::vector<Plan> plans;
  plans.reserve(frontends.size());
  std::map<uint32_t, xvr_backend> want;
  std::set<FrontendKey> desired;
  for (const Frontend& f : frontends) {
    Plan p;
    p.f = &f;
    p.backends = f.backends;
    if (p.backends.size() > kMaxTableBackends) {
      warnings->push_back(absl::StrCat("Service ", f.service, ": frontend ", f.key.ToString(),
                                       " has ", p.backends.size(), " backends; only the first ",
                                       kMaxTableBackends, " are used"));
      p.backends.resize(kMaxTableBackends);
    }
    absl::StatusOr<uint32_t> table = TableIdLocked(f.key);
    if (!table.ok()) {
      warnings->push_back(absl::StrCat("Service ", f.service, ": frontend ", f.key.ToString(),
                                       " skipped: ", table.status().message()));
      continue;
    }
    p.table = *table;
    for (const Backend& b : p.backends) {
      ASSIGN_OR_RETURN(const uint32_t id, BackendIdLocked(b.addr));
      p.ids.push_back(id);
      p.id_set.insert(id);
      const uint8_t flags =
          (b.local ? XVR_BE_F_LOCAL : 0) | (b.terminating ? XVR_BE_F_TERMINATING : 0);
      auto [it, fresh] = want.try_emplace(id, BackendValueOf(b.addr, flags));
      if (!fresh) it->second.flags |= flags;
    }
    const size_t n = p.backends.size();
    uint32_t m = 0;
    if (n > 0) {
      // Keep M while it still gives every backend >= 100 slots: a new M
      // would reshuffle every flow of the frontend.
      auto prev = frontends_.find(f.key);
      if (prev != frontends_.end() && prev->second.slots && prev->second.slots->size() >= 100 * n &&
          prev->second.slots->size() <= XVR_MAGLEV_MAX) {
        m = static_cast<uint32_t>(prev->second.slots->size());
        p.kept_m = true;
      } else {
        ASSIGN_OR_RETURN(m, MaglevTableSize(n));
      }
    }
    p.svc.table = p.table;
    p.svc.maglev_size = m;
    p.svc.count = static_cast<uint16_t>(n);
    p.svc.flags = f.flags;
    p.svc.affinity_timeout = (f.flags & XVR_SVC_F_AFFINITY) != 0 ? f.affinity_timeout_seconds : 0;
    desired.insert(f.key);
    plans.push_back(std::move(p));
  }

  // 1. Backends, so that every id a table names exists.
  for (const auto& [id, value] : want) {
    BackendState& b = backends_[id];
    if (b.written && Same(b.value, value)) continue;
    RETURN_IF_ERROR(maps_->UpdateBackend(id, value));
    b.written = true;
    b.value = value;
    ++delta->backend_writes;
  }

  // 2. Tables of frontends whose backends changed, written in one batch
  // (each write of the outer map alone waits for an RCU grace period).
  struct PendingTable {
    Plan* plan;
    std::vector<uint32_t> slots;
  };
  std::vector<PendingTable> pending;
  for (Plan& p : plans) {
    if (p.backends.empty()) continue;
    FrontendState& st = frontends_[p.f->key];
    if (st.slots && !st.adopted && st.slots->size() == p.svc.maglev_size &&
        st.table_ids == p.id_set) {
      continue;
    }
    std::vector<MaglevBackend> mb;
    mb.reserve(p.backends.size());
    for (size_t i = 0; i < p.backends.size(); ++i) {
      mb.push_back({p.backends[i].addr.ToString(), p.ids[i]});
    }
    absl::StatusOr<std::vector<uint32_t>> slots = BuildMaglevTable(mb, p.svc.maglev_size);
    if (!slots.ok() && p.kept_m) {
      // An adopted M that is not a usable size: start over.
      ASSIGN_OR_RETURN(p.svc.maglev_size, MaglevTableSize(p.backends.size()));
      slots = BuildMaglevTable(mb, p.svc.maglev_size);
    }
    if (!slots.ok()) {
      return absl::InternalError(
          absl::StrCat("Maglev table of ", p.f->key.ToString(), ": ", slots.status().message()));
    }
    if (st.adopted && st.slots && *st.slots == *slots) {
      st.adopted = false;  // the table left by the previous agent is this one
      continue;
    }
    pending.push_back({&p, std::move(*slots)});
  }
  {
    std::vector<ServiceMaps::TableWrite> writes;
    writes.reserve(pending.size());
    for (const PendingTable& t : pending) writes.push_back({t.plan->table, &t.slots});
    RETURN_IF_ERROR(maps_->SetTables(writes));
  }
  for (PendingTable& t : pending) {
    Plan& p = *t.plan;
    FrontendState& st = frontends_[p.f->key];
    ++delta->table_writes;
    QueueFlushLocked(p.table, p.f->key.proto, Minus(st.table_ids, p.id_set), false);
    st.table_ids = p.id_set;
    st.health = MeasureMaglevTable(t.slots);
    st.slots = std::make_shared<const std::vector<uint32_t>>(std::move(t.slots));
    st.adopted = false;
  }

  // 3. Frontend entries; a frontend that lost its last backend gets count 0
  // first and loses its table after.
  std::vector<const Plan*> emptied;
  for (const Plan& p : plans) {
    FrontendState& st = frontends_[p.f->key];
    if (!st.svc_written || !Same(st.svc, p.svc)) {
      RETURN_IF_ERROR(maps_->UpdateFrontend(ToSvcKey(p.f->key), p.svc));
      st.svc_written = true;
      st.svc = p.svc;
      ++delta->frontend_writes;
    }
    st.model = *p.f;
    st.model.backends = p.backends;
    st.ids = p.ids;
    if (p.backends.empty() && (st.slots || st.adopted)) emptied.push_back(&p);
  }
  {
    std::vector<uint32_t> ids;
    for (const Plan* p : emptied) ids.push_back(p->table);
    RETURN_IF_ERROR(maps_->ClearTables(ids));
  }
  for (const Plan* p : emptied) {
    FrontendState& st = frontends_[p->f->key];
    QueueFlushLocked(p->table, p->f->key.proto, st.table_ids, false);
    if (st.slots) ++delta->deletes;
    st.slots.reset();
    st.table_ids.clear();
    st.health = MaglevHealth{};
    st.adopted = false;
  }

  // 4. Frontends that are gone: entries, then their tables, then table ids.
  std::vector<FrontendKey> gone;
  for (auto it = frontends_.begin(); it != frontends_.end();) {
    if (desired.contains(it->first)) {
      ++it;
      continue;
    }
    FrontendState& st = it->second;
    if (st.svc_written) {
      RETURN_IF_ERROR(maps_->DeleteFrontend(ToSvcKey(it->first)));
      st.svc_written = false;
      ++delta->deletes;
    }
    if (table_ids_.contains(it->first)) {
      gone.push_back(it->first);
      ++it;
      continue;
    }
    it = frontends_.erase(it);
  }
  {
    std::vector<uint32_t> ids;
    for (const FrontendKey& k : gone) ids.push_back(table_ids_.at(k));
    RETURN_IF_ERROR(maps_->ClearTables(ids));
  }
  for (const FrontendKey& k : gone) {
    FrontendState& st = frontends_.at(k);
    const uint32_t table = table_ids_.at(k);
    if (st.slots) ++delta->deletes;
    QueueFlushLocked(table, k.proto, st.table_ids, true);
    FreeTableLocked(k);
    frontends_.erase(k);
  }
  // Tables nobody owns: allocated for a frontend that vanished before it
  // was programmed, or found in the map without a frontend.
  for (auto it = table_ids_.begin(); it != table_ids_.end();) {
    if (desired.contains(it->first)) {
      ++it;
      continue;
    }
    RETURN_IF_ERROR(maps_->ClearTable(it->second));
    tables_in_use_.erase(it->second);
    it = table_ids_.erase(it);
  }
  std::set<uint32_t> owned;
  for (const auto& [key, t] : table_ids_) owned.insert(t);
  for (auto it = tables_in_use_.begin(); it != tables_in_use_.end();) {
    if (owned.contains(*it)) {
      ++it;
      continue;
    }
    RETURN_IF_ERROR(maps_->ClearTable(*it));
    ++delta->deletes;
    it = tables_in_use_.erase(it);
  }

  // 5. Flows and affinities of removed backends. A failure here is retried
  // with the next reconcile, after the unused backends are gone.
  const absl::Status flushed = FlushLocked(delta);

  // 6. Backends no frontend uses.
  for (auto it = backends_.begin(); it != backends_.end();) {
    if (want.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.written) {
      RETURN_IF_ERROR(maps_->DeleteBackend(it->first));
      ++delta->deletes;
    }
    if (auto b = backend_ids_.find(it->second.addr);
        b != backend_ids_.end() && b->second == it->first) {
      backend_ids_.erase(b);
    }
    it = backends_.erase(it);
  }
  return flushed;
}

absl::Status ServiceManager::FlushLocked(Delta* delta) {
  if (pending_flush_.empty()) return absl::OkStatus();
  bool udp = false;
  for (const auto& [table, w] : pending_flush_) udp |= w.udp && !w.ids.empty();
  if (udp) {
    std::vector<std::pair<xvr_nat_key, xvr_svc_ct>> victims;
    RETURN_IF_ERROR(maps_->ScanCt([&](const xvr_nat_key& k, const xvr_svc_ct& v) {
      if (k.proto != IPPROTO_UDP) return;
      auto it = pending_flush_.find(v.table);
      if (it != pending_flush_.end() && it->second.udp && it->second.ids.contains(v.backend_id)) {
        victims.emplace_back(k, v);
      }
    }));
    for (const auto& [k, v] : victims) {
      RETURN_IF_ERROR(maps_->DeleteCt(k));
      // The reply direction, as the backend sends it (see svc_forward).
      xvr_nat_key rk{};
      rk.saddr = v.daddr;
      rk.daddr = v.saddr;
      rk.sport = v.dport;
      rk.dport = v.sport;
      rk.proto = k.proto;
      RETURN_IF_ERROR(maps_->DeleteRev(rk));
      ++delta->flushed_flows;
    }
  }
  std::vector<xvr_aff_key> affinities;
  RETURN_IF_ERROR(maps_->ScanAffinity([&](const xvr_aff_key& k, const xvr_aff_val& v) {
    auto it = pending_flush_.find(k.table);
    if (it != pending_flush_.end() && (it->second.all || it->second.ids.contains(v.backend_id))) {
      affinities.push_back(k);
    }
  }));
  for (const xvr_aff_key& k : affinities) {
    RETURN_IF_ERROR(maps_->DeleteAffinity(k));
    ++delta->flushed_affinities;
  }
  pending_flush_.clear();
  return absl::OkStatus();
}

bool ServiceManager::WaitForGeneration(uint64_t generation, absl::Duration timeout) const {
  absl::MutexLock l(&stats_mu_);
  auto reached = [this, generation]() ABSL_SHARED_LOCKS_REQUIRED(stats_mu_) {
    return stats_.programmed_generation >= generation;
  };
  return stats_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

ServiceManagerStats ServiceManager::stats() const {
  absl::MutexLock l(&stats_mu_);
  return stats_;
}

std::vector<std::string> ServiceManager::warnings() const {
  absl::MutexLock l(&mu_);
  return warnings_;
}

std::vector<ProgrammedService> ServiceManager::Programmed() const {
  absl::MutexLock l(&mu_);
  std::vector<ProgrammedService> out;
  out.reserve(frontends_.size());
  for (const auto& [key, st] : frontends_) {
    ProgrammedService p;
    p.frontend = st.model;
    p.frontend.key = key;
    p.backend_ids = st.ids;
    p.table = st.svc.table;
    p.maglev_size = st.slots ? static_cast<uint32_t>(st.slots->size()) : 0;
    p.maglev = st.health;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<TableCheck> ServiceManager::VerifyTables() const {
  absl::MutexLock l(&mu_);
  std::vector<TableCheck> out;
  for (const auto& [key, st] : frontends_) {
    if (!st.slots) continue;
    TableCheck c;
    c.key = key;
    c.table = st.svc.table;
    absl::StatusOr<std::vector<uint32_t>> kernel = maps_->ReadTable(c.table);
    if (!kernel.ok()) {
      c.status = kernel.status();
    } else {
      const std::vector<uint32_t>& want = *st.slots;
      c.kernel_size = static_cast<uint32_t>(kernel->size());
      const size_t common = std::min(want.size(), kernel->size());
      for (size_t i = 0; i < common; ++i) c.mismatches += want[i] != (*kernel)[i];
      c.mismatches += static_cast<uint32_t>(std::max(want.size(), kernel->size()) - common);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace xvr::services

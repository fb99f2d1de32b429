// An in-memory ServiceMaps: every map as a std::map, counters per
// operation, and a switch to refuse writes of one kind.
#pragma once

#include <array>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/services/service_maps.h"

namespace xvr::services::test {

// Keys compared bytewise (abi.h structs are padding-free or zero-padded).
template <typename K>
struct KeyLess {
  bool operator()(const K& a, const K& b) const { return std::memcmp(&a, &b, sizeof(K)) < 0; }
};

class FakeServiceMaps : public ServiceMaps {
 public:
  explicit FakeServiceMaps(uint32_t table_capacity = XVR_MAX_SERVICES)
      : capacity_(table_capacity) {}

  // Which operation to refuse ("UpdateBackend", "SetTable", "UpdateFrontend",
  // "DeleteFrontend", "DeleteBackend", "ClearTable", "ScanCt", ...); "" = none.
  std::string fail_op;

  absl::Status UpdateFrontend(const xvr_svc_key& key, const xvr_svc& value) override {
    if (absl::Status s = Check("UpdateFrontend"); !s.ok()) return s;
    ++svc_updates;
    svc[key] = value;
    return absl::OkStatus();
  }
  absl::Status DeleteFrontend(const xvr_svc_key& key) override {
    if (absl::Status s = Check("DeleteFrontend"); !s.ok()) return s;
    svc_deletes += svc.erase(key);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::pair<xvr_svc_key, xvr_svc>>> ListFrontends() const override {
    return std::vector<std::pair<xvr_svc_key, xvr_svc>>(svc.begin(), svc.end());
  }

  absl::Status UpdateBackend(uint32_t id, const xvr_backend& value) override {
    if (absl::Status s = Check("UpdateBackend"); !s.ok()) return s;
    ++backend_updates;
    backends[id] = value;
    return absl::OkStatus();
  }
  absl::Status DeleteBackend(uint32_t id) override {
    if (absl::Status s = Check("DeleteBackend"); !s.ok()) return s;
    backend_deletes += backends.erase(id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::pair<uint32_t, xvr_backend>>> ListBackends() const override {
    return std::vector<std::pair<uint32_t, xvr_backend>>(backends.begin(), backends.end());
  }

  absl::Status SetTable(uint32_t table_id, const std::vector<uint32_t>& slots) override {
    if (absl::Status s = Check("SetTable"); !s.ok()) return s;
    if (slots.empty()) return absl::InvalidArgumentError("empty table");
    if (table_id >= capacity_) return absl::OutOfRangeError("table id");
    ++table_sets[table_id];
    tables[table_id] = slots;
    return absl::OkStatus();
  }
  absl::Status ClearTable(uint32_t table_id) override {
    if (absl::Status s = Check("ClearTable"); !s.ok()) return s;
    table_clears += tables.erase(table_id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint32_t>> ReadTable(uint32_t table_id) const override {
    auto it = tables.find(table_id);
    if (it == tables.end()) return absl::NotFoundError("no table");
    return it->second;
  }
  absl::StatusOr<std::vector<uint32_t>> ListTables() const override {
    std::vector<uint32_t> ids;
    for (const auto& [id, t] : tables) ids.push_back(id);
    return ids;
  }
  uint32_t TableCapacity() const override { return capacity_; }

  absl::Status ScanCt(const CtVisitor& visit) const override {
    if (absl::Status s = Check("ScanCt"); !s.ok()) return s;
    for (const auto& [k, v] : ct) visit(k, v);
    return absl::OkStatus();
  }
  absl::Status DeleteCt(const xvr_nat_key& key) override {
    if (absl::Status s = Check("DeleteCt"); !s.ok()) return s;
    ct.erase(key);
    return absl::OkStatus();
  }
  absl::Status DeleteRev(const xvr_nat_key& key) override {
    if (absl::Status s = Check("DeleteRev"); !s.ok()) return s;
    rev.erase(key);
    return absl::OkStatus();
  }
  absl::Status ScanAffinity(const AffinityVisitor& visit) const override {
    if (absl::Status s = Check("ScanAffinity"); !s.ok()) return s;
    for (const auto& [k, v] : aff) visit(k, v);
    return absl::OkStatus();
  }
  absl::Status DeleteAffinity(const xvr_aff_key& key) override {
    if (absl::Status s = Check("DeleteAffinity"); !s.ok()) return s;
    aff.erase(key);
    return absl::OkStatus();
  }

  void ResetCounters() {
    svc_updates = svc_deletes = backend_updates = backend_deletes = table_clears = 0;
    table_sets.clear();
  }
  int TableSets() const {
    int n = 0;
    for (const auto& [id, c] : table_sets) n += c;
    return n;
  }

  std::map<xvr_svc_key, xvr_svc, KeyLess<xvr_svc_key>> svc;
  std::map<uint32_t, xvr_backend> backends;
  std::map<uint32_t, std::vector<uint32_t>> tables;
  std::map<xvr_nat_key, xvr_svc_ct, KeyLess<xvr_nat_key>> ct;
  std::map<xvr_nat_key, xvr_svc_rev, KeyLess<xvr_nat_key>> rev;
  std::map<xvr_aff_key, xvr_aff_val, KeyLess<xvr_aff_key>> aff;

  int svc_updates = 0;
  int svc_deletes = 0;
  int backend_updates = 0;
  int backend_deletes = 0;
  int table_clears = 0;
  std::map<uint32_t, int> table_sets;  // per table id

 private:
  absl::Status Check(const char* op) const {
    if (fail_op == op) return absl::UnavailableError(std::string("fake: ") + op + " refused");
    return absl::OkStatus();
  }
  const uint32_t capacity_;
};

}  // namespace xvr::services::test

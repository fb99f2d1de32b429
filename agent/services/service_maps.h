// The service maps of the data path behind one interface, so the
// ServiceManager runs on an in-memory fake in unit tests:
//
//   xvr_svc       FrontendKey → xvr_svc (count, Maglev size, flags, table)
//   xvr_backends  backend id → xvr_backend
//   xvr_maglev    table id → inner array (slot → backend id), one per frontend
//   xvr_svc_ct    client tuple → chosen backend        (scanned for flushes)
//   xvr_svc_rev   reply tuple → what to restore        (deleted with its CT)
//   xvr_svc_aff   (client, table) → backend            (scanned for flushes)
//
// A Maglev table is replaced, never edited: SetTable() creates a new inner
// map of the table's own size, fills it and then swaps it into xvr_maglev in
// one update, so the data path sees the old table or the new one, never a
// half-written mix (Katran and Cilium do the same).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/dataplane/unique_fd.h"
#include "xvr/abi.h"

namespace xvr::services {

class ServiceMaps {
 public:
  virtual ~ServiceMaps() = default;

  // xvr_svc
  virtual absl::Status UpdateFrontend(const xvr_svc_key& key, const xvr_svc& value) = 0;
  virtual absl::Status DeleteFrontend(const xvr_svc_key& key) = 0;  // missing: not an error
  virtual absl::StatusOr<std::vector<std::pair<xvr_svc_key, xvr_svc>>> ListFrontends() const = 0;

  // xvr_backends
  virtual absl::Status UpdateBackend(uint32_t id, const xvr_backend& value) = 0;
  virtual absl::Status DeleteBackend(uint32_t id) = 0;  // missing: not an error
  virtual absl::StatusOr<std::vector<std::pair<uint32_t, xvr_backend>>> ListBackends() const = 0;

  // xvr_maglev. `slots` is not empty; its size is the table's M.
  virtual absl::Status SetTable(uint32_t table_id, const std::vector<uint32_t>& slots) = 0;
  virtual absl::Status ClearTable(uint32_t table_id) = 0;  // missing: not an error
  // Several tables at once. Every write of the outer map makes the kernel
  // wait for an RCU grace period (about 9 ms here) so that no program still
  // uses the old inner map when the call returns; a batch waits once. The
  // defaults call SetTable / ClearTable one by one. On failure some tables
  // may have been written.
  struct TableWrite {
    uint32_t table_id = 0;
    const std::vector<uint32_t>* slots = nullptr;
  };
  virtual absl::Status SetTables(const std::vector<TableWrite>& writes) {
    for (const TableWrite& w : writes) {
      if (absl::Status s = SetTable(w.table_id, *w.slots); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  virtual absl::Status ClearTables(const std::vector<uint32_t>& table_ids) {
    for (uint32_t id : table_ids) {
      if (absl::Status s = ClearTable(id); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // The table as the data path reads it; NotFound when the slot is empty.
  virtual absl::StatusOr<std::vector<uint32_t>> ReadTable(uint32_t table_id) const = 0;
  // Every table id that holds a table, ascending.
  virtual absl::StatusOr<std::vector<uint32_t>> ListTables() const = 0;
  // Table ids are [0, TableCapacity()).
  virtual uint32_t TableCapacity() const = 0;

  // xvr_svc_ct / xvr_svc_rev / xvr_svc_aff. A scan visits a consistent
  // entry at most once; entries the data path adds or removes meanwhile may
  // or may not be seen. Deleting a missing key is not an error.
  using CtVisitor = std::function<void(const xvr_nat_key&, const xvr_svc_ct&)>;
  using AffinityVisitor = std::function<void(const xvr_aff_key&, const xvr_aff_val&)>;
  virtual absl::Status ScanCt(const CtVisitor& visit) const = 0;
  virtual absl::Status DeleteCt(const xvr_nat_key& key) = 0;
  virtual absl::Status DeleteRev(const xvr_nat_key& key) = 0;
  virtual absl::Status ScanAffinity(const AffinityVisitor& visit) const = 0;
  virtual absl::Status DeleteAffinity(const xvr_aff_key& key) = 0;
};

// The pinned maps under <bpfRoot>/maps (XVR_MAP_* names). Opening checks
// every key/value size against abi.h. Needs CAP_BPF/CAP_SYS_ADMIN.
class BpfServiceMaps : public ServiceMaps {
 public:
  static absl::StatusOr<std::unique_ptr<BpfServiceMaps>> Open(const std::string& maps_dir);

  absl::Status UpdateFrontend(const xvr_svc_key& key, const xvr_svc& value) override;
  absl::Status DeleteFrontend(const xvr_svc_key& key) override;
  absl::StatusOr<std::vector<std::pair<xvr_svc_key, xvr_svc>>> ListFrontends() const override;

  absl::Status UpdateBackend(uint32_t id, const xvr_backend& value) override;
  absl::Status DeleteBackend(uint32_t id) override;
  absl::StatusOr<std::vector<std::pair<uint32_t, xvr_backend>>> ListBackends() const override;

  absl::Status SetTable(uint32_t table_id, const std::vector<uint32_t>& slots) override;
  absl::Status ClearTable(uint32_t table_id) override;
  absl::Status SetTables(const std::vector<TableWrite>& writes) override;
  absl::Status ClearTables(const std::vector<uint32_t>& table_ids) override;
  absl::StatusOr<std::vector<uint32_t>> ReadTable(uint32_t table_id) const override;
  absl::StatusOr<std::vector<uint32_t>> ListTables() const override;
  uint32_t TableCapacity() const override { return maglev_entries_; }

  absl::Status ScanCt(const CtVisitor& visit) const override;
  absl::Status DeleteCt(const xvr_nat_key& key) override;
  absl::Status DeleteRev(const xvr_nat_key& key) override;
  absl::Status ScanAffinity(const AffinityVisitor& visit) const override;
  absl::Status DeleteAffinity(const xvr_aff_key& key) override;

 private:
  BpfServiceMaps() = default;
  // A new inner map holding `slots`, not yet in the outer map.
  absl::StatusOr<UniqueFd> NewTable(uint32_t table_id, const std::vector<uint32_t>& slots) const;

  BpfMap<xvr_svc_key, xvr_svc> svc_;
  BpfMap<uint32_t, xvr_backend> backends_;
  BpfMap<uint32_t, uint32_t> maglev_;  // value: inner map fd on update, inner map id on lookup
  uint32_t maglev_entries_ = 0;
  BpfMap<xvr_nat_key, xvr_svc_ct> ct_;
  BpfMap<xvr_nat_key, xvr_svc_rev> rev_;
  BpfMap<xvr_aff_key, xvr_aff_val> aff_;
};

}  // namespace xvr::services

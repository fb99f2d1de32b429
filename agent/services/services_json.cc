#include "agent/services/services_json.h"

#include <map>

#include "absl/strings/strip.h"

namespace xvr::services {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

const char* FrontendTypeName(Frontend::Type t) {
  switch (t) {
    case Frontend::Type::kClusterIP:
      return "ClusterIP";
    case Frontend::Type::kNodePort:
      return "NodePort";
    case Frontend::Type::kExternalIP:
      return "ExternalIP";
  }
  return "?";
}

std::vector<std::string> FrontendFlagNames(uint16_t flags) {
  std::vector<std::string> out;
  if (flags & XVR_SVC_F_AFFINITY) out.push_back("affinity");
  if (flags & XVR_SVC_F_LOCAL) out.push_back("local");
  if (flags & XVR_SVC_F_KEEP_SRC) out.push_back("keepSrc");
  if (flags & XVR_SVC_F_EMPTY_DROP) out.push_back("emptyDrop");
  return out;
}

nlohmann::json ServiceStatsToJson(const ServiceManagerStats& s) {
  return {{"reconciles", s.reconciles},
          {"errors", s.errors},
          {"lastError", s.last_error},
          {"lastReconcileMs", Ms(s.last_reconcile_duration)},
          {"lastChangeToProgrammedMs", Ms(s.last_change_to_programmed)},
          {"maxChangeToProgrammedMs", Ms(s.max_change_to_programmed)},
          {"programmedGeneration", s.programmed_generation},
          {"synced", s.synced},
          {"frontends", s.frontends},
          {"backends", s.backends},
          {"tables", s.tables},
          {"backendWrites", s.backend_writes},
          {"tableWrites", s.table_writes},
          {"frontendWrites", s.frontend_writes},
          {"deletes", s.deletes},
          {"flushedFlows", s.flushed_flows},
          {"flushedRev", s.flushed_rev},
          {"flushedAffinities", s.flushed_affinities},
          {"adoptedFrontends", s.adopted_frontends},
          {"adoptedBackends", s.adopted_backends},
          {"warnings", s.warnings}};
}

nlohmann::json ServicesToJson(const std::vector<ProgrammedService>& services,
                              const ServiceManagerStats& stats,
                              const std::vector<std::string>& warnings,
                              const std::vector<TableCheck>* checks) {
  std::map<FrontendKey, const TableCheck*> by_key;
  if (checks != nullptr) {
    for (const TableCheck& c : *checks) by_key[c.key] = &c;
  }
  nlohmann::json arr = nlohmann::json::array();
  for (const ProgrammedService& p : services) {
    const Frontend& f = p.frontend;
    nlohmann::json backends = nlohmann::json::array();
    for (size_t i = 0; i < f.backends.size(); ++i) {
      const Backend& b = f.backends[i];
      backends.push_back({{"addr", b.addr.ToString()},
                          {"id", i < p.backend_ids.size() ? p.backend_ids[i] : 0},
                          {"local", b.local},
                          {"terminating", b.terminating},
                          {"pod", b.pod},
                          {"node", b.node_name}});
    }
    nlohmann::json maglev = {{"size", p.maglev.size},
                             {"backends", p.maglev.backends},
                             {"minSlots", p.maglev.min_slots},
                             {"maxSlots", p.maglev.max_slots},
                             {"maxDeviation", p.maglev.max_deviation}};
    if (checks != nullptr && p.maglev_size > 0) {
      auto it = by_key.find(f.key);
      if (it == by_key.end()) {
        maglev["verified"] = false;
        maglev["error"] = "not checked";
      } else if (!it->second->status.ok()) {
        maglev["verified"] = false;
        maglev["error"] = it->second->status.ToString();
      } else {
        maglev["verified"] = it->second->mismatches == 0;
        maglev["kernelSize"] = it->second->kernel_size;
        maglev["mismatches"] = it->second->mismatches;
      }
    }
    std::string frontend = f.key.ToString();
    frontend = std::string(absl::StripSuffix(frontend, " external"));
    arr.push_back({{"service", f.service},
                   {"portName", f.port_name},
                   {"frontend", frontend},
                   {"type", FrontendTypeName(f.type)},
                   {"scope", f.key.scope == XVR_SVC_SCOPE_EXTERNAL ? "external" : "internal"},
                   {"table", p.table},
                   {"flags", FrontendFlagNames(f.flags)},
                   {"affinityTimeoutSeconds", f.affinity_timeout_seconds},
                   {"backends", std::move(backends)},
                   {"maglev", std::move(maglev)}});
  }
  return {
      {"services", std::move(arr)}, {"warnings", warnings}, {"stats", ServiceStatsToJson(stats)}};
}

nlohmann::json ServicesToJson(const ServiceManager& mgr, bool verify) {
  std::vector<TableCheck> checks;
  if (verify) checks = mgr.VerifyTables();
  return ServicesToJson(mgr.Programmed(), mgr.stats(), mgr.warnings(), verify ? &checks : nullptr);
}

}  // namespace xvr::services

#include "agent/ctl/services_view.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/ctl/client.h"

namespace xvr {
namespace {

std::string S(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

template <typename T>
T Num(const nlohmann::json& j, const char* key, T def = 0) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return def;
  return j[key].get<T>();
}

bool Bool(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

// "3", "2 (1 terminating)", "0".
std::string BackendsCell(const nlohmann::json& backends) {
  if (!backends.is_array()) return "";
  size_t terminating = 0;
  for (const auto& b : backends) terminating += Bool(b, "terminating");
  std::string s = absl::StrCat(backends.size());
  if (terminating > 0) absl::StrAppend(&s, " (", terminating, " terminating)");
  return s;
}

// "251 dev 0.40%", "-" without a table; verify results appended.
std::string MaglevCell(const nlohmann::json& m) {
  const uint32_t size = Num<uint32_t>(m, "size");
  if (size == 0) return "-";
  std::string s = absl::StrFormat("%u dev %.2f%%", size, 100.0 * Num<double>(m, "maxDeviation"));
  if (m.contains("verified")) {
    if (Bool(m, "verified")) {
      absl::StrAppend(&s, " verified");
    } else if (m.contains("error")) {
      absl::StrAppend(&s, " UNREADABLE");
    } else {
      absl::StrAppend(&s, " MISMATCH(", Num<uint64_t>(m, "mismatches"), ")");
    }
  }
  return s;
}

std::string FlagsCell(const nlohmann::json& svc) {
  std::vector<std::string> flags;
  if (svc.contains("flags") && svc["flags"].is_array()) {
    for (const auto& f : svc["flags"]) {
      if (!f.is_string()) continue;
      std::string name = f.get<std::string>();
      if (name == "affinity") absl::StrAppend(&name, "=", S(svc, "affinityTimeoutSeconds"), "s");
      flags.push_back(std::move(name));
    }
  }
  return flags.empty() ? "-" : absl::StrJoin(flags, ",");
}

}  // namespace

std::string RenderServices(const nlohmann::json& j, bool verbose) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json& services =
      j.is_object() && j.contains("services") && j["services"].is_array() ? j["services"] : kEmpty;
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : services) {
    std::string frontend = S(s, "frontend");
    if (S(s, "scope") == "external") absl::StrAppend(&frontend, " (external)");
    rows.push_back({S(s, "service"), frontend, S(s, "type"),
                    BackendsCell(s.contains("backends") ? s["backends"] : kEmpty), FlagsCell(s),
                    MaglevCell(s.contains("maglev") ? s["maglev"] : nlohmann::json::object())});
  }
  std::string out =
      RenderTable({"SERVICE", "FRONTEND", "TYPE", "BACKENDS", "FLAGS", "MAGLEV"}, rows);

  if (verbose) {
    std::vector<std::vector<std::string>> be;
    for (const auto& s : services) {
      if (!s.contains("backends") || !s["backends"].is_array()) continue;
      for (const auto& b : s["backends"]) {
        std::vector<std::string> state;
        if (Bool(b, "local")) state.push_back("local");
        if (Bool(b, "terminating")) state.push_back("terminating");
        be.push_back({S(s, "frontend"), S(b, "addr"), S(b, "id"), S(b, "node"), S(b, "pod"),
                      state.empty() ? "-" : absl::StrJoin(state, ",")});
      }
    }
    absl::StrAppend(&out, "\n",
                    RenderTable({"FRONTEND", "BACKEND", "ID", "NODE", "POD", "STATE"}, be));
  }

  if (j.is_object() && j.contains("warnings") && j["warnings"].is_array() &&
      !j["warnings"].empty()) {
    absl::StrAppend(&out, "\nwarnings:\n");
    for (const auto& w : j["warnings"]) {
      absl::StrAppend(&out, "  ", w.is_string() ? w.get<std::string>() : w.dump(), "\n");
    }
  }
  if (j.is_object() && j.contains("stats") && j["stats"].is_object()) {
    const auto& st = j["stats"];
    absl::StrAppend(
        &out, absl::StrFormat("\n%u frontends, %u backends, %u tables; %u reconciles (%u errors), "
                              "last %.1f ms, change to programmed %.1f ms; %u flows flushed\n",
                              Num<uint64_t>(st, "frontends"), Num<uint64_t>(st, "backends"),
                              Num<uint64_t>(st, "tables"), Num<uint64_t>(st, "reconciles"),
                              Num<uint64_t>(st, "errors"), Num<double>(st, "lastReconcileMs"),
                              Num<double>(st, "lastChangeToProgrammedMs"),
                              Num<uint64_t>(st, "flushedFlows")));
    const std::string err = S(st, "lastError");
    if (!err.empty()) absl::StrAppend(&out, "last error: ", err, "\n");
  }
  return out;
}

}  // namespace xvr

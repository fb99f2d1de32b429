#include "agent/ctl/policy_view.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/ctl/client.h"

namespace xvr {
namespace {

using nlohmann::json;

const json& Field(const json& j, const char* key) {
  static const json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

std::string S(const json& j, const char* key) {
  const json& v = Field(j, key);
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

template <typename T>
T Num(const json& j, const char* key, T def = 0) {
  const json& v = Field(j, key);
  return v.is_number() ? v.get<T>() : def;
}

bool Bool(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_boolean() && v.get<bool>();
}

const json& Array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json& v = Field(j, key);
  return v.is_array() ? v : kEmpty;
}

std::string Join(const json& arr, const char* sep = ",") {
  std::vector<std::string> parts;
  for (const auto& v : arr) parts.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  return parts.empty() ? "-" : absl::StrJoin(parts, sep);
}

std::string LabelsCell(const json& labels) {
  if (!labels.is_object() || labels.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels.items()) {
    parts.push_back(absl::StrCat(k, "=", v.is_string() ? v.get<std::string>() : v.dump()));
  }
  return absl::StrJoin(parts, ",");
}

// "isolated (2 rules)" / "-".
std::string IsolationCell(const json& ep, const char* dir, const char* rules_key) {
  if (!Bool(Field(ep, "isolation"), dir)) return "-";
  const size_t n = Array(ep, rules_key).size();
  return absl::StrCat("isolated (", n, n == 1 ? " rule)" : " rules)");
}

std::string IdentCell(const json& id) {
  if (!id.is_object()) return "no identity";
  std::string s = absl::StrCat(S(id, "identity"), " ", S(id, "name"));
  if (Bool(id, "local")) {
    absl::StrAppend(&s, " (local");
    const json& iso = Array(id, "isolation");
    if (!iso.empty()) absl::StrAppend(&s, ", isolated for ", Join(iso, "+"));
    absl::StrAppend(&s, ")");
  }
  return s;
}

std::string DirectionLine(const json& d) {
  if (!Bool(d, "applied")) return "not isolated";
  if (!Bool(d, "allowed")) return "DENIED: no rule matches";
  return absl::StrCat("allowed by ", S(d, "ruleName"), " (rule ", S(d, "rule"), ", peer ",
                      S(d, "peerName"), ", ", S(d, "ports"), ")");
}

}  // namespace

std::string PolicyPath(const std::string& check, bool verbose) {
  if (check.empty()) return verbose ? "/v1/policy?entries=1" : "/v1/policy";
  std::string out = "/v1/policy?check=";
  for (unsigned char ch : check) {
    if (absl::ascii_isalnum(ch) || ch == '.' || ch == ',' || ch == '-' || ch == '_') {
      out += static_cast<char>(ch);
    } else {
      absl::StrAppend(&out, absl::StrFormat("%%%02X", ch));
    }
  }
  return out;
}

std::string RenderPolicy(const json& j, bool verbose) {
  std::string out;
  const json& maps = Field(j, "maps");
  absl::StrAppend(&out, "policy generation ", Num<uint64_t>(j, "generation"), ", ",
                  Num<uint64_t>(j, "policies"), " NetworkPolicies, compiled in ",
                  absl::StrFormat("%.2f", Num<double>(j, "lastCompileMs")), " ms; maps: ipcache ",
                  Num<uint64_t>(maps, "ipcache"), "/", Num<uint64_t>(maps, "ipcacheMax"), ", cidr ",
                  Num<uint64_t>(maps, "cidr"), "/", Num<uint64_t>(maps, "cidrMax"), ", policy ",
                  Num<uint64_t>(maps, "policy"), "/", Num<uint64_t>(maps, "policyMax"), "\n");
  if (j.contains("enforced") && !Bool(j, "enforced")) {
    absl::StrAppend(&out, "NOT ENFORCED: ", S(j, "notEnforcedReason"), "\n");
  }
  const json& stats = Field(j, "stats");
  if (!S(stats, "lastError").empty()) {
    absl::StrAppend(&out, "last reconcile failed: ", S(stats, "lastError"), "\n");
  }
  out += "\n";

  std::vector<std::vector<std::string>> rows;
  for (const auto& ep : Array(j, "endpoints")) {
    std::vector<std::string> policies;
    for (const auto& p : Array(ep, "ingressPolicies")) policies.push_back(p.get<std::string>());
    for (const auto& p : Array(ep, "egressPolicies")) {
      const std::string s = p.get<std::string>();
      if (std::find(policies.begin(), policies.end(), s) == policies.end()) policies.push_back(s);
    }
    rows.push_back({S(ep, "pod"), S(ep, "ip"), S(ep, "identity"),
                    IsolationCell(ep, "ingress", "ingressRules"),
                    IsolationCell(ep, "egress", "egressRules"),
                    policies.empty() ? "-" : absl::StrJoin(policies, ",")});
  }
  out += RenderTable({"POD", "IP", "IDENTITY", "INGRESS", "EGRESS", "POLICIES"}, rows);

  rows.clear();
  for (const auto& r : Array(j, "rules")) {
    rows.push_back({S(r, "index"), S(r, "name"), S(r, "entries")});
  }
  if (!rows.empty()) out += "\n" + RenderTable({"RULE", "POLICY RULE", "ENTRIES"}, rows);

  if (verbose) {
    rows.clear();
    for (const auto& id : Array(j, "identities")) {
      rows.push_back({S(id, "id"), S(id, "namespace"), LabelsCell(Field(id, "labels")),
                      Join(Array(id, "ips")), Bool(id, "local") ? "yes" : "no",
                      Join(Array(id, "isolation"))});
    }
    out +=
        "\n" + RenderTable({"IDENTITY", "NAMESPACE", "LABELS", "IPS", "LOCAL", "ISOLATED"}, rows);
    rows.clear();
    for (const auto& c : Array(j, "cidrIdentities")) rows.push_back({S(c, "id"), S(c, "cidr")});
    if (!rows.empty()) out += "\n" + RenderTable({"IDENTITY", "CIDR"}, rows);
    rows.clear();
    for (const auto& e : Array(j, "entries")) {
      rows.push_back(
          {S(e, "subjectName"), S(e, "direction"), S(e, "peerName"), S(e, "ports"), S(e, "rule")});
    }
    if (!rows.empty()) {
      out += "\n" + RenderTable({"SUBJECT", "DIRECTION", "PEER", "PORTS", "RULE"}, rows);
    }
  }
  const json& warnings = Array(j, "warnings");
  if (!warnings.empty()) {
    out += "\nwarnings:\n";
    for (const auto& w : warnings) absl::StrAppend(&out, "  ", w.get<std::string>(), "\n");
  }
  return out;
}

std::string RenderPolicyCheck(const json& c) {
  std::string out;
  std::string what = S(c, "protocol");
  const std::string proto = S(c, "protocol");
  if (proto == "TCP" || proto == "UDP" || proto == "SCTP")
    absl::StrAppend(&what, "/", S(c, "port"));
  absl::StrAppend(&out, S(c, "src"), " -> ", S(c, "dst"), " ", what, ": ",
                  Bool(c, "allowed") ? "ALLOWED" : "DENIED", "\n");
  absl::StrAppend(&out, "  source       ", IdentCell(Field(c, "srcIdentity")));
  if (Field(c, "srcCidr").is_object()) {
    absl::StrAppend(&out, ", cidr ", S(Field(c, "srcCidr"), "cidr"));
  }
  absl::StrAppend(&out, "\n  destination  ", IdentCell(Field(c, "dstIdentity")));
  if (Field(c, "dstCidr").is_object()) {
    absl::StrAppend(&out, ", cidr ", S(Field(c, "dstCidr"), "cidr"));
  }
  absl::StrAppend(&out, "\n  egress       ", DirectionLine(Field(c, "egress")), "\n");
  absl::StrAppend(&out, "  ingress      ", DirectionLine(Field(c, "ingress")), "\n");
  absl::StrAppend(&out, "  ", S(c, "explanation"), "\n");
  return out;
}

}  // namespace xvr

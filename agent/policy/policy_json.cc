#include "agent/policy/policy_json.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace xvr::policy {
namespace {

using nlohmann::json;

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

const char* DirString(uint8_t dir) { return dir == XVR_POL_INGRESS ? "ingress" : "egress"; }

json IsolationList(uint32_t flags) {
  json a = json::array();
  if (flags & XVR_ID_F_ISO_INGRESS) a.push_back("ingress");
  if (flags & XVR_ID_F_ISO_EGRESS) a.push_back("egress");
  return a;
}

json IdentJson(const DesiredPolicy& d, const std::optional<xvr_ident>& id) {
  if (!id) return nullptr;
  return {{"identity", id->identity},
          {"name", d.IdentityName(id->identity)},
          {"local", (id->flags & XVR_ID_F_LOCAL) != 0},
          {"isolation", IsolationList(id->flags)}};
}

json CidrJson(const std::optional<std::pair<Ipv4Prefix, uint32_t>>& c) {
  if (!c) return nullptr;
  return {{"cidr", c->first.ToString()}, {"identity", c->second}};
}

json DirectionJson(const DesiredPolicy& d, const DirectionVerdict& v) {
  json j = {{"applied", v.applied}, {"allowed", v.allowed}};
  if (!v.applied) return j;
  j["subject"] = v.subject;
  if (v.key) {
    j["peer"] = v.peer;
    j["peerName"] = d.IdentityName(v.peer);
    j["ports"] = v.key->PortString();
    j["rule"] = v.rule;
    auto it = d.rules.find(v.rule);
    j["ruleName"] = it == d.rules.end() ? "" : it->second.Name();
  }
  return j;
}

absl::StatusOr<uint8_t> ParseProto(std::string s) {
  s = absl::AsciiStrToLower(s);
  if (s == "tcp") return kProtoTcp;
  if (s == "udp") return kProtoUdp;
  if (s == "sctp") return kProtoSctp;
  if (s == "icmp") return kProtoIcmp;
  int n = 0;
  if (absl::SimpleAtoi(s, &n) && n >= 0 && n <= 255) return static_cast<uint8_t>(n);
  return absl::InvalidArgumentError(
      absl::StrCat("check: protocol \"", s, "\": want tcp, udp, sctp, icmp or 0-255"));
}

}  // namespace

absl::StatusOr<CheckRequest> ParseCheck(const std::string& s) {
  const std::vector<std::string> parts = absl::StrSplit(s, ',');
  if (parts.size() < 3 || parts.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("check: want SRC,DST,PROTO[,PORT], got \"", s, "\""));
  }
  CheckRequest r;
  absl::StatusOr<Ipv4Addr> src = Ipv4Addr::Parse(absl::StripAsciiWhitespace(parts[0]));
  if (!src.ok())
    return absl::InvalidArgumentError(absl::StrCat("check: source: ", src.status().message()));
  absl::StatusOr<Ipv4Addr> dst = Ipv4Addr::Parse(absl::StripAsciiWhitespace(parts[1]));
  if (!dst.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("check: destination: ", dst.status().message()));
  }
  r.src = *src;
  r.dst = *dst;
  absl::StatusOr<uint8_t> proto = ParseProto(std::string(absl::StripAsciiWhitespace(parts[2])));
  if (!proto.ok()) return proto.status();
  r.proto = *proto;
  if (parts.size() == 4) {
    int port = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[3]), &port) || port < 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("check: port \"", parts[3], "\": want 0-65535"));
    }
    r.port = static_cast<uint16_t>(port);
  } else if (r.proto == kProtoTcp || r.proto == kProtoUdp || r.proto == kProtoSctp) {
    return absl::InvalidArgumentError(
        absl::StrCat("check: ", ProtocolString(r.proto), " needs a port"));
  }
  return r;
}

json PolicyStatsToJson(const PolicyManagerStats& s) {
  return {{"reconciles", s.reconciles},
          {"errors", s.errors},
          {"lastError", s.last_error},
          {"lastCompileMs", Ms(s.last_compile_duration)},
          {"lastReconcileMs", Ms(s.last_reconcile_duration)},
          {"lastChangeToProgrammedMs", Ms(s.last_change_to_programmed)},
          {"maxChangeToProgrammedMs", Ms(s.max_change_to_programmed)},
          {"programmedGeneration", s.programmed_generation},
          {"synced", s.synced},
          {"writes", s.writes},
          {"deletes", s.deletes},
          {"generationBumps", s.gen_bumps},
          {"adoptedIpcache", s.adopted_ipcache},
          {"adoptedCidr", s.adopted_cidr},
          {"adoptedPolicy", s.adopted_policy},
          {"warnings", s.warnings}};
}

json DesiredPolicyToJson(const DesiredPolicy& d, bool entries) {
  json ids = json::array();
  for (const auto& [id, info] : d.identities) {
    json ips = json::array();
    for (Ipv4Addr ip : info.ips) ips.push_back(ip.ToString());
    ids.push_back({{"id", id},
                   {"namespace", info.key.namespace_name},
                   {"labels", info.key.labels},
                   {"pods", info.pods},
                   {"ips", ips},
                   {"local", info.local},
                   {"isolation", IsolationList(info.flags)}});
  }
  json cidrs = json::array();
  for (const auto& [prefix, id] : d.cidr_ids) {
    cidrs.push_back({{"id", id}, {"cidr", prefix.ToString()}});
  }
  json eps = json::array();
  for (const LocalPodInfo& p : d.local_pods) {
    eps.push_back({{"pod", absl::StrCat(p.pod_namespace, "/", p.pod_name)},
                   {"ip", p.ip.ToString()},
                   {"identity", p.identity},
                   {"isolation",
                    {{"ingress", (p.flags & XVR_ID_F_ISO_INGRESS) != 0},
                     {"egress", (p.flags & XVR_ID_F_ISO_EGRESS) != 0}}},
                   {"ingressPolicies", p.ingress_policies},
                   {"egressPolicies", p.egress_policies},
                   {"ingressRules", p.ingress_rules},
                   {"egressRules", p.egress_rules},
                   {"source", p.from_endpoint ? "endpoint" : "podStatus"}});
  }
  json rules = json::array();
  for (const auto& [index, r] : d.rules) {
    rules.push_back({{"index", index},
                     {"name", r.Name()},
                     {"policy", absl::StrCat(r.pod_namespace, "/", r.policy)},
                     {"direction", DirString(r.dir)},
                     {"rule", r.rule},
                     {"entries", r.entries}});
  }
  json j = {{"identities", ids},     {"cidrIdentities", cidrs}, {"endpoints", eps},
            {"rules", rules},        {"policies", d.policies},  {"clusterGeneration", d.generation},
            {"warnings", d.warnings}};
  if (entries) {
    json arr = json::array();
    for (const auto& [k, v] : d.entries) {
      arr.push_back({{"subject", k.subject},
                     {"subjectName", d.IdentityName(k.subject)},
                     {"direction", DirString(k.dir)},
                     {"peer", k.peer},
                     {"peerName", d.IdentityName(k.peer)},
                     {"ports", k.PortString()},
                     {"prefixlen", k.prefixlen},
                     {"rule", v.rule}});
    }
    j["entries"] = std::move(arr);
  }
  return j;
}

json VerdictToJson(const DesiredPolicy& d, const Verdict& v) {
  return {{"src", v.src.ToString()},
          {"dst", v.dst.ToString()},
          {"proto", v.proto},
          {"protocol", ProtocolString(v.proto)},
          {"port", v.dport},
          {"allowed", v.allowed},
          {"reason", v.reason == XVR_R_POLICY_EGRESS    ? "policy_denied_egress"
                     : v.reason == XVR_R_POLICY_INGRESS ? "policy_denied_ingress"
                                                        : "ok"},
          {"explanation", v.explanation},
          {"srcIdentity", IdentJson(d, v.src_ident)},
          {"dstIdentity", IdentJson(d, v.dst_ident)},
          {"srcCidr", CidrJson(v.src_cidr)},
          {"dstCidr", CidrJson(v.dst_cidr)},
          {"egress", DirectionJson(d, v.egress)},
          {"ingress", DirectionJson(d, v.ingress)}};
}

absl::StatusOr<json> PolicyToJson(const PolicyManager& mgr,
                                  const std::multimap<std::string, std::string>& query) {
  std::optional<CheckRequest> check;
  if (auto it = query.find("check"); it != query.end()) {
    absl::StatusOr<CheckRequest> c = ParseCheck(it->second);
    if (!c.ok()) return c.status();
    check = *c;
  }
  bool entries = false;
  if (auto it = query.find("entries"); it != query.end()) {
    entries = it->second == "1" || it->second == "true";
  }
  const PolicyManagerStats st = mgr.stats();
  const std::shared_ptr<const DesiredPolicy> d = mgr.desired();
  static const DesiredPolicy kEmpty;
  const DesiredPolicy& desired = d ? *d : kEmpty;
  json j = DesiredPolicyToJson(desired, entries);
  j["enforced"] = mgr.not_enforced_reason().empty();
  j["notEnforcedReason"] = mgr.not_enforced_reason();
  j["compiled"] = d != nullptr;
  j["generation"] = st.policy_gen;
  j["lastCompileMs"] = Ms(st.last_compile_duration);
  j["maps"] = {{"ipcache", st.ipcache_entries}, {"cidr", st.cidr_entries},
               {"policy", st.policy_entries},   {"ipcacheMax", XVR_MAX_IPCACHE},
               {"cidrMax", XVR_MAX_CIDR_ID},    {"policyMax", XVR_MAX_POLICY}};
  j["stats"] = PolicyStatsToJson(st);
  if (check) {
    j["check"] = VerdictToJson(
        desired, Evaluate(desired, check->src, check->dst, check->proto, check->port));
  }
  return j;
}

}  // namespace xvr::policy

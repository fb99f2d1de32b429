#include "agent/flows/flows_api.h"

#include <cstring>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"
#include "agent/common/validate.h"
#include "agent/dataplane/reasons.h"

namespace xvr {
namespace {

using nlohmann::json;

constexpr const char* kFilterParams[] = {"pod", "ip", "port", "proto", "state"};

absl::Status ParamError(absl::string_view name, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat("query parameter ", name, ": ", msg));
}

// Rejects parameters outside `known` and repeated ones.
absl::Status CheckParams(const QueryParams& q, const std::vector<const char*>& known) {
  for (auto it = q.begin(); it != q.end(); it = q.upper_bound(it->first)) {
    bool ok = false;
    for (const char* k : known) ok = ok || it->first == k;
    if (!ok) {
      return absl::InvalidArgumentError(
          known.empty()
              ? absl::StrCat("unknown query parameter \"", it->first, "\" (none accepted)")
              : absl::StrCat("unknown query parameter \"", it->first, "\" (accepted: ",
                             absl::StrJoin(known, ", "), ")"));
    }
    if (q.count(it->first) > 1) return ParamError(it->first, "given more than once");
  }
  return absl::OkStatus();
}

const std::string* Param(const QueryParams& q, const char* name) {
  auto it = q.find(name);
  return it == q.end() ? nullptr : &it->second;
}

absl::StatusOr<std::optional<uint64_t>> UintParam(const QueryParams& q, const char* name,
                                                  uint64_t max) {
  const std::string* v = Param(q, name);
  if (!v) return std::optional<uint64_t>();
  uint64_t n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n > max || (!v->empty() && (*v)[0] == '+')) {
    return ParamError(name, absl::StrCat("must be an integer between 0 and ", max, ", got \"",
                                         *v, "\""));
  }
  return std::optional<uint64_t>(n);
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

json Pod(const PodNameFn& pod_name, uint32_t ip_be) {
  if (!pod_name) return nullptr;
  std::string p = pod_name(ip_be);
  return p.empty() ? json(nullptr) : json(std::move(p));
}

}  // namespace

absl::StatusOr<FlowFilter> ParseFlowFilter(const QueryParams& q,
                                           std::initializer_list<const char*> also) {
  std::vector<const char*> known(std::begin(kFilterParams), std::end(kFilterParams));
  known.insert(known.end(), also.begin(), also.end());
  RETURN_IF_ERROR(CheckParams(q, known));
  FlowFilter f;
  if (const std::string* pod = Param(q, "pod")) {
    std::vector<std::string> parts = absl::StrSplit(*pod, '/');
    if (parts.size() != 2 || !IsDns1123Subdomain(parts[0]) || !IsDns1123Subdomain(parts[1])) {
      return ParamError("pod", absl::StrCat("must be namespace/name, got \"", *pod, "\""));
    }
    f.pod = *pod;
  }
  if (const std::string* ip = Param(q, "ip")) {
    absl::StatusOr<Ipv4Addr> a = Ipv4Addr::Parse(*ip);
    if (!a.ok()) return ParamError("ip", absl::StrCat("not an IPv4 address: \"", *ip, "\""));
    f.ip = *a;
  }
  ASSIGN_OR_RETURN(std::optional<uint64_t> port, UintParam(q, "port", 65535));
  if (port) f.port = static_cast<uint16_t>(*port);
  if (const std::string* p = Param(q, "proto")) {
    f.proto = ProtoFromName(*p);
    if (!f.proto) {
      return ParamError("proto",
                        absl::StrCat("must be tcp, udp, icmp, sctp or a number, got \"", *p, "\""));
    }
  }
  if (const std::string* s = Param(q, "state")) {
    f.state = FlowStateFromName(*s);
    if (!f.state) {
      return ParamError("state", absl::StrCat("must be one of syn_sent, syn_recv, established, "
                                              "fin_wait, closed, unreplied, replied; got \"",
                                              *s, "\""));
    }
  }
  return f;
}

json FlowToJson(const FlowRecord& f, uint64_t now_ns, const PodNameFn& pod_name) {
  json j = {{"src", f.src().ToString()},
            {"dst", f.dst().ToString()},
            {"sport", f.sport()},
            {"dport", f.dport()},
            {"proto", ProtoName(f.proto())},
            {"state", FlowStateName(f.state)},
            {"service", f.is_service()
                            ? json(absl::StrCat(f.svc_addr().ToString(), ":", f.svc_port))
                            : json(nullptr)},
            {"src_pod", Pod(pod_name, f.key.saddr)},
            {"dst_pod", Pod(pod_name, f.key.daddr)},
            {"src_identity", f.src_identity},
            {"dst_identity", f.dst_identity},
            {"packets", f.packets},
            {"bytes", f.bytes},
            {"reply_packets", f.reply_packets},
            {"reply_bytes", f.reply_bytes},
            {"age_s", f.created_ns && now_ns > f.created_ns ? Seconds(now_ns - f.created_ns) : 0.0},
            {"idle_s", now_ns > f.last_ns ? Seconds(now_ns - f.last_ns) : 0.0},
            {"hook", HookName(f.hook)},
            {"ifindex", f.ifindex},
            {"policy_gen", f.policy_gen}};
  json flags = json::array();
  if (f.flags & XVR_FLOW_F_EGRESS) flags.push_back("egress_policy");
  if (f.flags & XVR_FLOW_F_INGRESS) flags.push_back("ingress_policy");
  if (!f.has_forward) flags.push_back("no_forward_entry");
  if (!f.has_reply) flags.push_back("no_reply_entry");
  j["flags"] = std::move(flags);
  return j;
}

json FlowStatsToJson(const FlowTableStats& s, const FlowEventTotals& ev,
                     const std::optional<FlowLogStats>& log) {
  json ended = json::object();
  for (size_t r = 0; r < kNumEndReasons; ++r) {
    ended[EndReasonName(static_cast<EndReason>(r))] = s.ended[r];
  }
  json j = {
      {"live_pairs", s.live_pairs},
      {"live_entries", s.live_entries},
      {"orphans", s.orphans},
      {"capacity", s.capacity},
      {"fill", s.fill},
      {"created", s.created},
      {"ended", std::move(ended)},
      {"evicted", s.evicted},
      {"counters",
       {{"created", s.counters[XVR_FS_CREATED]},
        {"reevaluated", s.counters[XVR_FS_REEVALUATED]},
        {"reeval_denied", s.counters[XVR_FS_REEVAL_DENIED]},
        {"related", s.counters[XVR_FS_RELATED]},
        {"reopened", s.counters[XVR_FS_REOPENED]},
        {"create_failed", s.counters[XVR_FS_CREATE_FAILED]}}},
      {"gc",
       {{"interval_s", s.gc_interval_s},
        {"runs", s.gc_runs},
        {"errors", s.gc_errors},
        {"deleted_pairs", s.gc_deleted_pairs},
        {"last_expired", s.gc_last_expired},
        {"last_duration_us", s.gc_last_duration_us},
        {"total_duration_us", s.gc_total_duration_us},
        {"last_error", s.gc_last_error}}},
      {"events",
       {{"enabled", ev.flow_events},
        {"drops", ev.read.drops},
        {"flow_new", ev.read.flow_new},
        {"flow_end", ev.read.flow_end},
        {"unknown", ev.read.unknown},
        {"malformed", ev.read.malformed},
        {"lost", ev.lost},
        {"suppressed", ev.suppressed}}},
  };
  if (log) {
    j["log"] = {{"written", log->written},
                {"dropped", log->dropped},
                {"errors", log->errors},
                {"queued", log->queued}};
  } else {
    j["log"] = nullptr;
  }
  return j;
}

uint64_t FlowsApi::Now() const { return deps_.now_ns ? deps_.now_ns() : MonotonicNowNs(); }

json FlowsApi::StatsJson(const FlowTableStats& s) const {
  std::optional<FlowLogStats> log;
  if (deps_.log) log = deps_.log->stats();
  FlowEventTotals ev = deps_.events ? deps_.events() : FlowEventTotals{};
  if (!deps_.events && deps_.drops) ev.read = deps_.drops->counts();
  json j = FlowStatsToJson(s, ev, log);
  if (deps_.log) {
    j["log"]["path"] = deps_.log->options().path;
  } else if (!deps_.log_error.empty()) {
    j["log"] = {{"error", deps_.log_error}};
  }
  return j;
}

absl::StatusOr<json> FlowsApi::Flows(const QueryParams& q) {
  ASSIGN_OR_RETURN(FlowFilter filter, ParseFlowFilter(q, {"limit"}));
  ASSIGN_OR_RETURN(std::optional<uint64_t> limit, UintParam(q, "limit", uint64_t{1} << 32));
  if (!deps_.table) return absl::UnavailableError("the flow table is not running");
  ASSIGN_OR_RETURN(std::vector<FlowRecord> flows, deps_.table->List(filter));
  const uint64_t now = Now();
  json arr = json::array();
  const size_t n = limit && *limit > 0 ? std::min<size_t>(*limit, flows.size()) : flows.size();
  for (size_t i = 0; i < n; ++i) arr.push_back(FlowToJson(flows[i], now, deps_.pod_name));
  return json{{"flows", std::move(arr)},
              {"total", flows.size()},
              {"truncated", n < flows.size()},
              {"stats", StatsJson(deps_.table->LastStats())}};
}

absl::StatusOr<json> FlowsApi::Flush(const QueryParams& q) {
  ASSIGN_OR_RETURN(FlowFilter filter, ParseFlowFilter(q));
  if (!deps_.table) return absl::UnavailableError("the flow table is not running");
  ASSIGN_OR_RETURN(size_t flushed, deps_.table->Flush(filter));
  return json{{"flushed", flushed}};
}

absl::StatusOr<json> FlowsApi::Stats(const QueryParams& q) {
  RETURN_IF_ERROR(CheckParams(q, {}));
  if (!deps_.table) return absl::UnavailableError("the flow table is not running");
  ASSIGN_OR_RETURN(FlowTableStats s, deps_.table->Stats());
  return StatsJson(s);
}

absl::StatusOr<json> FlowsApi::Drops(const QueryParams& q) {
  RETURN_IF_ERROR(CheckParams(q, {"since"}));
  ASSIGN_OR_RETURN(std::optional<uint64_t> since,
                   UintParam(q, "since", std::numeric_limits<uint64_t>::max()));
  if (!deps_.drops) return absl::UnavailableError("the event reader is not running");
  uint64_t next = 0, missed = 0;
  std::vector<DropRecord> drops = deps_.drops->Since(since.value_or(0), &next, &missed);
  json arr = json::array();
  for (const DropRecord& d : drops) {
    json j = DropToJson(d);
    j["src_pod"] = d.has_ip ? Pod(deps_.pod_name, d.src.be()) : json(nullptr);
    j["dst_pod"] = d.has_ip ? Pod(deps_.pod_name, d.dst.be()) : json(nullptr);
    arr.push_back(std::move(j));
  }
  const FlowEventTotals ev = deps_.events ? deps_.events() : FlowEventTotals{};
  return json{{"drops", std::move(arr)},
              {"next", next},
              {"missed", missed},
              {"total", deps_.drops->total()},
              {"lost", ev.lost},
              {"suppressed", ev.suppressed}};
}

}  // namespace xvr

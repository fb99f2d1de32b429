#include "agent/ctl/flows_view.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/ctl/client.h"

namespace xvr {
namespace {

using nlohmann::json;

std::string S(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "";
  const auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

template <typename T>
T Num(const json& j, const char* key, T def = 0) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return def;
  return j[key].get<T>();
}

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

std::string PercentEncode(const std::string& v) {
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

// "12", "3.4K", "5.6M", "7.8G".
std::string Human(uint64_t n) {
  if (n < 10000) return absl::StrCat(n);
  const char* units = "KMGTP";
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return absl::StrFormat("%.1f%c", v, units[u]);
}

// 59s, 4m03s, 2h05m, 3d04h.
std::string Duration(double s) {
  if (s < 0) s = 0;
  const uint64_t t = static_cast<uint64_t>(s);
  if (t < 60) return absl::StrFormat("%llus", static_cast<unsigned long long>(t));
  if (t < 3600) return absl::StrFormat("%llum%02llus", t / 60ull, t % 60ull);
  if (t < 86400) return absl::StrFormat("%lluh%02llum", t / 3600ull, (t % 3600ull) / 60ull);
  return absl::StrFormat("%llud%02lluh", t / 86400ull, (t % 86400ull) / 3600ull);
}

std::string HostPort(const json& f, const char* ip, const char* port) {
  std::string a = S(f, ip);
  if (a.empty()) return "";
  const std::string p = S(f, port);
  return p.empty() ? a : absl::StrCat(a, ":", p);
}

// "10:00:00.123" out of RFC 3339 "2024-05-01T10:00:00.123456789Z".
std::string ShortTime(const json& d) {
  const std::string t = S(d, "time");
  if (t.empty()) return S(d, "tsNs");
  const size_t tpos = t.find('T');
  if (tpos == std::string::npos) return t;
  return t.substr(tpos + 1, 12);
}

}  // namespace

std::string FlowQueryString(const FlowQueryArgs& a, bool with_limit) {
  std::vector<std::string> parts;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) parts.push_back(absl::StrCat(k, "=", PercentEncode(v)));
  };
  add("pod", a.pod);
  add("ip", a.ip);
  add("port", a.port);
  add("proto", a.proto);
  add("state", a.state);
  if (with_limit) add("limit", a.limit);
  return parts.empty() ? "" : absl::StrCat("?", absl::StrJoin(parts, "&"));
}

std::string RenderFlows(const json& j) {
  static const json kEmpty = json::array();
  const json& flows =
      j.is_object() && j.contains("flows") && j["flows"].is_array() ? j["flows"] : kEmpty;
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : flows) {
    rows.push_back({HostPort(f, "src", "sport"), OrDash(S(f, "src_pod")),
                    HostPort(f, "dst", "dport"), OrDash(S(f, "dst_pod")),
                    OrDash(S(f, "service")), S(f, "proto"), S(f, "state"),
                    absl::StrCat(Human(Num<uint64_t>(f, "packets")), "/",
                                 Human(Num<uint64_t>(f, "reply_packets"))),
                    absl::StrCat(Human(Num<uint64_t>(f, "bytes")), "/",
                                 Human(Num<uint64_t>(f, "reply_bytes"))),
                    Duration(Num<double>(f, "age_s")), Duration(Num<double>(f, "idle_s"))});
  }
  std::string out = RenderTable({"SRC", "SRC-POD", "DST", "DST-POD", "SERVICE", "PROTO", "STATE",
                                 "PKTS(>/<)", "BYTES(>/<)", "AGE", "IDLE"},
                                rows);
  const json& st = j.is_object() && j.contains("stats") ? j["stats"] : json::object();
  absl::StrAppend(&out, flows.size(), " of ", Num<uint64_t>(j, "total", flows.size()),
                  " flows shown");
  if (st.is_object() && st.contains("capacity")) {
    absl::StrAppendFormat(&out, "; table %u/%u entries (%.1f%%), %u evicted",
                          Num<uint64_t>(st, "live_entries"), Num<uint64_t>(st, "capacity"),
                          100.0 * Num<double>(st, "fill"), Num<uint64_t>(st, "evicted"));
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string RenderFlowStats(const json& j) {
  if (!j.is_object()) return "";
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) {
    absl::StrAppendFormat(&out, "%-26s %s\n", k, v);
  };
  line("live pairs", absl::StrCat(S(j, "live_pairs"), " (", S(j, "orphans"), " half pairs)"));
  line("entries / capacity",
       absl::StrFormat("%s / %s (%.1f%%)", S(j, "live_entries"), S(j, "capacity"),
                       100.0 * Num<double>(j, "fill")));
  line("created (since start)", S(j, "created"));
  if (j.contains("ended") && j["ended"].is_object()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : j["ended"].items()) parts.push_back(absl::StrCat(k, " ", v.dump()));
    line("ended", absl::StrJoin(parts, ", "));
  }
  line("evicted (LRU)", S(j, "evicted"));
  if (j.contains("counters") && j["counters"].is_object()) {
    for (const auto& [k, v] : j["counters"].items()) line(absl::StrCat("data path: ", k), v.dump());
  }
  if (j.contains("gc") && j["gc"].is_object()) {
    const json& g = j["gc"];
    line("gc", absl::StrFormat("every %ss, %s runs, %s pairs deleted, last %sus, %s errors",
                               S(g, "interval_s"), S(g, "runs"), S(g, "deleted_pairs"),
                               S(g, "last_duration_us"), S(g, "errors")));
    if (!S(g, "last_error").empty()) line("gc last error", S(g, "last_error"));
  }
  if (j.contains("events") && j["events"].is_object()) {
    const json& e = j["events"];
    line("events", absl::StrFormat("flow events %s; read: %s drops, %s flow_new, %s flow_end",
                                   S(e, "enabled") == "true" ? "on" : "off", S(e, "drops"),
                                   S(e, "flow_new"), S(e, "flow_end")));
    line("events not delivered",
         absl::StrFormat("%s lost (ring buffer full), %s suppressed (rate limit)", S(e, "lost"),
                         S(e, "suppressed")));
  }
  if (j.contains("log") && j["log"].is_object()) {
    const json& l = j["log"];
    if (l.contains("error")) {
      line("flow log", absl::StrCat("OFF: ", S(l, "error")));
    } else {
      line("flow log", absl::StrFormat("%s: %s written, %s dropped (queue full), %s errors",
                                       S(l, "path"), S(l, "written"), S(l, "dropped"),
                                       S(l, "errors")));
    }
  } else {
    line("flow log", "off");
  }
  return out;
}

std::string RenderDrops(const json& j, bool fixed, bool header) {
  static const json kEmpty = json::array();
  const json& drops =
      j.is_object() && j.contains("drops") && j["drops"].is_array() ? j["drops"] : kEmpty;
  const std::vector<std::string> head = {"TIME",    "HOOK",    "REASON",  "SRC", "DST",
                                         "PROTO",   "SRC-POD", "DST-POD", "IFINDEX", "LEN"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : drops) {
    // A drop without an IPv4 tuple (ARP, truncated) shows its summary.
    const bool tuple = d.contains("src");
    rows.push_back({ShortTime(d), S(d, "hook"), S(d, "reason"),
                    tuple ? HostPort(d, "src", "sport") : S(d, "summary"),
                    tuple ? HostPort(d, "dst", "dport") : "-", tuple ? S(d, "proto") : "-",
                    OrDash(S(d, "src_pod")), OrDash(S(d, "dst_pod")), S(d, "ifindex"),
                    S(d, "len")});
  }
  if (!fixed) return RenderTable(head, rows);
  static const int kWidths[] = {12, 14, 24, 21, 21, 5, 28, 28, 7, 5};
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 < cells.size()) {
        absl::StrAppendFormat(&out, "%-*s  ", kWidths[i], cells[i]);
      } else {
        absl::StrAppend(&out, cells[i]);
      }
    }
    out += "\n";
  };
  if (header) line(head);
  for (const auto& r : rows) line(r);
  return out;
}

}  // namespace xvr

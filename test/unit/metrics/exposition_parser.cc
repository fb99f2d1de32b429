#include "exposition_parser.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

namespace xvr::metrics::testing {
namespace {

const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");

bool ParseValue(const std::string& s, double* v) {
  if (s == "+Inf") return *v = INFINITY, true;
  if (s == "-Inf") return *v = -INFINITY, true;
  if (s == "NaN") return *v = NAN, true;
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// The family a sample name belongs to, given the declared types.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = type.find(base);
      if (it != type.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace

double Parsed::Get(const std::string& name, const std::map<std::string, std::string>& labels) const {
  double found = -1;
  int n = 0;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      ok = ok && it != s.labels.end() && it->second == v;
    }
    if (ok) {
      found = s.value;
      ++n;
    }
  }
  return n > 1 ? -2 : found;
}

Parsed ParseExposition(const std::string& text) {
  Parsed p;
  std::set<std::string> closed;  // families whose samples ended
  std::string current;           // family of the previous sample
  std::set<std::string> series;  // name + labels, for duplicates
  int lineno = 0;
  auto fail = [&](const std::string& why) {
    if (p.error.empty()) p.error = "line " + std::to_string(lineno) + ": " + why;
  };
  if (!text.empty() && text.back() != '\n') {
    p.error = "does not end in a line feed";
    return p;
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && p.error.empty()) {
    ++lineno;
    if (line.empty()) {
      fail("empty line");
      break;
    }
    if (line[0] == '#') {
      std::smatch m;
      static const std::regex kMeta(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
      if (!std::regex_match(line, m, kMeta)) {
        fail("comment that is neither HELP nor TYPE: " + line);
        break;
      }
      const std::string fam = m[2];
      if (closed.contains(fam) || current == fam) {
        fail("HELP/TYPE after samples of " + fam);
        break;
      }
      if (m[1] == "HELP") {
        if (p.help.contains(fam)) fail("second HELP for " + fam);
        std::string h, raw = m[3];
        for (size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == '\\') {
            if (i + 1 >= raw.size()) return fail("dangling backslash in HELP"), p;
            const char c = raw[++i];
            if (c == 'n') h += '\n';
            else if (c == '\\') h += '\\';
            else return fail("bad escape in HELP"), p;
          } else {
            h += raw[i];
          }
        }
        p.help[fam] = h;
      } else {
        if (p.type.contains(fam)) fail("second TYPE for " + fam);
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.contains(m[3])) fail("unknown type " + std::string(m[3]));
        p.type[fam] = m[3];
      }
      continue;
    }
    // name{labels} value
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, kName)) {
      fail("bad metric name '" + s.name + "'");
      break;
    }
    std::string key = s.name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool first = true;
      while (true) {
        if (i >= line.size()) return fail("unterminated label set"), p;
        if (line[i] == '}') {
          ++i;
          break;
        }
        if (!first) {
          if (line[i] != ',') return fail("expected ','"), p;
          ++i;
        }
        first = false;
        size_t j = i;
        while (j < line.size() && line[j] != '=') ++j;
        const std::string ln = line.substr(i, j - i);
        if (!std::regex_match(ln, kLabelName)) return fail("bad label name '" + ln + "'"), p;
        if (j + 1 >= line.size() || line[j + 1] != '"') return fail("label value not quoted"), p;
        i = j + 2;
        std::string v;
        while (true) {
          if (i >= line.size()) return fail("unterminated label value"), p;
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return fail("dangling backslash"), p;
            const char e = line[i++];
            if (e == 'n') v += '\n';
            else if (e == '\\') v += '\\';
            else if (e == '"') v += '"';
            else return fail(std::string("bad escape \\") + e), p;
          } else {
            v += c;
          }
        }
        if (s.labels.contains(ln)) return fail("duplicate label " + ln), p;
        s.labels[ln] = v;
      }
    }
    for (const auto& [k, v] : s.labels) key += k + "=" + v + ",";
    if (i >= line.size() || line[i] != ' ') {
      fail("expected a space before the value");
      break;
    }
    const std::string rest = line.substr(i + 1);
    const size_t sp = rest.find(' ');
    const std::string value = rest.substr(0, sp);
    if (sp != std::string::npos) {
      const std::string ts = rest.substr(sp + 1);
      if (!std::regex_match(ts, std::regex("-?[0-9]+"))) fail("bad timestamp");
    }
    if (!ParseValue(value, &s.value)) {
      fail("bad value '" + value + "'");
      break;
    }
    const std::string fam = FamilyOf(s.name, p.type);
    if (!p.type.contains(fam)) fail("sample of " + fam + " without TYPE");
    if (fam != current) {
      if (closed.contains(fam)) fail("samples of " + fam + " are not contiguous");
      if (!current.empty()) closed.insert(current);
      current = fam;
    }
    if (!series.insert(key).second) fail("duplicate series " + key);
    p.samples.push_back(std::move(s));
  }
  if (!p.error.empty()) return p;

  // Histograms: per label set (without le), buckets ascending, cumulative,
  // ending in +Inf == _count.
  for (const auto& [fam, type] : p.type) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const Sample& s : p.samples) {
      if (s.name == fam + "_bucket") {
        auto labels = s.labels;
        auto le = labels.find("le");
        if (le == labels.end()) return p.error = fam + ": bucket without le", p;
        double bound = 0;
        if (!ParseValue(le->second, &bound)) return p.error = fam + ": bad le " + le->second, p;
        labels.erase(le);
        buckets[labels].push_back({bound, s.value});
      } else if (s.name == fam + "_count") {
        counts[s.labels] = s.value;
      } else if (s.name == fam) {
        return p.error = fam + ": histogram sample without suffix", p;
      }
    }
    for (const auto& [labels, bs] : buckets) {
      for (size_t k = 1; k < bs.size(); ++k) {
        if (!(bs[k].first > bs[k - 1].first)) return p.error = fam + ": le not ascending", p;
        if (bs[k].second < bs[k - 1].second) return p.error = fam + ": buckets not cumulative", p;
      }
      if (bs.empty() || !std::isinf(bs.back().first)) return p.error = fam + ": no +Inf bucket", p;
      if (!counts.contains(labels)) return p.error = fam + ": no _count", p;
      if (counts[labels] != bs.back().second) return p.error = fam + ": +Inf != _count", p;
    }
  }
  return p;
}

}  // namespace xvr::metrics::testing

#include "agent/metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace xvr::metrics {
namespace {

bool NameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

void AppendLabels(std::string* out, const Labels& labels, const char* extra_label,
                  std::string_view extra_value) {
  if (labels.empty() && extra_label == nullptr) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k);
    out->append("=\"");
    out->append(EscapeLabelValue(v));
    out->push_back('"');
  }
  if (extra_label != nullptr) {
    if (!first) out->push_back(',');
    out->append(extra_label);
    out->append("=\"");
    out->append(EscapeLabelValue(extra_value));
    out->push_back('"');
  }
  out->push_back('}');
}

}  // namespace

const char* MetricTypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kUntyped:
      break;
  }
  return "untyped";
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, true)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, false)) return false;
  }
  return true;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::to_chars_result r;
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), v);
  }
  return std::string(buf, r.ptr);
}

void ExpositionWriter::Family(const std::string& name, std::string_view help, MetricType type) {
  if (!IsValidMetricName(name) || index_.contains(name)) return;
  index_[name] = blocks_.size();
  blocks_.push_back(Block{name, std::string(help), type, {}});
}

ExpositionWriter::Block* ExpositionWriter::Get(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    Family(name, "", MetricType::kUntyped);
    it = index_.find(name);
    if (it == index_.end()) return nullptr;
  }
  return &blocks_[it->second];
}

void ExpositionWriter::AppendSample(std::string* out, std::string_view name, const Labels& labels,
                                    const char* extra_label, std::string_view extra_value,
                                    double value) {
  out->append(name);
  AppendLabels(out, labels, extra_label, extra_value);
  out->push_back(' ');
  out->append(FormatValue(value));
  out->push_back('\n');
}

void ExpositionWriter::Add(const std::string& name, const Labels& labels, double value) {
  Block* b = Get(name);
  if (b == nullptr) return;
  for (const auto& [k, v] : labels) {
    if (!IsValidLabelName(k)) return;
  }
  AppendSample(&b->samples, name, labels, nullptr, {}, value);
}

void ExpositionWriter::AddHistogram(const std::string& name, const Labels& labels,
                                    const HistogramSnapshot& h) {
  if (!index_.contains(name)) Family(name, "", MetricType::kHistogram);
  Block* b = Get(name);
  if (b == nullptr) return;
  for (const auto& [k, v] : labels) {
    if (!IsValidLabelName(k) || k == "le") return;
  }
  const std::string bucket = name + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    AppendSample(&b->samples, bucket, labels, "le", FormatValue(h.bounds[i]),
                 static_cast<double>(cumulative));
  }
  // +Inf is the total count by definition, whatever the buckets say.
  AppendSample(&b->samples, bucket, labels, "le", "+Inf", static_cast<double>(h.count));
  AppendSample(&b->samples, name + "_sum", labels, nullptr, {}, h.sum);
  AppendSample(&b->samples, name + "_count", labels, nullptr, {}, static_cast<double>(h.count));
}

std::string ExpositionWriter::Finish() const {
  std::string out;
  for (const Block& b : blocks_) {
    out += "# HELP " + b.name + " " + EscapeHelp(b.help) + "\n";
    out += "# TYPE " + b.name + " " + MetricTypeName(b.type) + "\n";
    out += b.samples;
  }
  return out;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Histogram::Histogram(std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  h_.counts.assign(bounds.size() + 1, 0);
  h_.bounds = std::move(bounds);
}

void Histogram::Observe(double v) {
  const size_t i = static_cast<size_t>(
      std::lower_bound(h_.bounds.begin(), h_.bounds.end(), v) - h_.bounds.begin());
  std::lock_guard<std::mutex> l(mu_);
  ++h_.counts[i];
  h_.sum += v;
  ++h_.count;
}

HistogramSnapshot Histogram::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return h_;
}

HistogramVec::HistogramVec(std::vector<std::string> label_names, std::vector<double> bounds)
    : names_(std::move(label_names)), bounds_(Histogram(std::move(bounds)).Snapshot().bounds) {}

void HistogramVec::Observe(const std::vector<std::string>& values, double v) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                       bounds_.begin());
  std::lock_guard<std::mutex> l(mu_);
  HistogramSnapshot& h = series_[values];
  if (h.counts.empty()) {
    h.bounds = bounds_;
    h.counts.assign(bounds_.size() + 1, 0);
  }
  ++h.counts[i];
  h.sum += v;
  ++h.count;
}

void HistogramVec::Collect(ExpositionWriter& w, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [values, h] : series_) {
    Labels labels;
    for (size_t i = 0; i < names_.size() && i < values.size(); ++i) {
      labels.emplace_back(names_[i], values[i]);
    }
    w.AddHistogram(name, labels, h);
  }
}

void CounterVec::Add(const std::vector<std::string>& values, uint64_t delta) {
  std::lock_guard<std::mutex> l(mu_);
  series_[values] += delta;
}

void CounterVec::Collect(ExpositionWriter& w, const std::string& name) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [values, n] : series_) {
    Labels labels;
    for (size_t i = 0; i < names_.size() && i < values.size(); ++i) {
      labels.emplace_back(names_[i], values[i]);
    }
    w.Add(name, labels, static_cast<double>(n));
  }
}

}  // namespace xvr::metrics

// A small Prometheus registry and text exposition writer (format 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/). Debian has
// no prometheus-cpp; what the agent needs is a handful of counters, gauges
// and latency histograms, most of them read from elsewhere (BPF maps, the
// flow table, the sources' statistics) at scrape time.
//
// ExpositionWriter buffers samples per family, so a collector may add to a
// family in any order and the output still has each family's HELP and TYPE
// once, followed by all of its samples (the format requires them grouped).
// Histogram and CounterVec are the only metrics the agent keeps itself.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xvr::metrics {

// Label names and values, in output order.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram, kUntyped };
const char* MetricTypeName(MetricType t);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
bool IsValidLabelName(std::string_view name);
// Label values: backslash, double quote and line feed escaped.
std::string EscapeLabelValue(std::string_view v);
// HELP text: backslash and line feed escaped.
std::string EscapeHelp(std::string_view v);
// A sample value: integers exactly ("42"), others shortest round-trip,
// "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

// Per-bucket (not cumulative) counts of a histogram; counts has
// bounds.size() + 1 entries, the last for values above every bound.
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;
};

class ExpositionWriter {
 public:
  // Declares a family. Declaring it again is a no-op (the first HELP/TYPE
  // wins). Invalid names are replaced by nothing: the family is dropped.
  void Family(const std::string& name, std::string_view help, MetricType type);
  // One sample of family `name` (declared as untyped first if it was not).
  void Add(const std::string& name, const Labels& labels, double value);
  // One histogram series: cumulative _bucket{le=...} lines ending in +Inf,
  // then _sum and _count.
  void AddHistogram(const std::string& name, const Labels& labels, const HistogramSnapshot& h);
  // The exposition text; each family in declaration order.
  std::string Finish() const;

 private:
  struct Block {
    std::string name;
    std::string help;
    MetricType type;
    std::string samples;
  };
  Block* Get(const std::string& name);
  static void AppendSample(std::string* out, std::string_view name, const Labels& labels,
                           const char* extra_label, std::string_view extra_value, double value);

  std::vector<Block> blocks_;
  std::map<std::string, size_t> index_;
};

// Default latency buckets in seconds: 0.5 ms to 10 s.
std::vector<double> DefaultLatencyBuckets();

// A histogram the agent observes itself; thread-safe.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds = DefaultLatencyBuckets());
  void Observe(double v);
  HistogramSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  HistogramSnapshot h_;
};

// Histograms by label values (e.g. controller="services"). Thread-safe.
class HistogramVec {
 public:
  HistogramVec(std::vector<std::string> label_names,
               std::vector<double> bounds = DefaultLatencyBuckets());
  // `values` has one value per label name.
  void Observe(const std::vector<std::string>& values, double v);
  void Collect(ExpositionWriter& w, const std::string& name) const;

 private:
  const std::vector<std::string> names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, HistogramSnapshot> series_;
};

// Counters by label values. Thread-safe.
class CounterVec {
 public:
  explicit CounterVec(std::vector<std::string> label_names) : names_(std::move(label_names)) {}
  void Add(const std::vector<std::string>& values, uint64_t delta = 1);
  void Collect(ExpositionWriter& w, const std::string& name) const;

 private:
  const std::vector<std::string> names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, uint64_t> series_;
};

}  // namespace xvr::metrics

// A strict parser of the Prometheus text exposition format 0.0.4, for the
// tests: every line must be a HELP, a TYPE or a sample; HELP and TYPE come
// once per family, before its samples; a family's samples are contiguous;
// histogram buckets are cumulative, end in +Inf and agree with _count.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace xvr::metrics::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> help;  // family -> unescaped help
  std::map<std::string, std::string> type;  // family -> type
  std::vector<Sample> samples;
  std::string error;  // "" when the text is valid; else "line N: why"

  // Value of the one sample with this name and these labels (a subset
  // match: every given label must equal); -1 if none, -2 if several.
  double Get(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
};

Parsed ParseExposition(const std::string& text);

}  // namespace xvr::metrics::testing

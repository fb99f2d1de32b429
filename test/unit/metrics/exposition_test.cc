#include "agent/metrics/exposition.h"

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "exposition_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xvr::metrics {
namespace {

using ::testing::HasSubstr;
using testing::ParseExposition;
using testing::Parsed;

TEST(Exposition, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue(R"(a"b\c)" "\n" "d"), R"(a\"b\\c\nd)");
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\nbye"), "say \"hi\"\\\\\\nbye");

  ExpositionWriter w;
  w.Family("xvr_test_total", "help with \\ and\nnewline", MetricType::kCounter);
  const std::string nasty = "q\"uote\\back\nline}{,=";
  w.Add("xvr_test_total", {{"what", nasty}}, 3);
  const std::string text = w.Finish();
  EXPECT_THAT(text, HasSubstr(R"(# HELP xvr_test_total help with \\ and\nnewline)"));
  EXPECT_THAT(text, HasSubstr(R"(xvr_test_total{what="q\"uote\\back\nline}{,="} 3)"));
  const Parsed p = ParseExposition(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.Get("xvr_test_total", {{"what", nasty}}), 3);
  EXPECT_EQ(p.help.at("xvr_test_total"), "help with \\ and\nnewline");
}

TEST(Exposition, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(18446744073709.0), "18446744073709");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
}

TEST(Exposition, NamesAreValidated) {
  EXPECT_TRUE(IsValidMetricName("xvr_a:b_1"));
  EXPECT_FALSE(IsValidMetricName("1xvr"));
  EXPECT_FALSE(IsValidMetricName("xvr-a"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("hook"));
  EXPECT_FALSE(IsValidLabelName("__name"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9a"));

  ExpositionWriter w;
  w.Family("bad-name", "x", MetricType::kGauge);
  w.Add("bad-name", {}, 1);
  w.Family("xvr_ok", "x", MetricType::kGauge);
  w.Add("xvr_ok", {{"bad-label", "v"}}, 1);  // dropped
  w.Add("xvr_ok", {{"good", "v"}}, 2);
  const std::string text = w.Finish();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("bad")));
  const Parsed p = ParseExposition(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.samples.size(), 1u);
}

TEST(Exposition, TypeOncePerFamilyAndSamplesGrouped) {
  ExpositionWriter w;
  w.Family("xvr_a_total", "A", MetricType::kCounter);
  w.Family("xvr_b", "B", MetricType::kGauge);
  w.Add("xvr_a_total", {{"x", "1"}}, 1);
  w.Add("xvr_b", {}, 5);
  w.Family("xvr_a_total", "A again", MetricType::kGauge);  // ignored
  w.Add("xvr_a_total", {{"x", "2"}}, 2);
  w.Add("xvr_undeclared", {}, 9);  // becomes untyped
  const std::string text = w.Finish();
  const Parsed p = ParseExposition(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.type.at("xvr_a_total"), "counter");
  EXPECT_EQ(p.help.at("xvr_a_total"), "A");
  EXPECT_EQ(p.type.at("xvr_b"), "gauge");
  EXPECT_EQ(p.type.at("xvr_undeclared"), "untyped");
  EXPECT_EQ(p.Get("xvr_a_total", {{"x", "2"}}), 2);
  EXPECT_EQ(text.find("# TYPE xvr_a_total"), text.rfind("# TYPE xvr_a_total"));
  // A family declared without samples still has its HELP and TYPE.
  ExpositionWriter empty;
  empty.Family("xvr_none", "nothing", MetricType::kCounter);
  EXPECT_EQ(empty.Finish(), "# HELP xvr_none nothing\n# TYPE xvr_none counter\n");
}

TEST(Exposition, HistogramBucketsAreCumulativeWithInf) {
  Histogram h({0.1, 1, 0.5, 1});  // unsorted, duplicate: normalised
  for (double v : {0.05, 0.1, 0.2, 0.7, 3.0, 100.0}) h.Observe(v);
  ExpositionWriter w;
  w.Family("xvr_lat_seconds", "latency", MetricType::kHistogram);
  w.AddHistogram("xvr_lat_seconds", {{"op", "add"}}, h.Snapshot());
  const std::string text = w.Finish();
  const Parsed p = ParseExposition(text);
  ASSERT_EQ(p.error, "") << text;
  EXPECT_EQ(p.Get("xvr_lat_seconds_bucket", {{"op", "add"}, {"le", "0.1"}}), 2);  // le is <=
  EXPECT_EQ(p.Get("xvr_lat_seconds_bucket", {{"op", "add"}, {"le", "0.5"}}), 3);
  EXPECT_EQ(p.Get("xvr_lat_seconds_bucket", {{"op", "add"}, {"le", "1"}}), 4);
  EXPECT_EQ(p.Get("xvr_lat_seconds_bucket", {{"op", "add"}, {"le", "+Inf"}}), 6);
  EXPECT_EQ(p.Get("xvr_lat_seconds_count", {{"op", "add"}}), 6);
  EXPECT_DOUBLE_EQ(p.Get("xvr_lat_seconds_sum", {{"op", "add"}}), 104.05);
  EXPECT_THAT(text, HasSubstr("xvr_lat_seconds_bucket{op=\"add\",le=\"+Inf\"} 6\n"));
}

TEST(Exposition, VecsKeepSeriesByLabelValues) {
  CounterVec c({"op", "code"});
  HistogramVec h({"op"}, {0.01, 0.1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        c.Add({"add", "200"});
        h.Observe({"add"}, 0.05);
      }
    });
  }
  for (auto& t : threads) t.join();
  c.Add({"del", "503"}, 2);
  ExpositionWriter w;
  w.Family("xvr_req_total", "r", MetricType::kCounter);
  c.Collect(w, "xvr_req_total");
  w.Family("xvr_req_seconds", "s", MetricType::kHistogram);
  h.Collect(w, "xvr_req_seconds");
  const Parsed p = ParseExposition(w.Finish());
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.Get("xvr_req_total", {{"op", "add"}, {"code", "200"}}), 4000);
  EXPECT_EQ(p.Get("xvr_req_total", {{"op", "del"}, {"code", "503"}}), 2);
  EXPECT_EQ(p.Get("xvr_req_seconds_bucket", {{"op", "add"}, {"le", "0.01"}}), 0);
  EXPECT_EQ(p.Get("xvr_req_seconds_bucket", {{"op", "add"}, {"le", "0.1"}}), 4000);
}

// The test's parser must refuse what Prometheus refuses.
TEST(ExpositionParser, RejectsInvalidText) {
  const char* bad[] = {
      "# TYPE a counter\na 1",                                   // no final newline
      "a 1\n",                                                   // no TYPE
      "# TYPE a counter\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 2\n",  // not grouped
      "# TYPE a counter\n# TYPE a counter\na 1\n",               // TYPE twice
      "# TYPE a counter\na{x=\"\\q\"} 1\n",                      // bad escape
      "# TYPE a counter\na{x=\"1\"} one\n",                      // bad value
      "# TYPE a counter\na{x=1} 1\n",                            // unquoted
      "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n",  // no +Inf
      "# TYPE a counter\na 1\na 2\n",                            // duplicate series
      "# random comment\n",
  };
  for (const char* t : bad) EXPECT_NE(ParseExposition(t).error, "") << t;
}

}  // namespace
}  // namespace xvr::metrics

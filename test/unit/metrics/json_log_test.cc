#include "agent/metrics/json_log.h"

#include <memory>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"
#include "spdlog/sinks/ostream_sink.h"

namespace xvr::metrics {
namespace {

// Logs `msg` through a logger with the JSON formatter; returns the output.
std::string LogOnce(const std::string& logger_name, const std::string& node,
                    const std::string& msg) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger(logger_name, sink);
  logger.set_formatter(MakeJsonLogFormatter(node));
  logger.warn("{}", msg);
  logger.flush();
  return out.str();
}

TEST(JsonLog, HostileMessageStaysOneValidJsonLine) {
  const std::string msg =
      "quote \" backslash \\ newline \n cr \r tab \t nul-ish \x01 brace } percent %v %* "
      "utf8 é 💥 bad \xff\xfe end";
  const std::string line = LogOnce("api\"x", "node-a", msg);
  ASSERT_FALSE(line.empty());
  ASSERT_EQ(line.back(), '\n');
  // One line: the only line feed is the terminator.
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("level"), "warning");
  EXPECT_EQ(j.at("node"), "node-a");
  EXPECT_EQ(j.at("logger"), "api\"x");
  EXPECT_TRUE(j.at("ts").is_string());
  EXPECT_EQ(j.at("ts").get<std::string>().size(), 29u) << j.at("ts");  // 2024-05-01T12:00:00.123+00:00
  const std::string expected =
      "quote \" backslash \\ newline \n cr \r tab \t nul-ish \x01 brace } percent %v %* "
      "utf8 é 💥 bad \xEF\xBF\xBD\xEF\xBF\xBD end";
  EXPECT_EQ(j.at("msg"), expected);
}

TEST(JsonLog, PlainMessage) {
  const nlohmann::json j = nlohmann::json::parse(LogOnce("", "n1", "hello"));
  EXPECT_EQ(j.at("msg"), "hello");
  EXPECT_EQ(j.at("logger"), "");
  EXPECT_EQ(j.size(), 5u);
}

TEST(JsonLog, EscapeFunction) {
  std::string out;
  AppendJsonEscaped(std::string("a\"b\\c\n\x1f\x7f", 8), &out);
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u001f\x7f");
  out.clear();
  AppendJsonEscaped("\xC0\xAF", &out);  // overlong '/'
  EXPECT_EQ(out, "\\ufffd\\ufffd");
  out.clear();
  AppendJsonEscaped("\xED\xA0\x80", &out);  // surrogate
  EXPECT_EQ(out, "\\ufffd\\ufffd\\ufffd");
}

}  // namespace
}  // namespace xvr::metrics

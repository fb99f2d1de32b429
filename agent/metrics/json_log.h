// spec.logFormat: json — one JSON object per line:
//   {"ts":"2024-05-01T12:00:00.123+0000","level":"info","node":"n1",
//    "logger":"","msg":"..."}
// The message and the logger name go through a custom spdlog flag that
// escapes them as JSON strings (quotes, backslashes, control characters,
// invalid UTF-8 → U+FFFD), so no message can break the line apart.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "spdlog/formatter.h"

namespace xvr::metrics {

// Appends `s` JSON-escaped (without the surrounding quotes) to `out`.
void AppendJsonEscaped(std::string_view s, std::string* out);

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter(const std::string& node);

}  // namespace xvr::metrics

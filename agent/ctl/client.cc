#include "agent/ctl/client.h"

#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace xvr {

namespace {

absl::StatusOr<nlohmann::json> Answer(const std::string& socket, const httplib::Result& res) {
  if (!res) {
    return absl::UnavailableError(absl::StrCat("cannot reach the agent at ", socket, ": ",
                                               httplib::to_string(res.error())));
  }
  nlohmann::json body = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status < 200 || res->status >= 300) {
    std::string msg = body.is_object() && body.contains("error") && body["error"].is_string()
                          ? body["error"].get<std::string>()
                          : res->body;
    return absl::UnknownError(absl::StrCat("agent answered ", res->status, ": ", msg));
  }
  if (body.is_discarded()) return absl::DataLossError("agent answered with invalid JSON");
  return body;
}

}  // namespace

absl::StatusOr<nlohmann::json> AgentGet(const std::string& socket, const std::string& path) {
  httplib::Client cli(socket);
  cli.set_address_family(AF_UNIX);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(10, 0);
  return Answer(socket, cli.Get(path));
}

absl::StatusOr<nlohmann::json> AgentPost(const std::string& socket, const std::string& path,
                                         const std::string& body) {
  httplib::Client cli(socket);
  cli.set_address_family(AF_UNIX);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(30, 0);
  return Answer(socket, cli.Post(path, body, "application/json"));
}

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : "";
      out += c;
      if (i + 1 < w.size()) out += std::string(w[i] - c.size() + 2, ' ');
    }
    out += "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

}  // namespace xvr

// xvrctl: inspect a running xvr-agent.
#include <iostream>

#include "CLI/CLI.hpp"
#include "agent/ctl/client.h"
#include "agent/ctl/services_view.h"

namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return "";
  const auto& v = j[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int Fail(const absl::Status& s) {
  std::cerr << "xvrctl: " << s.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xvrctl: inspect a running xvr-agent"};
  std::string socket = "/run/xvr/agent.sock";
  std::string output = "table";
  app.add_option("--socket", socket, "agent API socket")->capture_default_str();
  app.add_option("-o,--output", output, "output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  auto* endpoints = app.add_subcommand("endpoints", "pods attached on this node");
  auto* stats = app.add_subcommand("stats", "data path counters by hook, verdict and reason");
  auto* drops = app.add_subcommand("drops", "recent drop events from the ring buffer");
  auto* routes = app.add_subcommand("routes", "the route LPM map as the data path sees it");
  auto* neighbours = app.add_subcommand("neighbours", "the neighbour map (mirrored ARP table)");
  auto* nodes = app.add_subcommand("nodes", "remote nodes used as tunnel destinations");
  auto* sources = app.add_subcommand("sources", "Kubernetes objects per kind and their watches");
  auto* services = app.add_subcommand("services", "service frontends, backends and Maglev tables");
  bool services_verbose = false;
  bool services_verify = false;
  services->add_flag("-v,--verbose", services_verbose, "also list every backend");
  services->add_flag("--verify", services_verify,
                     "compare every Maglev table with the kernel's copy");
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  if (endpoints->parsed()) {
    auto j = xvr::AgentGet(socket, "/v1/endpoints");
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : (*j)["endpoints"]) {
      rows.push_back({Str(e, "podNamespace") + "/" + Str(e, "podName"), Str(e, "ip"),
                      Str(e, "mac"), Str(e, "hostIfname"), Str(e, "hostIfindex"),
                      Str(e, "attach"), Str(e, "containerID").substr(0, 12)});
    }
    std::cout << xvr::RenderTable(
        {"POD", "IP", "MAC", "HOST-VETH", "IFINDEX", "ATTACH", "CONTAINER"}, rows);
    return 0;
  }
  if (stats->parsed()) {
    auto j = xvr::AgentGet(socket, "/v1/stats");
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : (*j)["counters"]) {
      rows.push_back({Str(c, "hook"), Str(c, "verdict"), Str(c, "reason"), Str(c, "packets"),
                      Str(c, "bytes")});
    }
    std::cout << xvr::RenderTable({"HOOK", "VERDICT", "REASON", "PACKETS", "BYTES"}, rows);
    return 0;
  }
  if (drops->parsed()) {
    auto j = xvr::AgentGet(socket, "/v1/drops");
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : (*j)["drops"]) {
      rows.push_back({Str(d, "tsNs"), Str(d, "hook"), Str(d, "reason"), Str(d, "ifindex"),
                      Str(d, "summary")});
    }
    std::cout << xvr::RenderTable({"TS(ns)", "HOOK", "REASON", "IFINDEX", "PACKET"}, rows);
    return 0;
  }
  if (services->parsed()) {
    auto j = xvr::AgentGet(socket, services_verify ? "/v1/services/verify" : "/v1/services");
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    std::cout << xvr::RenderServices(*j, services_verbose);
    return 0;
  }
  if (routes->parsed() || neighbours->parsed() || nodes->parsed() || sources->parsed()) {
    const char* path = routes->parsed()       ? "/v1/routes"
                       : neighbours->parsed() ? "/v1/neighbours"
                       : sources->parsed()    ? "/v1/sources"
                                              : "/v1/nodes";
    auto j = xvr::AgentGet(socket, path);
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    // Table: the first array in the answer, its objects' keys as columns.
    for (const auto& [key, value] : j->items()) {
      if (!value.is_array()) continue;
      std::vector<std::string> header;
      if (!value.empty() && value[0].is_object()) {
        for (const auto& [k, v] : value[0].items()) header.push_back(k);
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : value) {
        std::vector<std::string> row;
        for (const std::string& h : header) row.push_back(Str(e, h.c_str()));
        rows.push_back(std::move(row));
      }
      std::cout << xvr::RenderTable(header, rows);
      break;
    }
    return 0;
  }
  return 0;
}

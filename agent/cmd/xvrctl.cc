// xvrctl: inspect a running xvr-agent.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "agent/ctl/capture.h"
#include "agent/ctl/client.h"
#include "agent/ctl/flows_view.h"
#include "agent/ctl/install_cni.h"
#include "agent/ctl/policy_view.h"
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

std::atomic<bool> g_interrupted{false};

// The filters of `flows` and `flows flush`, bound to one FlowQueryArgs.
void AddFlowFilters(CLI::App* cmd, xvr::FlowQueryArgs* a) {
  cmd->add_option("--pod", a->pod, "flows from or to this pod (NS/NAME)");
  cmd->add_option("--ip", a->ip, "flows from or to this IPv4 (or via this service IP)");
  cmd->add_option("--port", a->port, "flows with this source, destination or service port");
  cmd->add_option("--proto", a->proto, "tcp, udp, icmp, sctp or a protocol number");
  cmd->add_option("--state", a->state,
                  "syn_sent, syn_recv, established, fin_wait, closed, unreplied, replied");
}

// `xvrctl drops --follow`: polls /v1/drops?since= every 200 ms until SIGINT.
int FollowDrops(const std::string& socket, bool json_lines) {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  uint64_t since = 0;
  bool header = true;
  while (!g_interrupted) {
    auto j = xvr::AgentGet(socket, absl::StrCat("/v1/drops?since=", since));
    if (!j.ok()) return Fail(j.status());
    if ((*j).contains("next") && (*j)["next"].is_number_unsigned()) {
      since = (*j)["next"].get<uint64_t>();
    }
    if (!header && (*j).value("missed", uint64_t{0}) > 0) {
      std::cout << "... " << (*j)["missed"].get<uint64_t>() << " drops not shown (too many)\n";
    }
    if (json_lines) {
      for (const auto& d : (*j)["drops"]) std::cout << d.dump() << "\n";
    } else if (header || !(*j)["drops"].empty()) {
      std::cout << xvr::RenderDrops(*j, /*fixed=*/true, header);
      header = false;
    }
    std::cout.flush();
    for (int i = 0; i < 4 && !g_interrupted; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return 0;
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
  bool drops_follow = false;
  drops->add_flag("-f,--follow", drops_follow, "print new drops as they come, until Ctrl-C");
  drops->fallthrough();
  auto* flows = app.add_subcommand(
      "flows", "connection tracking: flow pairs with pods, state, service and counters");
  xvr::FlowQueryArgs flow_args;
  AddFlowFilters(flows, &flow_args);
  flows->add_option("--limit", flow_args.limit, "show at most N flows");
  flows->fallthrough();
  auto* flows_flush =
      flows->add_subcommand("flush", "delete flow pairs: all, or those the filters select");
  AddFlowFilters(flows_flush, &flow_args);
  flows_flush->fallthrough();
  auto* flows_stats = flows->add_subcommand(
      "stats", "flow table: fill, evictions, GC, events, flow log");
  flows_stats->fallthrough();
  flows->require_subcommand(0, 1);
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
  auto* policy = app.add_subcommand(
      "policy", "NetworkPolicy: identities, isolated pods, rules and the policy maps");
  bool policy_verbose = false;
  std::string policy_check;
  policy->add_flag("-v,--verbose", policy_verbose,
                   "also list identities, CIDR identities and every policy entry");
  policy->add_option("--check", policy_check,
                     "SRC,DST,PROTO[,PORT]: would a new flow be allowed? (e.g. "
                     "10.244.1.5,10.244.2.7,tcp,80; after service translation)");
  xvr::InstallCniArgs install_cni_args;
  auto* install_cni = xvr::AddInstallCniCommand(&app, &install_cni_args);
  // capture: packets at the BPF hooks with their verdict, as pcap (docs/CAPTURE.md).
  auto* capture = app.add_subcommand(
      "capture", "capture packets at xvr's XDP/TC hooks with their verdict into a pcap file");
  xvr::CaptureOptions cap;
  std::string cap_linktype = "nflog";
  capture->add_option("-w,--write", cap.write, "pcap file to write, - for stdout")->required();
  capture->add_option("--pod", cap.pod, "only packets from or to this pod (NS/NAME, via the agent)");
  capture->add_option("--ip", cap.ip, "only packets from or to this IPv4 (outer or VXLAN inner)");
  capture->add_option("--hook", cap.hooks, "xdp_pod, tc_pod, xdp_fabric, tc_host_egress (default all)")
      ->delimiter(',');
  capture->add_option("--verdict", cap.verdicts, "drop, pass, tx, redirect (default all)")->delimiter(',');
  capture->add_option("--reason", cap.reason, "only this reason (e.g. policy_denied_ingress)");
  capture->add_option("-c,--count", cap.count, "stop after this many packets (default: Ctrl-C)");
  capture->add_option("-s,--snaplen", cap.snaplen, "bytes per packet, at most 1600")->capture_default_str();
  capture->add_option("--linktype", cap_linktype, "nflog (verdict in nflog.prefix) or ether")
      ->check(CLI::IsMember({"nflog", "ether"}))
      ->capture_default_str();
  capture->add_option("--bpf-root", cap.bpf_root, "the agent's spec.bpfRoot")->capture_default_str();
  capture->add_flag("-v,--verbose", cap.verbose, "one line per packet (hook, verdict, reason) on stderr");
  capture->add_flag("--force", cap.force, "take over a capture that is already running");
  capture->get_option("--pod")->excludes(capture->get_option("--ip"));
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  if (capture->parsed()) {
    cap.socket = socket;
    cap.linktype = cap_linktype == "ether" ? xvr::CaptureLinkType::kEther : xvr::CaptureLinkType::kNflog;
    return xvr::RunCapture(cap);
  }

  if (install_cni->parsed()) return xvr::RunInstallCni(*install_cni, install_cni_args, socket);

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
    if (drops_follow) return FollowDrops(socket, output == "json");
    auto j = xvr::AgentGet(socket, "/v1/drops");
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
      return 0;
    }
    std::cout << xvr::RenderDrops(*j);
    return 0;
  }
  if (flows->parsed()) {
    absl::StatusOr<nlohmann::json> j;
    if (flows_flush->parsed()) {
      j = xvr::AgentPost(socket, "/v1/flows/flush" + xvr::FlowQueryString(flow_args, false));
    } else if (flows_stats->parsed()) {
      j = xvr::AgentGet(socket, "/v1/flows/stats");
    } else {
      j = xvr::AgentGet(socket, "/v1/flows" + xvr::FlowQueryString(flow_args, true));
    }
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << j->dump(2) << "\n";
    } else if (flows_flush->parsed()) {
      std::cout << "flushed " << Str(*j, "flushed") << " flows\n";
    } else if (flows_stats->parsed()) {
      std::cout << xvr::RenderFlowStats(*j);
    } else {
      std::cout << xvr::RenderFlows(*j);
    }
    return 0;
  }
  if (policy->parsed()) {
    auto j = xvr::AgentGet(socket, xvr::PolicyPath(policy_check, policy_verbose));
    if (!j.ok()) return Fail(j.status());
    if (output == "json") {
      std::cout << (policy_check.empty() ? *j : (*j)["check"]).dump(2) << "\n";
      return 0;
    }
    std::cout << (policy_check.empty() ? xvr::RenderPolicy(*j, policy_verbose)
                                       : xvr::RenderPolicyCheck((*j)["check"]));
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

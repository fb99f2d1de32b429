#include "agent/config/vrouter_reload.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_join.h"

namespace xvr {

VRouterReloader::VRouterReloader(VRouterConfig started, std::string source, std::string object,
                                 std::string resource_version, VRouterLiveSetters setters)
    : started_(std::move(started)),
      setters_(std::move(setters)),
      effective_(started_),
      source_(std::move(source)),
      object_(std::move(object)),
      resource_version_(std::move(resource_version)) {}

VRouterDiff VRouterReloader::Update(const VRouterConfig& next, const std::string& source,
                                    const std::string& object,
                                    const std::string& resource_version) {
  absl::MutexLock l(&mu_);
  ++updates_;
  source_ = source;
  object_ = object;
  resource_version_ = resource_version;
  last_invalid_.clear();
  const VRouterDiff live = DiffVRouter(effective_, next);
  std::vector<std::string> applied;
  std::vector<std::string> failed;
  auto apply = [&](const char* field, const std::function<absl::Status()>& f) {
    bool wanted = false;
    for (const std::string& s : live.live) wanted = wanted || s == field;
    if (!wanted) return;
    absl::Status st = f();
    if (st.ok()) {
      applied.push_back(field);
    } else {
      failed.push_back(field);
      spdlog::error("vrouter: {} not applied: {}", field, std::string(st.message()));
    }
  };
  apply("spec.logLevel", [&] {
    effective_.log_level = next.log_level;
    if (setters_.logging) setters_.logging(effective_);
    return absl::OkStatus();
  });
  apply("spec.logFormat", [&] {
    effective_.log_format = next.log_format;
    if (setters_.logging) setters_.logging(effective_);
    return absl::OkStatus();
  });
  apply("spec.eventsPerSecond", [&] {
    if (setters_.events_per_second) {
      if (absl::Status s = setters_.events_per_second(next.events_per_second); !s.ok()) return s;
    }
    effective_.events_per_second = next.events_per_second;
    return absl::OkStatus();
  });
  auto timeouts = [&] {
    if (setters_.flow_timeouts) setters_.flow_timeouts(next.flows.timeouts, next.flows.gc_interval_s);
    effective_.flows.timeouts = next.flows.timeouts;
    effective_.flows.gc_interval_s = next.flows.gc_interval_s;
    return absl::OkStatus();
  };
  apply("spec.flows.gcInterval", timeouts);
  apply("spec.flows.timeouts", timeouts);
  apply("spec.flows.events", [&] {
    if (setters_.flow_events) {
      if (absl::Status s = setters_.flow_events(next.flows.events); !s.ok()) return s;
    }
    effective_.flows.events = next.flows.events;
    return absl::OkStatus();
  });

  // Restart fields: against what the data path was built from.
  VRouterDiff vs_start = DiffVRouter(started_, next);
  pending_ = vs_start.restart;
  for (const std::string& f : failed) pending_.push_back(f);
  last_live_ = applied;
  if (!applied.empty()) {
    spdlog::info("vrouter: {} applied live: {}", object, absl::StrJoin(applied, ", "));
  }
  if (!pending_.empty()) {
    spdlog::warn("vrouter: {} changed {}: needs an agent restart to take effect", object,
                 absl::StrJoin(pending_, ", "));
  }
  VRouterDiff out;
  out.live = std::move(applied);
  out.restart = pending_;
  return out;
}

void VRouterReloader::Invalid(const std::string& error) {
  absl::MutexLock l(&mu_);
  last_invalid_ = error;
}

std::vector<std::string> VRouterReloader::PendingRestart() const {
  absl::MutexLock l(&mu_);
  return pending_;
}

VRouterConfig VRouterReloader::Effective() const {
  absl::MutexLock l(&mu_);
  return effective_;
}

nlohmann::json VRouterReloader::ToJson() const {
  absl::MutexLock l(&mu_);
  return nlohmann::json{{"source", source_},
                        {"object", object_},
                        {"resourceVersion", resource_version_},
                        {"updates", updates_},
                        {"pendingRestartFields", pending_},
                        {"lastLiveApplied", last_live_},
                        {"lastInvalidEdit", last_invalid_},
                        {"spec", VRouterSpecToJson(effective_)}};
}

nlohmann::json VRouterSpecToJson(const VRouterConfig& c) {
  nlohmann::json j{
      {"nodeName", c.node_name},
      {"agentModeType", AgentModeName(c.agent_mode)},
      {"podAttach", PodAttachName(c.pod_attach)},
      {"podCIDR", c.pod_cidr.ToString()},
      {"gatewayIP", c.gateway_ip.ToString()},
      {"fabricInterface", c.fabric_interface},
      {"bpfRoot", c.bpf_root},
      {"apiSocket", c.api_socket},
      {"stateDir", c.state_dir},
      {"mtu", c.mtu},
      {"hostInterface", c.host_interface},
      {"hostPeerInterface", c.host_peer_interface},
      {"logLevel", c.log_level},
      {"logFormat", LogFormatName(c.log_format)},
      {"eventsPerSecond", c.events_per_second},
      {"overlay",
       {{"type", c.overlay.type == OverlayConfig::Type::kVxlan ? "vxlan" : "none"},
        {"port", c.overlay.port},
        {"vni", c.overlay.vni}}},
      {"masquerade", c.masquerade},
      {"metricsAddress", c.metrics_address},
      {"flows",
       {{"tableSize", c.flows.table_size},
        {"gcInterval", c.flows.gc_interval_s},
        {"events", c.flows.events},
        {"timeouts",
         {{"tcpSyn", c.flows.timeouts.tcp_syn},
          {"tcpEstablished", c.flows.timeouts.tcp_established},
          {"tcpFin", c.flows.timeouts.tcp_fin},
          {"tcpClosed", c.flows.timeouts.tcp_closed},
          {"udp", c.flows.timeouts.udp},
          {"udpReplied", c.flows.timeouts.udp_replied},
          {"icmp", c.flows.timeouts.icmp},
          {"sctp", c.flows.timeouts.sctp},
          {"other", c.flows.timeouts.other}}},
        {"log",
         {{"path", c.flows.log.path},
          {"maxSizeMB", c.flows.log.max_size_mb},
          {"maxFiles", c.flows.log.max_files}}}}},
  };
  if (c.cluster_cidr) j["clusterCIDR"] = c.cluster_cidr->ToString();
  if (c.service_cidr) j["serviceCIDR"] = c.service_cidr->ToString();
  return j;
}

}  // namespace xvr

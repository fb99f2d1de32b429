#include "agent/app/agent_app.h"

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/api/api_server.h"
#include "agent/common/status_macros.h"
#include "agent/config/vrouter.h"
#include "agent/config/vrouter_reload.h"
#include "agent/dataplane/bpf_dataplane.h"
#include "agent/endpoints/endpoint_manager.h"
#include "agent/events/drop_events.h"
#include "agent/flows/flow_cfg.h"
#include "agent/flows/flow_log.h"
#include "agent/flows/flow_maps.h"
#include "agent/flows/flow_observer.h"
#include "agent/flows/flow_table.h"
#include "agent/flows/flows_api.h"
#include "agent/flows/pod_names.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/api_source.h"
#include "agent/k8s/debounced_reconciler.h"
#include "agent/k8s/manifests_source.h"
#include "agent/k8s/sources_json.h"
#include "agent/k8s/vrouter_source.h"
#include "agent/metrics/agent_metrics.h"
#include "agent/metrics/json_log.h"
#include "agent/metrics/map_fill.h"
#include "agent/metrics/metrics_server.h"
#include "agent/netlink/link_watcher.h"
#include "agent/netlink/neigh_watcher.h"
#include "agent/netlink/nl.h"
#include "agent/netlink/route_watcher.h"
#include "agent/overlay/tunnel_manager.h"
#include "agent/policy/policy_json.h"
#include "agent/policy/policy_manager.h"
#include "agent/policy/policy_maps.h"
#include "agent/routing/neigh_table.h"
#include "agent/routing/route_table.h"
#include "agent/routing/routing_json.h"
#include "agent/services/service_manager.h"
#include "agent/services/service_maps.h"
#include "agent/services/services_json.h"
#include "agent/state/state_store.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

void SetupLogging(const VRouterConfig& cfg) {
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  if (cfg.log_format == LogFormat::kJson) {
    // One JSON object per line; message and logger name JSON-escaped.
    spdlog::set_formatter(metrics::MakeJsonLogFormatter(cfg.node_name));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

BpfDataplaneOptions DataplaneOptions(const VRouterConfig& cfg) {
  BpfDataplaneOptions o;
  o.bpf_root = cfg.bpf_root;
  o.xdp_mode = cfg.agent_mode == AgentMode::kXdpGeneric ? XdpMode::kGeneric : XdpMode::kNative;
  o.pod_attach_tc = cfg.pod_attach == PodAttach::kTc;
  o.pod_cidr = cfg.pod_cidr;
  o.gateway = cfg.gateway_ip;
  o.host_ifname = cfg.host_interface;
  o.host_peer_ifname = cfg.host_peer_interface;
  o.mtu = cfg.mtu;
  o.events_per_sec = cfg.events_per_second;
  o.fabric_ifname = cfg.fabric_interface;
  o.vxlan = cfg.overlay.type == OverlayConfig::Type::kVxlan;
  o.vxlan_port = cfg.overlay.port;
  o.vni = cfg.overlay.vni;
  o.cluster_cidr = cfg.cluster_cidr;
  o.masquerade = cfg.masquerade;
  o.flow_table_size = cfg.flows.table_size;
  return o;
}

// Blocks until SIGTERM or SIGINT.
void WaitForTermination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: stopping; programs stay attached and keep forwarding", sig);
}

}  // namespace

absl::Status RunAgent(const AgentFlags& flags) {
  // Signals go to sigwait, not to whichever thread the kernel picks; block
  // them before any thread starts so every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // The VRouter (docs/VROUTER.md): with an API server, the object named
  // after this node, else --vrouter, else the --config file; a shared
  // object is completed from NODE_NAME and the Node's spec.podCIDR.
  std::optional<k8s::ApiServerConfig> api_config;
  if (!flags.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(api_config, k8s::LoadKubeconfig(flags.kubeconfig));
  } else if (flags.in_cluster) {
    ASSIGN_OR_RETURN(api_config, k8s::InClusterConfig());
  }
  k8s::VRouterSourceOptions vrouter_opts;
  vrouter_opts.node_name = api_config ? flags.node_name : "";
  vrouter_opts.vrouter_name = flags.vrouter_name;
  vrouter_opts.file = flags.config_path;
  vrouter_opts.poll_interval = absl::Seconds(flags.vrouter_poll_seconds);
  // The DaemonSet's nodes: the fabric is the default route's NIC unless
  // the VRouter names one. Labs (--kubeconfig) keep "no fabricInterface =
  // no fabric".
  if (!flags.in_cluster) vrouter_opts.default_ifname = nullptr;
  ASSIGN_OR_RETURN(std::unique_ptr<k8s::VRouterSource> vrouter_source,
                   k8s::VRouterSource::Create(api_config ? &*api_config : nullptr,
                                              std::move(vrouter_opts)));
  ASSIGN_OR_RETURN(const k8s::LoadedVRouter loaded_vrouter, vrouter_source->Load());
  VRouterConfig cfg = loaded_vrouter.config;
  SetupLogging(cfg);
  spdlog::info("VRouter from {} {}{}", loaded_vrouter.source, loaded_vrouter.object,
               loaded_vrouter.resource_version.empty()
                   ? std::string()
                   : absl::StrCat(" (resourceVersion ", loaded_vrouter.resource_version, ")"));
  spdlog::info("xvr-agent on node {}: podCIDR {}, gateway {}, mode {}, podAttach {}",
               cfg.node_name, cfg.pod_cidr.ToString(), cfg.gateway_ip.ToString(),
               AgentModeName(cfg.agent_mode), PodAttachName(cfg.pod_attach));
  if (!flags.manifests_dir.empty() && !std::filesystem::is_directory(flags.manifests_dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--manifests ", flags.manifests_dir, ": not a directory"));
  }

  // The metrics listener claims its address before the data path is
  // touched: a taken port is a start-up error naming the address. It
  // answers once the components below exist (connections wait in the
  // backlog until then).
  metrics::AgentMetrics agent_metrics({.node = cfg.node_name});
  k8s::SetReconcileObserver([&agent_metrics](const std::string& name, absl::Duration took,
                                             bool ok) {
    agent_metrics.ObserveReconcile(name, took, ok);
  });
  absl::Cleanup clear_reconcile_observer = [] { k8s::SetReconcileObserver(nullptr); };
  absl::Mutex readiness_mu;
  metrics::Readiness readiness{false, "starting"};
  auto set_readiness = [&](bool ready, std::string reason) {
    absl::MutexLock l(&readiness_mu);
    readiness = {ready, std::move(reason)};
  };
  metrics::MetricsServer metrics_server({
      .address = cfg.metrics_address,
      .render = [&agent_metrics] { return agent_metrics.Render(); },
      .readiness =
          [&] {
            absl::MutexLock l(&readiness_mu);
            return readiness;
          },
  });
  if (!cfg.metrics_address.empty()) RETURN_IF_ERROR(metrics_server.Bind());

  ASSIGN_OR_RETURN(std::unique_ptr<BpfDataplane> dp,
                   BpfDataplane::Create(DataplaneOptions(cfg)));
  if (!cfg.mtu_set && dp->fabric()) {
    // The overlay costs 50 bytes of every fabric frame.
    cfg.mtu = dp->fabric()->mtu - (cfg.overlay.type == OverlayConfig::Type::kVxlan ? 50 : 0);
    spdlog::info("pod MTU {} (fabric MTU {} minus the VXLAN overhead)", cfg.mtu, dp->fabric()->mtu);
  }
  // Routing: the kernel's main table and neighbours mirrored into the LPM
  // and neighbour maps, merged with this node's pod CIDR and the tunnel
  // routes derived from the cluster's Nodes.
  ASSIGN_OR_RETURN(auto route_map, (BpfMap<xvr_route_key, xvr_route>::OpenPinned(
                                       dp->maps_dir() + "/" XVR_MAP_ROUTES)));
  ASSIGN_OR_RETURN(auto neigh_map,
                   (BpfMap<__be32, xvr_neigh>::OpenPinned(dp->maps_dir() + "/" XVR_MAP_NEIGH)));
  if (cfg.service_cidr) {
    // The node's own connections to ClusterIPs go through tc_host_egress.
    RETURN_IF_ERROR(EnsureHostRoute(cfg.host_interface, *cfg.service_cidr, cfg.gateway_ip));
    spdlog::info("service CIDR {} routed into {}", cfg.service_cidr->ToString(),
                 cfg.host_interface);
  }
  RouteTable routes(&route_map);
  NeighTable neighs(&neigh_map);
  if (absl::Status s = routes.SetLocalPodCidr(cfg.pod_cidr); !s.ok()) {
    spdlog::warn("local pod CIDR route: {}", s.ToString());
  }
  RouteWatcher route_watcher(&routes);
  NeighWatcher neigh_watcher(&neighs);
  RETURN_IF_ERROR(route_watcher.Start());
  RETURN_IF_ERROR(neigh_watcher.Start());

  k8s::ClusterState cluster;
  std::unique_ptr<k8s::ManifestsSource> manifests;
  if (!flags.manifests_dir.empty()) {
    manifests = std::make_unique<k8s::ManifestsSource>(flags.manifests_dir, &cluster);
    RETURN_IF_ERROR(manifests->Start());
  }
  std::unique_ptr<k8s::ApiSource> api_source;
  if (!flags.kubeconfig.empty()) {
    ASSIGN_OR_RETURN(api_source, k8s::ApiSource::FromKubeconfig(flags.kubeconfig, &cluster));
  } else if (flags.in_cluster) {
    ASSIGN_OR_RETURN(api_source, k8s::ApiSource::InCluster(&cluster));
  }
  if (api_source) {
    RETURN_IF_ERROR(api_source->Start());
    spdlog::info("watching the Kubernetes API server");
  }
  TunnelManager tunnels(&cluster, &routes, cfg.node_name);
  if (dp->fabric() && cfg.overlay.type == OverlayConfig::Type::kVxlan) {
    RETURN_IF_ERROR(tunnels.Start());
  }

  // Services: the model of the cluster's Services and EndpointSlices into
  // the service maps, as kube-proxy would into iptables.
  ASSIGN_OR_RETURN(std::unique_ptr<services::BpfServiceMaps> svc_maps,
                   services::BpfServiceMaps::Open(dp->maps_dir()));
  // Without a source nothing will ever be listed: program at once.
  services::ServiceManager svc_manager(
      &cluster, svc_maps.get(),
      {.local_node = cfg.node_name, .wait_for_sync = manifests != nullptr || api_source != nullptr});
  RETURN_IF_ERROR(svc_manager.Start());

  StateStore store(cfg.state_dir);
  ASSIGN_OR_RETURN(std::unique_ptr<EndpointManager> endpoints,
                   EndpointManager::Create(PodNetwork::FromConfig(cfg), *dp, store));

  // Watch links before restoring, so a veth that vanishes during the
  // restore is not missed.
  LinkWatcher links({
      .on_deleted = [&](uint32_t ifindex, const std::string&) { endpoints->OnLinkDeleted(ifindex); },
      .on_resync = [&] { endpoints->ResyncLinks(); },
  });
  RETURN_IF_ERROR(links.Start());

  ASSIGN_OR_RETURN(RestoreReport report, endpoints->Restore());
  spdlog::info("restored endpoints: {} kept, {} dropped (veth gone), {} failed", report.kept,
               report.dropped, report.failed);

  // Flows: the data path creates flow pairs, the agent ages, flushes and
  // counts them; flow and drop events go to the observers (the flow log).
  FlowObserverSet flow_observers;
  PodNames pod_names([&endpoints] { return endpoints->List(); }, &cluster);
  ASSIGN_OR_RETURN(std::unique_ptr<BpfFlowMaps> flow_maps, BpfFlowMaps::OpenPinned(dp->maps_dir()));
  ASSIGN_OR_RETURN(std::unique_ptr<PinnedFlowCfg> flow_cfg, PinnedFlowCfg::Open(dp->maps_dir()));
  RETURN_IF_ERROR(flow_cfg->writer().SetEventsEnabled(cfg.flows.events));
  std::unique_ptr<FlowLog> flow_log;
  std::string flow_log_error;
  if (!cfg.flows.log.path.empty()) {
    FlowLogOptions log_opts;
    log_opts.path = cfg.flows.log.path;
    log_opts.max_size_bytes = size_t{cfg.flows.log.max_size_mb} << 20;
    log_opts.max_files = cfg.flows.log.max_files;
    log_opts.node = cfg.node_name;
    log_opts.pod_name = pod_names.AsFunction();
    absl::StatusOr<std::unique_ptr<FlowLog>> log = FlowLog::Open(std::move(log_opts));
    if (log.ok()) {
      flow_log = std::move(*log);
      flow_observers.Add(flow_log.get());
      spdlog::info("flow log: {}", cfg.flows.log.path);
    } else {
      // Forwarding does not depend on it: run without, say so in the
      // flow statistics.
      flow_log_error = std::string(log.status().message());
      spdlog::error("flow log off: {}", flow_log_error);
    }
  }
  FlowTableOptions flow_opts;
  flow_opts.timeouts = cfg.flows.timeouts;
  flow_opts.gc_interval_s = cfg.flows.gc_interval_s;
  flow_opts.observers = &flow_observers;
  flow_opts.pod_name = pod_names.AsFunction();
  FlowTable flow_table(flow_maps.get(), std::move(flow_opts));
  flow_table.Start();
  spdlog::info("flows: table of {} entries, GC every {} s, flow events {}",
               flow_maps->Capacity(), cfg.flows.gc_interval_s, cfg.flows.events ? "on" : "off");

  DropEventReader drops(256, &flow_observers);
  RETURN_IF_ERROR(drops.Start(dp->events_fd()));
  FlowsApiDeps flows_deps;
  flows_deps.table = &flow_table;
  flows_deps.drops = &drops;
  flows_deps.pod_name = pod_names.AsFunction();
  flows_deps.events = [&] {
    const BpfDataplane::EventCounts c = dp->ReadEventCounts();
    return FlowEventTotals{drops.counts(), c.lost, c.suppressed, cfg.flows.events};
  };
  flows_deps.log = flow_log.get();
  flows_deps.log_error = flow_log_error;
  FlowsApi flows_api(std::move(flows_deps));

  // NetworkPolicy (Cilium's identity model): Pods, Namespaces, policies and
  // Nodes compiled into the ipcache, CIDR and policy maps; every change
  // bumps the policy generation so existing flows are re-evaluated.
  std::unique_ptr<policy::PolicyMaps> policy_maps;
  std::string policy_off;  // why NetworkPolicy is not enforced, if it is not
  if (absl::StatusOr<std::unique_ptr<policy::BpfPolicyMaps>> pm =
          policy::BpfPolicyMaps::Open(dp->maps_dir());
      pm.ok()) {
    policy_maps = std::move(*pm);
  } else {
    // Degraded: compiled and shown by xvrctl policy, not enforced.
    policy_off = std::string(pm.status().message());
    spdlog::error("NetworkPolicy NOT enforced: {}", policy_off);
    policy_maps = std::make_unique<policy::MemoryPolicyMaps>();
  }
  policy::PolicyManagerOptions policy_opts;
  policy_opts.node.node_name = cfg.node_name;
  policy_opts.node.gateway = cfg.gateway_ip;
  if (dp->fabric()) policy_opts.node.node_ips.push_back(dp->fabric()->node_ip);
  policy_opts.wait_for_sync = manifests != nullptr || api_source != nullptr;
  policy_opts.not_enforced_reason = policy_off;
  policy::PolicyManager policy_manager(
      &cluster, policy_maps.get(), std::move(policy_opts),
      [&endpoints] {
        std::vector<policy::LocalEndpoint> eps;
        for (const EndpointRecord& ep : endpoints->List()) {
          eps.push_back({ep.pod_namespace, ep.pod_name, ep.ip});
        }
        return eps;
      },
      policy_off.empty() ? flow_cfg->writer().PolicyGenBumper()
                         : policy::PolicyManager::GenBumper());
  RETURN_IF_ERROR(policy_manager.Start());
  // A new pod's identity and isolation reach the maps without waiting for
  // the endpoint poll; cleared before the policy manager goes away.
  endpoints->SetChangeListener([&policy_manager] { policy_manager.Trigger(); });
  absl::Cleanup clear_listener = [&endpoints] { endpoints->SetChangeListener(nullptr); };

  ApiServerOptions api_opts;
  api_opts.socket_path = cfg.api_socket;
  api_opts.event_stats = [&dp] {
    const BpfDataplane::EventCounts c = dp->ReadEventCounts();
    return EventStats{c.lost, c.suppressed};
  };
  api_opts.query_views["/v1/drops"] = [&](const auto& q) { return flows_api.Drops(q); };
  api_opts.query_views["/v1/flows"] = [&](const auto& q) { return flows_api.Flows(q); };
  api_opts.query_views["/v1/flows/stats"] = [&](const auto& q) { return flows_api.Stats(q); };
  api_opts.actions["/v1/flows/flush"] = [&](const auto& q) { return flows_api.Flush(q); };
  api_opts.query_views["/v1/policy"] = [&policy_manager](const auto& q) {
    return policy::PolicyToJson(policy_manager, q);
  };
  api_opts.views["/v1/routes"] = [&routes] {
    return RoutesToJson(routes.Snapshot(), routes.stats());
  };
  api_opts.views["/v1/neighbours"] = [&neighs] {
    return NeighboursToJson(neighs.Snapshot(), neighs.stats());
  };
  api_opts.views["/v1/sources"] = [&] {
    if (api_source) {
      const k8s::ApiSourceStats st = api_source->stats();
      return k8s::SourcesToJson(cluster, "api", &st);
    }
    return k8s::SourcesToJson(cluster, manifests ? "manifests" : "none", nullptr);
  };
  api_opts.views["/v1/services"] = [&svc_manager] { return services::ServicesToJson(svc_manager); };
  api_opts.views["/v1/services/verify"] = [&svc_manager] {
    return services::ServicesToJson(svc_manager, /*verify=*/true);
  };
  api_opts.views["/v1/nodes"] = [&tunnels] {
    nlohmann::json arr = nlohmann::json::array();
    for (const k8s::RemoteNode& n : tunnels.Current()) {
      arr.push_back({{"name", n.name}, {"podCIDR", n.pod_cidr.ToString()},
                     {"nodeIP", n.node_ip.ToString()}});
    }
    return nlohmann::json{{"remoteNodes", arr}};
  };
  api_opts.on_cni_request = [&agent_metrics](const char* op, int status, double seconds) {
    agent_metrics.ObserveCniRequest(op, status, seconds);
  };
  api_opts.views["/v1/status"] = [&] {
    absl::MutexLock l(&readiness_mu);
    return nlohmann::json{{"node", cfg.node_name},
                          {"version", metrics::XvrVersion()},
                          {"ready", readiness.ready},
                          {"notReadyReason", readiness.ready ? "" : readiness.reason},
                          {"metricsAddress", metrics_server.bound_address()}};
  };
  // VRouter edits: live fields to their components, the others reported as
  // needing a restart (GET /v1/config, docs/VROUTER.md).
  ASSIGN_OR_RETURN(auto node_cfg_map, (BpfMap<__u32, xvr_node_cfg>::OpenPinned(
                                          dp->maps_dir() + "/" XVR_MAP_NODE)));
  VRouterReloader vrouter_reloader(
      loaded_vrouter.config, loaded_vrouter.source, loaded_vrouter.object,
      loaded_vrouter.resource_version,
      {.logging = [](const VRouterConfig& c) { SetupLogging(c); },
       .events_per_second = [&node_cfg_map](uint32_t eps) -> absl::Status {
         ASSIGN_OR_RETURN(xvr_node_cfg n, node_cfg_map.Lookup(0));
         n.events_per_sec = eps;
         return node_cfg_map.Update(0, n);
       },
       .flow_timeouts = [&flow_table](const FlowTimeouts& t,
                                      uint32_t gc) { flow_table.SetTimeouts(t, gc); },
       .flow_events = [&flow_cfg](bool on) { return flow_cfg->writer().SetEventsEnabled(on); }});
  api_opts.views["/v1/config"] = [&] {
    nlohmann::json j = vrouter_reloader.ToJson();
    j["watch"] = vrouter_source->Status();
    j["fallbackReason"] = loaded_vrouter.fallback_reason;
    return j;
  };
  ApiServer api(api_opts, *endpoints);
  RETURN_IF_ERROR(api.Start());

  // Metrics: read from the components above at scrape time; map entry
  // counts from a background walk.
  metrics::MapFillCollector map_fill(dp->maps_dir(), metrics::DefaultCountedMaps());
  // Stopped before the components the collectors read go away, on every
  // return path (both Stop()s are idempotent).
  absl::Cleanup stop_metrics = [&] {
    metrics_server.Stop();
    map_fill.Stop();
  };
  if (!cfg.metrics_address.empty()) {
    map_fill.Start();
    metrics::AgentMetricsSources msrc;
    msrc.counters = [&dp] { return dp->ReadCounters(); };
    msrc.events = [&dp] {
      const BpfDataplane::EventCounts c = dp->ReadEventCounts();
      return metrics::EventLoss{c.lost, c.suppressed};
    };
    msrc.flows = [&flow_table] { return flow_table.LastStats(); };
    msrc.flow_counters = [&flow_maps] { return flow_maps->Counters(); };
    msrc.map_fill = [&map_fill] { return map_fill.Snapshot(); };
    if (api_source) msrc.api_source = [&api_source] { return api_source->stats(); };
    msrc.rtnl = {{"route", [&route_watcher] { return route_watcher.stats(); }},
                 {"neigh", [&neigh_watcher] { return neigh_watcher.stats(); }}};
    msrc.link = [&links] { return links.stats(); };
    msrc.ready = [&api] { return api.ready(); };
    msrc.scrapes = [&metrics_server] { return metrics_server.scrapes(); };
    agent_metrics.SetSources(std::move(msrc));
    RETURN_IF_ERROR(metrics_server.Serve());
  }
  set_readiness(false, api_source ? "waiting for the first list of the Kubernetes API server"
                                  : "starting");
  // Ready (CNI ADD accepted) once the cluster's state is known: with the
  // API server, after the first full list of every kind.
  std::atomic<bool> stopping{false};
  std::thread ready_waiter;
  if (api_source) {
    spdlog::info("API on {}; ready once the API server's objects are listed", cfg.api_socket);
    ready_waiter = std::thread([&] {
      while (!stopping.load()) {
        absl::Status s = api_source->WaitForSync(absl::Seconds(1));
        if (s.ok()) {
          api.SetReady(true);
          set_readiness(true, "");
          spdlog::info("ready: Kubernetes objects listed");
          return;
        }
      }
    });
  } else {
    api.SetReady(true);
    set_readiness(true, "");
    spdlog::info("ready: API on {}", cfg.api_socket);
  }
  if (!cfg.metrics_address.empty()) {
    spdlog::info("metricsAddress {} (bound {})", cfg.metrics_address,
                 metrics_server.bound_address());
  }

  vrouter_source->Start(
      [&vrouter_reloader](const k8s::LoadedVRouter& v) {
        vrouter_reloader.Update(v.config, v.source, v.object, v.resource_version);
      },
      [&vrouter_reloader](const std::string& e) { vrouter_reloader.Invalid(e); });
  absl::Cleanup stop_vrouter_source = [&vrouter_source] { vrouter_source->Stop(); };

  WaitForTermination();
  vrouter_source->Stop();
  stopping.store(true);
  set_readiness(false, "stopping");
  if (ready_waiter.joinable()) ready_waiter.join();
  metrics_server.Stop();
  map_fill.Stop();
  api.Stop();
  links.Stop();
  drops.Stop();
  policy_manager.Stop();
  flow_table.Stop();
  if (flow_log) {
    flow_observers.Remove(flow_log.get());
    flow_log->Stop();
  }
  tunnels.Stop();
  svc_manager.Stop();
  if (api_source) api_source->Stop();
  if (manifests) manifests->Stop();
  route_watcher.Stop();
  neigh_watcher.Stop();
  return absl::OkStatus();
}

}  // namespace xvr

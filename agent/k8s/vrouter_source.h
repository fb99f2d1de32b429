// Where the agent's VRouter comes from, and how edits of it reach the
// running agent.
//
// At start (cluster mode, --in-cluster or --kubeconfig):
//   GET /apis/xvr.dev/v1alpha1/vrouters/<node name>   a VRouter for this node
//   GET /apis/xvr.dev/v1alpha1/vrouters/<--vrouter>   else the shared one
//   else the --config file (the chart's ConfigMap copy)
// A 404 (no object, or no CRD installed) moves to the next candidate; an
// unreachable API server (connect or read beyond fetch_timeout) or a
// refusal (401/403) goes straight to the file. Whichever wins, fields a
// shared VRouter leaves out are completed from the node (NODE_NAME, the
// Node's spec.podCIDR, the default route's interface: ParseClusterVRouter).
//
// While running, the same lookup is repeated every poll_interval (a GET of
// one small object, not a watch: simple, and resilient to a CRD that is
// installed or removed later); a changed resourceVersion or a change of
// source is handed to the listener as a new VRouter. An object that does
// not parse is reported (logged, in Status()) and ignored: the agent keeps
// its last good configuration.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/config/vrouter.h"
#include "agent/config/vrouter_cluster.h"
#include "agent/k8s/api_source.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/kubeconfig.h"
#include <nlohmann/json.hpp>

namespace xvr::k8s {

inline constexpr char kVRoutersPath[] = "/apis/xvr.dev/v1alpha1/vrouters";

struct LoadedVRouter {
  VRouterConfig config;
  // "api" (a VRouter object) or "file" (--config).
  std::string source;
  std::string object;            // "vrouters/node-1", "vrouters/default", or the file path
  std::string resource_version;  // of the API object; "" for a file
  std::string fallback_reason;   // why not the API, when source is "file"
};

struct VRouterSourceOptions {
  std::string node_name;               // NODE_NAME; "" in file mode
  std::string vrouter_name = "default";  // --vrouter
  std::string file;                    // --config; "" = no fallback
  absl::Duration fetch_timeout = absl::Seconds(5);
  absl::Duration poll_interval = absl::Seconds(10);
  // The default route's interface, for a VRouter without fabricInterface.
  std::function<std::string()> default_ifname = [] { return DefaultRouteInterface(); };
};

class VRouterSource {
 public:
  // `api` null: the file only (no API server configured).
  static absl::StatusOr<std::unique_ptr<VRouterSource>> Create(const ApiServerConfig* api,
                                                              VRouterSourceOptions options);
  ~VRouterSource();  // Stop()s

  // The start-up lookup described above. Fails only when no source yields
  // a valid VRouter; the error then names each source's problem.
  absl::StatusOr<LoadedVRouter> Load();

  // Polls (API mode only) and calls on_update with each new valid VRouter
  // (another resourceVersion or source than the last one seen), from the
  // poll thread. on_error gets invalid objects' errors.
  void Start(std::function<void(const LoadedVRouter&)> on_update,
             std::function<void(const std::string&)> on_error);
  void Stop();

  // {source, object, resourceVersion, polls, lastError}
  nlohmann::json Status() const;

 private:
  explicit VRouterSource(VRouterSourceOptions options) : options_(std::move(options)) {}
  // One lookup in the API: NotFound when neither object exists.
  absl::StatusOr<LoadedVRouter> FetchFromApi();
  void PollLoop();

  ClusterState unused_state_;  // ApiSource wants one; no kind is watched
  std::unique_ptr<ApiSource> api_;
  VRouterSourceOptions options_;
  std::string node_pod_cidr_;  // the Node's spec.podCIDR, fetched once
  bool node_fetched_ = false;
  std::string default_ifname_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::string source_ ABSL_GUARDED_BY(mu_);
  std::string object_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  uint64_t polls_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void(const LoadedVRouter&)> on_update_;
  std::function<void(const std::string&)> on_error_;
  std::thread thread_;
};

}  // namespace xvr::k8s

// The Kubernetes API server source: lists and watches the kinds xvr uses and
// keeps a ClusterState equal to the server's view, the way client-go's
// reflector does.
//
// Per kind, on a thread of its own:
//   LIST (paginated with limit/continue)  → ClusterState::ReplaceAll
//   WATCH from the list's resourceVersion → Apply / Delete per event
// and then:
//   - the server ends the watch (timeoutSeconds): watch again from the last
//     resourceVersion seen (events and bookmarks advance it), no relist;
//   - 410 Gone (HTTP status or an ERROR event): the history is compacted
//     past our resourceVersion, so relist;
//   - garbage on the stream (not JSON, not an event, an object that does not
//     parse): counted, then relist — the stream can no longer be trusted to
//     be complete, and a relist is the only way back to a known state;
//   - connection refused, dropped, 401, 429, 5xx: exponential backoff with
//     jitter, then resume from the last resourceVersion (or list again if
//     there is none yet).
// A list item that does not parse is logged, counted and skipped: one bad
// object must not keep the node from learning about every other one.
//
// Usage (the agent):
//   ASSIGN_OR_RETURN(std::unique_ptr<ApiSource> src,
//                    ApiSource::InCluster(&cluster_state));  // or FromKubeconfig(path, …)
//   RETURN_IF_ERROR(src->Start());
//   RETURN_IF_ERROR(src->WaitForSync(absl::Seconds(60)));  // before acting on absences
//   …
//   src->Stop();  // prompt, even with watches blocked on an idle server
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/kubeconfig.h"
#include "agent/k8s/objects.h"

namespace xvr::k8s {

// The API path of a kind's collection: "/api/v1/nodes",
// "/apis/discovery.k8s.io/v1/endpointslices", …
const char* KindCollectionPath(Kind kind);

struct ApiSourceOptions {
  std::vector<Kind> kinds = {kAllKinds.begin(), kAllKinds.end()};

  // Retry delays: initial_backoff doubling up to max_backoff, each ±20%
  // random so that every node of a cluster does not retry in step after an
  // API server restart. Reset once a watch works again.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);

  // timeoutSeconds of a watch request: the server ends the watch then and we
  // start another from the last resourceVersion.
  absl::Duration watch_timeout = absl::Minutes(5);
  // A watch silent for watch_timeout + this is presumed dead (a NAT or a
  // load balancer forgot the connection) and restarted.
  absl::Duration watch_idle_slack = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(10);
  // Longest silence while reading a list response.
  absl::Duration request_timeout = absl::Seconds(60);
  // Items per list page (limit=); 0 lists everything in one response.
  int page_size = 500;
  std::string user_agent = "xvr-agent";
  // How often a token file is re-read (it is also re-read after a 401).
  absl::Duration token_reload_interval = absl::Minutes(1);
  // fieldSelector for Pods (e.g. "spec.nodeName=node-1"); empty = all pods,
  // which NetworkPolicy needs.
  std::string pod_field_selector;
};

struct KindStats {
  bool watched = false;
  bool synced = false;       // the first list completed and was applied
  uint64_t lists = 0;        // completed lists, each applied with ReplaceAll
  uint64_t relists = 0;      // lists after the first
  uint64_t list_pages = 0;   // list requests that returned a page
  uint64_t watches = 0;      // watch streams opened (HTTP 200)
  uint64_t added = 0;        // watch events, by type
  uint64_t modified = 0;
  uint64_t deleted = 0;
  uint64_t bookmarks = 0;
  uint64_t error_events = 0;  // ERROR events (410 included)
  uint64_t gone = 0;          // 410 Gone: HTTP status or ERROR event
  uint64_t bad_objects = 0;   // list items / watch objects that did not parse
  uint64_t errors = 0;        // failures that caused a retry or a relist
  std::string resource_version;  // where the next watch starts; "" = must list
  std::string last_error;        // most recent error or bad object, "" if none
};

struct ApiSourceStats {
  std::array<KindStats, kNumKinds> kinds;  // indexed by Kind
  const KindStats& operator[](Kind k) const { return kinds[static_cast<size_t>(k)]; }
};

class ApiSource {
 public:
  // Validates `config` (server URL; CA, client certificate and key parsed)
  // without connecting.
  static absl::StatusOr<std::unique_ptr<ApiSource>> Create(ApiServerConfig config,
                                                           ClusterState* state,
                                                           ApiSourceOptions options = {});
  static absl::StatusOr<std::unique_ptr<ApiSource>> FromKubeconfig(const std::string& path,
                                                                   ClusterState* state,
                                                                   ApiSourceOptions options = {},
                                                                   const std::string& context = {});
  static absl::StatusOr<std::unique_ptr<ApiSource>> InCluster(ClusterState* state,
                                                              ApiSourceOptions options = {},
                                                              InClusterOptions in_cluster = {});

  ~ApiSource();  // Stop()s
  ApiSource(const ApiSource&) = delete;
  ApiSource& operator=(const ApiSource&) = delete;

  // Starts one thread per kind. Connection problems are not errors here:
  // they are retried forever and show in stats(). Fails only when called
  // twice or after Stop().
  absl::Status Start();
  // Interrupts in-flight requests and joins the threads. Idempotent. Not
  // from a ClusterState listener: listeners run on this source's threads.
  void Stop();

  // Every watched kind completed its first list and the ClusterState holds
  // it, so an object absent from the state is absent from the cluster.
  bool Synced() const;
  // Waits for Synced(). DeadlineExceeded names the kinds still missing and
  // their last errors; Cancelled when stopped meanwhile.
  absl::Status WaitForSync(absl::Duration timeout) const;

  ApiSourceStats stats() const;
  const ApiServerConfig& config() const;

  // One GET outside the list/watch loops (the agent's VRouter and Node at
  // start and on its poll): the body of a 200. NotFound for 404 (also a CRD
  // that is not installed), Unauthenticated/PermissionDenied for 401/403,
  // Unavailable for transport failures and any other status. Connects
  // within options.connect_timeout, reads within `timeout`. Serialised;
  // interrupted by Stop().
  absl::StatusOr<std::string> GetJson(const std::string& path, absl::Duration timeout);

 private:
  class Impl;  // keeps httplib and OpenSSL out of this header
  explicit ApiSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xvr::k8s

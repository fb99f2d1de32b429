// Applies edits of the VRouter to a running agent: the fields that are
// safe to change live go to their component at once; the others are
// recorded as needing a restart (logged, and shown by GET /v1/config).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/config/vrouter.h"
#include "agent/config/vrouter_cluster.h"

namespace xvr {

// How each live field reaches its component. Unset setters are skipped (the
// field is still reported as applied: nothing else holds it).
struct VRouterLiveSetters {
  std::function<void(const VRouterConfig&)> logging;  // logLevel, logFormat
  std::function<absl::Status(uint32_t)> events_per_second;
  std::function<void(const FlowTimeouts&, uint32_t gc_interval_s)> flow_timeouts;
  std::function<absl::Status(bool)> flow_events;
};

class VRouterReloader {
 public:
  // `started` is the VRouter the agent started with (as parsed).
  VRouterReloader(VRouterConfig started, std::string source, std::string object,
                  std::string resource_version, VRouterLiveSetters setters);

  // A new valid VRouter. Returns the diff against the running state: live
  // fields applied (a setter that fails keeps the field pending and is
  // logged), restart fields those differing from what the agent started
  // with (an edit reverted clears its field).
  VRouterDiff Update(const VRouterConfig& next, const std::string& source,
                     const std::string& object, const std::string& resource_version);
  // An edit that did not parse: kept for /v1/config.
  void Invalid(const std::string& error);

  std::vector<std::string> PendingRestart() const;
  VRouterConfig Effective() const;  // what runs: started + live edits
  // /v1/config: source, object, resourceVersion, pendingRestartFields,
  // lastLiveApplied, lastInvalidEdit, and the effective spec.
  nlohmann::json ToJson() const;

 private:
  const VRouterConfig started_;
  const VRouterLiveSetters setters_;
  mutable absl::Mutex mu_;
  VRouterConfig effective_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> last_live_ ABSL_GUARDED_BY(mu_);
  std::string source_ ABSL_GUARDED_BY(mu_);
  std::string object_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  std::string last_invalid_ ABSL_GUARDED_BY(mu_);
  uint64_t updates_ ABSL_GUARDED_BY(mu_) = 0;
};

// The VRouter as JSON (spec field names), for /v1/config.
nlohmann::json VRouterSpecToJson(const VRouterConfig& c);

}  // namespace xvr

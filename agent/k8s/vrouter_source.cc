#include "agent/k8s/vrouter_source.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/status_macros.h"

namespace xvr::k8s {

using json = nlohmann::json;

absl::StatusOr<std::unique_ptr<VRouterSource>> VRouterSource::Create(
    const ApiServerConfig* api, VRouterSourceOptions options) {
  std::unique_ptr<VRouterSource> src(new VRouterSource(std::move(options)));
  if (api != nullptr) {
    ApiSourceOptions o;
    o.kinds = {};
    o.connect_timeout = src->options_.fetch_timeout;
    o.user_agent = "xvr-agent (vrouter)";
    ASSIGN_OR_RETURN(src->api_, ApiSource::Create(*api, &src->unused_state_, std::move(o)));
  }
  return src;
}

VRouterSource::~VRouterSource() { Stop(); }

absl::StatusOr<LoadedVRouter> VRouterSource::FetchFromApi() {
  if (!node_fetched_ && !options_.node_name.empty()) {
    // kubeadm and kind allocate each Node a pod range; a shared VRouter
    // cannot name it. Immutable once set, so read once.
    absl::StatusOr<std::string> body =
        api_->GetJson(absl::StrCat("/api/v1/nodes/", options_.node_name), options_.fetch_timeout);
    if (body.ok()) {
      node_fetched_ = true;
      json j = json::parse(*body, nullptr, false);
      if (j.is_object() && j.contains("spec") && j["spec"].is_object() &&
          j["spec"].contains("podCIDR") && j["spec"]["podCIDR"].is_string()) {
        node_pod_cidr_ = j["spec"]["podCIDR"].get<std::string>();
      }
    } else if (absl::IsUnavailable(body.status())) {
      return body.status();  // the API server is not there: do not try more
    } else {
      spdlog::warn("vrouter: Node {}: {}", options_.node_name, std::string(body.status().message()));
    }
  }
  std::vector<std::string> names;
  if (!options_.node_name.empty()) names.push_back(options_.node_name);
  if (options_.vrouter_name != options_.node_name) names.push_back(options_.vrouter_name);
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(kVRoutersPath, "/", name);
    absl::StatusOr<std::string> body = api_->GetJson(path, options_.fetch_timeout);
    if (absl::IsNotFound(body.status())) {
      missing.push_back(absl::StrCat("vrouters/", name));
      continue;
    }
    if (!body.ok()) return body.status();
    LoadedVRouter out;
    out.source = "api";
    out.object = absl::StrCat("vrouters/", name);
    json j = json::parse(*body, nullptr, false);
    if (j.is_object() && j.contains("metadata") && j["metadata"].is_object() &&
        j["metadata"].contains("resourceVersion") && j["metadata"]["resourceVersion"].is_string()) {
      out.resource_version = j["metadata"]["resourceVersion"].get<std::string>();
    }
    NodeFacts facts{options_.node_name, node_pod_cidr_, default_ifname_};
    absl::StatusOr<VRouterConfig> cfg = ParseClusterVRouter(*body, facts);
    if (!cfg.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(out.object, " (resourceVersion ",
                                                     out.resource_version, "): ",
                                                     cfg.status().message()));
    }
    out.config = std::move(*cfg);
    return out;
  }
  return absl::NotFoundError(absl::StrCat("no VRouter in the API: ", absl::StrJoin(missing, ", "),
                                          " not found"));
}

absl::StatusOr<LoadedVRouter> VRouterSource::Load() {
  if (options_.default_ifname) default_ifname_ = options_.default_ifname();
  std::string api_problem;
  if (api_) {
    absl::StatusOr<LoadedVRouter> got = FetchFromApi();
    if (got.ok()) {
      spdlog::info("vrouter: using {} (resourceVersion {}) from the API server", got->object,
                   got->resource_version);
      absl::MutexLock l(&mu_);
      source_ = got->source;
      object_ = got->object;
      resource_version_ = got->resource_version;
      return got;
    }
    api_problem = std::string(got.status().message());
    if (absl::IsInvalidArgument(got.status())) {
      // The object exists and is wrong: that is an error to fix, not a
      // reason to run with a file that may say something else... but a node
      // that cannot start networks nothing. Use the file, loudly.
      spdlog::error("vrouter: {}", api_problem);
    }
  }
  if (options_.file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no VRouter: ", api_problem.empty() ? "no source" : api_problem));
  }
  absl::StatusOr<VRouterConfig> cfg;
  if (api_) {
    // Cluster mode: the file is the chart's shared VRouter, completed the
    // same way.
    absl::StatusOr<std::string> text = ReadFileToString(options_.file);
    if (!text.ok()) {
      cfg = text.status();
    } else {
      NodeFacts facts{options_.node_name, node_pod_cidr_, default_ifname_};
      cfg = ParseClusterVRouter(*text, facts);
      if (!cfg.ok()) {
        cfg = absl::Status(cfg.status().code(),
                           absl::StrCat(options_.file, ": ", cfg.status().message()));
      }
    }
  } else {
    cfg = LoadVRouterFile(options_.file);
  }
  if (!cfg.ok()) {
    if (api_problem.empty()) return cfg.status();
    return absl::Status(cfg.status().code(), absl::StrCat(cfg.status().message(),
                                                          " (and the API: ", api_problem, ")"));
  }
  LoadedVRouter out;
  out.config = std::move(*cfg);
  out.source = "file";
  out.object = options_.file;
  out.fallback_reason = api_problem;
  if (api_) {
    spdlog::warn("vrouter: using the file {}: {}", options_.file, api_problem);
  } else {
    spdlog::info("vrouter: using the file {}", options_.file);
  }
  absl::MutexLock l(&mu_);
  source_ = out.source;
  object_ = out.object;
  last_error_ = api_problem;
  return out;
}

void VRouterSource::Start(std::function<void(const LoadedVRouter&)> on_update,
                          std::function<void(const std::string&)> on_error) {
  if (!api_ || thread_.joinable()) return;
  on_update_ = std::move(on_update);
  on_error_ = std::move(on_error);
  thread_ = std::thread([this] { PollLoop(); });
}

void VRouterSource::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (api_) api_->Stop();  // interrupts a GET in flight
  if (thread_.joinable()) thread_.join();
}

void VRouterSource::PollLoop() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.poll_interval);
      if (stop_) return;
      ++polls_;
    }
    absl::StatusOr<LoadedVRouter> got = FetchFromApi();
    if (absl::IsNotFound(got.status())) {
      // Deleted, or never there: keep what runs (a node never loses its
      // configuration because an object went away).
      absl::MutexLock l(&mu_);
      if (source_ == "api") {
        last_error_ = absl::StrCat(got.status().message(), "; keeping ", object_, " as last seen");
      }
      continue;
    }
    if (absl::IsInvalidArgument(got.status())) {
      const std::string msg(got.status().message());
      bool report = false;
      {
        absl::MutexLock l(&mu_);
        report = msg != last_error_;
        last_error_ = msg;
      }
      if (report) {
        spdlog::error("vrouter: invalid edit ignored, keeping the last good configuration: {}", msg);
        if (on_error_) on_error_(msg);
      }
      continue;
    }
    if (!got.ok()) {
      absl::MutexLock l(&mu_);
      if (last_error_ != got.status().message()) {
        spdlog::warn("vrouter: poll: {}", std::string(got.status().message()));
      }
      last_error_ = std::string(got.status().message());
      continue;
    }
    bool changed = false;
    {
      absl::MutexLock l(&mu_);
      changed = got->source != source_ || got->object != object_ ||
                got->resource_version != resource_version_;
      source_ = got->source;
      object_ = got->object;
      resource_version_ = got->resource_version;
      last_error_.clear();
    }
    if (changed) {
      spdlog::info("vrouter: {} changed (resourceVersion {})", got->object, got->resource_version);
      if (on_update_) on_update_(*got);
    }
  }
}

json VRouterSource::Status() const {
  absl::MutexLock l(&mu_);
  return json{{"source", source_},
              {"object", object_},
              {"resourceVersion", resource_version_},
              {"polls", polls_},
              {"pollIntervalSeconds", absl::ToInt64Seconds(options_.poll_interval)},
              {"lastError", last_error_}};
}

}  // namespace xvr::k8s

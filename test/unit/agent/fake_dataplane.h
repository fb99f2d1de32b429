// An in-memory Dataplane for unit tests: links are declared by the test,
// endpoints land in a map keyed like the BPF ifindex map, and every call can
// be made to fail.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/dataplane/dataplane.h"

namespace xvr::testing {

class FakeDataplane : public Dataplane {
 public:
  void AddLink(const std::string& name, uint32_t ifindex, MacAddr mac = MacAddr()) {
    absl::MutexLock l(&mu_);
    if (mac.IsZero()) {
      const uint8_t b[6] = {0xaa, 0xbb, 0, 0, static_cast<uint8_t>(ifindex >> 8),
                            static_cast<uint8_t>(ifindex)};
      mac = MacAddr(b);
    }
    links_[name] = LinkInfo{ifindex, mac};
  }
  void DelLink(const std::string& name) {
    absl::MutexLock l(&mu_);
    links_.erase(name);
  }

  absl::StatusOr<LinkInfo> ResolveLink(const std::string& ifname) override {
    absl::MutexLock l(&mu_);
    if (!resolve_error.ok()) return resolve_error;
    auto it = links_.find(ifname);
    if (it == links_.end()) return absl::NotFoundError("no link " + ifname);
    return it->second;
  }
  absl::Status UpsertEndpoint(const DpEndpoint& ep) override {
    absl::MutexLock l(&mu_);
    ++upserts;
    if (!upsert_error.ok()) {
      // Like a real map write that fails halfway: one entry written.
      by_ifindex_[ep.host_ifindex] = ep;
      return upsert_error;
    }
    by_ifindex_[ep.host_ifindex] = ep;
    return absl::OkStatus();
  }
  absl::Status RemoveEndpoint(const DpEndpoint& ep) override {
    absl::MutexLock l(&mu_);
    ++removes;
    by_ifindex_.erase(ep.host_ifindex);
    return remove_error;
  }
  absl::StatusOr<std::vector<CounterRow>> ReadCounters() override {
    absl::MutexLock l(&mu_);
    return counters;
  }

  std::map<uint32_t, DpEndpoint> endpoints() {
    absl::MutexLock l(&mu_);
    return by_ifindex_;
  }

  // Knobs and observations; set them before the calls they affect.
  absl::Status resolve_error;
  absl::Status upsert_error;
  absl::Status remove_error;
  std::vector<CounterRow> counters;
  int upserts = 0;
  int removes = 0;

 private:
  absl::Mutex mu_;
  std::map<std::string, LinkInfo> links_;
  std::map<uint32_t, DpEndpoint> by_ifindex_;
};

}  // namespace xvr::testing

// Mirrors the kernel's IPv4 neighbour (ARP) table into a KernelNeighSink
// (NeighTable → xvr_neigh): a full dump at start, every change after, and a
// resync (dump + diff) whenever notifications were lost. Every IPv4 entry is
// passed on with its state; the sink filters (an entry going FAILED must
// replace the usable one it had). Proxy entries (NTF_PROXY) are skipped.
#pragma once

#include <netlink/route/neighbour.h>

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "agent/routing/kernel_neigh.h"
#include "agent/routing/rtnl_mirror.h"

namespace xvr {

struct NeighWatcherOptions {
  RtnlMirrorOptions mirror;
};

// The IPv4 entry libnl parsed, or nullopt for anything else.
std::optional<KernelNeigh> ClassifyNeigh(rtnl_neigh* n);

class NeighWatcher : private RtnlMirror::Handler {
 public:
  // The sink must outlive the watcher; it is called from the watcher thread.
  explicit NeighWatcher(KernelNeighSink* sink, NeighWatcherOptions opts = {});
  ~NeighWatcher() override { Stop(); }
  NeighWatcher(const NeighWatcher&) = delete;
  NeighWatcher& operator=(const NeighWatcher&) = delete;

  absl::Status Start() { return mirror_.Start(); }
  void Stop() { mirror_.Stop(); }
  void RequestResync() { mirror_.RequestResync(); }
  RtnlMirrorStats stats() const { return mirror_.stats(); }

 private:
  void DumpBegin() override { dump_.clear(); }
  void DumpObject(nl_object* obj) override;
  void DumpCommit() override;
  void Event(nl_object* obj, int type, int flags) override;

  KernelNeighSink* const sink_;
  std::vector<KernelNeigh> dump_;  // watcher thread only
  RtnlMirror mirror_;              // last
};

}  // namespace xvr

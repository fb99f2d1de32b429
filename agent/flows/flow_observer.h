// Callbacks about flows, in the spirit of CN2's agent library: whoever
// cares (the flow log, metrics, a future exporter) registers a FlowObserver
// and hears about
//   - a flow created (a FLOW_NEW event from the data path),
//   - a flow ended (aged, closed or flushed by the agent's FlowTable; denied
//     by a policy change in the data path: FLOW_END),
//   - a drop (a DROP event),
//   - a packet of interest: the first packet of a new flow (the flow miss),
//     with its headers as the data path captured them.
//
// Callbacks run on the ring-buffer thread (events) or the flow GC / API
// thread (ended flows). They must be cheap and must not block: copy what is
// needed into a bounded queue and return (FlowLog does). They must not
// Add() or Remove() observers.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/flows/flow_record.h"
#include "xvr/abi.h"

namespace xvr {

struct DropRecord;  // agent/events/drop_events.h

// The first packet of a flow (XVR_EVENT_FLOW_NEW).
struct PacketOfInterest {
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint8_t hook = 0;    // XVR_HOOK_*
  uint32_t ifindex = 0;
  uint32_t pkt_len = 0;
  FlowRecord flow;
  uint16_t cap_len = 0;  // valid bytes of headers, from the Ethernet header on
  std::array<uint8_t, XVR_FLOW_EVENT_SNAP_LEN> headers{};
};

class FlowObserver {
 public:
  virtual ~FlowObserver() = default;
  virtual void OnFlowCreated(const FlowRecord& flow) {}
  virtual void OnFlowEnded(const FlowRecord& flow, EndReason reason) {}
  virtual void OnDrop(const DropRecord& drop) {}
  virtual void OnPacketOfInterest(const PacketOfInterest& packet) {}
};

// The registered observers; every notification goes to each in order of
// registration. Thread-safe; Remove() waits for notifications in progress,
// so an observer may be destroyed right after it is removed.
class FlowObserverSet {
 public:
  void Add(FlowObserver* o) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(FlowObserver* o) ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  void NotifyCreated(const FlowRecord& flow) const ABSL_LOCKS_EXCLUDED(mu_);
  void NotifyEnded(const FlowRecord& flow, EndReason reason) const ABSL_LOCKS_EXCLUDED(mu_);
  void NotifyDrop(const DropRecord& drop) const ABSL_LOCKS_EXCLUDED(mu_);
  void NotifyPacketOfInterest(const PacketOfInterest& packet) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<FlowObserver*> observers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xvr

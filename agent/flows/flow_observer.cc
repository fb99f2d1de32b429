#include "agent/flows/flow_observer.h"

#include <algorithm>

namespace xvr {

void FlowObserverSet::Add(FlowObserver* o) {
  absl::MutexLock lock(&mu_);
  if (std::find(observers_.begin(), observers_.end(), o) == observers_.end()) {
    observers_.push_back(o);
  }
}

void FlowObserverSet::Remove(FlowObserver* o) {
  absl::MutexLock lock(&mu_);
  observers_.erase(std::remove(observers_.begin(), observers_.end(), o), observers_.end());
}

size_t FlowObserverSet::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return observers_.size();
}

void FlowObserverSet::NotifyCreated(const FlowRecord& flow) const {
  absl::ReaderMutexLock lock(&mu_);
  for (FlowObserver* o : observers_) o->OnFlowCreated(flow);
}

void FlowObserverSet::NotifyEnded(const FlowRecord& flow, EndReason reason) const {
  absl::ReaderMutexLock lock(&mu_);
  for (FlowObserver* o : observers_) o->OnFlowEnded(flow, reason);
}

void FlowObserverSet::NotifyDrop(const DropRecord& drop) const {
  absl::ReaderMutexLock lock(&mu_);
  for (FlowObserver* o : observers_) o->OnDrop(drop);
}

void FlowObserverSet::NotifyPacketOfInterest(const PacketOfInterest& packet) const {
  absl::ReaderMutexLock lock(&mu_);
  for (FlowObserver* o : observers_) o->OnPacketOfInterest(packet);
}

}  // namespace xvr

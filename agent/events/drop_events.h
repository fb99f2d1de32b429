// Consumes the xvr_events ring buffer and dispatches by event type:
//   XVR_EVENT_DROP      → a DropRecord (numbered by `seq`), kept in a short
//                         history for GET /v1/drops, and OnDrop;
//   XVR_EVENT_FLOW_NEW  → OnFlowCreated and OnPacketOfInterest;
//   XVR_EVENT_FLOW_END  → OnFlowEnded (a policy change denied the flow).
// Observers (agent/flows/flow_observer.h) run on the ring-buffer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "agent/common/net_types.h"
#include "agent/flows/flow_observer.h"
#include "nlohmann/json.hpp"
#include "xvr/abi.h"

struct ring_buffer;

namespace xvr {

struct DropRecord {
  uint64_t seq = 0;      // 1, 2, ... in arrival order, per agent run
  uint64_t ts_ns = 0;    // CLOCK_MONOTONIC, as bpf_ktime_get_ns
  uint64_t wall_ns = 0;  // ts_ns on the realtime clock (ns since the epoch)
  std::string hook;
  std::string reason;
  uint32_t hook_code = 0;    // XVR_HOOK_*
  uint32_t reason_code = 0;  // XVR_R_*
  uint32_t ifindex = 0;
  uint32_t pkt_len = 0;
  std::string summary;  // "10.0.0.1 > 10.0.0.2 proto 17" or the ethertype
  // The IPv4 tuple, when the captured frame holds one (has_ip). Ports are
  // those of TCP, UDP and SCTP; 0 for other protocols.
  bool has_ip = false;
  Ipv4Addr src;
  Ipv4Addr dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
};

// Decodes the captured bytes of one event into a one-line summary.
std::string SummarizeFrame(const uint8_t* data, size_t len);
// Fills the tuple fields of `r` from an Ethernet/IPv4 frame; false (and
// has_ip false) when the frame is not IPv4 or too short.
bool DecodeFrameTuple(const uint8_t* data, size_t len, DropRecord* r);

// One decoded XVR_EVENT_FLOW_NEW or XVR_EVENT_FLOW_END.
struct FlowEvent {
  uint32_t type = 0;  // XVR_EVENT_FLOW_NEW or XVR_EVENT_FLOW_END
  FlowRecord flow;
  PacketOfInterest packet;  // FLOW_NEW: the first packet
  EndReason reason = EndReason::kPolicy;
};

// Decoders of one ring-buffer record; nullopt when it is too short or of
// another type. `seq` and wall time are left to the caller.
std::optional<DropRecord> DecodeDropEvent(const void* data, size_t size);
std::optional<FlowEvent> DecodeFlowEvent(const void* data, size_t size);

// Events read, by type.
struct EventReaderCounts {
  uint64_t drops = 0;
  uint64_t flow_new = 0;
  uint64_t flow_end = 0;
  uint64_t unknown = 0;    // another type (a newer data path)
  uint64_t malformed = 0;  // shorter than its type requires
};

class DropEventReader {
 public:
  // Keeps the last `keep` drops. `observers` (may be null) must outlive the
  // reader.
  explicit DropEventReader(size_t keep = 256, FlowObserverSet* observers = nullptr)
      : keep_(keep), observers_(observers) {}
  ~DropEventReader() { Stop(); }
  DropEventReader(const DropEventReader&) = delete;
  DropEventReader& operator=(const DropEventReader&) = delete;

  absl::Status Start(int ringbuf_fd);
  void Stop();

  // Decodes one ring-buffer record and dispatches it (the ring-buffer
  // thread calls it; tests feed hand-built bytes).
  void Dispatch(const void* data, size_t size);

  std::vector<DropRecord> Recent() const;
  // Drops with seq > since, oldest first. *next is the seq to pass next
  // time; *missed counts drops after `since` no longer kept. A `since`
  // beyond the newest seq (the agent restarted) returns everything kept.
  std::vector<DropRecord> Since(uint64_t since, uint64_t* next, uint64_t* missed) const;
  uint64_t total() const { return counts_drops_; }
  EventReaderCounts counts() const;
  nlohmann::json ToJson() const;

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  void Run();

  size_t keep_;
  FlowObserverSet* observers_;
  ring_buffer* rb_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> counts_drops_{0};
  std::atomic<uint64_t> counts_flow_new_{0};
  std::atomic<uint64_t> counts_flow_end_{0};
  std::atomic<uint64_t> counts_unknown_{0};
  std::atomic<uint64_t> counts_malformed_{0};
  std::thread thread_;
  mutable std::mutex mu_;
  uint64_t seq_ = 0;  // last assigned, under mu_
  std::deque<DropRecord> recent_;
};

// The JSON of one drop as GET /v1/drops and the flow log show it (without
// pod names).
nlohmann::json DropToJson(const DropRecord& r);

}  // namespace xvr

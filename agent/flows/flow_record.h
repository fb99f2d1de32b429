// One connection as the agent sees it: the forward and reply entries of
// xvr_flows (abi.h, "Flows") folded into one record, plus the names the API,
// CLI and flow log print for protocols, states and end reasons.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/common/net_types.h"
#include "xvr/abi.h"

namespace xvr {

// Why a flow pair ended. The agent ends aged (timeout), closed and flushed
// flows; the data path ends a flow a policy change denies (FLOW_END event).
enum class EndReason : uint8_t { kTimeout = 0, kClosed = 1, kFlushed = 2, kPolicy = 3 };
inline constexpr size_t kNumEndReasons = 4;
const char* EndReasonName(EndReason r);  // "timeout", "closed", "flushed", "policy"

// "syn_sent", "syn_recv", "established", "fin_wait", "closed", "unreplied",
// "replied"; "unknown" for anything else.
const char* FlowStateName(uint8_t state);
std::optional<uint8_t> FlowStateFromName(absl::string_view name);
// "tcp", "udp", "icmp", "sctp", else the number ("47").
std::string ProtoName(uint8_t proto);
// tcp|udp|icmp|sctp (any case) or a number 0-255.
std::optional<uint8_t> ProtoFromName(absl::string_view name);

// The tuple of the other direction. ICMP echo keeps working: the request's
// (sport = id, dport = 0) reverses to the reply's (sport = 0, dport = id).
xvr_flow_key ReverseKey(const xvr_flow_key& k);

struct FlowRecord {
  xvr_flow_key key{};  // forward tuple, network order as in the map
  uint8_t state = 0;   // XVR_FLOW_S_*
  uint8_t flags = 0;   // XVR_FLOW_F_* of the forward entry (REPLY cleared)
  uint8_t hook = 0;    // XVR_HOOK_* that created the flow
  uint8_t tcp_flags = 0;        // seen in the forward direction
  uint8_t reply_tcp_flags = 0;  // seen in the reply direction
  uint32_t src_identity = 0;
  uint32_t dst_identity = 0;
  uint32_t svc_addr_be = 0;  // XVR_FLOW_F_SVC: frontend the client addressed
  uint16_t svc_port = 0;     // host order
  uint32_t ifindex = 0;
  uint32_t policy_gen = 0;
  uint64_t packets = 0;  // forward direction
  uint64_t bytes = 0;
  uint64_t reply_packets = 0;
  uint64_t reply_bytes = 0;
  uint64_t created_ns = 0;  // CLOCK_MONOTONIC; 0 when unknown (policy FLOW_END)
  uint64_t last_ns = 0;     // last packet of either direction
  // Which entries exist. A half pair (orphan) lost its other entry to LRU
  // eviction; it ages like a whole pair.
  bool has_forward = true;
  bool has_reply = true;

  Ipv4Addr src() const { return Ipv4Addr::FromBe(key.saddr); }
  Ipv4Addr dst() const { return Ipv4Addr::FromBe(key.daddr); }
  uint16_t sport() const;
  uint16_t dport() const;
  uint8_t proto() const { return key.proto; }
  bool is_service() const { return (flags & XVR_FLOW_F_SVC) != 0; }
  Ipv4Addr svc_addr() const { return Ipv4Addr::FromBe(svc_addr_be); }
  xvr_flow_key reply_key() const { return ReverseKey(key); }
  bool orphan() const { return !has_forward || !has_reply; }
};

// Folds the entries of one pair; `fwd` or `rev` may be null (not both).
// `fwd_key` is the forward tuple.
FlowRecord MakeFlowRecord(const xvr_flow_key& fwd_key, const xvr_flow* fwd, const xvr_flow* rev);

// CLOCK_MONOTONIC now (the clock of bpf_ktime_get_ns).
uint64_t MonotonicNowNs();
// A monotonic timestamp on the realtime clock (ns since the epoch).
uint64_t MonoToWallNs(uint64_t mono_ns);
uint64_t WallNowNs();
// RFC 3339 in UTC with nanoseconds: "2024-05-01T10:00:00.123456789Z".
std::string FormatRfc3339(uint64_t wall_ns);

}  // namespace xvr

#include "agent/flows/flow_record.h"

#include <arpa/inet.h>
#include <time.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"

namespace xvr {

const char* EndReasonName(EndReason r) {
  switch (r) {
    case EndReason::kTimeout:
      return "timeout";
    case EndReason::kClosed:
      return "closed";
    case EndReason::kFlushed:
      return "flushed";
    case EndReason::kPolicy:
      return "policy";
  }
  return "unknown";
}

namespace {

constexpr struct {
  uint8_t state;
  const char* name;
} kStates[] = {
    {XVR_FLOW_S_SYN_SENT, "syn_sent"},       {XVR_FLOW_S_SYN_RECV, "syn_recv"},
    {XVR_FLOW_S_ESTABLISHED, "established"}, {XVR_FLOW_S_FIN_WAIT, "fin_wait"},
    {XVR_FLOW_S_CLOSED, "closed"},           {XVR_FLOW_S_UNREPLIED, "unreplied"},
    {XVR_FLOW_S_REPLIED, "replied"},
};

constexpr struct {
  uint8_t proto;
  const char* name;
} kProtos[] = {{IPPROTO_TCP, "tcp"}, {IPPROTO_UDP, "udp"}, {IPPROTO_ICMP, "icmp"},
               {IPPROTO_SCTP, "sctp"}};

}  // namespace

const char* FlowStateName(uint8_t state) {
  for (const auto& s : kStates) {
    if (s.state == state) return s.name;
  }
  return "unknown";
}

std::optional<uint8_t> FlowStateFromName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& s : kStates) {
    if (lower == s.name) return s.state;
  }
  return std::nullopt;
}

std::string ProtoName(uint8_t proto) {
  for (const auto& p : kProtos) {
    if (p.proto == proto) return p.name;
  }
  return std::to_string(proto);
}

std::optional<uint8_t> ProtoFromName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& p : kProtos) {
    if (lower == p.name) return p.proto;
  }
  uint32_t n = 0;
  if (absl::SimpleAtoi(name, &n) && n <= 255) return static_cast<uint8_t>(n);
  return std::nullopt;
}

xvr_flow_key ReverseKey(const xvr_flow_key& k) {
  xvr_flow_key r{};
  r.saddr = k.daddr;
  r.daddr = k.saddr;
  r.sport = k.dport;
  r.dport = k.sport;
  r.proto = k.proto;
  return r;
}

uint16_t FlowRecord::sport() const { return ntohs(key.sport); }
uint16_t FlowRecord::dport() const { return ntohs(key.dport); }

FlowRecord MakeFlowRecord(const xvr_flow_key& fwd_key, const xvr_flow* fwd, const xvr_flow* rev) {
  FlowRecord r;
  r.key = fwd_key;
  std::fill(std::begin(r.key.pad), std::end(r.key.pad), 0);
  r.has_forward = fwd != nullptr;
  r.has_reply = rev != nullptr;
  // Both entries carry the connection's attributes; the forward one wins.
  const xvr_flow* any = fwd ? fwd : rev;
  if (!any) return r;
  r.state = any->state;
  r.flags = any->flags & ~XVR_FLOW_F_REPLY;
  r.hook = any->hook;
  r.src_identity = any->src_identity;
  r.dst_identity = any->dst_identity;
  r.svc_addr_be = any->svc_addr;
  r.svc_port = ntohs(any->svc_port);
  r.ifindex = any->ifindex;
  r.policy_gen = any->policy_gen;
  r.created_ns = any->created_ns;
  r.last_ns = any->last_ns;
  if (fwd) {
    r.packets = fwd->packets;
    r.bytes = fwd->bytes;
    r.tcp_flags = fwd->tcp_flags;
  }
  if (rev) {
    r.reply_packets = rev->packets;
    r.reply_bytes = rev->bytes;
    r.reply_tcp_flags = rev->tcp_flags;
    r.last_ns = std::max<uint64_t>(r.last_ns, rev->last_ns);
    if (rev->created_ns != 0 && (r.created_ns == 0 || rev->created_ns < r.created_ns)) {
      r.created_ns = rev->created_ns;
    }
  }
  return r;
}

uint64_t MonotonicNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t WallNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t MonoToWallNs(uint64_t mono_ns) {
  const uint64_t mono_now = MonotonicNowNs();
  const uint64_t wall_now = WallNowNs();
  if (mono_ns >= mono_now) return wall_now;
  const uint64_t ago = mono_now - mono_ns;
  return ago > wall_now ? 0 : wall_now - ago;
}

std::string FormatRfc3339(uint64_t wall_ns) {
  const absl::Time t = absl::FromUnixNanos(static_cast<int64_t>(wall_ns));
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", t, absl::UTCTimeZone());
}

}  // namespace xvr

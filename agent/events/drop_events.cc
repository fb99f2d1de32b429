#include "agent/events/drop_events.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/reasons.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

bool HasPorts(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

}  // namespace

std::string SummarizeFrame(const uint8_t* d, size_t len) {
  if (len < 14) return absl::StrFormat("%u bytes, truncated ethernet", len);
  const uint16_t proto = (d[12] << 8) | d[13];
  if (proto != 0x0800) return absl::StrFormat("ethertype 0x%04x", proto);
  if (len < 34) return "ipv4, truncated";
  const uint8_t* ip = d + 14;
  char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, ip + 12, src, sizeof(src));
  inet_ntop(AF_INET, ip + 16, dst, sizeof(dst));
  const size_t ihl = (ip[0] & 0xf) * 4;
  const uint8_t l4 = ip[9];
  if ((l4 == 6 || l4 == 17) && ihl >= 20 && len >= 14 + ihl + 4) {
    const uint8_t* p = ip + ihl;
    return absl::StrFormat("%s:%u > %s:%u %s", src, (p[0] << 8) | p[1], dst, (p[2] << 8) | p[3],
                           l4 == 6 ? "tcp" : "udp");
  }
  return absl::StrFormat("%s > %s proto %u", src, dst, l4);
}

bool DecodeFrameTuple(const uint8_t* d, size_t len, DropRecord* r) {
  r->has_ip = false;
  if (len < 34 || ((d[12] << 8) | d[13]) != 0x0800) return false;
  const uint8_t* ip = d + 14;
  if ((ip[0] >> 4) != 4) return false;
  uint32_t saddr = 0, daddr = 0;
  std::memcpy(&saddr, ip + 12, 4);
  std::memcpy(&daddr, ip + 16, 4);
  r->has_ip = true;
  r->src = Ipv4Addr::FromBe(saddr);
  r->dst = Ipv4Addr::FromBe(daddr);
  r->proto = ip[9];
  r->sport = r->dport = 0;
  const size_t ihl = (ip[0] & 0xf) * 4;
  const bool first_fragment = ((ip[6] & 0x1f) | ip[7]) == 0;
  if (HasPorts(r->proto) && first_fragment && ihl >= 20 && len >= 14 + ihl + 4) {
    const uint8_t* p = ip + ihl;
    r->sport = (p[0] << 8) | p[1];
    r->dport = (p[2] << 8) | p[3];
  }
  return true;
}

std::optional<DropRecord> DecodeDropEvent(const void* data, size_t size) {
  if (size < sizeof(xvr_event_hdr)) return std::nullopt;
  xvr_drop_event ev{};
  std::memcpy(&ev, data, std::min(size, sizeof(ev)));
  if (ev.hdr.type != XVR_EVENT_DROP) return std::nullopt;
  DropRecord r;
  r.ts_ns = ev.hdr.ts_ns;
  r.hook_code = ev.hdr.hook;
  r.reason_code = ev.hdr.reason;
  r.hook = HookName(ev.hdr.hook);
  r.reason = ReasonName(ev.hdr.reason);
  r.ifindex = ev.hdr.ifindex;
  r.pkt_len = ev.hdr.pkt_len;
  // Only what the record really holds is read.
  const size_t avail = size > sizeof(xvr_event_hdr) ? size - sizeof(xvr_event_hdr) : 0;
  const size_t cap = std::min({static_cast<size_t>(ev.hdr.cap_len),
                               static_cast<size_t>(XVR_EVENT_SNAP_LEN), avail});
  r.summary = SummarizeFrame(ev.data, cap);
  DecodeFrameTuple(ev.data, cap, &r);
  return r;
}

std::optional<FlowEvent> DecodeFlowEvent(const void* data, size_t size) {
  if (size < offsetof(xvr_flow_event, data)) return std::nullopt;
  xvr_flow_event ev{};
  std::memcpy(&ev, data, std::min(size, sizeof(ev)));
  if (ev.hdr.type != XVR_EVENT_FLOW_NEW && ev.hdr.type != XVR_EVENT_FLOW_END) return std::nullopt;
  FlowEvent out;
  out.type = ev.hdr.type;
  FlowRecord& f = out.flow;
  f.key = ev.key;
  std::memset(f.key.pad, 0, sizeof(f.key.pad));
  f.state = ev.state;
  f.flags = ev.flags & ~XVR_FLOW_F_REPLY;
  f.hook = static_cast<uint8_t>(ev.hdr.hook);
  f.src_identity = ev.src_identity;
  f.dst_identity = ev.dst_identity;
  f.svc_addr_be = ev.svc_addr;
  f.svc_port = ntohs(ev.svc_port);
  f.ifindex = ev.hdr.ifindex;
  f.packets = ev.packets;
  f.bytes = ev.bytes;
  f.reply_packets = ev.rev_packets;
  f.reply_bytes = ev.rev_bytes;
  f.last_ns = ev.hdr.ts_ns;
  if (ev.hdr.type == XVR_EVENT_FLOW_NEW) {
    f.created_ns = ev.hdr.ts_ns;
    f.has_reply = false;  // nothing came back yet
    PacketOfInterest& p = out.packet;
    p.ts_ns = ev.hdr.ts_ns;
    p.hook = static_cast<uint8_t>(ev.hdr.hook);
    p.ifindex = ev.hdr.ifindex;
    p.pkt_len = ev.hdr.pkt_len;
    p.flow = f;
    const size_t avail = size > offsetof(xvr_flow_event, data)
                             ? size - offsetof(xvr_flow_event, data)
                             : 0;
    p.cap_len = static_cast<uint16_t>(
        std::min({static_cast<size_t>(ev.hdr.cap_len),
                  static_cast<size_t>(XVR_FLOW_EVENT_SNAP_LEN), avail}));
    std::memcpy(p.headers.data(), ev.data, p.cap_len);
  } else {
    // The data path ends flows only on a policy change (XVR_FLOW_END_POLICY).
    out.reason = EndReason::kPolicy;
  }
  return out;
}

absl::Status DropEventReader::Start(int ringbuf_fd) {
  rb_ = ring_buffer__new(ringbuf_fd, &DropEventReader::OnEvent, this, nullptr);
  if (!rb_) return ErrnoStatus(errno, "ring_buffer__new(xvr_events)");
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void DropEventReader::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
}

void DropEventReader::Run() {
  while (!stop_) ring_buffer__poll(rb_, 200);
}

int DropEventReader::OnEvent(void* ctx, void* data, size_t size) {
  static_cast<DropEventReader*>(ctx)->Dispatch(data, size);
  return 0;
}

void DropEventReader::Dispatch(const void* data, size_t size) {
  if (size < sizeof(xvr_event_hdr)) {
    ++counts_malformed_;
    return;
  }
  uint32_t type = 0;
  std::memcpy(&type, static_cast<const char*>(data) + offsetof(xvr_event_hdr, type), sizeof(type));
  switch (type) {
    case XVR_EVENT_DROP: {
      std::optional<DropRecord> r = DecodeDropEvent(data, size);
      if (!r) {
        ++counts_malformed_;
        return;
      }
      r->wall_ns = MonoToWallNs(r->ts_ns);
      spdlog::debug("drop {} {} ifindex {}: {}", r->hook, r->reason, r->ifindex, r->summary);
      ++counts_drops_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        r->seq = ++seq_;
        recent_.push_back(*r);
        if (recent_.size() > keep_) recent_.pop_front();
      }
      if (observers_) observers_->NotifyDrop(*r);
      return;
    }
    case XVR_EVENT_FLOW_NEW:
    case XVR_EVENT_FLOW_END: {
      std::optional<FlowEvent> ev = DecodeFlowEvent(data, size);
      if (!ev) {
        ++counts_malformed_;
        return;
      }
      if (type == XVR_EVENT_FLOW_NEW) {
        ++counts_flow_new_;
        if (observers_) {
          observers_->NotifyCreated(ev->flow);
          observers_->NotifyPacketOfInterest(ev->packet);
        }
      } else {
        ++counts_flow_end_;
        if (observers_) observers_->NotifyEnded(ev->flow, ev->reason);
      }
      return;
    }
    default:
      ++counts_unknown_;
  }
}

std::vector<DropRecord> DropEventReader::Recent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {recent_.begin(), recent_.end()};
}

std::vector<DropRecord> DropEventReader::Since(uint64_t since, uint64_t* next,
                                               uint64_t* missed) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (since > seq_) since = 0;  // numbered by an earlier agent run
  std::vector<DropRecord> out;
  for (const DropRecord& r : recent_) {
    if (r.seq > since) out.push_back(r);
  }
  if (next) *next = seq_;
  if (missed) {
    const uint64_t oldest = recent_.empty() ? seq_ + 1 : recent_.front().seq;
    *missed = oldest > since + 1 ? oldest - since - 1 : 0;
  }
  return out;
}

EventReaderCounts DropEventReader::counts() const {
  return EventReaderCounts{counts_drops_.load(), counts_flow_new_.load(), counts_flow_end_.load(),
                           counts_unknown_.load(), counts_malformed_.load()};
}

nlohmann::json DropToJson(const DropRecord& r) {
  nlohmann::json j = {{"seq", r.seq},
                      {"time", r.wall_ns ? FormatRfc3339(r.wall_ns) : ""},
                      {"tsNs", r.ts_ns},
                      {"hook", r.hook},
                      {"reason", r.reason},
                      {"ifindex", r.ifindex},
                      {"len", r.pkt_len},
                      {"summary", r.summary}};
  if (r.has_ip) {
    j["src"] = r.src.ToString();
    j["dst"] = r.dst.ToString();
    j["sport"] = r.sport;
    j["dport"] = r.dport;
    j["proto"] = ProtoName(r.proto);
  }
  return j;
}

nlohmann::json DropEventReader::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const DropRecord& r : Recent()) arr.push_back(DropToJson(r));
  return {{"total", counts_drops_.load()}, {"drops", arr}};
}

}  // namespace xvr

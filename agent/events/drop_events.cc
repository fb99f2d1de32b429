#include "agent/events/drop_events.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/reasons.h"
#include "spdlog/spdlog.h"

namespace xvr {

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

absl::Status DropEventReader::Start(int ringbuf_fd) {
  rb_ = ring_buffer__new(ringbuf_fd, &DropEventReader::OnEvent, this, nullptr);
  if (!rb_) return ErrnoStatus(errno, "ring_buffer__new(xvr_events)");
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
  auto* self = static_cast<DropEventReader*>(ctx);
  if (size < sizeof(xvr_event_hdr)) return 0;
  const auto* ev = static_cast<const xvr_drop_event*>(data);
  if (ev->hdr.type != XVR_EVENT_DROP) return 0;
  DropRecord r;
  r.ts_ns = ev->hdr.ts_ns;
  r.hook = HookName(ev->hdr.hook);
  r.reason = ReasonName(ev->hdr.reason);
  r.ifindex = ev->hdr.ifindex;
  r.pkt_len = ev->hdr.pkt_len;
  const size_t cap = std::min<size_t>(ev->hdr.cap_len, XVR_EVENT_SNAP_LEN);
  r.summary = SummarizeFrame(ev->data, cap);
  spdlog::debug("drop {} {} ifindex {}: {}", r.hook, r.reason, r.ifindex, r.summary);
  self->total_++;
  std::lock_guard<std::mutex> lock(self->mu_);
  self->recent_.push_back(std::move(r));
  if (self->recent_.size() > self->keep_) self->recent_.pop_front();
  return 0;
}

std::vector<DropRecord> DropEventReader::Recent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {recent_.begin(), recent_.end()};
}

nlohmann::json DropEventReader::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const DropRecord& r : Recent()) {
    arr.push_back({{"tsNs", r.ts_ns}, {"hook", r.hook}, {"reason", r.reason},
                   {"ifindex", r.ifindex}, {"len", r.pkt_len}, {"summary", r.summary}});
  }
  return {{"total", total_.load()}, {"drops", arr}};
}

}  // namespace xvr

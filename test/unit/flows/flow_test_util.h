// Helpers of the flow tests: entry builders, an in-memory FlowMaps, and the
// real maps (an LRU hash and a per-CPU array made with bpf_map_create).
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>

#include <array>
#include <cstring>
#include <functional>
#include <utility>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/common/net_types.h"
#include "agent/events/drop_events.h"
#include "agent/flows/flow_maps.h"
#include "agent/flows/flow_observer.h"
#include "xvr/abi.h"

namespace xvr::test {

constexpr uint64_t kSec = 1000000000ull;

inline uint32_t Ip(const char* s) { return Ipv4Addr::Parse(s).value().be(); }

inline xvr_flow_key Key(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                        uint8_t proto) {
  xvr_flow_key k{};
  k.saddr = Ip(src);
  k.daddr = Ip(dst);
  k.sport = htons(sport);
  k.dport = htons(dport);
  k.proto = proto;
  return k;
}

struct PairSpec {
  xvr_flow_key key;  // forward
  uint8_t state = XVR_FLOW_S_ESTABLISHED;
  uint64_t created_ns = 1 * kSec;
  uint64_t fwd_last_ns = 1 * kSec;
  uint64_t rev_last_ns = 1 * kSec;
  uint64_t packets = 3, bytes = 300, rev_packets = 2, rev_bytes = 200;
  uint32_t src_identity = 256, dst_identity = 257;
  uint32_t svc_addr = 0;  // network order; sets XVR_FLOW_F_SVC
  uint16_t svc_port = 0;
};

inline xvr_flow Entry(const PairSpec& p, bool reply) {
  xvr_flow v{};
  v.created_ns = p.created_ns;
  v.last_ns = reply ? p.rev_last_ns : p.fwd_last_ns;
  v.packets = reply ? p.rev_packets : p.packets;
  v.bytes = reply ? p.rev_bytes : p.bytes;
  v.src_identity = p.src_identity;
  v.dst_identity = p.dst_identity;
  v.state = p.state;
  v.flags = (reply ? XVR_FLOW_F_REPLY : 0) | XVR_FLOW_F_EGRESS;
  if (p.svc_addr) {
    v.flags |= XVR_FLOW_F_SVC;
    v.svc_addr = p.svc_addr;
    v.svc_port = htons(p.svc_port);
  }
  v.hook = XVR_HOOK_XDP_POD;
  v.ifindex = 7;
  v.policy_gen = 1;
  return v;
}

inline xvr_flow_key Rev(const xvr_flow_key& k) {
  xvr_flow_key r{};
  r.saddr = k.daddr;
  r.daddr = k.saddr;
  r.sport = k.dport;
  r.dport = k.sport;
  r.proto = k.proto;
  return r;
}

// An in-memory FlowMaps.
class FakeFlowMaps : public FlowMaps {
 public:
  explicit FakeFlowMaps(uint32_t capacity = 1024) : capacity_(capacity) {}

  absl::StatusOr<std::vector<FlowEntry>> Dump() override {
    if (!fail.ok()) return fail;
    std::vector<FlowEntry> out;
    for (const auto& [k, v] : entries_) out.push_back({Unbytes(k), v});
    if (after_dump) after_dump();
    return out;
  }
  absl::StatusOr<size_t> Delete(const std::vector<xvr_flow_key>& keys,
                                std::vector<size_t>* missing) override {
    if (!fail.ok()) return fail;
    size_t n = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (entries_.erase(Bytes(keys[i]))) {
        ++n;
      } else if (missing) {
        missing->push_back(i);
      }
    }
    return n;
  }
  uint32_t Capacity() const override { return capacity_; }
  absl::StatusOr<FlowCounters> Counters() const override { return counters; }

  void Put(const xvr_flow_key& k, const xvr_flow& v) { entries_[Bytes(k)] = v; }
  void PutPair(const PairSpec& p) {
    Put(p.key, Entry(p, false));
    Put(Rev(p.key), Entry(p, true));
  }
  void Erase(const xvr_flow_key& k) { entries_.erase(Bytes(k)); }
  bool Has(const xvr_flow_key& k) const { return entries_.contains(Bytes(k)); }
  size_t size() const { return entries_.size(); }

  FlowCounters counters{};
  absl::Status fail;
  std::function<void()> after_dump;  // runs between the scan and the delete

 private:
  using KeyBytes = std::array<unsigned char, sizeof(xvr_flow_key)>;
  static KeyBytes Bytes(const xvr_flow_key& k) {
    KeyBytes b;
    std::memcpy(b.data(), &k, sizeof(k));
    return b;
  }
  static xvr_flow_key Unbytes(const KeyBytes& b) {
    xvr_flow_key k;
    std::memcpy(&k, b.data(), sizeof(k));
    return k;
  }
  uint32_t capacity_;
  std::map<KeyBytes, xvr_flow> entries_;
};

// The real thing: an LRU hash like xvr_flows and a per-CPU array like
// xvr_flow_stats. fd < 0 when the process may not create maps (not root).
struct RealMaps {
  int flows = -1;
  int stats = -1;
  std::unique_ptr<BpfFlowMaps> maps;

  static RealMaps Create(uint32_t max_entries) {
    RealMaps r;
    r.flows = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "xvr_flows_test", sizeof(xvr_flow_key),
                             sizeof(xvr_flow), max_entries, nullptr);
    if (r.flows < 0) return r;
    r.stats = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "xvr_fstats_test", sizeof(uint32_t),
                             sizeof(uint64_t), XVR_FS_SLOTS, nullptr);
    if (r.stats < 0) return r;
    // BpfFlowMaps owns duplicates; the raw fds stay for the test's writes.
    auto m = BpfFlowMaps::FromFds(UniqueFd(::dup(r.flows)), UniqueFd(::dup(r.stats)));
    if (m.ok()) r.maps = std::move(*m);
    return r;
  }
  ~RealMaps() {
    maps.reset();
    if (flows >= 0) ::close(flows);
    if (stats >= 0) ::close(stats);
  }
  RealMaps() = default;
  RealMaps(RealMaps&& o) noexcept
      : flows(std::exchange(o.flows, -1)), stats(std::exchange(o.stats, -1)),
        maps(std::move(o.maps)) {}
  RealMaps& operator=(RealMaps&& o) noexcept {
    std::swap(flows, o.flows);
    std::swap(stats, o.stats);
    std::swap(maps, o.maps);
    return *this;
  }

  bool ok() const { return maps != nullptr; }
  void Put(const xvr_flow_key& k, const xvr_flow& v) const {
    bpf_map_update_elem(flows, &k, &v, BPF_ANY);
  }
  void PutPair(const PairSpec& p) const {
    Put(p.key, Entry(p, false));
    Put(Rev(p.key), Entry(p, true));
  }
  bool Has(const xvr_flow_key& k) const {
    xvr_flow v;
    return bpf_map_lookup_elem(flows, &k, &v) == 0;
  }
  // Sets a counter slot: the whole value on CPU 0, zeros elsewhere.
  void SetCounter(uint32_t slot, uint64_t value) const {
    std::vector<uint64_t> per_cpu(libbpf_num_possible_cpus(), 0);
    per_cpu[0] = value;
    bpf_map_update_elem(stats, &slot, per_cpu.data(), BPF_ANY);
  }
};

// Records every notification.
class RecordingObserver : public FlowObserver {
 public:
  void OnFlowCreated(const FlowRecord& f) override { created.push_back(f); }
  void OnFlowEnded(const FlowRecord& f, EndReason r) override { ended.push_back({f, r}); }
  void OnDrop(const DropRecord& d) override { drops.push_back(d); }
  void OnPacketOfInterest(const PacketOfInterest& p) override { packets.push_back(p); }

  std::vector<FlowRecord> created;
  std::vector<std::pair<FlowRecord, EndReason>> ended;
  std::vector<PacketOfInterest> packets;
  std::vector<DropRecord> drops;
};

}  // namespace xvr::test

#include "agent/flows/flow_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

constexpr int kEnotsupp = 524;  // the kernel's ENOTSUPP, not in userspace errno.h
constexpr uint32_t kBatchEntries = 4096;

bool Unsupported(int err) { return err == EINVAL || err == EOPNOTSUPP || err == kEnotsupp; }

absl::StatusOr<bpf_map_info> MapInfo(int fd, const std::string& what) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_obj_get_info_by_fd(", what, ")"));
  }
  return info;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfFlowMaps>> BpfFlowMaps::OpenPinned(const std::string& maps_dir) {
  const std::string flows_pin = maps_dir + "/" XVR_MAP_FLOWS;
  const std::string stats_pin = maps_dir + "/" XVR_MAP_FLOW_STATS;
  UniqueFd flows(bpf_obj_get(flows_pin.c_str()));
  if (!flows.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", flows_pin, ")"));
  UniqueFd stats(bpf_obj_get(stats_pin.c_str()));
  if (!stats.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", stats_pin, ")"));
  return FromFds(std::move(flows), std::move(stats));
}

absl::StatusOr<std::unique_ptr<BpfFlowMaps>> BpfFlowMaps::FromFds(UniqueFd flows, UniqueFd stats) {
  ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(flows.get(), XVR_MAP_FLOWS));
  if (info.key_size != sizeof(xvr_flow_key) || info.value_size != sizeof(xvr_flow)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "map " XVR_MAP_FLOWS " has key/value size ", info.key_size, "/", info.value_size,
        ", expected ", sizeof(xvr_flow_key), "/", sizeof(xvr_flow)));
  }
  if (stats.valid()) {
    ASSIGN_OR_RETURN(bpf_map_info si, MapInfo(stats.get(), XVR_MAP_FLOW_STATS));
    if (si.type != BPF_MAP_TYPE_PERCPU_ARRAY || si.value_size != sizeof(uint64_t)) {
      return absl::FailedPreconditionError(
          absl::StrCat("map " XVR_MAP_FLOW_STATS " has type ", si.type, " and value size ",
                       si.value_size, ", expected a per-CPU array of u64"));
    }
  }
  return std::unique_ptr<BpfFlowMaps>(
      new BpfFlowMaps(std::move(flows), std::move(stats), info.max_entries));
}

absl::StatusOr<std::vector<FlowEntry>> BpfFlowMaps::Dump() {
  std::vector<FlowEntry> out;
  if (lookup_batch_) {
    ASSIGN_OR_RETURN(const bool done, DumpBatch(&out));
    if (done) return out;
    lookup_batch_ = false;
    spdlog::warn("flows: the kernel refuses BPF_MAP_LOOKUP_BATCH on " XVR_MAP_FLOWS
                 "; reading it entry by entry");
    out.clear();
  }
  RETURN_IF_ERROR(DumpIterate(&out));
  return out;
}

absl::StatusOr<bool> BpfFlowMaps::DumpBatch(std::vector<FlowEntry>* out) {
  uint32_t chunk = kBatchEntries;
  std::vector<xvr_flow_key> keys(chunk);
  std::vector<xvr_flow> values(chunk);
  // The batch token is opaque (a bucket index for hash maps); a key's room
  // is enough for every map type.
  xvr_flow_key in{}, next{};
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    __u32 n = chunk;
    const int ret = bpf_map_lookup_batch(flows_.get(), first ? nullptr : &in, &next, keys.data(),
                                         values.data(), &n, &opts);
    const int err = ret < 0 ? -ret : 0;
    if (err != 0 && err != ENOENT) {
      if (first && Unsupported(err)) return false;
      if (err == ENOSPC && n == 0 && chunk < (1u << 20)) {
        // A bucket holds more entries than the buffer: grow and retry.
        chunk *= 2;
        keys.resize(chunk);
        values.resize(chunk);
        continue;
      }
      return ErrnoStatus(err, "bpf_map_lookup_batch(" XVR_MAP_FLOWS ")");
    }
    for (__u32 i = 0; i < n && i < chunk; ++i) out->push_back(FlowEntry{keys[i], values[i]});
    if (err == ENOENT) return true;  // past the last bucket
    in = next;
    first = false;
  }
}

absl::Status BpfFlowMaps::DumpIterate(std::vector<FlowEntry>* out) {
  xvr_flow_key cur{}, next{};
  const xvr_flow_key* prev = nullptr;
  while (bpf_map_get_next_key(flows_.get(), prev, &next) == 0) {
    xvr_flow value{};
    // Gone between the two calls: skipped.
    if (bpf_map_lookup_elem(flows_.get(), &next, &value) == 0) out->push_back({next, value});
    cur = next;
    prev = &cur;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_get_next_key(" XVR_MAP_FLOWS ")");
  return absl::OkStatus();
}

absl::StatusOr<size_t> BpfFlowMaps::Delete(const std::vector<xvr_flow_key>& keys,
                                           std::vector<size_t>* missing) {
  size_t deleted = 0;
  size_t i = 0;
  if (delete_batch_) {
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    bool first = true;
    while (i < keys.size()) {
      __u32 n = static_cast<__u32>(keys.size() - i);
      const int ret = bpf_map_delete_batch(flows_.get(), &keys[i], &n, &opts);
      const int err = ret < 0 ? -ret : 0;
      if (err == 0) {
        deleted += keys.size() - i;
        return deleted;
      }
      if (err == EFAULT) return ErrnoStatus(err, "bpf_map_delete_batch(" XVR_MAP_FLOWS ")");
      // The kernel stops at the first key it cannot delete; n counts the
      // keys deleted before it.
      deleted += n;
      i += n;
      if (err == ENOENT) {
        if (missing) missing->push_back(i);
        ++i;
        first = false;
        continue;
      }
      if (first && n == 0 && Unsupported(err)) {
        delete_batch_ = false;
        spdlog::warn("flows: the kernel refuses BPF_MAP_DELETE_BATCH on " XVR_MAP_FLOWS
                     "; deleting entry by entry");
        break;
      }
      return ErrnoStatus(err, "bpf_map_delete_batch(" XVR_MAP_FLOWS ")");
    }
    if (i >= keys.size()) return deleted;
  }
  for (; i < keys.size(); ++i) {
    if (bpf_map_delete_elem(flows_.get(), &keys[i]) == 0) {
      ++deleted;
    } else if (errno == ENOENT) {
      if (missing) missing->push_back(i);
    } else {
      return ErrnoStatus(errno, "bpf_map_delete_elem(" XVR_MAP_FLOWS ")");
    }
  }
  return deleted;
}

absl::StatusOr<FlowCounters> BpfFlowMaps::Counters() const {
  FlowCounters sum{};
  if (!stats_.valid()) return sum;
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "libbpf_num_possible_cpus");
  std::vector<uint64_t> per_cpu(ncpu);
  for (uint32_t slot = 0; slot < XVR_FS_SLOTS; ++slot) {
    if (bpf_map_lookup_elem(stats_.get(), &slot, per_cpu.data()) != 0) {
      return ErrnoStatus(errno, "bpf_map_lookup_elem(" XVR_MAP_FLOW_STATS ")");
    }
    for (uint64_t v : per_cpu) sum[slot] += v;
  }
  return sum;
}

}  // namespace xvr

#include "agent/services/service_maps.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace xvr::services {
namespace {

constexpr uint32_t kBatch = 4096;

// Visits every (key, value) of a map: batched lookups where the kernel has
// them (hash maps since 5.6), else get_next_key + lookup. Keys that vanish
// between the two calls of the fallback are skipped.
template <typename K, typename V, typename Fn>
absl::Status ScanMap(int fd, const std::string& name, Fn&& visit) {
  std::vector<K> keys(kBatch);
  std::vector<V> values(kBatch);
  // The batch token is opaque (a bucket or an index, 4 bytes today); give
  // it room for a key.
  alignas(8) unsigned char in_token[std::max(sizeof(K), size_t{8})] = {};
  alignas(8) unsigned char out_token[sizeof(in_token)] = {};
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (bool first = true;; first = false) {
    uint32_t count = kBatch;
    const int ret = bpf_map_lookup_batch(fd, first ? nullptr : in_token, out_token, keys.data(),
                                         values.data(), &count, &opts);
    const int err = ret < 0 ? -ret : 0;
    if (err != 0 && err != ENOENT) {
      if (!first) return ErrnoStatus(err, absl::StrCat("bpf_map_lookup_batch(", name, ")"));
      break;  // no batch support for this map: fall back
    }
    for (uint32_t i = 0; i < count; ++i) visit(keys[i], values[i]);
    if (err == ENOENT) return absl::OkStatus();
    std::memcpy(in_token, out_token, sizeof(in_token));
  }
  return ScanMapEntries<K, V>(fd, name, visit);
}

template <typename K, typename V>
absl::StatusOr<std::vector<std::pair<K, V>>> ListMap(int fd, const std::string& name) {
  std::vector<std::pair<K, V>> out;
  RETURN_IF_ERROR(
      (ScanMap<K, V>(fd, name, [&](const K& k, const V& v) { out.emplace_back(k, v); })));
  return out;
}

absl::Status DeleteKey(int fd, const void* key, const char* name) {
  if (bpf_map_delete_elem(fd, key) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("bpf_map_delete_elem(", name, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfServiceMaps>> BpfServiceMaps::Open(const std::string& maps_dir) {
  std::unique_ptr<BpfServiceMaps> m(new BpfServiceMaps());
  const std::string dir = maps_dir + "/";
  ASSIGN_OR_RETURN(m->svc_, (BpfMap<xvr_svc_key, xvr_svc>::OpenPinned(dir + XVR_MAP_SVC)));
  ASSIGN_OR_RETURN(m->backends_,
                   (BpfMap<uint32_t, xvr_backend>::OpenPinned(dir + XVR_MAP_BACKENDS)));
  ASSIGN_OR_RETURN(m->maglev_, (BpfMap<uint32_t, uint32_t>::OpenPinned(dir + XVR_MAP_MAGLEV)));
  ASSIGN_OR_RETURN(m->ct_, (BpfMap<xvr_nat_key, xvr_svc_ct>::OpenPinned(dir + XVR_MAP_SVC_CT)));
  ASSIGN_OR_RETURN(m->rev_, (BpfMap<xvr_nat_key, xvr_svc_rev>::OpenPinned(dir + XVR_MAP_SVC_REV)));
  ASSIGN_OR_RETURN(m->aff_, (BpfMap<xvr_aff_key, xvr_aff_val>::OpenPinned(dir + XVR_MAP_AFFINITY)));
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(m->maglev_.fd(), &info, &len) != 0) {
    return ErrnoStatus(errno, "bpf_obj_get_info_by_fd(" XVR_MAP_MAGLEV ")");
  }
  if (info.type != BPF_MAP_TYPE_ARRAY_OF_MAPS) {
    return absl::FailedPreconditionError(
        absl::StrCat("map ", dir, XVR_MAP_MAGLEV, " has type ", info.type, ", not ARRAY_OF_MAPS"));
  }
  m->maglev_entries_ = info.max_entries;
  return m;
}

absl::Status BpfServiceMaps::UpdateFrontend(const xvr_svc_key& key, const xvr_svc& value) {
  return svc_.Update(key, value);
}

absl::Status BpfServiceMaps::DeleteFrontend(const xvr_svc_key& key) { return svc_.Erase(key); }

absl::StatusOr<std::vector<std::pair<xvr_svc_key, xvr_svc>>> BpfServiceMaps::ListFrontends() const {
  return ListMap<xvr_svc_key, xvr_svc>(svc_.fd(), XVR_MAP_SVC);
}

absl::Status BpfServiceMaps::UpdateBackend(uint32_t id, const xvr_backend& value) {
  return backends_.Update(id, value);
}

absl::Status BpfServiceMaps::DeleteBackend(uint32_t id) { return backends_.Erase(id); }

absl::StatusOr<std::vector<std::pair<uint32_t, xvr_backend>>> BpfServiceMaps::ListBackends() const {
  return ListMap<uint32_t, xvr_backend>(backends_.fd(), XVR_MAP_BACKENDS);
}

absl::StatusOr<UniqueFd> BpfServiceMaps::NewTable(uint32_t table_id,
                                                  const std::vector<uint32_t>& slots) const {
  if (slots.empty()) return absl::InvalidArgumentError("SetTable: empty Maglev table");
  if (table_id >= maglev_entries_) {
    return absl::OutOfRangeError(
        absl::StrCat("SetTable: table ", table_id, " >= ", maglev_entries_));
  }
  // The inner map's flags must equal the template's (BPF_F_INNER_MAP), which
  // is what lets its max_entries differ.
  const std::string name = absl::StrCat("xvr_mg_", table_id);
  LIBBPF_OPTS(bpf_map_create_opts, create_opts, .map_flags = BPF_F_INNER_MAP);
  const int fd =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, name.c_str(), sizeof(uint32_t), sizeof(uint32_t),
                     static_cast<uint32_t>(slots.size()), &create_opts);
  if (fd < 0) return ErrnoStatus(-fd, absl::StrCat("bpf_map_create(", name, ")"));
  UniqueFd inner(fd);

  std::vector<uint32_t> keys(slots.size());
  for (uint32_t i = 0; i < keys.size(); ++i) keys[i] = i;
  uint32_t count = static_cast<uint32_t>(slots.size());
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  int ret = bpf_map_update_batch(inner.get(), keys.data(), slots.data(), &count, &batch_opts);
  if (ret < 0) {
    // No batch support: one slot at a time.
    for (uint32_t i = 0; i < keys.size(); ++i) {
      if (bpf_map_update_elem(inner.get(), &keys[i], &slots[i], BPF_ANY) != 0) {
        return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(", name, ")"));
      }
    }
  }
  return inner;
}

absl::Status BpfServiceMaps::SetTable(uint32_t table_id, const std::vector<uint32_t>& slots) {
  return SetTables({{table_id, &slots}});
}

absl::Status BpfServiceMaps::SetTables(const std::vector<TableWrite>& writes) {
  // In chunks, so the inner maps' fds stay well below RLIMIT_NOFILE.
  constexpr size_t kChunk = 256;
  for (size_t start = 0; start < writes.size(); start += kChunk) {
    const size_t end = std::min(writes.size(), start + kChunk);
    std::vector<UniqueFd> inner;
    std::vector<uint32_t> keys, fds;
    for (size_t i = start; i < end; ++i) {
      ASSIGN_OR_RETURN(UniqueFd fd, NewTable(writes[i].table_id, *writes[i].slots));
      keys.push_back(writes[i].table_id);
      fds.push_back(static_cast<uint32_t>(fd.get()));
      inner.push_back(std::move(fd));
    }
    // The swap: the outer map now holds the inner maps; our fds can go.
    uint32_t count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(maglev_.fd(), keys.data(), fds.data(), &count, &opts) == 0) continue;
    for (size_t i = count; i < keys.size(); ++i) {  // what the batch did not write
      if (bpf_map_update_elem(maglev_.fd(), &keys[i], &fds[i], BPF_ANY) != 0) {
        return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(" XVR_MAP_MAGLEV "[",
                                               keys[i], "])"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status BpfServiceMaps::ClearTable(uint32_t table_id) {
  return DeleteKey(maglev_.fd(), &table_id, XVR_MAP_MAGLEV);
}

absl::Status BpfServiceMaps::ClearTables(const std::vector<uint32_t>& table_ids) {
  if (table_ids.empty()) return absl::OkStatus();
  // Only present tables: a batch delete stops at the first missing key.
  std::vector<uint32_t> present;
  for (uint32_t id : table_ids) {
    uint32_t inner_id = 0;
    if (bpf_map_lookup_elem(maglev_.fd(), &id, &inner_id) == 0) present.push_back(id);
  }
  uint32_t count = static_cast<uint32_t>(present.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (count == 0 || bpf_map_delete_batch(maglev_.fd(), present.data(), &count, &opts) == 0) {
    return absl::OkStatus();
  }
  for (size_t i = count; i < present.size(); ++i) {
    RETURN_IF_ERROR(ClearTable(present[i]));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> BpfServiceMaps::ReadTable(uint32_t table_id) const {
  uint32_t inner_id = 0;
  if (bpf_map_lookup_elem(maglev_.fd(), &table_id, &inner_id) != 0) {
    return ErrnoStatus(errno,
                       absl::StrCat("bpf_map_lookup_elem(" XVR_MAP_MAGLEV "[", table_id, "])"));
  }
  const int fd = bpf_map_get_fd_by_id(inner_id);
  if (fd < 0) return ErrnoStatus(-fd, absl::StrCat("bpf_map_get_fd_by_id(", inner_id, ")"));
  UniqueFd inner(fd);
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(inner.get(), &info, &len) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_obj_get_info_by_fd(map id ", inner_id, ")"));
  }
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 || info.value_size != 4) {
    return absl::FailedPreconditionError(absl::StrCat(XVR_MAP_MAGLEV "[", table_id, "] (map id ",
                                                      inner_id, ") is not a u32 → u32 array"));
  }
  std::vector<uint32_t> slots(info.max_entries);
  std::vector<uint32_t> keys(info.max_entries);
  for (uint32_t i = 0; i < keys.size(); ++i) keys[i] = i;
  uint32_t count = info.max_entries;
  uint32_t out_batch = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, batch_opts);
  int ret = bpf_map_lookup_batch(inner.get(), nullptr, &out_batch, keys.data(), slots.data(),
                                 &count, &batch_opts);
  if ((ret < 0 && ret != -ENOENT) || count != info.max_entries) {
    for (uint32_t i = 0; i < keys.size(); ++i) {
      if (bpf_map_lookup_elem(inner.get(), &i, &slots[i]) != 0) {
        return ErrnoStatus(errno, absl::StrCat("bpf_map_lookup_elem(", info.name, ")"));
      }
    }
  } else {
    // Batched lookups of an array return keys in order; make sure.
    for (uint32_t i = 0; i < count; ++i) {
      if (keys[i] != i) {
        return absl::InternalError(absl::StrCat("lookup_batch(", info.name, "): out of order"));
      }
    }
  }
  return slots;
}

absl::StatusOr<std::vector<uint32_t>> BpfServiceMaps::ListTables() const {
  std::vector<uint32_t> ids;
  RETURN_IF_ERROR((ScanMap<uint32_t, uint32_t>(maglev_.fd(), XVR_MAP_MAGLEV,
                                               [&](uint32_t id, uint32_t) { ids.push_back(id); })));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

absl::Status BpfServiceMaps::ScanCt(const CtVisitor& visit) const {
  return ScanMap<xvr_nat_key, xvr_svc_ct>(ct_.fd(), XVR_MAP_SVC_CT, visit);
}

absl::Status BpfServiceMaps::DeleteCt(const xvr_nat_key& key) { return ct_.Erase(key); }

absl::Status BpfServiceMaps::DeleteRev(const xvr_nat_key& key) { return rev_.Erase(key); }

absl::Status BpfServiceMaps::ScanAffinity(const AffinityVisitor& visit) const {
  return ScanMap<xvr_aff_key, xvr_aff_val>(aff_.fd(), XVR_MAP_AFFINITY, visit);
}

absl::Status BpfServiceMaps::DeleteAffinity(const xvr_aff_key& key) { return aff_.Erase(key); }

}  // namespace xvr::services

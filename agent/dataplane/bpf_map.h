// Typed access to a pinned BPF map. Domain code takes the MapOps<K, V>
// interface so unit tests can run on an in-memory map without root.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <cerrno>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr {

template <typename K, typename V>
class MapOps {
 public:
  virtual ~MapOps() = default;
  virtual absl::Status Update(const K& key, const V& value) = 0;
  virtual absl::StatusOr<V> Lookup(const K& key) const = 0;
  // Erasing a missing key is not an error.
  virtual absl::Status Erase(const K& key) = 0;
  virtual absl::StatusOr<std::vector<K>> Keys() const = 0;
};

template <typename K, typename V>
class BpfMap : public MapOps<K, V> {
 public:
  BpfMap() = default;
  BpfMap(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  // Opens a pinned map and checks that its key/value sizes match K and V,
  // so a layout change in abi.h can never be written into an old map.
  static absl::StatusOr<BpfMap> OpenPinned(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", path, ")"));
    UniqueFd owned(fd);
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bpf_obj_get_info_by_fd(", path, ")"));
    }
    if (info.key_size != sizeof(K) || info.value_size != sizeof(V)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "map ", path, " has key/value size ", info.key_size, "/", info.value_size,
          ", expected ", sizeof(K), "/", sizeof(V)));
    }
    return BpfMap(std::move(owned), path);
  }

  absl::Status Update(const K& key, const V& value) override {
    if (bpf_map_update_elem(fd_.get(), &key, &value, BPF_ANY) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_update_elem(", name_, ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<V> Lookup(const K& key) const override {
    V value{};
    if (bpf_map_lookup_elem(fd_.get(), &key, &value) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_lookup_elem(", name_, ")"));
    }
    return value;
  }

  absl::Status Erase(const K& key) override {
    if (bpf_map_delete_elem(fd_.get(), &key) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_delete_elem(", name_, ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<K>> Keys() const override {
    std::vector<K> keys;
    K cur{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd_.get(), prev, &next) == 0) {
      keys.push_back(next);
      cur = next;
      prev = &cur;
    }
    if (errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_get_next_key(", name_, ")"));
    }
    return keys;
  }

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string name_;
};

// Visits every (key, value) of the map `fd` via get_next_key + lookup, one
// entry at a time (works for every map type and kernel, unlike batched
// lookups). A key that vanishes between the two calls is skipped. Only for
// a map whose lookup by a stored key returns that key's own value: true for
// hashes and arrays, and for LPM tries (the longest prefix matching a
// stored key at its own length is the key itself). `name` is for errors.
template <typename K, typename V, typename Fn>
absl::Status ScanMapEntries(int fd, absl::string_view name, Fn&& visit) {
  K cur{}, next{};
  const K* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    V value{};
    if (bpf_map_lookup_elem(fd, &next, &value) == 0) {
      visit(next, value);
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_lookup_elem(", name, ")"));
    }
    cur = next;
    prev = &cur;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, absl::StrCat("bpf_map_get_next_key(", name, ")"));
  return absl::OkStatus();
}

// A per-CPU array read as one value per possible CPU.
template <typename V>
class PerCpuArray {
 public:
  PerCpuArray() = default;
  PerCpuArray(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  static absl::StatusOr<PerCpuArray> OpenPinned(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", path, ")"));
    return PerCpuArray(UniqueFd(fd), path);
  }

  absl::StatusOr<std::vector<V>> Lookup(uint32_t index) const {
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return ErrnoStatus(-ncpu, "libbpf_num_possible_cpus");
    // The kernel copies values rounded up to 8 bytes per CPU.
    static_assert(sizeof(V) % 8 == 0, "per-CPU values must be 8-byte multiples");
    std::vector<V> values(ncpu);
    if (bpf_map_lookup_elem(fd_.get(), &index, values.data()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bpf_map_lookup_elem(", name_, ")"));
    }
    return values;
  }

  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string name_;
};

}  // namespace xvr

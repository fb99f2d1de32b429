// An in-memory MapOps that counts writes and can be told to fail them.
#pragma once

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "agent/dataplane/bpf_map.h"

namespace xvr::test {

// K must be trivially copyable; keys are compared bytewise.
template <typename K, typename V>
class FakeMap : public MapOps<K, V> {
 public:
  absl::Status Update(const K& key, const V& value) override {
    if (fail_writes) return absl::ResourceExhaustedError("fake map: write refused");
    ++updates;
    entries_[Bytes(key)] = value;
    return absl::OkStatus();
  }
  absl::StatusOr<V> Lookup(const K& key) const override {
    auto it = entries_.find(Bytes(key));
    if (it == entries_.end()) return absl::NotFoundError("fake map: no such key");
    return it->second;
  }
  absl::Status Erase(const K& key) override {
    if (fail_writes) return absl::ResourceExhaustedError("fake map: write refused");
    if (entries_.erase(Bytes(key)) > 0) ++erases;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<K>> Keys() const override {
    std::vector<K> out;
    for (const auto& [b, v] : entries_) {
      K k;
      std::memcpy(&k, b.data(), sizeof(K));
      out.push_back(k);
    }
    return out;
  }

  // Writes behind the table's back (a map left by an earlier agent).
  void Poke(const K& key, const V& value) { entries_[Bytes(key)] = value; }
  size_t size() const { return entries_.size(); }
  bool Has(const K& key) const { return entries_.contains(Bytes(key)); }
  void ResetCounters() { updates = erases = 0; }

  int updates = 0;
  int erases = 0;
  bool fail_writes = false;

 private:
  using KeyBytes = std::array<unsigned char, sizeof(K)>;
  static KeyBytes Bytes(const K& k) {
    KeyBytes b;
    std::memcpy(b.data(), &k, sizeof(K));
    return b;
  }
  std::map<KeyBytes, V> entries_;
};

}  // namespace xvr::test

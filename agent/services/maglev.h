// Maglev consistent hashing (Eisenbud et al., NSDI 2016), as Katran and
// Cilium use it for L4 load balancing: each backend fills a prime-sized
// lookup table in the order of its own permutation, so every backend gets
// M/N slots (±1) and removing one backend moves the flows it had (about
// 1/N) and few others: with M ≈ 100·N another 0.5–3% of the slots change
// owner (measured in maglev_test; a larger M/N lowers it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xvr::services {

// The smallest prime table size for `backends` backends: >= 100 × backends
// (so the spread between backends stays within 1%), at least 251, at most
// XVR_MAGLEV_MAX. Fails above XVR_MAGLEV_MAX / 100 backends.
absl::StatusOr<uint32_t> MaglevTableSize(size_t backends);

// One backend to place: `name` seeds its permutation (use something stable
// across agents and restarts, e.g. "10.0.1.5:8080/TCP", so every node
// builds the same table), `id` is what the table's slots hold.
struct MaglevBackend {
  std::string name;
  uint32_t id = 0;
};

// The lookup table of size `m` (prime): slot → backend id. Empty when
// `backends` is empty. Backends with equal names, an `m` that is not a prime
// <= XVR_MAGLEV_MAX, or more backends than slots are errors. The table
// depends only on the set of names and `m` (not on input order, ids only
// label slots); a different `m` gives an unrelated table, so a caller that
// wants little disruption keeps `m` while it is still >= 100 × backends.
absl::StatusOr<std::vector<uint32_t>> BuildMaglevTable(const std::vector<MaglevBackend>& backends,
                                                       uint32_t m);

// How evenly a table spreads: slots per backend id, and the largest relative
// deviation from M/N (0.01 = 1%).
struct MaglevHealth {
  uint32_t size = 0;
  size_t backends = 0;
  uint32_t min_slots = 0;
  uint32_t max_slots = 0;
  double max_deviation = 0;
};
MaglevHealth MeasureMaglevTable(const std::vector<uint32_t>& table);

}  // namespace xvr::services

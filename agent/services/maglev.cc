#include "agent/services/maglev.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "bpf/include/xvr/abi.h"

namespace xvr::services {
namespace {

constexpr uint32_t kMinTableSize = 251;
constexpr uint32_t kSlotsPerBackend = 100;

// Murmur3's 64-bit finalizer: every input bit affects every output bit.
uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// FNV-1a over the bytes from a seeded start, then Mix64. Plain 64-bit
// arithmetic on unsigned bytes, so every build on every platform gives the
// same value (which absl::Hash and std::hash do not promise): every agent
// builds the same table for the same backends.
uint64_t NameHash(const std::string& s, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix64(seed);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h ^ s.size());
}

constexpr uint64_t kOffsetSeed = 0x6d61676c65763031ULL;  // "maglev01"
constexpr uint64_t kSkipSeed = 0x6d61676c65763032ULL;    // "maglev02"

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; d <= n / d; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<uint32_t> MaglevTableSize(size_t backends) {
  if (backends > XVR_MAGLEV_MAX / kSlotsPerBackend) {
    return absl::ResourceExhaustedError(
        absl::StrCat(backends, " backends: a Maglev table holds at most ",
                     XVR_MAGLEV_MAX / kSlotsPerBackend, " (", XVR_MAGLEV_MAX, " slots, ",
                     kSlotsPerBackend, " per backend)"));
  }
  uint32_t m = std::max<uint32_t>(kMinTableSize,
                                  static_cast<uint32_t>(backends) * kSlotsPerBackend);
  while (!IsPrime(m)) ++m;
  // XVR_MAGLEV_MAX is prime, so the search never passes it.
  return std::min<uint32_t>(m, XVR_MAGLEV_MAX);
}

absl::StatusOr<std::vector<uint32_t>> BuildMaglevTable(const std::vector<MaglevBackend>& backends,
                                                       uint32_t m) {
  if (backends.empty()) return std::vector<uint32_t>();
  if (!IsPrime(m) || m > XVR_MAGLEV_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("Maglev table size ", m, " is not a prime <= ", XVR_MAGLEV_MAX));
  }
  if (backends.size() > m) {
    return absl::InvalidArgumentError(
        absl::StrCat(backends.size(), " backends do not fit a Maglev table of ", m));
  }
  // Sorted by name: the table depends on the set, not on the input order.
  std::vector<const MaglevBackend*> sorted;
  sorted.reserve(backends.size());
  for (const MaglevBackend& b : backends) sorted.push_back(&b);
  std::sort(sorted.begin(), sorted.end(),
            [](const MaglevBackend* a, const MaglevBackend* b) { return a->name < b->name; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->name == sorted[i - 1]->name) {
      return absl::InvalidArgumentError(
          absl::StrCat("Maglev backend name \"", sorted[i]->name, "\" appears twice"));
    }
  }

  // Backend i visits slots offset_i, offset_i + skip_i, … (mod m); skip_i in
  // [1, m-1] and m prime make that a permutation of all m slots.
  const size_t n = sorted.size();
  std::vector<uint32_t> next(n);  // the slot backend i tries next
  std::vector<uint32_t> skip(n);
  for (size_t i = 0; i < n; ++i) {
    next[i] = static_cast<uint32_t>(NameHash(sorted[i]->name, kOffsetSeed) % m);
    skip[i] = static_cast<uint32_t>(NameHash(sorted[i]->name, kSkipSeed) % (m - 1)) + 1;
  }
  constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> owner(m, kEmpty);  // slot → index into sorted
  uint32_t filled = 0;
  // Round-robin: each backend in turn takes the next free slot of its
  // permutation, until every slot is taken.
  while (true) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t c = next[i];
      while (owner[c] != kEmpty) {
        c += skip[i];
        if (c >= m) c -= m;
      }
      owner[c] = static_cast<uint32_t>(i);
      c += skip[i];
      if (c >= m) c -= m;
      next[i] = c;
      if (++filled == m) {
        std::vector<uint32_t> table(m);
        for (uint32_t s = 0; s < m; ++s) table[s] = sorted[owner[s]]->id;
        return table;
      }
    }
  }
}

MaglevHealth MeasureMaglevTable(const std::vector<uint32_t>& table) {
  MaglevHealth h;
  h.size = static_cast<uint32_t>(table.size());
  if (table.empty()) return h;
  std::map<uint32_t, uint32_t> slots;
  for (uint32_t id : table) ++slots[id];
  h.backends = slots.size();
  h.min_slots = std::numeric_limits<uint32_t>::max();
  for (const auto& [id, count] : slots) {
    h.min_slots = std::min(h.min_slots, count);
    h.max_slots = std::max(h.max_slots, count);
  }
  const double even = static_cast<double>(h.size) / static_cast<double>(h.backends);
  h.max_deviation = std::max(h.max_slots - even, even - h.min_slots) / even;
  return h;
}

}  // namespace xvr::services

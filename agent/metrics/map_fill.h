// Entry counts of the pinned BPF maps, for xvr_map_entries / _capacity /
// _fill_ratio. A hash or LPM map has no entry count the kernel hands out:
// counting means walking its keys (BPF_MAP_GET_NEXT_KEY), which costs about
// a microsecond per entry. So the walk runs on a background thread every
// `interval` and a scrape reads the cached figures; the flow table
// (up to millions of entries) is left out here and reported from the flow
// table's own live count.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace xvr::metrics {

struct MapFill {
  std::string name;       // pinned name, e.g. "xvr_routes"
  uint32_t type = 0;      // BPF_MAP_TYPE_*
  uint64_t entries = 0;   // at the last walk
  uint64_t capacity = 0;  // max_entries
  bool ok = false;        // the map was opened and walked
  std::string error;
};

struct MapFillSnapshot {
  std::vector<MapFill> maps;
  uint64_t walks = 0;             // completed refreshes
  double last_walk_seconds = 0;   // duration of the last refresh
};

// The maps counted by default (hash, LRU and LPM maps; arrays and ring
// buffers have nothing to fill).
std::vector<std::string> DefaultCountedMaps();

// Counts the entries of one map by walking its keys. Stops at `limit`.
uint64_t CountMapEntries(int fd, uint32_t key_size, uint64_t limit);

class MapFillCollector {
 public:
  MapFillCollector(std::string maps_dir, std::vector<std::string> names,
                   std::chrono::milliseconds interval = std::chrono::seconds(10));
  ~MapFillCollector();  // Stop()s
  MapFillCollector(const MapFillCollector&) = delete;
  MapFillCollector& operator=(const MapFillCollector&) = delete;

  // Walks once (so the first scrape has figures), then every interval.
  void Start();
  void Stop();
  // One walk of every map, now, on the caller's thread.
  void Refresh();
  MapFillSnapshot Snapshot() const;

 private:
  void Loop();

  const std::string dir_;
  const std::vector<std::string> names_;
  const std::chrono::milliseconds interval_;

  mutable std::mutex mu_;
  MapFillSnapshot snap_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace xvr::metrics

// Consumes the xvr_events ring buffer: drop events written by the programs.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "xvr/abi.h"

struct ring_buffer;

namespace xvr {

struct DropRecord {
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC, as bpf_ktime_get_ns
  std::string hook;
  std::string reason;
  uint32_t ifindex = 0;
  uint32_t pkt_len = 0;
  std::string summary;  // "10.0.0.1 > 10.0.0.2 proto 17" or the ethertype
};

// Decodes the captured bytes of one event into a one-line summary.
std::string SummarizeFrame(const uint8_t* data, size_t len);

class DropEventReader {
 public:
  explicit DropEventReader(size_t keep = 256) : keep_(keep) {}
  ~DropEventReader() { Stop(); }
  DropEventReader(const DropEventReader&) = delete;
  DropEventReader& operator=(const DropEventReader&) = delete;

  absl::Status Start(int ringbuf_fd);
  void Stop();

  std::vector<DropRecord> Recent() const;
  uint64_t total() const { return total_; }
  nlohmann::json ToJson() const;

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  void Run();

  size_t keep_;
  ring_buffer* rb_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> total_{0};
  std::thread thread_;
  mutable std::mutex mu_;
  std::deque<DropRecord> recent_;
};

}  // namespace xvr

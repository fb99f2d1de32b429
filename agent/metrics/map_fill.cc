#include "agent/metrics/map_fill.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "xvr/abi.h"

namespace xvr::metrics {

std::vector<std::string> DefaultCountedMaps() {
  return {XVR_MAP_EP_IFINDEX, XVR_MAP_EP_IP,    XVR_MAP_DEVMAP,  XVR_MAP_ROUTES,
          XVR_MAP_NEIGH,      XVR_MAP_SNAT,     XVR_MAP_SNAT_REV, XVR_MAP_SVC,
          XVR_MAP_BACKENDS,   XVR_MAP_SVC_CT,   XVR_MAP_SVC_REV, XVR_MAP_AFFINITY,
          XVR_MAP_IPCACHE,    XVR_MAP_CIDR_ID,  XVR_MAP_POLICY};
}

uint64_t CountMapEntries(int fd, uint32_t key_size, uint64_t limit) {
  std::vector<unsigned char> a(key_size), b(key_size);
  void* prev = nullptr;
  uint64_t n = 0;
  while (n < limit) {
    if (bpf_map_get_next_key(fd, prev, b.data()) != 0) break;  // ENOENT: the end
    ++n;
    a.swap(b);
    prev = a.data();
  }
  return n;
}

MapFillCollector::MapFillCollector(std::string maps_dir, std::vector<std::string> names,
                                   std::chrono::milliseconds interval)
    : dir_(std::move(maps_dir)), names_(std::move(names)), interval_(interval) {}

MapFillCollector::~MapFillCollector() { Stop(); }

void MapFillCollector::Start() {
  if (thread_.joinable()) return;
  Refresh();
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void MapFillCollector::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MapFillCollector::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, interval_, [this] { return stop_; })) {
    l.unlock();
    Refresh();
    l.lock();
  }
}

void MapFillCollector::Refresh() {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<MapFill> out;
  out.reserve(names_.size());
  for (const std::string& name : names_) {
    MapFill m;
    m.name = name;
    const std::string path = dir_ + "/" + name;
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      m.error = std::string("open ") + path + ": " + std::strerror(errno);
      out.push_back(std::move(m));
      continue;
    }
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      m.error = std::string("info ") + path + ": " + std::strerror(errno);
      ::close(fd);
      out.push_back(std::move(m));
      continue;
    }
    m.type = info.type;
    m.capacity = info.max_entries;
    // A little beyond max_entries: a walk racing with updates may see a
    // key twice; never loop forever on a map that keeps changing.
    m.entries = CountMapEntries(fd, info.key_size, uint64_t{info.max_entries} + 1024);
    if (m.entries > m.capacity) m.entries = m.capacity;
    m.ok = true;
    ::close(fd);
    out.push_back(std::move(m));
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> l(mu_);
  snap_.maps = std::move(out);
  ++snap_.walks;
  snap_.last_walk_seconds = secs;
}

MapFillSnapshot MapFillCollector::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return snap_;
}

}  // namespace xvr::metrics

// xvr-bench-flowgc: the cost of ageing a full flow table. Writes flow
// pairs straight into a node's pinned xvr_flows (the layout of abi.h
// "Flows", both entries of each pair) and measures either the running
// agent's GC passes over them or a walk of the same map by this tool.
//
//   xvr-bench-flowgc agent --map PIN --pid PID --pairs N --interval S [--passes P]
//       with the agent running (its GC thread wakes every S s):
//       1. live: N live pairs (TCP ESTABLISHED, last packet now: nothing to
//          age); the GC thread is found as the agent thread that runs a
//          burst of CPU after the fill (per-thread schedstat); then P
//          passes are measured, and the agent's CPU over the P full
//          periods from the start of the first to the start of the
//          (P+1)-th pass (steady state);
//       2. expire: the table emptied, then N pairs written as TCP CLOSED
//          with their last packet 5 s in the future (tcpClosed is 10 s):
//          passes during the fill see them live, the first pass once they
//          are idle long enough ends them all; that pass is measured, and
//          the table must be empty after it;
//       3. idle: the empty table, P periods, as in 1.
//       Per pass: wall time (first to last sample in which the GC thread
//       ran or waited to run, 10 ms samples, a pass ends after 300 ms of
//       quiet), the agent's CPU (utime+stime of /proc/PID/stat, all
//       threads, ticks) and the GC thread's run time (schedstat, ns).
//       Prints one JSON object.
//   xvr-bench-flowgc walk --map PIN --pairs N
//       the agent stopped: the same N expired pairs aged by this tool,
//       (a) per key: bpf_map_get_next_key + bpf_map_lookup_elem over the
//       whole map, then bpf_map_delete_elem per expired entry (what the
//       agent falls back to when the kernel refuses batches);
//       (b) batched: BPF_MAP_LOOKUP_BATCH (4096 entries per call) and one
//       BPF_MAP_DELETE_BATCH of the expired keys; then the same two walks
//       over N live pairs (nothing to delete). Wall and CPU (getrusage) of
//       each; the table is left empty. Prints one JSON object.
//   xvr-bench-flowgc fill --map PIN --pairs N [--expired]
//       writes N live (or expired) pairs and checks they are all there
//   xvr-bench-flowgc clear --map PIN     empties the map (batched)
//   xvr-bench-flowgc count --map PIN     prints the number of entries
//
// Keys (PairKey): client 10.244.2.(2 + i / 60000), source port 1024 + i %
// 60000 (17 clients for a million pairs), server 10.244.1.(10 + i % 8), TCP
// 8080. Timestamps are CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns()
// and of the agent's GC.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "nlohmann/json.hpp"
#include "xvr/abi.h"

namespace xvr::bench {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBatch = 4096;
constexpr uint32_t kPortsPerClient = 60000;
constexpr uint64_t kNsPerSec = 1'000'000'000ull;
constexpr uint64_t kExpiredIdleNs = 60 * kNsPerSec;   // > tcpClosed (10 s)
constexpr uint64_t kClosedTimeoutNs = 10 * kNsPerSec;  // the agent's default tcpClosed
constexpr uint64_t kExpireDelayNs = 5 * kNsPerSec;  // expiring pairs: last packet this far ahead

uint64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

double Secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double SelfCpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

xvr_flow_key PairKey(uint32_t i) {
  xvr_flow_key k{};
  const uint32_t client = i / kPortsPerClient;
  k.saddr = htonl((10u << 24) | (244u << 16) | ((2 + client / 250) << 8) | (2 + client % 250));
  k.daddr = htonl((10u << 24) | (244u << 16) | (1u << 8) | (10 + i % 8));
  k.sport = htons(static_cast<uint16_t>(1024 + i % kPortsPerClient));
  k.dport = htons(8080);
  k.proto = IPPROTO_TCP;
  return k;
}

xvr_flow_key Reverse(const xvr_flow_key& k) {
  xvr_flow_key r{};
  r.saddr = k.daddr;
  r.daddr = k.saddr;
  r.sport = k.dport;
  r.dport = k.sport;
  r.proto = k.proto;
  return r;
}

// kLive: ESTABLISHED, last packet now. kExpired: CLOSED, idle 60 s.
// kExpiring: CLOSED, last packet at the given time.
enum class Kind { kLive, kExpired, kExpiring };

// Both entries of pairs [0, n), written with BPF_MAP_UPDATE_BATCH.
absl::Status Fill(int fd, uint32_t n, Kind kind, uint64_t last_ns = 0) {
  const uint64_t now = MonoNs();
  xvr_flow fwd{};
  fwd.created_ns = now - 2 * kExpiredIdleNs;
  fwd.last_ns = kind == Kind::kLive ? now : kind == Kind::kExpired ? now - kExpiredIdleNs : last_ns;
  fwd.packets = 10;
  fwd.bytes = 1000;
  fwd.src_identity = 1000;
  fwd.dst_identity = 2000;
  fwd.state = kind == Kind::kLive ? XVR_FLOW_S_ESTABLISHED : XVR_FLOW_S_CLOSED;
  fwd.flags = XVR_FLOW_F_EGRESS | XVR_FLOW_F_INGRESS;
  fwd.policy_gen = 1;
  fwd.tcp_flags = kind == Kind::kLive ? (XVR_TCP_SYN | XVR_TCP_ACK) : (XVR_TCP_SYN | XVR_TCP_ACK | XVR_TCP_RST);
  xvr_flow rev = fwd;
  rev.flags |= XVR_FLOW_F_REPLY;
  rev.tcp_flags = XVR_TCP_SYN | XVR_TCP_ACK;
  std::vector<xvr_flow_key> keys;
  std::vector<xvr_flow> values;
  keys.reserve(kBatch);
  values.reserve(kBatch);
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  auto flush = [&]() -> absl::Status {
    __u32 count = static_cast<__u32>(keys.size());
    if (count && bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) != 0) {
      return ErrnoStatus(errno, "bpf_map_update_batch(" XVR_MAP_FLOWS ")");
    }
    keys.clear();
    values.clear();
    return absl::OkStatus();
  };
  for (uint32_t i = 0; i < n; ++i) {
    const xvr_flow_key k = PairKey(i);
    keys.push_back(k);
    values.push_back(fwd);
    keys.push_back(Reverse(k));
    values.push_back(rev);
    if (keys.size() + 2 > kBatch) RETURN_IF_ERROR(flush());
  }
  return flush();
}

// Every entry, batched.
absl::Status DumpBatch(int fd, std::vector<xvr_flow_key>* keys_out, std::vector<xvr_flow>* vals_out) {
  std::vector<xvr_flow_key> keys(kBatch);
  std::vector<xvr_flow> values(kBatch);
  xvr_flow_key in{}, next{};  // opaque batch tokens (a bucket index for hash maps)
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    __u32 n = kBatch;
    const int ret = bpf_map_lookup_batch(fd, first ? nullptr : &in, &next, keys.data(),
                                         values.data(), &n, &opts);
    const int err = ret < 0 ? errno : 0;
    if (err != 0 && err != ENOENT) return ErrnoStatus(err, "bpf_map_lookup_batch(" XVR_MAP_FLOWS ")");
    keys_out->insert(keys_out->end(), keys.begin(), keys.begin() + n);
    if (vals_out) vals_out->insert(vals_out->end(), values.begin(), values.begin() + n);
    if (err == ENOENT) return absl::OkStatus();
    in = next;
    first = false;
  }
}

absl::StatusOr<size_t> Count(int fd) {
  std::vector<xvr_flow_key> keys;
  RETURN_IF_ERROR(DumpBatch(fd, &keys, nullptr));
  return keys.size();
}

absl::Status DeleteBatch(int fd, const std::vector<xvr_flow_key>& keys) {
  size_t i = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  while (i < keys.size()) {
    __u32 n = static_cast<__u32>(keys.size() - i);
    if (bpf_map_delete_batch(fd, &keys[i], &n, &opts) == 0) return absl::OkStatus();
    if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_delete_batch(" XVR_MAP_FLOWS ")");
    i += n + 1;  // gone already: skip it
  }
  return absl::OkStatus();
}

absl::Status Clear(int fd) {
  std::vector<xvr_flow_key> keys;
  RETURN_IF_ERROR(DumpBatch(fd, &keys, nullptr));
  return DeleteBatch(fd, keys);
}

bool Expired(const xvr_flow& v, uint64_t now) {
  return v.state == XVR_FLOW_S_CLOSED && now > v.last_ns && now - v.last_ns >= kClosedTimeoutNs;
}

absl::StatusOr<UniqueFd> OpenMap(const std::string& pin, uint32_t pairs) {
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", pin, ")"));
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return ErrnoStatus(errno, "bpf_obj_get_info_by_fd");
  if (info.key_size != sizeof(xvr_flow_key) || info.value_size != sizeof(xvr_flow)) {
    return absl::FailedPreconditionError(absl::StrCat(pin, ": not an xvr_flows map"));
  }
  if (info.max_entries < 2ull * pairs) {
    return absl::FailedPreconditionError(absl::StrCat(pin, " holds ", info.max_entries,
                                                      " entries, fewer than 2 x ", pairs));
  }
  return fd;
}

// Writes n pairs and checks that all 2n entries are there (an LRU map that
// evicted some would make every later figure wrong).
absl::StatusOr<json> FillChecked(int fd, uint32_t n, Kind kind, uint64_t last_ns = 0) {
  const auto t0 = Clock::now();
  RETURN_IF_ERROR(Fill(fd, n, kind, last_ns));
  const double s = Secs(t0, Clock::now());
  ASSIGN_OR_RETURN(size_t got, Count(fd));
  if (got != 2ull * n) {
    return absl::InternalError(absl::StrCat("after writing ", n, " pairs the map holds ", got,
                                            " entries, expected ", 2ull * n,
                                            " (LRU evictions? make the table larger)"));
  }
  return json{{"seconds", s}, {"entries", got}};
}

// --- the agent's threads -------------------------------------------------------

struct ThreadTimes {
  uint64_t run_ns = 0, wait_ns = 0;
};

std::map<int, ThreadTimes> Threads(int pid) {
  std::map<int, ThreadTimes> out;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    ThreadTimes t;
    if (f >> t.run_ns >> t.wait_ns) out[std::atoi(e->d_name)] = t;
  }
  closedir(d);
  return out;
}

absl::StatusOr<ThreadTimes> Thread(int pid, int tid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/task/", tid, "/schedstat"));
  ThreadTimes t;
  if (!(f >> t.run_ns >> t.wait_ns)) {
    return absl::NotFoundError(absl::StrCat("thread ", tid, " of ", pid, " is gone"));
  }
  return t;
}

// utime + stime of the whole process, in ms (ticks).
absl::StatusOr<double> ProcCpuMs(int pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t p = s.rfind(')');
  if (p == std::string::npos) return absl::NotFoundError(absl::StrCat("process ", pid, " is gone"));
  std::istringstream in(s.substr(p + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Fields after the comm: 3 state ... 14 utime, 15 stime.
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return (utime + stime) * 1000.0 / sysconf(_SC_CLK_TCK);
}

constexpr auto kSample = std::chrono::milliseconds(10);
constexpr auto kQuiet = std::chrono::milliseconds(300);

struct Pass {
  Clock::time_point start, end;
  double proc_ms_start = 0, proc_ms_end = 0;
  uint64_t run_ns = 0;  // GC thread run time in the pass
  double wall_ms() const { return std::chrono::duration<double, std::milli>(end - start).count(); }
  json ToJson() const {
    return json{{"wall_ms", wall_ms()},
                {"agent_cpu_ms", proc_ms_end - proc_ms_start},
                {"gc_thread_cpu_ms", run_ns / 1e6}};
  }
};

// Waits for the GC thread's next pass (its first sign of activity from
// now on) and returns it once it ended.
absl::StatusOr<Pass> NextPass(int pid, int tid, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  ASSIGN_OR_RETURN(ThreadTimes last, Thread(pid, tid));
  ASSIGN_OR_RETURN(double proc_before, ProcCpuMs(pid));
  Pass p;
  bool started = false;
  Clock::time_point last_active;
  ThreadTimes first{};
  for (;;) {
    std::this_thread::sleep_for(kSample);
    const auto now = Clock::now();
    ASSIGN_OR_RETURN(ThreadTimes t, Thread(pid, tid));
    ASSIGN_OR_RETURN(double proc, ProcCpuMs(pid));
    const bool active = t.run_ns != last.run_ns || t.wait_ns != last.wait_ns;
    if (active && !started) {
      started = true;
      p.start = now - kSample / 2;
      p.proc_ms_start = proc_before;
      first = last;
    }
    if (active) {
      last_active = now;
      p.proc_ms_end = proc;
      p.run_ns = t.run_ns - first.run_ns;
    }
    if (started && now - last_active >= kQuiet) {
      p.end = last_active;
      return p;
    }
    if (!started) proc_before = proc;
    last = t;
    if (now > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("no complete GC pass of thread ", tid,
                                                       " within ", timeout_s, " s"));
    }
  }
}

// The GC thread: the agent thread that runs a burst of >= 20 ms of CPU
// and then sleeps (a pass over the live table just written).
absl::StatusOr<int> FindGcThread(int pid, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  std::map<int, ThreadTimes> last = Threads(pid);
  std::map<int, uint64_t> burst;  // run ns of the current burst
  std::map<int, Clock::time_point> active_at;
  for (;;) {
    std::this_thread::sleep_for(kSample);
    const auto now = Clock::now();
    std::map<int, ThreadTimes> cur = Threads(pid);
    if (cur.empty()) return absl::NotFoundError(absl::StrCat("agent ", pid, " is gone"));
    for (const auto& [tid, t] : cur) {
      auto it = last.find(tid);
      if (it == last.end()) continue;
      if (t.run_ns != it->second.run_ns || t.wait_ns != it->second.wait_ns) {
        burst[tid] += t.run_ns - it->second.run_ns;
        active_at[tid] = now;
      } else if (burst[tid] && now - active_at[tid] >= kQuiet) {
        if (burst[tid] >= 20'000'000) return tid;
        burst[tid] = 0;
      }
    }
    last = std::move(cur);
    if (now > deadline) {
      return absl::DeadlineExceededError("no agent thread ran a GC-sized burst (>= 20 ms) in time");
    }
  }
}

struct Window {
  double seconds = 0, cpu_ms = 0;
  std::vector<Pass> passes;
  json ToJson() const {
    json ps = json::array();
    for (const Pass& p : passes) ps.push_back(p.ToJson());
    return json{{"seconds", seconds}, {"agent_cpu_ms", cpu_ms},
                {"cpu_pct", seconds > 0 ? cpu_ms / 10 / seconds : 0}, {"passes", ps}};
  }
};

// P full GC periods: from the start of a pass to the start of the pass P
// later; the first P passes are kept.
absl::StatusOr<Window> Periods(int pid, int tid, int periods, double interval) {
  Window w;
  std::vector<Pass> all;
  for (int i = 0; i <= periods; ++i) {
    ASSIGN_OR_RETURN(Pass p, NextPass(pid, tid, interval * 3 + 60));
    all.push_back(p);
  }
  w.seconds = Secs(all.front().start, all.back().start);
  w.cpu_ms = all.back().proc_ms_start - all.front().proc_ms_start;
  all.pop_back();
  w.passes = std::move(all);
  return w;
}

absl::Status Agent(const std::string& pin, int pid, uint32_t pairs, double interval, int periods) {
  ASSIGN_OR_RETURN(UniqueFd map, OpenMap(pin, pairs));
  const int fd = map.get();
  json out;
  RETURN_IF_ERROR(Clear(fd));
  // 1. live.
  ASSIGN_OR_RETURN(out["fill_live"], FillChecked(fd, pairs, Kind::kLive));
  ASSIGN_OR_RETURN(const int tid, FindGcThread(pid, interval * 3 + 60));
  out["gc_tid"] = tid;
  ASSIGN_OR_RETURN(Window live, Periods(pid, tid, periods, interval));
  out["live"] = live.ToJson();
  ASSIGN_OR_RETURN(size_t left, Count(fd));
  if (left != 2ull * pairs) {
    return absl::InternalError(absl::StrCat("live pairs: ", left, " entries after the GC passes, expected ",
                                            2ull * pairs, " (the GC ended live flows?)"));
  }
  // 2. expire: the table emptied, then the pairs written as TCP CLOSED
  // with their last packet kExpireDelayNs in the future: passes during and
  // right after the fill see them live, and the first pass whose clock is
  // past last packet + tcpClosed ends them all at once (one `now` per
  // pass). That pass is measured; pair 0's forward entry tells which one it
  // was, and the table must be empty after it.
  RETURN_IF_ERROR(NextPass(pid, tid, interval * 3 + 60).status());
  RETURN_IF_ERROR(Clear(fd));
  const uint64_t last_ns = MonoNs() + kExpireDelayNs;
  ASSIGN_OR_RETURN(out["fill_expired"], FillChecked(fd, pairs, Kind::kExpiring, last_ns));
  if (MonoNs() + kNsPerSec > last_ns + kClosedTimeoutNs) {
    return absl::InternalError("writing the expiring pairs took longer than they had to live");
  }
  const xvr_flow_key probe = PairKey(0);
  int scans = 0;
  for (;;) {
    ASSIGN_OR_RETURN(Pass p, NextPass(pid, tid, interval * 3 + 60));
    xvr_flow v{};
    if (bpf_map_lookup_elem(fd, &probe, &v) == 0) {
      if (++scans > 100) return absl::InternalError("the expiring pairs never expired");
      continue;  // a pass that found them live
    }
    out["expire"] = p.ToJson();
    out["expire"]["live_scans_before"] = scans;
    break;
  }
  ASSIGN_OR_RETURN(left, Count(fd));
  out["expire"]["entries_left"] = left;
  if (left != 0) {
    return absl::InternalError(absl::StrCat("the GC pass left ", left, " of ", 2ull * pairs,
                                            " expired entries"));
  }
  // 3. idle.
  ASSIGN_OR_RETURN(Window idle, Periods(pid, tid, periods, interval));
  out["idle"] = idle.ToJson();
  std::cout << out.dump() << std::endl;
  return absl::OkStatus();
}

// --- this tool's own walks ----------------------------------------------------

struct Cost {
  double wall_ms = 0, cpu_ms = 0;
  size_t seen = 0, deleted = 0;
  json ToJson() const {
    return json{{"wall_ms", wall_ms}, {"cpu_ms", cpu_ms}, {"entries", seen}, {"deleted", deleted}};
  }
};

absl::StatusOr<Cost> WalkPerKey(int fd) {
  Cost c;
  const auto t0 = Clock::now();
  const double c0 = SelfCpuMs();
  const uint64_t now = MonoNs();
  std::vector<xvr_flow_key> expired;
  xvr_flow_key cur{}, next{};
  const xvr_flow_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    xvr_flow v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      ++c.seen;
      if (Expired(v, now)) expired.push_back(next);
    }
    cur = next;
    prev = &cur;
  }
  if (errno != ENOENT) return ErrnoStatus(errno, "bpf_map_get_next_key");
  for (const xvr_flow_key& k : expired) {
    if (bpf_map_delete_elem(fd, &k) == 0) {
      ++c.deleted;
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "bpf_map_delete_elem");
    }
  }
  c.cpu_ms = SelfCpuMs() - c0;
  c.wall_ms = Secs(t0, Clock::now()) * 1e3;
  return c;
}

absl::StatusOr<Cost> WalkBatch(int fd) {
  Cost c;
  const auto t0 = Clock::now();
  const double c0 = SelfCpuMs();
  const uint64_t now = MonoNs();
  std::vector<xvr_flow_key> keys, expired;
  std::vector<xvr_flow> values;
  RETURN_IF_ERROR(DumpBatch(fd, &keys, &values));
  c.seen = keys.size();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (Expired(values[i], now)) expired.push_back(keys[i]);
  }
  RETURN_IF_ERROR(DeleteBatch(fd, expired));
  c.deleted = expired.size();
  c.cpu_ms = SelfCpuMs() - c0;
  c.wall_ms = Secs(t0, Clock::now()) * 1e3;
  return c;
}

absl::Status Walk(const std::string& pin, uint32_t pairs) {
  ASSIGN_OR_RETURN(UniqueFd map, OpenMap(pin, pairs));
  const int fd = map.get();
  json out;
  RETURN_IF_ERROR(Clear(fd));
  // Expired pairs, written once per walk (each walk deletes them all); live
  // pairs, written once and walked both ways (nothing is deleted).
  struct Step {
    const char* name;
    Kind kind;
    bool fill;
    absl::StatusOr<Cost> (*walk)(int);
  };
  for (const Step& s : {Step{"expire_per_key", Kind::kExpired, true, &WalkPerKey},
                        Step{"expire_batch", Kind::kExpired, true, &WalkBatch},
                        Step{"live_per_key", Kind::kLive, true, &WalkPerKey},
                        Step{"live_batch", Kind::kLive, false, &WalkBatch}}) {
    json fill;
    if (s.fill) {
      ASSIGN_OR_RETURN(fill, FillChecked(fd, pairs, s.kind));
    }
    ASSIGN_OR_RETURN(Cost c, s.walk(fd));
    const size_t want_deleted = s.kind == Kind::kExpired ? 2ull * pairs : 0;
    if (c.seen != 2ull * pairs || c.deleted != want_deleted) {
      return absl::InternalError(absl::StrCat(s.name, ": saw ", c.seen, " entries and deleted ",
                                              c.deleted, ", expected ", 2ull * pairs, " and ",
                                              want_deleted));
    }
    out[s.name] = c.ToJson();
    if (s.fill) out[s.name]["fill_s"] = fill["seconds"];
  }
  RETURN_IF_ERROR(Clear(fd));
  std::cout << out.dump() << std::endl;
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  CLI::App app{"flow table ageing: the agent's GC passes vs a walk by this tool"};
  app.require_subcommand(1);
  std::string pin;
  uint32_t pairs = 1'000'000;
  int pid = 0, passes = 3;
  double interval = 5;
  auto* agent = app.add_subcommand("agent", "measure the running agent's GC passes");
  agent->add_option("--map", pin, "pinned xvr_flows")->required();
  agent->add_option("--pid", pid, "the agent's pid")->required();
  agent->add_option("--pairs", pairs)->capture_default_str();
  agent->add_option("--interval", interval, "the agent's spec.flows.gcInterval, seconds")->capture_default_str();
  agent->add_option("--passes", passes, "GC periods measured (live, idle)")->capture_default_str();
  auto* walk = app.add_subcommand("walk", "age the same pairs with this tool (agent stopped)");
  walk->add_option("--map", pin, "pinned xvr_flows")->required();
  walk->add_option("--pairs", pairs)->capture_default_str();
  bool expired = false;
  auto* fill = app.add_subcommand("fill", "write N live (or expired) pairs");
  fill->add_option("--map", pin, "pinned xvr_flows")->required();
  fill->add_option("--pairs", pairs)->capture_default_str();
  fill->add_flag("--expired", expired, "TCP CLOSED, idle 60 s (else ESTABLISHED, last packet now)");
  auto* clear = app.add_subcommand("clear", "delete every entry");
  clear->add_option("--map", pin)->required();
  auto* count = app.add_subcommand("count", "print the number of entries");
  count->add_option("--map", pin)->required();
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  absl::Status s;
  if (*agent) {
    s = xvr::bench::Agent(pin, pid, pairs, interval, passes);
  } else if (*walk) {
    s = xvr::bench::Walk(pin, pairs);
  } else if (*fill) {
    auto fd = xvr::bench::OpenMap(pin, pairs);
    if (!fd.ok()) {
      s = fd.status();
    } else {
      auto j = xvr::bench::FillChecked(
          fd->get(), pairs, expired ? xvr::bench::Kind::kExpired : xvr::bench::Kind::kLive);
      if (j.ok()) std::cout << j->dump() << "\n";
      s = j.status();
    }
  } else {
    auto fd = xvr::bench::OpenMap(pin, 0);
    if (!fd.ok()) {
      s = fd.status();
    } else if (*clear) {
      s = xvr::bench::Clear(fd->get());
    } else {
      auto n = xvr::bench::Count(fd->get());
      if (n.ok()) std::cout << *n << "\n";
      s = n.status();
    }
  }
  if (!s.ok()) {
    std::cerr << "xvr-bench-flowgc: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

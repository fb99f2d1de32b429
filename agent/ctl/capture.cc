#include "agent/ctl/capture.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/net_types.h"
#include "agent/common/status_macros.h"
#include "agent/ctl/client.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/dataplane/reasons.h"
#include "agent/dataplane/unique_fd.h"

namespace xvr {
namespace {

uint64_t NowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

std::string MaskNames(uint32_t mask, int n, const char* (*name)(uint32_t)) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (mask & (1u << i)) absl::StrAppend(&s, s.empty() ? "" : ",", name(i));
  }
  return s;
}

absl::StatusOr<uint32_t> NamesToMask(const std::vector<std::string>& names, int n,
                                     const char* (*name)(uint32_t), const char* what) {
  if (names.empty()) return (1u << n) - 1;
  uint32_t mask = 0;
  for (const std::string& want : names) {
    bool found = false;
    for (int i = 0; i < n; ++i) {
      if (want == name(i)) {
        mask |= 1u << i;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat("unknown ", what, " '", want, "' (one of ",
                                                     MaskNames((1u << n) - 1, n, name), ")"));
    }
  }
  return mask;
}

std::atomic<bool> g_stop{false};

// Resolves --pod NS/NAME through the agent's /v1/endpoints.
absl::StatusOr<Ipv4Addr> PodIp(const std::string& socket, const std::string& pod) {
  ASSIGN_OR_RETURN(nlohmann::json j, AgentGet(socket, "/v1/endpoints"));
  if (j.contains("endpoints") && j["endpoints"].is_array()) {
    for (const auto& e : j["endpoints"]) {
      if (!e.is_object()) continue;
      const std::string name = e.value("podNamespace", "") + "/" + e.value("podName", "");
      if (name != pod) continue;
      std::string ip = e.value("ip", "");
      ip = ip.substr(0, ip.find('/'));
      return Ipv4Addr::Parse(ip);
    }
  }
  return absl::NotFoundError(absl::StrCat("pod ", pod, " has no endpoint on this node (xvrctl endpoints)"));
}

class Session {
 public:
  explicit Session(const CaptureOptions& o) : o_(o) {}
  absl::Status Run();

 private:
  absl::Status OpenMaps();
  absl::StatusOr<xvr_capture_cfg> ReadCfg() const;
  absl::Status WriteCfg(const xvr_capture_cfg& c) const;
  absl::StatusOr<xvr_capture_stats> ReadStats() const;
  int OnRecord(const void* data, size_t size);
  // Disables the capture if it is still ours.
  void Disable();
  void Summary(const xvr_capture_stats& st0, const xvr_capture_stats& st1) const;

  const CaptureOptions& o_;
  UniqueFd cfg_fd_, ring_fd_, stats_fd_;
  std::unique_ptr<CaptureWriter> writer_;
  xvr_capture_cfg cfg_{};
  uint64_t wall_offset_ns_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC
  uint64_t written_ = 0, other_gen_ = 0, bad_ = 0;
  std::map<std::string, uint64_t> by_verdict_;
  absl::Status write_error_;
  bool owned_ = false;
  bool writer_broken_pipe_ = false;
};

absl::Status Session::OpenMaps() {
  const std::string dir = o_.bpf_root + "/maps/";
  struct {
    const char* name;
    UniqueFd* fd;
  } maps[] = {{XVR_MAP_CAP_CFG, &cfg_fd_}, {XVR_MAP_CAPTURE, &ring_fd_}, {XVR_MAP_CAP_STATS, &stats_fd_}};
  for (auto& m : maps) {
    const std::string path = dir + m.name;
    m.fd->reset(bpf_obj_get(path.c_str()));
    if (!m.fd->valid()) {
      if (errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat(
            path, " not found: no xvr data path under --bpf-root ", o_.bpf_root,
            ", or one loaded by an xvr-agent without capture (restart the agent with this build)"));
      }
      return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", path, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<xvr_capture_cfg> Session::ReadCfg() const {
  xvr_capture_cfg c{};
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(cfg_fd_.get(), &zero, &c) != 0) {
    return ErrnoStatus(errno, "bpf_map_lookup_elem(" XVR_MAP_CAP_CFG ")");
  }
  return c;
}

absl::Status Session::WriteCfg(const xvr_capture_cfg& c) const {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(cfg_fd_.get(), &zero, &c, BPF_ANY) != 0) {
    return ErrnoStatus(errno, "bpf_map_update_elem(" XVR_MAP_CAP_CFG ")");
  }
  return absl::OkStatus();
}

absl::StatusOr<xvr_capture_stats> Session::ReadStats() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "libbpf_num_possible_cpus");
  std::vector<xvr_capture_stats> per_cpu(ncpu);
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(stats_fd_.get(), &zero, per_cpu.data()) != 0) {
    return ErrnoStatus(errno, "bpf_map_lookup_elem(" XVR_MAP_CAP_STATS ")");
  }
  xvr_capture_stats sum{};
  for (const auto& s : per_cpu) {
    sum.captured += s.captured;
    sum.lost += s.lost;
  }
  return sum;
}

int Session::OnRecord(const void* data, size_t size) {
  if (size < sizeof(xvr_capture_hdr)) {
    ++bad_;
    return 0;
  }
  xvr_capture_hdr h;
  std::memcpy(&h, data, sizeof(h));
  if (h.gen != cfg_.gen) {  // left by an earlier capture
    ++other_gen_;
    return 0;
  }
  if (h.cap_len > size - sizeof(h)) {
    ++bad_;
    return 0;
  }
  if ((o_.count && written_ >= o_.count) || !write_error_.ok()) return 0;
  const uint64_t wall_ns = h.ts_ns + wall_offset_ns_;
  const timespec wall{static_cast<time_t>(wall_ns / 1000000000ull),
                      static_cast<long>(wall_ns % 1000000000ull)};
  const auto* bytes = static_cast<const uint8_t*>(data) + sizeof(h);
  write_error_ = writer_->Write(h, bytes, wall);
  if (!write_error_.ok()) {
    g_stop = true;
    return 0;
  }
  ++written_;
  ++by_verdict_[VerdictName(h.verdict)];
  if (o_.verbose) {
    std::cerr << absl::StrFormat("%d.%09d if %u %s len %u cap %u\n", wall.tv_sec, wall.tv_nsec,
                                 h.ifindex, CapturePrefix(h), h.pkt_len, h.cap_len);
  }
  if (o_.count && written_ >= o_.count) g_stop = true;
  return 0;
}

void Session::Disable() {
  if (!owned_) return;
  owned_ = false;
  absl::StatusOr<xvr_capture_cfg> cur = ReadCfg();
  if (!cur.ok() || cur->gen != cfg_.gen) return;  // taken over: not ours to end
  xvr_capture_cfg off = *cur;
  off.enabled = 0;
  if (absl::Status s = WriteCfg(off); !s.ok()) {
    std::cerr << "xvrctl capture: cannot disable the capture: " << s.message() << "\n";
  }
}

void Session::Summary(const xvr_capture_stats& st0, const xvr_capture_stats& st1) const {
  std::string verdicts;
  for (const auto& [v, n] : by_verdict_) absl::StrAppend(&verdicts, verdicts.empty() ? "" : ", ", v, " ", n);
  std::cerr << absl::StrFormat("%d packets captured (%s), %d written to %s\n", st1.captured - st0.captured,
                               verdicts.empty() ? "none written" : verdicts, written_,
                               o_.write == "-" ? "stdout" : o_.write);
  std::cerr << absl::StrFormat(
      "%d lost (ring buffer " XVR_MAP_CAPTURE " full: reader too slow; narrow the filter or lower -s)\n",
      st1.lost - st0.lost);
  if (other_gen_ || bad_) {
    std::cerr << absl::StrFormat("%d records of an earlier capture skipped, %d malformed\n", other_gen_, bad_);
  }
}

absl::Status Session::Run() {
  uint32_t ip_be = 0;
  if (!o_.pod.empty()) {
    ASSIGN_OR_RETURN(Ipv4Addr ip, PodIp(o_.socket, o_.pod));
    ip_be = ip.be();
  } else if (!o_.ip.empty()) {
    ASSIGN_OR_RETURN(Ipv4Addr ip, Ipv4Addr::Parse(o_.ip));
    ip_be = ip.be();
  }
  ASSIGN_OR_RETURN(xvr_capture_cfg filter, CaptureFilter(o_, ip_be));
  RETURN_IF_ERROR(OpenMaps());
  ASSIGN_OR_RETURN(xvr_capture_cfg cur, ReadCfg());
  const uint64_t now = NowNs(CLOCK_MONOTONIC);
  if (cur.enabled && now < cur.heartbeat_ns + XVR_CAP_STALE_NS && !o_.force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a capture is already running (xvrctl pid ", cur.owner_pid,
        " in its pid namespace, refreshed ", (now - cur.heartbeat_ns) / 1000000,
        " ms ago); one capture at a time: stop it, or take it over with --force"));
  }
  // VXLAN port for the inner-address filter: the node's, else the IANA one.
  filter.vxlan_port = htons(4789);
  if (UniqueFd node(bpf_obj_get((o_.bpf_root + "/maps/" XVR_MAP_NODE).c_str())); node.valid()) {
    xvr_node_cfg n{};
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(node.get(), &zero, &n) == 0 && n.vxlan_port != 0) {
      filter.vxlan_port = n.vxlan_port;
    }
  }
  ASSIGN_OR_RETURN(writer_, CaptureWriter::Open(o_.write, o_.linktype));

  std::random_device rd;
  uint32_t gen = 0;
  while (gen == 0 || gen == cur.gen) gen = rd();
  cfg_ = filter;
  cfg_.gen = gen;
  cfg_.owner_pid = static_cast<uint32_t>(getpid());
  cfg_.enabled = 1;
  wall_offset_ns_ = NowNs(CLOCK_REALTIME) - NowNs(CLOCK_MONOTONIC);

  using RingPtr = std::unique_ptr<ring_buffer, void (*)(ring_buffer*)>;
  RingPtr rb(ring_buffer__new(
                 ring_fd_.get(),
                 [](void* ctx, void* data, size_t size) {
                   return static_cast<Session*>(ctx)->OnRecord(data, size);
                 },
                 this, nullptr),
             &ring_buffer__free);
  if (!rb) return ErrnoStatus(errno, "ring_buffer__new(" XVR_MAP_CAPTURE ")");
  (void)ring_buffer__consume(rb.get());  // an earlier capture's leftovers (other gen)

  ASSIGN_OR_RETURN(const xvr_capture_stats st0, ReadStats());
  cfg_.heartbeat_ns = NowNs(CLOCK_MONOTONIC);
  RETURN_IF_ERROR(WriteCfg(cfg_));
  owned_ = true;
  std::cerr << absl::StrFormat(
      "xvrctl capture: %s, hooks %s, verdicts %s%s, ip %s, snaplen %d -> %s (%s)%s\n",
      o_.bpf_root, MaskNames(cfg_.hook_mask, XVR_HOOK_MAX, HookName),
      MaskNames(cfg_.verdict_mask, XVR_VERDICT_MAX, VerdictName),
      (cfg_.flags & XVR_CAP_F_REASON) ? absl::StrCat(", reason ", ReasonName(cfg_.reason)) : "",
      ip_be ? Ipv4Addr::FromBe(ip_be).ToString() : "any", cfg_.snaplen,
      o_.write == "-" ? "stdout" : o_.write, o_.linktype == CaptureLinkType::kNflog ? "NFLOG" : "Ethernet",
      o_.count ? absl::StrCat(", stop after ", o_.count) : "");

  absl::Status status;
  uint64_t last_beat = cfg_.heartbeat_ns;
  while (!g_stop) {
    const int n = ring_buffer__poll(rb.get(), 200);
    if (n < 0 && n != -EINTR) {
      status = ErrnoStatus(-n, "ring_buffer__poll(" XVR_MAP_CAPTURE ")");
      break;
    }
    if (absl::Status s = writer_->Flush(); !s.ok() && write_error_.ok()) write_error_ = s;
    if (!write_error_.ok()) break;
    const uint64_t t = NowNs(CLOCK_MONOTONIC);
    if (t - last_beat >= 1000000000ull) {
      absl::StatusOr<xvr_capture_cfg> c = ReadCfg();
      if (c.ok() && c->gen != cfg_.gen) {
        owned_ = false;
        status = absl::AbortedError(absl::StrCat("capture taken over by xvrctl pid ", c->owner_pid));
        break;
      }
      cfg_.heartbeat_ns = t;
      if (absl::Status s = WriteCfg(cfg_); !s.ok()) {
        status = s;
        break;
      }
      last_beat = t;
    }
  }
  Disable();
  // What was captured before the capture was disabled.
  if (write_error_.ok() && (!o_.count || written_ < o_.count)) (void)ring_buffer__consume(rb.get());
  if (absl::Status s = writer_->Flush(); !s.ok() && write_error_.ok()) write_error_ = s;
  if (absl::StatusOr<xvr_capture_stats> st1 = ReadStats(); st1.ok()) Summary(st0, *st1);
  writer_broken_pipe_ = writer_->broken_pipe();
  writer_.reset();
  if (!write_error_.ok()) {
    // A reader that goes away (wireshark closed, `| head`) ends the capture.
    if (writer_broken_pipe_) return status;
    return write_error_;
  }
  return status;
}

}  // namespace

absl::StatusOr<xvr_capture_cfg> CaptureFilter(const CaptureOptions& o, uint32_t ip_be) {
  xvr_capture_cfg c{};
  ASSIGN_OR_RETURN(c.hook_mask, NamesToMask(o.hooks, XVR_HOOK_MAX, HookName, "hook"));
  ASSIGN_OR_RETURN(c.verdict_mask, NamesToMask(o.verdicts, XVR_VERDICT_MAX, VerdictName, "verdict"));
  if (!o.reason.empty()) {
    size_t n = 0;
    const uint32_t* all = AllReasons(&n);
    bool found = false;
    uint32_t num = 0;
    for (size_t i = 0; i < n && !found; ++i) {
      if (o.reason == ReasonName(all[i])) {
        c.reason = all[i];
        found = true;
      }
    }
    if (!found && absl::SimpleAtoi(o.reason, &num) && num < XVR_REASON_MAX) {
      c.reason = num;
      found = true;
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown reason '", o.reason, "' (a name from `xvrctl stats`, e.g. policy_denied_ingress)"));
    }
    c.flags |= XVR_CAP_F_REASON;
  }
  if (o.snaplen == 0 || o.snaplen > XVR_CAP_SNAP_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("snaplen ", o.snaplen, " out of range 1..", XVR_CAP_SNAP_MAX));
  }
  c.snaplen = o.snaplen;
  c.ip = ip_be;
  return c;
}

int RunCapture(const CaptureOptions& o) {
  g_stop = false;
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error: stop, disable, summary
  Session s(o);
  if (absl::Status st = s.Run(); !st.ok()) {
    std::cerr << "xvrctl capture: " << st.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace xvr

#include "agent/routing/rtnl_mirror.h"

#include <netlink/msg.h>
#include <netlink/route/rtnl.h>
#include <netlink/utils.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/netlink/netns.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

// Notifications are a few hundred bytes and dump batches at most 32 KiB
// (the kernel's cap), so one read of this size always holds a whole
// datagram; a fixed buffer also saves libnl's peek-then-read.
constexpr size_t kMsgBufBytes = 64 << 10;
// Bound on one ReadEvents() pass, so Stop() and due resyncs are not starved.
constexpr int kMaxReadsPerPass = 4096;
// Bound on discarding before a resync (the dump follows regardless).
constexpr int kMaxDiscard = 1 << 22;

}  // namespace

RtnlMirror::RtnlMirror(std::string name, Handler* handler, std::vector<int> groups, int dump_type,
                       int dump_family, RtnlMirrorOptions opts)
    : name_(std::move(name)),
      handler_(handler),
      groups_(std::move(groups)),
      dump_type_(dump_type),
      dump_family_(dump_family),
      opts_(std::move(opts)) {}

absl::Status RtnlMirror::Start() {
  if (thread_.joinable() || stop_) {
    return absl::FailedPreconditionError(absl::StrCat(name_, ": already started"));
  }
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return ErrnoStatus(errno, absl::StrCat(name_, ": eventfd"));
  // The promise lives in the thread, so it outlives set_value().
  std::promise<absl::Status> started;
  std::future<absl::Status> result = started.get_future();
  thread_ = std::thread([this, p = std::move(started)]() mutable { Run(&p); });
  absl::Status st = result.get();
  if (!st.ok()) thread_.join();
  return st;
}

void RtnlMirror::Stop() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
}

void RtnlMirror::Wake() {
  if (!wake_.valid()) return;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

void RtnlMirror::RequestResync(absl::Duration delay) {
  {
    absl::MutexLock l(&mu_);
    const absl::Time at = absl::Now() + delay;
    if (!resync_at_ || at < *resync_at_) resync_at_ = at;
  }
  Wake();
}

RtnlMirrorStats RtnlMirror::stats() const {
  RtnlMirrorStats s;
  s.events = events_n_.load();
  s.overruns = overruns_.load();
  s.resyncs = resyncs_.load();
  s.dumps_interrupted = dumps_interrupted_.load();
  s.resync_failures = resync_failures_.load();
  s.discarded = discarded_.load();
  return s;
}

void RtnlMirror::Run(std::promise<absl::Status>* started) {
  std::optional<NetnsGuard> netns;
  if (!opts_.netns_path.empty()) {
    absl::StatusOr<NetnsGuard> g = NetnsGuard::Enter(opts_.netns_path);
    if (!g.ok()) {
      started->set_value(g.status());
      return;
    }
    netns.emplace(std::move(*g));
  }
  absl::Status st = Open();
  if (st.ok()) st = Resync();
  const bool ok = st.ok();
  started->set_value(std::move(st));
  if (ok) Loop();
  events_.reset();
  dump_.reset();
}

absl::Status RtnlMirror::Open() {
  events_.reset(nl_socket_alloc());
  dump_.reset(nl_socket_alloc());
  if (!events_ || !dump_) return absl::ResourceExhaustedError("nl_socket_alloc");

  nl_socket_disable_seq_check(events_.get());
  nl_socket_modify_cb(events_.get(), NL_CB_VALID, NL_CB_CUSTOM, &RtnlMirror::OnEventMsg, this);
  RETURN_IF_ERROR(
      NlStatus(nl_connect(events_.get(), NETLINK_ROUTE), absl::StrCat(name_, ": nl_connect")));
  for (int group : groups_) {
    RETURN_IF_ERROR(NlStatus(nl_socket_add_membership(events_.get(), group),
                             absl::StrCat(name_, ": subscribe to rtnetlink group ", group)));
  }
  RETURN_IF_ERROR(NlStatus(nl_socket_set_nonblocking(events_.get()),
                           absl::StrCat(name_, ": set non-blocking")));
  nl_socket_set_msg_buf_size(events_.get(), kMsgBufBytes);
  SetRcvbuf();

  nl_socket_modify_cb(dump_.get(), NL_CB_VALID, NL_CB_CUSTOM, &RtnlMirror::OnDumpMsg, this);
  RETURN_IF_ERROR(
      NlStatus(nl_connect(dump_.get(), NETLINK_ROUTE), absl::StrCat(name_, ": nl_connect (dump)")));
  nl_socket_set_msg_buf_size(dump_.get(), kMsgBufBytes);
  return absl::OkStatus();
}

void RtnlMirror::SetRcvbuf() {
  const int fd = nl_socket_get_fd(events_.get());
  const int want = opts_.rcvbuf_bytes;
  int err = nl_socket_set_buffer_size(events_.get(), want, 0);
  if (err < 0) spdlog::warn("{}: SO_RCVBUF {}: {}", name_, want, nl_geterror(err));
  int got = 0;
  socklen_t len = sizeof(got);
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  // The kernel reports twice what was set; below `want` means rmem_max
  // capped it.
  if (got < want) {
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) == 0) {
      ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    } else {
      spdlog::warn(
          "{}: receive buffer capped at {} bytes by net.core.rmem_max ({}); "
          "bursts may overrun it and cost a resync",
          name_, got, std::strerror(errno));
    }
  }
  spdlog::debug("{}: event socket receive buffer {} bytes", name_, got);
}

int RtnlMirror::OnEventMsg(nl_msg* msg, void* arg) {
  auto* self = static_cast<RtnlMirror*>(arg);
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  self->cur_type_ = hdr->nlmsg_type;
  self->cur_flags_ = hdr->nlmsg_flags;
  self->events_n_.fetch_add(1, std::memory_order_relaxed);
  nl_msg_parse(
      msg,
      [](nl_object* obj, void* a) {
        auto* me = static_cast<RtnlMirror*>(a);
        me->handler_->Event(obj, me->cur_type_, me->cur_flags_);
      },
      self);
  return NL_OK;
}

int RtnlMirror::OnDumpMsg(nl_msg* msg, void* arg) {
  nl_msg_parse(
      msg, [](nl_object* obj, void* a) { static_cast<RtnlMirror*>(a)->handler_->DumpObject(obj); },
      arg);
  return NL_OK;
}

void RtnlMirror::Loop() {
  pollfd fds[2] = {{nl_socket_get_fd(events_.get()), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  while (!stop_) {
    int timeout_ms = -1;
    {
      absl::MutexLock l(&mu_);
      if (resync_at_) {
        const double ms = absl::ToDoubleMilliseconds(*resync_at_ - absl::Now());
        timeout_ms = ms <= 0 ? 0 : static_cast<int>(std::ceil(ms));
      }
    }
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno != EINTR) {
        spdlog::error("{}: poll: {}", name_, std::strerror(errno));
        absl::SleepFor(absl::Milliseconds(10));
      }
      continue;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof(v));
    }
    if (stop_) break;
    if (n > 0 && (fds[0].revents & (POLLIN | POLLERR))) ReadEvents();

    bool due = false;
    {
      absl::MutexLock l(&mu_);
      if (resync_at_ && absl::Now() >= *resync_at_) {
        resync_at_.reset();
        due = true;
      }
    }
    if (due) {
      absl::Status st = Resync();
      if (!st.ok()) {
        resync_failures_.fetch_add(1);
        spdlog::warn("{}: resync failed, retrying in {}: {}", name_,
                     absl::FormatDuration(opts_.resync_retry), std::string(st.message()));
        RequestResync(opts_.resync_retry);
      }
    }
  }
}

void RtnlMirror::ReadEvents() {
  for (int i = 0; i < kMaxReadsPerPass && !stop_; ++i) {
    const int err = nl_recvmsgs_default(events_.get());
    if (err >= 0) continue;
    if (err == -NLE_AGAIN) return;
    if (err == -NLE_NOMEM || err == -NLE_MSG_OVERFLOW) {
      // ENOBUFS: the kernel dropped notifications for us.
      const uint64_t n = overruns_.fetch_add(1) + 1;
      const absl::Time now = absl::Now();
      if (now - last_overrun_log_ >= absl::Seconds(1)) {
        last_overrun_log_ = now;
        spdlog::warn("{}: netlink events lost (socket overrun, {} so far), resyncing", name_, n);
      }
      RequestResync();
      return;
    }
    spdlog::warn("{}: receiving events: {}", name_, nl_geterror(err));
    return;
  }
}

void RtnlMirror::Drain() {
  const int fd = nl_socket_get_fd(events_.get());
  for (int i = 0; i < kMaxDiscard; ++i) {
    const ssize_t n = ::recv(fd, nullptr, 0, MSG_DONTWAIT | MSG_TRUNC);
    if (n >= 0) {
      discarded_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (errno == EINTR || errno == ENOBUFS) continue;
    return;  // EAGAIN: empty
  }
}

absl::Status RtnlMirror::Resync() {
  for (int attempt = 1;; ++attempt) {
    Drain();
    handler_->DumpBegin();
    int err = nl_rtgen_request(dump_.get(), dump_type_, dump_family_, NLM_F_DUMP);
    if (err < 0) return NlStatus(err, absl::StrCat(name_, ": dump request"));
    err = nl_recvmsgs_default(dump_.get());
    if (err == -NLE_DUMP_INTR) {
      dumps_interrupted_.fetch_add(1);
      if (attempt < opts_.max_dump_attempts) continue;
      return absl::UnavailableError(
          absl::StrCat(name_, ": dump interrupted ", attempt, " times in a row"));
    }
    if (err < 0) return NlStatus(err, absl::StrCat(name_, ": dump"));
    handler_->DumpCommit();
    resyncs_.fetch_add(1);
    return absl::OkStatus();
  }
}

}  // namespace xvr

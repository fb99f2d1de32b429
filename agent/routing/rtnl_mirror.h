// The engine under RouteWatcher and NeighWatcher: keeps a consumer equal to
// one kernel table through rtnetlink, with libnl doing all message parsing.
//
// A thread (optionally moved into a network namespace first) owns two
// NETLINK_ROUTE sockets: one subscribed to multicast groups, one for dumps.
// Start() subscribes, then dumps the table and hands the result to the
// handler, then returns. From then on every notification is parsed
// (nl_msg_parse) and handed on in order.
//
// Lost events: when the kernel could not queue a notification (the socket
// overran: ENOBUFS, seen as NLE_NOMEM or NLE_MSG_OVERFLOW) the engine
// resyncs: it discards what is queued, dumps again (retrying a dump the
// kernel marks inconsistent, NLE_DUMP_INTR) and hands over the full
// result, which the consumer diffs against what it has. Discarding first
// keeps stale queued events from being applied after the fresher dump;
// events queued after the discard are applied on top, which is safe because
// each one carries the object's full state.
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/dataplane/unique_fd.h"
#include "agent/netlink/nl.h"

namespace xvr {

struct RtnlMirrorOptions {
  // Network namespace to watch ("/run/netns/x", "/proc/<pid>/ns/net");
  // empty = the netns of the thread calling Start(). The watcher thread
  // enters it before creating its sockets and stays there.
  std::string netns_path;
  // Receive buffer of the event socket. Set with SO_RCVBUF and, when
  // net.core.rmem_max caps that, SO_RCVBUFFORCE (needs CAP_NET_ADMIN).
  // Tests shrink it to provoke overruns.
  int rcvbuf_bytes = 32 << 20;
  // Delay before a resync that an event asked for (link down, address
  // removed, …): a burst of such events costs one dump.
  absl::Duration resync_debounce = absl::Milliseconds(20);
  // After a failed resync, when to try again.
  absl::Duration resync_retry = absl::Milliseconds(500);
  // Dumps the kernel marks interrupted (table changed meanwhile) are retried
  // this many times before the resync counts as failed (and is retried).
  int max_dump_attempts = 5;
};

struct RtnlMirrorStats {
  uint64_t events = 0;             // notifications received
  uint64_t overruns = 0;           // ENOBUFS seen on the event socket
  uint64_t resyncs = 0;            // completed dumps, the initial one included
  uint64_t dumps_interrupted = 0;  // NLE_DUMP_INTR, retried
  uint64_t resync_failures = 0;
  uint64_t discarded = 0;  // queued notifications dropped before a resync
};

class RtnlMirror {
 public:
  // Called on the mirror's thread only.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void DumpBegin() = 0;
    virtual void DumpObject(nl_object* obj) = 0;
    // The dump completed and was consistent.
    virtual void DumpCommit() = 0;
    // One notification. type is its nlmsg_type (RTM_NEWROUTE, …), flags
    // its nlmsg_flags (NLM_F_REPLACE, NLM_F_APPEND, …).
    virtual void Event(nl_object* obj, int type, int flags) = 0;
  };

  // groups: RTNLGRP_* to subscribe to; dump_type/dump_family: the dump
  // request (RTM_GETROUTE, AF_INET).
  RtnlMirror(std::string name, Handler* handler, std::vector<int> groups, int dump_type,
             int dump_family, RtnlMirrorOptions opts);
  ~RtnlMirror() { Stop(); }
  RtnlMirror(const RtnlMirror&) = delete;
  RtnlMirror& operator=(const RtnlMirror&) = delete;

  // Starts the thread; returns once the first dump has been handed over (or
  // with the reason it could not be). Not restartable after Stop().
  absl::Status Start();
  // Stops and joins the thread. Idempotent.
  void Stop();
  // Asks for a resync after `delay` (an earlier pending one is kept). Any
  // thread, the handler's callbacks included.
  void RequestResync(absl::Duration delay = absl::ZeroDuration());
  RtnlMirrorStats stats() const;

 private:
  void Run(std::promise<absl::Status>* started);
  absl::Status Open();
  void Loop();
  void ReadEvents();
  absl::Status Resync();
  void Drain();
  void SetRcvbuf();
  void Wake();
  static int OnEventMsg(nl_msg* msg, void* arg);
  static int OnDumpMsg(nl_msg* msg, void* arg);

  const std::string name_;
  Handler* const handler_;
  const std::vector<int> groups_;
  const int dump_type_;
  const int dump_family_;
  const RtnlMirrorOptions opts_;

  // Owned by the thread.
  NlSock events_;
  NlSock dump_;
  int cur_type_ = 0;
  int cur_flags_ = 0;
  absl::Time last_overrun_log_ = absl::InfinitePast();

  UniqueFd wake_;  // eventfd: Stop() and RequestResync() wake the thread
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::optional<absl::Time> resync_at_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> events_n_{0}, overruns_{0}, resyncs_{0}, dumps_interrupted_{0},
      resync_failures_{0}, discarded_{0};
};

}  // namespace xvr

#include "agent/netlink/link_watcher.h"

#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <poll.h>

#include "agent/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace xvr {

absl::Status LinkWatcher::Start() {
  sock_.reset(nl_socket_alloc());
  if (!sock_) return absl::ResourceExhaustedError("nl_socket_alloc");
  nl_socket_disable_seq_check(sock_.get());
  nl_socket_modify_cb(sock_.get(), NL_CB_VALID, NL_CB_CUSTOM, &LinkWatcher::OnMessage, this);
  RETURN_IF_ERROR(NlStatus(nl_connect(sock_.get(), NETLINK_ROUTE), "nl_connect"));
  RETURN_IF_ERROR(NlStatus(nl_socket_add_membership(sock_.get(), RTNLGRP_LINK),
                           "subscribe RTNLGRP_LINK"));
  nl_socket_set_nonblocking(sock_.get());
  nl_socket_set_buffer_size(sock_.get(), 4 << 20, 0);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LinkWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

int LinkWatcher::OnMessage(nl_msg* msg, void* arg) {
  auto* self = static_cast<LinkWatcher*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  self->events_.fetch_add(1, std::memory_order_relaxed);
  if (hdr->nlmsg_type != RTM_DELLINK) return NL_OK;
  self->deleted_.fetch_add(1, std::memory_order_relaxed);
  nl_msg_parse(
      msg,
      [](nl_object* obj, void* a) {
        auto* me = static_cast<LinkWatcher*>(a);
        auto* link = reinterpret_cast<rtnl_link*>(obj);
        const char* name = rtnl_link_get_name(link);
        const uint32_t ifindex = rtnl_link_get_ifindex(link);
        spdlog::debug("link {} ({}) deleted", name ? name : "?", ifindex);
        if (me->cb_.on_deleted) me->cb_.on_deleted(ifindex, name ? name : "");
      },
      self);
  return NL_OK;
}

void LinkWatcher::Run() {
  pollfd pfd{nl_socket_get_fd(sock_.get()), POLLIN, 0};
  while (!stop_) {
    if (::poll(&pfd, 1, 200) <= 0) continue;
    int err = nl_recvmsgs_default(sock_.get());
    if (err == -NLE_NOMEM || err == -NLE_MSG_OVERFLOW) {
      // ENOBUFS: the kernel dropped events for us. Re-check everything.
      overruns_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("link events lost ({}), resyncing", nl_geterror(err));
      if (cb_.on_resync) cb_.on_resync();
    } else if (err < 0 && err != -NLE_AGAIN) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("link watcher: {}", nl_geterror(err));
    }
  }
}

}  // namespace xvr

#include "agent/dataplane/attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"
#include "spdlog/spdlog.h"

namespace xvr {
namespace {

constexpr uint32_t kTcHandle = 1;
constexpr uint32_t kTcPriority = 1;

uint32_t ProgId(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return 0;
  return info.id;
}

std::string LinkPin(const std::string& links_dir, const std::string& ifname) {
  return absl::StrCat(links_dir, "/xdp_", ifname);
}

}  // namespace

uint32_t PinnedXdpProgId(const std::string& ifname, const std::string& links_dir) {
  UniqueFd fd(bpf_obj_get(LinkPin(links_dir, ifname).c_str()));
  if (!fd.valid()) return 0;
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return 0;
  return info.prog_id;
}

absl::Status AttachXdp(int prog_fd, uint32_t ifindex, const std::string& ifname, XdpMode mode,
                       const std::string& links_dir) {
  const std::string pin = LinkPin(links_dir, ifname);
  if (UniqueFd fd(bpf_obj_get(pin.c_str())); fd.valid()) {
    bpf_link_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 && info.xdp.ifindex == ifindex) {
      if (info.prog_id == ProgId(prog_fd)) return absl::OkStatus();
      // Same interface, other program: swap atomically, no packet sees a gap.
      if (bpf_link_update(fd.get(), prog_fd, nullptr) != 0) {
        return ErrnoStatus(errno, absl::StrCat("bpf_link_update on ", ifname));
      }
      spdlog::info("moved XDP link on {} to program {}", ifname, ProgId(prog_fd));
      return absl::OkStatus();
    }
    ::unlink(pin.c_str());  // the interface behind this pin is gone
  }
  LIBBPF_OPTS(bpf_link_create_opts, opts,
              .flags = mode == XdpMode::kGeneric ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
  int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
  if (fd < 0) {
    return ErrnoStatus(errno, absl::StrCat("attach XDP (",
                                           mode == XdpMode::kGeneric ? "generic" : "native",
                                           ") to ", ifname));
  }
  UniqueFd link(fd);
  if (bpf_obj_pin(link.get(), pin.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("pin ", pin));
  }
  return absl::OkStatus();
}

absl::Status DetachXdp(const std::string& ifname, const std::string& links_dir) {
  const std::string pin = LinkPin(links_dir, ifname);
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd.valid()) return absl::OkStatus();
  // Detach explicitly: other holders of the link (none expected) must not
  // keep the program on the interface.
  bpf_link_detach(fd.get());
  ::unlink(pin.c_str());
  return absl::OkStatus();
}

absl::Status AttachTc(int prog_fd, uint32_t ifindex, TcDir dir) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = dir == TcDir::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err != 0 && err != -EEXIST) return ErrnoStatus(err, "create clsact qdisc");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE,
              .handle = kTcHandle, .priority = kTcPriority);
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("attach TC program to ifindex ", ifindex));
  return absl::OkStatus();
}

absl::Status DetachTc(uint32_t ifindex, TcDir dir) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = dir == TcDir::kIngress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  int err = bpf_tc_detach(&hook, &opts);
  if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
    return ErrnoStatus(err, absl::StrCat("detach TC program from ifindex ", ifindex));
  }
  return absl::OkStatus();
}

}  // namespace xvr

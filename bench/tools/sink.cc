// xvr-bench-sink: the receiving end of the pps benchmark. Puts a counting,
// dropping program (bench_sink.bpf.c) on a device and pins its counter
// where xvr-bench-gen reads it.
//
//   attach --hook xdp|tc --dev IF --pin DIR   (run in IF's namespace)
//   read --pin DIR
//   detach --hook xdp|tc --dev IF --pin DIR   (tc: run in IF's namespace)
//
// XDP: when the device already carries an XDP program through a bpf_link
// (xvr's xdp_pod_peer on a pod's eth0), the link's program is swapped for
// the sink with bpf_link_update and swapped back on detach; the old
// program is held by a pin meanwhile. Otherwise a new link is created and
// pinned. TC: a filter on the clsact ingress hook with its own handle.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "bench/tools/bench_util.h"
#include "xvr/skel/bench_sink.skel.h"

namespace xvr::bench {
namespace {

std::string PinPath(const std::string& dir, const char* name) { return dir + "/" + name; }

absl::Status Pin(int fd, const std::string& path) {
  if (bpf_obj_pin(fd, path.c_str()) != 0) return ErrnoStatus(errno, absl::StrCat("pin ", path));
  return absl::OkStatus();
}

// The XDP link that holds prog_id on ifindex, if any.
absl::StatusOr<UniqueFd> FindXdpLink(uint32_t ifindex, uint32_t prog_id) {
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    UniqueFd fd(bpf_link_get_fd_by_id(id));
    if (!fd.valid()) continue;  // went away meanwhile
    bpf_link_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
    if (info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == ifindex && info.prog_id == prog_id) {
      return fd;
    }
  }
  return absl::NotFoundError("no bpf_link holds the device's XDP program");
}

// Not xvr's (handle 1, priority 1 on host veths): the sink can sit beside it.
constexpr uint32_t kTcHandle = 0xb5;
constexpr uint32_t kTcPriority = 0xb5;

absl::Status AttachTc(int prog, uint32_t ifindex, const std::string& dev) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    return ErrnoStatus(err, absl::StrCat("clsact on ", dev));
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog, .flags = BPF_TC_F_REPLACE,
              .handle = kTcHandle, .priority = kTcPriority);
  if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
    return ErrnoStatus(err, absl::StrCat("attach TC sink to ", dev));
  }
  std::cout << "sink attached to " << dev << " (tc ingress)\n";
  return absl::OkStatus();
}

absl::Status DetachTc(const std::string& dev) {
  ASSIGN_OR_RETURN(uint32_t ifindex, IfIndex(dev));
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
  if (int err = bpf_tc_detach(&hook, &opts); err != 0 && err != -ENOENT) {
    return ErrnoStatus(err, absl::StrCat("detach TC sink from ", dev));
  }
  return absl::OkStatus();
}

absl::Status Attach(const std::string& hook, const std::string& dev, const std::string& dir) {
  ASSIGN_OR_RETURN(uint32_t ifindex, IfIndex(dev));
  std::filesystem::create_directories(dir);
  ASSIGN_OR_RETURN(SkelPtr<xvr_bench_sink> skel, OpenSkel<xvr_bench_sink>("bench_sink"));
  RETURN_IF_ERROR(LoadSkel(skel.get(), "bench_sink"));
  RETURN_IF_ERROR(Pin(bpf_map__fd(skel->maps.sink_count), PinPath(dir, "sink_count")));
  if (hook == "tc") return AttachTc(bpf_program__fd(skel->progs.bench_sink_tc), ifindex, dev);
  const int prog = bpf_program__fd(skel->progs.bench_sink);

  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (int err = bpf_xdp_query(static_cast<int>(ifindex), 0, &q); err != 0) {
    return ErrnoStatus(err, absl::StrCat("bpf_xdp_query ", dev));
  }
  if (q.prog_id == 0) {
    LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
    UniqueFd link(bpf_link_create(prog, ifindex, BPF_XDP, &lo));
    if (!link.valid()) return ErrnoStatus(errno, absl::StrCat("attach sink to ", dev));
    RETURN_IF_ERROR(Pin(link.get(), PinPath(dir, "sink_link")));
    std::cout << "sink attached to " << dev << " (new link)\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(UniqueFd link, FindXdpLink(ifindex, q.prog_id));
  UniqueFd old(bpf_prog_get_fd_by_id(q.prog_id));
  if (!old.valid()) return ErrnoStatus(errno, "bpf_prog_get_fd_by_id");
  RETURN_IF_ERROR(Pin(old.get(), PinPath(dir, "old_prog")));
  RETURN_IF_ERROR(Pin(link.get(), PinPath(dir, "swapped_link")));
  LIBBPF_OPTS(bpf_link_update_opts, uo, .flags = BPF_F_REPLACE,
              .old_prog_fd = static_cast<__u32>(old.get()));
  if (bpf_link_update(link.get(), prog, &uo) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_link_update on ", dev));
  }
  std::cout << "sink attached to " << dev << " (swapped for program " << q.prog_id << ")\n";
  return absl::OkStatus();
}

absl::Status Read(const std::string& dir) {
  UniqueFd fd(bpf_obj_get(PinPath(dir, "sink_count").c_str()));
  if (!fd.valid()) return ErrnoStatus(errno, "open sink counter");
  ASSIGN_OR_RETURN(uint64_t n, SumPerCpuU64(fd.get(), 0));
  std::cout << n << "\n";
  return absl::OkStatus();
}

absl::Status Detach(const std::string& hook, const std::string& dev, const std::string& dir) {
  if (hook == "tc") RETURN_IF_ERROR(DetachTc(dev));
  const std::string swapped = PinPath(dir, "swapped_link");
  if (UniqueFd link(bpf_obj_get(swapped.c_str())); link.valid()) {
    UniqueFd old(bpf_obj_get(PinPath(dir, "old_prog").c_str()));
    if (!old.valid()) return ErrnoStatus(errno, "open the saved program");
    // Without BPF_F_REPLACE: whatever is on the link now, the original goes back.
    if (bpf_link_update(link.get(), old.get(), nullptr) != 0 && errno != ENOLINK) {
      return ErrnoStatus(errno, "restore the link's program");
    }
  }
  for (const char* name : {"swapped_link", "old_prog", "sink_link", "sink_count"}) {
    ::unlink(PinPath(dir, name).c_str());  // removing sink_link detaches it
  }
  ::rmdir(dir.c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace xvr::bench

int main(int argc, char** argv) {
  CLI::App app{"count-and-drop XDP receiver for the pps benchmark"};
  std::string dev, dir, hook = "xdp";
  auto* attach = app.add_subcommand("attach", "put the sink on a device");
  attach->add_option("--dev", dev, "device (in the current namespace)")->required();
  attach->add_option("--pin", dir, "bpffs directory for the counter and links")->required();
  attach->add_option("--hook", hook, "xdp or tc (ingress)")->check(CLI::IsMember({"xdp", "tc"}));
  auto* read = app.add_subcommand("read", "print the number of frames received");
  read->add_option("--pin", dir, "bpffs directory")->required();
  auto* detach = app.add_subcommand("detach", "remove the sink, restore a swapped program");
  detach->add_option("--pin", dir, "bpffs directory")->required();
  detach->add_option("--hook", hook, "xdp or tc (ingress)")->check(CLI::IsMember({"xdp", "tc"}));
  detach->add_option("--dev", dev, "device (tc: required, in the current namespace)");
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  absl::Status s = attach->parsed() ? xvr::bench::Attach(hook, dev, dir)
                   : read->parsed() ? xvr::bench::Read(dir)
                                    : xvr::bench::Detach(hook, dev, dir);
  if (!s.ok()) {
    std::cerr << "xvr-bench-sink: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

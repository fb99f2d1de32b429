#include "agent/dataplane/programs.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/bpffs.h"
#include "agent/state/atomic_file.h"
#include "spdlog/spdlog.h"
#include "xvr/abi.h"
#include "xvr/skel/tc_host_egress.skel.h"
#include "xvr/skel/tc_pod.skel.h"
#include "xvr/skel/xdp_pod.skel.h"
#include "xvr/skel/xdp_pod_peer.skel.h"
#include "xvr/skel/xdp_fabric.skel.h"

namespace xvr {
namespace {

uint64_t Fnv1a(const void* data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

template <typename Skel>
std::string PinName(const char* name) {
  size_t sz = 0;
  const void* bytes = Skel::elf_bytes(&sz);
  return absl::StrFormat("%s-%016x", name, Fnv1a(bytes, sz));
}

// One template for every skeleton (bpftool's C++ static methods).
template <typename Skel>
absl::StatusOr<UniqueFd> LoadSkeleton(const std::string& maps_dir, const char* name,
                                      uint32_t flow_table_size) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = maps_dir.c_str());
  std::unique_ptr<Skel, void (*)(Skel*)> skel(Skel::open(&opts), &Skel::destroy);
  if (!skel) return ErrnoStatus(errno, absl::StrCat("open BPF object ", name));
  // spec.flows.tableSize; every object must ask for the same size or
  // libbpf refuses to re-use the map the first one pinned.
  if (bpf_map* flows = bpf_object__find_map_by_name(skel->obj, XVR_MAP_FLOWS);
      flows && flow_table_size != 0) {
    if (int err = bpf_map__set_max_entries(flows, flow_table_size); err != 0) {
      return ErrnoStatus(err, absl::StrCat("bpf_map__set_max_entries(" XVR_MAP_FLOWS ", ",
                                           flow_table_size, ") in ", name));
    }
  }
  // The kernel adds BPF_F_RDONLY_PROG to every devmap it creates, so
  // libbpf 1.1's pinned-map compatibility check never matches a pinned
  // devmap. Hand it the pinned map ourselves (the agent checks key and
  // value sizes when it opens the pins).
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel->obj) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_DEVMAP_HASH) continue;
    const std::string pin = absl::StrCat(maps_dir, "/", bpf_map__name(map));
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (fd.valid() && bpf_map__reuse_fd(map, fd.get()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("re-use pinned map ", pin));
    }
  }
  if (int err = Skel::load(skel.get()); err != 0) {
    return ErrnoStatus(err, absl::StrCat("load BPF object ", name,
                                         " (a pinned map from an incompatible build? remove ",
                                         maps_dir, ")"));
  }
  bpf_program* prog = bpf_object__next_program(skel->obj, nullptr);
  if (!prog) return absl::InternalError(absl::StrCat("no program in BPF object ", name));
  // dup: the program must outlive the skeleton, which owns the original fd.
  int fd = ::dup(bpf_program__fd(prog));
  if (fd < 0) return ErrnoStatus(errno, "dup program fd");
  return UniqueFd(fd);
}

template <typename Skel>
absl::StatusOr<UniqueFd> LoadOrReuse(const std::string& root, const char* name,
                                     uint32_t flow_table_size, bool* reused) {
  const std::string progs_dir = root + "/progs";
  const std::string pin = progs_dir + "/" + PinName<Skel>(name);
  if (int fd = bpf_obj_get(pin.c_str()); fd >= 0) {
    spdlog::info("re-using pinned program {}", pin);
    return UniqueFd(fd);
  }
  *reused = false;
  ASSIGN_OR_RETURN(UniqueFd fd, LoadSkeleton<Skel>(root + "/maps", name, flow_table_size));
  if (bpf_obj_pin(fd.get(), pin.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("pin ", pin));
  }
  spdlog::info("loaded and pinned program {}", pin);
  // Older builds' pins go; their attachments are moved by the caller.
  const std::string prefix = absl::StrCat(name, "-");
  for (const auto& e : std::filesystem::directory_iterator(progs_dir)) {
    const std::string f = e.path().filename().string();
    if (absl::StartsWith(f, prefix) && e.path().string() != pin) {
      std::filesystem::remove(e.path());
    }
  }
  return fd;
}

// Unpins a pinned xvr_flows whose max_entries is not `want` (0: keep any).
// Returns true when the pinned programs must be loaded again: they hold the
// old map, or (pin missing) a map nobody can read.
absl::StatusOr<bool> UnpinResizedFlowTable(const std::string& maps_dir, uint32_t want) {
  if (want == 0) return false;
  const std::string pin = maps_dir + "/" XVR_MAP_FLOWS;
  UniqueFd fd(bpf_obj_get(pin.c_str()));
  if (!fd.valid()) {
    if (errno == ENOENT) return true;
    return ErrnoStatus(errno, absl::StrCat("bpf_obj_get(", pin, ")"));
  }
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bpf_obj_get_info_by_fd(", pin, ")"));
  }
  if (info.max_entries == want) return false;
  spdlog::warn(
      "flow table {} has {} entries, spec.flows.tableSize asks for {}: unpinning it and "
      "reloading the programs; existing flows are forgotten (connections continue, their "
      "next packets create new flows)",
      pin, info.max_entries, want);
  if (::unlink(pin.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unpin ", pin));
  }
  return true;
}

}  // namespace

absl::StatusOr<ProgramSet> LoadOrReusePrograms(const std::string& bpf_root,
                                               uint32_t flow_table_size) {
  RETURN_IF_ERROR(EnsureBpffs(bpf_root));
  RETURN_IF_ERROR(MakeDirs(bpf_root + "/maps", 0700));
  RETURN_IF_ERROR(MakeDirs(bpf_root + "/progs", 0700));
  RETURN_IF_ERROR(MakeDirs(bpf_root + "/links", 0700));
  // Programs hold references to the maps they were loaded with: if the map
  // pins are gone (or the flow table is resized), pinned programs would
  // write into maps nobody can read.
  ASSIGN_OR_RETURN(const bool reload_flows,
                   UnpinResizedFlowTable(bpf_root + "/maps", flow_table_size));
  if (reload_flows || !std::filesystem::exists(bpf_root + "/maps/" XVR_MAP_NODE)) {
    for (const auto& e : std::filesystem::directory_iterator(bpf_root + "/progs")) {
      std::filesystem::remove(e.path());
    }
  }
  ProgramSet set;
  set.reused = true;
  const uint32_t n = flow_table_size;
  ASSIGN_OR_RETURN(set.xdp_pod, LoadOrReuse<xvr_xdp_pod>(bpf_root, "xdp_pod", n, &set.reused));
  ASSIGN_OR_RETURN(set.tc_pod, LoadOrReuse<xvr_tc_pod>(bpf_root, "tc_pod", n, &set.reused));
  ASSIGN_OR_RETURN(set.tc_host_egress, LoadOrReuse<xvr_tc_host_egress>(bpf_root, "tc_host_egress",
                                                                       n, &set.reused));
  ASSIGN_OR_RETURN(set.xdp_pod_peer,
                   LoadOrReuse<xvr_xdp_pod_peer>(bpf_root, "xdp_pod_peer", n, &set.reused));
  ASSIGN_OR_RETURN(set.xdp_fabric,
                   LoadOrReuse<xvr_xdp_fabric>(bpf_root, "xdp_fabric", n, &set.reused));
  return set;
}

}  // namespace xvr

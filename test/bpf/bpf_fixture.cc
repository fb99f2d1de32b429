#include "test/bpf/bpf_fixture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "xvr/skel/tc_host_egress.skel.h"
#include "xvr/skel/tc_pod.skel.h"
#include "xvr/skel/xdp_fabric.skel.h"
#include "xvr/skel/xdp_pod.skel.h"

namespace xvr::test {
namespace {

constexpr const char* kBpffs = "/sys/fs/bpf";
std::atomic<int> g_fixture_seq{0};

bool OnBpffs(const char* path) {
  struct statfs st {};
  return ::statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Removes every pin in dir and dir itself; quiet if it is already gone.
void RemovePinDir(const std::string& dir) {
  if (dir.empty()) return;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      const std::string path = dir + "/" + e->d_name;
      if (::unlink(path.c_str()) != 0)
        ADD_FAILURE() << "unlink " << path << ": " << std::strerror(errno);
    }
    ::closedir(d);
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT)
    ADD_FAILURE() << "rmdir " << dir << ": " << std::strerror(errno);
}

struct Loaded {
  bpf_object* obj = nullptr;
  int prog_fd = -1;
  std::function<void()> destroy;
  std::string error;
};

// Every skeleton has the same C++ static methods (bpftool gen skeleton
// under __cplusplus) and exactly one program.
template <class Skel>
Loaded LoadSkeleton(const std::string& pin_root) {
  Loaded l;
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_root.c_str();
  Skel* s = Skel::open(&opts);
  if (!s) {
    l.error = std::string("open skeleton: ") + std::strerror(errno);
    return l;
  }
  l.destroy = [s] { Skel::destroy(s); };
  if (const int err = Skel::load(s); err != 0) {
    l.error = std::string("load skeleton: ") + std::strerror(-err);
    return l;
  }
  l.obj = s->obj;
  bpf_program* prog = bpf_object__next_program(s->obj, nullptr);
  l.prog_fd = prog ? bpf_program__fd(prog) : -1;
  if (l.prog_fd < 0) l.error = "skeleton has no loaded program";
  return l;
}

}  // namespace

const char* ProgramName(Program p) {
  switch (p) {
    case Program::kXdpPod: return "xdp_pod";
    case Program::kTcPod: return "tc_pod";
    case Program::kTcHostEgress: return "tc_host_egress";
    case Program::kXdpFabric: return "xdp_fabric";
  }
  return "?";
}

uint32_t HookOf(Program p) {
  switch (p) {
    case Program::kXdpPod: return XVR_HOOK_XDP_POD;
    case Program::kTcPod: return XVR_HOOK_TC_POD;
    case Program::kTcHostEgress: return XVR_HOOK_TC_HOST_EGRESS;
    case Program::kXdpFabric: return XVR_HOOK_XDP_FABRIC;
  }
  return XVR_HOOK_MAX;
}

bool IsXdp(Program p) { return p == Program::kXdpPod || p == Program::kXdpFabric; }

uint32_t ActionFor(Program p, uint32_t verdict) {
  if (IsXdp(p)) {
    switch (verdict) {
      case XVR_VERDICT_PASS: return XDP_PASS;
      case XVR_VERDICT_DROP: return XDP_DROP;
      case XVR_VERDICT_TX: return XDP_TX;
      case XVR_VERDICT_REDIRECT: return XDP_REDIRECT;
    }
  } else {
    switch (verdict) {
      case XVR_VERDICT_PASS: return TC_ACT_OK;
      case XVR_VERDICT_DROP: return TC_ACT_SHOT;
      case XVR_VERDICT_TX: return TC_ACT_REDIRECT;  // bpf_redirect to the ingress device
      case XVR_VERDICT_REDIRECT: return TC_ACT_REDIRECT;
    }
  }
  return ~0u;
}

std::string ActionName(Program p, uint32_t action) {
  static const char* const kXdp[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
                                     "XDP_REDIRECT"};
  if (IsXdp(p)) {
    if (action < 5) return kXdp[action];
  } else {
    switch (action) {
      case TC_ACT_OK: return "TC_ACT_OK";
      case TC_ACT_SHOT: return "TC_ACT_SHOT";
      case TC_ACT_REDIRECT: return "TC_ACT_REDIRECT";
      case static_cast<uint32_t>(TC_ACT_UNSPEC): return "TC_ACT_UNSPEC";
    }
  }
  return "action " + std::to_string(static_cast<int32_t>(action));
}

const char* VerdictName(uint32_t verdict) {
  switch (verdict) {
#define XVR_T_VERDICT_NAME(name, val, str) \
  case val: return str;
    XVR_VERDICTS(XVR_T_VERDICT_NAME)
#undef XVR_T_VERDICT_NAME
  }
  return "?";
}

const char* ReasonName(uint32_t reason) {
  switch (reason) {
#define XVR_T_REASON_NAME(name, val, str, help) \
  case val: return str;
    XVR_REASONS(XVR_T_REASON_NAME)
#undef XVR_T_REASON_NAME
  }
  return "?";
}

std::string CounterName(uint32_t index) {
  static const char* const kHooks[] = {
#define XVR_T_HOOK_NAME(name, val, str) str,
      XVR_HOOKS(XVR_T_HOOK_NAME)
#undef XVR_T_HOOK_NAME
  };
  const uint32_t reason = index % XVR_REASON_MAX;
  const uint32_t verdict = (index / XVR_REASON_MAX) % XVR_VERDICT_MAX;
  const uint32_t hook = index / (uint32_t{XVR_REASON_MAX} * uint32_t{XVR_VERDICT_MAX});
  return std::string(hook < XVR_HOOK_MAX ? kHooks[hook] : "?") + "/" + VerdictName(verdict) + "/" +
         ReasonName(reason);
}

void BpfProgramTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "BPF program tests need root (BPF_PROG_RUN, netns, bpffs)";

  const int seq = g_fixture_seq.fetch_add(1);
  seq_ = seq;

  // One CPU for the whole test: per-CPU state stays in one slot.
  if (::sched_getaffinity(0, sizeof(orig_affinity_), &orig_affinity_) == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    const int cpu = ::sched_getcpu();
    CPU_SET(cpu >= 0 ? cpu : 0, &one);
    pinned_cpu_ = ::sched_setaffinity(0, sizeof(one), &one) == 0;
  }

  if (!OnBpffs(kBpffs)) {
    ::mkdir(kBpffs, 0700);
    ASSERT_EQ(::mount("bpf", kBpffs, "bpf", 0, "mode=0700"), 0)
        << "mount bpffs on " << kBpffs << ": " << std::strerror(errno);
  }
  char dir[128];
  std::snprintf(dir, sizeof(dir), "%s/xvr-test-%d-%d", kBpffs, static_cast<int>(::getpid()), seq);
  ASSERT_EQ(::mkdir(dir, 0700), 0) << "mkdir " << dir << ": " << std::strerror(errno);
  pin_dir_ = dir;

  absl::Status st = netns_.Enter();
  ASSERT_TRUE(st.ok()) << st.ToString();

  VethPair a, b, c;
  ASSERT_NO_FATAL_FAILURE(MakeVeth("a", &a));
  ASSERT_NO_FATAL_FAILURE(MakeVeth("b", &b));
  ASSERT_NO_FATAL_FAILURE(MakeVeth("c", &c));
  ASSERT_NO_FATAL_FAILURE(MakeVeth("h", &host_loop_));
  pod_a_ = {kPodA, a.ifindex, a.peer_ifindex};
  pod_b_ = {kPodB, b.ifindex, b.peer_ifindex};
  pod_c_ = {kPodC, c.ifindex, c.peer_ifindex};
}

void BpfProgramTest::MakeVeth(const char* tag, VethPair* out) {
  ASSERT_TRUE(netns_.active()) << "SetUp did not complete";
  // Names unique per process and test (<= 15 chars), though the netns is
  // private anyway.
  char name[16], peer[32];  // IFNAMSIZ 16, checked by CreateVethPair
  std::snprintf(name, sizeof(name), "xb%x-%x%s", static_cast<unsigned>(::getpid()) & 0xfffff,
                static_cast<unsigned>(seq_) & 0xfff, tag);
  std::snprintf(peer, sizeof(peer), "%sp", name);
  absl::StatusOr<VethPair> v = CreateVethPair(name, peer);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  veths_.push_back(v->name);
  *out = *v;
}

void BpfProgramTest::CreateFabric() {
  ASSERT_EQ(fabric_.ifindex, 0) << "fabric already created";
  ASSERT_NO_FATAL_FAILURE(MakeVeth("f", &fabric_));
}

void BpfProgramTest::TearDown() { CleanUp(); }

void BpfProgramTest::CleanUp() {
  if (destroy_) {
    destroy_();  // closes the program and map fds; the pins stay
    destroy_ = nullptr;
  }
  obj_ = nullptr;
  prog_fd_ = -1;
  RemovePinDir(pin_dir_);
  pin_dir_.clear();
  if (netns_.active()) {
    for (const std::string& name : veths_) {
      absl::Status st = DeleteLink(name);
      if (!st.ok() && !absl::IsNotFound(st)) ADD_FAILURE() << st.ToString();
    }
  }
  veths_.clear();
  fabric_ = {};
  netns_.Leave();
  if (pinned_cpu_) {
    ::sched_setaffinity(0, sizeof(orig_affinity_), &orig_affinity_);
    pinned_cpu_ = false;
  }
}

void BpfProgramTest::LoadProgram(Program p) {
  ASSERT_FALSE(pin_dir_.empty()) << "SetUp did not complete";
  ASSERT_EQ(obj_, nullptr) << "one program per test";
  program_ = p;
  Loaded l;
  switch (p) {
    case Program::kXdpPod: l = LoadSkeleton<xvr_xdp_pod>(pin_dir_); break;
    case Program::kTcPod: l = LoadSkeleton<xvr_tc_pod>(pin_dir_); break;
    case Program::kTcHostEgress: l = LoadSkeleton<xvr_tc_host_egress>(pin_dir_); break;
    case Program::kXdpFabric: l = LoadSkeleton<xvr_xdp_fabric>(pin_dir_); break;
  }
  destroy_ = std::move(l.destroy);
  ASSERT_TRUE(l.error.empty()) << ProgramName(p) << ": " << l.error;
  obj_ = l.obj;
  prog_fd_ = l.prog_fd;
  // The maps really are pinned in the private directory.
  struct stat st {};
  const std::string pin = pin_dir_ + "/" + XVR_MAP_COUNTERS;
  ASSERT_EQ(::stat(pin.c_str(), &st), 0) << pin << " not pinned";
}

void BpfProgramTest::UnloadProgram() {
  ASSERT_FALSE(pin_dir_.empty()) << "SetUp did not complete";
  if (destroy_) {
    destroy_();
    destroy_ = nullptr;
  }
  obj_ = nullptr;
  prog_fd_ = -1;
  maglev_ids_.clear();  // the tables went with the maps
  RemovePinDir(pin_dir_);
  ASSERT_EQ(::mkdir(pin_dir_.c_str(), 0700), 0)
      << "mkdir " << pin_dir_ << ": " << std::strerror(errno);
}

int BpfProgramTest::MapFd(const char* name) const {
  bpf_map* m = obj_ ? bpf_object__find_map_by_name(obj_, name) : nullptr;
  return m ? bpf_map__fd(m) : -1;
}

uint32_t BpfProgramTest::MapMaxEntries(const char* name) const {
  bpf_map* m = obj_ ? bpf_object__find_map_by_name(obj_, name) : nullptr;
  return m ? bpf_map__max_entries(m) : 0;
}

xvr_node_cfg BpfProgramTest::DefaultNodeConfig() const {
  xvr_node_cfg cfg{};
  cfg.gateway_ip = kGatewayIp.be32();
  cfg.pod_cidr = kPodCidr.be32();
  cfg.pod_prefixlen = kPodPrefixLen;
  cfg.host_ifindex = static_cast<uint32_t>(host_loop_.ifindex);
  cfg.flags = XVR_CFG_F_READY;
  cfg.events_per_sec = 1000;
  return cfg;
}

void BpfProgramTest::WriteNodeConfig(const xvr_node_cfg& cfg) {
  const uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_NODE), &zero, &cfg, BPF_ANY), 0)
      << "update " << XVR_MAP_NODE << ": " << std::strerror(errno);
}

void BpfProgramTest::PutEndpoint(const TestEndpoint& ep, bool in_devmap) {
  xvr_endpoint v{};
  v.ip = ep.addr.ip.be32();
  v.ifindex = static_cast<uint32_t>(ep.ifindex);
  std::memcpy(v.mac, ep.addr.mac.data(), 6);
  std::memcpy(v.host_mac, ep.addr.host_mac.data(), 6);
  v.flags = XVR_EP_F_NONE;
  v.id = ep.addr.id;
  const uint32_t ifindex = v.ifindex;
  const uint32_t ip = v.ip;
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_EP_IFINDEX), &ifindex, &v, BPF_ANY), 0)
      << "update " << XVR_MAP_EP_IFINDEX << ": " << std::strerror(errno);
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_EP_IP), &ip, &v, BPF_ANY), 0)
      << "update " << XVR_MAP_EP_IP << ": " << std::strerror(errno);
  if (in_devmap) {
    // The production map's value is the bare ifindex (4-byte bpf_devmap_val).
    ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_DEVMAP), &ifindex, &ifindex, BPF_ANY), 0)
        << "update " << XVR_MAP_DEVMAP << ": " << std::strerror(errno);
  }
}

void BpfProgramTest::PutDevmap(int ifindex) {
  const uint32_t key = static_cast<uint32_t>(ifindex);
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_DEVMAP), &key, &key, BPF_ANY), 0)
      << "update " << XVR_MAP_DEVMAP << "[" << ifindex << "]: " << std::strerror(errno);
}

void BpfProgramTest::PutRoute(const Ipv4& prefix, uint32_t prefixlen, const xvr_route& route) {
  const xvr_route_key key{prefixlen, prefix.be32()};
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_ROUTES), &key, &route, BPF_ANY), 0)
      << "update " << XVR_MAP_ROUTES << "[" << prefix.str() << "/" << prefixlen
      << "]: " << std::strerror(errno);
}

void BpfProgramTest::PutNeigh(const Ipv4& ip, const Mac& mac, int ifindex, uint16_t state) {
  xvr_neigh v{};
  std::memcpy(v.mac, mac.data(), 6);
  v.state = state;
  v.ifindex = static_cast<uint32_t>(ifindex);
  const uint32_t key = ip.be32();
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_NEIGH), &key, &v, BPF_ANY), 0)
      << "update " << XVR_MAP_NEIGH << "[" << ip.str() << "]: " << std::strerror(errno);
}

void BpfProgramTest::SeedTopology() {
  ASSERT_NO_FATAL_FAILURE(WriteNodeConfig(DefaultNodeConfig()));
  ASSERT_NO_FATAL_FAILURE(PutEndpoint(pod_a_, true));
  ASSERT_NO_FATAL_FAILURE(PutEndpoint(pod_b_, true));
  ASSERT_NO_FATAL_FAILURE(PutEndpoint(pod_c_, false));
}

// --- Services ------------------------------------------------------------------------------

void BpfProgramTest::PutService(const xvr_svc_key& key, const xvr_svc& svc) {
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_SVC), &key, &svc, BPF_ANY), 0)
      << "update " << XVR_MAP_SVC << ": " << std::strerror(errno);
}

void BpfProgramTest::PutBackend(uint32_t id, const xvr_backend& backend) {
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_BACKENDS), &id, &backend, BPF_ANY), 0)
      << "update " << XVR_MAP_BACKENDS << "[" << id << "]: " << std::strerror(errno);
}

void BpfProgramTest::DeleteBackend(uint32_t id) {
  ASSERT_EQ(bpf_map_delete_elem(MapFd(XVR_MAP_BACKENDS), &id), 0)
      << "delete " << XVR_MAP_BACKENDS << "[" << id << "]: " << std::strerror(errno);
}

void BpfProgramTest::PutMaglevTable(uint32_t table_id, const std::vector<uint32_t>& slots) {
  ASSERT_FALSE(slots.empty()) << "a Maglev table has at least one slot";
  bpf_map_create_opts opts{};
  opts.sz = sizeof(opts);
  opts.map_flags = BPF_F_INNER_MAP;
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xvr_mgl_test", sizeof(uint32_t),
                                sizeof(uint32_t), static_cast<uint32_t>(slots.size()), &opts);
  ASSERT_GE(fd, 0) << "create inner Maglev table of " << slots.size()
                   << " slots: " << std::strerror(errno);
  bool ok = true;
  for (uint32_t i = 0; i < slots.size() && ok; ++i) {
    ok = bpf_map_update_elem(fd, &i, &slots[i], BPF_ANY) == 0;
    EXPECT_TRUE(ok) << "fill Maglev slot " << i << ": " << std::strerror(errno);
  }
  const uint32_t inner = static_cast<uint32_t>(fd);
  if (ok) {
    ok = bpf_map_update_elem(MapFd(XVR_MAP_MAGLEV), &table_id, &inner, BPF_ANY) == 0;
    EXPECT_TRUE(ok) << "update " << XVR_MAP_MAGLEV << "[" << table_id
                    << "]: " << std::strerror(errno);
  }
  ::close(fd);  // the outer map holds the table now
  ASSERT_TRUE(ok);
  maglev_ids_.insert(table_id);
}

std::optional<std::vector<uint32_t>> BpfProgramTest::MaglevTable(uint32_t table_id) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(MapFd(XVR_MAP_MAGLEV), &table_id, &id) != 0) return std::nullopt;
  const int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) {
    ADD_FAILURE() << "inner map id " << id << ": " << std::strerror(errno);
    return std::nullopt;
  }
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  std::vector<uint32_t> slots;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
    slots.resize(info.max_entries);
    for (uint32_t i = 0; i < info.max_entries; ++i)
      bpf_map_lookup_elem(fd, &i, &slots[i]);
  } else {
    ADD_FAILURE() << "info of inner map id " << id << ": " << std::strerror(errno);
  }
  ::close(fd);
  return slots;
}

namespace {
template <class K, class V>
std::optional<V> LookupIn(int fd, const K& key) {
  V v{};
  if (bpf_map_lookup_elem(fd, &key, &v) != 0) return std::nullopt;
  return v;
}
}  // namespace

std::optional<xvr_svc_ct> BpfProgramTest::SvcCt(const xvr_nat_key& key) {
  return LookupIn<xvr_nat_key, xvr_svc_ct>(MapFd(XVR_MAP_SVC_CT), key);
}

std::optional<xvr_svc_rev> BpfProgramTest::SvcRev(const xvr_nat_key& key) {
  return LookupIn<xvr_nat_key, xvr_svc_rev>(MapFd(XVR_MAP_SVC_REV), key);
}

std::optional<xvr_aff_val> BpfProgramTest::SvcAffinity(const xvr_aff_key& key) {
  return LookupIn<xvr_aff_key, xvr_aff_val>(MapFd(XVR_MAP_AFFINITY), key);
}

void BpfProgramTest::PutSvcAffinity(const xvr_aff_key& key, const xvr_aff_val& val) {
  ASSERT_EQ(bpf_map_update_elem(MapFd(XVR_MAP_AFFINITY), &key, &val, BPF_ANY), 0)
      << "update " << XVR_MAP_AFFINITY << ": " << std::strerror(errno);
}

MapEntries BpfProgramTest::DumpMap(const char* name) {
  MapEntries out;
  bpf_map* m = obj_ ? bpf_object__find_map_by_name(obj_, name) : nullptr;
  if (!m) {
    ADD_FAILURE() << "no map " << name;
    return out;
  }
  const int fd = bpf_map__fd(m);
  Bytes key(bpf_map__key_size(m)), next(key.size()), val(bpf_map__value_size(m));
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(fd, next.data(), val.data()) == 0) out.emplace_back(next, val);
    key = next;
    prev = key.data();
  }
  return out;
}

void BpfProgramTest::RestoreMap(const char* name, const MapEntries& entries) {
  const int fd = MapFd(name);
  ASSERT_GE(fd, 0) << "no map " << name;
  for (const auto& [k, v] : entries)
    ASSERT_EQ(bpf_map_update_elem(fd, k.data(), v.data(), BPF_ANY), 0)
        << "restore " << name << ": " << std::strerror(errno);
}

namespace {
constexpr const char* kServiceMaps[] = {XVR_MAP_SVC, XVR_MAP_BACKENDS, XVR_MAP_SVC_CT,
                                        XVR_MAP_SVC_REV, XVR_MAP_AFFINITY};
}  // namespace

ServiceState BpfProgramTest::SnapshotServices() {
  ServiceState s;
  for (const char* name : kServiceMaps) s.maps[name] = DumpMap(name);
  for (uint32_t id : maglev_ids_)
    if (std::optional<std::vector<uint32_t>> t = MaglevTable(id)) s.maglev[id] = std::move(*t);
  return s;
}

void BpfProgramTest::RestoreServices(const ServiceState& state) {
  for (const auto& [name, entries] : state.maps) {
    ASSERT_NO_FATAL_FAILURE(RestoreMap(name.c_str(), entries));
  }
  for (const auto& [id, slots] : state.maglev) {
    ASSERT_NO_FATAL_FAILURE(PutMaglevTable(id, slots));
  }
}

void BpfProgramTest::Run(const Bytes& pkt, int ifindex, RunResult* result) {
  ASSERT_GE(prog_fd_, 0) << "no program loaded";
  const int err = TryRun(pkt, ifindex, 0, result);
  ASSERT_EQ(err, 0) << "bpf_prog_test_run_opts(" << ProgramName(program_) << ", " << pkt.size()
                    << " bytes, ifindex " << ifindex << "): " << std::strerror(-err);
}

int BpfProgramTest::TryRun(const Bytes& pkt, int ifindex, size_t meta, RunResult* result,
                           size_t linear, uint32_t gso_size) {
  *result = {};
  if (prog_fd_ < 0) return -EBADF;
  if (!IsXdp(program_) && (meta || linear)) return -EINVAL;  // XDP layouts only
  if (IsXdp(program_) && gso_size) return -EINVAL;           // skb only
  Bytes in(meta, 0);
  in.insert(in.end(), pkt.begin(), pkt.end());

  Bytes out(4096, 0);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = 1;

  xdp_md xctx{};
  __sk_buff sctx{};
  if (IsXdp(program_)) {
    // Packet data starts after `meta` bytes of XDP metadata.
    xctx.data = static_cast<uint32_t>(meta);
    xctx.data_end = static_cast<uint32_t>(linear ? meta + linear : in.size());
    xctx.ingress_ifindex = static_cast<uint32_t>(ifindex);
    opts.ctx_in = &xctx;
    opts.ctx_size_in = sizeof(xctx);
  } else {
    sctx.ifindex = static_cast<uint32_t>(ifindex);
    sctx.gso_size = gso_size;
    opts.ctx_in = &sctx;
    opts.ctx_size_in = sizeof(sctx);
  }
  const int err = bpf_prog_test_run_opts(prog_fd_, &opts);
  if (err != 0) return err < 0 ? err : -err;
  if (opts.data_size_out < meta || opts.data_size_out > out.size()) return -EOVERFLOW;
  result->retval = opts.retval;
  result->out.assign(out.begin() + static_cast<long>(meta),
                     out.begin() + static_cast<long>(opts.data_size_out));
  return 0;
}

CounterValue BpfProgramTest::Counter(uint32_t hook, uint32_t verdict, uint32_t reason) {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<xvr_counter> per_cpu(ncpu > 0 ? ncpu : 1);
  const uint32_t idx = xvr_counter_index(hook, verdict, reason);
  CounterValue sum;
  if (bpf_map_lookup_elem(MapFd(XVR_MAP_COUNTERS), &idx, per_cpu.data()) != 0) {
    ADD_FAILURE() << "lookup " << XVR_MAP_COUNTERS << "[" << idx << "]: " << std::strerror(errno);
    return sum;
  }
  for (const xvr_counter& c : per_cpu) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
  }
  return sum;
}

std::map<uint32_t, CounterValue> BpfProgramTest::NonZeroCounters() {
  std::map<uint32_t, CounterValue> out;
  for (uint32_t h = 0; h < XVR_HOOK_MAX; ++h)
    for (uint32_t v = 0; v < XVR_VERDICT_MAX; ++v)
      for (uint32_t r = 0; r < XVR_REASON_MAX; ++r) {
        const CounterValue c = Counter(h, v, r);
        if (c.packets || c.bytes) out[xvr_counter_index(h, v, r)] = c;
      }
  return out;
}

std::vector<xvr_drop_event> BpfProgramTest::ConsumeEvents() {
  std::vector<xvr_drop_event> events;
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* evs = static_cast<std::vector<xvr_drop_event>*>(ctx);
    xvr_drop_event ev{};
    if (size != sizeof(ev)) {
      ADD_FAILURE() << "ring buffer record of " << size << " bytes, want " << sizeof(ev);
      return 0;
    }
    std::memcpy(&ev, data, sizeof(ev));
    evs->push_back(ev);
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(MapFd(XVR_MAP_EVENTS), cb, &events, nullptr);
  if (!rb) {
    ADD_FAILURE() << "ring_buffer__new(" << XVR_MAP_EVENTS << "): " << std::strerror(errno);
    return events;
  }
  const int n = ring_buffer__consume(rb);
  if (n < 0) ADD_FAILURE() << "ring_buffer__consume: " << std::strerror(-n);
  ring_buffer__free(rb);
  return events;
}

std::vector<xvr_ratelimit> BpfProgramTest::RateLimitState() {
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<xvr_ratelimit> per_cpu(ncpu > 0 ? ncpu : 1);
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(MapFd(XVR_MAP_RATELIMIT), &zero, per_cpu.data()) != 0)
    ADD_FAILURE() << "lookup " << XVR_MAP_RATELIMIT << ": " << std::strerror(errno);
  return per_cpu;
}

}  // namespace xvr::test

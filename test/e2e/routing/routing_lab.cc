#include "test/e2e/routing/routing_lab.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"

namespace xvr::test {
namespace {

constexpr char kPrefix[] = "xvrrt-";

absl::StatusOr<std::string> Sh(const std::string& cmd) {
  const std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return ErrnoStatus(errno, absl::StrCat("popen ", cmd));
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("`", cmd, "` exited ", WEXITSTATUS(rc), ": ", out));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RoutingLab>> RoutingLab::Create(RoutingLabOptions opts) {
  static std::atomic<int> counter{0};
  std::unique_ptr<RoutingLab> lab(new RoutingLab());
  lab->name_ = absl::StrCat(kPrefix, ::getpid(), "-", counter++);
  // From here on the destructor deletes the namespace, whatever fails next.
  RETURN_IF_ERROR(Sh(absl::StrCat("ip netns add ", lab->name_)).status());
  RETURN_IF_ERROR(lab->Ip("link set lo up"));
  RETURN_IF_ERROR(lab->Ip(absl::StrCat("link add ", kLabDev, " type veth peer name xr1")));
  RETURN_IF_ERROR(lab->Ip(absl::StrCat("addr add ", kLabAddr, "/24 dev ", kLabDev)));
  RETURN_IF_ERROR(lab->Ip(absl::StrCat("link set ", kLabDev, " up")));
  RETURN_IF_ERROR(lab->Ip("link set xr1 up"));
  ASSIGN_OR_RETURN(std::string link, lab->IpOutput(absl::StrCat("-j link show ", kLabDev)));
  auto j = nlohmann::json::parse(link, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) {
    return absl::InternalError(absl::StrCat("cannot parse `ip -j link`: ", link));
  }
  lab->dev_ifindex_ = j[0].value("ifindex", 0u);

  LIBBPF_OPTS(bpf_map_create_opts, lpm_opts, .map_flags = BPF_F_NO_PREALLOC);
  int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, XVR_MAP_ROUTES, sizeof(xvr_route_key),
                          sizeof(xvr_route), XVR_MAX_ROUTES, &lpm_opts);
  if (fd < 0) return ErrnoStatus(errno, "bpf_map_create(" XVR_MAP_ROUTES ")");
  lab->routes_map_ =
      std::make_unique<BpfMap<xvr_route_key, xvr_route>>(UniqueFd(fd), XVR_MAP_ROUTES);
  fd = bpf_map_create(BPF_MAP_TYPE_HASH, XVR_MAP_NEIGH, sizeof(__be32), sizeof(xvr_neigh),
                      XVR_MAX_NEIGH, nullptr);
  if (fd < 0) return ErrnoStatus(errno, "bpf_map_create(" XVR_MAP_NEIGH ")");
  lab->neigh_map_ = std::make_unique<BpfMap<__be32, xvr_neigh>>(UniqueFd(fd), XVR_MAP_NEIGH);

  lab->routes_ = std::make_unique<RouteTable>(lab->routes_map_.get());
  lab->neighs_ = std::make_unique<NeighTable>(lab->neigh_map_.get());
  RtnlMirrorOptions mirror;
  mirror.netns_path = absl::StrCat("/run/netns/", lab->name_);
  mirror.rcvbuf_bytes = opts.rcvbuf_bytes;
  RouteWatcherOptions ropts;
  ropts.mirror = mirror;
  lab->route_watcher_ = std::make_unique<RouteWatcher>(lab->routes_.get(), ropts);
  NeighWatcherOptions nopts;
  nopts.mirror = mirror;
  lab->neigh_watcher_ = std::make_unique<NeighWatcher>(lab->neighs_.get(), nopts);
  if (opts.start) RETURN_IF_ERROR(lab->Start());
  return lab;
}

absl::Status RoutingLab::Start() {
  RETURN_IF_ERROR(route_watcher_->Start());
  return neigh_watcher_->Start();
}

RoutingLab::~RoutingLab() {
  if (route_watcher_) route_watcher_->Stop();
  if (neigh_watcher_) neigh_watcher_->Stop();
  if (!name_.empty()) (void)Sh(absl::StrCat("ip netns del ", name_));
}

absl::Status RoutingLab::Ip(const std::string& args) const { return IpOutput(args).status(); }

absl::StatusOr<std::string> RoutingLab::IpOutput(const std::string& args) const {
  return Sh(absl::StrCat("ip -n ", name_, " ", args));
}

absl::Status RoutingLab::IpBatch(const std::vector<std::string>& lines) const {
  const std::string path = absl::StrCat("/tmp/", name_, ".batch");
  {
    std::ofstream f(path);
    for (const std::string& l : lines) f << l << '\n';
    if (!f) return absl::InternalError(absl::StrCat("write ", path));
  }
  absl::Status st = Ip(absl::StrCat("-batch ", path));
  ::unlink(path.c_str());
  return st;
}

void CleanStaleLabs() {
  DIR* d = ::opendir("/run/netns");
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(kPrefix, 0) != 0) continue;
    std::vector<std::string> parts = absl::StrSplit(name.substr(sizeof(kPrefix) - 1), '-');
    int pid = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &pid) || pid <= 0) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    std::fprintf(stderr, "removing netns %s left by a crashed run\n", name.c_str());
    (void)Sh(absl::StrCat("ip netns del ", name));
  }
}

std::optional<xvr_route> LpmLookup(int fd, const std::string& ip) {
  xvr_route_key k{32, 0};
  if (::inet_pton(AF_INET, ip.c_str(), &k.addr) != 1) return std::nullopt;
  xvr_route v{};
  if (bpf_map_lookup_elem(fd, &k, &v) != 0) return std::nullopt;
  return v;
}

std::optional<xvr_neigh> NeighLookup(int fd, const std::string& ip) {
  __be32 k = 0;
  if (::inet_pton(AF_INET, ip.c_str(), &k) != 1) return std::nullopt;
  xvr_neigh v{};
  if (bpf_map_lookup_elem(fd, &k, &v) != 0) return std::nullopt;
  return v;
}

size_t CountKeys(int fd, size_t key_size) {
  std::vector<unsigned char> cur(key_size), next(key_size);
  size_t n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    cur = next;
    prev = cur.data();
  }
  return n;
}

std::map<std::string, xvr_route> DumpRoutes(int fd) {
  std::map<std::string, xvr_route> out;
  xvr_route_key cur{}, next{};
  const xvr_route_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    xvr_route v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
      out[absl::StrCat(Ipv4Addr::FromBe(next.addr).ToString(), "/", next.prefixlen)] = v;
    }
    cur = next;
    prev = &cur;
  }
  return out;
}

std::vector<std::string> RouteBatch(const char* verb, const std::string& first, int n,
                                    const std::string& gw) {
  const uint32_t base = Ipv4Addr::Parse(first)->value();
  std::vector<std::string> lines;
  lines.reserve(n);
  for (int i = 0; i < n; ++i) {
    lines.push_back(absl::StrCat("route ", verb, " ",
                                 Ipv4Addr(base + (static_cast<uint32_t>(i) << 8)).ToString(),
                                 "/24 via ", gw));
  }
  return lines;
}

}  // namespace xvr::test

// Small helpers shared by the benchmark tools: skeleton ownership, interface
// lookups, the 64-byte UDP frame, per-CPU counter sums, medians.
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/status_macros.h"
#include "agent/dataplane/unique_fd.h"
#include "xvr/abi.h"

namespace xvr::bench {

using Mac = std::array<uint8_t, ETH_ALEN>;

// One owner per skeleton, whatever its type (bpftool's C++ static methods).
template <typename Skel>
using SkelPtr = std::unique_ptr<Skel, void (*)(Skel*)>;

template <typename Skel>
absl::StatusOr<SkelPtr<Skel>> OpenSkel(const char* what, const bpf_object_open_opts* opts = nullptr) {
  SkelPtr<Skel> skel(Skel::open(opts), &Skel::destroy);
  if (!skel) return ErrnoStatus(errno, absl::StrCat("open BPF object ", what));
  return skel;
}

template <typename Skel>
absl::Status LoadSkel(Skel* skel, const char* what) {
  if (int err = Skel::load(skel); err != 0) {
    return ErrnoStatus(err, absl::StrCat("load BPF object ", what));
  }
  return absl::OkStatus();
}

inline absl::StatusOr<uint32_t> IfIndex(const std::string& name) {
  const unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) return ErrnoStatus(errno, absl::StrCat("if_nametoindex(", name, ")"));
  return idx;
}

inline absl::StatusOr<Mac> IfMac(const std::string& name) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoStatus(errno, "socket");
  ifreq req{};
  std::snprintf(req.ifr_name, IFNAMSIZ, "%s", name.c_str());
  if (::ioctl(sock.get(), SIOCGIFHWADDR, &req) != 0) {
    return ErrnoStatus(errno, absl::StrCat("SIOCGIFHWADDR ", name));
  }
  Mac mac;
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, ETH_ALEN);
  return mac;
}

inline absl::StatusOr<Mac> ParseMac(const std::string& s) {
  Mac mac;
  unsigned b[ETH_ALEN];
  char tail;
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) != ETH_ALEN) {
    return absl::InvalidArgumentError(absl::StrCat("not a MAC address: \"", s, "\""));
  }
  for (int i = 0; i < ETH_ALEN; ++i) {
    if (b[i] > 0xff) return absl::InvalidArgumentError(absl::StrCat("not a MAC address: ", s));
    mac[i] = static_cast<uint8_t>(b[i]);
  }
  return mac;
}

inline std::string MacString(const Mac& m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

// Network byte order.
inline absl::StatusOr<uint32_t> ParseIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: \"", s, "\""));
  }
  return a.s_addr;
}

// A 64-byte Ethernet/IPv4/UDP frame (60 bytes + FCS on a wire would be the
// minimum; 64 here is what the kernel selftests and DESIGN §3 call 64-byte).
inline constexpr size_t kFrameLen = 64;
using Frame = std::array<uint8_t, kFrameLen>;

inline Frame BuildUdpFrame(const Mac& src_mac, const Mac& dst_mac, uint32_t src_ip_be,
                           uint32_t dst_ip_be, uint8_t ttl) {
  Frame f{};
  auto* eth = reinterpret_cast<ethhdr*>(f.data());
  std::memcpy(eth->h_dest, dst_mac.data(), ETH_ALEN);
  std::memcpy(eth->h_source, src_mac.data(), ETH_ALEN);
  eth->h_proto = htons(ETH_P_IP);
  auto* ip = reinterpret_cast<iphdr*>(eth + 1);
  ip->version = 4;
  ip->ihl = 5;
  ip->tot_len = htons(kFrameLen - sizeof(ethhdr));
  ip->id = htons(1);
  ip->ttl = ttl;
  ip->protocol = IPPROTO_UDP;
  ip->saddr = src_ip_be;
  ip->daddr = dst_ip_be;
  uint32_t sum = 0;
  const auto* w = reinterpret_cast<const uint16_t*>(ip);
  for (size_t i = 0; i < sizeof(iphdr) / 2; ++i) sum += w[i];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip->check = static_cast<uint16_t>(~sum);
  auto* udp = reinterpret_cast<udphdr*>(ip + 1);
  udp->source = htons(9);
  udp->dest = htons(9);  // discard
  udp->len = htons(kFrameLen - sizeof(ethhdr) - sizeof(iphdr));
  udp->check = 0;  // optional in IPv4
  return f;
}

// Sum over CPUs of a per-CPU array slot holding one __u64.
inline absl::StatusOr<uint64_t> SumPerCpuU64(int map_fd, uint32_t key) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "libbpf_num_possible_cpus");
  std::vector<uint64_t> v(ncpu);
  if (bpf_map_lookup_elem(map_fd, &key, v.data()) != 0) {
    return ErrnoStatus(errno, "bpf_map_lookup_elem(per-CPU counter)");
  }
  uint64_t total = 0;
  for (uint64_t x : v) total += x;
  return total;
}

// Packets counted in xvr_counters for (hook, verdict, reason), all CPUs.
inline absl::StatusOr<uint64_t> ReadCounter(int counters_fd, uint32_t hook, uint32_t verdict,
                                            uint32_t reason) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus(-ncpu, "libbpf_num_possible_cpus");
  std::vector<xvr_counter> v(ncpu);
  const uint32_t idx = xvr_counter_index(hook, verdict, reason);
  if (bpf_map_lookup_elem(counters_fd, &idx, v.data()) != 0) {
    return ErrnoStatus(errno, "bpf_map_lookup_elem(xvr_counters)");
  }
  uint64_t n = 0;
  for (const auto& c : v) n += c.packets;
  return n;
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace xvr::bench

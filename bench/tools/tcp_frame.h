// A 64-byte Ethernet/IPv4/TCP frame for BPF_PROG_TEST_RUN benchmarks (the
// flows/policy tools). Checksums right; 10 bytes of payload.
#pragma once

#include <linux/if_ether.h>
#include <linux/ip.h>

#include <cstring>

#include "bench/tools/bench_util.h"

namespace xvr::bench {

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

inline Frame BuildTcpFrame(const Mac& src_mac, const Mac& dst_mac, uint32_t src_be,
                           uint32_t dst_be, uint16_t sport, uint16_t dport, uint8_t flags,
                           uint8_t ttl = 64) {
  Frame f = BuildUdpFrame(src_mac, dst_mac, src_be, dst_be, ttl);
  auto* ip = reinterpret_cast<iphdr*>(f.data() + sizeof(ethhdr));
  ip->protocol = IPPROTO_TCP;
  ip->check = 0;
  uint32_t sum = 0;
  const auto* w = reinterpret_cast<const uint16_t*>(ip);
  for (size_t i = 0; i < sizeof(iphdr) / 2; ++i) sum += w[i];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip->check = static_cast<uint16_t>(~sum);
  uint8_t* tcp = f.data() + sizeof(ethhdr) + sizeof(iphdr);
  const size_t seg = kFrameLen - sizeof(ethhdr) - sizeof(iphdr);
  std::memset(tcp, 0, seg);
  const uint16_t sp = htons(sport), dp = htons(dport);
  std::memcpy(tcp, &sp, 2);
  std::memcpy(tcp + 2, &dp, 2);
  const uint32_t seqno = htonl(1);
  std::memcpy(tcp + 4, &seqno, 4);
  tcp[12] = 5 << 4;  // doff
  tcp[13] = flags;
  const uint16_t win = htons(65535);
  std::memcpy(tcp + 14, &win, 2);
  for (size_t i = 20; i < 30; ++i) tcp[i] = static_cast<uint8_t>('a' + i - 20);
  sum = 0;
  auto add = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
  };
  add(reinterpret_cast<const uint8_t*>(&ip->saddr), 4);
  add(reinterpret_cast<const uint8_t*>(&ip->daddr), 4);
  sum += IPPROTO_TCP + seg;
  add(tcp, seg);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t csum = htons(static_cast<uint16_t>(~sum));
  std::memcpy(tcp + 16, &csum, 2);
  return f;
}

}  // namespace xvr::bench

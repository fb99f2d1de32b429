// The node every BPF program test runs on: addresses and MACs are constants
// (table rows are built from them before any fixture exists); ifindexes are
// those of the veth pairs each fixture creates in its own netns.
//
//   pod A 10.244.1.10  ── veth A ──┐
//   pod B 10.244.1.20  ── veth B ──┤ node, gateway 10.244.1.1, pod CIDR /24
//   pod C 10.244.1.30  ── veth C ──┤ (C is not in the device map)
//   host loopback pair ── veth H ──┘ (tc_host_egress)
#ifndef XVR_TEST_BPF_TOPOLOGY_H
#define XVR_TEST_BPF_TOPOLOGY_H

#include "test/bpf/packet_builder.h"

namespace xvr::test {

struct PodAddr {
  Ipv4 ip;
  Mac mac;       // eth0 in the pod
  Mac host_mac;  // host side of the pod's veth (the pod's gateway MAC)
  uint32_t id;
};

inline constexpr Ipv4 kGatewayIp{{10, 244, 1, 1}};
inline constexpr Ipv4 kPodCidr{{10, 244, 1, 0}};
inline constexpr uint32_t kPodPrefixLen = 24;
inline constexpr Ipv4 kNodeIp{{192, 168, 0, 10}};
inline constexpr Ipv4 kRemotePodIp{{10, 244, 2, 5}};  // another node's pod: no endpoint here
inline constexpr Ipv4 kInternetIp{{8, 8, 8, 8}};
inline constexpr Ipv4 kUnusedPodIp{{10, 244, 1, 99}};  // in the CIDR, no endpoint

inline constexpr PodAddr kPodA{{{10, 244, 1, 10}},
                               {0x02, 0xaa, 0x00, 0x00, 0x00, 0x0a},
                               {0x02, 0xbb, 0x00, 0x00, 0x00, 0x0a},
                               1};
inline constexpr PodAddr kPodB{{{10, 244, 1, 20}},
                               {0x02, 0xaa, 0x00, 0x00, 0x00, 0x14},
                               {0x02, 0xbb, 0x00, 0x00, 0x00, 0x14},
                               2};
inline constexpr PodAddr kPodC{{{10, 244, 1, 30}},
                               {0x02, 0xaa, 0x00, 0x00, 0x00, 0x1e},
                               {0x02, 0xbb, 0x00, 0x00, 0x00, 0x1e},
                               3};

// The host end of the host loopback pair: frames from the node to pods are
// addressed to it (ARP off on the device), and leave it through TC egress.
inline constexpr Mac kHostLoopMac{0x02, 0xcc, 0x00, 0x00, 0x00, 0x01};
inline constexpr Mac kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr Mac kZeroMac{};
inline constexpr Mac kForeignMac{0x02, 0xee, 0x00, 0x00, 0x00, 0x66};
inline constexpr Ipv4 kZeroIp{};

}  // namespace xvr::test

#endif

// The overlay side of the BPF program tests: the underlay the test node
// sits on, and the table rows for VXLAN encapsulation (xdp_pod, tc_pod) and
// decapsulation (xdp_fabric).
//
//   node 1 (this node)  192.168.250.11  fabric MAC 02:fa:00:00:00:0b
//   node 2              192.168.250.12  MAC 02:fa:00:00:00:0c  pods 10.244.2.0/24
//   node 3              192.168.250.13  MAC 02:fa:00:00:00:0d
//   underlay gateway    192.168.250.1   MAC 02:fa:00:00:00:01
//
// Node 1 holds pods A, B and C of topology.h. Its fabric NIC is the fifth
// veth pair of the fixture (CreateFabric), in the device map unless a row
// says otherwise.
#ifndef XVR_TEST_BPF_VXLAN_CASES_H
#define XVR_TEST_BPF_VXLAN_CASES_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test/bpf/packet_builder.h"
#include "test/bpf/packet_cases.h"
#include "test/bpf/topology.h"

namespace xvr::test {

inline constexpr Ipv4 kNode1Ip{{192, 168, 250, 11}};
inline constexpr Ipv4 kNode2Ip{{192, 168, 250, 12}};
inline constexpr Ipv4 kNode3Ip{{192, 168, 250, 13}};
inline constexpr Ipv4 kUnderlayGwIp{{192, 168, 250, 1}};
inline constexpr Ipv4 kUnderlayNet{{192, 168, 250, 0}};
inline constexpr Mac kFabricMac{0x02, 0xfa, 0x00, 0x00, 0x00, 0x0b};  // node 1's NIC
inline constexpr Mac kNode2Mac{0x02, 0xfa, 0x00, 0x00, 0x00, 0x0c};
inline constexpr Mac kNode3Mac{0x02, 0xfa, 0x00, 0x00, 0x00, 0x0d};
inline constexpr Mac kUnderlayGwMac{0x02, 0xfa, 0x00, 0x00, 0x00, 0x01};
// Inner MACs of xvr's VTEPs: 02:58 and the node's underlay address.
inline constexpr Mac kVtep1Mac{0x02, 0x58, 192, 168, 250, 11};
inline constexpr Mac kVtep2Mac{0x02, 0x58, 192, 168, 250, 12};
inline constexpr Mac kVtep3Mac{0x02, 0x58, 192, 168, 250, 13};

inline constexpr Ipv4 kNode2PodCidr{{10, 244, 2, 0}};
inline constexpr Ipv4 kClusterCidr{{10, 244, 0, 0}};

// `base` (the fixture's default node config) as node 1 with the overlay:
// node IP, fabric NIC `fabric_ifindex`, VXLAN on `port`/`vni`, the cluster
// CIDR /16. Masquerade and readiness stay as `base` has them.
inline xvr_node_cfg Node1Overlay(xvr_node_cfg base, int fabric_ifindex,
                                 uint16_t port = kVxlanPort, uint32_t vni = 1) {
  base.node_ip = kNode1Ip.be32();
  base.fabric_ifindex = static_cast<uint32_t>(fabric_ifindex);
  for (size_t i = 0; i < kFabricMac.size(); ++i) base.fabric_mac[i] = kFabricMac[i];
  base.vxlan_port = static_cast<uint16_t>(port << 8 | port >> 8);  // network order
  base.vni = vni;
  base.flags |= XVR_CFG_F_VXLAN;
  base.cluster_cidr = kClusterCidr.be32();
  base.cluster_prefixlen = 16;
  return base;
}
// kRemotePodIp (10.244.2.5) is the pod on node 2 every row talks to.
// Node 2, when a test plays it (round trip): its pod at kRemotePodIp.
inline constexpr Ipv4 kNode2GatewayIp{{10, 244, 2, 1}};
inline constexpr PodAddr kNode2Pod{{{10, 244, 2, 5}},
                                   {0x02, 0xaa, 0x00, 0x00, 0x02, 0x05},
                                   {0x02, 0xbb, 0x00, 0x00, 0x02, 0x05},
                                   7};

struct RouteSeed {
  Ipv4 prefix;
  uint32_t prefixlen = 32;
  uint32_t type = XVR_RT_TUNNEL;
  Ipv4 nexthop{};
  Ipv4 tunnel_dst{};
};

struct NeighSeed {
  Ipv4 ip;
  Mac mac;
};

// The overlay part of xvr_node[0] and what goes into xvr_routes and
// xvr_neigh. The defaults: VXLAN on, VNI 1, port 4789, node 2's pod CIDR
// through the tunnel to node 2, node 2's MAC known.
struct OverlaySetup {
  NodeState node = NodeState::kReady;
  bool vxlan = true;
  uint32_t vni = 1;
  uint16_t port = kVxlanPort;  // host order here; the map holds it in network order
  bool fabric_in_devmap = true;
  std::vector<RouteSeed> routes = {
      {kNode2PodCidr, 24, XVR_RT_TUNNEL, kZeroIp, kNode2Ip},
  };
  std::vector<NeighSeed> neighs = {{kNode2Ip, kNode2Mac}};
};

inline constexpr unsigned kOnFabric = 1u << 2;

struct VxlanCase {
  std::string name;  // [A-Za-z0-9_]: becomes the test name
  Bytes input;       // enters on pod A's veth (pod programs) or the fabric NIC
  uint32_t verdict = XVR_VERDICT_PASS;
  uint32_t reason = XVR_R_OK;
  Output output = Output::kUnchanged;
  Bytes expected;  // Output::kExact
  // kExact on an encapsulated packet: the outer UDP source port is a hash
  // (checked separately); it must be in 49152-65535 and is copied from the
  // output into `expected` before the comparison.
  bool sport_from_output = false;
  unsigned programs = kOnPod;  // kOnXdp / kOnTc for EncapCases, kOnFabric for DecapCases
  OverlaySetup setup;
  size_t xdp_linear = 0;  // as PacketCase::xdp_linear
};

// xdp_pod and tc_pod: pod A's traffic to node 2's pods, and what does not
// go into the tunnel.
std::vector<VxlanCase> EncapCases();
// xdp_fabric: what arrives on the fabric NIC.
std::vector<VxlanCase> DecapCases();

// Building blocks shared with vxlan_test.cc.
//
// A UDP packet from pod A (to its gateway MAC) for dst.
Bytes PodAUdp(const Ipv4& dst, IPv4Options o = {}, uint16_t sport = 40000, uint16_t dport = 8080,
              const std::string& payload = "xvr-vxlan-payload");
// The same flow as an inner frame between two VTEPs (MACs given), TTL as in o.
Bytes InnerUdp(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst,
               IPv4Options o = {}, uint16_t sport = 40000, uint16_t dport = 8080,
               const std::string& payload = "xvr-vxlan-payload");
// Node 1's outer headers toward node 2 (VNI, port, TOS given).
VxlanOuter Node1ToNode2(uint32_t vni = 1, uint16_t port = kVxlanPort, uint8_t tos = 0);
// Node 2's outer headers toward node 1, as node 2's VTEP sends them.
VxlanOuter Node2ToNode1(uint32_t vni = 1, uint16_t port = kVxlanPort);

}  // namespace xvr::test

#endif

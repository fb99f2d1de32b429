#include "test/bpf/vxlan_cases.h"

#include <cstdio>
#include <string>
#include <utility>

namespace xvr::test {

Bytes PodAUdp(const Ipv4& dst, IPv4Options o, uint16_t sport, uint16_t dport,
              const std::string& payload) {
  return PacketBuilder()
      .Eth(kPodA.mac, kPodA.host_mac)
      .IPv4(kPodA.ip, dst, std::move(o))
      .UDP(sport, dport)
      .Payload(payload)
      .Build();
}

Bytes InnerUdp(const Mac& src_mac, const Mac& dst_mac, const Ipv4& src, const Ipv4& dst,
               IPv4Options o, uint16_t sport, uint16_t dport, const std::string& payload) {
  return PacketBuilder()
      .Eth(src_mac, dst_mac)
      .IPv4(src, dst, std::move(o))
      .UDP(sport, dport)
      .Payload(payload)
      .Build();
}

VxlanOuter Node1ToNode2(uint32_t vni, uint16_t port, uint8_t tos) {
  VxlanOuter o;
  o.src_mac = kFabricMac;
  o.dst_mac = kNode2Mac;
  o.src = kNode1Ip;
  o.dst = kNode2Ip;
  o.sport = 0;  // a hash: copied from the output (VxlanCase::sport_from_output)
  o.dport = port;
  o.vni = vni;
  o.ip = {.ttl = 64, .tos = tos, .id = 0};
  return o;
}

VxlanOuter Node2ToNode1(uint32_t vni, uint16_t port) {
  VxlanOuter o;
  o.src_mac = kNode2Mac;
  o.dst_mac = kFabricMac;
  o.src = kNode2Ip;
  o.dst = kNode1Ip;
  o.sport = 51234;
  o.dport = port;
  o.vni = vni;
  o.ip = {.ttl = 64, .id = 0};
  return o;
}

namespace {

// --- Encapsulation -----------------------------------------------------------

// Pod A's packet `in` (built by `make` with TTL ttl) as node 1 sends it to
// node 2: inner MACs are the VTEPs', inner TTL one less, outer headers from
// the overlay configuration.
template <class Make>
VxlanCase Encap(std::string name, Make make, uint8_t ttl = 64, uint32_t vni = 1,
                uint16_t port = kVxlanPort, uint8_t tos = 0) {
  VxlanCase c;
  c.name = std::move(name);
  c.input = make(kPodA.mac, kPodA.host_mac, ttl);
  c.verdict = XVR_VERDICT_REDIRECT;
  c.reason = XVR_R_OK;
  c.output = Output::kExact;
  c.expected = VxlanEncap(Node1ToNode2(vni, port, tos),
                          make(kVtep1Mac, kVtep2Mac, static_cast<uint8_t>(ttl - 1)));
  c.sport_from_output = true;
  c.setup.vni = vni;
  c.setup.port = port;
  return c;
}

// A UDP flow from pod A to kRemotePodIp with the given IPv4 options (the
// TTL is set by Encap).
auto UdpFlow(IPv4Options o = {}, const std::string& payload = "xvr-vxlan-payload") {
  return [o, payload](const Mac& s, const Mac& d, uint8_t ttl) {
    IPv4Options oo = o;
    oo.ttl = ttl;
    return InnerUdp(s, d, kPodA.ip, kRemotePodIp, oo, 40000, 8080, payload);
  };
}

VxlanCase Unchanged(std::string name, Bytes in, uint32_t verdict, uint32_t reason,
                    unsigned programs) {
  VxlanCase c;
  c.name = std::move(name);
  c.input = std::move(in);
  c.verdict = verdict;
  c.reason = reason;
  c.output = Output::kUnchanged;
  c.programs = programs;
  return c;
}

VxlanCase PodPass(std::string name, Bytes in, uint32_t reason) {
  return Unchanged(std::move(name), std::move(in), XVR_VERDICT_PASS, reason, kOnPod);
}

VxlanCase PodDrop(std::string name, Bytes in, uint32_t reason) {
  return Unchanged(std::move(name), std::move(in), XVR_VERDICT_DROP, reason, kOnPod);
}

// --- Decapsulation -----------------------------------------------------------

// Node 2's VTEP wraps `inner` for node 1.
Bytes FromNode2(const Bytes& inner, uint32_t vni = 1, uint16_t port = kVxlanPort) {
  return VxlanEncap(Node2ToNode1(vni, port), inner);
}

// A UDP packet from node 2's pod to `to` as node 2's VTEP puts it in the
// tunnel (TTL already decremented there: 63).
Bytes InnerToPod(const PodAddr& to, IPv4Options o = {.ttl = 63}) {
  return InnerUdp(kVtep2Mac, kVtep1Mac, kRemotePodIp, to.ip, std::move(o));
}

// The same packet as delivered to the pod: MACs of the pod's veth, TTL one
// less.
Bytes DeliveredTo(const PodAddr& to, IPv4Options o = {.ttl = 63}) {
  o.ttl = static_cast<uint8_t>(o.ttl - 1);
  return InnerUdp(to.host_mac, to.mac, kRemotePodIp, to.ip, std::move(o));
}

VxlanCase Decap(std::string name, Bytes in, Bytes out) {
  VxlanCase c;
  c.name = std::move(name);
  c.input = std::move(in);
  c.verdict = XVR_VERDICT_REDIRECT;
  c.reason = XVR_R_OK;
  c.output = Output::kExact;
  c.expected = std::move(out);
  c.programs = kOnFabric;
  return c;
}

VxlanCase FabricDrop(std::string name, Bytes in, uint32_t reason) {
  return Unchanged(std::move(name), std::move(in), XVR_VERDICT_DROP, reason, kOnFabric);
}

VxlanCase NotOurs(std::string name, Bytes in) {
  return Unchanged(std::move(name), std::move(in), XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS,
                   kOnFabric);
}

}  // namespace

std::vector<VxlanCase> EncapCases() {
  std::vector<VxlanCase> t;

  // --- Into the tunnel: exact bytes -------------------------------------------
  t.push_back(Encap("encap_udp_vni_1_port_4789", UdpFlow()));
  t.push_back(Encap("encap_vni_42", UdpFlow(), 64, 42));
  t.push_back(Encap("encap_port_8472_flannel", UdpFlow(), 64, 1, kVxlanPortLinux));
  t.push_back(Encap("encap_vni_42_port_8472", UdpFlow(), 64, 42, kVxlanPortLinux));
  // All 24 bits of the VNI reach the wire.
  t.push_back(Encap("encap_vni_max_16777215", UdpFlow(), 64, 0xffffff));
  t.push_back(Encap("encap_tcp_syn_df", [](const Mac& s, const Mac& d, uint8_t ttl) {
    return PacketBuilder()
        .Eth(s, d)
        .IPv4(kPodA.ip, kRemotePodIp, {.ttl = ttl, .df = true})
        .TCP(51000, 443, 1000, 0, 0x02)
        .Build();
  }));
  t.push_back(Encap("encap_icmp_echo", [](const Mac& s, const Mac& d, uint8_t ttl) {
    return PacketBuilder()
        .Eth(s, d)
        .IPv4(kPodA.ip, kRemotePodIp, {.ttl = ttl})
        .ICMP(8, 0, 0x77, 3)
        .Payload("ping")
        .Build();
  }));
  // The outer TOS is the inner one (DSCP and ECN, RFC 6040 normal mode).
  t.push_back(Encap("encap_tos_dscp_ef_copied", UdpFlow({.tos = 0xb8}), 64, 1, kVxlanPort, 0xb8));
  t.push_back(
      Encap("encap_tos_ecn_ce_copied", UdpFlow({.tos = 0x03}), 64, 1, kVxlanPort, 0x03));
  t.push_back(Encap("encap_ttl_2_leaves_with_inner_ttl_1", UdpFlow(), 2));
  t.push_back(Encap("encap_ttl_255", UdpFlow(), 255));
  // The inner checksum update must carry (RFC 1624).
  for (uint16_t id : {0x0000, 0x00ff, 0xfeff, 0xffff}) {
    char name[64];
    std::snprintf(name, sizeof(name), "encap_checksum_carry_id_%04x", id);
    t.push_back(Encap(name, UdpFlow({.id = id})));
  }
  // Lengths above 255 (both bytes of tot_len and the UDP length).
  t.push_back(Encap("encap_1400_byte_payload", UdpFlow({}, std::string(1400, 'x'))));
  t.push_back(Encap("encap_fragment_first", UdpFlow({.mf = true})));
  t.push_back(Encap("encap_fragment_middle", [](const Mac& s, const Mac& d, uint8_t ttl) {
    return PacketBuilder()
        .Eth(s, d)
        .IPv4(kPodA.ip, kRemotePodIp, {.ttl = ttl, .mf = true, .frag_offset = 185, .protocol = 17})
        .Payload(Bytes(64, 0xab))
        .Build();
  }));
  // Ethernet padding is part of the inner frame: carried, and counted by
  // the outer lengths.
  {
    auto padded = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kPodA.ip, kRemotePodIp, {.ttl = ttl})
          .UDP(1, 2)
          .Pad(18)
          .Build();
    };
    t.push_back(Encap("encap_padded_min_frame", padded));
  }
  // XDP multi-buffer: headers in the linear area, the payload in a fragment.
  {
    VxlanCase c = Encap("encap_payload_in_fragment", UdpFlow({}, std::string(300, 'f')));
    c.programs = kOnXdp;
    c.xdp_linear = kEthHdrLen + kIpv4HdrLen + kUdpHdrLen;
    t.push_back(c);
  }

  // --- Outer next hop -----------------------------------------------------------
  // A kernel route for the remote node via a gateway: the gateway's MAC.
  {
    VxlanCase c = Encap("encap_via_kernel_nexthop_uses_gateway_mac", UdpFlow());
    c.setup.routes.push_back({kNode2Ip, 32, XVR_RT_KERNEL, kUnderlayGwIp, kZeroIp});
    c.setup.neighs = {{kNode2Ip, kNode2Mac}, {kUnderlayGwIp, kUnderlayGwMac}};
    VxlanOuter o = Node1ToNode2();
    o.dst_mac = kUnderlayGwMac;
    c.expected = VxlanEncap(o, UdpFlow()(kVtep1Mac, kVtep2Mac, 63));
    t.push_back(c);
  }
  // The same through a default route.
  {
    VxlanCase c = Encap("encap_via_default_route_uses_gateway_mac", UdpFlow());
    c.setup.routes.push_back({kZeroIp, 0, XVR_RT_KERNEL, kUnderlayGwIp, kZeroIp});
    c.setup.neighs = {{kUnderlayGwIp, kUnderlayGwMac}};
    VxlanOuter o = Node1ToNode2();
    o.dst_mac = kUnderlayGwMac;
    c.expected = VxlanEncap(o, UdpFlow()(kVtep1Mac, kVtep2Mac, 63));
    t.push_back(c);
  }
  // An on-link kernel route (nexthop 0): the remote node's own MAC.
  {
    VxlanCase c = Encap("encap_via_onlink_kernel_route_uses_node_mac", UdpFlow());
    c.setup.routes.push_back({kUnderlayNet, 24, XVR_RT_KERNEL, kZeroIp, kZeroIp});
    c.setup.neighs = {{kNode2Ip, kNode2Mac}, {kUnderlayGwIp, kUnderlayGwMac}};
    t.push_back(c);
  }
  // The longest prefix decides the tunnel.
  {
    VxlanCase c = Encap("encap_longest_prefix_wins", UdpFlow());
    c.setup.routes.push_back({kClusterCidr, 16, XVR_RT_TUNNEL, kZeroIp, kNode3Ip});
    c.setup.neighs.push_back({kNode3Ip, kNode3Mac});
    t.push_back(c);
  }
  {
    VxlanCase c = Encap("encap_wider_tunnel_route_to_node_3", UdpFlow());
    c.setup.routes = {{kClusterCidr, 16, XVR_RT_TUNNEL, kZeroIp, kNode3Ip}};
    c.setup.neighs = {{kNode3Ip, kNode3Mac}};
    VxlanOuter o = Node1ToNode2();
    o.dst_mac = kNode3Mac;
    o.dst = kNode3Ip;
    c.expected = VxlanEncap(o, UdpFlow()(kVtep1Mac, kVtep3Mac, 63));
    t.push_back(c);
  }
  // A pod of this node stays local even under a tunnel route covering it.
  {
    VxlanCase c;
    c.name = "local_endpoint_wins_over_tunnel_route";
    c.input = PodAUdp(kPodB.ip);
    c.verdict = XVR_VERDICT_REDIRECT;
    c.output = Output::kExact;
    c.expected = InnerUdp(kPodB.host_mac, kPodB.mac, kPodA.ip, kPodB.ip, {.ttl = 63});
    c.setup.routes.push_back({kClusterCidr, 16, XVR_RT_TUNNEL, kZeroIp, kNode3Ip});
    c.setup.neighs.push_back({kNode3Ip, kNode3Mac});
    t.push_back(c);
  }

  // --- Left to the kernel ---------------------------------------------------------
  {
    VxlanCase c = PodPass("neighbour_missing", PodAUdp(kRemotePodIp), XVR_R_PASS_NO_NEIGH);
    c.setup.neighs = {};
    t.push_back(c);
  }
  // The next hop is the gateway: the remote node's own entry does not help.
  {
    VxlanCase c = PodPass("kernel_nexthop_unresolved", PodAUdp(kRemotePodIp), XVR_R_PASS_NO_NEIGH);
    c.setup.routes.push_back({kNode2Ip, 32, XVR_RT_KERNEL, kUnderlayGwIp, kZeroIp});
    c.setup.neighs = {{kNode2Ip, kNode2Mac}};
    t.push_back(c);
  }
  // Checked before the TTL: the kernel resolves and sends time-exceeded.
  {
    VxlanCase c = PodPass("neighbour_missing_ttl_1", PodAUdp(kRemotePodIp, {.ttl = 1}),
                          XVR_R_PASS_NO_NEIGH);
    c.setup.neighs = {};
    t.push_back(c);
  }
  {
    VxlanCase c = PodPass("overlay_off", PodAUdp(kRemotePodIp), XVR_R_PASS_NO_ROUTE);
    c.setup.vxlan = false;
    t.push_back(c);
  }
  // A LOCAL route (this node's pod CIDR) leaves an address without an
  // endpoint to the kernel.
  {
    VxlanCase c = PodPass("local_route_unused_pod_ip", PodAUdp(kUnusedPodIp), XVR_R_PASS_NO_ROUTE);
    c.setup.routes.push_back({kPodCidr, 24, XVR_RT_LOCAL, kZeroIp, kZeroIp});
    t.push_back(c);
  }
  {
    const Bytes kRouterAlert = {0x94, 0x04, 0x00, 0x00};
    t.push_back(PodPass("ip_options_to_remote_pod",
                        PodAUdp(kRemotePodIp, {.options = kRouterAlert}),
                        XVR_R_PASS_IP_OPTIONS));
  }

  // --- Dropped -------------------------------------------------------------------
  t.push_back(PodDrop("ttl_1_to_remote_pod", PodAUdp(kRemotePodIp, {.ttl = 1}),
                      XVR_R_TTL_EXCEEDED));
  t.push_back(PodDrop("ttl_0_to_remote_pod", PodAUdp(kRemotePodIp, {.ttl = 0}),
                      XVR_R_TTL_EXCEEDED));
  t.push_back(PodDrop("spoofed_source_to_remote_pod",
                      PacketBuilder()
                          .Eth(kPodA.mac, kPodA.host_mac)
                          .IPv4(kUnusedPodIp, kRemotePodIp)
                          .UDP(40000, 8080)
                          .Build(),
                      XVR_R_SPOOFED_IP));
  // xdp_pod redirects through the device map: the fabric NIC must be in
  // it. The packet was encapsulated before the redirect failed.
  {
    VxlanCase c;
    c.name = "fabric_not_in_devmap";
    c.input = PodAUdp(kRemotePodIp);
    c.verdict = XVR_VERDICT_DROP;
    c.reason = XVR_R_REDIRECT_FAILED;
    c.output = Output::kAny;
    c.programs = kOnXdp;
    c.setup.fabric_in_devmap = false;
    t.push_back(c);
  }
  // tc_pod's bpf_redirect() takes the ifindex and does not consult it.
  {
    VxlanCase c = Encap("fabric_not_in_devmap_tc", UdpFlow());
    c.programs = kOnTc;
    c.setup.fabric_in_devmap = false;
    t.push_back(c);
  }
  return t;
}

std::vector<VxlanCase> DecapCases() {
  std::vector<VxlanCase> t;

  // --- Delivered: exact bytes ------------------------------------------------------
  t.push_back(Decap("decap_udp_to_pod_b", FromNode2(InnerToPod(kPodB)), DeliveredTo(kPodB)));
  t.push_back(Decap("decap_udp_to_pod_a", FromNode2(InnerToPod(kPodA)), DeliveredTo(kPodA)));
  {
    VxlanCase c = Decap("decap_vni_42", FromNode2(InnerToPod(kPodB), 42), DeliveredTo(kPodB));
    c.setup.vni = 42;
    t.push_back(c);
  }
  {
    VxlanCase c = Decap("decap_port_8472_flannel",
                        FromNode2(InnerToPod(kPodB), 1, kVxlanPortLinux), DeliveredTo(kPodB));
    c.setup.port = kVxlanPortLinux;
    t.push_back(c);
  }
  {
    VxlanCase c =
        Decap("decap_vni_max_16777215", FromNode2(InnerToPod(kPodB), 0xffffff), DeliveredTo(kPodB));
    c.setup.vni = 0xffffff;
    t.push_back(c);
  }
  {
    auto tcp = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kRemotePodIp, kPodB.ip, {.ttl = ttl, .df = true})
          .TCP(443, 51000, 7, 1001, 0x12)
          .Build();
    };
    t.push_back(Decap("decap_tcp_syn_ack", FromNode2(tcp(kVtep2Mac, kVtep1Mac, 63)),
                      tcp(kPodB.host_mac, kPodB.mac, 62)));
  }
  {
    auto icmp = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kRemotePodIp, kPodB.ip, {.ttl = ttl})
          .ICMP(0, 0, 0x77, 3)
          .Payload("pong")
          .Build();
    };
    t.push_back(Decap("decap_icmp_echo_reply", FromNode2(icmp(kVtep2Mac, kVtep1Mac, 63)),
                      icmp(kPodB.host_mac, kPodB.mac, 62)));
  }
  t.push_back(Decap("decap_inner_ttl_2_delivered_with_ttl_1",
                    FromNode2(InnerToPod(kPodB, {.ttl = 2})), DeliveredTo(kPodB, {.ttl = 2})));
  for (uint16_t id : {0x0000, 0xfeff, 0xffff}) {
    char name[64];
    std::snprintf(name, sizeof(name), "decap_checksum_carry_id_%04x", id);
    t.push_back(Decap(name, FromNode2(InnerToPod(kPodB, {.ttl = 63, .id = id})),
                      DeliveredTo(kPodB, {.ttl = 63, .id = id})));
  }
  // The inner frame's MACs do not matter (a kernel VTEP may use others).
  t.push_back(Decap("decap_any_inner_macs",
                    FromNode2(InnerUdp(kForeignMac, kBroadcastMac, kRemotePodIp, kPodB.ip,
                                       {.ttl = 63})),
                    DeliveredTo(kPodB)));
  // RFC 7348 §5: reserved bits are ignored on receipt.
  {
    VxlanOuter o = Node2ToNode1();
    o.vxlan = {.flags = 0xff, .reserved1 = 0xffffff, .reserved2 = 0xff};
    t.push_back(Decap("decap_reserved_bits_ignored", VxlanEncap(o, InnerToPod(kPodB)),
                      DeliveredTo(kPodB)));
  }
  // A sender that fills in the outer UDP checksum (allowed, RFC 7348 §5).
  {
    VxlanOuter o = Node2ToNode1();
    o.udp = {};  // computed
    t.push_back(Decap("decap_outer_udp_checksum_set", VxlanEncap(o, InnerToPod(kPodB)),
                      DeliveredTo(kPodB)));
  }
  // The outer TTL and TOS are not the inner packet's business.
  {
    VxlanOuter o = Node2ToNode1();
    o.ip = {.ttl = 1, .tos = 0xb8, .id = 0x4242, .df = true};
    t.push_back(Decap("decap_outer_ttl_1_df_tos", VxlanEncap(o, InnerToPod(kPodB)),
                      DeliveredTo(kPodB)));
  }
  // Inner IPv4 options are delivered (only the TTL is touched).
  {
    const Bytes kRouterAlert = {0x94, 0x04, 0x00, 0x00};
    t.push_back(Decap("decap_inner_ip_options",
                      FromNode2(InnerToPod(kPodB, {.ttl = 63, .options = kRouterAlert})),
                      DeliveredTo(kPodB, {.ttl = 63, .options = kRouterAlert})));
  }
  // Padding of the inner frame stays with it.
  {
    auto padded = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kRemotePodIp, kPodB.ip, {.ttl = ttl})
          .UDP(1, 2)
          .Pad(18)
          .Build();
    };
    t.push_back(Decap("decap_padded_inner_frame", FromNode2(padded(kVtep2Mac, kVtep1Mac, 63)),
                      padded(kPodB.host_mac, kPodB.mac, 62)));
  }
  // XDP multi-buffer: every header in the linear area, the payload in a
  // fragment.
  {
    auto big = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return InnerUdp(s, d, kRemotePodIp, kPodB.ip, {.ttl = ttl}, 40000, 8080,
                      std::string(600, 'f'));
    };
    VxlanCase c = Decap("decap_payload_in_fragment", FromNode2(big(kVtep2Mac, kVtep1Mac, 63)),
                        big(kPodB.host_mac, kPodB.mac, 62));
    c.xdp_linear = kVxlanEncapLen + kEthHdrLen + kIpv4HdrLen + kUdpHdrLen;
    t.push_back(c);
  }

  // --- VXLAN for this node, dropped ---------------------------------------------------
  t.push_back(FabricDrop("unknown_vni_2", FromNode2(InnerToPod(kPodB), 2), XVR_R_VXLAN_BAD_VNI));
  t.push_back(FabricDrop("unknown_vni_0", FromNode2(InnerToPod(kPodB), 0), XVR_R_VXLAN_BAD_VNI));
  // Only the 24 VNI bits compare: 0x010001 is not VNI 1.
  t.push_back(
      FabricDrop("unknown_vni_65537", FromNode2(InnerToPod(kPodB), 0x010001), XVR_R_VXLAN_BAD_VNI));
  {
    VxlanCase c =
        FabricDrop("unknown_vni_1_on_vni_42_node", FromNode2(InnerToPod(kPodB)), XVR_R_VXLAN_BAD_VNI);
    c.setup.vni = 42;
    t.push_back(c);
  }
  for (uint8_t flags : {0x00, 0xf7}) {
    VxlanOuter o = Node2ToNode1();
    o.vxlan.flags = flags;
    char name[64];
    std::snprintf(name, sizeof(name), "i_flag_clear_flags_%02x", flags);
    t.push_back(FabricDrop(name, VxlanEncap(o, InnerToPod(kPodB)), XVR_R_VXLAN_BAD_FLAGS));
  }
  t.push_back(FabricDrop("inner_destination_unused_pod_ip",
                         FromNode2(InnerUdp(kVtep2Mac, kVtep1Mac, kRemotePodIp, kUnusedPodIp,
                                            {.ttl = 63})),
                         XVR_R_VXLAN_NO_ENDPOINT));
  // A remote pod (or a service backend answering the node) reaching this
  // node's gateway address: decapsulated and handed to the kernel, addressed
  // to the fabric NIC so the stack takes it as its own.
  {
    VxlanCase c;
    c.name = "inner_destination_gateway_to_host";
    c.input = FromNode2(InnerUdp(kVtep2Mac, kVtep1Mac, kRemotePodIp, kGatewayIp, {.ttl = 63}));
    c.verdict = XVR_VERDICT_PASS;
    c.reason = XVR_R_PASS_TO_HOST;
    c.output = Output::kExact;
    c.expected = InnerUdp(kVtep2Mac, kFabricMac, kRemotePodIp, kGatewayIp, {.ttl = 63});
    c.programs = kOnFabric;
    t.push_back(c);
  }
  t.push_back(FabricDrop("inner_destination_other_node_pod",
                         FromNode2(InnerUdp(kVtep2Mac, kVtep1Mac, kPodA.ip, kRemotePodIp,
                                            {.ttl = 63})),
                         XVR_R_VXLAN_NO_ENDPOINT));
  t.push_back(FabricDrop("inner_destination_internet",
                         FromNode2(InnerUdp(kVtep2Mac, kVtep1Mac, kRemotePodIp, kInternetIp,
                                            {.ttl = 63})),
                         XVR_R_VXLAN_NO_ENDPOINT));
  t.push_back(FabricDrop("inner_ttl_1", FromNode2(InnerToPod(kPodB, {.ttl = 1})),
                         XVR_R_TTL_EXCEEDED));
  t.push_back(FabricDrop("inner_ttl_0", FromNode2(InnerToPod(kPodB, {.ttl = 0})),
                         XVR_R_TTL_EXCEEDED));
  // Pod C has an endpoint but no device-map entry. The packet was already
  // decapsulated when the redirect failed.
  {
    VxlanCase c = FabricDrop("inner_destination_not_in_devmap", FromNode2(InnerToPod(kPodC)),
                             XVR_R_REDIRECT_FAILED);
    c.output = Output::kAny;
    t.push_back(c);
  }

  // Truncated: every cut after the outer UDP header (the packet is VXLAN
  // for this node) and before the end of the inner IPv4 header.
  {
    const Bytes full = FromNode2(InnerToPod(kPodB));
    const struct {
      const char* name;
      size_t len;
    } cuts[] = {
        {"truncated_after_outer_udp", kVxlanOff},
        {"truncated_inside_vxlan_header", kVxlanOff + 4},
        {"truncated_vxlan_header_one_byte_short", kVxlanEncapLen - 1},
        {"truncated_after_vxlan_header", kVxlanEncapLen},
        {"truncated_inside_inner_ethernet", kVxlanEncapLen + 7},
        {"truncated_after_inner_ethernet", kVxlanEncapLen + kEthHdrLen},
        {"truncated_inside_inner_ipv4", kVxlanEncapLen + kEthHdrLen + 10},
        {"truncated_inner_ipv4_one_byte_short", kVxlanEncapLen + kEthHdrLen + kIpv4HdrLen - 1},
    };
    for (const auto& cut : cuts)
      t.push_back(FabricDrop(cut.name, Truncate(full, cut.len), XVR_R_VXLAN_TRUNC));
    // Cut in the inner payload: the inner header promises more than arrived.
    t.push_back(FabricDrop("truncated_inner_payload",
                           Truncate(full, kVxlanEncapLen + kEthHdrLen + kIpv4HdrLen + 4),
                           XVR_R_BAD_IP_LEN));
  }
  // Malformed inner IPv4: the pod-side reasons.
  t.push_back(FabricDrop("inner_bad_ip_version",
                         FromNode2(InnerToPod(kPodB, {.ttl = 63, .version = 6})),
                         XVR_R_BAD_IP_VERSION));
  t.push_back(FabricDrop("inner_bad_ihl", FromNode2(InnerToPod(kPodB, {.ttl = 63, .ihl = 4})),
                         XVR_R_BAD_IHL));
  t.push_back(FabricDrop("inner_total_length_beyond_frame",
                         FromNode2(InnerToPod(kPodB, {.ttl = 63, .tot_len = 1000})),
                         XVR_R_BAD_IP_LEN));
  // Only IPv4 inside.
  {
    ArpFields a;
    a.op = 1;
    a.sha = kVtep2Mac;
    a.spa = kRemotePodIp;
    a.tpa = kPodB.ip;
    t.push_back(FabricDrop("inner_arp",
                           FromNode2(PacketBuilder().Eth(kVtep2Mac, kBroadcastMac).ARP(a).Build()),
                           XVR_R_UNSUPPORTED_L3));
    t.push_back(FabricDrop(
        "inner_ipv6",
        FromNode2(
            PacketBuilder().Eth(kVtep2Mac, kVtep1Mac, kEthPIpv6).Payload(Bytes(60, 0)).Build()),
        XVR_R_UNSUPPORTED_L3));
  }

  // --- Not xvr's: to the kernel, untouched ----------------------------------------------
  { VxlanOuter o = Node2ToNode1();
    o.ip.check = 0x1234;
    t.push_back(NotOurs("outer_bad_ip_checksum", VxlanEncap(o, InnerToPod(kPodB))));
    o = Node2ToNode1();
    o.ip.version = 6;
    t.push_back(NotOurs("outer_ip_version_6", VxlanEncap(o, InnerToPod(kPodB)))); }
  t.push_back(NotOurs("udp_to_node_dns", PacketBuilder()
                                             .Eth(kNode2Mac, kFabricMac)
                                             .IPv4(kNode2Ip, kNode1Ip)
                                             .UDP(5353, 53)
                                             .Payload("query")
                                             .Build()));
  t.push_back(NotOurs("tcp_to_node_ssh", PacketBuilder()
                                             .Eth(kNode2Mac, kFabricMac)
                                             .IPv4(kNode2Ip, kNode1Ip, {.df = true})
                                             .TCP(50000, 22)
                                             .Build()));
  // TCP to the VXLAN port number is still TCP.
  t.push_back(NotOurs("tcp_to_node_port_4789", PacketBuilder()
                                                   .Eth(kNode2Mac, kFabricMac)
                                                   .IPv4(kNode2Ip, kNode1Ip)
                                                   .TCP(50000, kVxlanPort)
                                                   .Build()));
  t.push_back(NotOurs("icmp_to_node", PacketBuilder()
                                          .Eth(kNode2Mac, kFabricMac)
                                          .IPv4(kNode2Ip, kNode1Ip)
                                          .ICMP(8, 0)
                                          .Build()));
  {
    ArpFields a;
    a.op = 1;
    a.sha = kNode2Mac;
    a.spa = kNode2Ip;
    a.tpa = kNode1Ip;
    t.push_back(NotOurs("arp_request_for_node",
                        PacketBuilder().Eth(kNode2Mac, kBroadcastMac).ARP(a).Build()));
  }
  t.push_back(NotOurs("ipv6", PacketBuilder()
                                  .Eth(kNode2Mac, kFabricMac, kEthPIpv6)
                                  .Payload(Bytes(60, 0))
                                  .Build()));
  {
    VxlanOuter o = Node2ToNode1();
    o.dst = kNode3Ip;
    t.push_back(NotOurs("vxlan_to_another_ip", VxlanEncap(o, InnerToPod(kPodB))));
  }
  t.push_back(NotOurs("vxlan_to_port_8472_on_4789_node",
                      FromNode2(InnerToPod(kPodB), 1, kVxlanPortLinux)));
  {
    VxlanCase c = NotOurs("vxlan_to_port_4789_on_8472_node", FromNode2(InnerToPod(kPodB)));
    c.setup.port = kVxlanPortLinux;
    t.push_back(c);
  }
  t.push_back(NotOurs("vxlan_gpe_port_4790", FromNode2(InnerToPod(kPodB), 1, 4790)));
  // Outer fragments are reassembled by the kernel, not xvr.
  {
    VxlanOuter o = Node2ToNode1();
    o.ip = {.id = 7, .mf = true};
    t.push_back(NotOurs("outer_first_fragment", VxlanEncap(o, InnerToPod(kPodB))));
    o.ip = {.id = 7, .frag_offset = 100};
    t.push_back(NotOurs("outer_last_fragment", VxlanEncap(o, InnerToPod(kPodB))));
  }
  {
    VxlanOuter o = Node2ToNode1();
    o.ip = {.id = 0, .options = {0x94, 0x04, 0x00, 0x00}};
    t.push_back(NotOurs("outer_ip_options", VxlanEncap(o, InnerToPod(kPodB))));
  }
  // Cut before the UDP destination port is known: cannot be told from
  // other traffic; the kernel drops it.
  {
    const Bytes full = FromNode2(InnerToPod(kPodB));
    t.push_back(NotOurs("truncated_inside_outer_udp", Truncate(full, kOuterUdpOff + 6)));
    t.push_back(NotOurs("truncated_inside_outer_ipv4", Truncate(full, kOuterIpOff + 10)));
  }

  // --- Node configuration -----------------------------------------------------------------
  {
    VxlanCase c = NotOurs("overlay_off", FromNode2(InnerToPod(kPodB)));
    c.setup.vxlan = false;
    t.push_back(c);
  }
  {
    VxlanCase c = NotOurs("node_config_not_ready", FromNode2(InnerToPod(kPodB)));
    c.setup.node = NodeState::kNotReady;
    t.push_back(c);
  }
  {
    VxlanCase c = NotOurs("node_config_missing", FromNode2(InnerToPod(kPodB)));
    c.setup.node = NodeState::kMissing;
    t.push_back(c);
  }
  return t;
}

}  // namespace xvr::test

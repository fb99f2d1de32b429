#include "test/bpf/packet_cases.h"

#include <cstdio>
#include <string>

#include "test/bpf/topology.h"

namespace xvr::test {
namespace {

// IPv4 router-alert option (RFC 2113): 4 bytes, IHL 6.
const Bytes kRouterAlert = {0x94, 0x04, 0x00, 0x00};

PacketBuilder Udp(const Mac& eth_src, const Mac& eth_dst, const Ipv4& src, const Ipv4& dst,
                  IPv4Options o = {}) {
  PacketBuilder b;
  b.Eth(eth_src, eth_dst).IPv4(src, dst, std::move(o)).UDP(40000, 8080).Payload("xvr-test-payload");
  return b;
}

// A packet pod A sends to its gateway MAC.
Bytes UdpFromA(const Ipv4& dst, IPv4Options o = {}) {
  return Udp(kPodA.mac, kPodA.host_mac, kPodA.ip, dst, std::move(o)).Build();
}

// The same packet as delivered to pod `to`: MACs rewritten, TTL one less.
Bytes UdpDeliveredTo(const PodAddr& to, const Ipv4& src, IPv4Options o = {}) {
  o.ttl = static_cast<uint8_t>(o.ttl - 1);
  return Udp(to.host_mac, to.mac, src, to.ip, std::move(o)).Build();
}

ArpFields ArpRequestFromA(const Ipv4& target) {
  ArpFields a;
  a.op = 1;
  a.sha = kPodA.mac;
  a.spa = kPodA.ip;
  a.tha = kZeroMac;
  a.tpa = target;
  return a;
}

Bytes Arp(const Mac& eth_src, const Mac& eth_dst, const ArpFields& a) {
  return PacketBuilder().Eth(eth_src, eth_dst).ARP(a).Build();
}

// The proxy reply to pod A for `target`: from A's host MAC, to A.
Bytes ArpReplyToA(const Ipv4& target) {
  ArpFields a;
  a.op = 2;
  a.sha = kPodA.host_mac;
  a.spa = target;
  a.tha = kPodA.mac;
  a.tpa = kPodA.ip;
  return Arp(kPodA.host_mac, kPodA.mac, a);
}

PacketCase Forward(std::string name, Bytes in, Bytes out, unsigned programs = kOnPod) {
  PacketCase c;
  c.name = std::move(name);
  c.input = std::move(in);
  c.verdict = XVR_VERDICT_REDIRECT;
  c.reason = XVR_R_OK;
  c.output = Output::kExact;
  c.expected = std::move(out);
  c.programs = programs;
  return c;
}

PacketCase Verdict(std::string name, Bytes in, uint32_t verdict, uint32_t reason,
                   Ingress ingress = Ingress::kPodA, unsigned programs = kOnPod) {
  PacketCase c;
  c.name = std::move(name);
  c.input = std::move(in);
  c.ingress = ingress;
  c.verdict = verdict;
  c.reason = reason;
  c.output = Output::kUnchanged;
  c.programs = programs;
  return c;
}

PacketCase Drop(std::string name, Bytes in, uint32_t reason, Ingress ingress = Ingress::kPodA,
                unsigned programs = kOnPod) {
  return Verdict(std::move(name), std::move(in), XVR_VERDICT_DROP, reason, ingress, programs);
}

PacketCase Pass(std::string name, Bytes in, uint32_t reason, Ingress ingress = Ingress::kPodA,
                unsigned programs = kOnPod) {
  return Verdict(std::move(name), std::move(in), XVR_VERDICT_PASS, reason, ingress, programs);
}

PacketCase Tx(std::string name, Bytes in, Bytes out) {
  PacketCase c;
  c.name = std::move(name);
  c.input = std::move(in);
  c.verdict = XVR_VERDICT_TX;
  c.reason = XVR_R_OK;
  c.output = Output::kExact;
  c.expected = std::move(out);
  return c;
}

}  // namespace

std::vector<PacketCase> PodCases() {
  std::vector<PacketCase> t;

  // --- Forwarding pod A -> pod B --------------------------------------
  t.push_back(Forward("forward_udp_a_to_b", UdpFromA(kPodB.ip), UdpDeliveredTo(kPodB, kPodA.ip)));
  {
    auto tcp = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kPodA.ip, kPodB.ip, {.ttl = ttl, .df = true})
          .TCP(51000, 443, 1000, 0, 0x02)
          .Build();
    };
    t.push_back(Forward("forward_tcp_a_to_b", tcp(kPodA.mac, kPodA.host_mac, 64),
                        tcp(kPodB.host_mac, kPodB.mac, 63)));
  }
  {
    auto icmp = [](const Mac& s, const Mac& d, uint8_t ttl) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kPodA.ip, kPodB.ip, {.ttl = ttl})
          .ICMP(8, 0, 0x77, 3)
          .Payload("ping")
          .Build();
    };
    t.push_back(Forward("forward_icmp_echo_a_to_b", icmp(kPodA.mac, kPodA.host_mac, 64),
                        icmp(kPodB.host_mac, kPodB.mac, 63)));
  }
  // B's traffic comes in on B's veth and goes to A.
  t.push_back([] {
    PacketCase c =
        Forward("forward_udp_b_to_a", Udp(kPodB.mac, kPodB.host_mac, kPodB.ip, kPodA.ip).Build(),
                UdpDeliveredTo(kPodA, kPodB.ip));
    c.ingress = Ingress::kPodB;
    return c;
  }());
  // The pod resolved B's address to B's MAC itself (no proxy ARP in
  // between): the destination MAC does not matter.
  t.push_back(Forward("forward_any_dst_mac", Udp(kPodA.mac, kPodB.mac, kPodA.ip, kPodB.ip).Build(),
                      UdpDeliveredTo(kPodB, kPodA.ip)));
  // Ethernet padding beyond the IPv4 total length is kept, not an error.
  t.push_back(Forward("forward_padded_min_frame",
                      PacketBuilder()
                          .Eth(kPodA.mac, kPodA.host_mac)
                          .IPv4(kPodA.ip, kPodB.ip)
                          .UDP(1, 2)
                          .Pad(18)
                          .Build(),
                      PacketBuilder()
                          .Eth(kPodB.host_mac, kPodB.mac)
                          .IPv4(kPodA.ip, kPodB.ip, {.ttl = 63})
                          .UDP(1, 2)
                          .Pad(18)
                          .Build()));
  t.push_back(Forward("forward_ttl_2_leaves_with_ttl_1", UdpFromA(kPodB.ip, {.ttl = 2}),
                      UdpDeliveredTo(kPodB, kPodA.ip, {.ttl = 2})));
  t.push_back(Forward("forward_ttl_255", UdpFromA(kPodB.ip, {.ttl = 255}),
                      UdpDeliveredTo(kPodB, kPodA.ip, {.ttl = 255})));
  // The incremental checksum update must carry (RFC 1624): 0xffff-ish sums.
  for (uint16_t id : {0x0000, 0x00ff, 0xfeff, 0xffff}) {
    char name[64];
    std::snprintf(name, sizeof(name), "forward_checksum_carry_id_%04x", id);
    t.push_back(
        Forward(name, UdpFromA(kPodB.ip, {.id = id}), UdpDeliveredTo(kPodB, kPodA.ip, {.id = id})));
  }
  // Fragments are forwarded like any IPv4 packet (no L4 look-up here).
  t.push_back(Forward("forward_first_fragment", UdpFromA(kPodB.ip, {.mf = true}),
                      UdpDeliveredTo(kPodB, kPodA.ip, {.mf = true})));
  {
    auto frag = [](const Mac& s, const Mac& d, uint8_t ttl, bool mf, uint16_t off) {
      return PacketBuilder()
          .Eth(s, d)
          .IPv4(kPodA.ip, kPodB.ip, {.ttl = ttl, .mf = mf, .frag_offset = off, .protocol = 17})
          .Payload(Bytes(64, 0xab))
          .Build();
    };
    t.push_back(Forward("forward_middle_fragment", frag(kPodA.mac, kPodA.host_mac, 64, true, 185),
                        frag(kPodB.host_mac, kPodB.mac, 63, true, 185)));
    t.push_back(Forward("forward_last_fragment", frag(kPodA.mac, kPodA.host_mac, 64, false, 370),
                        frag(kPodB.host_mac, kPodB.mac, 63, false, 370)));
  }

  // --- TTL ---------------------------------------------------------------
  t.push_back(Drop("ttl_1_to_pod", UdpFromA(kPodB.ip, {.ttl = 1}), XVR_R_TTL_EXCEEDED));
  t.push_back(Drop("ttl_0_to_pod", UdpFromA(kPodB.ip, {.ttl = 0}), XVR_R_TTL_EXCEEDED));
  // Not forwarded by xvr: the kernel decides (and sends ICMP time exceeded).
  t.push_back(Pass("ttl_1_to_gateway", UdpFromA(kGatewayIp, {.ttl = 1}), XVR_R_PASS_TO_HOST));
  t.push_back(Pass("ttl_1_no_route", UdpFromA(kRemotePodIp, {.ttl = 1}), XVR_R_PASS_NO_ROUTE));

  // --- Anti-spoofing --------------------------------------------------------
  t.push_back(Drop("spoofed_source_ip",
                   Udp(kPodA.mac, kPodA.host_mac, kUnusedPodIp, kPodB.ip).Build(),
                   XVR_R_SPOOFED_IP));
  t.push_back(Drop("spoofed_source_ip_of_pod_b",
                   Udp(kPodA.mac, kPodA.host_mac, kPodB.ip, kPodB.ip).Build(), XVR_R_SPOOFED_IP));
  t.push_back(Drop("spoofed_source_ip_zero",
                   Udp(kPodA.mac, kPodA.host_mac, kZeroIp, kPodB.ip).Build(), XVR_R_SPOOFED_IP));
  // Checked before the options are left to the kernel.
  t.push_back(Drop(
      "spoofed_source_ip_with_options",
      Udp(kPodA.mac, kPodA.host_mac, kUnusedPodIp, kPodB.ip, {.options = kRouterAlert}).Build(),
      XVR_R_SPOOFED_IP));
  t.push_back(Drop("spoofed_source_ip_to_gateway",
                   Udp(kPodA.mac, kPodA.host_mac, kUnusedPodIp, kGatewayIp).Build(),
                   XVR_R_SPOOFED_IP));
  t.push_back(Drop("spoofed_source_mac",
                   Udp(kForeignMac, kPodA.host_mac, kPodA.ip, kPodB.ip).Build(),
                   XVR_R_SPOOFED_MAC));
  // Pod B using A's identity on B's own veth.
  t.push_back(
      Drop("spoofed_mac_and_ip_of_a_on_b", UdpFromA(kPodB.ip), XVR_R_SPOOFED_MAC, Ingress::kPodB));
  t.push_back(Drop("spoofed_source_mac_arp",
                   Arp(kForeignMac, kBroadcastMac, ArpRequestFromA(kGatewayIp)),
                   XVR_R_SPOOFED_MAC));
  t.push_back(Drop("unknown_ingress_ifindex", UdpFromA(kPodB.ip), XVR_R_UNKNOWN_IFINDEX,
                   Ingress::kNoEndpoint));
  t.push_back(Drop("unknown_ingress_ifindex_arp",
                   Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kGatewayIp)),
                   XVR_R_UNKNOWN_IFINDEX, Ingress::kNoEndpoint));

  // --- Malformed IPv4 ---------------------------------------------------
  // BPF_PROG_RUN refuses frames shorter than an Ethernet header. On XDP a
  // program can still be shown fewer bytes: a 14-byte frame whose linear
  // area holds only 10 (13), the rest in a fragment. TC has no such layout.
  for (size_t linear : {10, 13}) {
    PacketCase c =
        Drop("truncated_ethernet_" + std::to_string(linear) + "_bytes",
             Truncate(UdpFromA(kPodB.ip), kEthHdrLen), XVR_R_TRUNC_ETH, Ingress::kPodA, kOnXdp);
    c.xdp_linear = linear;
    t.push_back(c);
  }
  // Linux 6.18 refuses TC test runs of IPv4 frames shorter than an IPv4
  // header; the table skips those rows on TC when the kernel says EINVAL.
  t.push_back(
      Drop("ethernet_header_only", Truncate(UdpFromA(kPodB.ip), kEthHdrLen), XVR_R_TRUNC_IP));
  t.push_back(Drop("truncated_ipv4_10_bytes", Truncate(UdpFromA(kPodB.ip), kEthHdrLen + 10),
                   XVR_R_TRUNC_IP));
  t.push_back(Drop("truncated_ipv4_19_bytes", Truncate(UdpFromA(kPodB.ip), kEthHdrLen + 19),
                   XVR_R_TRUNC_IP));
  t.push_back(Drop("ihl_4", UdpFromA(kPodB.ip, {.ihl = 4}), XVR_R_BAD_IHL));
  t.push_back(Drop("ihl_0", UdpFromA(kPodB.ip, {.ihl = 0}), XVR_R_BAD_IHL));
  t.push_back(Drop("version_6_in_ipv4_ethertype", UdpFromA(kPodB.ip, {.version = 6}),
                   XVR_R_BAD_IP_VERSION));
  t.push_back(Drop("version_0", UdpFromA(kPodB.ip, {.version = 0}), XVR_R_BAD_IP_VERSION));
  {
    const size_t ip_len = UdpFromA(kPodB.ip).size() - kEthHdrLen;
    t.push_back(Drop("total_length_beyond_frame",
                     UdpFromA(kPodB.ip, {.tot_len = static_cast<uint16_t>(ip_len + 1)}),
                     XVR_R_BAD_IP_LEN));
    t.push_back(
        Drop("total_length_65535", UdpFromA(kPodB.ip, {.tot_len = 0xffff}), XVR_R_BAD_IP_LEN));
    t.push_back(
        Drop("total_length_below_header", UdpFromA(kPodB.ip, {.tot_len = 19}), XVR_R_BAD_IP_LEN));
    t.push_back(Drop("total_length_zero", UdpFromA(kPodB.ip, {.tot_len = 0}), XVR_R_BAD_IP_LEN));
    // Cut off in the payload: the header promises more than arrived.
    t.push_back(Drop("truncated_payload",
                     Truncate(UdpFromA(kPodB.ip), kEthHdrLen + kIpv4HdrLen + 4), XVR_R_BAD_IP_LEN));
    // A header that announces options the frame does not hold.
    t.push_back(Drop("ihl_15_beyond_total_length", UdpFromA(kPodB.ip, {.ihl = 15, .tot_len = 40}),
                     XVR_R_BAD_IP_LEN));
  }

  // --- Left to the kernel -------------------------------------------------
  t.push_back(
      Pass("ip_options", UdpFromA(kPodB.ip, {.options = kRouterAlert}), XVR_R_PASS_IP_OPTIONS));
  t.push_back(Pass("ip_options_to_gateway", UdpFromA(kGatewayIp, {.options = kRouterAlert}),
                   XVR_R_PASS_IP_OPTIONS));
  t.push_back(Pass("unknown_destination_remote_pod", UdpFromA(kRemotePodIp), XVR_R_PASS_NO_ROUTE));
  t.push_back(Pass("unknown_destination_internet", UdpFromA(kInternetIp), XVR_R_PASS_NO_ROUTE));
  t.push_back(Pass("unknown_destination_in_pod_cidr", UdpFromA(kUnusedPodIp), XVR_R_PASS_NO_ROUTE));
  t.push_back(Pass("destination_gateway", UdpFromA(kGatewayIp), XVR_R_PASS_TO_HOST));
  t.push_back(Pass(
      "destination_gateway_icmp",
      PacketBuilder().Eth(kPodA.mac, kPodA.host_mac).IPv4(kPodA.ip, kGatewayIp).ICMP(8, 0).Build(),
      XVR_R_PASS_TO_HOST));

  // --- ARP ------------------------------------------------------------------
  t.push_back(Tx("arp_request_for_gateway",
                 Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kGatewayIp)),
                 ArpReplyToA(kGatewayIp)));
  t.push_back(Tx("arp_request_for_pod_b", Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kPodB.ip)),
                 ArpReplyToA(kPodB.ip)));
  // Unicast refresh of a cached entry (RFC 1122 2.3.2.1).
  t.push_back(Tx("arp_unicast_refresh_for_gateway",
                 Arp(kPodA.mac, kPodA.host_mac,
                     [] {
                       ArpFields a = ArpRequestFromA(kGatewayIp);
                       a.tha = kPodA.host_mac;
                       return a;
                     }()),
                 ArpReplyToA(kGatewayIp)));
  // Every address but the sender's own resolves to the gateway MAC.
  t.push_back(Tx("arp_request_for_remote_address",
                 Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kInternetIp)),
                 ArpReplyToA(kInternetIp)));
  // Ethernet padding to 60 bytes stays behind the reply.
  t.push_back(Tx("arp_request_padded",
                 PacketBuilder()
                     .Eth(kPodA.mac, kBroadcastMac)
                     .ARP(ArpRequestFromA(kGatewayIp))
                     .Pad(18)
                     .Build(),
                 [] {
                   ArpFields a;
                   a.op = 2;
                   a.sha = kPodA.host_mac;
                   a.spa = kGatewayIp;
                   a.tha = kPodA.mac;
                   a.tpa = kPodA.ip;
                   return PacketBuilder().Eth(kPodA.host_mac, kPodA.mac).ARP(a).Pad(18).Build();
                 }()));
  t.push_back(Pass("arp_probe_sender_zero",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kPodA.ip);
                         a.spa = kZeroIp;
                         return a;
                       }()),
                   XVR_R_PASS_ARP_OTHER));
  t.push_back(Pass("arp_gratuitous_request",
                   Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kPodA.ip)), XVR_R_PASS_ARP_OTHER));
  t.push_back(Pass("arp_gratuitous_reply",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kPodA.ip);
                         a.op = 2;
                         a.tha = kPodA.mac;
                         return a;
                       }()),
                   XVR_R_PASS_ARP_OTHER));
  t.push_back(Pass("arp_reply_from_pod",
                   Arp(kPodA.mac, kPodA.host_mac,
                       [] {
                         ArpFields a;
                         a.op = 2;
                         a.sha = kPodA.mac;
                         a.spa = kPodA.ip;
                         a.tha = kPodA.host_mac;
                         a.tpa = kGatewayIp;
                         return a;
                       }()),
                   XVR_R_PASS_ARP_OTHER));
  t.push_back(Drop("arp_spoofed_sender_ip",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kGatewayIp);
                         a.spa = kPodB.ip;
                         return a;
                       }()),
                   XVR_R_ARP_SPOOFED));
  t.push_back(Drop("arp_spoofed_sender_mac",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kGatewayIp);
                         a.sha = kForeignMac;
                         return a;
                       }()),
                   XVR_R_ARP_SPOOFED));
  // Anti-spoofing covers every ARP a pod sends, not only the requests it
  // wants answered: the sender must be the endpoint (0.0.0.0 for a probe).
  t.push_back(Drop("arp_gratuitous_for_pod_b_ip",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kPodB.ip);
                         a.spa = kPodB.ip;
                         return a;
                       }()),
                   XVR_R_ARP_SPOOFED));
  t.push_back(Drop("arp_reply_claiming_gateway_ip",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a;
                         a.op = 2;
                         a.sha = kPodA.mac;
                         a.spa = kGatewayIp;
                         a.tha = kBroadcastMac;
                         a.tpa = kGatewayIp;
                         return a;
                       }()),
                   XVR_R_ARP_SPOOFED));
  t.push_back(Drop("arp_probe_with_foreign_sender_mac",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kPodA.ip);
                         a.spa = kZeroIp;
                         a.sha = kForeignMac;
                         return a;
                       }()),
                   XVR_R_ARP_SPOOFED));
  t.push_back(
      Drop("arp_truncated",
           Truncate(Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kGatewayIp)), kEthHdrLen + 20),
           XVR_R_TRUNC_ARP));
  t.push_back(Drop("arp_one_byte_short",
                   Truncate(Arp(kPodA.mac, kBroadcastMac, ArpRequestFromA(kGatewayIp)),
                            kEthHdrLen + kArpLen - 1),
                   XVR_R_TRUNC_ARP));
  t.push_back(Drop("arp_bad_hardware_type",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kGatewayIp);
                         a.htype = 6;  // IEEE 802
                         return a;
                       }()),
                   XVR_R_BAD_ARP));
  t.push_back(Drop("arp_bad_protocol_type",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kGatewayIp);
                         a.ptype = 0x86dd;
                         return a;
                       }()),
                   XVR_R_BAD_ARP));
  t.push_back(Drop("arp_bad_address_lengths",
                   Arp(kPodA.mac, kBroadcastMac,
                       [] {
                         ArpFields a = ArpRequestFromA(kGatewayIp);
                         a.plen = 16;
                         return a;
                       }()),
                   XVR_R_BAD_ARP));

  // --- Other ethertypes -----------------------------------------------------
  {
    auto raw = [](uint16_t type) {
      return PacketBuilder().Eth(kPodA.mac, kPodA.host_mac, type).Payload(Bytes(46, 0x5a)).Build();
    };
    t.push_back(Drop("lldp", raw(kEthPLldp), XVR_R_UNSUPPORTED_L3));
    t.push_back(Drop("ipv6", raw(kEthPIpv6), XVR_R_UNSUPPORTED_L3));
    t.push_back(Drop("vlan_tagged", raw(kEthPVlan), XVR_R_UNSUPPORTED_L3));
    t.push_back(Drop("ethertype_ipv4_byte_swapped", raw(0x0008), XVR_R_UNSUPPORTED_L3));
  }

  // --- Node configuration ---------------------------------------------------
  t.push_back([] {
    PacketCase c = Drop("node_config_missing", UdpFromA(kPodB.ip), XVR_R_NO_CONFIG);
    c.node = NodeState::kMissing;
    return c;
  }());
  t.push_back([] {
    PacketCase c = Drop("node_config_not_ready", UdpFromA(kPodB.ip), XVR_R_NO_CONFIG);
    c.node = NodeState::kNotReady;
    return c;
  }());

  // --- Delivery to a pod missing from the device map -------------------------
  // XDP redirects through xvr_devmap: no entry, no delivery. The packet was
  // already rewritten when the redirect failed, so its bytes are not checked.
  t.push_back([] {
    PacketCase c = Drop("destination_not_in_devmap", UdpFromA(kPodC.ip), XVR_R_REDIRECT_FAILED,
                        Ingress::kPodA, kOnXdp);
    c.output = Output::kAny;
    return c;
  }());
  // TC's bpf_redirect_peer() takes the ifindex directly and does not consult
  // the device map, so the same packet is delivered.
  t.push_back(Forward("destination_not_in_devmap_tc", UdpFromA(kPodC.ip),
                      UdpDeliveredTo(kPodC, kPodA.ip), kOnTc));
  return t;
}

std::vector<PacketCase> HostEgressCases() {
  std::vector<PacketCase> t;
  auto from_host = [](const Ipv4& dst, IPv4Options o = {}) {
    return Udp(kHostLoopMac, kHostLoopMac, kNodeIp, dst, std::move(o)).Build();
  };
  // Host-originated: addressed to the pod, TTL untouched.
  auto to_pod = [](const PodAddr& pod, IPv4Options o = {}) {
    return Udp(pod.host_mac, pod.mac, kNodeIp, pod.ip, std::move(o)).Build();
  };
  auto host_case = [](PacketCase c) {
    c.ingress = Ingress::kHostLoop;
    return c;
  };
  t.push_back(host_case(Forward("host_to_pod_b", from_host(kPodB.ip), to_pod(kPodB))));
  t.push_back(host_case(Forward("host_to_pod_a", from_host(kPodA.ip), to_pod(kPodA))));
  t.push_back(host_case(Forward("host_to_pod_ttl_1_not_decremented",
                                from_host(kPodB.ip, {.ttl = 1}), to_pod(kPodB, {.ttl = 1}))));
  t.push_back(host_case(Forward("host_to_pod_with_ip_options",
                                from_host(kPodB.ip, {.options = kRouterAlert}),
                                to_pod(kPodB, {.options = kRouterAlert}))));
  t.push_back(host_case(Forward("host_to_pod_tcp_syn_ack",
                                PacketBuilder()
                                    .Eth(kHostLoopMac, kHostLoopMac)
                                    .IPv4(kNodeIp, kPodB.ip)
                                    .TCP(10250, 40000, 7, 1001, 0x12)
                                    .Build(),
                                PacketBuilder()
                                    .Eth(kPodB.host_mac, kPodB.mac)
                                    .IPv4(kNodeIp, kPodB.ip)
                                    .TCP(10250, 40000, 7, 1001, 0x12)
                                    .Build())));
  // bpf_redirect() takes the ifindex; the device map is not involved.
  t.push_back(host_case(Forward("host_to_pod_not_in_devmap", from_host(kPodC.ip), to_pod(kPodC))));
  t.push_back(Pass("host_to_unused_pod_ip", from_host(kUnusedPodIp), XVR_R_PASS_NOT_POD,
                   Ingress::kHostLoop));
  t.push_back(
      Pass("host_to_remote_pod", from_host(kRemotePodIp), XVR_R_PASS_NOT_POD, Ingress::kHostLoop));
  t.push_back(
      Pass("host_to_gateway_ip", from_host(kGatewayIp), XVR_R_PASS_NOT_POD, Ingress::kHostLoop));
  t.push_back(Pass("host_arp", Arp(kHostLoopMac, kBroadcastMac, ArpRequestFromA(kPodB.ip)),
                   XVR_R_PASS_NOT_POD, Ingress::kHostLoop));
  t.push_back(
      Pass("host_ipv6",
           PacketBuilder().Eth(kHostLoopMac, kHostLoopMac, kEthPIpv6).Payload(Bytes(60, 0)).Build(),
           XVR_R_PASS_NOT_POD, Ingress::kHostLoop));
  t.push_back(Drop("host_ethernet_header_only", Truncate(from_host(kPodB.ip), kEthHdrLen),
                   XVR_R_TRUNC_IP, Ingress::kHostLoop));
  t.push_back(Drop("host_truncated_ipv4", Truncate(from_host(kPodB.ip), kEthHdrLen + 10),
                   XVR_R_TRUNC_IP, Ingress::kHostLoop));
  t.push_back(Drop("host_truncated_payload",
                   Truncate(from_host(kPodB.ip), kEthHdrLen + kIpv4HdrLen + 4), XVR_R_BAD_IP_LEN,
                   Ingress::kHostLoop));
  t.push_back(Drop("host_bad_ip_version", from_host(kPodB.ip, {.version = 6}), XVR_R_BAD_IP_VERSION,
                   Ingress::kHostLoop));
  t.push_back(
      Drop("host_bad_ihl", from_host(kPodB.ip, {.ihl = 3}), XVR_R_BAD_IHL, Ingress::kHostLoop));
  t.push_back(Drop("host_total_length_beyond_frame", from_host(kPodB.ip, {.tot_len = 1500}),
                   XVR_R_BAD_IP_LEN, Ingress::kHostLoop));
  return t;
}

}  // namespace xvr::test

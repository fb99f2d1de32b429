/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one header shared by the BPF programs and the C++ agent. Every map key
 * and value, every enum and constant that crosses the kernel/user boundary
 * lives here and nowhere else. It compiles as BPF C (clang -target bpf) and
 * as C++20. Rules: <linux/types.h> types, __be32 where bytes are in network
 * order, explicit padding, no bitfields, a size assert beside every struct.
 */
#ifndef XVR_ABI_H
#define XVR_ABI_H

#include <linux/types.h>

#ifdef __cplusplus
#define XVR_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define XVR_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define XVR_ETH_ALEN 6

/* ---------------------------------------------------------------------------
 * Hooks: where a program runs. The index is part of the counter key.
 */
#define XVR_HOOKS(X)                                                          \
  X(XDP_POD, 0, "xdp_pod")                                                    \
  X(TC_POD, 1, "tc_pod")                                                      \
  X(TC_HOST_EGRESS, 2, "tc_host_egress")                                      \
  X(XDP_FABRIC, 3, "xdp_fabric")

enum xvr_hook {
#define XVR_HOOK_ENUM(name, val, str) XVR_HOOK_##name = val,
  XVR_HOOKS(XVR_HOOK_ENUM)
#undef XVR_HOOK_ENUM
  XVR_HOOK_MAX = 4,
};

/* ---------------------------------------------------------------------------
 * Verdicts: what happened to the packet, independent of the hook type
 * (XDP_PASS and TC_ACT_OK are both PASS).
 */
#define XVR_VERDICTS(X)                                                       \
  X(PASS, 0, "pass")                                                          \
  X(DROP, 1, "drop")                                                          \
  X(TX, 2, "tx")                                                              \
  X(REDIRECT, 3, "redirect")

enum xvr_verdict {
#define XVR_VERDICT_ENUM(name, val, str) XVR_VERDICT_##name = val,
  XVR_VERDICTS(XVR_VERDICT_ENUM)
#undef XVR_VERDICT_ENUM
  XVR_VERDICT_MAX = 4,
};

/* ---------------------------------------------------------------------------
 * Reasons. One list for the whole data path. Drop reasons say why a packet
 * was dropped; pass reasons say why a packet was handed to the kernel
 * instead of being forwarded in BPF. Library functions return >= 0 for a
 * verdict and -XVR_R_<REASON> for a drop (Cilium's IS_ERR style).
 * Numbers are ABI: never renumber, only append.
 */
#define XVR_REASONS(X)                                                         \
  X(OK, 0, "ok", "forwarded or delivered normally")                            \
  X(TRUNC_ETH, 1, "truncated_ethernet", "frame shorter than an Ethernet header") \
  X(TRUNC_IP, 2, "truncated_ipv4", "frame shorter than the IPv4 header it announces") \
  X(BAD_IHL, 3, "bad_ihl", "IPv4 header length field below 5 words")          \
  X(BAD_IP_VERSION, 4, "bad_ip_version", "IPv4 ethertype but version field is not 4") \
  X(BAD_IP_LEN, 5, "bad_ip_total_length", "IPv4 total length disagrees with the frame") \
  X(TTL_EXCEEDED, 6, "ttl_exceeded", "TTL would reach 0 when forwarded")       \
  X(SPOOFED_IP, 7, "spoofed_source_ip", "source IPv4 is not the endpoint's address") \
  X(SPOOFED_MAC, 8, "spoofed_source_mac", "source MAC is not the endpoint's MAC") \
  X(UNKNOWN_IFINDEX, 9, "unknown_endpoint", "ingress interface is not bound to a registered endpoint") \
  X(UNSUPPORTED_L3, 10, "unsupported_l3", "ethertype other than IPv4 or ARP from a pod") \
  X(BAD_ARP, 11, "bad_arp", "malformed or non-Ethernet/IPv4 ARP")             \
  X(ARP_SPOOFED, 12, "arp_spoofed", "ARP sender address is not the endpoint's") \
  X(REDIRECT_FAILED, 13, "redirect_failed", "target interface missing from the device map") \
  X(NO_CONFIG, 14, "no_node_config", "node configuration map not yet written by the agent") \
  X(TRUNC_ARP, 15, "truncated_arp", "frame shorter than an Ethernet/IPv4 ARP packet") \
  X(VXLAN_TRUNC, 16, "vxlan_truncated", "VXLAN packet shorter than its outer or inner headers") \
  X(VXLAN_BAD_VNI, 17, "vxlan_unknown_vni", "VXLAN packet for a VNI this node does not serve") \
  X(VXLAN_BAD_FLAGS, 18, "vxlan_bad_flags", "VXLAN header without the valid-VNI flag") \
  X(VXLAN_NO_ENDPOINT, 19, "vxlan_no_endpoint", "decapsulated packet for a pod IP with no endpoint on this node") \
  X(ENCAP_FAILED, 20, "encap_failed", "no room to add the VXLAN headers") \
  X(NAT_NO_PORT, 21, "snat_no_port", "every NAPT port to that destination is in use") \
  X(NAT_UNSUPPORTED, 22, "snat_unsupported", "leaving the cluster needs NAPT but the protocol or fragment cannot be translated") \
  X(SVC_NO_ENDPOINTS, 23, "service_no_endpoints", "service has no endpoints: rejected with TCP RST / ICMP port unreachable") \
  X(SVC_NO_LOCAL_ENDPOINTS, 24, "service_no_local_endpoints", "externalTrafficPolicy Local and no endpoint on this node") \
  X(SVC_NO_BACKEND, 25, "service_backend_missing", "Maglev slot names a backend that is gone (agent mid-update)") \
  X(SVC_UNSUPPORTED, 26, "service_unsupported", "packet to a service that cannot be translated here (SCTP port change or SNAT, unreadable L4 header, failed rewrite)") \
  X(SVC_NAT_NO_PORT, 27, "service_snat_no_port", "no source port left to SNAT a service connection") \
  X(POLICY_EGRESS, 28, "policy_denied_egress", "NetworkPolicy: the source pod is isolated for egress and no rule allows this destination/port") \
  X(POLICY_INGRESS, 29, "policy_denied_ingress", "NetworkPolicy: the destination pod is isolated for ingress and no rule allows this source/port") \
  X(PASS_TO_HOST, 32, "to_host", "destination is the node itself")             \
  X(PASS_NO_ROUTE, 33, "no_route", "destination unknown to xvr, handed to the kernel") \
  X(PASS_IP_OPTIONS, 34, "ip_options", "IPv4 options are handled by the kernel") \
  X(PASS_ARP_OTHER, 35, "arp_other", "ARP that xvr does not answer (reply, probe, self)") \
  X(PASS_NOT_POD, 36, "not_pod_destination", "host egress packet for an address without an endpoint") \
  X(PASS_NO_NEIGH, 37, "no_neighbour", "next hop of the tunnel not resolved yet; the kernel resolves it") \
  X(PASS_NOT_OURS, 38, "not_ours", "fabric traffic that is not xvr's (ARP, SSH, kubelet, BGP...)") \
  X(PASS_NO_EGRESS, 39, "no_egress_route", "leaving the cluster, but no route out of the fabric NIC with a resolved next hop")

enum xvr_reason {
#define XVR_REASON_ENUM(name, val, str, help) XVR_R_##name = val,
  XVR_REASONS(XVR_REASON_ENUM)
#undef XVR_REASON_ENUM
  XVR_REASON_MAX = 64,
};

/* Counters: one per-CPU array slot per (hook, verdict, reason). */
#define XVR_COUNTER_SLOTS ((__u32)XVR_HOOK_MAX * (__u32)XVR_VERDICT_MAX * (__u32)XVR_REASON_MAX)

static inline __u32 xvr_counter_index(__u32 hook, __u32 verdict, __u32 reason) {
  return (hook * XVR_VERDICT_MAX + verdict) * XVR_REASON_MAX + reason;
}

struct xvr_counter {
  __u64 packets;
  __u64 bytes;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_counter) == 16, "xvr_counter layout");

/* ---------------------------------------------------------------------------
 * Endpoints (pods on this node). The same value is stored under two keys:
 * by the ifindex of the pod's host-side veth (xvr_ep_ifidx: ingress checks)
 * and by the pod's IPv4 (xvr_ep_ip: delivery).
 */
struct xvr_endpoint {
  __be32 ip;                     /* pod IPv4 */
  __u32 ifindex;                 /* host-side veth ifindex */
  __u8 mac[XVR_ETH_ALEN];        /* pod-side MAC (eth0 in the pod) */
  __u8 host_mac[XVR_ETH_ALEN];   /* host-side veth MAC: the pod's gateway MAC */
  __u32 flags;                   /* XVR_EP_F_* */
  __u32 id;                      /* agent-assigned endpoint id */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_endpoint) == 28, "xvr_endpoint layout");

#define XVR_EP_F_NONE 0u

/* Node configuration, written by the agent into xvr_node[0]. Kept in a map
 * (not rodata) so a restarted agent can re-use pinned programs. */
struct xvr_node_cfg {
  __be32 gateway_ip;      /* pods' gateway, an address of the node */
  __be32 pod_cidr;        /* network address of the node's pod CIDR */
  __u32 pod_prefixlen;
  __u32 host_ifindex;     /* host end of the loopback pair (routes pod CIDR) */
  __u32 flags;            /* XVR_CFG_F_* */
  __u32 events_per_sec;   /* drop events per CPU per second, 0 = none */
  /* Overlay (XVR_CFG_F_VXLAN): */
  __be32 node_ip;         /* this node's underlay address (outer source) */
  __u32 fabric_ifindex;   /* spec.fabricInterface */
  __u8 fabric_mac[XVR_ETH_ALEN];
  __be16 vxlan_port;      /* UDP destination port, network order */
  __u32 vni;              /* host order, 24 bits */
  /* Outside the cluster (XVR_CFG_F_MASQUERADE): */
  __be32 cluster_cidr;
  __u32 cluster_prefixlen;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_node_cfg) == 52, "xvr_node_cfg layout");

#define XVR_CFG_F_READY 1u
#define XVR_CFG_F_VXLAN 2u
#define XVR_CFG_F_MASQUERADE 4u

/* VXLAN (RFC 7348): outer Ethernet + IPv4 + UDP + VXLAN header. */
#define XVR_VXLAN_ENCAP_LEN 50
/* Inner Ethernet addresses of xvr's VTEPs: 02:58 followed by the node's
 * underlay IPv4. A kernel VXLAN peer gives its device that MAC. */
#define XVR_VTEP_MAC_PREFIX0 0x02
#define XVR_VTEP_MAC_PREFIX1 0x58

/* ---------------------------------------------------------------------------
 * Events on the xvr_events ring buffer.
 */
#define XVR_EVENT_DROP 1
#define XVR_EVENT_SNAP_LEN 128

struct xvr_event_hdr {
  __u64 ts_ns;     /* bpf_ktime_get_ns() */
  __u32 type;      /* XVR_EVENT_* */
  __u32 ifindex;   /* ingress interface */
  __u16 hook;
  __u16 verdict;
  __u16 reason;
  __u16 cap_len;   /* bytes of data[] that are valid */
  __u32 pkt_len;   /* length as the program leaves the packet */
  __u32 cpu;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_event_hdr) == 32, "xvr_event_hdr layout");

struct xvr_drop_event {
  struct xvr_event_hdr hdr;
  __u8 data[XVR_EVENT_SNAP_LEN];
};
XVR_STATIC_ASSERT(sizeof(struct xvr_drop_event) == 160, "xvr_drop_event layout");

/* Per-CPU token bucket that rate-limits events. */
struct xvr_ratelimit {
  __u64 window_start_ns;
  __u64 sent;        /* in the current window */
  __u64 suppressed;  /* total, over the rate */
  __u64 lost;        /* total, ring buffer full */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_ratelimit) == 32, "xvr_ratelimit layout");

/* ---------------------------------------------------------------------------
 * Routes: an LPM trie keyed by IPv4 prefix (xvr_routes). The agent merges
 * routes learned from the kernel (netlink) with tunnel routes derived from
 * the cluster's Nodes; a tunnel route wins over a kernel route for the same
 * prefix.
 */
struct xvr_route_key {
  __u32 prefixlen;  /* LPM tries want it first, in host order */
  __be32 addr;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_route_key) == 8, "xvr_route_key layout");

#define XVR_RT_LOCAL 1   /* this node's pod CIDR: the endpoint map decides */
#define XVR_RT_TUNNEL 2  /* a remote node's pod CIDR: VXLAN to tunnel_dst */
#define XVR_RT_KERNEL 3  /* from the kernel FIB: via nexthop (0 = on-link) out of ifindex */

struct xvr_route {
  __u32 type;        /* XVR_RT_* */
  __be32 nexthop;    /* gateway, 0 when the destination is on-link */
  __be32 tunnel_dst; /* remote node IP (XVR_RT_TUNNEL) */
  __u32 ifindex;     /* output interface (XVR_RT_KERNEL) */
  __u32 flags;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_route) == 20, "xvr_route layout");

/* Neighbours (ARP) mirrored from the kernel: IPv4 → MAC on an interface. */
struct xvr_neigh {
  __u8 mac[XVR_ETH_ALEN];
  __u16 state;       /* NUD_* of the kernel entry */
  __u32 ifindex;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_neigh) == 12, "xvr_neigh layout");

/* ---------------------------------------------------------------------------
 * NAPT for pod traffic leaving the cluster (spec.masquerade). xvr_snat is
 * keyed by the pod's tuple as it leaves, xvr_snat_rev by the reply's tuple
 * as it arrives on the fabric. An xvr_snat entry with addr 0 marks a flow an
 * outside client opened to a pod: its replies leave untranslated.
 */
struct xvr_nat_key {
  __be32 saddr;
  __be32 daddr;
  __be16 sport;  /* ICMP echo: the identifier */
  __be16 dport;  /* ICMP echo: 0 */
  __u8 proto;
  __u8 pad[3];
};
XVR_STATIC_ASSERT(sizeof(struct xvr_nat_key) == 16, "xvr_nat_key layout");

struct xvr_nat_val {
  __be32 addr;   /* translated address (0: no translation) */
  __be16 port;   /* translated port / ICMP identifier */
  __u16 pad;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_nat_val) == 8, "xvr_nat_val layout");

/* Ports the node's NAPT hands out; keep them out of the node's own
 * ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default). */
#define XVR_NAT_PORT_MIN 61000
#define XVR_NAT_PORT_COUNT 4536
#define XVR_NAT_TRIES 32

/* ---------------------------------------------------------------------------
 * Services (kube-proxy replacement). A frontend is (address, port, protocol,
 * scope): ClusterIPs are looked up with scope INTERNAL for traffic from pods
 * and from the node; NodePorts (address 0 = every node address) and
 * externalIPs with scope EXTERNAL for traffic arriving on the fabric NIC.
 * Each frontend names a Maglev table (xvr_maglev[table]: an inner array of
 * backend ids, prime size M >= 100 x backends) so a backend change moves
 * only about 1/N of the flows; established flows keep their backend through
 * xvr_svc_ct regardless.
 */
#define XVR_SVC_SCOPE_INTERNAL 0
#define XVR_SVC_SCOPE_EXTERNAL 1

struct xvr_svc_key {
  __be32 addr;   /* ClusterIP / externalIP; 0 for a NodePort */
  __be16 port;   /* service port or nodePort */
  __u8 proto;    /* IPPROTO_TCP/UDP/SCTP */
  __u8 scope;    /* XVR_SVC_SCOPE_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_svc_key) == 8, "xvr_svc_key layout");

#define XVR_SVC_F_AFFINITY 1u    /* sessionAffinity ClientIP */
#define XVR_SVC_F_LOCAL 2u       /* traffic policy Local: table holds only this node's endpoints */
#define XVR_SVC_F_KEEP_SRC 4u    /* never SNAT the client (externalTrafficPolicy Local) */
#define XVR_SVC_F_EMPTY_DROP 8u  /* count 0 means "no local endpoint": drop, don't reject */

struct xvr_svc {
  __u32 table;            /* index into xvr_maglev (one table per frontend) */
  __u32 maglev_size;      /* M of that table; 0 with count 0 */
  __u16 count;            /* backends in the table; 0 = no endpoints */
  __u16 flags;            /* XVR_SVC_F_* */
  __u32 affinity_timeout; /* seconds (XVR_SVC_F_AFFINITY) */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_svc) == 16, "xvr_svc layout");

#define XVR_BE_F_LOCAL 1u        /* endpoint on this node */
#define XVR_BE_F_TERMINATING 2u  /* used only because no endpoint is ready */

/* xvr_backends: backend id (agent-assigned, never 0) → where to send. */
struct xvr_backend {
  __be32 addr;
  __be16 port;
  __u8 proto;
  __u8 flags;   /* XVR_BE_F_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_backend) == 8, "xvr_backend layout");

/* Largest Maglev table (a prime); sizes are primes >= 100 x backends. */
#define XVR_MAGLEV_MAX 131071

/* xvr_svc_ct: the client's tuple as sent (client → frontend) → the
 * translation chosen for it. xvr_svc_rev: the reply's tuple as the backend
 * sends it (backend → client, or → the SNAT address) → what to restore. */
struct xvr_svc_ct {
  __u32 backend_id;
  __be32 daddr;   /* backend address */
  __be32 saddr;   /* client address as the backend sees it (SNAT or not) */
  __be16 dport;   /* backend port */
  __be16 sport;   /* client port as the backend sees it */
  __u32 table;    /* frontend table the backend was chosen from */
  __u32 flags;    /* XVR_CT_F_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_svc_ct) == 24, "xvr_svc_ct layout");

#define XVR_CT_F_SNAT 1u     /* client address/port rewritten (hairpin, NodePort to a remote backend) */
#define XVR_CT_F_EXTERNAL 2u /* entered on the fabric NIC (NodePort / externalIP) */

struct xvr_svc_rev {
  __be32 vaddr;   /* frontend address to put back as the reply's source */
  __be32 caddr;   /* client address to put back as the reply's destination */
  __be16 vport;
  __be16 cport;
  __u32 flags;    /* XVR_CT_F_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_svc_rev) == 16, "xvr_svc_rev layout");

/* sessionAffinity ClientIP: (client, frontend table) → backend. */
struct xvr_aff_key {
  __be32 client;
  __u32 table;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_aff_key) == 8, "xvr_aff_key layout");

struct xvr_aff_val {
  __u64 last_ns;  /* bpf_ktime_get_ns() of the last new connection */
  __u32 backend_id;
  __u32 pad;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_aff_val) == 16, "xvr_aff_val layout");

/* ---------------------------------------------------------------------------
 * Flows (connection tracking). One entry pair per connection: the forward
 * entry keyed by the tuple the first packet carried once services are
 * translated (client -> backend), the reply entry by the reversed tuple.
 * ICMP echo: sport = identifier in the request, dport = identifier in the
 * reply, so the two reverse each other. A packet looks up its own tuple:
 * one hash lookup on the fast path. TCP state is written to both entries
 * on SYN/FIN/RST; data packets touch only their own entry. The agent ages
 * pairs by state (timeouts are agent-side), and BPF re-evaluates policy on
 * a packet whose entry predates the current policy generation.
 */
struct xvr_flow_key {
  __be32 saddr;
  __be32 daddr;
  __be16 sport;
  __be16 dport;
  __u8 proto;
  __u8 pad[3];
};
XVR_STATIC_ASSERT(sizeof(struct xvr_flow_key) == 16, "xvr_flow_key layout");

#define XVR_FLOW_S_SYN_SENT 1     /* TCP: SYN seen from the client */
#define XVR_FLOW_S_SYN_RECV 2     /* TCP: SYN-ACK seen from the server */
#define XVR_FLOW_S_ESTABLISHED 3  /* TCP: handshake done (or picked up mid-stream) */
#define XVR_FLOW_S_FIN_WAIT 4     /* TCP: one side sent FIN */
#define XVR_FLOW_S_CLOSED 5       /* TCP: both sides sent FIN, or a RST */
#define XVR_FLOW_S_UNREPLIED 6    /* UDP/ICMP/SCTP/other: one direction seen */
#define XVR_FLOW_S_REPLIED 7      /* UDP/ICMP/SCTP/other: both directions seen */
#define XVR_FLOW_S_MAX 8

#define XVR_FLOW_F_REPLY 1u    /* this entry is the reply direction */
#define XVR_FLOW_F_SVC 2u      /* the client addressed a service frontend (svc_addr/port) */
#define XVR_FLOW_F_EGRESS 4u   /* source is a local pod: its egress policy was applied */
#define XVR_FLOW_F_INGRESS 8u  /* destination is a local pod: its ingress policy was applied */

/* TCP flag bits as recorded in xvr_flow.tcp_flags (byte 13 of the header). */
#define XVR_TCP_FIN 0x01
#define XVR_TCP_SYN 0x02
#define XVR_TCP_RST 0x04
#define XVR_TCP_ACK 0x10

struct xvr_flow {
  __u64 created_ns;    /* bpf_ktime_get_ns() of the first packet */
  __u64 last_ns;       /* of the last packet in this direction */
  __u64 packets;       /* in this direction */
  __u64 bytes;
  __u32 src_identity;  /* of the forward direction's source / destination */
  __u32 dst_identity;
  __be32 svc_addr;     /* frontend the client addressed (XVR_FLOW_F_SVC) */
  __be16 svc_port;
  __u8 state;          /* XVR_FLOW_S_*, the same in both entries */
  __u8 flags;          /* XVR_FLOW_F_* */
  __u32 policy_gen;    /* xvr_flow_cfg.policy_gen when policy was last applied */
  __u32 ifindex;       /* interface the flow's first packet arrived on */
  __u8 tcp_flags;      /* TCP flags seen in this direction */
  __u8 hook;           /* hook that created the flow */
  __u16 pad;
  __u32 pad2;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_flow) == 64, "xvr_flow layout");

/* xvr_flow_cfg[0], written by the agent. policy_gen is bumped after every
 * change of the policy maps; flows of an older generation are re-evaluated
 * on their next packet. */
struct xvr_flow_cfg {
  __u32 policy_gen;
  __u32 flags;  /* XVR_FLOWCFG_F_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_flow_cfg) == 8, "xvr_flow_cfg layout");

#define XVR_FLOWCFG_F_EVENTS 1u  /* emit flow-created events (rate-limited with drops) */

/* xvr_flow_stats: per-CPU u64 counters. */
#define XVR_FS_CREATED 0        /* flow pairs created */
#define XVR_FS_REEVALUATED 1    /* flows re-checked after a policy change */
#define XVR_FS_REEVAL_DENIED 2  /* ... and ended because policy now denies them */
#define XVR_FS_RELATED 3        /* ICMP errors matched to a flow */
#define XVR_FS_REOPENED 4       /* SYN on a closed flow: state reset, policy re-applied */
#define XVR_FS_CREATE_FAILED 5  /* map update failed: the packet is still forwarded */
#define XVR_FS_SLOTS 8

/* ---------------------------------------------------------------------------
 * NetworkPolicy, compiled (Cilium's model). Every pod has a numeric
 * identity derived from its namespace and labels; xvr_ipcache maps pod
 * IPv4s (all nodes) and this node's own addresses to identities, with
 * isolation flags for this node's pods. Every ipBlock CIDR and except
 * prefix gets a CIDR identity in the xvr_cidr_id LPM trie. xvr_policy is
 * an LPM trie of allow entries keyed (subject identity, peer identity,
 * direction, protocol, port): a prefix ending after the peer allows every
 * protocol, after the protocol every port, inside the port a range
 * (endPort). Peer identity 0 is "any peer". A first packet costs at most
 * three trie lookups per direction (pod identity, CIDR identity, any),
 * whatever the number of policies.
 */
#define XVR_ID_NONE 0      /* in a policy key: any peer */
#define XVR_ID_HOST 1      /* this node (gateway IP, node IPs): always allowed */
#define XVR_ID_WORLD 2     /* shown for peers without an identity; never in keys */
#define XVR_ID_REMOTE_NODE 3 /* another node's gateway/node address */
#define XVR_ID_POD_MIN 256         /* pod identities: [256, 1 << 24) */
#define XVR_ID_CIDR_MIN (1u << 24) /* CIDR identities: [1 << 24, 1 << 31) */

#define XVR_ID_F_LOCAL 1u        /* a pod on this node */
#define XVR_ID_F_ISO_INGRESS 2u  /* selected by a policy with Ingress type */
#define XVR_ID_F_ISO_EGRESS 4u   /* selected by a policy with Egress type */

struct xvr_ident {
  __u32 identity;
  __u32 flags;  /* XVR_ID_F_* */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_ident) == 8, "xvr_ident layout");

#define XVR_POL_INGRESS 1
#define XVR_POL_EGRESS 2

/* LPM key: prefixlen counts bits after itself. Full match = 96 bits.
 * 72 = subject+peer+dir (all protocols), 80 = + protocol (all ports),
 * 80 + n = port prefix of n bits. */
struct xvr_policy_key {
  __u32 prefixlen;
  __u32 subject;  /* identity of the local pod the rule protects */
  __u32 peer;     /* identity of the other side; XVR_ID_NONE = any */
  __u8 dir;       /* XVR_POL_* */
  __u8 proto;
  __be16 dport;   /* destination port of the forward direction */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_policy_key) == 16, "xvr_policy_key layout");

#define XVR_POL_PREFIX_PEER 72
#define XVR_POL_PREFIX_PROTO 80
#define XVR_POL_PREFIX_FULL 96

struct xvr_policy_val {
  __u32 rule;   /* agent-assigned index of a (policy, rule) that allows it */
  __u32 flags;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_policy_val) == 8, "xvr_policy_val layout");

/* Flow events on xvr_events: created (from BPF, with the first packet's
 * headers: the agent's packet-of-interest callback) and ended (by a policy
 * change, from BPF; the agent reports aged, closed and flushed flows). */
#define XVR_EVENT_FLOW_NEW 2
#define XVR_EVENT_FLOW_END 3
#define XVR_FLOW_EVENT_SNAP_LEN 64

#define XVR_FLOW_END_POLICY 1  /* hdr.reason of a FLOW_END from BPF */

struct xvr_flow_event {
  struct xvr_event_hdr hdr;
  struct xvr_flow_key key;   /* forward tuple */
  __u32 src_identity;
  __u32 dst_identity;
  __be32 svc_addr;
  __be16 svc_port;
  __u8 state;
  __u8 flags;
  __u64 packets;             /* forward direction */
  __u64 bytes;
  __u64 rev_packets;         /* reply direction (FLOW_END) */
  __u64 rev_bytes;
  __u8 data[XVR_FLOW_EVENT_SNAP_LEN];
};
XVR_STATIC_ASSERT(sizeof(struct xvr_flow_event) == 160, "xvr_flow_event layout");

/* ---------------------------------------------------------------------------
 * Packet capture (`xvrctl capture`, docs/CAPTURE.md). xvr_cap_cfg[0] is
 * written by xvrctl; while enabled, every program's xvr_finish() writes the
 * final frame of each matching packet, with its hook, verdict and reason,
 * to the xvr_capture ring buffer. Disabled, the cost is one array lookup
 * and a branch. A capture whose owner stops refreshing heartbeat_ns
 * (killed with SIGKILL) disarms itself after XVR_CAP_STALE_NS.
 */
#define XVR_CAP_SNAP_MAX 1600   /* a 1500-byte frame + VXLAN (50) fits */
#define XVR_CAP_STALE_NS (5ULL * 1000000000ULL)

#define XVR_CAP_F_REASON 1u     /* only packets with reason == cfg.reason */

struct xvr_capture_cfg {
  __u32 enabled;        /* 0: capture off */
  __u32 gen;            /* copied into every record: a new capture ignores old ones */
  __u32 owner_pid;      /* xvrctl's pid (in its own pid namespace), for messages */
  __u32 flags;          /* XVR_CAP_F_* */
  __u32 hook_mask;      /* bit (1 << XVR_HOOK_*) */
  __u32 verdict_mask;   /* bit (1 << XVR_VERDICT_*) */
  __u32 reason;         /* with XVR_CAP_F_REASON */
  __be32 ip;            /* src or dst, outer or VXLAN inner; 0 = any */
  __u32 snaplen;        /* bytes per packet, <= XVR_CAP_SNAP_MAX */
  __be16 vxlan_port;    /* UDP port whose payload is VXLAN (inner match) */
  __u16 pad;
  __u64 heartbeat_ns;   /* CLOCK_MONOTONIC of the owner's last refresh */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_capture_cfg) == 48, "xvr_capture_cfg layout");

struct xvr_capture_hdr {
  __u64 ts_ns;      /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
  __u32 gen;        /* xvr_capture_cfg.gen when captured */
  __u32 ifindex;    /* interface the program ran on */
  __u32 pkt_len;    /* length of the frame as the program leaves it */
  __u16 cap_len;    /* bytes of data that follow */
  __u8 hook;
  __u8 verdict;
  __u16 reason;
  __u16 cpu;
  __u32 pad;
};
XVR_STATIC_ASSERT(sizeof(struct xvr_capture_hdr) == 32, "xvr_capture_hdr layout");

/* A record on the ring is the header and cap_len bytes of the frame. */
struct xvr_capture_rec {
  struct xvr_capture_hdr hdr;
  __u8 data[XVR_CAP_SNAP_MAX];
};
XVR_STATIC_ASSERT(sizeof(struct xvr_capture_rec) == 1632, "xvr_capture_rec layout");

/* xvr_cap_stats: per-CPU, counted only while a capture is enabled. */
struct xvr_capture_stats {
  __u64 captured;  /* records written */
  __u64 lost;      /* ring buffer full: the reader is too slow */
};
XVR_STATIC_ASSERT(sizeof(struct xvr_capture_stats) == 16, "xvr_capture_stats layout");

/* ---------------------------------------------------------------------------
 * Map names (<= 15 chars, pinned by name under <bpfRoot>/maps) and sizes.
 */
#define XVR_MAP_EP_IFINDEX "xvr_ep_ifidx"
#define XVR_MAP_EP_IP "xvr_ep_ip"
#define XVR_MAP_DEVMAP "xvr_devmap"
#define XVR_MAP_COUNTERS "xvr_counters"
#define XVR_MAP_EVENTS "xvr_events"
#define XVR_MAP_NODE "xvr_node"
#define XVR_MAP_RATELIMIT "xvr_evrl"
#define XVR_MAP_ROUTES "xvr_routes"
#define XVR_MAP_NEIGH "xvr_neigh"
#define XVR_MAP_SNAT "xvr_snat"
#define XVR_MAP_SNAT_REV "xvr_snat_rev"
#define XVR_MAP_SVC "xvr_svc"
#define XVR_MAP_BACKENDS "xvr_backends"
#define XVR_MAP_MAGLEV "xvr_maglev"
#define XVR_MAP_SVC_CT "xvr_svc_ct"
#define XVR_MAP_SVC_REV "xvr_svc_rev"
#define XVR_MAP_AFFINITY "xvr_svc_aff"
#define XVR_MAP_FLOWS "xvr_flows"
#define XVR_MAP_FLOW_CFG "xvr_flow_cfg"
#define XVR_MAP_FLOW_STATS "xvr_flow_stats"
#define XVR_MAP_IPCACHE "xvr_ipcache"
#define XVR_MAP_CIDR_ID "xvr_cidr_id"
#define XVR_MAP_POLICY "xvr_policy"
#define XVR_MAP_CAP_CFG "xvr_cap_cfg"
#define XVR_MAP_CAPTURE "xvr_capture"
#define XVR_MAP_CAP_STATS "xvr_cap_stats"

#ifndef XVR_MAX_ENDPOINTS
#define XVR_MAX_ENDPOINTS 4096
#endif
#ifndef XVR_MAX_ROUTES
#define XVR_MAX_ROUTES 262144
#endif
#ifndef XVR_MAX_NEIGH
#define XVR_MAX_NEIGH 16384
#endif
#ifndef XVR_MAX_NAT
#define XVR_MAX_NAT 65536
#endif
#ifndef XVR_MAX_SERVICES
#define XVR_MAX_SERVICES 65536   /* service frontends (address, port, proto, scope) */
#endif
#ifndef XVR_MAX_BACKENDS
#define XVR_MAX_BACKENDS 262144
#endif
#ifndef XVR_MAX_SVC_CT
#define XVR_MAX_SVC_CT 262144
#endif
#ifndef XVR_MAX_AFFINITY
#define XVR_MAX_AFFINITY 65536
#endif
#ifndef XVR_MAX_FLOWS
#define XVR_MAX_FLOWS 262144     /* entries: two per connection; spec.flowTableSize resizes */
#endif
#ifndef XVR_MAX_IPCACHE
#define XVR_MAX_IPCACHE 65536
#endif
#ifndef XVR_MAX_CIDR_ID
#define XVR_MAX_CIDR_ID 16384
#endif
#ifndef XVR_MAX_POLICY
#define XVR_MAX_POLICY 262144
#endif
#ifndef XVR_EVENTS_BYTES
#define XVR_EVENTS_BYTES (256 * 1024)
#endif
#ifndef XVR_CAPTURE_BYTES
#define XVR_CAPTURE_BYTES (8 * 1024 * 1024)  /* ~85k 64-byte or ~5k 1500-byte records */
#endif

#endif /* XVR_ABI_H */

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VXLAN (RFC 7348) encapsulation and decapsulation. The wire format is the
 * standard one (checked against a kernel VXLAN device in the interop test):
 * outer IPv4/UDP (checksum 0), VXLAN header with the I flag and a 24-bit VNI,
 * then the inner Ethernet frame.
 */
#ifndef XVR_LIB_VXLAN_H
#define XVR_LIB_VXLAN_H

#include <linux/in.h>
#include <linux/udp.h>

#include "ctx.h"
#include "ipv4.h"

struct vxlanhdr_xvr {
	__be32 flags;  /* 0x08000000: VNI valid */
	__be32 vni;    /* VNI << 8 */
};

#define VXLAN_F_VNI bpf_htonl(0x08000000)

/* Everything from the outer Ethernet header to the inner one. */
struct vxlan_encap_hdr {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	struct vxlanhdr_xvr vx;
	struct ethhdr inner;
} __attribute__((packed));

_Static_assert(sizeof(struct vxlan_encap_hdr) == XVR_VXLAN_ENCAP_LEN + sizeof(struct ethhdr),
	       "VXLAN encap layout");

static __always_inline void vtep_mac(__u8 *mac, __be32 ip)
{
	const __u8 *b = (const __u8 *)&ip;

	mac[0] = XVR_VTEP_MAC_PREFIX0;
	mac[1] = XVR_VTEP_MAC_PREFIX1;
	mac[2] = b[0];
	mac[3] = b[1];
	mac[4] = b[2];
	mac[5] = b[3];
}

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	return csum_fold32(sum);
}

/* UDP source port from a hash of the inner flow (RFC 7348 §5), in
 * 49152–65535, so receivers can spread flows over queues and cores. */
static __always_inline __be16 vxlan_src_port(const struct iphdr *ip, void *data_end)
{
	__u32 h = ip->saddr ^ ip->daddr ^ ((__u32)ip->protocol << 16);
	const __u32 *ports = (const void *)(ip + 1);

	if ((ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) &&
	    !(ip->frag_off & bpf_htons(0x1fff | 0x2000)) && (void *)(ports + 1) <= data_end)
		h ^= *ports;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return bpf_htons((__u16)(0xc000 | (h & 0x3fff)));
}

/* Wraps the frame (Ethernet + IPv4, already routed: TTL decremented) for
 * the VTEP `remote`, with outer MACs smac → dmac. */
static __always_inline int vxlan_encap(struct xvr_ctx *ctx, const struct xvr_node_cfg *cfg,
				       __be32 remote, const __u8 *dmac, __be16 sport, __u8 tos)
{
	__u32 inner_len = ctx_full_len(ctx);
	struct vxlan_encap_hdr *h;
	void *data, *data_end;

	if (ctx_push_encap(ctx, XVR_VXLAN_ENCAP_LEN))
		return -XVR_R_ENCAP_FAILED;
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	h = data;
	if ((void *)(h + 1) > data_end)
		return -XVR_R_ENCAP_FAILED;

	mac_copy(h->eth.h_dest, dmac);
	mac_copy(h->eth.h_source, cfg->fabric_mac);
	h->eth.h_proto = bpf_htons(ETH_P_IP);

	h->ip.version = 4;
	h->ip.ihl = 5;
	h->ip.tos = tos;
	h->ip.tot_len = bpf_htons(inner_len + XVR_VXLAN_ENCAP_LEN - sizeof(struct ethhdr));
	h->ip.id = 0;
	h->ip.frag_off = 0;
	h->ip.ttl = 64;
	h->ip.protocol = IPPROTO_UDP;
	h->ip.check = 0;
	h->ip.saddr = cfg->node_ip;
	h->ip.daddr = remote;
	h->ip.check = ipv4_csum((const struct iphdr *)((void *)h + sizeof(struct ethhdr)));

	h->udp.source = sport;
	h->udp.dest = cfg->vxlan_port;
	h->udp.len = bpf_htons(inner_len + sizeof(struct udphdr) + sizeof(struct vxlanhdr_xvr));
	h->udp.check = 0;

	h->vx.flags = VXLAN_F_VNI;
	h->vx.vni = bpf_htonl(cfg->vni << 8);

	vtep_mac(h->inner.h_dest, remote);
	vtep_mac(h->inner.h_source, cfg->node_ip);
	h->inner.h_proto = bpf_htons(ETH_P_IP);
	return 0;
}

/* Outer next hop of `remote`: the route the kernel would use (mirrored in
 * xvr_routes) and its neighbour (mirrored in xvr_neigh). No bpf_fib_lookup:
 * it refuses to work on nodes with forwarding off. */
static __always_inline const struct xvr_neigh *underlay_neigh(__be32 remote)
{
	struct xvr_route_key key = { .prefixlen = 32, .addr = remote };
	const struct xvr_route *rt = bpf_map_lookup_elem(&xvr_routes, &key);
	__be32 nh = remote;

	if (rt && rt->type == XVR_RT_KERNEL && rt->nexthop)
		nh = rt->nexthop;
	return bpf_map_lookup_elem(&xvr_neigh, &nh);
}

/* Routed pod traffic into the tunnel to `remote` and out of the fabric. */
static __always_inline int vxlan_send(struct xvr_ctx *ctx, const struct xvr_node_cfg *cfg,
				      struct iphdr *ip, __be32 remote)
{
	void *data_end = ctx_data_end(ctx);
	const struct xvr_neigh *nb;
	__u8 dmac[XVR_ETH_ALEN];
	__be16 sport;
	__u8 tos;
	int ret;

	if (!(cfg->flags & XVR_CFG_F_VXLAN))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_ROUTE);
	nb = underlay_neigh(remote);
	if (!nb)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_NEIGH);
	if (ip->ttl <= 1)
		return -XVR_R_TTL_EXCEEDED;
	mac_copy(dmac, nb->mac);
	sport = vxlan_src_port(ip, data_end);
	tos = ip->tos;
	ipv4_dec_ttl(ip);
	ret = vxlan_encap(ctx, cfg, remote, dmac, sport, tos);
	if (ret < 0)
		return ret;
	if (ctx_redirect_out(ctx, cfg->fabric_ifindex) < 0)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

#endif

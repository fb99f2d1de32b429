/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod traffic leaving the cluster: routed out of the fabric NIC in XDP and,
 * with spec.masquerade, source-NATed to the node IP (NAPT). Replies are
 * translated back in xdp_fabric. Outside clients reaching a pod IP routed
 * to this node are delivered untranslated, and the pod's replies to them
 * leave untranslated too (an xvr_snat entry with addr 0 remembers them).
 * Checksums are updated incrementally (RFC 1624) in place for XDP frames;
 * the skb path (tc_pod) uses the kernel's checksum helpers, which know
 * about CHECKSUM_PARTIAL.
 */
#ifndef XVR_LIB_NAT_H
#define XVR_LIB_NAT_H

#include <linux/tcp.h>

#include "vxlan.h"

/* <linux/icmp.h> drags in libc headers; only the echo layout is needed. */
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct icmp_echo_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 id;
	__be16 sequence;
};

static __always_inline __u16 csum_replace32(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (~from & 0xffff) + (~from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 csum_replace16(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from;
	sum += to;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline int ip_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(0x1fff | 0x2000)) != 0;
}

/* Where the translatable fields of the L4 header are. */
struct nat_l4 {
	__be16 *sport;    /* TCP/UDP source port, ICMP echo identifier */
	__be16 *dport;    /* TCP/UDP destination port; 0 for ICMP */
	__u16 *check;     /* L4 checksum; 0 for SCTP (CRC32c, no pseudo-header) */
	int pseudo;       /* checksum covers the IP addresses (TCP, UDP) */
	int udp;          /* a UDP checksum of 0 means "none" */
};

/* Finds the L4 fields of an unfragmented TCP, UDP or ICMP echo (request when
 * `echo_type` is ICMP_ECHO, reply when ICMP_ECHOREPLY) packet with a 20-byte
 * IPv4 header. Returns 0, or -1 when the packet cannot be translated. */
static __always_inline int nat_l4_fields(struct iphdr *ip, void *data_end, __u8 echo_type,
					 struct nat_l4 *l4)
{
	void *p = (void *)(ip + 1);

	if (ip->ihl != 5 || ip_is_fragment(ip))
		return -1;
	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *th = p;

		if ((void *)(th + 1) > data_end)
			return -1;
		*l4 = (struct nat_l4){ &th->source, &th->dest, &th->check, 1, 0 };
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = p;

		if ((void *)(uh + 1) > data_end)
			return -1;
		*l4 = (struct nat_l4){ &uh->source, &uh->dest, &uh->check, 1, 1 };
		return 0;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo_hdr *ih = p;

		if ((void *)(ih + 1) > data_end || ih->type != echo_type)
			return -1;
		*l4 = (struct nat_l4){ &ih->id, 0, &ih->checksum, 0, 0 };
		return 0;
	}
	}
	return -1;
}

/* Rewrites one address (+ port) of the packet, fixing both checksums. */
static __always_inline void nat_rewrite(struct iphdr *ip, __be32 *addr, __be32 to_addr,
					const struct nat_l4 *l4, __be16 *port, __be16 to_port)
{
	__be32 from_addr = *addr;
	__be16 from_port = *port;
	__u16 c;

	ip->check = csum_replace32(ip->check, from_addr, to_addr);
	*addr = to_addr;
	if (!l4->check) {  /* SCTP: CRC32c without pseudo-header, port unchanged */
		*port = to_port;
		return;
	}
	if (l4->udp && *l4->check == 0) {
		*port = to_port;  /* no UDP checksum to keep */
		return;
	}
	c = *l4->check;
	if (l4->pseudo)
		c = csum_replace32(c, from_addr, to_addr);
	c = csum_replace16(c, from_port, to_port);
	if (l4->udp && c == 0)
		c = 0xffff;
	*l4->check = c;
	*port = to_port;
}

static __always_inline int in_prefix(__be32 addr, __be32 net, __u32 len)
{
	__u32 mask = len ? bpf_htonl(~0U << (32 - len)) : 0;

	return len && (addr & mask) == (net & mask);
}

/* The pod's tuple as it leaves → the translated source (allocating a port
 * on first use). Returns 0 and fills *out, or a negative drop reason. */
static __always_inline int snat_lookup_or_alloc(const struct xvr_node_cfg *cfg,
						const struct xvr_nat_key *fwd,
						struct xvr_nat_val *out)
{
	const struct xvr_nat_val *v = bpf_map_lookup_elem(&xvr_snat, fwd);
	struct xvr_nat_val orig = { .addr = fwd->saddr, .port = fwd->sport };
	struct xvr_nat_key rev = {
		.saddr = fwd->daddr, .daddr = cfg->node_ip, .sport = fwd->dport, .proto = fwd->proto,
	};
	__u32 h = fwd->saddr ^ fwd->daddr ^ ((__u32)fwd->sport << 16 | fwd->dport) ^ fwd->proto;

	if (v) {
		const struct xvr_nat_val *lock;

		*out = *v;
		if (!v->addr)  /* an outside client's flow: nothing to lock */
			return 0;
		/* Both tables are LRU: the port's lock may have been evicted.
		 * Take it again, or allocate anew if another flow has it. */
		rev.dport = v->port;
		lock = bpf_map_lookup_elem(&xvr_snat_rev, &rev);
		if (lock && lock->addr == orig.addr && lock->port == orig.port)
			return 0;
		if (!lock && bpf_map_update_elem(&xvr_snat_rev, &rev, &orig, BPF_NOEXIST) == 0)
			return 0;
	}
	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	for (int i = 0; i < XVR_NAT_TRIES; i++) {
		__u16 port = XVR_NAT_PORT_MIN + (h + i) % XVR_NAT_PORT_COUNT;

		rev.dport = bpf_htons(port);
		/* NOEXIST makes the reverse entry the port's lock: two flows can
		 * never hold the same (destination, port). */
		if (bpf_map_update_elem(&xvr_snat_rev, &rev, &orig, BPF_NOEXIST) == 0) {
			out->addr = cfg->node_ip;
			out->port = rev.dport;
			out->pad = 0;
			if (bpf_map_update_elem(&xvr_snat, fwd, out, BPF_ANY) != 0) {
				bpf_map_delete_elem(&xvr_snat_rev, &rev);
				return -XVR_R_NAT_NO_PORT;
			}
			return 0;
		}
	}
	return -XVR_R_NAT_NO_PORT;
}

#if defined(XVR_CTX_SKB)
/* skb version of nat_rewrite: the checksum helpers know about
 * CHECKSUM_PARTIAL (pods in tc mode keep their offloads, the host's own
 * packets are partial too), direct writes would not. Rewrites the source
 * (dst = 0) or the destination (dst = 1) address and port. Offsets assume a
 * 20-byte IPv4 header behind an Ethernet header (the callers checked it).
 * SCTP's CRC32c has no pseudo-header: only the port would need it, and
 * callers never change an SCTP port. Every packet pointer is invalid after. */
static __always_inline int nat_rewrite_skb(struct __sk_buff *skb, __u8 proto, int dst,
					   __be32 from_addr, __be32 to_addr, __be16 from_port,
					   __be16 to_port)
{
	const __u32 l3 = sizeof(struct ethhdr);
	const __u32 l4 = l3 + sizeof(struct iphdr);
	const __u32 addr_off = l3 + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 check_off = 0, port_off, flags = 0;

	switch (proto) {
	case IPPROTO_TCP:
		check_off = l4 + offsetof(struct tcphdr, check);
		port_off = l4 + (dst ? offsetof(struct tcphdr, dest) : offsetof(struct tcphdr, source));
		break;
	case IPPROTO_UDP:
		check_off = l4 + offsetof(struct udphdr, check);
		port_off = l4 + (dst ? offsetof(struct udphdr, dest) : offsetof(struct udphdr, source));
		flags = BPF_F_MARK_MANGLED_0;  /* a UDP checksum of 0 stays "none" */
		break;
	case IPPROTO_SCTP:
		port_off = l4 + (dst ? 2 : 0);
		break;
	default:  /* ICMP echo: no pseudo-header, the identifier is the port */
		check_off = l4 + offsetof(struct icmp_echo_hdr, checksum);
		port_off = l4 + offsetof(struct icmp_echo_hdr, id);
		break;
	}
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
	    bpf_l4_csum_replace(skb, check_off, from_addr, to_addr, flags | BPF_F_PSEUDO_HDR | 4))
		return -XVR_R_NAT_UNSUPPORTED;
	if (check_off && from_port != to_port &&
	    bpf_l4_csum_replace(skb, check_off, from_port, to_port, flags | 2))
		return -XVR_R_NAT_UNSUPPORTED;
	if (bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), from_addr, to_addr, 4) ||
	    bpf_skb_store_bytes(skb, addr_off, &to_addr, 4, 0) ||
	    bpf_skb_store_bytes(skb, port_off, &to_port, 2, 0))
		return -XVR_R_NAT_UNSUPPORTED;
	return 0;
}

static __always_inline int snat_rewrite_skb(struct __sk_buff *skb, __u8 proto, __be32 from_addr,
					    __be32 to_addr, __be16 from_port, __be16 to_port)
{
	return nat_rewrite_skb(skb, proto, 0, from_addr, to_addr, from_port, to_port);
}
#endif

/* Pod → outside the cluster, out of the fabric NIC. */
static __always_inline int pod_leave_cluster(struct xvr_ctx *ctx, const struct xvr_node_cfg *cfg,
					     struct iphdr *ip, int translated)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	struct ethhdr *eth = data;
	struct xvr_route_key key = { .prefixlen = 32, .addr = ip->daddr };
	const struct xvr_route *rt;
	const struct xvr_neigh *nb;
	__u8 dmac[XVR_ETH_ALEN];
	struct nat_l4 l4;
	__be32 nh;

	if (!cfg->fabric_ifindex)  /* single node: the kernel's business */
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_ROUTE);
	if ((void *)(eth + 1) > data_end)
		return -XVR_R_TRUNC_ETH;
	rt = bpf_map_lookup_elem(&xvr_routes, &key);
	if (!rt || rt->type != XVR_RT_KERNEL || rt->ifindex != cfg->fabric_ifindex)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_EGRESS);
	nh = rt->nexthop ? rt->nexthop : ip->daddr;
	nb = bpf_map_lookup_elem(&xvr_neigh, &nh);
	if (!nb)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_NEIGH);
	if (ip->ttl <= 1)
		return -XVR_R_TTL_EXCEEDED;
	mac_copy(dmac, nb->mac);

	/* A service reply already carries the frontend (node IP : nodePort or
	 * externalIP) as its source: no NAPT on top. */
	if ((cfg->flags & XVR_CFG_F_MASQUERADE) && !translated &&
	    !in_prefix(ip->daddr, cfg->cluster_cidr, cfg->cluster_prefixlen)) {
		if (nat_l4_fields(ip, data_end, ICMP_ECHO, &l4) == 0) {
			struct xvr_nat_key fwd = {
				.saddr = ip->saddr, .daddr = ip->daddr, .sport = *l4.sport,
				.dport = l4.dport ? *l4.dport : 0, .proto = ip->protocol,
			};
			struct xvr_nat_val to;
			int ret = snat_lookup_or_alloc(cfg, &fwd, &to);

			if (ret < 0)
				return ret;
			if (to.addr) {  /* 0: a reply to a flow an outside client opened */
#if defined(XVR_CTX_XDP)
				nat_rewrite(ip, &ip->saddr, to.addr, &l4, l4.sport, to.port);
#else
				ret = snat_rewrite_skb(ctx, fwd.proto, fwd.saddr, to.addr, fwd.sport,
						       to.port);
				if (ret < 0)
					return ret;
				/* The helpers invalidated every packet pointer. */
				data = ctx_data(ctx);
				data_end = ctx_data_end(ctx);
				eth = data;
				ip = (void *)(eth + 1);
				if ((void *)(ip + 1) > data_end)
					return -XVR_R_TRUNC_IP;
#endif
			}
		} else if (ip->protocol != IPPROTO_ICMP || ip_is_fragment(ip) ||
			   (void *)((struct icmp_echo_hdr *)(ip + 1) + 1) > data_end ||
			   ((struct icmp_echo_hdr *)(ip + 1))->type == ICMP_ECHO) {
			/* Fragments, other protocols and truncated ICMP cannot be
			 * given a port; they must not leave with the pod's IP. */
			return -XVR_R_NAT_UNSUPPORTED;
		}
		/* ICMP other than echo requests (replies to outside pings, errors)
		 * leaves as it is. */
	}
	ipv4_dec_ttl(ip);
	mac_copy(eth->h_dest, dmac);
	mac_copy(eth->h_source, cfg->fabric_mac);
	if (ctx_redirect_out(ctx, cfg->fabric_ifindex) < 0)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Services in the data path: the kube-proxy replacement.
 *
 * Forward: a packet to a frontend (ClusterIP, NodePort, externalIP) gets its
 * destination rewritten to a backend chosen by, in order, the connection's
 * existing entry in xvr_svc_ct (established flows keep their backend when
 * the endpoints change), sessionAffinity, and the frontend's Maglev table.
 * The client's address is rewritten too (SNAT to the node's gateway IP) only
 * where the reply would otherwise not come back through this node: a pod
 * reaching itself through its service (hairpin) and NodePort/externalIP
 * traffic sent on to another node's backend.
 *
 * Reverse: every packet leaving a pod and every packet decapsulated for this
 * node is looked up in xvr_svc_rev, keyed by the reply's tuple as the backend
 * sends it; a hit puts the frontend back as the source (and the client back
 * as the destination after SNAT). ICMP errors about a translated packet get
 * their outer and embedded headers translated the same way.
 *
 * No endpoints: TCP gets a RST, UDP and SCTP an ICMP port unreachable, built
 * here and sent straight back; the client fails at once instead of timing
 * out (kube-proxy's REJECT rule).
 *
 * Functions return SVC_* (>= 0) or a negative drop reason. In TC programs
 * every packet pointer is stale after a translation; callers re-read them.
 */
#ifndef XVR_LIB_SVC_H
#define XVR_LIB_SVC_H

#include "nat.h"

#define SVC_NONE 0      /* not a service packet, untouched */
#define SVC_XLATED 1    /* translated; route it by its new destination */
#define SVC_REJECTED 2  /* replaced by a RST / ICMP error addressed to the sender */

#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

struct icmp_err_hdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u32 unused;
};

/* The L4 fields a service translates: TCP, UDP and SCTP ports. */
static __always_inline int svc_l4_fields(struct iphdr *ip, void *data_end, struct nat_l4 *l4)
{
	__be16 *ports = (void *)(ip + 1);

	if (ip->ihl != 5 || ip_is_fragment(ip))
		return -1;
	switch (ip->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		return nat_l4_fields(ip, data_end, ICMP_ECHO, l4);
	case IPPROTO_SCTP:
		if ((void *)(ports + 2) > data_end)
			return -1;
		*l4 = (struct nat_l4){ &ports[0], &ports[1], 0, 0, 0 };
		return 0;
	}
	return -1;
}

/* The IPv4 header behind the Ethernet header, bounds re-checked: TC helpers
 * invalidate packet pointers. */
static __always_inline struct iphdr *ctx_ipv4(struct xvr_ctx *ctx)
{
	struct iphdr *ip = ctx_data(ctx) + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > ctx_data_end(ctx))
		return 0;
	return ip;
}

/* Rewrites destination (dst = 1) or source address and port of the packet
 * at ctx's first IPv4 header. *ipp is refreshed. */
static __always_inline int svc_rewrite(struct xvr_ctx *ctx, struct iphdr **ipp, int dst,
				       __be32 to_addr, __be16 to_port)
{
	struct iphdr *ip = *ipp;
	struct nat_l4 l4;

	if (svc_l4_fields(ip, ctx_data_end(ctx), &l4) < 0)
		return -XVR_R_SVC_UNSUPPORTED;
#if defined(XVR_CTX_XDP)
	nat_rewrite(ip, dst ? &ip->daddr : &ip->saddr, to_addr, &l4, dst ? l4.dport : l4.sport,
		    to_port);
	return 0;
#else
	int ret = nat_rewrite_skb(ctx, ip->protocol, dst, dst ? ip->daddr : ip->saddr, to_addr,
				  dst ? *l4.dport : *l4.sport, to_port);

	if (ret < 0)
		return -XVR_R_SVC_UNSUPPORTED;
	*ipp = ctx_ipv4(ctx);
	return *ipp ? 0 : -XVR_R_TRUNC_IP;
#endif
}

/* Rewrites one side (dst = 1: destination) and, when `other`, the other
 * side too. Returns SVC_XLATED or a drop reason. */
static __always_inline int svc_rewrite_both(struct xvr_ctx *ctx, struct iphdr **ipp, int dst,
					    __be32 addr, __be16 port, int other,
					    __be32 other_addr, __be16 other_port)
{
	int ret = svc_rewrite(ctx, ipp, dst, addr, port);

	if (ret < 0)
		return ret;
	if (other) {
		ret = svc_rewrite(ctx, ipp, !dst, other_addr, other_port);
		if (ret < 0)
			return ret;
	}
	return SVC_XLATED;
}

static __always_inline __u32 svc_hash(__be32 saddr, __be16 sport, __u8 proto)
{
	__u32 h = saddr ^ ((__u32)sport << 16) ^ proto;

	h ^= h >> 16;
	h *= 0x7feb352d;
	h ^= h >> 15;
	h *= 0x846ca68b;
	h ^= h >> 16;
	return h;
}

/* ---- Reverse ------------------------------------------------------------ */

/* A reverse entry belongs to a live translation only while the forward
 * entry it was made with still sends the client to this backend. Both are
 * LRU entries without an idle timeout (flows with timeouts come later), so
 * a pair can outlive its connection; without this check the replies of a
 * later connection straight to the backend from the same client port would
 * be rewritten to come from the frontend. */
static __always_inline int svc_rev_live(const struct xvr_nat_key *reply,
					const struct xvr_svc_rev *rev)
{
	struct xvr_nat_key fk = {
		.saddr = rev->caddr, .daddr = rev->vaddr, .sport = rev->cport, .dport = rev->vport,
		.proto = reply->proto,
	};
	const struct xvr_svc_ct *ct = bpf_map_lookup_elem(&xvr_svc_ct, &fk);

	return ct && ct->daddr == reply->saddr && ct->dport == reply->sport &&
	       ct->saddr == reply->daddr && ct->sport == reply->dport;
}

/* A client opening a connection (TCP SYN, or UDP) straight to an address
 * and port that an old service translation of its own tuple pointed at:
 * that translation is over, forget it so the new connection's replies are
 * left alone. */
static __always_inline void svc_forget_stale(struct iphdr *ip, void *data_end)
{
	struct tcphdr *th = (void *)(ip + 1);
	struct nat_l4 l4;

	if (svc_l4_fields(ip, data_end, &l4) < 0)
		return;
	if (ip->protocol == IPPROTO_TCP && (!th->syn || th->ack))
		return;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return;
	struct xvr_nat_key reply = {
		.saddr = ip->daddr, .daddr = ip->saddr, .sport = *l4.dport, .dport = *l4.sport,
		.proto = ip->protocol,
	};
	const struct xvr_svc_rev *rev = bpf_map_lookup_elem(&xvr_svc_rev, &reply);

	if (rev) {
		struct xvr_nat_key fk = {
			.saddr = rev->caddr, .daddr = rev->vaddr, .sport = rev->cport,
			.dport = rev->vport, .proto = reply.proto,
		};

		bpf_map_delete_elem(&xvr_svc_ct, &fk);
		bpf_map_delete_elem(&xvr_svc_rev, &reply);
	}
}

/* An ICMP error whose embedded packet is one the service path translated on
 * its way to a backend: translate the embedded header back, and the outer
 * addresses where they are the backend / the SNAT address. Direct writes:
 * ICMP errors carry complete checksums in both hooks. */
struct svc_icmp_err {
	struct icmp_err_hdr icmp;
	struct iphdr ip;
	__be16 sport;
	__be16 dport;
} __attribute__((packed));

static __always_inline int svc_reply_icmp(struct xvr_ctx *ctx, struct iphdr *ip)
{
	void *data_end = ctx_data_end(ctx);
	struct svc_icmp_err *e = (void *)(ip + 1);
	const struct xvr_svc_rev *rev;
	struct xvr_nat_key key = {};
	__u16 c;

	if ((void *)(e + 1) > data_end)
		return SVC_NONE;
	if (e->icmp.type != ICMP_DEST_UNREACH && e->icmp.type != ICMP_TIME_EXCEEDED &&
	    e->icmp.type != ICMP_PARAMETERPROB)
		return SVC_NONE;
	if (e->ip.ihl != 5 || (e->ip.protocol != IPPROTO_TCP && e->ip.protocol != IPPROTO_UDP &&
			       e->ip.protocol != IPPROTO_SCTP))
		return SVC_NONE;
	/* The embedded packet went client → backend; its reply tuple is the
	 * reverse entry's key. */
	key.saddr = e->ip.daddr;
	key.daddr = e->ip.saddr;
	key.sport = e->dport;
	key.dport = e->sport;
	key.proto = e->ip.protocol;
	rev = bpf_map_lookup_elem(&xvr_svc_rev, &key);
	if (!rev || !svc_rev_live(&key, rev))
		return SVC_NONE;

	c = e->icmp.checksum;
	/* Embedded destination: backend → frontend. The embedded IP checksum
	 * changes too, and the ICMP checksum covers all of it. */
	{
		__u16 old_check = e->ip.check;

		e->ip.check = csum_replace32(e->ip.check, e->ip.daddr, rev->vaddr);
		c = csum_replace32(c, e->ip.daddr, rev->vaddr);
		c = csum_replace16(c, old_check, e->ip.check);
		c = csum_replace16(c, e->dport, rev->vport);
		e->ip.daddr = rev->vaddr;
		e->dport = rev->vport;
	}
	if (rev->flags & XVR_CT_F_SNAT) {
		__u16 old_check = e->ip.check;

		e->ip.check = csum_replace32(e->ip.check, e->ip.saddr, rev->caddr);
		c = csum_replace32(c, e->ip.saddr, rev->caddr);
		c = csum_replace16(c, old_check, e->ip.check);
		c = csum_replace16(c, e->sport, rev->cport);
		e->ip.saddr = rev->caddr;
		e->sport = rev->cport;
		ip->check = csum_replace32(ip->check, ip->daddr, rev->caddr);
		ip->daddr = rev->caddr;
	}
	e->icmp.checksum = c;
	/* The embedded UDP checksum (inside the 8 bytes) is stale now; the
	 * receiver does not verify it (RFC 1122 leaves it to the transport,
	 * which only matches ports). */
	if (ip->saddr == key.saddr) {  /* the backend itself reports */
		ip->check = csum_replace32(ip->check, ip->saddr, rev->vaddr);
		ip->saddr = rev->vaddr;
	}
	return SVC_XLATED;
}

/* A reply of a translated connection: backend → client becomes frontend →
 * client. */
static __always_inline int svc_reply(struct xvr_ctx *ctx, struct iphdr **ipp)
{
	struct iphdr *ip = *ipp;
	const struct xvr_svc_rev *rev;
	struct xvr_svc_rev r;
	struct nat_l4 l4;

	if (ip->protocol == IPPROTO_ICMP)
		return ip->ihl == 5 && !ip_is_fragment(ip) ? svc_reply_icmp(ctx, ip) : SVC_NONE;
	if (svc_l4_fields(ip, ctx_data_end(ctx), &l4) < 0)
		return SVC_NONE;
	struct xvr_nat_key key = {
		.saddr = ip->saddr, .daddr = ip->daddr, .sport = *l4.sport, .dport = *l4.dport,
		.proto = ip->protocol,
	};
	rev = bpf_map_lookup_elem(&xvr_svc_rev, &key);
	if (!rev || !svc_rev_live(&key, rev))
		return SVC_NONE;
	r = *rev;
	/* Source back to the frontend; the destination back to the client
	 * only when it was SNATed. */
	return svc_rewrite_both(ctx, ipp, 0, r.vaddr, r.vport, r.flags & XVR_CT_F_SNAT, r.caddr,
				r.cport);
}

/* ---- Reject --------------------------------------------------------------- */

/* The packets built on the stack; `pad` puts the IPv4 header on a 4-byte
 * boundary. Loaded and stored from &eth. */
struct svc_rst_pkt {
	__u16 pad;
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
};
_Static_assert(sizeof(struct svc_rst_pkt) == 2 + 54, "RST layout");
#define SVC_RST_LEN 54

struct svc_unreach_pkt {
	__u16 pad;
	struct ethhdr eth;
	struct iphdr ip;
	struct icmp_err_hdr icmp;
	struct iphdr orig_ip;
	__u8 orig_l4[8];
};
_Static_assert(sizeof(struct svc_unreach_pkt) == 2 + 70, "port unreachable layout");
#define SVC_UNREACH_LEN 70

struct svc_pseudo {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

static __always_inline int ctx_set_len(struct xvr_ctx *ctx, __u32 len)
{
#if defined(XVR_CTX_XDP)
	int delta = (int)len - (int)ctx_full_len(ctx);

	/* Grow at the head: XDP guarantees headroom (veth frames built from
	 * an skb may have no tailroom at all); the caller rewrites every byte. */
	if (delta > 0)
		return bpf_xdp_adjust_head(ctx, -delta);
	return delta ? bpf_xdp_adjust_tail(ctx, delta) : 0;
#else
	return bpf_skb_change_tail(ctx, len, 0);
#endif
}

static __always_inline int ctx_store(struct xvr_ctx *ctx, void *from, __u32 len)
{
#if defined(XVR_CTX_XDP)
	return bpf_xdp_store_bytes(ctx, 0, from, len);
#else
	return bpf_skb_store_bytes(ctx, 0, from, len, 0);
#endif
}

static __always_inline void svc_reply_ip(struct iphdr *out, const struct iphdr *in, __u8 proto,
					 __u16 len)
{
	__be32 client = in->saddr, frontend = in->daddr;  /* in may be out */

	out->version = 4;
	out->ihl = 5;
	out->tos = 0;
	out->tot_len = bpf_htons(len);
	out->id = 0;
	out->frag_off = bpf_htons(0x4000); /* DF */
	out->ttl = 64;
	out->protocol = proto;
	out->check = 0;
	out->saddr = frontend;  /* from the frontend the client addressed */
	out->daddr = client;
	out->check = ipv4_csum(out);
}

/* Turns the packet into a RST (TCP) or an ICMP port unreachable (UDP,
 * SCTP) from the frontend to the sender, Ethernet addresses swapped. The
 * caller sends it back where the packet came from. A RST is never answered
 * (RFC 793). */
static __always_inline int svc_reject(struct xvr_ctx *ctx, struct iphdr *ip)
{
	if (ip->protocol == IPPROTO_TCP) {
		struct svc_rst_pkt p;
		struct svc_pseudo ph;
		__u32 plen, seg, sum;

		if (ctx_load_bytes(ctx, 0, &p.eth, SVC_RST_LEN) < 0 || p.tcp.rst)
			return -XVR_R_SVC_NO_ENDPOINTS;
		plen = bpf_ntohs(p.ip.tot_len);
		seg = plen > 20u + p.tcp.doff * 4u ? plen - 20u - p.tcp.doff * 4u : 0;
		seg += p.tcp.syn + p.tcp.fin;
		{
			__u8 mac[XVR_ETH_ALEN];

			mac_copy(mac, p.eth.h_dest);
			mac_copy(p.eth.h_dest, p.eth.h_source);
			mac_copy(p.eth.h_source, mac);
		}
		svc_reply_ip(&p.ip, &p.ip, IPPROTO_TCP, SVC_RST_LEN - sizeof(p.eth));
		{
			__be16 sport = p.tcp.source, dport = p.tcp.dest;
			__be32 seq = p.tcp.seq, ack = p.tcp.ack_seq;
			int had_ack = p.tcp.ack;

			__builtin_memset(&p.tcp, 0, sizeof(p.tcp));
			p.tcp.source = dport;
			p.tcp.dest = sport;
			p.tcp.doff = 5;
			p.tcp.rst = 1;
			if (had_ack) {
				p.tcp.seq = ack;
			} else {
				p.tcp.ack = 1;
				p.tcp.ack_seq = bpf_htonl(bpf_ntohl(seq) + seg);
			}
		}
		ph = (struct svc_pseudo){ p.ip.saddr, p.ip.daddr, 0, IPPROTO_TCP,
					  bpf_htons(sizeof(p.tcp)) };
		sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
		sum = bpf_csum_diff(0, 0, (__be32 *)&p.tcp, sizeof(p.tcp), sum);
		p.tcp.check = csum_fold32(sum);
		if (ctx_set_len(ctx, SVC_RST_LEN) < 0 || ctx_store(ctx, &p.eth, SVC_RST_LEN) < 0)
			return -XVR_R_SVC_NO_ENDPOINTS;
		return SVC_REJECTED;
	} else {
		struct svc_unreach_pkt p;
		__u32 sum;

		if (ctx_load_bytes(ctx, 0, &p.eth, sizeof(p.eth)) < 0 ||
		    ctx_load_bytes(ctx, sizeof(p.eth), &p.orig_ip, sizeof(p.orig_ip) + 8) < 0)
			return -XVR_R_SVC_NO_ENDPOINTS;
		{
			__u8 mac[XVR_ETH_ALEN];

			mac_copy(mac, p.eth.h_dest);
			mac_copy(p.eth.h_dest, p.eth.h_source);
			mac_copy(p.eth.h_source, mac);
		}
		svc_reply_ip(&p.ip, &p.orig_ip, IPPROTO_ICMP, SVC_UNREACH_LEN - sizeof(p.eth));
		p.icmp = (struct icmp_err_hdr){ ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, 0 };
		sum = bpf_csum_diff(0, 0, (__be32 *)&p.icmp,
				    sizeof(p.icmp) + sizeof(p.orig_ip) + sizeof(p.orig_l4), 0);
		p.icmp.checksum = csum_fold32(sum);
		if (ctx_set_len(ctx, SVC_UNREACH_LEN) < 0 ||
		    ctx_store(ctx, &p.eth, SVC_UNREACH_LEN) < 0)
			return -XVR_R_SVC_NO_ENDPOINTS;
		return SVC_REJECTED;
	}
}

/* ---- Forward ---------------------------------------------------------------- */

static __always_inline const struct xvr_backend *svc_backend(__u32 id)
{
	return id ? bpf_map_lookup_elem(&xvr_backends, &id) : 0;
}

/* Picks the backend of a new connection: affinity, then Maglev. */
static __always_inline __u32 svc_select(const struct xvr_svc *svc, __be32 saddr, __be16 sport,
					__u8 proto)
{
	__u32 slot, *id;
	void *table;

	if (svc->flags & XVR_SVC_F_AFFINITY) {
		struct xvr_aff_key ak = { .client = saddr, .table = svc->table };
		const struct xvr_aff_val *av = bpf_map_lookup_elem(&xvr_svc_aff, &ak);

		if (av && bpf_ktime_get_ns() - av->last_ns <
				  (__u64)svc->affinity_timeout * 1000000000ull &&
		    svc_backend(av->backend_id))
			return av->backend_id;
	}
	if (!svc->maglev_size)
		return 0;
	table = bpf_map_lookup_elem(&xvr_maglev, &svc->table);
	if (!table)
		return 0;
	slot = svc_hash(saddr, sport, proto) % svc->maglev_size;
	id = bpf_map_lookup_elem(table, &slot);
	return id ? *id : 0;
}

/* A free source port on the SNAT address for this backend; the reverse
 * entry inserted with NOEXIST is the port's lock. */
static __always_inline int svc_snat_port(struct xvr_nat_key *rk, const struct xvr_svc_rev *val,
					 __u32 h)
{
	for (int i = 0; i < XVR_NAT_TRIES; i++) {
		const struct xvr_svc_rev *held;

		rk->dport = bpf_htons(XVR_NAT_PORT_MIN + (h + i) % XVR_NAT_PORT_COUNT);
		if (bpf_map_update_elem(&xvr_svc_rev, rk, val, BPF_NOEXIST) == 0)
			return 0;
		/* The connection's own lock, left behind when its xvr_svc_ct
		 * entry was evicted (both are LRU): keep the port. */
		held = bpf_map_lookup_elem(&xvr_svc_rev, rk);
		if (held && held->vaddr == val->vaddr && held->caddr == val->caddr &&
		    held->vport == val->vport && held->cport == val->cport &&
		    held->flags == val->flags)
			return 0;
	}
	return -XVR_R_SVC_NAT_NO_PORT;
}

/* Translates a packet addressed to a frontend of `scope`. `from_fabric`:
 * it entered on the fabric NIC (NodePort / externalIP). */
static __always_inline int svc_forward(struct xvr_ctx *ctx, const struct xvr_node_cfg *cfg,
				       struct iphdr **ipp, __u8 scope)
{
	struct iphdr *ip = *ipp;
	const struct xvr_svc *svc;
	const struct xvr_backend *be;
	const struct xvr_svc_ct *ctp;
	struct xvr_svc_ct ct = {};
	struct nat_l4 l4;
	__u32 id = 0;
	int ret;

	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP &&
	    ip->protocol != IPPROTO_SCTP)
		return SVC_NONE;
	{
		__be16 *ports = (void *)(ip + 1);
		struct xvr_svc_key sk = { .addr = ip->daddr, .proto = ip->protocol, .scope = scope };

		if (ip_is_fragment(ip)) {
			/* Later fragments have no ports; a first fragment's ports
			 * would be translated without the rest. Only ask whether
			 * the address is a frontend at all, cheaply. */
			return SVC_NONE;
		}
		if ((void *)(ports + 2) > ctx_data_end(ctx))
			return SVC_NONE;
		sk.port = ports[1];
		svc = bpf_map_lookup_elem(&xvr_svc, &sk);
		if (!svc && scope == XVR_SVC_SCOPE_EXTERNAL && ip->daddr == cfg->node_ip) {
			sk.addr = 0;  /* NodePort: any of the node's addresses */
			svc = bpf_map_lookup_elem(&xvr_svc, &sk);
		}
		if (!svc) {
			if (scope == XVR_SVC_SCOPE_INTERNAL)
				svc_forget_stale(ip, ctx_data_end(ctx));
			return SVC_NONE;
		}
	}
	if (svc_l4_fields(ip, ctx_data_end(ctx), &l4) < 0)
		return -XVR_R_SVC_UNSUPPORTED;

	struct xvr_nat_key fk = {
		.saddr = ip->saddr, .daddr = ip->daddr, .sport = *l4.sport, .dport = *l4.dport,
		.proto = ip->protocol,
	};
	ctp = bpf_map_lookup_elem(&xvr_svc_ct, &fk);
	if (ctp) {
		be = svc_backend(ctp->backend_id);
		if (be && be->addr == ctp->daddr && be->port == ctp->dport) {
			struct xvr_nat_key rk = {
				.saddr = ctp->daddr, .daddr = ctp->saddr, .sport = ctp->dport,
				.dport = ctp->sport, .proto = fk.proto,
			};
			struct xvr_svc_rev rv = {
				.vaddr = fk.daddr, .caddr = fk.saddr, .vport = fk.dport,
				.cport = fk.sport, .flags = ctp->flags,
			};
			const struct xvr_svc_rev *cur;

			ct = *ctp;
			/* Both maps are LRU: the reverse entry may have been
			 * evicted while the forward one lived. Put it back, unless
			 * another connection took the SNAT port meanwhile. */
			if (bpf_map_update_elem(&xvr_svc_rev, &rk, &rv, BPF_NOEXIST) == 0)
				goto translate;
			cur = bpf_map_lookup_elem(&xvr_svc_rev, &rk);
			if (cur && cur->vaddr == rv.vaddr && cur->caddr == rv.caddr &&
			    cur->vport == rv.vport && cur->cport == rv.cport)
				goto translate;
			/* Port taken by another flow: choose afresh below. */
		}
	}
	if (!svc->count) {
		if (svc->flags & XVR_SVC_F_EMPTY_DROP)
			return -XVR_R_SVC_NO_LOCAL_ENDPOINTS;
		return svc_reject(ctx, ip);
	}
	id = svc_select(svc, fk.saddr, fk.sport, fk.proto);
	be = svc_backend(id);
	if (!be)
		return -XVR_R_SVC_NO_BACKEND;
	if (fk.proto == IPPROTO_SCTP && be->port != fk.dport)
		return -XVR_R_SVC_UNSUPPORTED;  /* CRC32c covers the ports */
	if (svc->flags & XVR_SVC_F_AFFINITY) {
		struct xvr_aff_key ak = { .client = fk.saddr, .table = svc->table };
		struct xvr_aff_val av = { .last_ns = bpf_ktime_get_ns(), .backend_id = id };

		bpf_map_update_elem(&xvr_svc_aff, &ak, &av, BPF_ANY);
	}
	ct.backend_id = id;
	ct.daddr = be->addr;
	ct.dport = be->port;
	ct.saddr = fk.saddr;
	ct.sport = fk.sport;
	ct.table = svc->table;
	if (scope == XVR_SVC_SCOPE_EXTERNAL)
		ct.flags |= XVR_CT_F_EXTERNAL;
	{
		struct xvr_svc_rev rv = {
			.vaddr = fk.daddr, .caddr = fk.saddr, .vport = fk.dport, .cport = fk.sport,
		};
		struct xvr_nat_key rk = {
			.saddr = be->addr, .daddr = fk.saddr, .sport = be->port, .dport = fk.sport,
			.proto = fk.proto,
		};
		/* SNAT where the reply would otherwise bypass this node: a pod
		 * reaching itself (its kernel would see its own address as the
		 * source), and outside clients sent on to another node. */
		int snat = be->addr == fk.saddr ||
			   (scope == XVR_SVC_SCOPE_EXTERNAL && !(be->flags & XVR_BE_F_LOCAL) &&
			    !(svc->flags & XVR_SVC_F_KEEP_SRC));

		if (snat) {
			if (fk.proto == IPPROTO_SCTP)
				return -XVR_R_SVC_UNSUPPORTED;
			rv.flags = XVR_CT_F_SNAT | ct.flags;
			rk.daddr = cfg->gateway_ip;
			ret = svc_snat_port(&rk, &rv, svc_hash(fk.saddr ^ fk.daddr, fk.sport, fk.proto));
			if (ret < 0)
				return ret;
			ct.flags |= XVR_CT_F_SNAT;
			ct.saddr = rk.daddr;
			ct.sport = rk.dport;
		} else {
			rv.flags = ct.flags;
			bpf_map_update_elem(&xvr_svc_rev, &rk, &rv, BPF_ANY);
		}
	}
	bpf_map_update_elem(&xvr_svc_ct, &fk, &ct, BPF_ANY);

translate:
	return svc_rewrite_both(ctx, ipp, 1, ct.daddr, ct.dport, ct.flags & XVR_CT_F_SNAT, ct.saddr,
				ct.sport);
}

#endif

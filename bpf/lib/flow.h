/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow table: connection tracking for every connection a pod on this
 * node takes part in (abi.h, "Flows"). Hooks call flow_process() with the
 * tuple between the real endpoints: after a service translated a request
 * (client -> backend), before a reply is translated back (backend ->
 * client), so both directions of a connection meet the same entry pair.
 *
 * Hit (the fast path): one hash lookup, counters, last-seen. TCP SYN, FIN
 * and RST (and the handshake's last ACK) also look up the sibling entry to
 * move the state of both. An entry older than the current policy
 * generation is re-evaluated; if policy now denies it, the pair is deleted
 * and the packet dropped.
 *
 * Miss: policy decides (policy.h); an allowed connection gets its pair,
 * a denied one is dropped and leaves nothing behind. Only connections with
 * a pod of this node at one end are tracked.
 *
 * ICMP errors are matched to the flow of the packet they quote and pass as
 * related; unrelated ones are judged by policy as ICMP.
 */
#ifndef XVR_LIB_FLOW_H
#define XVR_LIB_FLOW_H

#include "metrics.h"
#include "svc.h"
#include "policy.h"

struct flow_pkt {
	struct xvr_flow_key key;  /* the packet's tuple; an ICMP error: the quoted one */
	__be32 saddr;             /* the packet's own addresses */
	__be32 daddr;
	__u8 tcp_flags;
	__u8 icmp_err;
	__u8 valid;
	__u8 pad;
};

static __always_inline void flow_reverse(const struct xvr_flow_key *k, struct xvr_flow_key *r)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
}

static __always_inline void flow_count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&xvr_flow_stats, &slot);

	if (v)
		(*v)++;
}

/* The tuple of the packet at ip. Fragments and packets with IP options are
 * tracked by address pair and protocol (ports 0): later fragments carry no
 * ports. */
static __noinline void flow_parse(struct iphdr *ip, void *data_end, struct flow_pkt *p)
{
	void *l4 = (void *)(ip + 1);

	__builtin_memset(p, 0, sizeof(*p));
	p->key.saddr = p->saddr = ip->saddr;
	p->key.daddr = p->daddr = ip->daddr;
	p->key.proto = ip->protocol;
	p->valid = 1;
	/* IP options move the L4 header; such a packet is judged and tracked
	 * by addresses and protocol (ports 0), like a fragment, so it can't
	 * slip past a policy. */
	if (ip->ihl != 5 || ip_is_fragment(ip))
		return;
	switch (ip->protocol) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			break;
		p->key.sport = th->source;
		p->key.dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP: {
		__be16 *ports = l4;

		if ((void *)(ports + 2) > data_end)
			break;
		p->key.sport = ports[0];
		p->key.dport = ports[1];
		break;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo_hdr *ih = l4;
		struct svc_icmp_err *e = l4;

		if ((void *)(ih + 1) > data_end)
			break;
		if (ih->type == ICMP_ECHO) {
			p->key.sport = ih->id;
		} else if (ih->type == ICMP_ECHOREPLY) {
			p->key.dport = ih->id;
		} else if ((ih->type == ICMP_DEST_UNREACH || ih->type == ICMP_TIME_EXCEEDED ||
			    ih->type == ICMP_PARAMETERPROB) &&
			   (void *)(e + 1) <= data_end && e->ip.ihl == 5 &&
			   (e->ip.protocol == IPPROTO_TCP || e->ip.protocol == IPPROTO_UDP ||
			    e->ip.protocol == IPPROTO_SCTP)) {
			p->icmp_err = 1;
			p->key.saddr = e->ip.saddr;
			p->key.daddr = e->ip.daddr;
			p->key.sport = e->sport;
			p->key.dport = e->dport;
			p->key.proto = e->ip.protocol;
		}
		break;
	}
	}
}

/* The tuple of a packet a service has just translated (TCP, UDP or SCTP,
 * 20-byte header, not a fragment: svc.h checked), read with a helper
 * rather than through packet pointers, which TC rewrites invalidate. */
static __always_inline int flow_parse_xlated(struct xvr_ctx *ctx, struct flow_pkt *p)
{
	struct {
		struct iphdr ip;
		__be16 ports[2];
	} h;
	__u8 fl = 0;

	if (ctx_load_bytes(ctx, sizeof(struct ethhdr), &h, sizeof(h)) < 0)
		return -XVR_R_TRUNC_IP;
	if (h.ip.protocol == IPPROTO_TCP &&
	    ctx_load_bytes(ctx, sizeof(struct ethhdr) + sizeof(struct iphdr) + 13, &fl, 1) < 0)
		return -XVR_R_TRUNC_IP;
	__builtin_memset(p, 0, sizeof(*p));
	p->key.saddr = p->saddr = h.ip.saddr;
	p->key.daddr = p->daddr = h.ip.daddr;
	p->key.sport = h.ports[0];
	p->key.dport = h.ports[1];
	p->key.proto = h.ip.protocol;
	p->tcp_flags = fl;
	p->valid = 1;
	return 0;
}

static __always_inline __u8 flow_initial_state(const struct flow_pkt *p)
{
	__u8 fl = p->tcp_flags;

	if (p->key.proto != IPPROTO_TCP)
		return XVR_FLOW_S_UNREPLIED;
	if (fl & XVR_TCP_RST)
		return XVR_FLOW_S_CLOSED;
	if (fl & XVR_TCP_FIN)
		return XVR_FLOW_S_FIN_WAIT;
	if ((fl & (XVR_TCP_SYN | XVR_TCP_ACK)) == XVR_TCP_SYN)
		return XVR_FLOW_S_SYN_SENT;
	if (fl & XVR_TCP_SYN)
		return XVR_FLOW_S_SYN_RECV;
	return XVR_FLOW_S_ESTABLISHED;  /* picked up mid-stream */
}

/* TCP state after a packet with flags `fl` in the direction of an entry
 * (reply or not) whose sibling has seen `sib_fl`. */
static __always_inline __u8 tcp_next_state(__u8 cur, __u8 fl, __u8 sib_fl, int reply)
{
	if (cur == XVR_FLOW_S_CLOSED)
		return cur;
	if (fl & XVR_TCP_RST)
		return XVR_FLOW_S_CLOSED;
	if (fl & XVR_TCP_FIN)
		return (sib_fl & XVR_TCP_FIN) ? XVR_FLOW_S_CLOSED : XVR_FLOW_S_FIN_WAIT;
	if ((fl & (XVR_TCP_SYN | XVR_TCP_ACK)) == (XVR_TCP_SYN | XVR_TCP_ACK))
		return reply && cur == XVR_FLOW_S_SYN_SENT ? XVR_FLOW_S_SYN_RECV : cur;
	if ((fl & XVR_TCP_ACK) && !reply && cur == XVR_FLOW_S_SYN_RECV)
		return XVR_FLOW_S_ESTABLISHED;
	return cur;
}

static __always_inline void flow_update_state(const struct flow_pkt *p, struct xvr_flow *e)
{
	int reply = e->flags & XVR_FLOW_F_REPLY;
	struct xvr_flow_key rk;
	struct xvr_flow *sib;
	__u8 st;

	if (p->key.proto == IPPROTO_TCP) {
		if (!(p->tcp_flags & (XVR_TCP_SYN | XVR_TCP_FIN | XVR_TCP_RST)) &&
		    !(e->state == XVR_FLOW_S_SYN_RECV && !reply))
			return;  /* data: nothing changes */
		flow_reverse(&p->key, &rk);
		sib = bpf_map_lookup_elem(&xvr_flows, &rk);
		st = tcp_next_state(e->state, p->tcp_flags, sib ? sib->tcp_flags : 0, reply);
	} else {
		if (!reply || e->state != XVR_FLOW_S_UNREPLIED)
			return;
		flow_reverse(&p->key, &rk);
		sib = bpf_map_lookup_elem(&xvr_flows, &rk);
		st = XVR_FLOW_S_REPLIED;
	}
	if (st == e->state)
		return;
	e->state = st;
	if (sib)
		sib->state = st;
}

/* A FLOW_NEW (with the first packet's headers) or FLOW_END event. */
static __always_inline void flow_emit(struct xvr_ctx *ctx, __u32 type, __u32 hook, __u32 reason,
				      const struct xvr_flow_key *k, const struct xvr_flow *f,
				      const struct xvr_flow *rev)
{
	__u32 zero = 0, len = ctx_full_len(ctx);
	const struct xvr_flow_cfg *fc = bpf_map_lookup_elem(&xvr_flow_cfg, &zero);
	struct xvr_ratelimit *rl;
	struct xvr_flow_event *ev;
	__u64 cap = len;

	if (!fc || !(fc->flags & XVR_FLOWCFG_F_EVENTS))
		return;
	rl = event_allowed();
	if (!rl)
		return;
	ev = bpf_ringbuf_reserve(&xvr_events, sizeof(*ev), 0);
	if (!ev) {
		rl->lost++;
		return;
	}
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.type = type;
	ev->hdr.ifindex = ctx_ifindex(ctx);
	ev->hdr.hook = hook;
	ev->hdr.verdict = type == XVR_EVENT_FLOW_END ? XVR_VERDICT_DROP : XVR_VERDICT_PASS;
	ev->hdr.reason = reason;
	ev->hdr.pkt_len = len;
	ev->hdr.cpu = bpf_get_smp_processor_id();
	ev->hdr.cap_len = 0;
	ev->key = *k;
	ev->src_identity = f->src_identity;
	ev->dst_identity = f->dst_identity;
	ev->svc_addr = f->svc_addr;
	ev->svc_port = f->svc_port;
	ev->state = f->state;
	ev->flags = f->flags;
	ev->packets = f->packets;
	ev->bytes = f->bytes;
	ev->rev_packets = rev ? rev->packets : 0;
	ev->rev_bytes = rev ? rev->bytes : 0;
	if (type == XVR_EVENT_FLOW_NEW) {
		if (cap > XVR_FLOW_EVENT_SNAP_LEN)
			cap = XVR_FLOW_EVENT_SNAP_LEN;
		if (cap > 0 && ctx_load_bytes(ctx, 0, ev->data, cap) == 0)
			ev->hdr.cap_len = cap;
	}
	bpf_ringbuf_submit(ev, 0);
}

/* A flow from before the last policy change: judge it again. */
static __always_inline int flow_reevaluate(struct xvr_ctx *ctx, const struct flow_pkt *p,
					   struct xvr_flow *e, __u32 gen, __u32 hook)
{
	struct xvr_flow_key fwd, rev;
	struct xvr_flow f = {};
	const struct xvr_flow *fe, *re;
	int ret;

	if (e->flags & XVR_FLOW_F_REPLY)
		flow_reverse(&p->key, &fwd);
	else
		fwd = p->key;
	flow_count(XVR_FS_REEVALUATED);
	ret = policy_check(&fwd, &f);
	if (ret == 0) {
		e->policy_gen = gen;
		e->src_identity = f.src_identity;
		e->dst_identity = f.dst_identity;
		return 0;
	}
	flow_count(XVR_FS_REEVAL_DENIED);
	flow_reverse(&fwd, &rev);
	fe = bpf_map_lookup_elem(&xvr_flows, &fwd);
	re = bpf_map_lookup_elem(&xvr_flows, &rev);
	if (fe)
		flow_emit(ctx, XVR_EVENT_FLOW_END, hook, XVR_FLOW_END_POLICY, &fwd, fe, re);
	bpf_map_delete_elem(&xvr_flows, &fwd);
	bpf_map_delete_elem(&xvr_flows, &rev);
	return ret;
}

static __always_inline int flow_create(struct xvr_ctx *ctx, const struct flow_pkt *p,
				       __be32 svc_addr, __be16 svc_port, __u32 gen, __u32 hook,
				       __u64 now)
{
	struct xvr_flow f = {};
	struct xvr_flow_key rk;
	int ret;

	ret = policy_check(&p->key, &f);
	if (ret < 0)
		return ret;
	if (!(f.flags & (XVR_FLOW_F_EGRESS | XVR_FLOW_F_INGRESS)))
		return 0;  /* no pod of this node at either end */
	f.created_ns = f.last_ns = now;
	f.packets = 1;
	f.bytes = ctx_full_len(ctx);
	if (svc_addr) {
		f.flags |= XVR_FLOW_F_SVC;
		f.svc_addr = svc_addr;
		f.svc_port = svc_port;
	}
	f.state = flow_initial_state(p);
	f.policy_gen = gen;
	f.ifindex = ctx_ifindex(ctx);
	f.tcp_flags = p->tcp_flags;
	f.hook = hook;
	if (bpf_map_update_elem(&xvr_flows, &p->key, &f, BPF_ANY)) {
		flow_count(XVR_FS_CREATE_FAILED);
		return 0;  /* allowed: forward it untracked */
	}
	flow_count(XVR_FS_CREATED);
	flow_emit(ctx, XVR_EVENT_FLOW_NEW, hook, XVR_R_OK, &p->key, &f, 0);
	flow_reverse(&p->key, &rk);
	f.flags |= XVR_FLOW_F_REPLY;
	f.packets = 0;
	f.bytes = 0;
	f.tcp_flags = 0;
	if (bpf_map_update_elem(&xvr_flows, &rk, &f, BPF_ANY))
		flow_count(XVR_FS_CREATE_FAILED);
	return 0;
}

/* Track the packet described by p; svc_addr/port: the frontend the client
 * addressed, when a service translated this (first) packet. Returns 0 to
 * forward, or -XVR_R_POLICY_* to drop. */
static __always_inline int flow_process(struct xvr_ctx *ctx, const struct flow_pkt *p,
					__be32 svc_addr, __be16 svc_port, __u32 hook)
{
	__u32 zero = 0;
	const struct xvr_flow_cfg *fc = bpf_map_lookup_elem(&xvr_flow_cfg, &zero);
	__u32 gen = fc ? fc->policy_gen : 0;
	__u64 now = bpf_ktime_get_coarse_ns();
	struct xvr_flow *e;
	int ret;

	if (!p->valid)
		return 0;
	e = bpf_map_lookup_elem(&xvr_flows, &p->key);
	if (p->icmp_err) {
		struct xvr_flow_key k = {
			.saddr = p->saddr, .daddr = p->daddr, .proto = IPPROTO_ICMP,
		};
		struct xvr_flow f = {};

		/* Related only when sent to the quoted packet's sender, as
		 * conntrack checks: anyone else quoting a tracked tuple is
		 * judged as plain ICMP, not tracked. */
		if (e && p->daddr == p->key.saddr) {
			flow_count(XVR_FS_RELATED);
			return 0;
		}
		return policy_check(&k, &f);
	}
	if (e) {
		/* A new SYN on a finished connection's tuple starts afresh. */
		if (p->key.proto == IPPROTO_TCP && e->state == XVR_FLOW_S_CLOSED &&
		    (p->tcp_flags & (XVR_TCP_SYN | XVR_TCP_ACK)) == XVR_TCP_SYN) {
			ret = flow_create(ctx, p, svc_addr, svc_port, gen, hook, now);
			if (ret == 0)
				flow_count(XVR_FS_REOPENED);
			return ret;
		}
		if (e->policy_gen != gen) {
			ret = flow_reevaluate(ctx, p, e, gen, hook);
			if (ret < 0)
				return ret;
		}
		if (e->last_ns != now)
			e->last_ns = now;
		__sync_fetch_and_add(&e->packets, 1);
		__sync_fetch_and_add(&e->bytes, ctx_full_len(ctx));
		if ((e->tcp_flags | p->tcp_flags) != e->tcp_flags)
			e->tcp_flags |= p->tcp_flags;
		flow_update_state(p, e);
		return 0;
	}
	return flow_create(ctx, p, svc_addr, svc_port, gen, hook, now);
}

#endif

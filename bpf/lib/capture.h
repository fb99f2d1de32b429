/* SPDX-License-Identifier: Apache-2.0 */
/* Packet capture at the hook (`xvrctl capture`, docs/CAPTURE.md): called by
 * xvr_finish() once the verdict is known, so the record holds the frame as
 * the program leaves it (rewritten, encapsulated or decapsulated) with the
 * hook, verdict and reason, including packets XDP drops or redirects that
 * no tcpdump sees. Off, it costs one array lookup and a branch; the filter
 * and the copy live in a separate BPF function, out of the hot path. */
#ifndef XVR_LIB_CAPTURE_H
#define XVR_LIB_CAPTURE_H

#include "ctx.h"

struct cap_l3 {
	struct ethhdr eth;
	struct iphdr ip;
} __attribute__((packed));

/* Is ip the source or destination of the IPv4 header at off (behind an
 * Ethernet header)? *ihl gets the IPv4 header length, *proto the protocol. */
static __always_inline int cap_ip_at(struct xvr_ctx *ctx, __u32 off, __be32 ip, __u32 *ihl,
				     __u8 *proto)
{
	struct cap_l3 h;

	if (ctx_load_bytes(ctx, off, &h, sizeof(h)) != 0)
		return 0;
	if (h.eth.h_proto != bpf_htons(ETH_P_IP) || h.ip.version != 4)
		return 0;
	*ihl = h.ip.ihl * 4;
	*proto = h.ip.protocol;
	return h.ip.saddr == ip || h.ip.daddr == ip;
}

/* The address filter: outer IPv4 source or destination, or, when the
 * frame is VXLAN to cfg->vxlan_port, the inner frame's. */
static __always_inline int cap_ip_match(struct xvr_ctx *ctx, const struct xvr_capture_cfg *cfg)
{
	__u32 ihl = 0, inner_ihl = 0;
	__u8 proto = 0, inner_proto = 0;
	__be16 udp[2];
	__u32 off;

	if (cap_ip_at(ctx, 0, cfg->ip, &ihl, &proto))
		return 1;
	if (proto != IPPROTO_UDP || !cfg->vxlan_port || ihl < 20 || ihl > 60)
		return 0;
	off = sizeof(struct ethhdr) + ihl;
	if (ctx_load_bytes(ctx, off, udp, sizeof(udp)) != 0 || udp[1] != cfg->vxlan_port)
		return 0;
	/* UDP (8) + VXLAN (8), then the inner Ethernet frame. */
	return cap_ip_at(ctx, off + 16, cfg->ip, &inner_ihl, &inner_proto);
}

static __noinline int cap_record(struct xvr_ctx *ctx, const struct xvr_capture_cfg *cfg, __u32 hook,
				 __u32 verdict, __u32 reason, __u32 len)
{
	struct xvr_capture_stats *st;
	struct xvr_capture_rec *rec;
	__u32 zero = 0;
	__u64 now, cap;

	now = bpf_ktime_get_ns();
	/* The owner died without disabling (SIGKILL): disarm. */
	if (now > cfg->heartbeat_ns + XVR_CAP_STALE_NS)
		return 0;
	if (!(cfg->hook_mask & (1u << (hook & 31))) || !(cfg->verdict_mask & (1u << (verdict & 31))))
		return 0;
	if ((cfg->flags & XVR_CAP_F_REASON) && cfg->reason != reason)
		return 0;
	if (cfg->ip && !cap_ip_match(ctx, cfg))
		return 0;
	st = bpf_map_lookup_elem(&xvr_cap_stats, &zero);
	rec = bpf_map_lookup_elem(&xvr_cap_scratch, &zero);
	if (!st || !rec)
		return 0;
	cap = len;
	if (cap > cfg->snaplen)
		cap = cfg->snaplen;
	if (cap > XVR_CAP_SNAP_MAX)
		cap = XVR_CAP_SNAP_MAX;
	rec->hdr.ts_ns = now;
	rec->hdr.gen = cfg->gen;
	rec->hdr.ifindex = ctx_ifindex(ctx);
	rec->hdr.pkt_len = len;
	rec->hdr.hook = hook;
	rec->hdr.verdict = verdict;
	rec->hdr.reason = reason;
	rec->hdr.cpu = bpf_get_smp_processor_id();
	rec->hdr.pad = 0;
	if (cap == 0 || ctx_load_bytes(ctx, 0, rec->data, cap) != 0)
		cap = 0;
	rec->hdr.cap_len = cap;
	if (bpf_ringbuf_output(&xvr_capture, rec, sizeof(rec->hdr) + cap, 0) != 0)
		st->lost++;
	else
		st->captured++;
	return 0;
}

static __always_inline void xvr_capture_packet(struct xvr_ctx *ctx, __u32 hook, __u32 verdict,
					       __u32 reason, __u32 len)
{
	__u32 zero = 0;
	const struct xvr_capture_cfg *cfg = bpf_map_lookup_elem(&xvr_cap_cfg, &zero);

	if (cfg && cfg->enabled)
		cap_record(ctx, cfg, hook, verdict, reason, len);
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Context abstraction: the pod-side logic is written once over these
 * functions and built twice, as an XDP program (XVR_CTX_XDP) and as a TC
 * program (XVR_CTX_SKB). Only what differs between the hooks lives here.
 */
#ifndef XVR_LIB_CTX_H
#define XVR_LIB_CTX_H

#include "maps.h"

#if defined(XVR_CTX_XDP)

#define xvr_ctx xdp_md

static __always_inline void *ctx_data(struct xdp_md *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(struct xdp_md *ctx)
{
	return (void *)(long)ctx->data_end;
}

static __always_inline __u32 ctx_ifindex(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex;
}

/* Whole packet length, all fragments included (xdp.frags programs). */
static __always_inline __u32 ctx_full_len(struct xdp_md *ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

/* XDP sees the first buffer directly; nothing to pull. */
static __always_inline void ctx_pull(struct xdp_md *ctx, __u32 len) { }

static __always_inline int ctx_load_bytes(struct xdp_md *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_xdp_load_bytes(ctx, off, to, len);
}

/* Deliver to a local pod: devmap redirect to the pod's host veth. The
 * receiving pod-side veth must run NAPI (GRO on, set by xvr-cni). */
static __always_inline int ctx_redirect_pod(struct xdp_md *ctx, __u32 ifindex)
{
	return bpf_redirect_map(&xvr_devmap, ifindex, 0) == XDP_REDIRECT ? 0 : -1;
}

/* Send the (rewritten) packet back out of the interface it came in on. */
static __always_inline int ctx_bounce(struct xdp_md *ctx) { return 0; }

/* Out of another interface (the fabric NIC): it must be in the devmap. */
static __always_inline int ctx_redirect_out(struct xdp_md *ctx, __u32 ifindex)
{
	return bpf_redirect_map(&xvr_devmap, ifindex, 0) == XDP_REDIRECT ? 0 : -1;
}

/* Room for an encapsulation header in front of the frame. The new bytes
 * start at ctx_data(); the caller writes the whole outer header. */
static __always_inline int ctx_push_encap(struct xdp_md *ctx, __u32 len)
{
	return bpf_xdp_adjust_head(ctx, -(int)len);
}

static __always_inline int ctx_pop_encap(struct xdp_md *ctx, __u32 len)
{
	return bpf_xdp_adjust_head(ctx, (int)len);
}

#define CTX_ACT_PASS XDP_PASS
#define CTX_ACT_DROP XDP_DROP
#define CTX_ACT_TX XDP_TX
#define CTX_ACT_REDIRECT XDP_REDIRECT

#elif defined(XVR_CTX_SKB)

#define xvr_ctx __sk_buff

/* Loaded in asm: LLVM may otherwise hoist the 32-bit load away from its
 * zero-extension, and the verifier rejects shifts of packet pointers. */
static __always_inline void *ctx_data(struct __sk_buff *ctx)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(ctx), "i"(__builtin_offsetof(struct __sk_buff, data)));
	return p;
}

static __always_inline void *ctx_data_end(struct __sk_buff *ctx)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(ctx), "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return p;
}

static __always_inline __u32 ctx_ifindex(struct __sk_buff *ctx)
{
	return ctx->ifindex;
}

static __always_inline __u32 ctx_full_len(struct __sk_buff *ctx)
{
	return ctx->len;
}

/* Make sure the first len bytes are in the linear area so direct packet
 * access sees the headers (GSO skbs keep only headers linear, which is
 * all we touch). */
static __always_inline void ctx_pull(struct __sk_buff *ctx, __u32 len)
{
	if (ctx_data(ctx) + len > ctx_data_end(ctx) && ctx->len >= len)
		bpf_skb_pull_data(ctx, len);
}

static __always_inline int ctx_load_bytes(struct __sk_buff *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(ctx, off, to, len);
}

/* Deliver to a local pod: straight into the ingress of the pod's eth0
 * (the peer of the host veth), skipping the host veth's egress path. */
static __always_inline int ctx_redirect_pod(struct __sk_buff *ctx, __u32 ifindex)
{
	return bpf_redirect_peer(ifindex, 0) == TC_ACT_REDIRECT ? 0 : -1;
}

static __always_inline int ctx_bounce(struct __sk_buff *ctx)
{
	return bpf_redirect(ctx->ifindex, 0) == TC_ACT_REDIRECT ? 0 : -1;
}

static __always_inline int ctx_redirect_out(struct __sk_buff *ctx, __u32 ifindex)
{
	return bpf_redirect(ifindex, 0) == TC_ACT_REDIRECT ? 0 : -1;
}

/* Grows the room behind the MAC header; the layout from ctx_data() is then
 * the same as XDP's after adjust_head, and the caller rewrites the whole
 * outer header. The flags tell GSO it is a UDP tunnel with an Ethernet
 * inner frame, so big TCP segments are split correctly. */
static __always_inline int ctx_push_encap(struct __sk_buff *ctx, __u32 len)
{
	/* FIXED_GSO: the pod MTU already leaves room for the 50 bytes, and
	 * without it UDP GSO (UDP_SEGMENT) packets cannot grow at all. */
	return bpf_skb_adjust_room(ctx, len, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
				   BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
				   BPF_F_ADJ_ROOM_ENCAP_L2(sizeof(struct ethhdr)));
}

static __always_inline int ctx_pop_encap(struct __sk_buff *ctx, __u32 len)
{
	return bpf_skb_adjust_room(ctx, -(int)len, BPF_ADJ_ROOM_MAC, 0);
}

#define CTX_ACT_PASS TC_ACT_OK
#define CTX_ACT_DROP TC_ACT_SHOT
#define CTX_ACT_TX TC_ACT_REDIRECT
#define CTX_ACT_REDIRECT TC_ACT_REDIRECT

#else
#error "define XVR_CTX_XDP or XVR_CTX_SKB before including ctx.h"
#endif

#endif

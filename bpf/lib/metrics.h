/* SPDX-License-Identifier: Apache-2.0 */
/* The single exit of every program: count by (hook, verdict, reason), emit a
 * rate-limited drop event, hand the packet to a running capture, map the
 * verdict to the hook's action code. */
#ifndef XVR_LIB_METRICS_H
#define XVR_LIB_METRICS_H

#include "ctx.h"
#include "capture.h"

static __always_inline void count(__u32 hook, __u32 verdict, __u32 reason, __u32 bytes)
{
	__u32 idx = xvr_counter_index(hook, verdict, reason & (XVR_REASON_MAX - 1));
	struct xvr_counter *c = bpf_map_lookup_elem(&xvr_counters, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Per-CPU window of one second; at most cfg->events_per_sec events each.
 * Returns the CPU's rate-limit slot when an event may be sent, else 0. */
static __always_inline struct xvr_ratelimit *event_allowed(void)
{
	const struct xvr_node_cfg *cfg = node_cfg();
	__u32 zero = 0;
	struct xvr_ratelimit *rl = bpf_map_lookup_elem(&xvr_evrl, &zero);
	__u64 now;

	if (!cfg || !rl || !cfg->events_per_sec)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - rl->window_start_ns > 1000000000ULL) {
		rl->window_start_ns = now;
		rl->sent = 0;
	}
	if (rl->sent >= cfg->events_per_sec) {
		rl->suppressed++;
		return 0;
	}
	rl->sent++;
	return rl;
}

static __always_inline void emit_drop(struct xvr_ctx *ctx, __u32 hook, __u32 reason, __u32 len)
{
	struct xvr_ratelimit *rl = event_allowed();
	struct xvr_drop_event *ev;
	/* 64-bit so the verifier keeps the bounds of the copy length. */
	__u64 cap = len;

	if (!rl)
		return;
	ev = bpf_ringbuf_reserve(&xvr_events, sizeof(*ev), 0);
	if (!ev) {
		rl->lost++;
		return;
	}
	if (cap > XVR_EVENT_SNAP_LEN)
		cap = XVR_EVENT_SNAP_LEN;
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.type = XVR_EVENT_DROP;
	ev->hdr.ifindex = ctx_ifindex(ctx);
	ev->hdr.hook = hook;
	ev->hdr.verdict = XVR_VERDICT_DROP;
	ev->hdr.reason = reason;
	ev->hdr.pkt_len = len;
	ev->hdr.cpu = bpf_get_smp_processor_id();
	ev->hdr.cap_len = 0;
	if (cap > 0 && ctx_load_bytes(ctx, 0, ev->data, cap) == 0)
		ev->hdr.cap_len = cap;
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline int xvr_finish(struct xvr_ctx *ctx, __u32 hook, int ret)
{
	__u32 len = ctx_full_len(ctx);
	__u32 verdict, reason;

	if (ret < 0) {
		reason = -ret;
		count(hook, XVR_VERDICT_DROP, reason, len);
		emit_drop(ctx, hook, reason, len);
		xvr_capture_packet(ctx, hook, XVR_VERDICT_DROP, reason, len);
		return CTX_ACT_DROP;
	}
	verdict = XVR_RET_VERDICT(ret);
	reason = XVR_RET_REASON(ret);
	count(hook, verdict, reason, len);
	xvr_capture_packet(ctx, hook, verdict, reason, len);
	switch (verdict) {
	case XVR_VERDICT_TX:
		return CTX_ACT_TX;
	case XVR_VERDICT_REDIRECT:
		return CTX_ACT_REDIRECT;
	default:
		return CTX_ACT_PASS;
	}
}

#endif

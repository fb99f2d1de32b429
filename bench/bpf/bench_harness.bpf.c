/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harness of the ns/packet benchmark (BPF_PROG_TEST_RUN with repeat).
 *
 * The kernel runs every repetition on the same buffer, and a forwarding
 * program rewrites it in place: after one run of xdp_pod the source MAC is
 * pod B's gateway MAC and the next repetition is a spoofed-MAC drop. So
 * each repetition first restores the frame from a template and then
 * tail-calls the program under test (xvr's, or an empty one: the
 * baseline). The programs must be xdp.frags like xdp_pod: a tail call
 * only reaches programs of the same kind.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define FRAME_WORDS 8 /* 64 bytes */

const volatile __u64 frame_tmpl[FRAME_WORDS];

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp_xdp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp_tc SEC(".maps");

static __always_inline int restore(void *data, void *data_end)
{
	__u64 *p = data;

	if ((void *)(p + FRAME_WORDS) > data_end)
		return -1;
#pragma unroll
	for (int i = 0; i < FRAME_WORDS; i++)
		p[i] = frame_tmpl[i];
	return 0;
}

SEC("xdp.frags")
int bench_xdp_run(struct xdp_md *ctx)
{
	if (restore((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &jmp_xdp, 0);
	return XDP_ABORTED;
}

SEC("tc")
int bench_tc_run(struct __sk_buff *ctx)
{
	if (restore((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return TC_ACT_SHOT;
	bpf_tail_call(ctx, &jmp_tc, 0);
	return TC_ACT_SHOT;
}

SEC("xdp.frags")
int bench_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int bench_tc_ok(struct __sk_buff *ctx)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

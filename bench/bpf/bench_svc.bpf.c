/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Harness of the per-packet service benchmark (bench/tools/svccost.cc,
 * BPF_PROG_TEST_RUN with repeat).
 *
 * Like bench_harness.bpf.c, every repetition restores the 64-byte frame
 * from a template (xdp_pod rewrites it in place: DNAT, MACs, TTL) and
 * tail-calls the program under test. Two differences:
 *   - the template lives in .bss, so the tool switches frames between cases
 *     (pod IP, ClusterIP) without reloading;
 *   - with port_span > 0, repetition k gets TCP/UDP source port
 *     port_base + (k mod port_span): each repetition is a new connection to
 *     the service (a miss in xvr_svc_ct), which a plain repeat run on one
 *     buffer could not measure.
 * The L4 checksum is not adjusted for the new port: nothing on the measured
 * path verifies it (xdp_pod updates it incrementally, so it stays exactly
 * as wrong as the template's).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FRAME_WORDS 8 /* 64 bytes */
#define SPORT_OFF (14 + 20) /* Ethernet + IPv4 without options */

__u64 frame_tmpl[FRAME_WORDS];
__u32 port_base;
__u32 port_span;
__u32 seq;

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp_svc SEC(".maps");

SEC("xdp.frags")
int bench_svc_run(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 *p = data;

	if ((void *)(p + FRAME_WORDS) > data_end)
		return XDP_ABORTED;
#pragma unroll
	for (int i = 0; i < FRAME_WORDS; i++)
		p[i] = frame_tmpl[i];
	if (port_span) {
		__u16 *sport = data + SPORT_OFF;
		__u32 s = seq;

		*sport = bpf_htons((__u16)(port_base + s));
		seq = s + 1 < port_span ? s + 1 : 0;
	}
	bpf_tail_call(ctx, &jmp_svc, 0);
	return XDP_ABORTED;
}

SEC("xdp.frags")
int bench_svc_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

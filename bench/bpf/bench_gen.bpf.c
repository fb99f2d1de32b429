/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generator for BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES.
 * The kernel hands this program one page-pool frame per repetition and then
 * acts on the verdict for real: XDP_TX transmits the frame out of the
 * ingress device (on a veth: into its peer, as if the pod sent it),
 * XDP_PASS turns it into an skb received on that device, XDP_DROP only
 * measures the generator itself.
 *
 * Live frames recycle their buffers: a frame that came back from a
 * forwarder carries that forwarder's rewrites (MACs, TTL). So the header
 * template is written on every run, not only when the page is created.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define GEN_FRAME_WORDS 8 /* 64 bytes */

const volatile __u64 gen_frame[GEN_FRAME_WORDS];
const volatile __u32 gen_action = XDP_TX;

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	__u64 *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if ((void *)(data + GEN_FRAME_WORDS) > data_end)
		return XDP_ABORTED;
#pragma unroll
	for (int i = 0; i < GEN_FRAME_WORDS; i++)
		data[i] = gen_frame[i];
	return gen_action;
}

char LICENSE[] SEC("license") = "GPL";

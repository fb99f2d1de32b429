/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Receivers of the pps benchmark on pod B's eth0: count the generator's
 * frames (IPv4/UDP to port 9) and drop them; ARP, neighbour discovery and
 * the rest pass, so the pod keeps working. Dropping keeps pod B's socket
 * layer (on the same CPU) out of the figure.
 *  - bench_sink (XDP): the frame reached the pod's veth. As an XDP program
 *    it also gives that veth NAPI, as xdp_pod_peer does under xvr.
 *  - bench_sink_tc (TC ingress): the packet entered the pod's network stack
 *    as an skb. The one point every path reaches: tc_pod's
 *    bpf_redirect_peer() skips the pod veth's XDP hook.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SINK_PORT 9

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

static __always_inline int sink_count_frame(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(SINK_PORT))
		return 0;
	n = bpf_map_lookup_elem(&sink_count, &zero);
	if (n)
		(*n)++;
	return 1;
}

SEC("xdp.frags")
int bench_sink(struct xdp_md *ctx)
{
	return sink_count_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? XDP_DROP
										       : XDP_PASS;
}

SEC("tc")
int bench_sink_tc(struct __sk_buff *ctx)
{
	return sink_count_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end) ? TC_ACT_SHOT
										       : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";

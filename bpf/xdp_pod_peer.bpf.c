/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Entry point: XDP on the pod side of the veth (inside the pod's netns),
 * attached only with podAttach: xdp in native mode. It passes everything:
 * its only job is to give the pod's veth a NAPI instance, without which
 * frames that xdp_pod redirects (or XDP_TX's, for ARP) into the veth are
 * dropped silently. GRO on the pod veth is meant to do the same, but on
 * Linux 6.18 it did not deliver XDP_TX'd ARP replies here; a program does.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int xdp_pod_peer(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

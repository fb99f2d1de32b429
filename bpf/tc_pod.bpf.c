/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point: TC ingress on the host side of every pod veth
 * (spec.podAttach: tc). Same logic as xdp_pod; keeps TSO/GRO on the pod. */
#define XVR_CTX_SKB
#include "lib/pod.h"
#include "lib/metrics.h"

SEC("tc")
int tc_pod(struct __sk_buff *ctx)
{
	return xvr_finish(ctx, XVR_HOOK_TC_POD, pod_handle(ctx));
}

char LICENSE[] SEC("license") = "GPL";

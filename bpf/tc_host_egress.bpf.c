/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point: TC egress on the host end of the host loopback pair. */
#define XVR_CTX_SKB
#include "lib/host.h"
#include "lib/metrics.h"

SEC("tc")
int tc_host_egress(struct __sk_buff *ctx)
{
	return xvr_finish(ctx, XVR_HOOK_TC_HOST_EGRESS, host_to_pod(ctx));
}

char LICENSE[] SEC("license") = "GPL";

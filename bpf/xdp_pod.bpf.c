/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point: XDP on the host side of every pod veth (spec.podAttach: xdp). */
#define XVR_CTX_XDP
#include "lib/pod.h"
#include "lib/metrics.h"

SEC("xdp.frags")
int xdp_pod(struct xdp_md *ctx)
{
	return xvr_finish(ctx, XVR_HOOK_XDP_POD, pod_handle(ctx));
}

char LICENSE[] SEC("license") = "GPL";

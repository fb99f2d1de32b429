/* SPDX-License-Identifier: Apache-2.0 */
/* Entry point: XDP on the node's fabric (underlay) NIC, spec.fabricInterface. */
#define XVR_CTX_XDP
#include "lib/fabric.h"
#include "lib/metrics.h"

SEC("xdp.frags")
int xdp_fabric(struct xdp_md *ctx)
{
	return xvr_finish(ctx, XVR_HOOK_XDP_FABRIC, fabric_handle(ctx));
}

char LICENSE[] SEC("license") = "GPL";

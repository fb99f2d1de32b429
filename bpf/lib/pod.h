/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Traffic from a pod, seen on the host side of its veth. Written once over
 * ctx.h; built as xdp_pod (XDP) and tc_pod (TC ingress).
 */
#ifndef XVR_LIB_POD_H
#define XVR_LIB_POD_H

#include "ctx.h"
#include "arp.h"
#include "ipv4.h"
#include "vxlan.h"
#include "nat.h"
#include "svc.h"
#include "flow.h"

#if defined(XVR_CTX_XDP)
#define POD_HOOK XVR_HOOK_XDP_POD
#else
#define POD_HOOK XVR_HOOK_TC_POD
#endif

/* Enough linear bytes for Ethernet + ARP or Ethernet + IPv4 w/o options. */
#define POD_PULL_LEN (sizeof(struct ethhdr) + sizeof(struct arp_eth_ipv4))

/* Destination is not a pod on this node: a remote node's pod CIDR goes
 * into the VXLAN tunnel; anything else is the kernel's. */
static __always_inline int pod_route(struct xvr_ctx *ctx, const struct xvr_node_cfg *cfg,
				     struct iphdr *ip, int translated)
{
	struct xvr_route_key key = { .prefixlen = 32, .addr = ip->daddr };
	const struct xvr_route *rt = bpf_map_lookup_elem(&xvr_routes, &key);

	if (rt && rt->type == XVR_RT_TUNNEL)
		return vxlan_send(ctx, cfg, ip, rt->tunnel_dst);
	if (rt && rt->type == XVR_RT_LOCAL)  /* our pod CIDR, no such pod */
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NO_ROUTE);
	return pod_leave_cluster(ctx, cfg, ip, translated);
}

static __always_inline int pod_forward_ipv4(struct xvr_ctx *ctx, const struct xvr_endpoint *src)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	struct ethhdr *eth = data;
	const struct xvr_node_cfg *cfg;
	const struct xvr_endpoint *dst;
	struct iphdr *ip;
	struct flow_pkt fp;
	__be32 svc_addr = 0;
	__be16 svc_port = 0;
	int ret, translated;

	ret = ipv4_parse(data, data_end, ctx_full_len(ctx), &ip);
	if (ret < 0)
		return ret;
	if (ip->saddr != src->ip)
		return -XVR_R_SPOOFED_IP;
	if (ip->ihl != 5)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_IP_OPTIONS);

	cfg = node_cfg();
	if (!cfg)
		return -XVR_R_NO_CONFIG;

	/* A reply from a service backend gets its frontend back; a packet to a
	 * frontend gets a backend. Either way it is routed by the result. The
	 * flow is the reply's tuple as the backend sent it, or the request's
	 * once translated to its backend. */
	flow_parse(ip, data_end, &fp);
	ret = svc_reply(ctx, &ip);
	if (ret == SVC_NONE) {
		ret = svc_forward(ctx, cfg, &ip, XVR_SVC_SCOPE_INTERNAL);
		if (ret == SVC_XLATED) {
			svc_addr = fp.key.daddr;
			svc_port = fp.key.dport;
		}
	}
	if (ret < 0)
		return ret;
	if (ret == SVC_REJECTED) {
		if (ctx_bounce(ctx) < 0)
			return -XVR_R_REDIRECT_FAILED;
		return XVR_RET(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS);
	}
	translated = ret == SVC_XLATED;
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	eth = data;
	if ((void *)(eth + 1) > data_end || !ip)
		return -XVR_R_TRUNC_IP;
	if (svc_addr && (ret = flow_parse_xlated(ctx, &fp)) < 0)
		return ret;
	ret = flow_process(ctx, &fp, svc_addr, svc_port, POD_HOOK);
	if (ret < 0)
		return ret;

	if (ip->daddr == cfg->gateway_ip)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST);

	dst = bpf_map_lookup_elem(&xvr_ep_ip, &ip->daddr);
	if (!dst)
		return pod_route(ctx, cfg, ip, translated);
	if (ip->ttl <= 1)
		return -XVR_R_TTL_EXCEEDED;

	ipv4_dec_ttl(ip);
	mac_copy(eth->h_dest, dst->mac);
	mac_copy(eth->h_source, dst->host_mac);
	if (ctx_redirect_pod(ctx, dst->ifindex) < 0)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

static __always_inline int pod_handle(struct xvr_ctx *ctx)
{
	const struct xvr_endpoint *src;
	struct ethhdr *eth;
	__u32 ifindex = ctx_ifindex(ctx);
	void *data, *data_end;
	int ret;

	ctx_pull(ctx, POD_PULL_LEN);
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -XVR_R_TRUNC_ETH;

	src = bpf_map_lookup_elem(&xvr_ep_ifidx, &ifindex);
	if (!src)
		return -XVR_R_UNKNOWN_IFINDEX;
	if (!mac_eq(eth->h_source, src->mac))
		return -XVR_R_SPOOFED_MAC;

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):
		return pod_forward_ipv4(ctx, src);
	case bpf_htons(ETH_P_ARP):
		ret = arp_proxy_reply(data, data_end, src);
		if (ret >= 0 && XVR_RET_VERDICT(ret) == XVR_VERDICT_TX && ctx_bounce(ctx) < 0)
			return -XVR_R_REDIRECT_FAILED;
		return ret;
	default:
		return -XVR_R_UNSUPPORTED_L3;
	}
}

#endif

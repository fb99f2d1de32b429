/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host-originated traffic to pods (kubelet probes, hostNetwork pods). The
 * node routes the pod CIDR into the host end of a veth pair with ARP off,
 * so frames arrive here addressed to that device's own MAC; TC egress then
 * addresses them to the pod and redirects them to the pod's host veth.
 */
#ifndef XVR_LIB_HOST_H
#define XVR_LIB_HOST_H

#include "ctx.h"
#include "ipv4.h"
#include "svc.h"
#include "flow.h"

static __always_inline int host_to_pod(struct __sk_buff *skb)
{
	const struct xvr_node_cfg *cfg;
	const struct xvr_endpoint *dst;
	struct flow_pkt fp;
	__be32 svc_addr = 0;
	__be16 svc_port = 0;
	int translated = 0;
	struct ethhdr *eth;
	struct iphdr *ip;
	void *data, *data_end;
	int ret;

	ctx_pull(skb, sizeof(struct ethhdr) + sizeof(struct iphdr));
	data = ctx_data(skb);
	data_end = ctx_data_end(skb);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -XVR_R_TRUNC_ETH;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_POD);
	ret = ipv4_parse(data, data_end, skb->len, &ip);
	if (ret < 0)
		return ret;
	cfg = node_cfg();
	flow_parse(ip, data_end, &fp);
	if (cfg && ip->ihl == 5) {
		/* A hostNetwork backend answering a pod, or the node reaching
		 * a ClusterIP (the service CIDR is routed into this device). */
		ret = svc_reply(skb, &ip);
		if (ret == SVC_NONE) {
			ret = svc_forward(skb, cfg, &ip, XVR_SVC_SCOPE_INTERNAL);
			if (ret == SVC_XLATED) {
				svc_addr = fp.key.daddr;
				svc_port = fp.key.dport;
			}
		}
		if (ret < 0)
			return ret;
		if (ret == SVC_REJECTED) {
			/* Back up the host's stack, as if the frontend answered. */
			if (bpf_redirect(skb->ifindex, BPF_F_INGRESS) != TC_ACT_REDIRECT)
				return -XVR_R_REDIRECT_FAILED;
			return XVR_RET(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS);
		}
		eth = ctx_data(skb);
		if ((void *)(eth + 1) > ctx_data_end(skb) || !ip)
			return -XVR_R_TRUNC_IP;
		if (ret == SVC_XLATED)
			translated = 1;
	}
	dst = bpf_map_lookup_elem(&xvr_ep_ip, &ip->daddr);
	if (!dst && translated) {
		struct xvr_route_key key = { .prefixlen = 32, .addr = ip->daddr };
		const struct xvr_route *rt = bpf_map_lookup_elem(&xvr_routes, &key);

		if (rt && rt->type == XVR_RT_TUNNEL)
			return vxlan_send(skb, cfg, ip, rt->tunnel_dst);
		/* A hostNetwork backend on another node: out of the fabric,
		 * no NAPT (the gateway source comes back to this node). */
		return pod_leave_cluster(skb, cfg, ip, 1);
	}
	if (!dst)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_POD);
	/* The node reaching one of its pods: always allowed, tracked. */
	if (svc_addr && (ret = flow_parse_xlated(skb, &fp)) < 0)
		return ret;
	ret = flow_process(skb, &fp, svc_addr, svc_port, XVR_HOOK_TC_HOST_EGRESS);
	if (ret < 0)
		return ret;
	eth = ctx_data(skb);
	if ((void *)(eth + 1) > ctx_data_end(skb))
		return -XVR_R_TRUNC_ETH;
	mac_copy(eth->h_dest, dst->mac);
	mac_copy(eth->h_source, dst->host_mac);
	if (bpf_redirect(dst->ifindex, 0) != TC_ACT_REDIRECT)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Traffic arriving on the node's fabric (underlay) NIC. VXLAN for this
 * node's VTEP is decapsulated and delivered to the pod; everything that is
 * not xvr's (ARP, SSH, kubelet, BGP, ...) goes to the kernel untouched.
 */
#ifndef XVR_LIB_FABRIC_H
#define XVR_LIB_FABRIC_H

#include "vxlan.h"
#include "nat.h"
#include "svc.h"
#include "flow.h"

/* Outer headers as far as the VXLAN header, pointers checked. */
struct fabric_outer {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	struct vxlanhdr_xvr vx;
} __attribute__((packed));

static __always_inline int fabric_decap(struct xdp_md *ctx, const struct xvr_node_cfg *cfg)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	struct fabric_outer *o = data;
	const struct xvr_endpoint *ep;
	struct flow_pkt fp;
	struct ethhdr *eth;
	struct iphdr *inner;
	int ret;

	if ((void *)(o + 1) > data_end)
		return -XVR_R_VXLAN_TRUNC;
	if (!(o->vx.flags & VXLAN_F_VNI))
		return -XVR_R_VXLAN_BAD_FLAGS;
	if ((bpf_ntohl(o->vx.vni) >> 8) != cfg->vni)
		return -XVR_R_VXLAN_BAD_VNI;
	eth = (void *)(o + 1);
	if ((void *)(eth + 1) > data_end)
		return -XVR_R_VXLAN_TRUNC;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -XVR_R_UNSUPPORTED_L3;
	ret = ipv4_parse(eth, data_end, ctx_full_len(ctx) - sizeof(*o), &inner);
	if (ret < 0)
		return ret == -XVR_R_TRUNC_IP ? -XVR_R_VXLAN_TRUNC : ret;
	/* A service backend on the remote node answering a client here: the
	 * flow is the reply's tuple as the backend sent it. */
	flow_parse(inner, data_end, &fp);
	ret = inner->ihl == 5 ? svc_reply(ctx, &inner) : SVC_NONE;
	if (ret < 0)
		return ret;
	ep = bpf_map_lookup_elem(&xvr_ep_ip, &inner->daddr);
	if (!ep) {
		/* Replies to the node itself (host → ClusterIP, pod → remote
		 * gateway) go to the kernel; replies of NodePort connections
		 * SNATed to the gateway leave for their outside client. */
		int to_host = inner->daddr == cfg->gateway_ip;

		if (!to_host && ret != SVC_XLATED)
			return -XVR_R_VXLAN_NO_ENDPOINT;
		if (ctx_pop_encap(ctx, XVR_VXLAN_ENCAP_LEN))
			return -XVR_R_VXLAN_TRUNC;
		data = ctx_data(ctx);
		data_end = ctx_data_end(ctx);
		eth = data;
		inner = data + sizeof(*eth);
		if ((void *)(inner + 1) > data_end)
			return -XVR_R_VXLAN_TRUNC;
		if (to_host) {
			mac_copy(eth->h_dest, cfg->fabric_mac);
			return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST);
		}
		return pod_leave_cluster(ctx, cfg, inner, 1);
	}
	if (inner->ttl <= 1)
		return -XVR_R_TTL_EXCEEDED;
	ipv4_dec_ttl(inner);

	if (ctx_pop_encap(ctx, XVR_VXLAN_ENCAP_LEN))
		return -XVR_R_VXLAN_TRUNC;
	/* The receiving node enforces its pod's ingress policy. */
	ret = flow_process(ctx, &fp, 0, 0, XVR_HOOK_XDP_FABRIC);
	if (ret < 0)
		return ret;
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -XVR_R_VXLAN_TRUNC;
	mac_copy(eth->h_dest, ep->mac);
	mac_copy(eth->h_source, ep->host_mac);
	if (ctx_redirect_pod(ctx, ep->ifindex) < 0)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

/* An IPv4 packet (no tunnel) for a pod on this node: its flow (the
 * pod's ingress policy on a first packet), MACs, TTL, redirect. */
static __always_inline int fabric_deliver(struct xdp_md *ctx, struct ethhdr *eth, struct iphdr *ip,
					  const struct xvr_endpoint *ep, const struct flow_pkt *fp,
					  const struct flow_pkt *svc)
{
	int ret = flow_process(ctx, fp, svc ? svc->key.daddr : 0, svc ? svc->key.dport : 0,
			       XVR_HOOK_XDP_FABRIC);

	if (ret < 0)
		return ret;
	if (ip->ttl <= 1)
		return -XVR_R_TTL_EXCEEDED;
	ipv4_dec_ttl(ip);
	mac_copy(eth->h_dest, ep->mac);
	mac_copy(eth->h_source, ep->host_mac);
	if (ctx_redirect_pod(ctx, ep->ifindex) < 0)
		return -XVR_R_REDIRECT_FAILED;
	return XVR_RET(XVR_VERDICT_REDIRECT, XVR_R_OK);
}

/* A NodePort / externalIP packet translated to its backend: deliver to a
 * local one, tunnel to a remote one. */
static __always_inline int fabric_to_backend(struct xdp_md *ctx, const struct xvr_node_cfg *cfg,
					     struct iphdr *ip, const struct flow_pkt *orig)
{
	struct ethhdr *eth = ctx_data(ctx);
	const struct xvr_endpoint *ep;
	struct flow_pkt fp;
	struct xvr_route_key key = { .prefixlen = 32, .addr = ip->daddr };
	const struct xvr_route *rt;

	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return -XVR_R_TRUNC_ETH;
	ep = bpf_map_lookup_elem(&xvr_ep_ip, &ip->daddr);
	if (ep) {
		flow_parse(ip, ctx_data_end(ctx), &fp);
		return fabric_deliver(ctx, eth, ip, ep, &fp, orig);
	}
	rt = bpf_map_lookup_elem(&xvr_routes, &key);
	if (rt && rt->type == XVR_RT_TUNNEL)
		return vxlan_send(ctx, cfg, ip, rt->tunnel_dst);
	return -XVR_R_SVC_NO_BACKEND;
}

/* Not VXLAN: a reply to a pod's NAPT flow (to the node IP), or an outside
 * client's packet for a pod IP routed to this node. */
static __always_inline int fabric_plain(struct xdp_md *ctx, const struct xvr_node_cfg *cfg,
					struct ethhdr *eth, struct iphdr *ip)
{
	void *data_end = ctx_data_end(ctx);
	const struct xvr_endpoint *ep;
	struct flow_pkt fp;
	struct nat_l4 l4;
	int ret;

	/* A hostNetwork backend on another node answering a client here. */
	flow_parse(ip, data_end, &fp);
	ret = svc_reply(ctx, &ip);
	if (ret < 0)
		return ret;
	if (ret == SVC_XLATED) {
		ep = bpf_map_lookup_elem(&xvr_ep_ip, &ip->daddr);
		if (ep)
			return fabric_deliver(ctx, eth, ip, ep, &fp, 0);
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_TO_HOST);
	}
	/* NodePort and externalIP frontends. */
	ret = svc_forward(ctx, cfg, &ip, XVR_SVC_SCOPE_EXTERNAL);
	if (ret < 0)
		return ret;
	if (ret == SVC_REJECTED)
		return XVR_RET(XVR_VERDICT_TX, XVR_R_SVC_NO_ENDPOINTS);
	if (ret == SVC_XLATED)
		return fabric_to_backend(ctx, cfg, ip, &fp);

	if (nat_l4_fields(ip, data_end, ip->daddr == cfg->node_ip ? ICMP_ECHOREPLY : ICMP_ECHO,
			  &l4) < 0)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	if (ip->daddr == cfg->node_ip) {
		struct xvr_nat_key rev = {
			.saddr = ip->saddr, .daddr = ip->daddr, .sport = l4.dport ? *l4.sport : 0,
			.dport = l4.dport ? *l4.dport : *l4.sport, .proto = ip->protocol,
		};
		const struct xvr_nat_val *orig = bpf_map_lookup_elem(&xvr_snat_rev, &rev);

		if (!orig)
			return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
		ep = bpf_map_lookup_elem(&xvr_ep_ip, &orig->addr);
		if (!ep)
			return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
		nat_rewrite(ip, &ip->daddr, orig->addr, &l4, l4.dport ? l4.dport : l4.sport,
			    orig->port);
		flow_parse(ip, data_end, &fp);  /* the pod's own flow, reversed */
		return fabric_deliver(ctx, eth, ip, ep, &fp, 0);
	}
	ep = bpf_map_lookup_elem(&xvr_ep_ip, &ip->daddr);
	if (!ep)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	/* Remember the flow so the pod's replies leave untranslated. Only a
	 * connection opening (TCP SYN without ACK, or UDP) may do that: a
	 * spoofed mid-stream packet must not switch NAT off for a pod's own
	 * outbound flow. */
	struct tcphdr *th = (void *)(ip + 1);

	if (l4.dport && (ip->protocol == IPPROTO_UDP ||
			 ((void *)(th + 1) <= data_end && th->syn && !th->ack))) {
		struct xvr_nat_key fwd = {
			.saddr = ip->daddr, .daddr = ip->saddr, .sport = *l4.dport, .dport = *l4.sport,
			.proto = ip->protocol,
		};
		struct xvr_nat_val none = {};

		bpf_map_update_elem(&xvr_snat, &fwd, &none, BPF_NOEXIST);
	}
	return fabric_deliver(ctx, eth, ip, ep, &fp, 0);
}

static __always_inline int fabric_handle(struct xdp_md *ctx)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	const struct xvr_node_cfg *cfg = node_cfg();
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if (!cfg || !(cfg->flags & XVR_CFG_F_VXLAN))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip_is_fragment(ip))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	/* A damaged outer header is the kernel's to drop and count (RFC 1122
	 * 3.2.1.2; ip_rcv's InHdrErrors). */
	if (ip->version != 4 || ipv4_csum(ip) != 0)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_NOT_OURS);
	udp = (void *)(ip + 1);
	if (ip->protocol == IPPROTO_UDP && ip->daddr == cfg->node_ip &&
	    (void *)(udp + 1) <= data_end && udp->dest == cfg->vxlan_port)
		return fabric_decap(ctx, cfg);
	return fabric_plain(ctx, cfg, eth, ip);
}

#endif

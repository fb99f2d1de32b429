/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy ARP in the data path. A pod resolves its gateway (and, with a /24
 * on eth0, its neighbours) to the MAC of its host-side veth; every IPv4
 * packet it sends then enters xdp_pod/tc_pod. Answering here rather than in
 * the kernel keeps the pod working with the node's ip_forward and proxy_arp
 * sysctls untouched, and lets anti-spoofing cover ARP too.
 */
#ifndef XVR_LIB_ARP_H
#define XVR_LIB_ARP_H

#include "common.h"

/* <linux/if_arp.h> drags in libc headers; these are the only constants used. */
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[XVR_ETH_ALEN];
	__be32 spa;
	__u8 tha[XVR_ETH_ALEN];
	__be32 tpa;
} __attribute__((packed));

/* Returns XVR_RET(TX, OK) when the frame was turned into the reply. */
static __always_inline int arp_proxy_reply(void *data, void *data_end,
					   const struct xvr_endpoint *ep)
{
	struct ethhdr *eth = data;
	struct arp_eth_ipv4 *arp = (void *)(eth + 1);
	__be32 target;

	if ((void *)(arp + 1) > data_end)
		return -XVR_R_TRUNC_ARP;
	if (arp->htype != bpf_htons(ARPHRD_ETHER) || arp->ptype != bpf_htons(ETH_P_IP) ||
	    arp->hlen != XVR_ETH_ALEN || arp->plen != 4)
		return -XVR_R_BAD_ARP;
	/* Whatever the operation, the sender is the endpoint: its MAC, and its
	 * address or 0.0.0.0 (a duplicate-address probe). Replies and
	 * gratuitous ARP go to the kernel, so they are checked too. */
	if (!mac_eq(arp->sha, ep->mac) || (arp->spa != ep->ip && arp->spa != 0))
		return -XVR_R_ARP_SPOOFED;
	if (arp->op != bpf_htons(ARPOP_REQUEST))
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_ARP_OTHER);
	/* Duplicate-address probes (sender 0.0.0.0) and gratuitous ARP must not
	 * be answered, or the pod would think its own address is taken. */
	if (arp->spa == 0 || arp->tpa == arp->spa)
		return XVR_RET(XVR_VERDICT_PASS, XVR_R_PASS_ARP_OTHER);

	target = arp->tpa;
	arp->op = bpf_htons(ARPOP_REPLY);
	mac_copy(arp->tha, arp->sha);
	arp->tpa = arp->spa;
	mac_copy(arp->sha, ep->host_mac);
	arp->spa = target;
	mac_copy(eth->h_dest, eth->h_source);
	mac_copy(eth->h_source, ep->host_mac);
	return XVR_RET(XVR_VERDICT_TX, XVR_R_OK);
}

#endif

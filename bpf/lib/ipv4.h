/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4 header validation and the forwarding rewrite. */
#ifndef XVR_LIB_IPV4_H
#define XVR_LIB_IPV4_H

#include "common.h"

/* Validates the IPv4 header behind an Ethernet header. Returns 0 or a
 * negative drop reason; *iph is set on success. frame_len is the whole
 * frame, fragments included. */
static __always_inline int ipv4_parse(void *data, void *data_end, __u32 frame_len,
				      struct iphdr **iph)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 tot;

	if ((void *)(ip + 1) > data_end)
		return -XVR_R_TRUNC_IP;
	if (ip->version != 4)
		return -XVR_R_BAD_IP_VERSION;
	if (ip->ihl < 5)
		return -XVR_R_BAD_IHL;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < (__u32)ip->ihl * 4 || tot > frame_len - sizeof(struct ethhdr))
		return -XVR_R_BAD_IP_LEN;
	*iph = ip;
	return 0;
}

/* TTL decrement with the incremental checksum update of RFC 1624, as the
 * kernel's ip_decrease_ttl(). */
static __always_inline void ipv4_dec_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

#endif

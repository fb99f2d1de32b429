/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy verdict for the first packet of a flow, from the maps the
 * agent compiles (abi.h, "NetworkPolicy, compiled"). The cost is bounded by
 * the key, not by the number of policies: per direction at most three LPM
 * lookups (peer's pod identity, peer's CIDR identity, any peer).
 */
#ifndef XVR_LIB_POLICY_H
#define XVR_LIB_POLICY_H

#include "maps.h"

static __always_inline const struct xvr_ident *ident_of(__be32 addr)
{
	return bpf_map_lookup_elem(&xvr_ipcache, &addr);
}

/* CIDR identity of the longest ipBlock prefix holding addr, 0 if none. */
static __always_inline __u32 cidr_id_of(__be32 addr)
{
	struct xvr_route_key k = { .prefixlen = 32, .addr = addr };
	const __u32 *id = bpf_map_lookup_elem(&xvr_cidr_id, &k);

	return id ? *id : 0;
}

/* Does a rule of `subject` allow this peer/protocol/port in `dir`? */
static __always_inline int policy_allows(__u32 subject, __u8 dir, __u32 peer_id, __be32 peer_addr,
					 __u8 proto, __be16 dport)
{
	struct xvr_policy_key k = {
		.prefixlen = XVR_POL_PREFIX_FULL, .subject = subject, .dir = dir, .proto = proto,
		.dport = dport,
	};
	__u32 cidr;

	if (peer_id) {
		k.peer = peer_id;
		if (bpf_map_lookup_elem(&xvr_policy, &k))
			return 1;
	}
	cidr = cidr_id_of(peer_addr);
	if (cidr) {
		k.peer = cidr;
		if (bpf_map_lookup_elem(&xvr_policy, &k))
			return 1;
	}
	k.peer = XVR_ID_NONE;
	return bpf_map_lookup_elem(&xvr_policy, &k) != 0;
}

/* The verdict for a connection with forward tuple k: the source pod's
 * egress (when it is on this node) and the destination pod's ingress (when
 * it is on this node) must both allow it. The node itself is always
 * allowed to and from its pods. Fills the identities and the
 * XVR_FLOW_F_EGRESS/INGRESS flags of f. Returns 0 or -XVR_R_POLICY_*. */
static __always_inline int policy_check(const struct xvr_flow_key *k, struct xvr_flow *f)
{
	const struct xvr_ident *s = ident_of(k->saddr);
	const struct xvr_ident *d = ident_of(k->daddr);
	__u32 sid = s ? s->identity : 0, did = d ? d->identity : 0;

	f->src_identity = sid;
	f->dst_identity = did;
	if (s && (s->flags & XVR_ID_F_LOCAL)) {
		f->flags |= XVR_FLOW_F_EGRESS;
		if ((s->flags & XVR_ID_F_ISO_EGRESS) && did != XVR_ID_HOST &&
		    !policy_allows(sid, XVR_POL_EGRESS, did, k->daddr, k->proto, k->dport))
			return -XVR_R_POLICY_EGRESS;
	}
	if (d && (d->flags & XVR_ID_F_LOCAL)) {
		f->flags |= XVR_FLOW_F_INGRESS;
		if ((d->flags & XVR_ID_F_ISO_INGRESS) && sid != XVR_ID_HOST &&
		    !policy_allows(did, XVR_POL_INGRESS, sid, k->saddr, k->proto, k->dport))
			return -XVR_R_POLICY_INGRESS;
	}
	return 0;
}

#endif

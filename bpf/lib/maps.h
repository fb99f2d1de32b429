/* SPDX-License-Identifier: Apache-2.0 */
/* Every map of the data path. Pinned by name under <bpfRoot>/maps, so all
 * program objects share them and they outlive the agent. */
#ifndef XVR_LIB_MAPS_H
#define XVR_LIB_MAPS_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_ENDPOINTS);
	__type(key, __u32); /* host-side veth ifindex */
	__type(value, struct xvr_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_ep_ifidx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_ENDPOINTS);
	__type(key, __be32); /* pod IPv4 */
	__type(value, struct xvr_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_ep_ip SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XVR_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVR_COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct xvr_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XVR_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_node_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_node SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_ratelimit);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_evrl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XVR_MAX_ROUTES);
	__type(key, struct xvr_route_key);
	__type(value, struct xvr_route);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_NEIGH);
	__type(key, __be32);
	__type(value, struct xvr_neigh);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_neigh SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_NAT);
	__type(key, struct xvr_nat_key);
	__type(value, struct xvr_nat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_NAT);
	__type(key, struct xvr_nat_key);
	__type(value, struct xvr_nat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_snat_rev SEC(".maps");

/* Services: frontends, backends, one Maglev table per frontend. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_SERVICES);
	__type(key, struct xvr_svc_key);
	__type(value, struct xvr_svc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_svc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_BACKENDS);
	__type(key, __u32); /* backend id */
	__type(value, struct xvr_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_backends SEC(".maps");

/* Inner tables are created by the agent with the table's own size; the
 * template's BPF_F_INNER_MAP lets their max_entries differ from it. */
struct xvr_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);   /* slot */
	__type(value, __u32); /* backend id */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XVR_MAX_SERVICES);
	__type(key, __u32); /* xvr_svc.table */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct xvr_maglev_inner);
} xvr_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_SVC_CT);
	__type(key, struct xvr_nat_key);
	__type(value, struct xvr_svc_ct);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_svc_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_SVC_CT);
	__type(key, struct xvr_nat_key);
	__type(value, struct xvr_svc_rev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_svc_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_AFFINITY);
	__type(key, struct xvr_aff_key);
	__type(value, struct xvr_aff_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_svc_aff SEC(".maps");

/* Flows: one entry pair per connection (abi.h). LRU: a full table evicts
 * the least recently used flow instead of refusing a new one; the agent
 * counts evictions from the created/ended arithmetic. The agent resizes it
 * (spec.flows.tableSize) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XVR_MAX_FLOWS);
	__type(key, struct xvr_flow_key);
	__type(value, struct xvr_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_flow_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_flow_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVR_FS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_flow_stats SEC(".maps");

/* NetworkPolicy: identities of addresses, CIDR identities, allow rules. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVR_MAX_IPCACHE);
	__type(key, __be32);
	__type(value, struct xvr_ident);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XVR_MAX_CIDR_ID);
	__type(key, struct xvr_route_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_cidr_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XVR_MAX_POLICY);
	__type(key, struct xvr_policy_key);
	__type(value, struct xvr_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_policy SEC(".maps");

/* Packet capture (abi.h, lib/capture.h): xvrctl's filter, the records,
 * per-CPU captured/lost counts, and the per-CPU scratch a record is built
 * in before bpf_ringbuf_output (so a record takes its own length on the
 * ring, not XVR_CAP_SNAP_MAX). The scratch is private to each object. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_capture_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_cap_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XVR_CAPTURE_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_capture SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_capture_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xvr_cap_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xvr_capture_rec);
} xvr_cap_scratch SEC(".maps");

static __always_inline const struct xvr_node_cfg *node_cfg(void)
{
	__u32 zero = 0;
	const struct xvr_node_cfg *cfg = bpf_map_lookup_elem(&xvr_node, &zero);

	if (cfg && !(cfg->flags & XVR_CFG_F_READY))
		return 0;
	return cfg;
}

#endif

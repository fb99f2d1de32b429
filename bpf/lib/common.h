/* SPDX-License-Identifier: Apache-2.0 */
/* Includes and helpers every BPF object needs. UAPI headers, not vmlinux.h. */
#ifndef XVR_LIB_COMMON_H
#define XVR_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xvr/abi.h"

#ifndef XVR_DEBUG
#define xvr_dbg(fmt, ...) do { } while (0)
#else
#define xvr_dbg(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)
#endif

/* Library functions return a non-negative XVR_RET(verdict, reason) or a
 * negative drop reason (-XVR_R_*). */
#define XVR_RET(verdict, reason) (((reason) << 8) | (verdict))
#define XVR_RET_VERDICT(r) ((r) & 0xff)
#define XVR_RET_REASON(r) (((r) >> 8) & 0xff)

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return ((const __u16 *)a)[0] == ((const __u16 *)b)[0] &&
	       ((const __u16 *)a)[1] == ((const __u16 *)b)[1] &&
	       ((const __u16 *)a)[2] == ((const __u16 *)b)[2];
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	((__u16 *)dst)[0] = ((const __u16 *)src)[0];
	((__u16 *)dst)[1] = ((const __u16 *)src)[1];
	((__u16 *)dst)[2] = ((const __u16 *)src)[2];
}

#endif

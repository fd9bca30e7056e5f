/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event delivery shared by all probes: one BPF ring buffer `events` per object, a per-CPU
 * `lost` counter array indexed by enum sonde_lost_reason, and the wakeup policy.
 *
 * Wakeup policy: records are submitted with BPF_RB_NO_WAKEUP, so producers never pay for
 * waking the consumer (libbpf's adaptive wakeup throttled producers 4-5x in our
 * measurements); user space drains on a timer. When the backlog crosses a multiple of
 * targ_wakeup_bytes, that one submit forces a wakeup, so a burst is drained before the
 * ring fills. Forcing on every submit above the mark instead (the obvious policy) turned
 * into an irq_work storm on the producing CPU while the backlog stayed high: a 4x slower
 * producer in bench/ringbuf.mjs. targ_wakeup_bytes == 0 restores the kernel's default
 * (wake when the consumer has caught up).
 */
#ifndef __SONDE_RINGBUF_BPF_H
#define __SONDE_RINGBUF_BPF_H

#include "sonde.h"

const volatile __u64 targ_wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* user space may resize before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_LOST__MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void sonde_count_lost(enum sonde_lost_reason reason)
{
	__u32 key = reason;
	__u64 *v = bpf_map_lookup_elem(&lost, &key);

	if (v)
		*v += 1;
}

static __always_inline void *sonde_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		sonde_count_lost(SONDE_LOST_RINGBUF_FULL);
	return e;
}

/*
 * The submit flags for a record of `size` bytes, given `avail`: the ring's unconsumed bytes
 * including this record's footprint (see the wakeup policy above).
 */
static __always_inline __u64 sonde_wakeup_flags(__u64 size, __u64 avail)
{
	__u64 mark = targ_wakeup_bytes;
	/* this record's footprint in the ring: 8-byte header, 8-byte aligned */
	__u64 footprint = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;

	if (mark == 0)
		return 0;
	if (avail >= mark && (avail < footprint || (avail - footprint) / mark != avail / mark))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* size: what was passed to sonde_reserve() */
static __always_inline void sonde_submit(void *e, __u64 size)
{
	bpf_ringbuf_submit(e, sonde_wakeup_flags(size, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA)));
}

/*
 * Copies a variable-size record (bpf_ringbuf_reserve() needs a constant size) with the same
 * wakeup policy; `size` must be bounded for the verifier. Returns 0 or counts RINGBUF_FULL.
 */
static __always_inline int sonde_output(void *data, __u64 size)
{
	__u64 footprint = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + footprint;

	if (bpf_ringbuf_output(&events, data, size, sonde_wakeup_flags(size, avail))) {
		sonde_count_lost(SONDE_LOST_RINGBUF_FULL);
		return -1;
	}
	return 0;
}

#endif /* __SONDE_RINGBUF_BPF_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Definitions shared by every Sonde BPF object and by user space (native/src/layouts.c
 * exports them to TypeScript). This file is the ONLY definition of these values.
 * Include after vmlinux.h (BPF side) or <linux/types.h> (user side).
 */
#ifndef __SONDE_H
#define __SONDE_H

/* Index into each object's `lost` per-CPU array: why an event could not be produced. */
enum sonde_lost_reason {
	SONDE_LOST_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve() failed: consumer too slow or ring too small */
	SONDE_LOST_TABLE_FULL = 1,   /* a tracking map (connection/listen/oom table) rejected an insert */
	SONDE_LOST_UNTRACKED = 2,    /* end of something whose start was not seen (e.g. close of a socket opened before attach) */
	SONDE_LOST__MAX = 3,
};

enum sonde_limits {
	SONDE_COMM_LEN = 16, /* TASK_COMM_LEN */
	SONDE_ADDR_LEN = 16, /* an IPv6 address; IPv4 uses the first 4 bytes */
};

#endif /* __SONDE_H */

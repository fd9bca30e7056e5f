/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Ring-buffer delivery benchmark producer (bench/ringbuf.mjs). Not a probe. */
#ifndef __SONDE_RINGBENCH_H
#define __SONDE_RINGBENCH_H

struct ringbench_cfg {
	__u32 target_tgid;     /* only this process's syscalls produce events */
	__u32 events_per_call; /* records emitted per syscall (bpf_loop) */
};

#endif

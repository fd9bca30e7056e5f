/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Comparison object for bench/nginx-overhead.mjs: coroot-style syscall tracepoints. Not a probe. */
#ifndef __SONDE_BENCH_SYSCALLS_H
#define __SONDE_BENCH_SYSCALLS_H
struct bench_fd_key {
	__u32 tgid;
	__u32 fd;
};
#endif

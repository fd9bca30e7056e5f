/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Comparison object for bench/l7-attach.mjs: candidate L7 attach points. Not a probe. */
#ifndef __SONDE_BENCH_L7CAND_H
#define __SONDE_BENCH_L7CAND_H
/* per-CPU counters: index 0 = runs that sniffed payload, 1 = payload bytes seen */
enum l7cand_counter {
	L7CAND_SNIFFS = 0,
	L7CAND_BYTES = 1,
	L7CAND__MAX = 2,
};
#endif

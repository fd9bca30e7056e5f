// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test object: a program the verifier must reject (tests VerifierError and its log). */
#include "vmlinux.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_process_exec")
int sonde_test_reject(__u64 *ctx)
{
	volatile char buf[8];
	__u32 i = bpf_get_prandom_u32();

	return buf[i]; /* unbounded, uninitialised stack read */
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark producer: every syscall of cfg.target_tgid emits cfg.events_per_call
 * struct process_event records through the same reserve/submit path (and wakeup policy)
 * as the real probes. Attaching to raw_syscalls:sys_enter slows every syscall on the
 * host; use only for benchmarks.
 */
#include "vmlinux.bpf.h"
#include "ringbuf.bpf.h"
#include "process.h"
#include "ringbench.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ringbench_cfg);
} bench_cfg SEC(".maps");

struct loop_ctx {
	__u32 pid;
	__u32 _pad0;
	__u64 now;
};

static long emit_one(__u64 i, struct loop_ctx *lc)
{
	struct process_event *e = sonde_reserve(sizeof(*e));

	if (!e)
		return 0; /* ring full: counted as lost; keep counting the rest of the burst */
	e->ts_ns = lc->now;
	e->cgroup_id = i;
	e->type = PROCESS_EVENT_EXEC;
	e->pid = lc->pid;
	e->ppid = 1;
	e->exit_code = 0;
	e->flags = 0;
	e->_pad0 = 0;
	__builtin_memcpy(e->comm, "ringbench\0\0\0\0\0\0", SONDE_COMM_LEN);
	sonde_submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sonde_ringbench, struct pt_regs *regs, long id)
{
	__u32 key = 0;
	struct ringbench_cfg *cfg = bpf_map_lookup_elem(&bench_cfg, &key);
	struct loop_ctx lc = {};

	if (!cfg || (bpf_get_current_pid_tgid() >> 32) != cfg->target_tgid)
		return 0;
	lc.pid = cfg->target_tgid;
	lc.now = bpf_ktime_get_ns();
	bpf_loop(cfg->events_per_call, emit_one, &lc, 0);
	return 0;
}

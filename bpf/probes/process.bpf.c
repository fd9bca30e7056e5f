// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process lifecycle: exec, fork (optional), exit (with OOM-kill flag) and OOM kills.
 * All programs are BTF raw tracepoints (tp_btf): no tracefs, no syscall slow path; task
 * fields are read with direct CO-RE loads from the trusted BTF pointers (no probe reads).
 * Threads are skipped: only thread-group leaders produce EXIT, only new processes FORK.
 */
#include "vmlinux.bpf.h"
#include "ringbuf.bpf.h"
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The agent's own tgid: its events are dropped in the kernel. */
const volatile __u32 targ_self_tgid = 0;

/* tgids marked by oom:mark_victim, consumed by their exit. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} oom_victims SEC(".maps");

static __always_inline struct process_event *reserve_event(__u32 type, __u32 pid)
{
	struct process_event *e = sonde_reserve(sizeof(*e));

	if (!e)
		return NULL;
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = 0;
	e->type = type;
	e->pid = pid;
	e->ppid = 0;
	e->exit_code = 0;
	e->flags = 0;
	e->_pad0 = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sonde_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 pid = p->tgid;
	struct process_event *e;

	if (pid == targ_self_tgid)
		return 0;
	e = reserve_event(PROCESS_EVENT_EXEC, pid);
	if (!e)
		return 0;
	e->ppid = p->real_parent->tgid;
	e->cgroup_id = bpf_get_current_cgroup_id(); /* p == current here */
	__builtin_memcpy(e->comm, p->comm, SONDE_COMM_LEN);
	sonde_submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sonde_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = child->pid;
	__u32 tgid = child->tgid;
	struct process_event *e;

	/* a thread, not a process */
	if (pid != tgid)
		return 0;
	if (parent->tgid == targ_self_tgid)
		return 0;
	e = reserve_event(PROCESS_EVENT_FORK, tgid);
	if (!e)
		return 0;
	e->ppid = parent->tgid;
	e->cgroup_id = bpf_get_current_cgroup_id(); /* the child starts in the parent's cgroup */
	__builtin_memcpy(e->comm, parent->comm, SONDE_COMM_LEN);
	sonde_submit(e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sonde_exit, struct task_struct *p)
{
	__u32 pid = p->pid;
	__u32 tgid = p->tgid;
	struct process_event *e;
	__u32 *marked;

	/* only the thread-group leader stands for the process */
	if (pid != tgid || tgid == targ_self_tgid)
		return 0;
	e = reserve_event(PROCESS_EVENT_EXIT, tgid);
	marked = bpf_map_lookup_elem(&oom_victims, &tgid);
	if (marked) {
		if (e)
			e->flags |= PROCESS_FLAG_OOM_KILLED;
		bpf_map_delete_elem(&oom_victims, &tgid);
	}
	if (!e)
		return 0;
	e->ppid = p->real_parent->tgid;
	e->exit_code = p->exit_code;
	e->cgroup_id = bpf_get_current_cgroup_id(); /* p == current here */
	__builtin_memcpy(e->comm, p->comm, SONDE_COMM_LEN);
	sonde_submit(e, sizeof(*e));
	return 0;
}

/*
 * oom:mark_victim changed signature in Linux 6.8 from (int pid) to
 * (struct task_struct *task, uid_t uid), together with a new `uid` field in the
 * tracepoint record. The field's existence (a CO-RE relocation, resolved at load)
 * selects how the first argument is read; the verifier never sees the dead branch.
 */
struct trace_event_raw_mark_victim___sonde {
	uid_t uid;
} __attribute__((preserve_access_index));

SEC("tp_btf/mark_victim")
int sonde_oom_victim(__u64 *ctx)
{
	struct process_event *e;
	struct task_struct *task = NULL;
	__u32 tgid;
	__u32 one = 1;

	if (bpf_core_field_exists(struct trace_event_raw_mark_victim___sonde, uid)) {
		task = (struct task_struct *)ctx[0];
		tgid = BPF_CORE_READ(task, tgid);
	} else {
		tgid = (__u32)ctx[0]; /* Linux < 6.8: the victim's pid (a tid) */
	}
	if (bpf_map_update_elem(&oom_victims, &tgid, &one, BPF_ANY))
		sonde_count_lost(SONDE_LOST_TABLE_FULL);
	e = reserve_event(PROCESS_EVENT_OOM_KILL, tgid);
	if (!e)
		return 0;
	if (task) {
		e->ppid = BPF_CORE_READ(task, real_parent, tgid);
		e->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
		BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	}
	sonde_submit(e, sizeof(*e));
	return 0;
}

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Process lifecycle events. The ONLY definition of these structs/enums (see layouts.c). */
#ifndef __SONDE_PROCESS_H
#define __SONDE_PROCESS_H

#include "sonde.h"

enum process_event_type {
	PROCESS_EVENT_EXEC = 1,     /* a process image was replaced (sched_process_exec) */
	PROCESS_EVENT_EXIT = 2,     /* a process (thread-group leader) exited */
	PROCESS_EVENT_OOM_KILL = 3, /* the OOM killer chose this process (oom:mark_victim) */
	PROCESS_EVENT_FORK = 4,     /* a new process (not a thread) was created */
};

enum process_event_flags {
	PROCESS_FLAG_OOM_KILLED = 1, /* EXIT: the process had been marked as an OOM victim */
};

struct process_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id; /* cgroup v2 id (default hierarchy); on hybrid hosts read /proc/<pid>/cgroup for v1 paths */
	__u32 type;      /* enum process_event_type */
	__u32 pid;       /* tgid */
	__u32 ppid;      /* parent tgid (EXEC, FORK) */
	__u32 exit_code; /* EXIT: task->exit_code, wait(2) status encoding: (code << 8) | signal */
	__u32 flags;     /* enum process_event_flags */
	__u32 _pad0;
	char comm[SONDE_COMM_LEN];
};

#endif /* __SONDE_PROCESS_H */

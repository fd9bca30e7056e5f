// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark comparison only: the (pid, fd) bookkeeping coroot-node-agent does with
 * syscalls:sys_enter/exit_connect, sys_exit_accept4 and sys_enter_close. Enabling any
 * syscall tracepoint flags every task for the tracing slow path, which is what this
 * object exists to measure against the tp_btf socket-state programs (BENCHMARKS.md).
 */
#include "vmlinux.bpf.h"
#include "syscalls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bench_fd_key);
	__type(value, __u64);
} fds SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_connect")
int sonde_bsc_conn_in(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 fd = ctx->args[0];

	bpf_map_update_elem(&inflight, &id, &fd, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sonde_bsc_conn_out(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *fd = bpf_map_lookup_elem(&inflight, &id);
	struct bench_fd_key k = {};
	__u64 now = bpf_ktime_get_ns();

	if (!fd)
		return 0;
	k.tgid = id >> 32;
	k.fd = *fd;
	bpf_map_update_elem(&fds, &k, &now, BPF_ANY);
	bpf_map_delete_elem(&inflight, &id);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sonde_bsc_accept(struct trace_event_raw_sys_exit *ctx)
{
	struct bench_fd_key k = {};
	__u64 now = bpf_ktime_get_ns();

	if (ctx->ret < 0)
		return 0;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.fd = ctx->ret;
	bpf_map_update_elem(&fds, &k, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int sonde_bsc_close(struct trace_event_raw_sys_enter *ctx)
{
	struct bench_fd_key k = {};

	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.fd = ctx->args[0];
	bpf_map_delete_elem(&fds, &k);
	return 0;
}

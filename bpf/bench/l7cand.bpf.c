// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Benchmark comparison only (bench/l7-attach.mjs): the attach points an L7 payload probe could
 * use, each doing the same minimal work the real probe does per message — find the connection
 * (socket cookie or (pid, fd) lookup in an LRU map) and sniff the first 8 payload bytes:
 *   sockops + sk_msg            sock_ops adds every established socket to a sockhash; sk_msg sees sendmsg payload
 *   sockops + sk_skb verdict    the same sockhash; stream_verdict sees received payload (changes the rx path)
 *   tp_btf sock_send/recv_length process context, per sendmsg/recvmsg of any socket: length only, no payload
 *   syscall tracepoints          read/write/readv/writev/recvfrom/sendto: every syscall of every process on the slow path
 * The chosen design (cgroup_skb + tp_btf/tcp_sendmsg_locked) is bpf/probes/l7.bpf.c.
 */
#include "vmlinux.bpf.h"
#include "l7cand.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SK_PASS 1

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L7CAND__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} socks SEC(".maps");

/* per-thread buffer pointer between sys_enter_read and sys_exit_read */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} reads SEC(".maps");

static __always_inline void seen(__u64 key, __u64 first, __u64 len)
{
	__u32 k = L7CAND_SNIFFS;
	__u64 *v, *c = bpf_map_lookup_elem(&conns, &key);

	if (!c) {
		bpf_map_update_elem(&conns, &key, &first, BPF_NOEXIST);
	} else {
		*c ^= first;
	}
	v = bpf_map_lookup_elem(&counters, &k);
	if (v)
		*v += 1;
	k = L7CAND_BYTES;
	v = bpf_map_lookup_elem(&counters, &k);
	if (v)
		*v += len;
}

SEC("sockops")
int sonde_cand_sockops(struct bpf_sock_ops *skops)
{
	__u64 key;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	key = bpf_get_socket_cookie(skops);
	bpf_sock_hash_update(skops, &socks, &key, BPF_NOEXIST);
	return 1;
}

SEC("sk_msg")
int sonde_cand_msg(struct sk_msg_md *msg)
{
	void *data = msg->data, *end = msg->data_end;
	__u64 first = 0;

	if (data + 8 <= end)
		first = *(__u64 *)data;
	/* sk_msg has no bpf_get_socket_cookie: key by ports */
	seen(((__u64)msg->local_port << 32) | msg->remote_port, first, msg->size);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int sonde_cand_verdict(struct __sk_buff *skb)
{
	__u64 first = 0;

	if (skb->len >= 8)
		bpf_skb_load_bytes(skb, 0, &first, 8);
	seen(bpf_get_socket_cookie(skb), first, skb->len);
	return SK_PASS;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_cand_send, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	seen(bpf_get_socket_cookie(sk), 0, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_cand_recv, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	seen(bpf_get_socket_cookie(sk), 0, ret);
	return 0;
}

static __always_inline void sniff_user(__u64 fd, const void *buf, __u64 len)
{
	__u64 first = 0;

	if (len >= 8)
		bpf_probe_read_user(&first, 8, buf);
	seen((bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | fd, first, len);
}

SEC("tracepoint/syscalls/sys_enter_write")
int sonde_cand_write(struct trace_event_raw_sys_enter *ctx)
{
	sniff_user(ctx->args[0], (const void *)ctx->args[1], ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int sonde_cand_writev(struct trace_event_raw_sys_enter *ctx)
{
	struct iovec iov = {};

	if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)ctx->args[1]))
		return 0;
	sniff_user(ctx->args[0], iov.iov_base, iov.iov_len);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int sonde_cand_read_in(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 buf = ctx->args[1];

	bpf_map_update_elem(&reads, &id, &buf, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int sonde_cand_read_out(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *buf = bpf_map_lookup_elem(&reads, &id);

	if (!buf)
		return 0;
	if (ctx->ret > 0)
		sniff_user(0, (const void *)*buf, ctx->ret);
	bpf_map_delete_elem(&reads, &id);
	return 0;
}

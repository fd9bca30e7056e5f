// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP connections from socket state changes (tp_btf/inet_sock_set_state) and retransmits
 * (tp_btf/tcp_retransmit_skb). No syscall tracepoints: they put every syscall of every
 * process on the tracing slow path (see BENCHMARKS.md).
 *
 *   CLOSE -> SYN_SENT          process context: connect(); record the connection (client)
 *   SYN_SENT -> ESTABLISHED    CONNECT with latency
 *   SYN_SENT -> CLOSE          CONNECT_FAILED with sk_err (ECONNREFUSED, ETIMEDOUT, ...)
 *   * -> LISTEN                process context: listen(); record (netns, port) -> pid
 *   LISTEN -> CLOSE            LISTEN_CLOSE
 *   SYN_RECV -> ESTABLISHED    softirq: ACCEPT attributed through the listen table
 *   other -> CLOSE             CLOSE of a tracked connection with byte counts
 *
 * States: include/net/tcp_states.h. Tracepoint: include/trace/events/sock.h.
 */
#include "vmlinux.bpf.h"
#include "ringbuf.bpf.h"
#include "tcp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* The agent's own tgid: its sockets are never tracked. */
const volatile __u32 targ_self_tgid = 0;

/* Connection table, shareable with other objects via bpf_map__reuse_fd (bpf/README.md). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* socket cookie */
	__type(value, struct sonde_conn);
} sonde_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct sonde_listen_key);
	__type(value, struct sonde_listener);
} sonde_listen SEC(".maps");

/* Listening socket cookie -> its listen key: at LISTEN -> CLOSE the port may already be released. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct sonde_listen_key);
} sonde_listen_socks SEC(".maps");

/*
 * sk is a trusted BTF pointer in tp_btf programs: fields are read with plain CO-RE-relocated
 * loads (and BTF pointer walks), not bpf_probe_read_kernel() calls, which cost ~20-30 ns each.
 */
static __always_inline void read_tuple(const struct sock *sk, struct sonde_tuple *t)
{
	__u16 family = sk->__sk_common.skc_family;

	t->family = family;
	t->sport = sk->__sk_common.skc_num;
	t->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	t->_pad0 = 0;
	if (family == AF_INET6) {
		__builtin_memcpy(t->saddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, SONDE_ADDR_LEN);
		__builtin_memcpy(t->daddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, SONDE_ADDR_LEN);
	} else {
		__builtin_memset(t->saddr, 0, sizeof(t->saddr));
		__builtin_memset(t->daddr, 0, sizeof(t->daddr));
		*(__u32 *)t->saddr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)t->daddr = sk->__sk_common.skc_daddr;
	}
}

static __always_inline __u32 read_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline __u64 read_sock_ino(const struct sock *sk)
{
	struct socket *sock = sk->sk_socket;

	if (!sock || !sock->file)
		return 0;
	return sock->file->f_inode->i_ino;
}

static __always_inline struct tcp_event *reserve_event(__u32 type, const struct sock *sk, __u64 cookie,
						       __u64 now, __u32 state)
{
	struct tcp_event *e = sonde_reserve(sizeof(*e));

	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->cookie = cookie;
	e->type = type;
	e->state = state;
	e->netns = read_netns(sk);
	read_tuple(sk, &e->tuple);
	return e;
}

static __always_inline void fill_owner(struct tcp_event *e, const struct sonde_conn *c)
{
	e->pid = c->pid;
	e->cgroup_id = c->cgroup_id;
	e->role = c->role;
}

static __always_inline void on_connect_start(const struct sock *sk, __u64 cookie, __u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sonde_conn c = {};

	if ((__u32)(pid_tgid >> 32) == targ_self_tgid)
		return;
	c.start_ns = now;
	c.cgroup_id = bpf_get_current_cgroup_id();
	c.sock_ino = read_sock_ino(sk);
	read_tuple(sk, &c.tuple);
	c.pid = pid_tgid >> 32;
	c.tid = (__u32)pid_tgid;
	c.netns = read_netns(sk);
	c.role = SONDE_ROLE_CLIENT;
	if (bpf_map_update_elem(&sonde_conns, &cookie, &c, BPF_ANY))
		sonde_count_lost(SONDE_LOST_TABLE_FULL);
}

static __always_inline void on_connect_end(const struct sock *sk, __u64 cookie, __u64 now, int newstate)
{
	struct sonde_conn *c = bpf_map_lookup_elem(&sonde_conns, &cookie);
	__u32 type = newstate == SONDE_TCP_ESTABLISHED ? TCP_EVENT_CONNECT : TCP_EVENT_CONNECT_FAILED;
	struct tcp_event *e;

	if (!c)
		return; /* the agent's own, or started before attach */
	e = reserve_event(type, sk, cookie, now, newstate);
	if (e) {
		fill_owner(e, c);
		e->duration_ns = now - c->start_ns;
		if (type == TCP_EVENT_CONNECT_FAILED)
			e->error = sk->sk_err;
		sonde_submit(e, sizeof(*e));
	}
	if (type == TCP_EVENT_CONNECT_FAILED) {
		bpf_map_delete_elem(&sonde_conns, &cookie);
		return;
	}
	/* at SYN_SENT the source port was not chosen yet (inet_hash_connect runs after) */
	read_tuple(sk, &c->tuple);
	if (!c->sock_ino)
		c->sock_ino = read_sock_ino(sk);
}

static __always_inline void on_listen(const struct sock *sk, __u64 cookie, __u64 now, int open)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sonde_listen_key key = {};
	struct sonde_listener *l, nl = {};
	struct sonde_listen_key *k;
	struct tcp_event *e;

	if (open) {
		/* the agent's own listeners are recorded too (so their accepts can be dropped), not reported */
		key.netns = read_netns(sk);
		key.port = sk->__sk_common.skc_num;
		if (bpf_map_update_elem(&sonde_listen_socks, &cookie, &key, BPF_ANY))
			sonde_count_lost(SONDE_LOST_TABLE_FULL);
		l = bpf_map_lookup_elem(&sonde_listen, &key);
		if (l) {
			l->pid = tgid;
			l->cgroup_id = bpf_get_current_cgroup_id();
			__sync_fetch_and_add(&l->count, 1);
		} else {
			nl.pid = tgid;
			nl.cgroup_id = bpf_get_current_cgroup_id();
			nl.count = 1;
			if (bpf_map_update_elem(&sonde_listen, &key, &nl, BPF_ANY))
				sonde_count_lost(SONDE_LOST_TABLE_FULL);
		}
		if (tgid == targ_self_tgid)
			return;
		e = reserve_event(TCP_EVENT_LISTEN_OPEN, sk, cookie, now, SONDE_TCP_LISTEN);
		if (!e)
			return;
		e->pid = tgid;
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->role = SONDE_ROLE_SERVER;
		sonde_submit(e, sizeof(*e));
		return;
	}
	/* the port may be gone (listen(0) sockets release it in tcp_set_state): use the recorded key */
	k = bpf_map_lookup_elem(&sonde_listen_socks, &cookie);
	if (!k)
		return; /* listening since before attach */
	key = *k;
	bpf_map_delete_elem(&sonde_listen_socks, &cookie);
	l = bpf_map_lookup_elem(&sonde_listen, &key);
	if (!l)
		return;
	if (l->pid != targ_self_tgid) {
		e = reserve_event(TCP_EVENT_LISTEN_CLOSE, sk, cookie, now, SONDE_TCP_CLOSE);
		if (e) {
			e->tuple.sport = key.port;
			/* the closing process, when it is in process context; else the last listener */
			e->pid = l->pid;
			e->cgroup_id = l->cgroup_id;
			e->role = SONDE_ROLE_SERVER;
			sonde_submit(e, sizeof(*e));
		}
	}
	/* listen()/close() run in process context and rarely race; no fetch-and-add needed */
	if (l->count <= 1)
		bpf_map_delete_elem(&sonde_listen, &key);
	else
		__sync_fetch_and_add(&l->count, -1);
}

static __always_inline void on_accept(const struct sock *sk, __u64 cookie, __u64 now)
{
	struct sonde_listen_key key = {};
	struct sonde_listener *l;
	struct sonde_conn c = {};
	struct tcp_event *e;

	key.netns = read_netns(sk);
	key.port = sk->__sk_common.skc_num;
	l = bpf_map_lookup_elem(&sonde_listen, &key);
	if (l && l->pid == targ_self_tgid)
		return; /* the agent's own listener */
	c.start_ns = now;
	read_tuple(sk, &c.tuple);
	if (l) {
		c.pid = l->pid;
		c.cgroup_id = l->cgroup_id;
	}
	/* else: listening since before attach; pid 0 = unknown, user space resolves the port
	 * through /proc (or pre-fills sonde_listen at start) */
	c.netns = key.netns;
	c.role = SONDE_ROLE_SERVER;
	if (bpf_map_update_elem(&sonde_conns, &cookie, &c, BPF_ANY))
		sonde_count_lost(SONDE_LOST_TABLE_FULL);
	e = reserve_event(TCP_EVENT_ACCEPT, sk, cookie, now, SONDE_TCP_ESTABLISHED);
	if (!e)
		return;
	fill_owner(e, &c);
	sonde_submit(e, sizeof(*e));
}

/*
 * bytes_acked and bytes_received count sequence space, which includes SYN and FIN:
 * a client's bytes_acked includes its SYN (a server's child socket starts past it), and
 * either counter includes a FIN once it was acked / received. Sonde reports data bytes.
 */
static __always_inline __u64 data_bytes_sent(const struct tcp_sock *tp, const struct sonde_conn *c, int oldstate)
{
	__u64 acked = tp->bytes_acked;
	__u64 syn = c->role == SONDE_ROLE_CLIENT && acked > 0;
	__u64 fin = 0;

	/* in these states our FIN was queued; it was acked if nothing is outstanding */
	if ((oldstate == SONDE_TCP_FIN_WAIT1 || oldstate == SONDE_TCP_FIN_WAIT2 || oldstate == SONDE_TCP_CLOSING ||
	     oldstate == SONDE_TCP_LAST_ACK) &&
	    tp->snd_una == tp->write_seq)
		fin = 1;
	return acked >= syn + fin ? acked - syn - fin : 0;
}

static __always_inline __u64 data_bytes_received(const struct sock *sk, const struct tcp_sock *tp)
{
	__u64 received = tp->bytes_received;

	/* tcp_fin() sets SOCK_DONE when the peer's FIN arrives (tcp_reset() does not) */
	if ((sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received > 0)
		received--;
	return received;
}

static __always_inline void on_close(const struct sock *sk, __u64 cookie, __u64 now, int oldstate)
{
	struct sonde_conn *c = bpf_map_lookup_elem(&sonde_conns, &cookie);
	struct tcp_sock *tp;
	struct tcp_event *e;

	if (!c) {
		/* only established-and-later states count: SYN_RECV -> CLOSE is a failed handshake */
		if (oldstate != SONDE_TCP_SYN_RECV)
			sonde_count_lost(SONDE_LOST_UNTRACKED);
		return;
	}
	e = reserve_event(TCP_EVENT_CLOSE, sk, cookie, now, SONDE_TCP_CLOSE);
	if (e) {
		fill_owner(e, c);
		/* tcp_set_state(CLOSE) releases the local port before the tracepoint fires */
		e->tuple = c->tuple;
		e->duration_ns = now - c->start_ns;
		tp = bpf_skc_to_tcp_sock((void *)sk);
		if (tp) {
			e->bytes_sent = data_bytes_sent(tp, c, oldstate);
			e->bytes_received = data_bytes_received(sk, tp);
			e->retransmits = tp->total_retrans;
		}
		sonde_submit(e, sizeof(*e));
	}
	bpf_map_delete_elem(&sonde_conns, &cookie);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 cookie, now;

	/* transitions nothing is derived from leave first: about half of a connection's */
	if (newstate != SONDE_TCP_SYN_SENT && oldstate != SONDE_TCP_SYN_SENT && newstate != SONDE_TCP_LISTEN &&
	    newstate != SONDE_TCP_CLOSE && !(oldstate == SONDE_TCP_SYN_RECV && newstate == SONDE_TCP_ESTABLISHED))
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();
	cookie = bpf_get_socket_cookie((void *)sk);

	if (newstate == SONDE_TCP_SYN_SENT) {
		on_connect_start(sk, cookie, now);
	} else if (oldstate == SONDE_TCP_SYN_SENT) {
		on_connect_end(sk, cookie, now, newstate);
	} else if (newstate == SONDE_TCP_LISTEN) {
		on_listen(sk, cookie, now, 1);
	} else if (oldstate == SONDE_TCP_LISTEN) {
		on_listen(sk, cookie, now, 0); /* LISTEN -> CLOSE (LISTEN -> SYN_RECV, a child's clone, left above) */
	} else if (oldstate == SONDE_TCP_SYN_RECV && newstate == SONDE_TCP_ESTABLISHED) {
		on_accept(sk, cookie, now);
	} else {
		on_close(sk, cookie, now, oldstate);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(sonde_tcp_retx, const struct sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct sonde_conn *c = bpf_map_lookup_elem(&sonde_conns, &cookie);
	struct tcp_event *e;

	if (!c)
		return 0; /* untracked, or the agent's own */
	e = reserve_event(TCP_EVENT_RETRANSMIT, sk, cookie, bpf_ktime_get_ns(), sk->__sk_common.skc_state);
	if (!e)
		return 0;
	fill_owner(e, c);
	e->retransmits = 1;
	sonde_submit(e, sizeof(*e));
	return 0;
}

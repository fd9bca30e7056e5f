// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * L7 payload capture from TCP segments: cgroup_skb egress + ingress programs attached to the
 * cgroup v2 root see every TCP segment of every socket on the host, in the kernel's own
 * packets (no syscall tracepoints: they put every syscall of every process on the tracing slow
 * path, BENCHMARKS-ebpf.md). Per segment with payload:
 *
 *   1. headers from the linear skb area (direct packet access): TCP, payload offset, seq
 *   2. per-connection state in socket-local storage (l7_store: no hash lookup, freed with the socket)
 *   3. until a protocol is known: the detector table (targ_detectors) on the first bytes;
 *      after targ_detect_tries misses the connection is ignored (one lookup per segment)
 *   4. detected: DATA record = header + the first targ_capture_bytes of the segment + its real
 *      length; sequence numbers drop retransmits and report holes (gap) so user space gets the
 *      stream in order; the owner pid/tid from process context (egress writes)
 *   5. tp_btf/inet_sock_set_state -> CLOSE: CLOSE record, state dropped
 *
 * Who wrote: tp_btf/tcp_sendmsg_locked runs in the writer's context before its data is queued
 * and records the thread in the connection's state; egress segments carry it (also when TCP
 * sends them later from softirq). Ingress segments arrive in softirq: no reader is known (0).
 * Who owns a server connection: accepts complete in softirq, so the tcp probe attributes them
 * to the listener's process (an nginx master, a cluster primary); tp_btf/tcp_rcv_space_adjust
 * (every TCP read that copied data, in the reader's context) and the sendmsg program confirm the
 * owner once and send an OWNER record, before the owner can act on the request it read.
 * See bpf/README.md, "l7 probe", for the measurements behind the choices.
 */
#include "vmlinux.bpf.h"
#include "ringbuf.bpf.h"
#include "l7.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define AF_INET 2
#define AF_INET6 10
#define TCP_CLOSE_STATE 7

/* The agent's own tgid: its connections are never traced. */
const volatile __u32 targ_self_tgid = 0;
/* Payload bytes copied per segment that may start a message (<= L7_CAPTURE_MAX). */
const volatile __u32 targ_capture_bytes = 1024;
/*
 * Payload bytes copied per continuation segment: same direction as the previous one and its first
 * bytes match none of the connection's protocol rows (bulk body). 0: its length only.
 */
const volatile __u32 targ_continuation_bytes = 0;
/* Payload segments the detector may reject before the connection is ignored. */
const volatile __u32 targ_detect_tries = 4;
/* The detector table (user space fills it before load). */
const volatile __u32 targ_ndetectors = 0;
const volatile struct l7_detector targ_detectors[L7_DETECTORS_MAX] = {};
/* Rows of each protocol id: [targ_proto_first[id], targ_proto_end[id]) (rows are grouped by protocol). */
const volatile __u8 targ_proto_first[L7_PROTOCOLS_MAX] = {};
const volatile __u8 targ_proto_end[L7_PROTOCOLS_MAX] = {};

/* Shared with tcp.bpf.c through bpf_map__reuse_fd (bpf/README.md): read, and the owner fixed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sonde_conn);
} sonde_conns SEC(".maps");

/*
 * Per-connection L7 state, stored on the socket (BPF_MAP_TYPE_SK_STORAGE): every program that sees a
 * socket reaches it by pointer, without a hash lookup, and the kernel frees it with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_conn);
} l7_store SEC(".maps");

/*
 * DATA records are reserved in the ring directly at one of a few constant sizes (the verifier
 * wants constant reservations) and the payload is loaded straight into them: no per-CPU scratch,
 * no second copy. The record is `captured` bytes longer than its header in meaning; the ring
 * length is the size class (user space reads `captured`).
 */
#define L7_DEFINE_CLASS(SZ)                                                                                            \
	struct l7_record_##SZ {                                                                                        \
		struct l7_event hdr;                                                                                   \
		__u8 data[SZ];                                                                                         \
	}
L7_DEFINE_CLASS(64);
L7_DEFINE_CLASS(256);
L7_DEFINE_CLASS(1024);
L7_DEFINE_CLASS(4096);
_Static_assert(L7_CAPTURE_MAX == 4096, "the largest size class is L7_CAPTURE_MAX");

/*
 * The agent's own client endpoints: a server on this host answering the agent (an OTLP collector,
 * a database the agent writes to) is not traced either, or every export would make a span.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct l7_endpoint);
	__type(value, __u8);
} l7_self_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L7_STAT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} l7_stats SEC(".maps");

static __always_inline void stat_inc(enum l7_stat s)
{
	__u32 key = s;
	__u64 *v = bpf_map_lookup_elem(&l7_stats, &key);

	if (v)
		*v += 1;
}

struct seg {
	__u32 off; /* payload offset from the network header */
	__u32 len; /* payload bytes */
	__u32 seq; /* sequence number of the first payload byte */
	__u32 syn;
};

/* TCP segment headers from the linear area; 0 if this is not a TCP segment with payload. */
static __always_inline int parse(struct __sk_buff *skb, struct seg *s)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tcphdr *th;
	__u32 nh;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			goto not_linear;
		if (ip->protocol != IPPROTO_TCP)
			return 0;
		nh = ip->ihl * 4;
		if (nh < sizeof(*ip))
			return 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			goto not_linear;
		if (ip6->nexthdr != IPPROTO_TCP)
			return 0; /* extension headers: not parsed */
		nh = sizeof(*ip6);
	} else {
		return 0;
	}
	th = data + nh;
	if ((void *)(th + 1) > end)
		goto not_linear;
	s->off = nh + th->doff * 4;
	if (skb->len <= s->off)
		return 0; /* no payload: pure ACK, SYN, FIN */
	s->len = skb->len - s->off;
	s->seq = bpf_ntohl(th->seq);
	s->syn = th->syn;
	return 1;
not_linear:
	stat_inc(L7_STAT_NOT_LINEAR);
	return 0;
}

/* Rows [from, to) of the detector table on the first bytes. Returns the row index or -1. */
static __always_inline int detect(__u64 first, __u32 len, __u8 dirbits, __u32 from, __u32 to)
{
	for (int i = 0; i < L7_DETECTORS_MAX; i++) {
		__u32 r = from + i;
		const volatile struct l7_detector *d;
		__u64 prefix, mask;

		if (r >= to || r >= L7_DETECTORS_MAX)
			break;
		barrier_var(r);
		d = &targ_detectors[r & (L7_DETECTORS_MAX - 1)]; /* the mask bounds the register the verifier checks */
		if (!(d->dir & dirbits) || len < d->len)
			continue;
		__builtin_memcpy(&prefix, (const void *)d->prefix, sizeof(prefix));
		__builtin_memcpy(&mask, (const void *)d->mask, sizeof(mask));
		if ((first & mask) == prefix)
			return r;
	}
	return -1;
}

/* The first (up to 8) payload bytes, zero-padded. 0 on success. */
static __always_inline int load_first(struct __sk_buff *skb, const struct seg *s, __u64 *first)
{
	*first = 0;
	if (s->len >= sizeof(*first))
		return bpf_skb_load_bytes(skb, s->off, first, sizeof(*first)) ? -1 : 0;
	/* shorter than a detector row can be (e.g. an inline "PING\r\n"): byte by byte */
	for (int i = 0; i < (int)sizeof(*first) - 1; i++) {
		if (i >= s->len)
			break;
		if (bpf_skb_load_bytes(skb, s->off + i, (__u8 *)first + i, 1))
			return -1;
	}
	return 0;
}

/* Which protocol directions a segment of this socket can be: from its role. */
static __always_inline __u8 dir_bits(__u8 role, int egress)
{
	if (role == SONDE_ROLE_CLIENT)
		return egress ? L7_DETECT_REQUEST : L7_DETECT_RESPONSE;
	if (role == SONDE_ROLE_SERVER)
		return egress ? L7_DETECT_RESPONSE : L7_DETECT_REQUEST;
	return L7_DETECT_REQUEST | L7_DETECT_RESPONSE;
}

/* An untracked connection's tuple from the segment's headers (local = source on egress). */
static __always_inline void fill_tuple_from_skb(struct __sk_buff *skb, int egress, struct sonde_tuple *t)
{
	__u8 *local = egress ? t->saddr : t->daddr, *remote = egress ? t->daddr : t->saddr;
	__u16 ports[2];
	__u32 nh;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return;
		t->family = AF_INET;
		*(__u32 *)local = ip.saddr;
		*(__u32 *)remote = ip.daddr;
		nh = ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return;
		t->family = AF_INET6;
		__builtin_memcpy(local, &ip6.saddr, 16);
		__builtin_memcpy(remote, &ip6.daddr, 16);
		nh = sizeof(ip6);
	}
	if (nh > 60 || bpf_skb_load_bytes(skb, nh, ports, sizeof(ports)))
		return;
	t->sport = bpf_ntohs(egress ? ports[0] : ports[1]);
	t->dport = bpf_ntohs(egress ? ports[1] : ports[0]);
}

static __always_inline void endpoint_norm(struct l7_endpoint *ep)
{
	__u32 *w = (__u32 *)ep->addr;

	if (ep->family == AF_INET6 && w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff)) {
		w[0] = w[3];
		w[1] = w[2] = w[3] = 0;
		ep->family = AF_INET;
	}
}

/* Is the peer of this segment (source on ingress, destination on egress) one of the agent's endpoints? */
static __always_inline int peer_is_self(struct __sk_buff *skb, int egress)
{
	struct sonde_tuple t = {};
	struct l7_endpoint ep = {};

	fill_tuple_from_skb(skb, egress, &t);
	__builtin_memcpy(ep.addr, t.daddr, SONDE_ADDR_LEN);
	ep.family = t.family;
	ep.port = t.dport;
	endpoint_norm(&ep);
	return bpf_map_lookup_elem(&l7_self_peers, &ep) != NULL;
}

/* First payload byte of the connection in both directions (nothing before it was missed). */
static __always_inline int at_stream_start(struct __sk_buff *skb, int egress)
{
	struct bpf_sock *sk = skb->sk;
	struct bpf_tcp_sock *tp;
	__u32 segs;

	if (!sk)
		return 0;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 0;
	tp = bpf_tcp_sock(sk);
	if (!tp)
		return 0;
	/* ingress runs before tcp_segs_in() counts the segment; egress after data_segs_out did */
	if (tp->data_segs_in != 0)
		return 0;
	segs = skb->gso_segs ? skb->gso_segs : 1;
	return egress ? tp->data_segs_out <= segs : tp->data_segs_out == 0;
}

static __always_inline int emit_open(struct __sk_buff *skb, int egress, __u64 cookie, __u64 now,
				     struct l7_conn *st, const struct sonde_conn *c, __u8 flags)
{
	struct l7_conn_event *e = sonde_reserve(sizeof(*e));

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->cookie = cookie;
	e->type = L7_EVENT_OPEN;
	e->pid = st->pid;
	e->role = st->role;
	e->protocol = st->protocol;
	if (c) {
		e->start_ns = c->start_ns;
		e->cgroup_id = c->cgroup_id;
		e->tuple = c->tuple;
		e->netns = c->netns;
		flags |= L7_CONN_TRACKED;
	} else {
		fill_tuple_from_skb(skb, egress, &e->tuple);
	}
	if (st->state & L7_STATE_OWNER_TASK)
		flags |= L7_CONN_OWNER_TASK;
	e->flags = flags;
	sonde_submit(e, sizeof(*e));
	return 1;
}

static __always_inline void emit_event(__u32 type, __u64 cookie, __u64 pid_tgid)
{
	struct l7_event *e = sonde_reserve(sizeof(*e));

	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->cookie = cookie;
	e->type = type;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	sonde_submit(e, sizeof(*e));
}

/*
 * The connection's state (created on first sight, filled from what the tcp probe knows). `sk` is a
 * full socket: struct bpf_sock from cgroup_skb, struct sock from tracing programs.
 */
#define L7_STATE_OF(sk, cookie)                                                                                        \
	({                                                                                                             \
		struct l7_conn *__st = bpf_sk_storage_get(&l7_store, (sk), 0, BPF_SK_STORAGE_GET_F_CREATE);             \
		if (__st && !(__st->state & L7_STATE_INIT))                                                            \
			init_state(__st, (cookie));                                                                    \
		__st;                                                                                                  \
	})

static __always_inline void init_state(struct l7_conn *st, __u64 cookie)
{
	struct sonde_conn *c = bpf_map_lookup_elem(&sonde_conns, &cookie);

	if (c) {
		st->role = c->role;
		st->pid = c->pid;
		if (c->role == SONDE_ROLE_CLIENT && c->pid)
			st->state |= L7_STATE_OWNER_TASK; /* connect() ran in its context */
	}
	st->state |= L7_STATE_INIT;
}

/* Detection on a connection's payload segment. Returns 1 when the protocol is known now. */
static __always_inline int try_detect(struct __sk_buff *skb, const struct seg *s, __u64 cookie, __u64 now,
				      struct l7_conn *st, int egress)
{
	__u8 dirbits, role = st->role, matched;
	__u64 first = 0;
	int row, from_start = 0;

	if (!(st->state & L7_STATE_STARTED) && !st->tries)
		from_start = at_stream_start(skb, egress);
	st->state |= L7_STATE_STARTED;
	dirbits = dir_bits(role, egress);
	if (load_first(skb, s, &first))
		return 0;
	row = detect(first, s->len, dirbits, 0, targ_ndetectors);
	if (row < 0 || row >= L7_DETECTORS_MAX) {
		if (++st->tries >= targ_detect_tries) {
			st->state |= L7_STATE_IGNORED;
			stat_inc(L7_STAT_UNDETECTED);
		}
		return 0;
	}
	matched = targ_detectors[row].dir;
	if (role == SONDE_ROLE_UNKNOWN) {
		/* a request written here, or a response read here: this end is the client */
		if (matched & L7_DETECT_REQUEST)
			role = egress ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
		else
			role = egress ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
		st->role = role;
	}
	if (role == SONDE_ROLE_SERVER && peer_is_self(skb, egress)) {
		st->state |= L7_STATE_IGNORED;
		stat_inc(L7_STAT_SELF);
		return 0;
	}
	st->protocol = targ_detectors[row].protocol;
	if (!emit_open(skb, egress, cookie, now, st, bpf_map_lookup_elem(&sonde_conns, &cookie),
		       from_start ? L7_CONN_FROM_START : 0)) {
		st->protocol = 0; /* the ring is full: detect again on a later segment */
		return 0;
	}
	stat_inc(L7_STAT_DETECTED);
	return 1;
}

/*
 * When the segment passed. Egress: the departure time TCP stamped on it (skb->tstamp, EDT, set by
 * __tcp_transmit_skb for every segment a full TCP socket sends: CLOCK_MONOTONIC like
 * bpf_ktime_get_ns(), from the clock TCP refreshed for this transmit; later than now only when the
 * socket is paced and fq holds the segment until then). Reading it instead of the clock saves ~35 ns
 * per egress segment (BENCHMARKS.md). Ingress: the receive stamp is absent or CLOCK_REALTIME, so the
 * clock is read.
 */
static __always_inline __u64 seg_time(struct __sk_buff *skb, int egress)
{
	__u64 t;

	if (egress) {
		t = skb->tstamp;
		if (t)
			return t;
	}
	return bpf_ktime_get_ns();
}

static __always_inline int handle(struct __sk_buff *skb, int egress)
{
	__u8 dir = egress ? L7_DIR_EGRESS : L7_DIR_INGRESS;
	struct l7_event hdr = {};
	struct bpf_sock *sk;
	struct l7_conn *st;
	struct seg s = {};
	__u64 cookie, now, latency = 0, writer = 0, n;
	__u32 gap = 0, cap;
	int is_req;

	if (!parse(skb, &s) || s.syn)
		return 1;
	sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	cookie = bpf_get_socket_cookie(skb);
	st = L7_STATE_OF(sk, cookie);
	if (!st)
		return 1;
	if (st->state & L7_STATE_IGNORED)
		return 1;
	now = seg_time(skb, egress);
	if (!st->protocol && !try_detect(skb, &s, cookie, now, st, egress))
		return 1;

	/* sequence space: drop what was seen (retransmits), report holes */
	{
		__u8 bit = egress ? L7_STATE_SEQ_EGRESS : L7_STATE_SEQ_INGRESS;
		__u32 *next = &st->next_seq[dir & 1];

		if (st->state & bit) {
			__s32 d = (__s32)(s.seq - *next);

			if (d < 0) {
				__u32 over = -d;

				if (over >= s.len) {
					stat_inc(L7_STAT_DUPLICATE);
					return 1;
				}
				s.off += over;
				s.len -= over;
				s.seq += over;
			} else if (d > 0) {
				gap = d;
				stat_inc(L7_STAT_GAP);
			}
		}
		*next = s.seq + s.len;
		st->state |= bit;
	}

	/* the oldest unanswered request's start; the first response segment gets the latency */
	is_req = egress == (st->role == SONDE_ROLE_CLIENT);
	if (is_req) {
		if (!st->req_start_ns)
			st->req_start_ns = now;
	} else if (st->req_start_ns) {
		/* egress stamps come from TCP's clock (seg_time): never report a negative latency */
		latency = now > st->req_start_ns ? now - st->req_start_ns : 0;
		st->req_start_ns = 0;
	}
	if (egress)
		writer = st->writer;

	hdr.ts_ns = now;
	hdr.cookie = cookie;
	hdr.latency_ns = latency;
	hdr.type = L7_EVENT_DATA;
	hdr.pid = writer >> 32;
	hdr.tid = (__u32)writer;
	hdr.flags = writer ? L7_DATA_TASK : 0;
	hdr.length = s.len;
	hdr.gap = gap;
	hdr.dir = dir;
	/*
	 * What to copy: a segment that may start a message (the first after a change of direction, or one
	 * whose first bytes match a row of the connection's protocol: pipelined requests, the next response)
	 * gets targ_capture_bytes; a continuation (bulk body) targ_continuation_bytes.
	 */
	cap = targ_capture_bytes;
	if (st->last_dir == dir + 1 && targ_continuation_bytes < cap) {
		__u8 p = st->protocol;
		__u64 first;

		if (load_first(skb, &s, &first) ||
		    detect(first, s.len, dir_bits(st->role, egress), targ_proto_first[p], targ_proto_end[p]) < 0) {
			cap = targ_continuation_bytes;
			hdr.flags |= L7_DATA_CONTINUATION;
		}
	}
	st->last_dir = dir + 1;
	n = s.len < cap ? s.len : cap;

#define L7_EMIT(SZ)                                                                                                    \
	if (n <= SZ) {                                                                                                 \
		struct l7_record_##SZ *e = sonde_reserve(sizeof(*e));                                                  \
		if (!e) {                                                                                              \
			/* the next delivered segment reports these bytes as its gap */                                \
			st->next_seq[dir & 1] = s.seq;                                                                 \
			return 1;                                                                                      \
		}                                                                                                      \
		e->hdr = hdr;                                                                                          \
		barrier_var(n);                                                                                        \
		if (n < 1 || n > SZ || bpf_skb_load_bytes(skb, s.off, e->data, n))                                    \
			n = 0;                                                                                         \
		e->hdr.captured = n;                                                                                   \
		sonde_submit(e, sizeof(*e));                                                                           \
		return 1;                                                                                              \
	}
	L7_EMIT(64)
	L7_EMIT(256)
	L7_EMIT(1024)
	L7_EMIT(4096)
	return 1;
}

SEC("cgroup_skb/egress")
int sonde_l7_egress(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

SEC("cgroup_skb/ingress")
int sonde_l7_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

/*
 * A thread did I/O on a socket, in its context (sendmsg before the data is queued, or a read that
 * copied data). Confirms the owner: the agent's own connections are ignored from then on; the first
 * process seen on a connection opened without a confirmed owner is sent in an OWNER record (and
 * fixed in sonde_conns, where the tcp probe put the listener's process).
 */
static __always_inline struct l7_conn *on_task_io(struct sock *sk, struct l7_conn *st, __u64 cookie, __u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	struct sonde_conn *c;

	if (st->state & L7_STATE_IGNORED)
		return NULL;
	if (tgid == targ_self_tgid) {
		struct l7_endpoint ep = {};
		__u8 one = 1;

		/* tell user space to drop it if it was opened (the agent's server side, seen first on ingress) */
		if (st->protocol)
			emit_event(L7_EVENT_CLOSE, cookie, 0);
		st->state = L7_STATE_IGNORED;
		stat_inc(L7_STAT_SELF);
		/* and remember its endpoint, so the server it talks to on this host ignores it too */
		ep.family = sk->__sk_common.skc_family;
		ep.port = sk->__sk_common.skc_num;
		if (ep.family == AF_INET6)
			__builtin_memcpy(ep.addr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, SONDE_ADDR_LEN);
		else
			*(__u32 *)ep.addr = sk->__sk_common.skc_rcv_saddr;
		endpoint_norm(&ep);
		bpf_map_update_elem(&l7_self_peers, &ep, &one, BPF_ANY);
		return NULL;
	}
	if (st->state & L7_STATE_OWNER_TASK)
		return st;
	if (st->pid && st->pid != tgid && st->role == SONDE_ROLE_SERVER)
		stat_inc(L7_STAT_OWNER_CHANGED);
	st->pid = tgid;
	st->state |= L7_STATE_OWNER_TASK;
	if (st->protocol)
		emit_event(L7_EVENT_OWNER, cookie, pid_tgid);
	c = bpf_map_lookup_elem(&sonde_conns, &cookie);
	if (c && c->role == SONDE_ROLE_SERVER && c->pid != tgid) {
		c->pid = tgid;
		c->cgroup_id = bpf_get_current_cgroup_id();
	}
	return st;
}

/* The writer (also for sendfile/splice): egress segments carry it. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(sonde_l7_send, struct sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct l7_conn *st = bpf_sk_storage_get(&l7_store, sk, 0, 0);
	__u64 cookie;

	/* the common cases: an ignored socket, or a known connection written again by its writer */
	if (st && ((st->state & L7_STATE_IGNORED) ||
		   ((st->state & (L7_STATE_INIT | L7_STATE_OWNER_TASK)) == (L7_STATE_INIT | L7_STATE_OWNER_TASK) &&
		    st->writer == pid_tgid)))
		return 0;
	cookie = bpf_get_socket_cookie(sk);
	if (!st)
		st = L7_STATE_OF(sk, cookie);
	if (st && on_task_io(sk, st, cookie, pid_tgid))
		st->writer = pid_tgid;
	return 0;
}

/* A read that copied data (tcp_recvmsg, splice, zero-copy receive all adjust the receive space). */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(sonde_l7_recv, struct sock *sk)
{
	struct l7_conn *st = bpf_sk_storage_get(&l7_store, sk, 0, 0);

	/* the common case leaves at once: nothing to learn */
	if (!st || (st->state & (L7_STATE_IGNORED | L7_STATE_OWNER_TASK)))
		return 0;
	on_task_io(sk, st, bpf_get_socket_cookie(sk), bpf_get_current_pid_tgid());
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_l7_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct l7_conn *st;
	__u64 cookie;

	if (newstate != TCP_CLOSE_STATE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	st = bpf_sk_storage_get(&l7_store, (void *)sk, 0, 0);
	if (!st || !st->protocol || (st->state & L7_STATE_IGNORED))
		return 0; /* the storage goes with the socket */
	cookie = bpf_get_socket_cookie((void *)sk);
	emit_event(L7_EVENT_CLOSE, cookie, 0);
	st->state |= L7_STATE_IGNORED; /* nothing after CLOSE */
	return 0;
}

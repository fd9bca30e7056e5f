/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TCP connection events. The ONLY definition of these structs/enums (see layouts.c). */
#ifndef __SONDE_TCP_H
#define __SONDE_TCP_H

#include "sonde.h"
#include "conn.h"

enum tcp_event_type {
	TCP_EVENT_CONNECT = 1,        /* active open established; duration_ns = connect latency */
	TCP_EVENT_CONNECT_FAILED = 2, /* active open failed; error = sk_err (ECONNREFUSED, ETIMEDOUT, ...) or 0 if closed by the app */
	TCP_EVENT_ACCEPT = 3,         /* passive open established; pid = the listener's process */
	TCP_EVENT_CLOSE = 4,          /* tracked connection reached CLOSE; bytes, retransmits, duration_ns = lifetime */
	TCP_EVENT_LISTEN_OPEN = 5,    /* a socket entered LISTEN */
	TCP_EVENT_LISTEN_CLOSE = 6,   /* a listening socket was closed */
	TCP_EVENT_RETRANSMIT = 7,     /* tcp_retransmit_skb on a socket */
};

/* TCP states as in include/net/tcp_states.h (the kernel ABI, stable). */
enum tcp_state_value {
	SONDE_TCP_ESTABLISHED = 1,
	SONDE_TCP_SYN_SENT = 2,
	SONDE_TCP_SYN_RECV = 3,
	SONDE_TCP_FIN_WAIT1 = 4,
	SONDE_TCP_FIN_WAIT2 = 5,
	SONDE_TCP_TIME_WAIT = 6,
	SONDE_TCP_CLOSE = 7,
	SONDE_TCP_CLOSE_WAIT = 8,
	SONDE_TCP_LAST_ACK = 9,
	SONDE_TCP_LISTEN = 10,
	SONDE_TCP_CLOSING = 11,
	SONDE_TCP_NEW_SYN_RECV = 12,
};

struct tcp_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns() */
	__u64 cookie;         /* socket cookie: key of the connection table */
	__u64 cgroup_id;      /* owner's cgroup v2 id (from the connection/listen table) */
	__u64 duration_ns;    /* CONNECT/CONNECT_FAILED: since SYN_SENT; CLOSE: since start */
	__u64 bytes_sent;     /* CLOSE: data bytes acked by the peer (tcp_sock.bytes_acked less SYN/FIN) */
	__u64 bytes_received; /* CLOSE: data bytes received (tcp_sock.bytes_received less FIN) */
	struct sonde_tuple tuple;
	__u32 type;        /* enum tcp_event_type */
	__u32 pid;         /* owner tgid, 0 if unknown */
	__u32 netns;       /* network namespace inode */
	__u32 error;       /* CONNECT_FAILED: errno from sk_err */
	__u32 retransmits; /* CLOSE: tcp_sock.total_retrans */
	__u8 role;         /* enum sonde_conn_role */
	__u8 state;        /* socket state when the event fired (enum tcp_state_value) */
	__u8 _pad0[2];
};

#endif /* __SONDE_TCP_H */

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The connection table: one entry per TCP socket Sonde tracks, keyed by the socket
 * cookie (bpf_get_socket_cookie), which every program type that sees a socket can
 * compute (tracing, cgroup_skb, sock_ops, sk_msg, cgroup/sock...). Written by tcp.bpf.c;
 * meant to be shared by later probes (L7) through bpf_map__reuse_fd(). See bpf/README.md.
 * This file is the ONLY definition of these structs.
 */
#ifndef __SONDE_CONN_H
#define __SONDE_CONN_H

#include "sonde.h"

enum sonde_conn_role {
	SONDE_ROLE_UNKNOWN = 0,
	SONDE_ROLE_CLIENT = 1, /* active open: this host called connect() */
	SONDE_ROLE_SERVER = 2, /* passive open: accepted from a listening socket */
};

/* Addresses in network byte order; ports in host byte order. */
struct sonde_tuple {
	__u8 saddr[SONDE_ADDR_LEN];
	__u8 daddr[SONDE_ADDR_LEN];
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 sport;  /* local port */
	__u16 dport;  /* remote port */
	__u16 _pad0;
};

/* Value of the `sonde_conns` map; key: __u64 socket cookie. */
struct sonde_conn {
	__u64 start_ns;  /* bpf_ktime_get_ns() at SYN_SENT (client) or at ESTABLISHED (server) */
	__u64 cgroup_id; /* cgroup v2 id of the owning process (0 if unknown) */
	__u64 sock_ino;  /* inode of the struct socket ("socket:[ino]" in /proc/<pid>/fd), 0 if not yet known */
	struct sonde_tuple tuple;
	__u32 pid; /* tgid of the owning process */
	__u32 tid; /* thread that connected (client) or 0 */
	__u32 netns; /* network namespace inode */
	__u8 role;   /* enum sonde_conn_role */
	__u8 _pad0[3];
};

/* Key and value of the `sonde_listen` map: who listens on (netns, port). */
struct sonde_listen_key {
	__u32 netns;
	__u16 port; /* host byte order */
	__u16 _pad0;
};

struct sonde_listener {
	__u64 cgroup_id;
	__u32 pid;   /* tgid of the most recent listener on this (netns, port) */
	__u32 count; /* open listening sockets on this key (SO_REUSEPORT groups) */
};

#endif /* __SONDE_CONN_H */

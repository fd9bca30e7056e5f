/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * L7 payload capture: records, the kernel protocol-detector table and the per-connection
 * state. The ONLY definition of these structs/enums (see native/src/layouts.c).
 * Record stream (ring `events`), per socket cookie, in kernel order:
 *   OPEN   (struct l7_conn_event)          once, when the detector names the protocol
 *   DATA   (struct l7_event + payload)      every TCP payload segment after that, both directions
 *   OWNER  (struct l7_event)                a server connection's owner became known: the first
 *                                           process that read (or wrote) on it after OPEN
 *   CLOSE  (struct l7_event)                the socket reached TCP_CLOSE
 */
#ifndef __SONDE_L7_H
#define __SONDE_L7_H

#include "sonde.h"
#include "conn.h"

enum l7_event_type {
	L7_EVENT_OPEN = 1,  /* struct l7_conn_event: the connection's protocol was detected */
	L7_EVENT_DATA = 2,  /* struct l7_event followed by `captured` payload bytes */
	L7_EVENT_CLOSE = 3, /* struct l7_event: the socket closed (only for OPENed connections) */
	L7_EVENT_OWNER = 4, /* struct l7_event: pid/tid of the first thread that read or wrote after an OPEN without OWNER_TASK */
};

/* Which way a DATA segment went, seen from the socket: written by it or received by it. */
enum l7_direction {
	L7_DIR_EGRESS = 0,
	L7_DIR_INGRESS = 1,
};

/* Detector rows say which way of the *protocol* their signature matches. */
enum l7_detect_dir {
	L7_DETECT_REQUEST = 1,  /* client -> server */
	L7_DETECT_RESPONSE = 2, /* server -> client */
};

/* l7_conn_event.flags */
enum l7_conn_flags {
	L7_CONN_TRACKED = 1,    /* the tcp probe saw connect()/accept(): role, pid, start from sonde_conns */
	L7_CONN_FROM_START = 2, /* detected on the connection's first payload byte: nothing was missed */
	L7_CONN_OWNER_TASK = 4, /* pid was seen reading/writing on the socket or connect()ing (else: the listener's or 0; an OWNER record follows) */
};

/* l7_event.flags (DATA) */
enum l7_data_flags {
	L7_DATA_TASK = 1,         /* pid/tid: the thread whose write this egress segment carries */
	L7_DATA_CONTINUATION = 2, /* same direction as the previous segment and no message start at its first
				     bytes: only targ_continuation_bytes were copied */
};

/* Why a segment of a traced connection produced no record, or what the probe decided (l7_stats). */
enum l7_stat {
	L7_STAT_DETECTED = 0,      /* connections whose protocol the detector named (OPEN sent) */
	L7_STAT_UNDETECTED = 1,    /* connections given up after targ_detect_tries payload segments */
	L7_STAT_DUPLICATE = 2,     /* segments already seen (retransmits), skipped in the kernel */
	L7_STAT_GAP = 3,           /* holes in a stream (loss, reordering): DATA.gap > 0 */
	L7_STAT_SELF = 4,          /* connections of the agent itself, ignored */
	L7_STAT_OWNER_CHANGED = 5, /* server connections whose writer was not the listener's process */
	L7_STAT_NOT_LINEAR = 6,    /* headers not in the linear skb area (not parsed) */
	L7_STAT__MAX = 7,
};

enum l7_limits {
	L7_CAPTURE_MAX = 4096, /* upper bound of targ_capture_bytes (the largest DATA size class) */
	L7_DETECT_LEN = 8,     /* bytes a detector row compares (masked) */
	L7_DETECTORS_MAX = 64, /* rows in targ_detectors */
	L7_PROTOCOLS_MAX = 256, /* protocol ids (u8): targ_proto_first/targ_proto_end */
};

/*
 * A detector row: the segment's first `len` bytes, masked, equal `prefix` (prefix is stored
 * pre-masked). Rows are tried in order; the first match names the protocol. Built by user
 * space from its signature table (src/receivers/ebpf/probes/l7/detectors.ts).
 */
struct l7_detector {
	__u8 prefix[L7_DETECT_LEN];
	__u8 mask[L7_DETECT_LEN];
	__u8 len;      /* 1..L7_DETECT_LEN bytes compared; the payload must be at least this long */
	__u8 protocol; /* protocol id (1-based; user space names it) */
	__u8 dir;      /* enum l7_detect_dir bits */
	__u8 _pad0[5];
};

/* DATA and CLOSE records. DATA is followed by `captured` payload bytes (the record's tail). */
struct l7_event {
	__u64 ts_ns;      /* CLOCK_MONOTONIC when the segment passed (egress: sent, TCP's departure stamp; ingress: arrived) */
	__u64 cookie;     /* socket cookie */
	__u64 latency_ns; /* DATA, first response segment: since the first byte of the oldest unanswered request */
	__u32 type;       /* enum l7_event_type */
	__u32 pid;        /* egress: tgid of the thread that wrote the data (flags & L7_DATA_TASK), else 0 */
	__u32 tid;        /* egress: that thread's id, else 0 */
	__u32 length;     /* DATA: real payload bytes of the segment (>= captured) */
	__u32 gap;        /* DATA: stream bytes missing right before this segment (never seen: loss, reordering) */
	__u16 captured;   /* DATA: payload bytes that follow this header */
	__u8 dir;         /* DATA: enum l7_direction */
	__u8 flags;       /* DATA: enum l7_data_flags */
};

/* OPEN record. */
struct l7_conn_event {
	__u64 ts_ns;     /* when the detector matched */
	__u64 cookie;    /* socket cookie */
	__u64 start_ns;  /* connection start (sonde_conns), 0 if untracked */
	__u32 type;      /* L7_EVENT_OPEN */
	__u32 pid;       /* owner tgid: the connect()ing or writing process, else the listener's, or 0 */
	__u64 cgroup_id; /* owner's cgroup v2 id (0 if unknown) */
	struct sonde_tuple tuple;
	__u32 netns;    /* network namespace inode (0 if untracked) */
	__u8 role;      /* enum sonde_conn_role: from sonde_conns, else from the detection direction */
	__u8 protocol;  /* detector protocol id */
	__u8 flags;     /* enum l7_conn_flags */
	__u8 _pad0;
};

/* Value of the `l7_store` socket storage (kernel only). */
struct l7_conn {
	__u64 req_start_ns; /* first byte of the oldest unanswered request (0: none) */
	__u64 writer;       /* pid_tgid of the last thread that wrote on the socket (0: none seen) */
	__u32 next_seq[2];  /* per enum l7_direction: next expected TCP sequence number */
	__u32 pid;          /* owner tgid (0: not known yet) */
	__u8 protocol;      /* 0 while undetected */
	__u8 role;          /* enum sonde_conn_role */
	__u8 state;         /* enum l7_conn_state bits */
	__u8 tries;         /* payload segments the detector rejected */
	__u8 last_dir;      /* enum l7_direction + 1 of the last DATA segment (0: none yet) */
	__u8 _pad0[7];
};

/* Key of `l7_self_peers`: a local endpoint of the agent (IPv4-mapped IPv6 stored as IPv4). */
struct l7_endpoint {
	__u8 addr[SONDE_ADDR_LEN];
	__u16 family;
	__u16 port; /* host byte order */
	__u32 _pad0;
};

enum l7_conn_state {
	L7_STATE_IGNORED = 1,   /* not L7, or the agent's own: every segment leaves at once */
	L7_STATE_SEQ_EGRESS = 2, /* next_seq[L7_DIR_EGRESS] is valid */
	L7_STATE_SEQ_INGRESS = 4,
	L7_STATE_OWNER_TASK = 8, /* pid seen reading/writing (or connect()ing) */
	L7_STATE_STARTED = 16,   /* a payload segment was seen (from_start can no longer be claimed) */
	L7_STATE_INIT = 32,      /* filled from sonde_conns */
};

#endif /* __SONDE_L7_H */

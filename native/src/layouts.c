/*
 * The layout contract: sizeof/offsetof of every field of every struct shared with the
 * BPF programs, and the values of shared enums, taken from the C headers themselves
 * (bpf/include/ and bpf/probes/ headers). TypeScript's generated layouts
 * (src/native/layouts.generated.ts) are checked against this by a unit test.
 * The _Static_asserts prove each field list is complete: the headers have no implicit
 * padding (-Werror=padded), so the listed field sizes must add up to sizeof.
 */
#include "common.h"
#include <linux/types.h>
#include "sonde.h"
#include "conn.h"
#include "process.h"
#include "tcp.h"
#include "l7.h"
#include "ringbench.h"
/* kernel ABI used from user space over netlink (conntrack lookups, socket discovery) */
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
/* generic netlink and taskstats (per-process delay accounting, the cgroups receiver) */
#include <linux/genetlink.h>
#include <linux/taskstats.h>

#define FSIZE(T, f) sizeof(((T *)0)->f)

struct field_desc {
	const char *name;
	size_t offset, size;
};

struct struct_desc {
	const char *name;
	size_t size;
	const struct field_desc *fields;
	size_t nfields;
};

#define F(T, f) {#f, offsetof(T, f), FSIZE(T, f)}
#define STRUCT(T, arr) {#T, sizeof(struct T), arr, sizeof(arr) / sizeof(arr[0])}

static const struct field_desc tuple_fields[] = {
	F(struct sonde_tuple, saddr), F(struct sonde_tuple, daddr), F(struct sonde_tuple, family),
	F(struct sonde_tuple, sport), F(struct sonde_tuple, dport), F(struct sonde_tuple, _pad0),
};
_Static_assert(16 + 16 + 2 + 2 + 2 + 2 == sizeof(struct sonde_tuple), "sonde_tuple field list incomplete");

static const struct field_desc conn_fields[] = {
	F(struct sonde_conn, start_ns), F(struct sonde_conn, cgroup_id), F(struct sonde_conn, sock_ino),
	F(struct sonde_conn, tuple),    F(struct sonde_conn, pid),       F(struct sonde_conn, tid),
	F(struct sonde_conn, netns),    F(struct sonde_conn, role),      F(struct sonde_conn, _pad0),
};
_Static_assert(8 * 3 + sizeof(struct sonde_tuple) + 4 * 3 + 1 + 3 == sizeof(struct sonde_conn),
	       "sonde_conn field list incomplete");

static const struct field_desc listen_key_fields[] = {
	F(struct sonde_listen_key, netns), F(struct sonde_listen_key, port), F(struct sonde_listen_key, _pad0),
};
_Static_assert(4 + 2 + 2 == sizeof(struct sonde_listen_key), "sonde_listen_key field list incomplete");

static const struct field_desc listener_fields[] = {
	F(struct sonde_listener, cgroup_id), F(struct sonde_listener, pid), F(struct sonde_listener, count),
};
_Static_assert(8 + 4 + 4 == sizeof(struct sonde_listener), "sonde_listener field list incomplete");

static const struct field_desc process_fields[] = {
	F(struct process_event, ts_ns), F(struct process_event, cgroup_id), F(struct process_event, type),
	F(struct process_event, pid),   F(struct process_event, ppid),      F(struct process_event, exit_code),
	F(struct process_event, flags), F(struct process_event, _pad0),     F(struct process_event, comm),
};
_Static_assert(8 * 2 + 4 * 6 + SONDE_COMM_LEN == sizeof(struct process_event), "process_event field list incomplete");

static const struct field_desc tcp_fields[] = {
	F(struct tcp_event, ts_ns),
	F(struct tcp_event, cookie),
	F(struct tcp_event, cgroup_id),
	F(struct tcp_event, duration_ns),
	F(struct tcp_event, bytes_sent),
	F(struct tcp_event, bytes_received),
	F(struct tcp_event, tuple),
	{"tuple.saddr", offsetof(struct tcp_event, tuple.saddr), FSIZE(struct tcp_event, tuple.saddr)},
	{"tuple.daddr", offsetof(struct tcp_event, tuple.daddr), FSIZE(struct tcp_event, tuple.daddr)},
	{"tuple.family", offsetof(struct tcp_event, tuple.family), FSIZE(struct tcp_event, tuple.family)},
	{"tuple.sport", offsetof(struct tcp_event, tuple.sport), FSIZE(struct tcp_event, tuple.sport)},
	{"tuple.dport", offsetof(struct tcp_event, tuple.dport), FSIZE(struct tcp_event, tuple.dport)},
	F(struct tcp_event, type),
	F(struct tcp_event, pid),
	F(struct tcp_event, netns),
	F(struct tcp_event, error),
	F(struct tcp_event, retransmits),
	F(struct tcp_event, role),
	F(struct tcp_event, state),
	F(struct tcp_event, _pad0),
};
_Static_assert(8 * 6 + sizeof(struct sonde_tuple) + 4 * 5 + 1 + 1 + 2 == sizeof(struct tcp_event),
	       "tcp_event field list incomplete");

static const struct field_desc l7_detector_fields[] = {
	F(struct l7_detector, prefix), F(struct l7_detector, mask),     F(struct l7_detector, len),
	F(struct l7_detector, protocol), F(struct l7_detector, dir),    F(struct l7_detector, _pad0),
};
_Static_assert(L7_DETECT_LEN * 2 + 1 + 1 + 1 + 5 == sizeof(struct l7_detector), "l7_detector field list incomplete");

static const struct field_desc l7_event_fields[] = {
	F(struct l7_event, ts_ns),  F(struct l7_event, cookie), F(struct l7_event, latency_ns), F(struct l7_event, type),
	F(struct l7_event, pid),    F(struct l7_event, tid),    F(struct l7_event, length),     F(struct l7_event, gap),
	F(struct l7_event, captured), F(struct l7_event, dir),  F(struct l7_event, flags),
};
_Static_assert(8 * 3 + 4 * 5 + 2 + 1 + 1 == sizeof(struct l7_event), "l7_event field list incomplete");

static const struct field_desc l7_conn_event_fields[] = {
	F(struct l7_conn_event, ts_ns),
	F(struct l7_conn_event, cookie),
	F(struct l7_conn_event, start_ns),
	F(struct l7_conn_event, type),
	F(struct l7_conn_event, pid),
	F(struct l7_conn_event, cgroup_id),
	F(struct l7_conn_event, tuple),
	{"tuple.saddr", offsetof(struct l7_conn_event, tuple.saddr), FSIZE(struct l7_conn_event, tuple.saddr)},
	{"tuple.daddr", offsetof(struct l7_conn_event, tuple.daddr), FSIZE(struct l7_conn_event, tuple.daddr)},
	{"tuple.family", offsetof(struct l7_conn_event, tuple.family), FSIZE(struct l7_conn_event, tuple.family)},
	{"tuple.sport", offsetof(struct l7_conn_event, tuple.sport), FSIZE(struct l7_conn_event, tuple.sport)},
	{"tuple.dport", offsetof(struct l7_conn_event, tuple.dport), FSIZE(struct l7_conn_event, tuple.dport)},
	F(struct l7_conn_event, netns),
	F(struct l7_conn_event, role),
	F(struct l7_conn_event, protocol),
	F(struct l7_conn_event, flags),
	F(struct l7_conn_event, _pad0),
};
_Static_assert(8 * 3 + 4 * 2 + 8 + sizeof(struct sonde_tuple) + 4 + 1 * 4 == sizeof(struct l7_conn_event),
	       "l7_conn_event field list incomplete");

static const struct field_desc l7_endpoint_fields[] = {
	F(struct l7_endpoint, addr), F(struct l7_endpoint, family), F(struct l7_endpoint, port), F(struct l7_endpoint, _pad0),
};
_Static_assert(SONDE_ADDR_LEN + 2 + 2 + 4 == sizeof(struct l7_endpoint), "l7_endpoint field list incomplete");

static const struct field_desc l7_conn_fields[] = {
	F(struct l7_conn, req_start_ns), F(struct l7_conn, writer), F(struct l7_conn, next_seq), F(struct l7_conn, pid),
	F(struct l7_conn, protocol),     F(struct l7_conn, role),     F(struct l7_conn, state),
	F(struct l7_conn, tries),        F(struct l7_conn, last_dir), F(struct l7_conn, _pad0),
};
_Static_assert(8 + 8 + 8 + 4 + 1 * 4 + 1 + 7 == sizeof(struct l7_conn), "l7_conn field list incomplete");

static const struct field_desc ringbench_cfg_fields[] = {
	F(struct ringbench_cfg, target_tgid), F(struct ringbench_cfg, events_per_call),
};
_Static_assert(4 + 4 == sizeof(struct ringbench_cfg), "ringbench_cfg field list incomplete");

static const struct field_desc nlmsghdr_fields[] = {
	F(struct nlmsghdr, nlmsg_len), F(struct nlmsghdr, nlmsg_type), F(struct nlmsghdr, nlmsg_flags),
	F(struct nlmsghdr, nlmsg_seq), F(struct nlmsghdr, nlmsg_pid),
};
_Static_assert(4 + 2 + 2 + 4 + 4 == sizeof(struct nlmsghdr), "nlmsghdr field list incomplete");

static const struct field_desc nfgenmsg_fields[] = {
	F(struct nfgenmsg, nfgen_family), F(struct nfgenmsg, version), F(struct nfgenmsg, res_id),
};
_Static_assert(1 + 1 + 2 == sizeof(struct nfgenmsg), "nfgenmsg field list incomplete");

static const struct field_desc inet_diag_req_v2_fields[] = {
	F(struct inet_diag_req_v2, sdiag_family), F(struct inet_diag_req_v2, sdiag_protocol),
	F(struct inet_diag_req_v2, idiag_ext), F(struct inet_diag_req_v2, pad),
	F(struct inet_diag_req_v2, idiag_states), F(struct inet_diag_req_v2, id),
};
_Static_assert(4 + 4 + sizeof(struct inet_diag_sockid) == sizeof(struct inet_diag_req_v2),
	       "inet_diag_req_v2 field list incomplete");

#define DIAG_ID(T, f) {"id." #f, offsetof(T, id.f), FSIZE(T, id.f)}
static const struct field_desc inet_diag_msg_fields[] = {
	F(struct inet_diag_msg, idiag_family), F(struct inet_diag_msg, idiag_state),
	F(struct inet_diag_msg, idiag_timer), F(struct inet_diag_msg, idiag_retrans),
	F(struct inet_diag_msg, id),
	DIAG_ID(struct inet_diag_msg, idiag_sport), DIAG_ID(struct inet_diag_msg, idiag_dport),
	DIAG_ID(struct inet_diag_msg, idiag_src), DIAG_ID(struct inet_diag_msg, idiag_dst),
	DIAG_ID(struct inet_diag_msg, idiag_if), DIAG_ID(struct inet_diag_msg, idiag_cookie),
	F(struct inet_diag_msg, idiag_expires), F(struct inet_diag_msg, idiag_rqueue),
	F(struct inet_diag_msg, idiag_wqueue), F(struct inet_diag_msg, idiag_uid), F(struct inet_diag_msg, idiag_inode),
};
_Static_assert(4 + sizeof(struct inet_diag_sockid) + 4 * 5 == sizeof(struct inet_diag_msg),
	       "inet_diag_msg field list incomplete");

static const struct field_desc genlmsghdr_fields[] = {
	F(struct genlmsghdr, cmd), F(struct genlmsghdr, version), F(struct genlmsghdr, reserved),
};
_Static_assert(1 + 1 + 2 == sizeof(struct genlmsghdr), "genlmsghdr field list incomplete");

static const struct struct_desc structs[] = {
	STRUCT(nlmsghdr, nlmsghdr_fields),
	STRUCT(genlmsghdr, genlmsghdr_fields),
	STRUCT(nfgenmsg, nfgenmsg_fields),
	STRUCT(inet_diag_req_v2, inet_diag_req_v2_fields),
	STRUCT(inet_diag_msg, inet_diag_msg_fields),
	STRUCT(sonde_tuple, tuple_fields),
	STRUCT(sonde_conn, conn_fields),
	STRUCT(sonde_listen_key, listen_key_fields),
	STRUCT(sonde_listener, listener_fields),
	STRUCT(process_event, process_fields),
	STRUCT(tcp_event, tcp_fields),
	STRUCT(l7_detector, l7_detector_fields),
	STRUCT(l7_event, l7_event_fields),
	STRUCT(l7_conn_event, l7_conn_event_fields),
	STRUCT(l7_conn, l7_conn_fields),
	STRUCT(l7_endpoint, l7_endpoint_fields),
	STRUCT(ringbench_cfg, ringbench_cfg_fields),
};

struct enum_desc {
	const char *name;
	int64_t value;
};

#define E(v) {#v, v}
#define OFF(name, T, f) {#name, (int64_t)offsetof(T, f)}
static const struct enum_desc enums[] = {
	E(SONDE_LOST_RINGBUF_FULL), E(SONDE_LOST_TABLE_FULL), E(SONDE_LOST_UNTRACKED), E(SONDE_LOST__MAX),
	E(SONDE_COMM_LEN), E(SONDE_ADDR_LEN),
	E(SONDE_ROLE_UNKNOWN), E(SONDE_ROLE_CLIENT), E(SONDE_ROLE_SERVER),
	E(PROCESS_EVENT_EXEC), E(PROCESS_EVENT_EXIT), E(PROCESS_EVENT_OOM_KILL), E(PROCESS_EVENT_FORK),
	E(PROCESS_FLAG_OOM_KILLED),
	E(TCP_EVENT_CONNECT), E(TCP_EVENT_CONNECT_FAILED), E(TCP_EVENT_ACCEPT), E(TCP_EVENT_CLOSE),
	E(TCP_EVENT_LISTEN_OPEN), E(TCP_EVENT_LISTEN_CLOSE), E(TCP_EVENT_RETRANSMIT),
	E(SONDE_TCP_ESTABLISHED), E(SONDE_TCP_SYN_SENT), E(SONDE_TCP_SYN_RECV), E(SONDE_TCP_FIN_WAIT1),
	E(SONDE_TCP_FIN_WAIT2), E(SONDE_TCP_TIME_WAIT), E(SONDE_TCP_CLOSE), E(SONDE_TCP_CLOSE_WAIT),
	E(SONDE_TCP_LAST_ACK), E(SONDE_TCP_LISTEN), E(SONDE_TCP_CLOSING), E(SONDE_TCP_NEW_SYN_RECV),
	E(L7_EVENT_OPEN), E(L7_EVENT_DATA), E(L7_EVENT_CLOSE), E(L7_EVENT_OWNER), E(L7_DIR_EGRESS), E(L7_DIR_INGRESS),
	E(L7_DETECT_REQUEST), E(L7_DETECT_RESPONSE),
	E(L7_CONN_TRACKED), E(L7_CONN_FROM_START), E(L7_CONN_OWNER_TASK), E(L7_DATA_TASK), E(L7_DATA_CONTINUATION),
	E(L7_STAT_DETECTED), E(L7_STAT_UNDETECTED), E(L7_STAT_DUPLICATE), E(L7_STAT_GAP), E(L7_STAT_SELF),
	E(L7_STAT_OWNER_CHANGED), E(L7_STAT_NOT_LINEAR), E(L7_STAT__MAX),
	E(L7_CAPTURE_MAX), E(L7_DETECT_LEN), E(L7_DETECTORS_MAX), E(L7_PROTOCOLS_MAX),
	E(L7_STATE_IGNORED), E(L7_STATE_SEQ_EGRESS), E(L7_STATE_SEQ_INGRESS), E(L7_STATE_OWNER_TASK), E(L7_STATE_STARTED), E(L7_STATE_INIT),
	/* the ring-buffer record header that batches keep (src/native/ring-records.ts) */
	E(BPF_RINGBUF_HDR_SZ), E(BPF_RINGBUF_BUSY_BIT), E(BPF_RINGBUF_DISCARD_BIT),
	/* netlink (src/native/netlink.ts), conntrack lookups and sock_diag discovery */
	E(NETLINK_NETFILTER), E(NETLINK_SOCK_DIAG), E(NLMSG_ERROR), E(NLMSG_DONE), E(NLM_F_REQUEST), E(NLM_F_ACK),
	E(NLM_F_DUMP), E(NLM_F_MULTI), E(NLA_F_NESTED), E(NLA_F_NET_BYTEORDER), E(NFNETLINK_V0), E(NFNL_SUBSYS_CTNETLINK),
	E(IPCTNL_MSG_CT_GET), E(CTA_TUPLE_ORIG), E(CTA_TUPLE_REPLY), E(CTA_TUPLE_IP), E(CTA_TUPLE_PROTO),
	E(CTA_IP_V4_SRC), E(CTA_IP_V4_DST), E(CTA_IP_V6_SRC), E(CTA_IP_V6_DST), E(CTA_PROTO_NUM),
	E(CTA_PROTO_SRC_PORT), E(CTA_PROTO_DST_PORT), E(CTA_STATUS), E(IPS_SRC_NAT), E(IPS_DST_NAT),
	E(SOCK_DIAG_BY_FAMILY), E(INET_DIAG_NOCOOKIE), E(INET_DIAG_INFO),
	/* generic netlink: resolving a family id, and taskstats (TASKSTATS_CMD_GET per thread group) */
	E(NETLINK_GENERIC), E(GENL_ID_CTRL), E(CTRL_CMD_GETFAMILY), E(CTRL_CMD_NEWFAMILY), E(CTRL_ATTR_FAMILY_ID),
	E(CTRL_ATTR_FAMILY_NAME), E(TASKSTATS_GENL_VERSION), E(TASKSTATS_CMD_GET), E(TASKSTATS_CMD_NEW),
	E(TASKSTATS_CMD_ATTR_TGID), E(TASKSTATS_TYPE_TGID), E(TASKSTATS_TYPE_STATS), E(TASKSTATS_TYPE_AGGR_TGID),
	/* struct taskstats has implicit padding (aligned(8) members) and grows at its end with each
	 * TASKSTATS_VERSION: only the offsets of the fields Sonde reads are exported */
	OFF(TASKSTATS_VERSION_OFFSET, struct taskstats, version),
	OFF(TASKSTATS_CPU_COUNT_OFFSET, struct taskstats, cpu_count),
	OFF(TASKSTATS_CPU_DELAY_TOTAL_OFFSET, struct taskstats, cpu_delay_total),
	OFF(TASKSTATS_BLKIO_COUNT_OFFSET, struct taskstats, blkio_count),
	OFF(TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET, struct taskstats, blkio_delay_total),
	/* bpf_map_update_elem flags */
	E(BPF_ANY), E(BPF_NOEXIST), E(BPF_EXIST),
};

void sonde_tcp_info_offsets(size_t *acked, size_t *received);

/* layouts(): { structs: { name: { size, fields: { name: { offset, size } } } }, enums: { NAME: value } } */
static napi_value js_layouts(napi_env env, napi_callback_info info)
{
	napi_value result, s_obj, e_obj;
	size_t i, j;

	napi_create_object(env, &result);
	napi_create_object(env, &s_obj);
	for (i = 0; i < sizeof(structs) / sizeof(structs[0]); i++) {
		napi_value so, fo, size;
		napi_create_object(env, &so);
		napi_create_uint32(env, structs[i].size, &size);
		napi_set_named_property(env, so, "size", size);
		napi_create_object(env, &fo);
		for (j = 0; j < structs[i].nfields; j++) {
			napi_value f, off, sz;
			napi_create_object(env, &f);
			napi_create_uint32(env, structs[i].fields[j].offset, &off);
			napi_create_uint32(env, structs[i].fields[j].size, &sz);
			napi_set_named_property(env, f, "offset", off);
			napi_set_named_property(env, f, "size", sz);
			napi_set_named_property(env, fo, structs[i].fields[j].name, f);
		}
		napi_set_named_property(env, so, "fields", fo);
		napi_set_named_property(env, s_obj, structs[i].name, so);
	}
	napi_create_object(env, &e_obj);
	for (i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		napi_value v;
		napi_create_int64(env, enums[i].value, &v);
		napi_set_named_property(env, e_obj, enums[i].name, v);
	}
	{
		/* struct tcp_info (linux/tcp.h clashes with libuv's netinet/tcp.h here: layouts_tcp.c) */
		size_t acked, received;
		napi_value v;

		sonde_tcp_info_offsets(&acked, &received);
		napi_create_int64(env, (int64_t)acked, &v);
		napi_set_named_property(env, e_obj, "TCP_INFO_BYTES_ACKED_OFFSET", v);
		napi_create_int64(env, (int64_t)received, &v);
		napi_set_named_property(env, e_obj, "TCP_INFO_BYTES_RECEIVED_OFFSET", v);
	}
	napi_set_named_property(env, result, "structs", s_obj);
	napi_set_named_property(env, result, "enums", e_obj);
	return result;
}

void sonde_layouts_register(napi_env env, napi_value exports)
{
	sonde_export(env, exports, "layouts", js_layouts);
}

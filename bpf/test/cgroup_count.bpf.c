// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test object: a cgroup_skb program (explicit cgroup attach) that counts egress packets
 * per socket cookie — the key the tcp probe's connection table uses, as an L7 probe on
 * cgroup_skb would (bpf/README.md).
 */
#include "vmlinux.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);   /* socket cookie */
	__type(value, __u64); /* egress bytes */
} bytes_by_cookie SEC(".maps");

SEC("cgroup_skb/egress")
int sonde_test_egress(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u64 *n = bpf_map_lookup_elem(&packets, &zero);
	__u64 *b, len = skb->len;

	if (n)
		*n += 1;
	b = bpf_map_lookup_elem(&bytes_by_cookie, &cookie);
	if (b)
		__sync_fetch_and_add(b, len);
	else
		bpf_map_update_elem(&bytes_by_cookie, &cookie, &len, BPF_NOEXIST);
	return 1; /* allow */
}

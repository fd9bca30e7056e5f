// Which agent feature needs which capability: the matrix the README's "Deploy" table shows, the chart's
// default capability list follows, and test/e2e/deploy-capabilities.test.ts verifies row by row on the
// real kernel (each action under `setpriv` as uid 0 with exactly `needs`, then with each one removed).

export interface CapabilityRow {
  /** the action test/helpers/cap-probe.ts performs */
  action: string;
  /** README wording */
  feature: string;
  /** capabilities (without CAP_) the action needs as uid 0; [] = none */
  needs: string[];
  /** granted by the chart's default securityContext */
  chart: boolean;
}

export const CAPABILITY_MATRIX: readonly CapabilityRow[] = [
  { action: 'tracing', feature: 'ebpf `process` probe: load + attach tp_btf programs (exec, exit, fork, OOM), maps, ring buffer', needs: ['BPF', 'PERFMON'], chart: true },
  { action: 'tcp', feature: 'ebpf `tcp` probe: load + attach tp_btf/fentry programs, maps, ring buffer', needs: ['BPF', 'PERFMON'], chart: true },
  { action: 'memlock', feature: 'BPF memory with RLIMIT_MEMLOCK at 64 KiB (kernel ≥ 5.11 charges the memory cgroup instead)', needs: ['BPF', 'PERFMON'], chart: true },
  { action: 'l7', feature: 'ebpf `l7` probe: tracing programs + socket storage, cgroup_skb egress/ingress on the cgroup v2 root', needs: ['BPF', 'PERFMON', 'NET_ADMIN'], chart: true },
  { action: 'cgroup_skb', feature: 'cgroup_skb program (the L7 probe\'s kind) attached to a cgroup', needs: ['BPF', 'NET_ADMIN'], chart: true },
  { action: 'conntrack', feature: 'conntrack lookup (`actual_destination`) in the agent\'s network namespace', needs: ['NET_ADMIN'], chart: true },
  { action: 'proc_fd', feature: 'discovery: socket inodes in `/proc/<pid>/fd` of root processes', needs: ['SYS_PTRACE'], chart: true },
  { action: 'proc_fd_other_uid', feature: 'discovery: `/proc/<pid>/fd` of processes of other users', needs: ['SYS_PTRACE', 'DAC_READ_SEARCH'], chart: true },
  { action: 'proc_ns', feature: 'network namespace of a process (`/proc/<pid>/ns/net`)', needs: ['SYS_PTRACE'], chart: true },
  { action: 'disk_usage', feature: 'cgroups receiver `disk_usage`: a root process\'s `/proc/<pid>/ns/mnt`, its mountinfo, statfs through `/proc/<pid>/root`', needs: ['SYS_PTRACE'], chart: true },
  { action: 'taskstats', feature: 'cgroups receiver: per-process CPU/disk delays from taskstats (generic netlink TASKSTATS_CMD_GET)', needs: ['NET_ADMIN'], chart: true },
  { action: 'sock_diag', feature: 'sock_diag dump (socket cookies) in the agent\'s network namespace', needs: [], chart: true },
  { action: 'proc_read', feature: 'node/cgroups receivers, cgroup processor: `/proc/<pid>/cgroup`, `/proc/<pid>/net/tcp`, `/proc/stat`, cgroup files', needs: [], chart: true },
  { action: 'btf', feature: 'kernel BTF (`/sys/kernel/btf/vmlinux`) for CO-RE', needs: [], chart: true },
  { action: 'runtime_socket', feature: 'container runtime socket (root-owned, 0660) as uid 0', needs: [], chart: true },
  { action: 'setns', feature: 'entering a pod\'s network namespace (conntrack/sock_diag inside pods)', needs: ['SYS_ADMIN'], chart: false },
  { action: 'task_delayacct', feature: 'cgroups receiver `delay_accounting: enable`: writing `kernel.task_delayacct` (also needs a writable /proc/sys, which containers do not have)', needs: ['SYS_ADMIN'], chart: false },
  { action: 'mount_tracefs', feature: 'mounting tracefs (`mount_tracefs`; the chart mounts the host\'s instead)', needs: ['SYS_ADMIN'], chart: false },
];

/** The capabilities the chart grants by default: everything the `chart: true` rows need. */
export function chartCapabilities(): string[] {
  const order = ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH'];
  const set = new Set(CAPABILITY_MATRIX.filter((r) => r.chart).flatMap((r) => r.needs));
  return [...order.filter((c) => set.has(c)), ...[...set].filter((c) => !order.includes(c)).sort()];
}

/** The README's table (between `<!-- capability-matrix:start -->` and `<!-- capability-matrix:end -->`). */
export function renderCapabilityTable(): string {
  const rows = CAPABILITY_MATRIX.map((r) => `| ${r.feature} | ${r.needs.length ? r.needs.map((c) => `\`${c}\``).join(' + ') : 'none'} | ${r.chart ? 'yes' : 'no (opt-in)'} |`);
  return ['| Feature (what the agent does) | Capabilities (uid 0) | In the chart\'s default set |', '|---|---|---|', ...rows].join('\n');
}

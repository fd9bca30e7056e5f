import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { DEFAULT_CONTAINERD_NAMESPACES } from '../../internal/cgroup/index.js';
import { defaultRuntimesConfig, runtimesSchema } from '../../internal/runtime/index.js';

function validRegex(v: string): boolean {
  try {
    new RegExp(v);
    return true;
  } catch {
    return false;
  }
}

export const cgroupsConfigSchema = s.refine(s.object({
  collection_interval: s.duration(1000).describe('How often every container\'s cgroup files are read.'),
  root_path: s.string({ nonEmpty: true }).describe('Host root (e.g. `/host` in a container with the host mounted): /proc, /sys and /sys/fs/cgroup are read under it.'),
  containerd_namespaces: s.array(s.string({ nonEmpty: true })).describe('containerd namespaces whose `/<namespace>/<id>` cgroups are containers (ctr, nerdctl).'),
  systemd_services: s.bool().describe('Also report systemd service units (`/system.slice/<unit>.service`), as coroot does.'),
  include_paths: s.array(s.string({ nonEmpty: true })).describe('Regular expressions: cgroup paths matching one are reported even when not recognised as a container or service.'),
  oom_kills: s.bool().describe('Emit `container_oom_kills_total` from the cgroup\'s own counter (v2 memory.events, v1 memory.oom_control). Off by default: the ebpf receiver emits it from kernel OOM events; turn on for nodes without it.'),
  metadata: s.bool().describe('Ask the container runtimes for names and images: fills `container_info{image}`, skips pod sandboxes (pause) and gives restarts a stable identity.'),
  runtimes: runtimesSchema,
  max_containers: s.int({ min: 1 }).describe('At most this many cgroups are reported per scrape (the rest are counted as dropped).'),
  identity_ttl: s.duration(1000).describe('Restart counters of a container identity are forgotten after it has been absent this long.'),
  disk_usage: s.bool().describe('Each container\'s disk mounts, from one mount table per mount namespace: `container_resources_disk_{size,used,reserved}_bytes{mount_point,device,volume}` (statfs of its writable disk-backed mounts; network and FUSE filesystems are never touched) and the `mount_point`/`volume` labels of the disk I/O counters. Needs CAP_SYS_PTRACE and the host PID namespace.'),
  delay_accounting: s.enum(['auto', 'enable', 'off']).describe('`container_resources_{cpu,disk}_delay_seconds_total` from taskstats (needs CAP_NET_ADMIN and the host PID namespace). `auto`: report what the kernel accounts — CPU delay always, disk delay only while `kernel.task_delayacct` is 1 (off by default since Linux 5.14; a warning says how to turn it on); the sysctl is never changed. `enable`: also set `kernel.task_delayacct=1` at start (logged; it stays on afterwards; needs CAP_SYS_ADMIN and a writable /proc/sys). `off`: no taskstats queries, neither metric.'),
}).describe('Container resource metrics from cgroups.'), (c) => c.include_paths.filter((p) => !validRegex(p)).map((p) => ({ path: ['include_paths'], message: `invalid regular expression ${JSON.stringify(p)}` })));

export type CgroupsConfig = Infer<typeof cgroupsConfigSchema>;

export function createDefaultCgroupsConfig(): CgroupsConfig {
  return {
    collection_interval: 15_000,
    root_path: '/',
    containerd_namespaces: [...DEFAULT_CONTAINERD_NAMESPACES],
    systemd_services: true,
    include_paths: [],
    oom_kills: false,
    metadata: true,
    runtimes: defaultRuntimesConfig(),
    max_containers: 5000,
    identity_ttl: 3_600_000,
    disk_usage: true,
    delay_accounting: 'auto',
  };
}

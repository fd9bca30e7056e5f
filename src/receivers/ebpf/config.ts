import type { Schema } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import type { ProbeRegistry } from './probe.js';

/** Global options; `probes` is built from the probe registry (one sub-map per registered probe). */
export interface EbpfConfig {
  collection_interval: number;
  proc_root: string;
  cgroup_root: string;
  btf_custom_path: string;
  native_binding: string;
  object_dir: string;
  mount_tracefs: boolean;
  discovery: boolean;
  idle_timeout: number;
  ring_buffer: {
    size: number;
    read_buffer: number;
    drain_interval: number;
    wakeup_threshold: number;
  };
  probes: Record<string, { enabled: boolean } & Record<string, unknown>>;
}

const pow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

export function ebpfConfigSchema(registry: ProbeRegistry): Schema<EbpfConfig> {
  const probes: Record<string, Schema<unknown>> = {};
  for (const p of registry.values()) probes[p.name] = p.configSchema.describe(p.description);
  const schema = s.object({
    collection_interval: s.duration(100).describe('How often the cumulative metrics (per cgroup) are emitted.'),
    proc_root: s.string({ nonEmpty: true }).describe('The host\'s /proc: processes, their cgroups, sockets and network namespaces are read here (`/host/proc` in a container with the host\'s /proc mounted and hostPID).'),
    cgroup_root: s.string({ nonEmpty: true }).describe('Where the cgroup hierarchies are mounted (`/host/sys/fs/cgroup` in a container); maps cgroup v2 ids of events to paths.'),
    btf_custom_path: s.string().describe('Kernel BTF to use instead of /sys/kernel/btf/vmlinux (e.g. a btfhub file for a kernel without CONFIG_DEBUG_INFO_BTF); empty: the kernel\'s own.'),
    native_binding: s.string().describe('Test seam: the native addon to use. Empty: the built one (native/build/Release). A path: that `.node` file. `fake:<dir>`: no kernel at all — replay recorded ring-buffer batches from `<dir>/<probe>/*.bin` (tests, demos without root).'),
    object_dir: s.string().describe('Where the compiled BPF objects (`<probe>.bpf.o`) are; empty: the package\'s build/bpf.'),
    mount_tracefs: s.bool().describe('Mount tracefs at /sys/kernel/tracing when a probe needs it and it is not mounted (the current probes use BTF tracepoints and do not).'),
    discovery: s.bool().describe('At start, read existing processes, listeners and connections from /proc (and socket cookies via sock_diag) and seed the kernel tables, so metrics are complete from the first scrape.'),
    idle_timeout: s.duration(1000).describe('A cgroup with no events and nothing live (connections, listeners) for this long stops being reported.'),
    ring_buffer: s.object({
      size: s.size().describe('Kernel ring buffer per probe, bytes (a power of two, ≥ 4 KiB). Bigger rides out longer bursts without losing events.'),
      read_buffer: s.size().describe('User-space batch buffer per probe (one drain copies up to this much).'),
      drain_interval: s.duration(1).describe('Ring buffers are drained on this timer (producers do not wake the agent per event).'),
      wakeup_threshold: s.size().describe('The kernel wakes the agent early when this many bytes are pending (0: wake on every event, the kernel default).'),
    }).describe('Event delivery from the kernel.'),
    probes: s.object(probes).describe('Kernel probes, each `enabled` or not, with its own options.'),
  });
  return s.refine(schema, (c) => {
    const problems: Array<{ path?: readonly string[]; message: string }> = [];
    const rb = c.ring_buffer;
    if (!pow2(rb.size) || rb.size < 4096) problems.push({ path: ['ring_buffer', 'size'], message: `must be a power of two ≥ 4096, got ${rb.size}` });
    if (rb.read_buffer < 4096) problems.push({ path: ['ring_buffer', 'read_buffer'], message: `must be ≥ 4096, got ${rb.read_buffer}` });
    if (rb.wakeup_threshold >= rb.size) problems.push({ path: ['ring_buffer', 'wakeup_threshold'], message: 'must be below ring_buffer.size' });
    const pc = c.probes as Record<string, { enabled: boolean }>;
    for (const p of registry.values()) {
      if (!pc[p.name]?.enabled) continue;
      for (const r of p.requires ?? []) {
        if (!pc[r]?.enabled) problems.push({ path: ['probes', p.name], message: `needs probe "${r}" enabled` });
      }
    }
    if (c.native_binding.startsWith('fake:') && c.native_binding.length === 5) problems.push({ path: ['native_binding'], message: 'fake: needs a fixtures directory' });
    return problems;
  }) as unknown as Schema<EbpfConfig>;
}

export function createDefaultEbpfConfig(registry: ProbeRegistry): EbpfConfig {
  const probes: EbpfConfig['probes'] = {};
  for (const p of registry.values()) probes[p.name] = p.createDefaultConfig() as EbpfConfig['probes'][string];
  return {
    collection_interval: 15_000,
    proc_root: '/proc',
    cgroup_root: '/sys/fs/cgroup',
    btf_custom_path: '',
    native_binding: '',
    object_dir: '',
    mount_tracefs: true,
    discovery: true,
    idle_timeout: 15 * 60_000,
    ring_buffer: { size: 8 << 20, read_buffer: 1 << 20, drain_interval: 10, wakeup_threshold: 256 << 10 },
    probes,
  };
}

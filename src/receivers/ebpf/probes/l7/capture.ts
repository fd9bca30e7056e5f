// The l7 BPF object: open → configure (rodata, map sizes, the detector table, the shared
// connection table) → load → attach (two cgroup_skb programs on the cgroup v2 root, two tp_btf
// programs). Mechanism only; the receiver decides when.
import { existsSync, readFileSync } from 'node:fs';
import type { BpfLink, BpfObject } from '../../../../native/bpf-object.js';
import { ENUMS } from '../../../../native/layouts.generated.js';
import type { DetectorRow, DetectorTable } from './detectors.js';
import { buildDetectorTable, DETECTOR_ROWS } from './detectors.js';

export interface L7CaptureSettings {
  /** Payload bytes copied per TCP segment that may start a message (1..L7_CAPTURE_MAX). */
  readonly captureBytes: number;
  /** Payload bytes copied per continuation segment (same direction, no message start): 0..captureBytes; default 0. */
  readonly continuationBytes?: number;
  /** Payload segments the detector may reject before a connection is ignored. */
  readonly detectTries: number;
  /** Ring size in bytes (power of two, multiple of the page size); unset: left to the caller (the receiver). */
  readonly ringBytes?: number;
  /** Backlog at which the kernel wakes the reader (see bpf/include/ringbuf.bpf.h); 0 = every record. Unset: left to the caller. */
  readonly wakeupBytes?: number;
  /** The agent's own pid (its connections are ignored). */
  readonly selfPid: number;
  /** Protocols with a registered parser (registry order): only their detector rows are loaded. */
  readonly protocols: readonly string[];
  readonly rows?: readonly DetectorRow[];
}

/** Kernel-side counters of the probe: enum l7_stat and enum sonde_lost_reason, summed over CPUs. */
export interface L7KernelStats {
  readonly detected: number;
  readonly undetected: number;
  readonly duplicate: number;
  readonly gap: number;
  readonly self: number;
  readonly ownerChanged: number;
  readonly notLinear: number;
  readonly lost: { readonly ringbufFull: number; readonly tableFull: number; readonly untracked: number };
}

export const L7_PROGRAMS = {
  egress: 'sonde_l7_egress',
  ingress: 'sonde_l7_ingress',
  send: 'sonde_l7_send',
  state: 'sonde_l7_state',
} as const;

/** Sets everything before load. `tcp` is the loaded tcp probe object: its `sonde_conns` becomes ours. */
export function configureL7Object(obj: BpfObject, tcp: BpfObject, s: L7CaptureSettings, features: { sendmsgTracepoint: boolean }): DetectorTable {
  if (!Number.isInteger(s.captureBytes) || s.captureBytes < 1 || s.captureBytes > ENUMS.L7_CAPTURE_MAX) {
    throw new RangeError(`capture_bytes must be 1..${ENUMS.L7_CAPTURE_MAX}`);
  }
  const cont = s.continuationBytes ?? 0;
  if (!Number.isInteger(cont) || cont < 0 || cont > s.captureBytes) throw new RangeError('continuation_bytes must be 0..capture_bytes');
  const table = buildDetectorTable(s.protocols, s.rows ?? DETECTOR_ROWS);
  obj.setRodata('targ_self_tgid', s.selfPid);
  obj.setRodata('targ_capture_bytes', s.captureBytes);
  obj.setRodata('targ_continuation_bytes', cont);
  obj.setRodata('targ_proto_first', table.protoFirst);
  obj.setRodata('targ_proto_end', table.protoEnd);
  obj.setRodata('targ_detect_tries', s.detectTries);
  if (s.wakeupBytes !== undefined) obj.setRodata('targ_wakeup_bytes', s.wakeupBytes);
  obj.setRodata('targ_detectors', table.rodata);
  obj.setRodata('targ_ndetectors', table.count);
  if (s.ringBytes !== undefined) obj.setMaxEntries('events', s.ringBytes);
  obj.reuseMap('sonde_conns', tcp);
  // without the tracepoint (older kernels) segments carry no writer: owners come from connect()/listen()
  if (!features.sendmsgTracepoint) obj.setAutoload(L7_PROGRAMS.send, false);
  return table;
}

/** Attaches the tracing programs (unless `tracing: false`: attached already) and the two cgroup_skb programs at `cgroupRoot`. */
export function attachL7Object(obj: BpfObject, cgroupRoot: string, opts: { tracing?: boolean } = {}): BpfLink[] {
  const links = opts.tracing === false ? [] : obj.attachAll();
  links.push(obj.attachCgroup(L7_PROGRAMS.egress, cgroupRoot));
  links.push(obj.attachCgroup(L7_PROGRAMS.ingress, cgroupRoot));
  return links;
}

export function readL7KernelStats(obj: BpfObject): L7KernelStats {
  const st = obj.map('l7_stats').sumPerCpuU64().map(Number);
  const lost = obj.lostCounters().map(Number);
  return {
    detected: st[ENUMS.L7_STAT_DETECTED],
    undetected: st[ENUMS.L7_STAT_UNDETECTED],
    duplicate: st[ENUMS.L7_STAT_DUPLICATE],
    gap: st[ENUMS.L7_STAT_GAP],
    self: st[ENUMS.L7_STAT_SELF],
    ownerChanged: st[ENUMS.L7_STAT_OWNER_CHANGED],
    notLinear: st[ENUMS.L7_STAT_NOT_LINEAR],
    lost: {
      ringbufFull: lost[ENUMS.SONDE_LOST_RINGBUF_FULL],
      tableFull: lost[ENUMS.SONDE_LOST_TABLE_FULL],
      untracked: lost[ENUMS.SONDE_LOST_UNTRACKED],
    },
  };
}

/**
 * Where cgroup v2 is mounted (the root the cgroup_skb programs attach to): `/sys/fs/cgroup` on
 * unified hosts, `/sys/fs/cgroup/unified` on hybrid ones. undefined when there is none.
 */
export function cgroup2Root(procRoot = '/proc'): string | undefined {
  let mounts = '';
  try {
    mounts = readFileSync(`${procRoot}/self/mounts`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'cgroup2' && f[1] !== undefined) return f[1].replace(/\\040/g, ' ');
  }
  return undefined;
}

const sendmsgTp = new Map<string, boolean>();

/** Whether the kernel has the tcp_sendmsg_locked tracepoint (BTF type btf_trace_tcp_sendmsg_locked); read once per path. */
export function hasSendmsgTracepoint(btfPath = '/sys/kernel/btf/vmlinux'): boolean {
  let has = sendmsgTp.get(btfPath);
  if (has === undefined) {
    try {
      has = existsSync(btfPath) && readFileSync(btfPath).includes('btf_trace_tcp_sendmsg_locked\0');
    } catch {
      has = false;
    }
    sendmsgTp.set(btfPath, has);
  }
  return has;
}

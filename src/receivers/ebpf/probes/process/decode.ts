// Decoder for struct process_event (bpf/probes/process.h). Offsets come from the generated
// layout contract; a ProcessEventView is reused for every record (no per-event allocation
// unless a string is asked for).
import { ENUMS, STRUCTS } from '../../../../native/layouts.generated.js';
import { forEachRecord } from '../../../../native/ring-records.js';
import { cString, u64 } from '../common/decode-util.js';

const L = STRUCTS.process_event;
const F = L.fields;

export const ProcessEventType = {
  EXEC: ENUMS.PROCESS_EVENT_EXEC,
  EXIT: ENUMS.PROCESS_EVENT_EXIT,
  OOM_KILL: ENUMS.PROCESS_EVENT_OOM_KILL,
  FORK: ENUMS.PROCESS_EVENT_FORK,
} as const;
export type ProcessEventType = (typeof ProcessEventType)[keyof typeof ProcessEventType];

/** Offsets this decoder reads (the layout test compares them with the C headers). */
export const PROCESS_EVENT_OFFSETS = {
  size: L.size, ts_ns: F.ts_ns.offset, cgroup_id: F.cgroup_id.offset, type: F.type.offset, pid: F.pid.offset,
  ppid: F.ppid.offset, exit_code: F.exit_code.offset, flags: F.flags.offset, comm: F.comm.offset,
} as const;

export class ProcessEventView {
  private view!: DataView;
  private off = 0;

  /** Points the view at a record (as given by forEachRecord). */
  reset(view: DataView, offset: number): this {
    this.view = view;
    this.off = offset;
    return this;
  }
  get type(): number { return this.view.getUint32(this.off + F.type.offset, true); }
  /** CLOCK_MONOTONIC nanoseconds. */
  get tsNs(): number { return u64(this.view, this.off + F.ts_ns.offset); }
  get pid(): number { return this.view.getUint32(this.off + F.pid.offset, true); }
  get ppid(): number { return this.view.getUint32(this.off + F.ppid.offset, true); }
  /** cgroup v2 id; 0 if unknown. */
  get cgroupId(): number { return u64(this.view, this.off + F.cgroup_id.offset); }
  /** Raw wait(2) status (EXIT). */
  get exitStatus(): number { return this.view.getUint32(this.off + F.exit_code.offset, true); }
  /** Exit code when the process exited normally, else null. */
  get exitCode(): number | null {
    const s = this.exitStatus;
    return (s & 0x7f) === 0 ? (s >> 8) & 0xff : null;
  }
  /** Terminating signal number, or 0. */
  get signal(): number { return this.exitStatus & 0x7f; }
  get oomKilled(): boolean {
    return (this.view.getUint32(this.off + F.flags.offset, true) & ENUMS.PROCESS_FLAG_OOM_KILLED) !== 0;
  }
  /** Allocates a string. */
  get comm(): string { return cString(this.view, this.off + F.comm.offset, F.comm.size); }

  /** A plain object copy (allocates; for tests and logs). */
  toJSON(): ProcessEvent {
    return {
      type: this.type, tsNs: this.tsNs, pid: this.pid, ppid: this.ppid, cgroupId: this.cgroupId,
      exitStatus: this.exitStatus, exitCode: this.exitCode, signal: this.signal, oomKilled: this.oomKilled, comm: this.comm,
    };
  }
}

export interface ProcessEvent {
  type: number;
  tsNs: number;
  pid: number;
  ppid: number;
  cgroupId: number;
  exitStatus: number;
  exitCode: number | null;
  signal: number;
  oomKilled: boolean;
  comm: string;
}

/**
 * Calls fn with one reused view per process_event record in a batch; records of another
 * size are counted as malformed and skipped. Returns { records, malformed }.
 */
export function decodeProcessBatch(buf: Buffer, bytes: number, fn: (ev: ProcessEventView) => void,
  view: ProcessEventView = new ProcessEventView()): { records: number; malformed: number } {
  let malformed = 0;
  const records = forEachRecord(buf, bytes, (dv, off, len) => {
    if (len !== L.size) { malformed++; return; }
    fn(view.reset(dv, off));
  });
  return { records: records - malformed, malformed };
}

// Decoders for the l7 probe's ring records (bpf/probes/l7.h), driven by the generated layout
// contract. One reused view per record kind: numbers are read on access, nothing is allocated
// unless a string/bigint is asked for.
import { ENUMS, STRUCTS } from '../../../../native/layouts.generated.js';
import { formatAddress, u64, AF_INET6 } from '../common/decode-util.js';

const E = STRUCTS.l7_event;
const EF = E.fields;
const C = STRUCTS.l7_conn_event;
const CF = C.fields;

export const L7EventType = {
  OPEN: ENUMS.L7_EVENT_OPEN,
  DATA: ENUMS.L7_EVENT_DATA,
  CLOSE: ENUMS.L7_EVENT_CLOSE,
  OWNER: ENUMS.L7_EVENT_OWNER,
} as const;

export const L7Dir = { EGRESS: ENUMS.L7_DIR_EGRESS, INGRESS: ENUMS.L7_DIR_INGRESS } as const;

export const L7ConnFlags = {
  TRACKED: ENUMS.L7_CONN_TRACKED,
  FROM_START: ENUMS.L7_CONN_FROM_START,
  OWNER_TASK: ENUMS.L7_CONN_OWNER_TASK,
} as const;

export const L7DataFlags = { TASK: ENUMS.L7_DATA_TASK } as const;

/** Size of the DATA/CLOSE header; DATA payload follows it. */
export const L7_EVENT_SIZE = E.size;
export const L7_CONN_EVENT_SIZE = C.size;
/** Both record kinds keep `type` at the same offset (asserted by the layout test). */
export const L7_TYPE_OFFSET = EF.type.offset;

/** Offsets the decoders read (test/unit/native/layouts.test.ts compares them with the C headers). */
export const L7_EVENT_OFFSETS = {
  size: E.size, ts_ns: EF.ts_ns.offset, cookie: EF.cookie.offset, latency_ns: EF.latency_ns.offset, type: EF.type.offset,
  pid: EF.pid.offset, tid: EF.tid.offset, length: EF.length.offset, gap: EF.gap.offset, captured: EF.captured.offset,
  dir: EF.dir.offset, flags: EF.flags.offset,
} as const;

export const L7_CONN_EVENT_OFFSETS = {
  size: C.size, ts_ns: CF.ts_ns.offset, cookie: CF.cookie.offset, start_ns: CF.start_ns.offset, type: CF.type.offset,
  pid: CF.pid.offset, cgroup_id: CF.cgroup_id.offset, 'tuple.saddr': CF['tuple.saddr'].offset,
  'tuple.daddr': CF['tuple.daddr'].offset, 'tuple.family': CF['tuple.family'].offset, 'tuple.sport': CF['tuple.sport'].offset,
  'tuple.dport': CF['tuple.dport'].offset, netns: CF.netns.offset, role: CF.role.offset, protocol: CF.protocol.offset,
  flags: CF.flags.offset,
} as const;

/** A DATA or CLOSE record. */
export class L7EventView {
  view!: DataView;
  off = 0;
  len = 0;

  reset(view: DataView, offset: number, length: number): this {
    this.view = view;
    this.off = offset;
    this.len = length;
    return this;
  }
  get type(): number { return this.view.getUint32(this.off + EF.type.offset, true); }
  get tsNs(): number { return u64(this.view, this.off + EF.ts_ns.offset); }
  /** Socket cookie as a number (cookies count up from 1 per boot: exact below 2^53). */
  get cookie(): number { return u64(this.view, this.off + EF.cookie.offset); }
  get latencyNs(): number { return u64(this.view, this.off + EF.latency_ns.offset); }
  get pid(): number { return this.view.getUint32(this.off + EF.pid.offset, true); }
  get tid(): number { return this.view.getUint32(this.off + EF.tid.offset, true); }
  get length(): number { return this.view.getUint32(this.off + EF.length.offset, true); }
  get gap(): number { return this.view.getUint32(this.off + EF.gap.offset, true); }
  get captured(): number { return this.view.getUint16(this.off + EF.captured.offset, true); }
  get dir(): number { return this.view.getUint8(this.off + EF.dir.offset); }
  get egress(): boolean { return this.view.getUint8(this.off + EF.dir.offset) === ENUMS.L7_DIR_EGRESS; }
  get flags(): number { return this.view.getUint8(this.off + EF.flags.offset); }
  /** Offset of the payload in `view.buffer` terms (view.byteOffset is 0 for ring batches' DataView). */
  get payloadOffset(): number { return this.off + E.size; }
  /** A DATA record is well-formed when its header and captured bytes fit the record. */
  get wellFormed(): boolean { return this.len >= E.size && this.len >= E.size + this.captured && this.captured <= this.length; }
}

/** An OPEN record. */
export class L7ConnEventView {
  view!: DataView;
  off = 0;

  reset(view: DataView, offset: number): this {
    this.view = view;
    this.off = offset;
    return this;
  }
  get tsNs(): number { return u64(this.view, this.off + CF.ts_ns.offset); }
  get cookie(): number { return u64(this.view, this.off + CF.cookie.offset); }
  get startNs(): number { return u64(this.view, this.off + CF.start_ns.offset); }
  get pid(): number { return this.view.getUint32(this.off + CF.pid.offset, true); }
  get cgroupId(): number { return u64(this.view, this.off + CF.cgroup_id.offset); }
  get family(): number { return this.view.getUint16(this.off + CF['tuple.family'].offset, true); }
  get sport(): number { return this.view.getUint16(this.off + CF['tuple.sport'].offset, true); }
  get dport(): number { return this.view.getUint16(this.off + CF['tuple.dport'].offset, true); }
  /** Local address (allocates a string); IPv4-mapped IPv6 is given as IPv4. */
  get saddr(): string { return plainAddress(this.view, this.off + CF['tuple.saddr'].offset, this.family); }
  /** Remote address (allocates a string). */
  get daddr(): string { return plainAddress(this.view, this.off + CF['tuple.daddr'].offset, this.family); }
  get netns(): number { return this.view.getUint32(this.off + CF.netns.offset, true); }
  get role(): number { return this.view.getUint8(this.off + CF.role.offset); }
  get protocol(): number { return this.view.getUint8(this.off + CF.protocol.offset); }
  get flags(): number { return this.view.getUint8(this.off + CF.flags.offset); }
}

function plainAddress(view: DataView, off: number, family: number): string {
  const s = formatAddress(view, off, family);
  return family === AF_INET6 && s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s;
}

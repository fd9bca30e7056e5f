// Decoder for struct tcp_event (bpf/probes/tcp.h), driven by the generated layout contract.
// A TcpEventView is reused across records: numbers are read on access, strings and bigints
// are only built when asked for.
import { constants } from 'node:os';
import { ENUMS, STRUCTS } from '../../../../native/layouts.generated.js';
import { forEachRecord } from '../../../../native/ring-records.js';
import { formatAddress, u64 } from '../common/decode-util.js';

const L = STRUCTS.tcp_event;
const F = L.fields;

export const TcpEventType = {
  CONNECT: ENUMS.TCP_EVENT_CONNECT,
  CONNECT_FAILED: ENUMS.TCP_EVENT_CONNECT_FAILED,
  ACCEPT: ENUMS.TCP_EVENT_ACCEPT,
  CLOSE: ENUMS.TCP_EVENT_CLOSE,
  LISTEN_OPEN: ENUMS.TCP_EVENT_LISTEN_OPEN,
  LISTEN_CLOSE: ENUMS.TCP_EVENT_LISTEN_CLOSE,
  RETRANSMIT: ENUMS.TCP_EVENT_RETRANSMIT,
} as const;

export const ConnRole = {
  UNKNOWN: ENUMS.SONDE_ROLE_UNKNOWN,
  CLIENT: ENUMS.SONDE_ROLE_CLIENT,
  SERVER: ENUMS.SONDE_ROLE_SERVER,
} as const;

export type ConnectFailureReason = 'refused' | 'timeout' | 'reset' | 'unreachable' | 'aborted' | 'other';

const E = constants.errno;
/** Classifies CONNECT_FAILED's errno (sk_err); 0 means the application closed the socket first. */
export function connectFailureReason(errno: number): ConnectFailureReason {
  switch (errno) {
    case E.ECONNREFUSED: return 'refused';
    case E.ETIMEDOUT: return 'timeout';
    case E.ECONNRESET: return 'reset';
    case E.EHOSTUNREACH: case E.ENETUNREACH: case E.ENETDOWN: return 'unreachable';
    case 0: case E.ECONNABORTED: return 'aborted';
    default: return 'other';
  }
}

/** Offsets this decoder reads (the layout test compares them with the C headers). */
export const TCP_EVENT_OFFSETS = {
  size: L.size, ts_ns: F.ts_ns.offset, cookie: F.cookie.offset, cgroup_id: F.cgroup_id.offset,
  duration_ns: F.duration_ns.offset, bytes_sent: F.bytes_sent.offset, bytes_received: F.bytes_received.offset,
  'tuple.saddr': F['tuple.saddr'].offset, 'tuple.daddr': F['tuple.daddr'].offset, 'tuple.family': F['tuple.family'].offset,
  'tuple.sport': F['tuple.sport'].offset, 'tuple.dport': F['tuple.dport'].offset, type: F.type.offset, pid: F.pid.offset,
  netns: F.netns.offset, error: F.error.offset, retransmits: F.retransmits.offset, role: F.role.offset, state: F.state.offset,
} as const;

export class TcpEventView {
  private view!: DataView;
  private off = 0;

  reset(view: DataView, offset: number): this {
    this.view = view;
    this.off = offset;
    return this;
  }
  get type(): number { return this.view.getUint32(this.off + F.type.offset, true); }
  get tsNs(): number { return u64(this.view, this.off + F.ts_ns.offset); }
  /** Socket cookie: the connection's identity (allocates a bigint). */
  get cookie(): bigint { return this.view.getBigUint64(this.off + F.cookie.offset, true); }
  get pid(): number { return this.view.getUint32(this.off + F.pid.offset, true); }
  get cgroupId(): number { return u64(this.view, this.off + F.cgroup_id.offset); }
  get durationNs(): number { return u64(this.view, this.off + F.duration_ns.offset); }
  get bytesSent(): number { return u64(this.view, this.off + F.bytes_sent.offset); }
  get bytesReceived(): number { return u64(this.view, this.off + F.bytes_received.offset); }
  get family(): number { return this.view.getUint16(this.off + F['tuple.family'].offset, true); }
  get sport(): number { return this.view.getUint16(this.off + F['tuple.sport'].offset, true); }
  get dport(): number { return this.view.getUint16(this.off + F['tuple.dport'].offset, true); }
  get netns(): number { return this.view.getUint32(this.off + F.netns.offset, true); }
  /** errno of a failed connect (CONNECT_FAILED). */
  get error(): number { return this.view.getUint32(this.off + F.error.offset, true); }
  get failureReason(): ConnectFailureReason { return connectFailureReason(this.error); }
  get retransmits(): number { return this.view.getUint32(this.off + F.retransmits.offset, true); }
  get role(): number { return this.view.getUint8(this.off + F.role.offset); }
  get state(): number { return this.view.getUint8(this.off + F.state.offset); }
  /** Local address (allocates a string). */
  get saddr(): string { return formatAddress(this.view, this.off + F['tuple.saddr'].offset, this.family); }
  /** Remote address (allocates a string). */
  get daddr(): string { return formatAddress(this.view, this.off + F['tuple.daddr'].offset, this.family); }

  toJSON(): TcpEvent {
    return {
      type: this.type, tsNs: this.tsNs, cookie: this.cookie, pid: this.pid, cgroupId: this.cgroupId, durationNs: this.durationNs,
      bytesSent: this.bytesSent, bytesReceived: this.bytesReceived, family: this.family, saddr: this.saddr, sport: this.sport,
      daddr: this.daddr, dport: this.dport, netns: this.netns, error: this.error, retransmits: this.retransmits,
      role: this.role, state: this.state,
    };
  }
}

export interface TcpEvent {
  type: number;
  tsNs: number;
  cookie: bigint;
  pid: number;
  cgroupId: number;
  durationNs: number;
  bytesSent: number;
  bytesReceived: number;
  family: number;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  netns: number;
  error: number;
  retransmits: number;
  role: number;
  state: number;
}

/** Calls fn with one reused view per tcp_event record; returns { records, malformed }. */
export function decodeTcpBatch(buf: Buffer, bytes: number, fn: (ev: TcpEventView) => void,
  view: TcpEventView = new TcpEventView()): { records: number; malformed: number } {
  let malformed = 0;
  const records = forEachRecord(buf, bytes, (dv, off, len) => {
    if (len !== L.size) { malformed++; return; }
    fn(view.reset(dv, off));
  });
  return { records: records - malformed, malformed };
}

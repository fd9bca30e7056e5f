import type { KeyHash } from './ids.js';
import { hashTuplePrefix } from './ids.js';
import type { ParserRegistry } from './registry.js';
import type { L7Record, ParserOptions, ParserSession, ProtocolParser, Role } from './types.js';
import { Direction } from './types.js';

/**
 * What the kernel side tells user space about one TCP connection (see README.md, "Kernel ↔ user-space
 * contract"). Delivered once, before the connection's first chunk, by `ConnTracker.open`.
 */
export interface ConnInfo {
  /** Socket cookie (`bpf_get_socket_cookie`): unique per socket until reboot; the connection's key. < 2^53. */
  readonly id: number;
  /** Process (tgid) that owns the socket: the one that called connect() (client) or accept() (server). */
  readonly pid: number;
  /** client: this process connected (it writes requests); server: it accepted (it reads requests). */
  readonly role: Role;
  /** Addresses as the socket sees them: dotted IPv4, or IPv6 text (IPv4-mapped IPv6 given as IPv4). */
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
  /**
   * Client connections only: the destination after NAT (conntrack's reply tuple source), when it differs
   * from remote — e.g. a Kubernetes Service IP that DNATs to a pod. coroot's `actual_destination`.
   */
  readonly actualRemoteIp?: string;
  readonly actualRemotePort?: number;
  /** cgroup v2 path of the process (`/sys/fs/cgroup` relative, e.g. `/system.slice/nginx.service`). */
  readonly cgroupPath: string;
  /**
   * Network namespace inode. Loopback tuples only mean something inside one namespace (two pods can both
   * talk 127.0.0.1:40000 → 127.0.0.1:8080): with it, loopback connections are matched per namespace.
   */
  readonly netns?: number;
  /**
   * True when the kernel saw the connection established (connect/accept, sock_ops ESTABLISHED): every
   * byte of the stream from its start is accounted for, so exchange ordinals are exact.
   */
  readonly fromStart: boolean;
  /** Protocol the kernel detector named (a registry key), or undefined to detect from the first chunk. */
  readonly protocol?: string;
  /**
   * When the connection was handed to the pipeline (CLOCK_MONOTONIC ns). Server connections are seen before
   * their owner: the ebpf adapter holds their first segments until a thread of the owner reads or writes
   * (the kernel's OWNER record), and opens them then, with that time. The owner cannot have acted on a
   * request before it read it, and the request is counted in flight (`inboundInFlight`) only from then on,
   * so linking makes no request the parent of a call written before this time. Absent or 0: from the start.
   */
  readonly ownedSinceNs?: number;
}

/** Strings derived once per connection (labels, index keys): no per-event string building. */
export interface ConnKeys {
  /** `ip:port` of the peer (`[v6]:port` for IPv6): coroot's `destination`. */
  readonly remote: string;
  /** `ip:port` after NAT (equals remote when unknown): coroot's `actual_destination`. */
  readonly actualRemote: string;
  /** Normalised `clientIp:port>serverIp:port` (the server address after NAT): equal on both ends. */
  readonly tuple: string;
  /** Hash state of the exchange-key prefix for this tuple (ids.ts): ids cost only the per-exchange part. */
  readonly tupleHash: KeyHash;
  /**
   * The peer's address is loopback, private (RFC 1918, CGNAT 100.64/10, IPv6 ULA) or link-local: a peer that
   * may run Sonde. Public peers (internet clients) never get a derived parent.
   */
  readonly peerPrivate: boolean;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** `::ffff:a.b.c.d` → `a.b.c.d` (the two ends of a dual-stack connection must name it alike). */
export function unmapIpv4(ip: string): string {
  return ip.length > 7 && ip.charCodeAt(0) === 58 && ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Loopback, RFC 1918, 100.64.0.0/10, link-local, IPv6 ::1 / fc00::/7 / fe80::/10. */
export function isPrivateIp(ip: string): boolean {
  if (ip.includes(':')) {
    const l = ip.toLowerCase();
    return l === '::1' || l.startsWith('fc') || l.startsWith('fd') || l.startsWith('fe8') || l.startsWith('fe9') || l.startsWith('fea') || l.startsWith('feb');
  }
  // the first two octets, without splitting
  let a = 0;
  let i = 0;
  while (i < ip.length && ip.charCodeAt(i) !== 46) a = a * 10 + ip.charCodeAt(i++) - 48;
  let b = 0;
  i++;
  while (i < ip.length && ip.charCodeAt(i) !== 46) b = b * 10 + ip.charCodeAt(i++) - 48;
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
}

/** One request/response exchange with its connection: the input of linking, spans and metrics. */
export interface L7Event {
  readonly record: L7Record;
  readonly conn: ConnInfo;
  readonly keys: ConnKeys;
  /** Thread (kernel tid) that did the request's first I/O in this process: the writer on a client, the reader on a server. 0 = unknown. */
  readonly reqTid: number;
  /** Thread that did the response's last I/O: the writer on a server, the reader on a client. 0 = unknown. */
  readonly respTid: number;
  /**
   * 0-based position of the exchange on its connection, or -1 when it is not known exactly (connection not
   * seen from its start, or an exchange on it was lost/incomplete).
   */
  readonly ordinal: number;
  /**
   * CLIENT exchanges: inbound requests of the same process that were waiting for their response when this
   * request was written (0: it cannot be part of an inbound request's handling; 1: it belongs to that one);
   * -1 or absent when unknown (a parser that cannot count its pending requests).
   */
  readonly inboundInFlight?: number;
  /**
   * The other end of the connection is a socket traced on this node (its exchanges will arrive too); false:
   * it is elsewhere (or untraced); absent: unknown.
   */
  readonly peerLocal?: boolean;
}

export function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

class Keys implements ConnKeys {
  readonly remote: string;
  readonly actualRemote: string;
  readonly tuple: string;
  readonly #peerIp: string;
  #hash: KeyHash | null = null;
  #private = -1;

  constructor(c: ConnInfo) {
    this.remote = endpoint(c.remoteIp, c.remotePort);
    this.actualRemote = c.actualRemoteIp !== undefined && c.actualRemotePort !== undefined ? endpoint(c.actualRemoteIp, c.actualRemotePort) : this.remote;
    const local = endpoint(c.localIp, c.localPort);
    const tuple = c.role === 'client' ? `${local}>${this.actualRemote}` : `${this.remote}>${local}`;
    this.tuple = c.netns !== undefined && isLoopback(c.remoteIp) ? `${c.netns}/${tuple}` : tuple;
    this.#peerIp = c.role === 'client' ? c.actualRemoteIp ?? c.remoteIp : c.remoteIp;
  }

  // computed on first use: connections that never produce a linked exchange never pay for them
  get tupleHash(): KeyHash {
    return (this.#hash ??= hashTuplePrefix(this.tuple));
  }

  get peerPrivate(): boolean {
    if (this.#private < 0) this.#private = isPrivateIp(this.#peerIp) ? 1 : 0;
    return this.#private === 1;
  }
}

export function connKeys(c: ConnInfo): ConnKeys {
  return new Keys(c);
}

const TID_RING = 16;
/** Captures up to this length are copied into a reused array for parsers without feedRange; longer ones get a subarray. */
const SCRATCH_MAX = 1024;
const DETECT_TRIES = 4;

class Conn {
  readonly info: ConnInfo;
  readonly keys: ConnKeys;
  parser: ProtocolParser | null = null;
  session: ParserSession | null = null;
  /** Chunks tried for detection; past DETECT_TRIES the connection is ignored. */
  tries = 0;
  /**
   * Ring of (timestamp, tid, inbound requests in flight) of recent request-direction chunks: a record's
   * startNs finds its thread and the in-flight count when it was written.
   */
  /** One buffer: timestamps at [0, R), thread ids at [R, 2R), in-flight counts at [2R, 3R) (R = TID_RING). */
  readonly ringBuf = new Float64Array(3 * TID_RING);
  ring = 0;
  lastRespTid = 0;
  /** Server connections: requests counted into the process's in-flight total. */
  pendingSeen = 0;
  ordinal = 0;
  ordinalExact: boolean;

  constructor(info: ConnInfo) {
    this.info = info;
    this.keys = connKeys(info);
    this.ordinalExact = info.fromStart;
  }

  /** Ring slot of the request-direction chunk seen at tsNs, or -1. */
  slotAt(tsNs: number): number {
    for (let k = 1; k <= TID_RING; k++) {
      const i = (this.ring - k + TID_RING) % TID_RING;
      if (this.ringBuf[i] === tsNs) return i;
    }
    return -1;
  }
}

/** Makes the L7Event of one exchange (ConnTracker's `newEvent`: the linker makes its own entries). */
export type L7EventFactory = (record: L7Record, conn: ConnInfo, keys: ConnKeys, reqTid: number, respTid: number, ordinal: number, inboundInFlight: number, peerLocal: boolean) => L7Event;

const plainEvent: L7EventFactory = (record, conn, keys, reqTid, respTid, ordinal, inboundInFlight, peerLocal) => ({ record, conn, keys, reqTid, respTid, ordinal, inboundInFlight, peerLocal });

export interface TrackerStats {
  chunks: number;
  /** Chunks for a connection that was never opened (or already evicted). */
  unknownConnection: number;
  /** Connections whose first chunks matched no parser (ignored from then on). */
  undetected: number;
  /** A parser threw (a bug): its session was replaced. Must stay 0; the fuzz tests check parsers. */
  parserErrors: number;
  records: number;
  /** Connections dropped because the table was full. */
  evicted: number;
  /** Losses of unknown size reported by the kernel side (`lost`). */
  losses: number;
}

/**
 * Connection table: one parser session per connection, chunks in, `L7Event`s out (to `sink`, synchronously).
 * Bounded by `maxConnections` (the oldest connection is evicted and its pending requests flushed).
 */
export class ConnTracker {
  readonly #registry: ParserRegistry;
  readonly #opts: ParserOptions;
  readonly #sink: (ev: L7Event) => void;
  readonly #newEvent: L7EventFactory;
  readonly #max: number;
  readonly #conns = new Map<number, Conn>();
  /** Open connections by normalised tuple, per role: tells whether the other end is traced here. */
  readonly #clientTuples = new Map<string, number>();
  readonly #serverTuples = new Map<string, number>();
  /** Per process: inbound requests waiting for their response (-1 once a server session cannot count them). */
  readonly #inflight = new Map<number, number>();
  /** Open server connections per process (its in-flight entry goes with the last one). */
  readonly #serverConns = new Map<number, number>();
  readonly #out: L7Record[] = [];
  /** Reused copies by length, for parsers without feedRange. */
  readonly #scratch: (Uint8Array | undefined)[] = [];
  readonly stats: TrackerStats = { chunks: 0, unknownConnection: 0, undetected: 0, parserErrors: 0, records: 0, evicted: 0, losses: 0 };

  /** `newEvent`: how events are made (default: plain objects); the pipeline lets its linker make them. */
  constructor(registry: ParserRegistry, opts: ParserOptions, sink: (ev: L7Event) => void, maxConnections = 65536, newEvent: L7EventFactory = plainEvent) {
    this.#registry = registry;
    this.#opts = opts;
    this.#sink = sink;
    this.#newEvent = newEvent;
    this.#max = maxConnections;
  }

  get size(): number {
    return this.#conns.size;
  }

  /** A connection starts being traced. Re-opening an id replaces the old connection (cookie reuse never happens within a boot, but a lost close may). */
  open(conn: ConnInfo, tsNs = 0): void {
    let info = conn;
    if (info.localIp.startsWith('::') || info.remoteIp.startsWith('::') || (info.actualRemoteIp?.startsWith('::') ?? false)) {
      info = { ...info, localIp: unmapIpv4(info.localIp), remoteIp: unmapIpv4(info.remoteIp), ...(info.actualRemoteIp !== undefined ? { actualRemoteIp: unmapIpv4(info.actualRemoteIp) } : {}) };
    }
    const old = this.#conns.get(info.id);
    if (old !== undefined) this.#closeConn(old, tsNs);
    else if (this.#conns.size >= this.#max) {
      const oldest = this.#conns.values().next().value as Conn;
      this.stats.evicted++;
      this.#closeConn(oldest, tsNs);
    }
    const c = new Conn(info);
    if (info.protocol !== undefined) {
      const p = this.#registry.get(info.protocol);
      if (p !== undefined) this.#setSession(c, p);
    }
    this.#conns.set(info.id, c);
    const tuples = info.role === 'client' ? this.#clientTuples : this.#serverTuples;
    tuples.set(c.keys.tuple, (tuples.get(c.keys.tuple) ?? 0) + 1);
    if (info.role === 'server') this.#serverConns.set(info.pid, (this.#serverConns.get(info.pid) ?? 0) + 1);
  }

  #setSession(c: Conn, p: ProtocolParser): void {
    c.parser = p;
    c.session = p.newSession(this.#opts);
    if (c.info.role === 'server' && c.session.pendingRequests === undefined) this.#inflight.set(c.info.pid, -1);
  }

  /** Keeps the process's in-flight count in step with a server session's pending requests. */
  #syncPending(c: Conn): void {
    const s = c.session;
    if (s === null || s.pendingRequests === undefined) return;
    const n = s.pendingRequests();
    if (n === c.pendingSeen) return;
    const pid = c.info.pid;
    const cur = this.#inflight.get(pid) ?? 0;
    if (cur >= 0) this.#inflight.set(pid, Math.max(0, cur + n - c.pendingSeen));
    c.pendingSeen = n;
  }

  /**
   * Bytes seen on a connection. `egress`: written by this process (false: read by it). `data` holds the first
   * captured bytes of a chunk whose real length is `length`. `tid`: the thread doing the I/O, 0 if unknown.
   * Chunks of one connection must arrive in the order the kernel saw them.
   */
  chunk(connId: number, egress: boolean, tsNs: number, tid: number, data: Uint8Array, length: number): void {
    this.chunkRange(connId, egress, tsNs, tid, data, 0, data.length, length);
  }

  /**
   * chunk() with the captured bytes at `buf[start, end)`: the receiver passes its ring batch, nothing of it is
   * kept. Parsers with feedRange read it in place; the others get a copy in a reused array.
   */
  chunkRange(connId: number, egress: boolean, tsNs: number, tid: number, buf: Uint8Array, start: number, end: number, length: number): void {
    this.stats.chunks++;
    const c = this.#conns.get(connId);
    if (c === undefined) {
      this.stats.unknownConnection++;
      return;
    }
    const dir = egress === (c.info.role === 'client') ? Direction.Request : Direction.Response;
    if (c.session === null) {
      if (c.tries >= DETECT_TRIES) return;
      c.tries++;
      const p = this.#registry.detect(start === 0 && end === buf.length ? buf : buf.subarray(start, end), dir);
      if (p === undefined) {
        if (c.tries === DETECT_TRIES) this.stats.undetected++;
        return;
      }
      this.#setSession(c, p);
    }
    if (dir === Direction.Request) {
      c.ringBuf[c.ring] = tsNs;
      c.ringBuf[TID_RING + c.ring] = tid;
      c.ringBuf[2 * TID_RING + c.ring] = c.info.role === 'client' ? this.#inflight.get(c.info.pid) ?? 0 : -1;
      c.ring = (c.ring + 1) % TID_RING;
    } else if (tid !== 0) {
      c.lastRespTid = tid;
    }
    try {
      const session = c.session as ParserSession;
      if (session.feedRange !== undefined) session.feedRange(dir, buf, start, end, length, tsNs, this.#out);
      else session.feed(dir, start === 0 && end === buf.length ? buf : this.#copy(buf, start, end), length, tsNs, this.#out);
    } catch {
      this.stats.parserErrors++;
      this.#resetSession(c);
    }
    if (c.info.role === 'server') this.#syncPending(c);
    this.#drain(c);
  }

  /** buf[start, end) in a reused array of that length (parsers never keep `captured` past feed()). */
  #copy(buf: Uint8Array, start: number, end: number): Uint8Array {
    const n = end - start;
    if (n > SCRATCH_MAX) return buf.subarray(start, end);
    let a = this.#scratch[n];
    if (a === undefined) this.#scratch[n] = a = new Uint8Array(n);
    if (n <= 32) for (let i = 0; i < n; i++) a[i] = buf[start + i];
    else a.set(buf.subarray(start, end)); // a native copy (its view is young garbage) beats a JS loop here
    return a;
  }

  /** A parser threw: start over with a fresh session (it resyncs on the next message start). */
  #resetSession(c: Conn): void {
    c.session = (c.parser as ProtocolParser).newSession(this.#opts);
    c.ordinalExact = false;
    if (c.info.role === 'server') this.#syncPending(c);
  }

  /**
   * The kernel lost bytes of this connection and cannot say how many (a dropped event). Its pending
   * requests come out as incomplete, parsing starts over at the next message start, and its exchange
   * ordinals stop being exact. (A loss of a known size is a chunk with `length` > captured bytes instead.)
   */
  lost(connId: number, tsNs: number): void {
    const c = this.#conns.get(connId);
    if (c === undefined || c.session === null) return;
    this.stats.losses++;
    try {
      c.session.close(tsNs, this.#out);
    } catch {
      this.stats.parserErrors++;
    }
    this.#drain(c);
    this.#resetSession(c);
  }

  /** The connection closed (or the kernel evicted it): pending requests come out as incomplete. */
  close(connId: number, tsNs: number): void {
    const c = this.#conns.get(connId);
    if (c !== undefined) this.#closeConn(c, tsNs);
  }

  /** Requests older than the timeout come out as incomplete. Call every second or so. */
  expire(nowNs: number): void {
    for (const c of this.#conns.values()) {
      if (c.session === null) continue;
      try {
        c.session.expire(nowNs, this.#out);
      } catch {
        this.stats.parserErrors++;
        this.#resetSession(c);
      }
      if (c.info.role === 'server') this.#syncPending(c);
      this.#drain(c);
    }
  }

  /** Buffered bytes across all sessions (parsers that report it). */
  bufferedBytes(): number {
    let n = 0;
    for (const c of this.#conns.values()) n += c.session?.bufferedBytes?.() ?? 0;
    return n;
  }

  #closeConn(c: Conn, tsNs: number): void {
    this.#conns.delete(c.info.id);
    if (c.session !== null) {
      try {
        c.session.close(tsNs, this.#out);
      } catch {
        this.stats.parserErrors++;
      }
      this.#drain(c);
    }
    const tuples = c.info.role === 'client' ? this.#clientTuples : this.#serverTuples;
    const n = (tuples.get(c.keys.tuple) ?? 1) - 1;
    if (n > 0) tuples.set(c.keys.tuple, n);
    else tuples.delete(c.keys.tuple);
    if (c.info.role === 'server') {
      const pid = c.info.pid;
      const left = (this.#serverConns.get(pid) ?? 1) - 1;
      if (left > 0) {
        this.#serverConns.set(pid, left);
        const cur = this.#inflight.get(pid) ?? 0;
        if (cur > 0) this.#inflight.set(pid, Math.max(0, cur - c.pendingSeen));
      } else {
        this.#serverConns.delete(pid);
        this.#inflight.delete(pid);
      }
      c.pendingSeen = 0;
    }
  }

  /** Keys held in the tracker's per-tuple and per-process maps (for tests and self-telemetry). */
  mapSizes(): number {
    return this.#clientTuples.size + this.#serverTuples.size + this.#inflight.size + this.#serverConns.size;
  }

  #drain(c: Conn): void {
    const out = this.#out;
    if (out.length === 0) return;
    for (let i = 0; i < out.length; i++) {
      const record = out[i];
      const ordinal = c.ordinalExact ? c.ordinal : -1;
      c.ordinal++;
      if (record.incomplete === true) c.ordinalExact = false;
      this.stats.records++;
      const slot = c.slotAt(record.startNs);
      const client = c.info.role === 'client';
      // the other end's connection is traced here if a socket with the same tuple and the other role is open
      const peerLocal = (client ? this.#serverTuples : this.#clientTuples).has(c.keys.tuple);
      this.#sink(this.#newEvent(record, c.info, c.keys, slot >= 0 ? c.ringBuf[TID_RING + slot] : 0, c.lastRespTid, ordinal,
        client ? (slot >= 0 ? c.ringBuf[2 * TID_RING + slot] : -1) : -1, peerLocal));
    }
    // emptied by pop: `length = 0` drops the backing store, and the next record would allocate a new one
    while (out.length > 0) out.pop();
  }
}

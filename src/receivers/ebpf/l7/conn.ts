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
   * True when the kernel saw the connection established (connect/accept, sock_ops ESTABLISHED): every
   * byte of the stream from its start is accounted for, so exchange ordinals are exact.
   */
  readonly fromStart: boolean;
  /** Protocol the kernel detector named (a registry key), or undefined to detect from the first chunk. */
  readonly protocol?: string;
}

/** Strings derived once per connection (labels, index keys): no per-event string building. */
export interface ConnKeys {
  /** `ip:port` of the peer (`[v6]:port` for IPv6): coroot's `destination`. */
  readonly remote: string;
  /** `ip:port` after NAT (equals remote when unknown): coroot's `actual_destination`. */
  readonly actualRemote: string;
  /** Normalised `clientIp:port>serverIp:port` (the server address after NAT): equal on both ends. */
  readonly tuple: string;
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
}

export function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function connKeys(c: ConnInfo): ConnKeys {
  const remote = endpoint(c.remoteIp, c.remotePort);
  const actualRemote = c.actualRemoteIp !== undefined && c.actualRemotePort !== undefined ? endpoint(c.actualRemoteIp, c.actualRemotePort) : remote;
  const local = endpoint(c.localIp, c.localPort);
  return { remote, actualRemote, tuple: c.role === 'client' ? `${local}>${actualRemote}` : `${remote}>${local}` };
}

const TID_RING = 16;
const DETECT_TRIES = 4;

class Conn {
  readonly info: ConnInfo;
  readonly keys: ConnKeys;
  parser: ProtocolParser | null = null;
  session: ParserSession | null = null;
  /** Chunks tried for detection; past DETECT_TRIES the connection is ignored. */
  tries = 0;
  /** Ring of (timestamp, tid) of recent request-direction chunks: a record's startNs finds its thread. */
  readonly reqTs = new Float64Array(TID_RING);
  readonly reqTid = new Int32Array(TID_RING);
  ring = 0;
  lastRespTid = 0;
  ordinal = 0;
  ordinalExact: boolean;

  constructor(info: ConnInfo) {
    this.info = info;
    this.keys = connKeys(info);
    this.ordinalExact = info.fromStart;
  }

  tidAt(tsNs: number): number {
    for (let k = 1; k <= TID_RING; k++) {
      const i = (this.ring - k + TID_RING) % TID_RING;
      if (this.reqTs[i] === tsNs) return this.reqTid[i];
    }
    return 0;
  }
}

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
}

/**
 * Connection table: one parser session per connection, chunks in, `L7Event`s out (to `sink`, synchronously).
 * Bounded by `maxConnections` (the oldest connection is evicted and its pending requests flushed).
 */
export class ConnTracker {
  readonly #registry: ParserRegistry;
  readonly #opts: ParserOptions;
  readonly #sink: (ev: L7Event) => void;
  readonly #max: number;
  readonly #conns = new Map<number, Conn>();
  readonly #out: L7Record[] = [];
  readonly stats: TrackerStats = { chunks: 0, unknownConnection: 0, undetected: 0, parserErrors: 0, records: 0, evicted: 0 };

  constructor(registry: ParserRegistry, opts: ParserOptions, sink: (ev: L7Event) => void, maxConnections = 65536) {
    this.#registry = registry;
    this.#opts = opts;
    this.#sink = sink;
    this.#max = maxConnections;
  }

  get size(): number {
    return this.#conns.size;
  }

  /** A connection starts being traced. Re-opening an id replaces the old connection (cookie reuse never happens within a boot, but a lost close may). */
  open(info: ConnInfo, tsNs = 0): void {
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
      if (p !== undefined) {
        c.parser = p;
        c.session = p.newSession(this.#opts);
      }
    }
    this.#conns.set(info.id, c);
  }

  /**
   * Bytes seen on a connection. `egress`: written by this process (false: read by it). `data` holds the first
   * captured bytes of a chunk whose real length is `length`. `tid`: the thread doing the I/O, 0 if unknown.
   * Chunks of one connection must arrive in the order the kernel saw them.
   */
  chunk(connId: number, egress: boolean, tsNs: number, tid: number, data: Uint8Array, length: number): void {
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
      const p = this.#registry.detect(data, dir);
      if (p === undefined) {
        if (c.tries === DETECT_TRIES) this.stats.undetected++;
        return;
      }
      c.parser = p;
      c.session = p.newSession(this.#opts);
    }
    if (dir === Direction.Request) {
      c.reqTs[c.ring] = tsNs;
      c.reqTid[c.ring] = tid;
      c.ring = (c.ring + 1) % TID_RING;
    } else if (tid !== 0) {
      c.lastRespTid = tid;
    }
    try {
      c.session.feed(dir, data, length, tsNs, this.#out);
    } catch {
      this.stats.parserErrors++;
      c.session = (c.parser as ProtocolParser).newSession(this.#opts);
      c.ordinalExact = false;
    }
    this.#drain(c);
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
        c.session = (c.parser as ProtocolParser).newSession(this.#opts);
      }
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
    if (c.session === null) return;
    try {
      c.session.close(tsNs, this.#out);
    } catch {
      this.stats.parserErrors++;
    }
    this.#drain(c);
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
      this.#sink({ record, conn: c.info, keys: c.keys, reqTid: c.tidAt(record.startNs), respTid: c.lastRespTid, ordinal });
    }
    out.length = 0;
  }
}

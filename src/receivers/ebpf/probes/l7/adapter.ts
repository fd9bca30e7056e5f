// The l7 probe's ring records → the L7Pipeline's input (open / chunk / close), in kernel order.
//
// Per connection the kernel sends OPEN (protocol detected), DATA segments, CLOSE. Two things are
// settled here before the pipeline sees a connection, from its first records:
//  - the owner: for server connections the kernel only knows the listener's process (an nginx
//    master, a Node cluster primary) until a thread reads or writes on the socket; it then sends an
//    OWNER record. Such a connection waits (its chunks copied) until OWNER, at most
//    `maxPendingChunks` segments. The wait keeps causal order: the owner reads the request before
//    it can act on it (make calls), and the kernel reserves OWNER at that read;
//  - the protocol: the kernel's detector table is a pre-filter; the named parser confirms on the
//    first chunk (ProtocolParser.detect), else the pipeline detects by itself.
// Once open, DATA goes through without allocation or copy: the input's chunkRange() gets the batch
// itself with the payload's offsets (parsers never keep `captured` past feed(); the ring batch is
// reused too); an input without it gets the bytes copied into a reused array of the same length.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ConnInfo } from '../../l7/conn.js';
import type { ParserRegistry } from '../../l7/registry.js';
import { Direction } from '../../l7/types.js';
import { ENUMS } from '../../../../native/layouts.generated.js';
import { forEachRecord } from '../../../../native/ring-records.js';
import { cgroup2Root } from './capture.js';
import { L7ConnEventView, L7ConnFlags, L7DataFlags, L7EventType, L7EventView, L7_CONN_EVENT_SIZE, L7_EVENT_SIZE, L7_TYPE_OFFSET } from './decode.js';

/** What the adapter drives: L7Pipeline's connection surface. */
export interface L7Input {
  open(conn: ConnInfo, tsNs?: number): void;
  chunk(connId: number, egress: boolean, tsNs: number, tid: number, data: Uint8Array, length: number): void;
  /** Optional: chunk() with the captured bytes at `buf[start, end)` (the ring batch; nothing of it may be kept). */
  chunkRange?(connId: number, egress: boolean, tsNs: number, tid: number, buf: Uint8Array, start: number, end: number, length: number): void;
  close(connId: number, tsNs: number): void;
}

export interface L7AdapterOptions {
  /** Protocol id (1-based) → registry name: DetectorTable.names. */
  readonly protocols: readonly string[];
  /** Confirms the kernel's guess with the parser's own detect(); without it the kernel's name is taken as is. */
  readonly registry?: ParserRegistry;
  /** The agent's pid: its connections are dropped (the kernel ignores them too, once it sees them write). */
  readonly selfPid?: number;
  /**
   * cgroup v2 path of a connection's process (ConnInfo.cgroupPath): `cgroupId` is the kernel's (0 when
   * unknown, e.g. the owner changed). Default: cgroupPathResolver() (the id through cgroupfs, else /proc).
   */
  readonly cgroupPath?: (pid: number, cgroupId: number) => string;
  /** Segments held while a server connection's owner is unknown (default 8). */
  readonly maxPendingChunks?: number;
}

export interface L7AdapterStats {
  records: number;
  opens: number;
  data: number;
  closes: number;
  /** Records too short for their kind, or of an unknown type. */
  malformed: number;
  /** DATA/CLOSE for a connection whose OPEN was not seen (before start, or the ring dropped it). */
  unknownConnection: number;
  /** Connections whose owner was confirmed after OPEN (OWNER record, or the first write) and was not the listener's process. */
  ownerChanged: number;
  /** Connections opened without a known writer (pending cap reached, or closed first). */
  ownerUnknown: number;
  /** The kernel's protocol confirmed by its parser / not confirmed (the pipeline detects itself). */
  confirmed: number;
  unconfirmed: number;
  /** Connections of the agent itself, dropped. */
  self: number;
  /** Stream holes reported by the kernel (bytes never seen), fed as uncaptured chunks. */
  gapBytes: number;
}

interface Held {
  egress: boolean;
  tsNs: number;
  tid: number;
  data: Uint8Array;
  length: number;
  gap: number;
}

class Conn {
  ready = false;
  dropped = false;
  pid: number;
  ownerKnown: boolean;
  readonly held: Held[] = [];
  readonly id: number;
  readonly tsNs: number;
  cgroupId: number;
  /** Server connections: the listener's cgroup id from OPEN (kept when the owner changes: see #cgroupOf). */
  readonly listenerCgroupId: number;
  readonly role: 'client' | 'server';
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly fromStart: boolean;
  readonly protocol: string | undefined;

  constructor(v: L7ConnEventView, protocols: readonly string[]) {
    this.id = v.cookie;
    this.tsNs = v.tsNs;
    this.pid = v.pid;
    this.cgroupId = v.cgroupId;
    this.listenerCgroupId = v.cgroupId;
    const flags = v.flags;
    this.ownerKnown = (flags & L7ConnFlags.OWNER_TASK) !== 0 && this.pid !== 0;
    this.role = v.role === ENUMS.SONDE_ROLE_SERVER ? 'server' : 'client';
    this.localIp = v.saddr;
    this.localPort = v.sport;
    this.remoteIp = v.daddr;
    this.remotePort = v.dport;
    this.fromStart = (flags & L7ConnFlags.FROM_START) !== 0;
    this.protocol = protocols[v.protocol - 1];
  }
}

const EMPTY = new Uint8Array(0);
/** Captured lengths up to this get a reused array each; longer ones (capture_bytes > 1 KiB) a view. */
const SCRATCH_MAX = 1024;
/** Up to this many bytes a JS loop copies faster than a native copy (which also allocates a view). */
const COPY_LOOP_MAX = 32;

export class L7Adapter {
  readonly stats: L7AdapterStats = {
    records: 0, opens: 0, data: 0, closes: 0, malformed: 0, unknownConnection: 0, ownerChanged: 0, ownerUnknown: 0,
    confirmed: 0, unconfirmed: 0, self: 0, gapBytes: 0,
  };
  readonly #out: L7Input;
  readonly #o: L7AdapterOptions;
  readonly #conns = new Map<number, Conn>();
  readonly #ev = new L7EventView();
  readonly #cv = new L7ConnEventView();
  readonly #scratch: (Uint8Array | undefined)[] = [];
  readonly #maxPending: number;
  readonly #cgroup: (pid: number, cgroupId: number) => string;
  /** A Buffer over the whole ArrayBuffer of the current batch (offsets = DataView offsets). */
  #buf: Buffer = Buffer.alloc(0);
  /** The same bytes as a plain Uint8Array (what parsers index: one receiver class for their loads). */
  #u8: Uint8Array = new Uint8Array(0);
  readonly #onRecord = (view: DataView, off: number, len: number): void => this.record(view, off, len);

  constructor(out: L7Input, opts: L7AdapterOptions) {
    this.#out = out;
    this.#o = opts;
    this.#maxPending = opts.maxPendingChunks ?? 8;
    this.#cgroup = opts.cgroupPath ?? cgroupPathResolver();
  }

  /** Connections known (open or waiting for their owner). */
  get connections(): number {
    return this.#conns.size;
  }

  /** One ring batch (RingReader's BatchFn shape). Synchronous; nothing of `buf` is kept. */
  onBatch(buf: Buffer, _records: number, bytes: number): void {
    forEachRecord(buf, bytes, this.#onRecord);
  }

  /** Opens every connection still waiting for its owner (e.g. before shutdown). */
  flush(): void {
    for (const c of this.#conns.values()) if (!c.ready && !c.dropped) this.#open(c, c.held.at(-1)?.tsNs ?? c.tsNs);
  }

  /**
   * One ring record: `view` (over the batch's whole ArrayBuffer, as forEachRecord and the ebpf receiver
   * give it) and the record's offset and length. Synchronous; nothing of the batch is kept.
   */
  record(view: DataView, off: number, len: number): void {
    if (this.#buf.buffer !== view.buffer) {
      this.#buf = Buffer.from(view.buffer as ArrayBuffer);
      this.#u8 = new Uint8Array(view.buffer as ArrayBuffer);
    }
    this.stats.records++;
    if (len < L7_TYPE_OFFSET + 4) {
      this.stats.malformed++;
      return;
    }
    const type = view.getUint32(off + L7_TYPE_OFFSET, true);
    if (type === L7EventType.DATA) {
      const ev = this.#ev.reset(view, off, len);
      if (!ev.wellFormed) {
        this.stats.malformed++;
        return;
      }
      this.stats.data++;
      this.#data(ev);
    } else if (type === L7EventType.OPEN) {
      if (len < L7_CONN_EVENT_SIZE) {
        this.stats.malformed++;
        return;
      }
      this.stats.opens++;
      const v = this.#cv.reset(view, off);
      const old = this.#conns.get(v.cookie);
      if (old !== undefined) this.#close(old, v.tsNs);
        this.#conns.set(v.cookie, new Conn(v, this.#o.protocols));
    } else if (type === L7EventType.OWNER) {
      if (len < L7_EVENT_SIZE) {
        this.stats.malformed++;
        return;
      }
      const ev = this.#ev.reset(view, off, len);
      const c = this.#conns.get(ev.cookie);
      if (c === undefined) this.stats.unknownConnection++;
      else if (!c.ready && !c.dropped) this.#owner(c, ev.pid, ev.tsNs);
    } else if (type === L7EventType.CLOSE) {
      if (len < L7_EVENT_SIZE) {
        this.stats.malformed++;
        return;
      }
      this.stats.closes++;
      const ev = this.#ev.reset(view, off, len);
      const c = this.#conns.get(ev.cookie);
      if (c === undefined) this.stats.unknownConnection++;
      else this.#close(c, ev.tsNs);
    } else {
      this.stats.malformed++;
    }
  }

  #data(ev: L7EventView): void {
    const c = this.#conns.get(ev.cookie);
    if (c === undefined) {
      this.stats.unknownConnection++;
      return;
    }
    if (c.dropped) return;
    const egress = ev.egress;
    const gap = ev.gap;
    if (c.ready) {
      const n = ev.captured;
      const ts = ev.tsNs;
      const tid = ev.tid;
      if (gap > 0) {
        this.stats.gapBytes += gap;
        this.#out.chunk(c.id, egress, ts, tid, EMPTY, gap);
      }
      const out = this.#out;
      const start = ev.payloadOffset;
      if (out.chunkRange !== undefined) out.chunkRange(c.id, egress, ts, tid, this.#u8, start, start + n, ev.length);
      else out.chunk(c.id, egress, ts, tid, this.#bytes(start, n), ev.length);
      return;
    }
    // waiting for the owner: keep a copy
    const start = ev.payloadOffset;
    const data = new Uint8Array(ev.captured);
    this.#buf.copy(data, 0, start, start + data.length);
    c.held.push({ egress, tsNs: ev.tsNs, tid: ev.tid, data, length: ev.length, gap });
    // known owner: open at the first chunk (the parser confirms the protocol on it)
    if (c.ownerKnown) this.#open(c, ev.tsNs);
    else if (egress && (ev.flags & L7DataFlags.TASK) !== 0 && ev.pid !== 0) this.#owner(c, ev.pid, ev.tsNs);
    else if (c.held.length >= this.#maxPending) this.#open(c, ev.tsNs);
  }

  /** The owner is known (at `tsNs`: an OWNER record, or a write of its thread). */
  #owner(c: Conn, pid: number, tsNs: number): void {
    if (pid !== c.pid) {
      this.stats.ownerChanged++;
      c.pid = pid;
      c.cgroupId = 0; // the listener's: resolve the owner's by pid
    }
    c.ownerKnown = true;
    if (c.held.length > 0) this.#open(c, tsNs);
  }

  /**
   * The captured bytes at `off` (DataView offsets) as a reused array (inputs without chunkRange). Short ones
   * are copied by a loop: Buffer#copy allocates a view per call, but beyond a few dozen bytes it is faster.
   */
  #bytes(off: number, n: number): Uint8Array {
    if (n === 0) return EMPTY;
    if (n <= SCRATCH_MAX) {
      let a = this.#scratch[n];
      if (a === undefined) this.#scratch[n] = a = new Uint8Array(n);
      const src = this.#buf;
      if (n <= COPY_LOOP_MAX) for (let i = 0; i < n; i++) a[i] = src[off + i];
      else a.set(this.#u8.subarray(off, off + n));
      return a;
    }
    return this.#buf.subarray(off, off + n);
  }

  /** Hands the connection and its held chunks to the pipeline, at `tsNs` (ConnInfo.ownedSinceNs). */
  #open(c: Conn, tsNs: number): void {
    if (!c.ownerKnown) this.stats.ownerUnknown++;
    if (this.#o.selfPid !== undefined && c.pid === this.#o.selfPid) {
      c.dropped = true;
      c.held.length = 0;
      this.stats.self++;
      return;
    }
    let protocol = c.protocol;
    const first = c.held[0];
    if (protocol !== undefined && this.#o.registry !== undefined) {
      const p = this.#o.registry.get(protocol);
      const dir = first !== undefined && first.egress === (c.role === 'client') ? Direction.Request : Direction.Response;
      let ok = false;
      try {
        ok = p !== undefined && first !== undefined && p.detect(first.data, dir);
      } catch {
        ok = false;
      }
      if (ok) this.stats.confirmed++;
      else {
        this.stats.unconfirmed++;
        protocol = undefined;
      }
    }
    const info: ConnInfo = {
      id: c.id, pid: c.pid, role: c.role, localIp: c.localIp, localPort: c.localPort, remoteIp: c.remoteIp,
      remotePort: c.remotePort, cgroupPath: this.#cgroupOf(c), fromStart: c.fromStart, protocol, ownedSinceNs: tsNs,
    };
    c.ready = true;
    this.#out.open(info, c.tsNs);
    for (const h of c.held) {
      if (h.gap > 0) {
        this.stats.gapBytes += h.gap;
        this.#out.chunk(c.id, h.egress, h.tsNs, h.tid, EMPTY, h.gap);
      }
      this.#out.chunk(c.id, h.egress, h.tsNs, h.tid, h.data, h.length);
    }
    c.held.length = 0;
  }

  /**
   * Clients: the cgroup id the kernel took at connect() (exact even once a short-lived client exited).
   * Servers: the owner's current cgroup by pid (the id is the listener's at listen() time), else the
   * listener's: a worker forked per connection (PostgreSQL's backends) may have exited before its first
   * records are decoded (a short psql or pgbench session), and such workers are forked from the
   * listener's process, in its cgroup. An owner found in the root cgroup also takes the listener's
   * (a root result is what an unknown pid resolves to).
   */
  #cgroupOf(c: Conn): string {
    if (c.role === 'client') return this.#cgroup(c.pid, c.cgroupId);
    const byPid = c.pid !== 0 ? this.#cgroup(c.pid, 0) : '';
    if (byPid !== '' && byPid !== '/') return byPid;
    return (c.listenerCgroupId !== 0 ? this.#cgroup(0, c.listenerCgroupId) : '') || byPid || this.#cgroup(c.pid, c.cgroupId);
  }

  #close(c: Conn, tsNs: number): void {
    if (!c.ready && !c.dropped) this.#open(c, tsNs);
    this.#conns.delete(c.id);
    if (c.ready) this.#out.close(c.id, tsNs);
  }
}

/**
 * cgroup v2 paths (relative to the cgroup2 mount, as in /proc/<pid>/cgroup) by the kernel's cgroup id
 * (the cgroup directory's inode: exact even after the process exited, e.g. a short curl) or, without
 * an id, by pid. The id map is built by walking cgroupfs, again on a miss at most once a second.
 */
export function cgroupPathResolver(opts: { procRoot?: string; cgroupRoot?: string; max?: number } = {}): (pid: number, cgroupId: number) => string {
  const procRoot = opts.procRoot ?? '/proc';
  const max = opts.max ?? 4096;
  const byPid = new Map<number, string>();
  let byId = new Map<number, string>();
  let scannedAt = -Infinity;
  const root = opts.cgroupRoot ?? cgroup2Root(procRoot);
  const scan = (): void => {
    if (root === undefined) return;
    const m = new Map<number, string>();
    const walk = (dir: string, rel: string, depth: number): void => {
      try {
        m.set(statSync(dir).ino, rel === '' ? '/' : rel);
        if (depth > 32) return;
        for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(`${dir}/${e.name}`, `${rel}/${e.name}`, depth + 1);
      } catch {
        // removed while walking
      }
    };
    walk(root, '', 0);
    byId = m;
  };
  const fromProc = (pid: number): string => {
    let p = byPid.get(pid);
    if (p !== undefined) return p;
    p = '';
    try {
      const line = readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
      if (line !== undefined) p = line.slice(3);
    } catch {
      return ''; // gone (not cached: the pid may be reused)
    }
    if (byPid.size >= max) byPid.delete(byPid.keys().next().value as number);
    byPid.set(pid, p);
    return p;
  };
  return (pid: number, cgroupId: number): string => {
    if (cgroupId !== 0) {
      let p = byId.get(cgroupId);
      if (p === undefined && performance.now() - scannedAt > 1000) {
        scannedAt = performance.now();
        scan();
        p = byId.get(cgroupId);
      }
      if (p !== undefined) return p;
    }
    return pid !== 0 ? fromProc(pid) : '';
  };
}

import type { ConnInfo, ConnKeys, L7Event } from './conn.js';
import { hashExchangeScratch, hexOfLanes2, hexOfLanes4, laneOfHex, randomLane, spanLaneX, spanLaneY, traceLaneD } from './ids.js';
import type { L7Record } from './types.js';

/**
 * Trace linking without injecting anything into the traffic (README.md, "Linking", for the rules and where
 * they go wrong). Rules, in order:
 *
 * 1. traceparent: a request carrying W3C trace context continues that trace; parent = the caller's span.
 * 2. thread (CLIENT): an outbound call of process P inside the interval of an inbound request of P is its
 *    child — when that was the only inbound request in flight in P when the call was written
 *    (`inboundInFlight` = 1), or else when the thread that wrote the call read that request or wrote its
 *    response (ambiguity among several such requests: `threadAmbiguity`). Never a request its process had not
 *    read yet when the call was written (a new connection's first request: ConnInfo.ownedSinceNs).
 * 3. peer (SERVER): an inbound request whose connection is the reverse of a CLIENT connection on this node,
 *    inside that CLIENT exchange's interval, is a child of that CLIENT span (same trace).
 * 4. derived (SERVER, no local peer): ids derived from the connection's 4-tuple and the exchange's ordinal,
 *    which the agent at the other end computes identically: trace = H(key), parent = the far CLIENT span
 *    H(key, client). Only when the connection was seen from its start (exact ordinals) and the client's
 *    address is private (a public client, e.g. on the internet, never runs Sonde: no dangling parent).
 * 5. root: a new trace (derived from the exchange key when there is one, so that the far end's SERVER span,
 *    computed by rule 4, lands in it; random otherwise).
 * A CLIENT span that joined a local trace (rules 1–2) while its far end is on another node cannot make that
 * node's agent use the same trace id: it carries a span link to the far SERVER span's derived ids.
 *
 * Parents end after their children (a handler answers after its calls return; a client reads the response
 * after the server wrote it), so only children wait: an exchange is emitted as soon as its parent is known
 * and final, or at once when it cannot have a local parent (no inbound request in flight in its process; no
 * traced client socket at the other end), and at the latest `windowNs` after it ended.
 */
export interface LinkOptions {
  /** The longest an exchange waits for a local parent after it ended (ns). */
  readonly windowNs: number;
  /** How long emitted exchanges stay findable as parents, for events that reach user space late (ns). */
  readonly retainNs: number;
  /** Cap on exchanges waiting; beyond it the oldest are emitted early (unlinked if their parent is missing). */
  readonly maxBuffered: number;
  /** Several inbound requests of the same thread contain an outbound call: `skip` links none, `latest` the latest started. */
  readonly threadAmbiguity: 'skip' | 'latest';
  /** Derive ids from connection tuples + ordinals so agents on both ends of a connection agree (rules 4–5). */
  readonly deriveIds: boolean;
  /**
   * Slack when comparing kernel timestamps on this node (ns). The comparisons follow causality on one clock
   * (a handler reads its request before it writes a call, a server writes its response before the client
   * reads it), so 0 is right when every timestamp is taken at the I/O itself; raise it only if some hook
   * stamps events late. A large slack makes back-to-back requests on one thread ambiguous.
   */
  readonly slackNs: number;
}

export const DEFAULT_LINK_OPTIONS: LinkOptions = {
  windowNs: 2e9,
  retainNs: 5e7,
  maxBuffered: 100_000,
  threadAmbiguity: 'skip',
  deriveIds: true,
  slackNs: 0,
};

export type LinkReason = 'traceparent' | 'thread' | 'peer' | 'derived' | 'root';

export interface LinkedSpan {
  readonly ev: L7Event;
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  /** The same ids as int32 lanes, 8 hex digits each (SpanRecord#setIdLanes): t0..t3, s0 s1, p0 p1 if hasParent. */
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
  readonly s0: number;
  readonly s1: number;
  readonly hasParent: boolean;
  readonly p0: number;
  readonly p1: number;
  readonly traceState: string;
  readonly traceFlags: number;
  readonly reason: LinkReason;
  /** CLIENT spans in a local trace whose far end is on another node: the far SERVER span's derived ids. */
  readonly link?: { readonly traceId: string; readonly spanId: string };
}

const MAX_SCAN = 64;
/** Waiting calls of its process a new request looks at, newest first (those that ended before it began stop the scan sooner). */
const MAX_ADOPT_SCAN = 1024;
const NONE: Entry[] = [];
const MAX_CANDIDATES = 4;

/** Entry#flags bits. */
const F_CLIENT = 1;
const F_KEY = 2;
const F_OWN = 4;
const F_PARENT = 8;
const F_FINAL = 16;
const F_WAITING = 32;
const F_GONE = 64;
/** peerLocal is known (true or false), and its value. */
const F_PEER_KNOWN = 128;
const F_PEER_LOCAL = 256;
/** LinkReason as an index into REASONS, 3 bits. */
const REASON_SHIFT = 9;
const REASON_MASK = 7 << REASON_SHIFT;
/** traceFlags, 8 bits. */
const FLAGS_SHIFT = 16;
const FLAGS_MASK = 255 << FLAGS_SHIFT;
const REASONS: readonly LinkReason[] = ['root', 'traceparent', 'thread', 'peer', 'derived'];
const REASON_INDEX: Record<LinkReason, number> = { root: 0, traceparent: 1, thread: 2, peer: 3, derived: 4 };

/** An entry's rarely set parts (most entries never have any): made on the first non-default write. */
class EntryMore {
  traceState = '';
  link: LinkedSpan['link'] = undefined;
  candidates: Entry[] | null = null;
  dependents: Entry[] | null = null;
}

/**
 * One exchange: the L7Event itself when the connection tracker made it through Linker.event() (else a copy
 * of a pushed event's fields), and its LinkedSpan once final — one object from the parser's record to
 * the span. Times are read from the record (a double in a field is a heap box of its own). Entries live
 * until retainNs after they are final (scavenges copy them, often twice), so they are kept small: the
 * booleans, the link reason and the trace flags share one integer, and what is rarely set (trace state,
 * far-end link, candidate parents, dependents) sits in a side object made on first use.
 */
class Entry implements LinkedSpan, L7Event {
  readonly record: L7Record;
  readonly conn: ConnInfo;
  readonly keys: ConnKeys;
  readonly reqTid: number;
  readonly respTid: number;
  readonly ordinal: number;
  /** inboundInFlight, -1 when unknown. */
  readonly inflight: number;
  /** F_* bits, the reason and the trace flags. */
  flags: number;
  /**
   * The exchange key shared with the far end exists (exact ordinals, deriveIds: F_KEY): its finished lanes
   * k0..k3. Without a key, k0..k3 hold the exchange's own random trace id once ownTrace() made one (F_OWN).
   */
  k0: number;
  k1: number;
  k2: number;
  k3: number;
  /** Ids as lanes (LinkedSpan): the span id from the start, the trace and parent ids once final. */
  readonly s0: number;
  readonly s1: number;
  t0 = 0;
  t1 = 0;
  t2 = 0;
  t3 = 0;
  p0 = 0;
  p1 = 0;
  /** The local parent, once known (it may not be final yet). */
  parent: Entry | null = null;
  #more: EntryMore | null = null;

  constructor(record: L7Record, conn: ConnInfo, keys: ConnKeys, reqTid: number, respTid: number, ordinal: number, inboundInFlight: number | undefined, peerLocal: boolean | undefined, derive: boolean) {
    this.record = record;
    this.conn = conn;
    this.keys = keys;
    this.reqTid = reqTid;
    this.respTid = respTid;
    this.ordinal = ordinal;
    this.inflight = inboundInFlight ?? -1;
    const client = conn.role === 'client';
    let flags = (1 << FLAGS_SHIFT) | (client ? F_CLIENT : 0);
    if (peerLocal !== undefined) flags |= peerLocal ? F_PEER_KNOWN | F_PEER_LOCAL : F_PEER_KNOWN;
    if (derive && ordinal >= 0) {
      const path = record.attributes['url.path'];
      const h = hashExchangeScratch(keys.tupleHash, ordinal, record.name, typeof path === 'string' ? path : '');
      this.k0 = h.a;
      this.k1 = h.b;
      this.k2 = h.c;
      this.k3 = h.d;
      flags |= F_KEY | F_OWN;
      this.s0 = spanLaneX(h.b, client);
      this.s1 = spanLaneY(h.b, h.c, client);
    } else {
      this.k0 = 0;
      this.k1 = 0;
      this.k2 = 0;
      this.k3 = 0;
      let x = 0;
      let y = 0;
      while ((x | y) === 0) {
        x = randomLane();
        y = randomLane();
      }
      this.s0 = x;
      this.s1 = y;
    }
    this.flags = flags;
  }

  get isClient(): boolean {
    return (this.flags & F_CLIENT) !== 0;
  }
  /** The exchange key shared with the far end exists (k0..k3). */
  get hasKey(): boolean {
    return (this.flags & F_KEY) !== 0;
  }
  get inboundInFlight(): number {
    return this.inflight;
  }
  get peerLocal(): boolean | undefined {
    const f = this.flags;
    return (f & F_PEER_KNOWN) === 0 ? undefined : (f & F_PEER_LOCAL) !== 0;
  }
  get hasParent(): boolean {
    return (this.flags & F_PARENT) !== 0;
  }
  set hasParent(v: boolean) {
    this.flags = v ? this.flags | F_PARENT : this.flags & ~F_PARENT;
  }
  get final(): boolean {
    return (this.flags & F_FINAL) !== 0;
  }
  set final(v: boolean) {
    this.flags = v ? this.flags | F_FINAL : this.flags & ~F_FINAL;
  }
  /** Waiting for a parent that has not arrived (in a waiting index). */
  get waiting(): boolean {
    return (this.flags & F_WAITING) !== 0;
  }
  set waiting(v: boolean) {
    this.flags = v ? this.flags | F_WAITING : this.flags & ~F_WAITING;
  }
  /** Retired: out of the parent indexes. */
  get gone(): boolean {
    return (this.flags & F_GONE) !== 0;
  }
  set gone(v: boolean) {
    this.flags = v ? this.flags | F_GONE : this.flags & ~F_GONE;
  }
  get reason(): LinkReason {
    return REASONS[(this.flags & REASON_MASK) >> REASON_SHIFT];
  }
  set reason(r: LinkReason) {
    this.flags = (this.flags & ~REASON_MASK) | (REASON_INDEX[r] << REASON_SHIFT);
  }
  get traceFlags(): number {
    return (this.flags & FLAGS_MASK) >>> FLAGS_SHIFT;
  }
  set traceFlags(v: number) {
    this.flags = (this.flags & ~FLAGS_MASK) | ((v & 255) << FLAGS_SHIFT);
  }
  get traceState(): string {
    return this.#more === null ? '' : this.#more.traceState;
  }
  set traceState(v: string) {
    if (v !== '' || this.#more !== null) (this.#more ??= new EntryMore()).traceState = v;
  }
  get link(): LinkedSpan['link'] {
    return this.#more === null ? undefined : this.#more.link;
  }
  set link(v: LinkedSpan['link']) {
    if (v !== undefined || this.#more !== null) (this.#more ??= new EntryMore()).link = v;
  }
  /** Thread-parent candidates seen while waiting (several in-flight requests: decided at the deadline). */
  get candidates(): Entry[] | null {
    return this.#more === null ? null : this.#more.candidates;
  }
  set candidates(v: Entry[] | null) {
    if (v !== null || this.#more !== null) (this.#more ??= new EntryMore()).candidates = v;
  }
  /** Entries whose parent is this one, waiting for it to be final. */
  get dependents(): Entry[] | null {
    return this.#more === null ? null : this.#more.dependents;
  }
  set dependents(v: Entry[] | null) {
    if (v !== null || this.#more !== null) (this.#more ??= new EntryMore()).dependents = v;
  }

  get spanId(): string {
    return hexOfLanes2(this.s0, this.s1);
  }

  /** '' until final. */
  get traceId(): string {
    return this.final ? hexOfLanes4(this.t0, this.t1, this.t2, this.t3) : '';
  }

  /** '' for a root span (and until final). */
  get parentSpanId(): string {
    return this.hasParent ? hexOfLanes2(this.p0, this.p1) : '';
  }

  get ev(): L7Event {
    return this;
  }

  get start(): number {
    return this.record.startNs;
  }

  get end(): number {
    return this.record.endNs;
  }

  /**
   * Writes this exchange's own trace id (when it starts one) into `to`'s t lanes: derived from the key,
   * else random (made once: stable).
   */
  ownTraceTo(to: TraceLanes): void {
    if ((this.flags & F_OWN) === 0) {
      let a = 0;
      let b = 0;
      let c = 0;
      let d = 0;
      while ((a | b | c | d) === 0) {
        a = randomLane();
        b = randomLane();
        c = randomLane();
        d = randomLane();
      }
      this.k0 = a;
      this.k1 = b;
      this.k2 = c;
      this.k3 = d;
      this.flags |= F_OWN;
    }
    to.t0 = this.k0;
    to.t1 = this.k1;
    to.t2 = this.k2;
    to.t3 = traceLaneD(this.k0, this.k1, this.k2, this.k3);
  }

  /** The derived span id lanes of the other end of this exchange (the far client for a server, and vice versa). */
  farX(): number {
    return spanLaneX(this.k1, !this.isClient);
  }
  farY(): number {
    return spanLaneY(this.k1, this.k2, !this.isClient);
  }
}

/** Something that holds a trace id as four lanes. */
interface TraceLanes {
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

/** Trace lanes of a traceparent (`vv-<32 hex>-…`) into `to`. */
function traceparentTo(tp: string, to: TraceLanes): void {
  to.t0 = laneOfHex(tp, 3);
  to.t1 = laneOfHex(tp, 11);
  to.t2 = laneOfHex(tp, 19);
  to.t3 = laneOfHex(tp, 27);
}

/** Trace lanes of `from` into `to`. */
function copyTrace(from: TraceLanes, to: TraceLanes): void {
  to.t0 = from.t0;
  to.t1 = from.t1;
  to.t2 = from.t2;
  to.t3 = from.t3;
}

/** A scratch trace id (a provisional trace handed to #finalizeWith). */
class TraceScratch implements TraceLanes {
  t0 = 0;
  t1 = 0;
  t2 = 0;
  t3 = 0;
}

/**
 * An index list: entries in arrival order, oldest dropped from the front. A ring that grows by doubling and
 * keeps its capacity (arrays trimmed at the head and compacted with slice() allocated per exchange).
 */
class List {
  #buf: Array<Entry | undefined> = new Array<Entry | undefined>(4).fill(undefined);
  #start = 0;
  size = 0;

  push(e: Entry): void {
    if (this.size === this.#buf.length) {
      const n = this.#buf.length;
      const b = new Array<Entry | undefined>(2 * n).fill(undefined);
      for (let k = 0; k < n; k++) b[k] = this.#buf[(this.#start + k) & (n - 1)];
      this.#buf = b;
      this.#start = 0;
    }
    this.#buf[(this.#start + this.size) & (this.#buf.length - 1)] = e;
    this.size++;
  }

  /** The i-th entry from the oldest (i < size). */
  at(i: number): Entry {
    return this.#buf[(this.#start + i) & (this.#buf.length - 1)] as Entry;
  }

  shift(): void {
    this.#buf[this.#start] = undefined;
    this.#start = (this.#start + 1) & (this.#buf.length - 1);
    this.size--;
  }
}

export interface LinkStats {
  traceparent: number;
  thread: number;
  peer: number;
  derived: number;
  root: number;
  /** Outbound calls with several candidate parents (linked per `threadAmbiguity`). */
  ambiguous: number;
  /** Exchanges emitted because their window ended while waiting for a parent. */
  timedOut: number;
  /** Exchanges emitted before their window ended because too many were waiting. */
  forced: number;
}

/**
 * A FIFO of entries with a time each, in a ring that grows by doubling and is never reallocated in steady
 * state (arrays compacted with slice() allocated their copies, and kept consumed entries alive until then).
 */
class EntryRing {
  #items: Array<Entry | undefined> = new Array<Entry | undefined>(64).fill(undefined);
  #times = new Float64Array(64);
  #head = 0;
  size = 0;

  push(e: Entry, t: number): void {
    if (this.size === this.#items.length) this.#grow();
    const i = (this.#head + this.size) & (this.#items.length - 1);
    this.#items[i] = e;
    this.#times[i] = t;
    this.size++;
  }

  /** The oldest entry (size > 0). */
  first(): Entry {
    return this.#items[this.#head] as Entry;
  }

  firstTime(): number {
    return this.#times[this.#head];
  }

  shift(): Entry {
    const h = this.#head;
    const e = this.#items[h] as Entry;
    this.#items[h] = undefined;
    this.#head = (h + 1) & (this.#items.length - 1);
    this.size--;
    return e;
  }

  #grow(): void {
    const n = this.#items.length;
    const items = new Array<Entry | undefined>(2 * n).fill(undefined);
    const times = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      const i = (this.#head + k) & (n - 1);
      items[k] = this.#items[i];
      times[k] = this.#times[i];
    }
    this.#items = items;
    this.#times = times;
    this.#head = 0;
  }
}

export class Linker {
  readonly #o: LinkOptions;
  /** Entries waiting for a parent, in arrival order (≈ due order); final ones are skipped when reached. */
  readonly #queue = new EntryRing();
  #waitingCount = 0;
  /** Final entries not yet handed out. */
  readonly #ready: Entry[] = [];
  /** Final entries still indexed as potential parents, in finalisation order, with when each became final. */
  readonly #retired = new EntryRing();
  /** #finalize's work list (reused). */
  readonly #stack: Entry[] = [];
  /** A provisional or own trace id on its way into an entry or a link. */
  readonly #scratch = new TraceScratch();
  #now = 0;
  #flushes = 0;
  readonly #clientsByTuple = new Map<string, List>();
  readonly #serversByPid = new Map<number, List>();
  readonly #waitingServersByTuple = new Map<string, List>();
  readonly #waitingClientsByPid = new Map<number, List>();
  readonly stats: LinkStats = { traceparent: 0, thread: 0, peer: 0, derived: 0, root: 0, ambiguous: 0, timedOut: 0, forced: 0 };

  constructor(opts: Partial<LinkOptions> = {}) {
    this.#o = { ...DEFAULT_LINK_OPTIONS, ...opts };
  }

  /** Exchanges held: waiting for a parent, or final and not yet flushed. */
  get pending(): number {
    return this.#waitingCount + this.#ready.length;
  }

  /**
   * An exchange as the connection tracker hands it over (ConnTracker's event factory): an L7Event that push()
   * takes as its own entry, without a copy.
   */
  event(record: L7Record, conn: ConnInfo, keys: ConnKeys, reqTid: number, respTid: number, ordinal: number, inboundInFlight: number | undefined, peerLocal: boolean | undefined): L7Event {
    return new Entry(record, conn, keys, reqTid, respTid, ordinal, inboundInFlight, peerLocal, this.#o.deriveIds);
  }

  push(ev: L7Event): void {
    const e = ev instanceof Entry ? ev : new Entry(ev.record, ev.conn, ev.keys, ev.reqTid, ev.respTid, ev.ordinal, ev.inboundInFlight, ev.peerLocal, this.#o.deriveIds);
    const endNs = e.record.endNs;
    if (endNs > this.#now) this.#now = endNs;
    if (e.isClient) {
      // a CLIENT exchange is only ever a parent of the SERVER end of its connection on this node
      if (e.peerLocal !== false) add(this.#clientsByTuple, e.keys.tuple, e);
      // placed first: when it is final at once, the servers it adopts are final at once too (no dependents list)
      this.#place(e);
      this.#adoptWaitingServers(e);
    } else {
      add(this.#serversByPid, e.conn.pid, e);
      this.#adoptWaitingClients(e);
      this.#place(e);
    }
  }

  /**
   * Hands out the exchanges that are final, and those whose window ended by `nowNs` (all of them with
   * `force`). Call every ~100 ms with the kernel's monotonic clock.
   */
  flush(nowNs: number, out: LinkedSpan[], force = false): void {
    if (nowNs > this.#now) this.#now = nowNs;
    const q = this.#queue;
    while (q.size > 0) {
      const e = q.first();
      if (e.final) {
        q.shift();
        continue;
      }
      const over = this.#waitingCount > this.#o.maxBuffered;
      const due = e.record.endNs + this.#o.windowNs;
      if (!force && !over && due > nowNs) break;
      q.shift();
      if (over && due > nowNs) this.stats.forced++;
      else this.stats.timedOut++;
      this.#decideAtDeadline(e);
    }
    const ready = this.#ready;
    for (let i = 0; i < ready.length; i++) out.push(ready[i]);
    while (ready.length > 0) ready.pop(); // keeps the backing store (a new array regrew it every flush)
    // final exchanges stay findable as parents for retainNs, then leave the indexes
    const rq = this.#retired;
    const retainNs = this.#o.retainNs;
    while (rq.size > 0 && (force || rq.firstTime() + retainNs <= nowNs)) {
      const e = rq.shift();
      e.gone = true;
      if (e.isClient) {
        if (e.peerLocal !== false) trim(this.#clientsByTuple, e.keys.tuple);
      }
      else trim(this.#serversByPid, e.conn.pid);
    }
    if ((++this.#flushes & 63) === 0 || force) this.#sweep();
  }

  /** Drops index lists that hold nothing live (closed connections, quiet processes). */
  #sweep(): void {
    for (const m of [this.#clientsByTuple, this.#serversByPid, this.#waitingServersByTuple, this.#waitingClientsByPid] as Map<unknown, List>[]) {
      for (const [k, l] of m) {
        let live = false;
        for (let i = 0; i < l.size && !live; i++) live = !l.at(i).gone && (m === this.#clientsByTuple || m === this.#serversByPid || l.at(i).waiting);
        if (!live) m.delete(k);
      }
    }
  }

  /** Index sizes (for tests and self-telemetry): keys held in the four indexes. */
  indexSizes(): number {
    return this.#clientsByTuple.size + this.#serversByPid.size + this.#waitingServersByTuple.size + this.#waitingClientsByPid.size;
  }

  /** A new entry: final now, attached to a parent, or waiting for one. */
  #place(e: Entry): void {
    if (e.parent !== null) return; // cannot happen for a new entry; kept for clarity
    if (e.record.traceparent !== undefined) return this.#finalize(e);
    if (e.isClient) {
      const inflight = e.inflight;
      if (inflight === 0) return this.#finalize(e);
      // a parent that is already here (its events arrived first)
      const candidates = this.#threadCandidates(e, this.#serversByPid.get(e.conn.pid));
      for (let i = 0; i < candidates.length; i++) this.#offer(e, candidates[i]);
      if (e.parent !== null && inflight === 1) return this.#attach(e, e.parent);
      this.#wait(e, this.#waitingClientsByPid, e.conn.pid);
      return;
    }
    const peer = this.#peerClient(e, this.#clientsByTuple.get(e.keys.tuple));
    if (peer !== null) return this.#attach(e, peer);
    if (e.peerLocal === false) return this.#finalize(e);
    this.#wait(e, this.#waitingServersByTuple, e.keys.tuple);
  }

  #wait<K>(e: Entry, index: Map<K, List>, k: K): void {
    e.waiting = true;
    this.#waitingCount++;
    add(index, k, e);
    this.#queue.push(e, 0);
  }

  /** A thread-parent candidate for a waiting (or new) client. */
  #offer(c: Entry, p: Entry): void {
    if (c.candidates === null) c.candidates = [];
    if (c.candidates.length < MAX_CANDIDATES && !c.candidates.includes(p)) c.candidates.push(p);
    if (c.parent === null || p.start > c.parent.start) c.parent = p;
  }

  /** A new server: the parent of waiting clients of its process that it contains. */
  #adoptWaitingClients(s: Entry): void {
    const l = this.#waitingClientsByPid.get(s.conn.pid);
    if (l === undefined) return;
    // the list is in arrival order, close to end order: a call that ended before s began, and the ones before
    // it, are not s's children. The calls s may contain are those of all the process's threads during s
    // (concurrency × calls per request), often more than MAX_SCAN: the bound is in time, and a larger cap
    const from = s.start - this.#o.slackNs;
    for (let i = l.size - 1, k = 0; i >= 0 && k < MAX_ADOPT_SCAN; i--, k++) {
      const c = l.at(i);
      if (c.end < from) break;
      if (c.final || !c.waiting || !this.#threadMatch(c, s)) continue;
      this.#offer(c, s);
      if (c.inflight === 1) this.#attach(c, s);
    }
    trimFinal(this.#waitingClientsByPid, s.conn.pid);
  }

  /** A new client: the parent of waiting servers on its connection that it contains. */
  #adoptWaitingServers(c: Entry): void {
    const l = this.#waitingServersByTuple.get(c.keys.tuple);
    if (l === undefined) return;
    for (let i = l.size - 1, k = 0; i >= 0 && k < MAX_SCAN; i--, k++) {
      const s = l.at(i);
      if (s.final || !s.waiting || !this.#peerMatch(s, c)) continue;
      this.#attach(s, c);
    }
    trimFinal(this.#waitingServersByTuple, c.keys.tuple);
  }

  /** e's parent is p: e becomes final when p is. */
  #attach(e: Entry, p: Entry): void {
    if (e.waiting) {
      e.waiting = false;
      this.#waitingCount--;
    }
    e.parent = p;
    if (p.final) this.#finalize(e);
    else (p.dependents ??= []).push(e);
  }

  /** The window ended: decide with what is known. */
  #decideAtDeadline(e: Entry, depth = 0): void {
    if (e.waiting) {
      e.waiting = false;
      this.#waitingCount--;
    }
    if (e.isClient && e.candidates !== null && e.candidates.length > 1) {
      this.stats.ambiguous++;
      if (this.#o.threadAmbiguity === 'skip') e.parent = null;
    }
    // e's parent (or an ancestor it is attached through) is still waiting for its own window: a call counting
    // its thread candidates, which ends after its children and so reaches its deadline after them. Decide it
    // now, with what is known: e then takes the trace that ancestor keeps (its provisional one could change,
    // e.g. a call with two candidates becomes a root under `skip`, leaving its child in another trace).
    const p = e.parent;
    if (p !== null && !p.final && depth < 32) {
      let q = p;
      for (let k = 0; !q.waiting && q.parent !== null && !q.parent.final && k < 32; k++) q = q.parent;
      if (q.waiting) this.#decideAtDeadline(q, depth + 1);
      if (e.final) return; // it was q's dependent (through its parent)
    }
    // a parent that is itself still undecided lends its provisional trace
    if (e.parent !== null && !e.parent.final) {
      this.#provisionalTrace(e.parent, 0, this.#scratch);
      this.#finalize(e, true);
    } else {
      this.#finalize(e, false);
    }
  }

  /** The trace p has for now into `to`. */
  #provisionalTrace(p: Entry, depth: number, to: TraceLanes): void {
    if (p.final) {
      copyTrace(p, to);
      return;
    }
    const tp = p.record.traceparent;
    if (tp !== undefined) traceparentTo(tp, to);
    else if (p.parent !== null && depth < 32) this.#provisionalTrace(p.parent, depth + 1, to);
    else p.ownTraceTo(to);
  }

  /**
   * Makes e final, then its dependents, iteratively. e's parent, if any, is final — or `firstTrace` is its
   * provisional trace in this.#scratch when `provisional` (the window ended before the parent's own parent arrived).
   */
  #finalize(first: Entry, provisional = false): void {
    if (first.final) return;
    const p0 = first.parent;
    this.#finalizeWith(first, provisional ? this.#scratch : p0, p0);
    if (first.dependents === null) return;
    const stack = this.#stack;
    const base = stack.length; // #finalize does not recurse, but keep any outer frame's items
    pushAll(stack, first.dependents);
    first.dependents = null;
    while (stack.length > base) {
      const e = stack.pop() as Entry;
      if (e.final) continue;
      const p = e.parent;
      this.#finalizeWith(e, p, p);
      if (e.dependents !== null) {
        pushAll(stack, e.dependents);
        e.dependents = null;
      }
    }
  }

  /** `parentTrace`: where the trace of e's parent p is (p itself once final). */
  #finalizeWith(e: Entry, parentTrace: TraceLanes | null, p: Entry | null): void {
    const rec = e.record;
    const tp = rec.traceparent;
    if (tp !== undefined) {
      traceparentTo(tp, e);
      e.hasParent = true;
      e.p0 = laneOfHex(tp, 36);
      e.p1 = laneOfHex(tp, 44);
      e.traceState = rec.tracestate ?? '';
      e.traceFlags = parseInt(tp.slice(53, 55), 16) || 0;
      e.reason = 'traceparent';
    } else if (p !== null) {
      copyTrace(parentTrace as TraceLanes, e);
      e.hasParent = true;
      e.p0 = p.s0;
      e.p1 = p.s1;
      e.traceState = p.traceState;
      e.traceFlags = p.traceFlags;
      e.reason = e.isClient ? 'thread' : 'peer';
    } else {
      e.ownTraceTo(e);
      if (!e.isClient && e.hasKey && e.keys.peerPrivate) {
        e.hasParent = true;
        e.p0 = e.farX();
        e.p1 = e.farY();
        e.reason = 'derived';
      } else {
        e.reason = 'root';
      }
    }
    if (e.isClient && e.hasKey && e.peerLocal !== true && (e.reason === 'thread' || e.reason === 'traceparent')) {
      const own = this.#scratch;
      e.ownTraceTo(own);
      e.link = { traceId: hexOfLanes4(own.t0, own.t1, own.t2, own.t3), spanId: hexOfLanes2(e.farX(), e.farY()) };
    }
    if (e.waiting) {
      e.waiting = false;
      this.#waitingCount--;
    }
    e.final = true;
    e.candidates = null;
    this.stats[e.reason]++;
    this.#ready.push(e);
    this.#retired.push(e, this.#now);
  }

  /** p (server, same process) contains the call c, and the thread matches when it has to. */
  #threadMatch(c: Entry, p: Entry): boolean {
    const pc = p.conn;
    if (pc.pid !== c.conn.pid) return false;
    const slack = this.#o.slackNs;
    if (!(p.start <= c.start + slack && c.end <= p.end + slack)) return false;
    // a request that arrived before the call but that its process had not read yet (held until its owner was
    // seen) did not make the call, and was not counted in the call's inboundInFlight: without this, a call
    // written with one request counted could be given the other one
    const owned = pc.ownedSinceNs;
    if (owned !== undefined && owned > c.start + slack) return false;
    if (c.inflight === 1) return true;
    const tid = c.reqTid;
    return tid !== 0 && (p.respTid === tid || p.reqTid === tid);
  }

  #threadCandidates(c: Entry, l: List | undefined): Entry[] {
    if (l === undefined) return NONE;
    let out = NONE;
    for (let i = l.size - 1, k = 0; i >= 0 && k < MAX_SCAN; i--, k++) {
      const s = l.at(i);
      // lists are in arrival order, close to end order: past requests that ended before the call started, stop
      if (s.end + this.#o.slackNs < c.start) break;
      if (!s.gone && this.#threadMatch(c, s)) {
        if (out === NONE) out = [];
        out.push(s);
      }
    }
    return out;
  }

  /** c (client, reverse connection on this node) contains the request s. */
  #peerMatch(s: Entry, c: Entry): boolean {
    if (c.ordinal >= 0 && s.ordinal >= 0 && c.ordinal !== s.ordinal) return false;
    const slack = this.#o.slackNs;
    return c.start <= s.start + slack && s.end <= c.end + slack;
  }

  #peerClient(s: Entry, l: List | undefined): Entry | null {
    if (l === undefined) return null;
    let best: Entry | null = null;
    for (let i = l.size - 1, k = 0; i >= 0 && k < MAX_SCAN; i--, k++) {
      const c = l.at(i);
      if (c.end + this.#o.slackNs < s.start) break; // older exchanges on this connection ended before s began
      if (!c.gone && this.#peerMatch(s, c) && (best === null || c.start > best.start)) best = c;
    }
    return best;
  }
}

function pushAll(to: Entry[], from: Entry[]): void {
  for (let i = 0; i < from.length; i++) to.push(from[i]);
}

function add<K>(m: Map<K, List>, k: K, e: Entry): void {
  let l = m.get(k);
  if (l === undefined) {
    l = new List();
    m.set(k, l);
  }
  l.push(e);
}

/** Drops retired entries from the head of an index list (an empty one is kept for the key's next entry: Linker.#sweep drops idle ones). */
function trim<K>(m: Map<K, List>, k: K): void {
  const l = m.get(k);
  if (l === undefined) return;
  while (l.size > 0 && l.at(0).gone) l.shift();
}

/** Drops entries that stopped waiting from the head of a waiting list. */
function trimFinal<K>(m: Map<K, List>, k: K): void {
  const l = m.get(k);
  if (l === undefined) return;
  while (l.size > 0 && !l.at(0).waiting) l.shift();
}

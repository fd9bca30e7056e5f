import type { L7Event } from './conn.js';
import { deriveSpanId, deriveTraceId, randomSpanId, randomTraceId, splitTraceparent } from './ids.js';

/**
 * Trace linking without injecting anything into the traffic (README.md, "Linking" for the rules and
 * where they go wrong). Exchanges are held for `windowNs` after they end, because the spans they hang
 * under end later than they do (a SERVER span ends after the outbound calls it made; a CLIENT span ends
 * after the far end's SERVER span), then emitted with their ids:
 *
 * 1. traceparent: a request carrying W3C trace context continues that trace; parent = the caller's span.
 * 2. thread (CLIENT): an outbound call whose request was written by thread T of process P, inside the
 *    interval of an inbound request of P handled by T (T read the request or wrote the response), is a
 *    child of that SERVER span.
 * 3. peer (SERVER): an inbound request whose connection is the reverse of a CLIENT connection traced on
 *    this node, inside that CLIENT exchange's interval, is a child of that CLIENT span (same trace).
 * 4. derived (SERVER, no local peer): ids derived from the connection's 4-tuple and the exchange's
 *    ordinal, which the agent at the other end computes identically: trace = H128(key), parent =
 *    H64(key|client). Only when the connection was seen from its start (exact ordinals).
 * 5. root: a new trace (derived from the exchange key when there is one, so that the far end's SERVER
 *    span, computed by rule 4, lands in it; random otherwise).
 *
 * A CLIENT span that joined a local trace (rules 1–2) while its far end is on another node cannot make
 * that node's agent use the same trace id; it carries a span link to the far SERVER span's derived ids.
 */
export interface LinkOptions {
  /** How long an exchange waits after its end for the exchanges it may hang under (ns). */
  readonly windowNs: number;
  /** Cap on exchanges held; beyond it the oldest are emitted early (unlinked if their parent is missing). */
  readonly maxBuffered: number;
  /** Several inbound requests of the same thread contain an outbound call: `skip` links none, `latest` the latest started. */
  readonly threadAmbiguity: 'skip' | 'latest';
  /** Derive ids from connection tuples + ordinals so agents on both ends of a connection agree (rule 4/5). */
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
  readonly traceState: string;
  readonly traceFlags: number;
  readonly reason: LinkReason;
  /** CLIENT spans in a local trace whose far end is on another node: the far SERVER span's derived ids. */
  readonly link?: { readonly traceId: string; readonly spanId: string };
}

interface Resolution {
  readonly traceId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly traceFlags: number;
  readonly reason: LinkReason;
}

class Entry {
  readonly ev: L7Event;
  readonly isClient: boolean;
  readonly start: number;
  readonly end: number;
  readonly due: number;
  /** Exchange key shared with the far end, or null when ordinals are not exact. */
  readonly key: string | null;
  readonly spanId: string;
  #trace: string | null = null;
  resolved: Resolution | null = null;
  resolving = false;
  gone = false;

  constructor(ev: L7Event, windowNs: number, derive: boolean) {
    this.ev = ev;
    this.isClient = ev.conn.role === 'client';
    this.start = ev.record.startNs;
    this.end = ev.record.endNs;
    this.due = ev.record.endNs + windowNs;
    const path = ev.record.attributes['url.path'];
    this.key = derive && ev.ordinal >= 0 ? `sonde1|${ev.keys.tuple}|${ev.ordinal}|${ev.record.name}|${typeof path === 'string' ? path : ''}` : null;
    this.spanId = this.key !== null ? deriveSpanId(this.key + (this.isClient ? '|client' : '|server')) : randomSpanId();
  }

  /** This exchange's own trace id when it starts one: derived from the key, else random (stable). */
  ownTrace(): string {
    if (this.#trace === null) this.#trace = this.key !== null ? deriveTraceId(this.key) : randomTraceId();
    return this.#trace;
  }
}

class List {
  items: Entry[] = [];
  head = 0;
}

const MAX_DEPTH = 32;
const MAX_SCAN = 64;
const MAX_SERVER_TUPLES = 65536;

export interface LinkStats {
  traceparent: number;
  thread: number;
  peer: number;
  derived: number;
  root: number;
  /** Thread-causality lookups that found several candidate parents (and linked per `threadAmbiguity`). */
  ambiguous: number;
  /** Exchanges emitted before their window ended because the buffer was full. */
  forced: number;
}

export class Linker {
  readonly #o: LinkOptions;
  #queue: Entry[] = [];
  #head = 0;
  #retired: Entry[] = [];
  #retiredHead = 0;
  readonly #serversByTid = new Map<number, List>();
  readonly #clientsByTuple = new Map<string, List>();
  readonly #serverTuples = new Map<string, number>();
  readonly stats: LinkStats = { traceparent: 0, thread: 0, peer: 0, derived: 0, root: 0, ambiguous: 0, forced: 0 };

  constructor(opts: Partial<LinkOptions> = {}) {
    this.#o = { ...DEFAULT_LINK_OPTIONS, ...opts };
  }

  /** Exchanges waiting for their window to end. */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  push(ev: L7Event): void {
    const e = new Entry(ev, this.#o.windowNs, this.#o.deriveIds);
    this.#queue.push(e);
    if (e.isClient) {
      this.#add(this.#clientsByTuple, ev.keys.tuple, e);
    } else {
      if (ev.respTid !== 0) this.#add(this.#serversByTid, ev.respTid, e);
      if (ev.reqTid !== 0 && ev.reqTid !== ev.respTid) this.#add(this.#serversByTid, ev.reqTid, e);
      if (this.#serverTuples.size >= MAX_SERVER_TUPLES) this.#serverTuples.clear();
      this.#serverTuples.set(ev.keys.tuple, ev.record.endNs);
    }
  }

  /** Emits the exchanges whose window ended by `nowNs` (all of them with `force`), oldest first. */
  flush(nowNs: number, out: LinkedSpan[], force = false): void {
    // emitted exchanges stay findable (as parents) for one more window, then leave the indexes
    const rq = this.#retired;
    while (this.#retiredHead < rq.length && rq[this.#retiredHead].due + this.#o.windowNs <= nowNs) {
      const e = rq[this.#retiredHead++];
      e.gone = true;
      if (e.isClient) this.#trim(this.#clientsByTuple, e.ev.keys.tuple);
      else {
        this.#trim(this.#serversByTid, e.ev.respTid);
        this.#trim(this.#serversByTid, e.ev.reqTid);
      }
    }
    if (this.#retiredHead > 1024 && this.#retiredHead * 2 > rq.length) {
      this.#retired = rq.slice(this.#retiredHead);
      this.#retiredHead = 0;
    }
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head];
      const over = q.length - this.#head > this.#o.maxBuffered;
      if (!force && !over && e.due > nowNs) break;
      if (over && e.due > nowNs) this.stats.forced++;
      this.#head++;
      const r = this.#resolve(e, 0);
      e.resolved = r;
      this.stats[r.reason]++;
      let link: LinkedSpan['link'];
      if (e.isClient && e.key !== null && (r.reason === 'thread' || r.reason === 'traceparent') && !this.#serverTuples.has(e.ev.keys.tuple)) {
        link = { traceId: e.ownTrace(), spanId: deriveSpanId(e.key + '|server') };
      }
      out.push({ ev: e.ev, traceId: r.traceId, spanId: e.spanId, parentSpanId: r.parentSpanId, traceState: r.traceState, traceFlags: r.traceFlags, reason: r.reason, link });
      this.#retired.push(e);
    }
    if (this.#head > 1024 && this.#head * 2 > q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }

  #add<K>(m: Map<K, List>, k: K, e: Entry): void {
    let l = m.get(k);
    if (l === undefined) {
      l = new List();
      m.set(k, l);
    }
    l.items.push(e);
  }

  #trim<K>(m: Map<K, List>, k: K): void {
    const l = m.get(k);
    if (l === undefined) return;
    while (l.head < l.items.length && l.items[l.head].gone) l.head++;
    if (l.head === l.items.length) m.delete(k);
    else if (l.head > 64 && l.head * 2 > l.items.length) {
      l.items = l.items.slice(l.head);
      l.head = 0;
    }
  }

  #resolve(e: Entry, depth: number): Resolution {
    if (e.resolved !== null) return e.resolved;
    const rec = e.ev.record;
    if (rec.traceparent !== undefined) {
      const tp = splitTraceparent(rec.traceparent);
      return { traceId: tp.traceId, parentSpanId: tp.spanId, traceState: rec.tracestate ?? '', traceFlags: tp.flags, reason: 'traceparent' };
    }
    if (depth < MAX_DEPTH && !e.resolving) {
      const p = e.isClient ? this.#threadParent(e) : this.#peerClient(e);
      if (p !== null) {
        e.resolving = true;
        const pr = this.#resolve(p, depth + 1);
        e.resolving = false;
        return { traceId: pr.traceId, parentSpanId: p.spanId, traceState: pr.traceState, traceFlags: pr.traceFlags, reason: e.isClient ? 'thread' : 'peer' };
      }
    }
    if (!e.isClient && e.key !== null) {
      return { traceId: e.ownTrace(), parentSpanId: deriveSpanId(e.key + '|client'), traceState: '', traceFlags: 1, reason: 'derived' };
    }
    return { traceId: e.ownTrace(), parentSpanId: '', traceState: '', traceFlags: 1, reason: 'root' };
  }

  /** Rule 2: the inbound request of the same process and thread whose interval contains this call. */
  #threadParent(c: Entry): Entry | null {
    const tid = c.ev.reqTid;
    if (tid === 0) return null;
    const l = this.#serversByTid.get(tid);
    if (l === undefined) return null;
    const slack = this.#o.slackNs;
    let best: Entry | null = null;
    let n = 0;
    for (let i = l.items.length - 1, k = 0; i >= l.head && k < MAX_SCAN; i--, k++) {
      const s = l.items[i];
      if (s.gone || s.ev.conn.pid !== c.ev.conn.pid || s.resolving) continue;
      if (s.start <= c.start + slack && c.end <= s.end + slack) {
        n++;
        if (best === null || s.start > best.start) best = s;
      }
    }
    if (n > 1) {
      this.stats.ambiguous++;
      if (this.#o.threadAmbiguity === 'skip') return null;
    }
    return best;
  }

  /** Rule 3: the CLIENT exchange on the reverse connection (this node) that contains this request. */
  #peerClient(s: Entry): Entry | null {
    const l = this.#clientsByTuple.get(s.ev.keys.tuple);
    if (l === undefined) return null;
    const slack = this.#o.slackNs;
    let best: Entry | null = null;
    for (let i = l.items.length - 1, k = 0; i >= l.head && k < MAX_SCAN; i--, k++) {
      const c = l.items[i];
      if (c.gone || c.resolving) continue;
      if (c.ev.ordinal >= 0 && s.ev.ordinal >= 0 && c.ev.ordinal !== s.ev.ordinal) continue;
      if (c.start <= s.start + slack && s.end <= c.end + slack && (best === null || c.start > best.start)) best = c;
    }
    return best;
  }
}

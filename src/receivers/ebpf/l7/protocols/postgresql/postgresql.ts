/**
 * PostgreSQL frontend/backend protocol 3.0 over captured chunks.
 *
 * Records: one per simple Query ('Q', however many statements it holds; it ends at ReadyForQuery) and
 * one per Execute of the extended protocol (it ends at the Execute's CommandComplete, EmptyQueryResponse,
 * PortalSuspended or ErrorResponse). The Parse/Bind/Describe messages sent before an Execute belong to
 * that Execute's record (their bytes, their errors). A Sync-delimited pipeline therefore gives one record
 * per Execute; when an Execute fails the server skips the rest of the pipeline up to Sync, and those
 * skipped Executes produce no record (they never ran). A Parse (or Describe) sent without an Execute
 * before Sync — preparing only — produces a record only when it fails.
 *
 * Startup (with db.namespace from the `database` parameter, else `user`), SSLRequest/GSSENCRequest
 * (answered 'N'; 'S'/'G' means TLS follows and the session goes quiet), authentication (trust, md5,
 * SCRAM: 'R' and 'p' messages), ParameterStatus, BackendKeyData, notices and notifications are consumed
 * without records. COPY data in either direction is opaque and counted into its query's sizes.
 */
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../types.js';
import { Direction } from '../../types.js';
import { FramedReader } from '../common/framed.js';
import type { FrameProtocol } from '../common/framed.js';
import { Fifo, ascii, dbRecord, indexOf, utf8 } from '../common/util.js';
import { POSTGRES_DIALECT, analyzeSql, sqlSpanName } from '../sql/sanitize.js';

const PROTOCOL = 'postgresql';
const MAX_MESSAGE = 1 << 30;
const MAX_PENDING = 1024;
const MAX_STATEMENTS = 512;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Frontend message types (after startup). */
const FRONTEND = new Uint8Array(256);
for (const c of 'QPBEDCSHXFdcfp') FRONTEND[c.charCodeAt(0)] = 1;
/** Backend message types. */
const BACKEND = new Uint8Array(256);
for (const c of 'RSKZTDCIENnst123GHWdcAVv') BACKEND[c.charCodeAt(0)] = 1;

const ch = (s: string): number => s.charCodeAt(0);
const Q = ch('Q'), P = ch('P'), B = ch('B'), E = ch('E'), D = ch('D'), C = ch('C'), S = ch('S'), H = ch('H'), X = ch('X'), F = ch('F');
const Z = ch('Z'), T = ch('T'), I = ch('I'), N = ch('N'), R = ch('R'), n = ch('n'), s = ch('s');
const ONE = ch('1'), TWO = ch('2'), THREE = ch('3'), V = ch('V');

const readI32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);

/** One future record: a simple query, or an extended-protocol group ending in an Execute. */
interface Query {
  readonly startNs: number;
  text: string | undefined;
  reqSize: number;
  respSize: number;
  rows: number;
  tag: string | undefined;
  errorCode: string | undefined;
  hasExecute: boolean;
  /** Part of its response went by while the stream was lost: row count unknown. */
  lost: boolean;
  /** A function call or other exchange that never makes a record. */
  readonly silent: boolean;
  emitted: boolean;
}

const enum OpKind { Simple, Parse, Bind, DescribeStatement, DescribePortal, Execute, Close, Sync }

interface Op { readonly kind: OpKind; readonly q: Query | undefined }

class PgSession implements ParserSession {
  readonly #opts: ParserOptions;
  readonly #req: FramedReader;
  readonly #resp: FramedReader;
  #out: L7Record[] = [];
  #ts = 0;
  #quiet = false; // TLS or GSS encryption negotiated: nothing readable follows
  #expectStartup = true;
  #expectSslReply = false;
  #namespace: string | undefined;
  readonly #ops = new Fifo<Op>();
  #group: Query | undefined; // extended-protocol messages since the last Execute/Sync
  readonly #statements = new Map<string, string>();
  readonly #portals = new Map<string, string>();
  #lastRespTs = 0;

  constructor(opts: ParserOptions) {
    this.#opts = opts;
    const keepCap = Math.max(64, opts.maxBufferedBytes);
    this.#req = new FramedReader(this.#requestProtocol(keepCap), keepCap);
    this.#resp = new FramedReader(this.#responseProtocol(), 1024);
  }

  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
    if (this.#quiet || length <= 0) return;
    this.#out = out;
    this.#ts = tsNs;
    if (dir === Direction.Request) {
      if (this.#resp.isLost && this.#ops.length > 0) this.#completeLost();
      if (this.#expectStartup && captured.length > 0 && captured[0] !== 0 && this.#req.atBoundary) this.#expectStartup = false;
      this.#req.feed(captured, length, tsNs);
    } else {
      this.#lastRespTs = tsNs;
      if (this.#resp.isLost) {
        const q = this.#ops.peek()?.q;
        if (q !== undefined) { q.respSize += length; q.lost = true; }
      }
      let b = captured;
      let len = length;
      if (this.#expectSslReply && b.length > 0 && this.#resp.atBoundary) {
        this.#expectSslReply = false;
        if (b[0] === N) { b = b.subarray(1); len -= 1; if (len <= 0) return; }
        else if (b[0] === S || b[0] === ch('G')) { this.#quiet = true; return; }
      }
      this.#resp.feed(b, len, tsNs);
    }
  }

  expire(nowNs: number, out: L7Record[]): void {
    const head = this.#ops.peek();
    if (head?.q === undefined || nowNs - head.q.startNs < this.#opts.requestTimeoutNs) return;
    this.#out = out;
    this.#abandon(nowNs);
    this.#resp.markLost(nowNs);
  }

  close(tsNs: number, out: L7Record[]): void {
    this.#out = out;
    this.#abandon(tsNs);
  }

  /** Every pending query becomes an incomplete record. */
  #abandon(tsNs: number): void {
    let op: Op | undefined;
    while ((op = this.#ops.shift()) !== undefined) {
      const q = op.q;
      if (q === undefined || q.emitted || q.silent) continue;
      if (op.kind === OpKind.Simple || op.kind === OpKind.Execute) this.#emit(q, tsNs, true);
    }
    this.#group = undefined;
  }

  /**
   * The response stream lost its boundaries (a capture gap inside a big result) and the client now sends
   * a new request: the earlier responses are over. Complete what was pending as of the last response seen.
   */
  #completeLost(): void {
    let op: Op | undefined;
    const end = this.#lastRespTs;
    while ((op = this.#ops.shift()) !== undefined) {
      const q = op.q;
      if (q === undefined || q.emitted || q.silent) continue;
      if (op.kind === OpKind.Simple || op.kind === OpKind.Execute) this.#emit(q, end, false);
      else if (q.errorCode !== undefined && !q.hasExecute) this.#emit(q, end, false);
    }
    this.#resp.reset();
  }

  #newQuery(text: string | undefined, reqSize: number, silent = false): Query {
    return { startNs: this.#ts, text, reqSize, respSize: 0, rows: 0, tag: undefined, errorCode: undefined, hasExecute: false, lost: false, silent, emitted: false };
  }

  #push(kind: OpKind, q: Query | undefined): void {
    if (this.#ops.length >= MAX_PENDING) {
      const old = this.#ops.shift();
      if (old?.q !== undefined && !old.q.emitted && !old.q.silent && (old.kind === OpKind.Simple || old.kind === OpKind.Execute)) this.#emit(old.q, this.#ts, true);
    }
    this.#ops.push({ kind, q });
  }

  #emit(q: Query, endNs: number, incomplete: boolean): void {
    q.emitted = true;
    const attrs: Record<string, string | number | boolean> = { 'db.system.name': PROTOCOL };
    if (this.#namespace !== undefined) attrs['db.namespace'] = this.#namespace;
    let name: string = PROTOCOL;
    let traceparent: string | undefined;
    let tracestate: string | undefined;
    if (q.text !== undefined) {
      const info = analyzeSql(q.text, POSTGRES_DIALECT, this.#opts.keepSqlLiterals);
      attrs['db.query.text'] = info.text;
      if (info.operation !== undefined) attrs['db.operation.name'] = info.operation;
      if (info.collection !== undefined) attrs['db.collection.name'] = info.collection;
      if (info.statements > 1) attrs['db.operation.batch.size'] = info.statements;
      name = sqlSpanName(info, PROTOCOL);
      traceparent = info.traceparent;
      tracestate = info.tracestate;
    } else if (q.tag !== undefined) {
      // statement text unknown (prepared before we saw the connection): the command tag names the operation
      const sp = q.tag.indexOf(' ');
      const op = sp < 0 ? q.tag : q.tag.slice(0, sp);
      if (op.length > 0) { attrs['db.operation.name'] = op; name = op; }
    }
    if (q.errorCode !== undefined) attrs['db.response.status_code'] = q.errorCode;
    if (!incomplete && !q.lost) attrs['db.response.returned_rows'] = q.rows;
    this.#out.push(dbRecord({
      protocol: PROTOCOL, startNs: q.startNs, endNs, name, attributes: attrs, errorType: q.errorCode,
      requestSize: q.reqSize, responseSize: incomplete && q.respSize === 0 ? -1 : q.respSize, traceparent, tracestate, incomplete,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // client → server

  #requestProtocol(keepCap: number): FrameProtocol {
    return {
      headerSize: () => (this.#expectStartup ? 4 : 5),
      bodyLength: (h, o) => {
        if (this.#expectStartup) {
          const len = readI32(h, o);
          return len >= 8 && len <= 10_000 ? len - 4 : -1;
        }
        const type = h[o];
        const len = readI32(h, o + 1);
        if (FRONTEND[type] !== 1 || len < 4 || len > MAX_MESSAGE) return -1;
        if ((type === S || type === H || type === X || type === ch('c')) && len !== 4) return -1;
        return len - 4;
      },
      keep: (h, o, bodyLen) => {
        if (this.#expectStartup) return bodyLen;
        const type = h[o];
        if (type === Q || type === P) return keepCap;
        if (type === B || type === E || type === D || type === C) return 160;
        return 0;
      },
      message: (h, ho, b, bo, blen, bodyLen, tsNs) => {
        if (this.#expectStartup) { this.#startup(b, bo, blen); return; }
        this.#ts = tsNs;
        this.#request(h[ho], b, bo, blen, bodyLen + 5);
      },
      lost: () => { this.#group = undefined; },
      // A client writes whole messages: after a gap the next chunk starts with one, if its header is sane.
      resync: (b, off, end) => {
        if (end - off < 5 || FRONTEND[b[off]] !== 1) return -1;
        const len = readI32(b, off + 1);
        return len >= 4 && len <= MAX_MESSAGE ? off : -1;
      },
    };
  }

  #startup(b: Uint8Array, o: number, len: number): void {
    if (len < 4) return;
    const code = readI32(b, o);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) { this.#expectSslReply = true; return; }
    if (code === CANCEL_REQUEST) { this.#quiet = true; return; }
    this.#expectStartup = false;
    if (code >> 16 !== 3) return;
    // key\0value\0 … \0
    let user: string | undefined;
    let database: string | undefined;
    let i = o + 4;
    const end = o + len;
    while (i < end && b[i] !== 0) {
      const k = indexOf(b, 0, i, end);
      if (k < 0) break;
      const v = indexOf(b, 0, k + 1, end);
      if (v < 0) break;
      const key = ascii(b, i, k);
      if (key === 'user') user = utf8(b, k + 1, v);
      else if (key === 'database') database = utf8(b, k + 1, v);
      i = v + 1;
    }
    const ns = database !== undefined && database.length > 0 ? database : user;
    if (ns !== undefined && ns.length > 0) this.#namespace = ns;
  }

  /** A NUL-terminated string at b[i…end): [value, index after the NUL] (value cut at end if no NUL). */
  #cstr(b: Uint8Array, i: number, end: number): [string, number] {
    const z = indexOf(b, 0, i, end);
    return z < 0 ? [utf8(b, i, end), end] : [utf8(b, i, z), z + 1];
  }

  #rememberStatement(name: string, text: string): void {
    if (!this.#statements.has(name) && this.#statements.size >= MAX_STATEMENTS) {
      const first = this.#statements.keys().next();
      if (first.done !== true) this.#statements.delete(first.value);
    }
    this.#statements.set(name, text);
  }

  #currentGroup(size: number): Query {
    if (this.#group === undefined) this.#group = this.#newQuery(undefined, 0);
    this.#group.reqSize += size;
    return this.#group;
  }

  #request(type: number, b: Uint8Array, o: number, blen: number, size: number): void {
    const end = o + blen;
    switch (type) {
      case Q: {
        const [text] = this.#cstr(b, o, end);
        this.#push(OpKind.Simple, this.#newQuery(text, size));
        return;
      }
      case P: {
        const [name, i] = this.#cstr(b, o, end);
        const [text] = this.#cstr(b, i, end);
        this.#rememberStatement(name, text);
        const g = this.#currentGroup(size);
        g.text = text;
        this.#push(OpKind.Parse, g);
        return;
      }
      case B: {
        const [portal, i] = this.#cstr(b, o, end);
        const [stmt] = this.#cstr(b, i, end);
        const g = this.#currentGroup(size);
        const text = this.#statements.get(stmt);
        if (g.text === undefined) g.text = text;
        if (text !== undefined) {
          if (this.#portals.size >= MAX_STATEMENTS && !this.#portals.has(portal)) this.#portals.clear();
          this.#portals.set(portal, text);
        } else this.#portals.delete(portal);
        this.#push(OpKind.Bind, g);
        return;
      }
      case D: {
        const g = this.#currentGroup(size);
        this.#push(blen > 0 && b[o] === S ? OpKind.DescribeStatement : OpKind.DescribePortal, g);
        return;
      }
      case E: {
        const [portal] = this.#cstr(b, o, end);
        const g = this.#currentGroup(size);
        if (g.text === undefined) g.text = this.#portals.get(portal);
        g.hasExecute = true;
        this.#group = undefined;
        this.#push(OpKind.Execute, g);
        return;
      }
      case C: {
        if (blen > 0) {
          const [name] = this.#cstr(b, o + 1, end);
          if (b[o] === S) this.#statements.delete(name); else this.#portals.delete(name);
        }
        this.#push(OpKind.Close, undefined);
        return;
      }
      case S:
        this.#group = undefined;
        this.#push(OpKind.Sync, undefined);
        return;
      case F:
        this.#push(OpKind.Simple, this.#newQuery(undefined, size, true));
        return;
      default: {
        // CopyData/CopyDone/CopyFail, Flush, Terminate, password/SASL: sizes only
        const head = this.#ops.peek();
        if (head?.q !== undefined && (type === ch('d') || type === ch('c') || type === ch('f'))) head.q.reqSize += size;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // server → client

  #responseProtocol(): FrameProtocol {
    return {
      headerSize: () => 5,
      bodyLength: (h, o) => {
        const type = h[o];
        const len = readI32(h, o + 1);
        if (BACKEND[type] !== 1 || len < 4 || len > MAX_MESSAGE) return -1;
        if (type === Z && len !== 5) return -1;
        if ((type === ONE || type === TWO || type === THREE || type === n || type === I) && len !== 4) return -1;
        return len - 4;
      },
      keep: (h, o) => {
        const type = h[o];
        if (type === E) return 1024;
        if (type === C) return 64;
        if (type === Z) return 1;
        return 0;
      },
      message: (h, ho, b, bo, blen, bodyLen, tsNs) => { this.#response(h[ho], b, bo, blen, bodyLen + 5, tsNs); },
      lost: () => { const q = this.#ops.peek()?.q; if (q !== undefined) q.lost = true; },
      resync: (b, off, end, length) => this.#resyncResponse(b, off, end, length),
    };
  }

  /**
   * While lost: a fully captured chunk ending in ReadyForQuery ("Z\0\0\0\x05" + status) closes the pending
   * exchange; messages start again after it.
   */
  #resyncResponse(b: Uint8Array, off: number, end: number, length: number): number {
    if (length !== end || end - off < 6) return -1;
    const z = end - 6;
    if (b[z] !== Z || b[z + 1] !== 0 || b[z + 2] !== 0 || b[z + 3] !== 0 || b[z + 4] !== 5) return -1;
    const st = b[z + 5];
    if (st !== I && st !== T && st !== E) return -1;
    // complete everything up to the first Sync/simple query, as ReadyForQuery would
    this.#ready(this.#ts);
    return end;
  }

  #headQuery(): Query | undefined {
    return this.#ops.peek()?.q;
  }

  #response(type: number, b: Uint8Array, o: number, blen: number, size: number, tsNs: number): void {
    const head = this.#ops.peek();
    if (head?.q !== undefined) head.q.respSize += size;
    switch (type) {
      case ONE: if (head?.kind === OpKind.Parse) this.#ops.shift(); return;
      case TWO: if (head?.kind === OpKind.Bind) this.#ops.shift(); return;
      case THREE: if (head?.kind === OpKind.Close) this.#ops.shift(); return;
      case T:
      case n:
        if (head?.kind === OpKind.DescribeStatement || head?.kind === OpKind.DescribePortal) this.#ops.shift();
        return;
      case D: if (head?.q !== undefined) head.q.rows++; return;
      case C:
      case I:
      case s: {
        if (head === undefined || head.q === undefined) return;
        if (type === C) {
          const [tag] = this.#cstrAscii(b, o, o + blen);
          head.q.tag = tag;
        }
        if (head.kind === OpKind.Execute) {
          this.#ops.shift();
          this.#emit(head.q, tsNs, false);
        }
        return;
      }
      case E: {
        const code = this.#sqlstate(b, o, o + blen);
        this.#error(code, tsNs);
        return;
      }
      case Z:
        this.#ready(tsNs);
        return;
      case V:
      default:
        // R S K N A G H W d c t v: nothing to match
        return;
    }
  }

  #cstrAscii(b: Uint8Array, i: number, end: number): [string, number] {
    const z = indexOf(b, 0, i, end);
    return z < 0 ? [ascii(b, i, end), end] : [ascii(b, i, z), z + 1];
  }

  /** The 'C' field (SQLSTATE) of an ErrorResponse. */
  #sqlstate(b: Uint8Array, i: number, end: number): string {
    while (i < end && b[i] !== 0) {
      const field = b[i];
      const z = indexOf(b, 0, i + 1, end);
      if (z < 0) break;
      if (field === C && z - i - 1 === 5) return ascii(b, i + 1, z);
      i = z + 1;
    }
    return 'unknown';
  }

  #error(code: string, tsNs: number): void {
    const head = this.#ops.peek();
    if (head === undefined) return; // a FATAL during startup/auth, or an admin shutdown: not a query
    if (head.kind === OpKind.Simple) {
      if (head.q !== undefined && head.q.errorCode === undefined) head.q.errorCode = code;
      return; // ReadyForQuery ends it
    }
    if (head.kind === OpKind.Sync) return; // e.g. a deferred constraint failing at commit: Sync's ReadyForQuery follows
    // extended protocol: this op's group failed; the server skips everything up to Sync
    const failed = head.q;
    if (failed !== undefined && failed.errorCode === undefined) failed.errorCode = code;
    let op: Op | undefined;
    while ((op = this.#ops.peek()) !== undefined && op.kind !== OpKind.Sync && op.kind !== OpKind.Simple) {
      this.#ops.shift();
      if (op.kind === OpKind.Parse && op.q === failed && failed?.text !== undefined) {
        // the statement was not created
        for (const [k, v] of this.#statements) if (v === failed.text) { this.#statements.delete(k); break; }
      }
    }
    if (failed !== undefined && !failed.emitted && !failed.silent) this.#emit(failed, tsNs, false);
  }

  /** ReadyForQuery: the head simple query (or everything up to the head Sync) is complete. */
  #ready(tsNs: number): void {
    let op: Op | undefined;
    while ((op = this.#ops.shift()) !== undefined) {
      const q = op.q;
      if (op.kind === OpKind.Simple) {
        if (q !== undefined && !q.emitted && !q.silent) this.#emit(q, tsNs, false);
        return;
      }
      if (op.kind === OpKind.Sync) return;
      // an op whose reply we did not see (lost boundaries): close its record if it is the Execute
      if (q !== undefined && !q.emitted && !q.silent && op.kind === OpKind.Execute) this.#emit(q, tsNs, false);
    }
  }
}

/**
 * Confirmation for the first bytes of a connection. Requests: a startup packet (length, then protocol
 * 3.x, SSLRequest or GSSENCRequest) or a frontend message with a sane length ('Q' with NUL-terminated
 * text, 'P', 'B', 'E', 'S'…). Responses: 'N'/'S' (SSL answer) alone, or a backend message header.
 */
function detect(first: Uint8Array, dir: Direction): boolean {
  if (first.length < 5) return dir === Direction.Response && first.length === 1 && (first[0] === N || first[0] === S);
  if (dir === Direction.Request) {
    if (first[0] === 0 && first.length >= 8) {
      const len = readI32(first, 0);
      const code = readI32(first, 4);
      return len >= 8 && len <= 10_000 && (code === 196608 || code === SSL_REQUEST || code === GSSENC_REQUEST || (code >> 16 === 3 && (code & 0xffff) <= 2));
    }
    const type = first[0];
    const len = readI32(first, 1);
    if (FRONTEND[type] !== 1 || type === ch('p') || type === ch('d') || len < 4 || len > MAX_MESSAGE) return false;
    if (type === Q) return len >= 5 && (first.length < len + 1 || first[len] === 0);
    return true;
  }
  const type = first[0];
  const len = readI32(first, 1);
  if (type === R) return len === 8 || len >= 12;
  return (type === ONE || type === T || type === C || type === E || type === Z || type === TWO || type === I) && BACKEND[type] === 1 && len >= 4 && len < 1 << 24;
}

export const postgresqlParser: ProtocolParser = {
  name: PROTOCOL,
  detect,
  newSession: (opts) => new PgSession(opts),
};

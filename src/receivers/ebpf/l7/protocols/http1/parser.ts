// HTTP/1.0 and HTTP/1.1 over captured chunks.
// References: RFC 9112 (message syntax, framing §6, chunked coding §7.1), RFC 9110 (semantics: HEAD, 1xx,
// 204, 304, CONNECT), W3C Trace Context (traceparent/tracestate), OpenTelemetry semconv HTTP spans.
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../types.js';
import { Direction } from '../../types.js';
import { AttributePart } from '../../../../../pdata/traces.js';
import { COLON, CR, HT, LF, SP, ascii, endsWithLower, eqLower, hexVal, isTraceparent, latin1, parseDec, trimEnd, trimStart } from './bytes.js';

/** Where one direction of the byte stream is. */
const enum St {
  /** At a message boundary, or inside a head that is being buffered. */
  Head = 0,
  /** Skipping `remaining` body bytes (Content-Length). */
  Length = 1,
  /** Decoding a chunked body (sub-state `cs`). */
  Chunked = 2,
  /** A response body that runs until the connection closes. */
  UntilClose = 3,
  /** Framing lost (gap, garbage, bad length): skip chunks until one starts like a message. */
  Lost = 4,
  /** After 101 Switching Protocols or a CONNECT tunnel: not HTTP/1 any more. */
  Upgraded = 5,
}

/** Chunked decoder sub-states (RFC 9112 §7.1). */
const enum Cs { Size = 0, Ext = 1, SizeLf = 2, Data = 3, DataCr = 4, DataLf = 5, TrailerStart = 6, TrailerLine = 7, TrailerLf = 8 }

const MAX_PENDING = 64;
/** Released exchanges kept per session for reuse. */
const MAX_FREE = 4;
const MAX_CHUNK_SIZE = 2 ** 40;
const MAX_TRACESTATE = 512;

interface Exchange {
  method: string;
  methodOriginal: string | undefined;
  path: string;
  query: string | undefined;
  host: string | undefined;
  port: number;
  userAgent: string | undefined;
  traceparent: string | undefined;
  tracestate: string | undefined;
  version: string;
  isHead: boolean;
  isConnect: boolean;
  startNs: number;
  reqHeadBytes: number;
  reqBodyBytes: number;
  status: number;
  respHeadBytes: number;
  respBodyBytes: number;
  /** Response head seen: the exchange is being answered. */
  answering: boolean;
}

class DirState {
  st: St = St.Head;
  remaining = 0;
  cs: Cs = Cs.Size;
  csize = 0;
  buf: Uint8Array | null = null;
  bufLen = 0;
  headStartNs = 0;
  /** Where the unterminated last line of the buffered head starts (scanning resumes there). */
  scanFrom = 0;
  /** Timestamp of the last chunk seen in this direction. */
  lastNs = 0;
  /**
   * Timestamp of the last chunk before the current one: a response whose end was lost ends there when the
   * next response is recognised at the start of the current chunk.
   */
  lastPrevNs = 0;
}

const KNOWN_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];
const METHOD_BYTES = KNOWN_METHODS.map(ascii);
const HTTP1 = ascii('HTTP/1.');
const H_HOST = ascii('host');
const H_TRACESTATE = ascii('tracestate');
const H_USER_AGENT = ascii('user-agent');
const H_TRACEPARENT = ascii('traceparent');
const H_CONTENT_LENGTH = ascii('content-length');
const H_TRANSFER_ENCODING = ascii('transfer-encoding');
const V_CHUNKED = ascii('chunked');

/** The known method at b[s, e), or undefined. */
function knownMethod(b: Uint8Array, s: number, e: number): string | undefined {
  const n = e - s;
  for (let m = 0; m < METHOD_BYTES.length; m++) {
    const lit = METHOD_BYTES[m];
    if (lit.length !== n || lit[0] !== b[s]) continue;
    let i = 1;
    while (i < n && lit[i] === b[s + i]) i++;
    if (i === n) return KNOWN_METHODS[m];
  }
  return undefined;
}

/**
 * 1: b[s..] starts like a message of `dir`; 0: it does not; -1: too short to tell. `strict` (used to
 * resync inside a stream of unknown bytes) accepts only the registered methods; otherwise (at a known
 * message boundary) any uppercase token followed by a space may be a method.
 */
function startsMessage(dir: Direction, b: Uint8Array, s: number, e: number, strict = true): number {
  if (dir === Direction.Response) {
    const n = Math.min(e - s, HTTP1.length);
    for (let i = 0; i < n; i++) if (b[s + i] !== HTTP1[i]) return 0;
    return n === HTTP1.length ? 1 : -1;
  }
  let i = s;
  while (i < e && i - s < 8 && b[i] >= 65 && b[i] <= 90) i++;
  if (i === e) {
    // an uppercase prefix: could still become a known method
    for (const lit of METHOD_BYTES) {
      let k = 0;
      while (k < lit.length && s + k < e && lit[k] === b[s + k]) k++;
      if (s + k === e) return -1;
    }
    return 0;
  }
  if (b[i] !== SP || i === s) return 0;
  return !strict || knownMethod(b, s, i) !== undefined ? 1 : 0;
}

/**
 * Index just past the empty line that ends a head, scanning b[from, e) where `from` is a line start; an
 * empty line at `headStart` (the head's first line) does not count. -1 when the head is not complete.
 */
function findHeadEnd(b: Uint8Array, from: number, e: number, headStart: number): number {
  let i = from;
  for (;;) {
    const nl = b.indexOf(LF, i);
    if (nl < 0 || nl >= e) return -1;
    if (i > headStart && (nl === i || (nl === i + 1 && b[i] === CR))) return nl + 1;
    i = nl + 1;
  }
}

/** Start of the last (unterminated) line of b[0, e). */
function lastLineStart(b: Uint8Array, e: number): number {
  return e === 0 ? 0 : b.lastIndexOf(LF, e - 1) + 1;
}

function isTchar(c: number): boolean {
  // RFC 9110 token characters, restricted to what a method can reasonably be
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 33;
}

export interface Http1Stats {
  /** Responses with no request waiting for them (capture started mid-connection, request lost). */
  unmatchedResponses: number;
  /** Times a direction lost framing (gap in a head or chunked framing, garbage, bad Content-Length). */
  resyncs: number;
  /** Heads cut by a capture gap or by the buffer cap and parsed partially. */
  truncatedHeads: number;
  /** Requests emitted as incomplete because more than the pipelining cap were waiting. */
  pendingOverflow: number;
}

/**
 * One connection's HTTP/1 parsing state. Requests are queued FIFO (pipelining) and completed by their
 * responses in order. Body bytes are skipped by counting, without copying; only a head split across
 * chunks is copied, into a per-direction buffer capped at `maxBufferedBytes`.
 */
export class Http1Session implements ParserSession {
  readonly #opts: ParserOptions;
  readonly #req = new DirState();
  readonly #res = new DirState();
  readonly #pending: Exchange[] = [];
  /** The request whose body is arriving (the last one queued). */
  #curReq: Exchange | null = null;
  /** Scratch exchange for responses that match no request (never emitted). */
  #orphanX: Exchange | null = null;
  #orphanActive = false;
  /** The last User-Agent value, reused while the bytes repeat (keep-alive clients send the same one). */
  readonly #ua = new Interned();
  readonly #hostName = new Interned();
  /** The last request path, reused while the bytes repeat (keep-alive clients often ask for the same one). */
  readonly #path = new Interned();
  /** Exchanges already turned into records, for reuse (no allocation per request). */
  readonly #free: Exchange[] = [];
  readonly stats: Http1Stats = { unmatchedResponses: 0, resyncs: 0, truncatedHeads: 0, pendingOverflow: 0 };
  /** What the last exchange's attributes were made from (see PartMemo); made at the second exchange. */
  #parts: PartMemo | null = null;
  #records = 0;

  constructor(opts: ParserOptions) {
    this.#opts = opts;
  }

  #record(x: Exchange, endNs: number, incomplete: boolean, opts: ParserOptions): L7Record {
    const memo = this.#records++ === 0 ? null : (this.#parts ??= new PartMemo());
    return toRecord(x, endNs, incomplete, opts, memo);
  }

  /** Scratch exchange for a response that answers no request (created on first use). */
  get #orphan(): Exchange {
    return (this.#orphanX ??= newExchange('', 0));
  }

  /** Bytes currently held in head buffers (bounded by 2 × maxBufferedBytes). */
  bufferedBytes(): number {
    return this.#req.bufLen + this.#res.bufLen;
  }

  /** Requests waiting for their response. */
  pendingRequests(): number {
    return this.#pending.length;
  }

  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
    this.feedRange(dir, captured, 0, captured.length, length, tsNs, out);
  }

  /** feed() of the captured bytes captured[start, end) (a view into the receiver's batch: nothing is kept). */
  feedRange(dir: Direction, captured: Uint8Array, start: number, end: number, length: number, tsNs: number, out: L7Record[]): void {
    const isReq = dir === Direction.Request;
    const d = isReq ? this.#req : this.#res;
    if (d.st === St.Upgraded) return;
    if (!(length >= end - start)) length = end - start;
    let gap = length - (end - start);
    let off = start;
    if (isReq && this.#res.st === St.Lost && this.#currentAnswer() !== null && startsMessage(dir, captured, start, end) === 1) {
      // framing of the previous response was lost; a new request means it is over (non-pipelined clients)
      this.#finishLostResponse(this.#res.lastNs, out);
    }
    if (!isReq) this.#res.lastNs = tsNs;
    else this.#req.lastNs = tsNs;

    while (off < end) {
      switch (d.st) {
        case St.Head:
          off = this.#head(d, dir, captured, off, end, gap, tsNs, out);
          if (off < 0) return; // the gap was consumed too
          break;
        case St.Length: {
          const avail = end - off;
          if (d.remaining <= avail) {
            const r = d.remaining | 0; // ≤ avail: a small integer (no boxed double in the call below)
            off += r;
            this.#countBody(isReq, r);
            d.remaining = 0;
            this.#bodyDone(dir, tsNs, out);
          } else {
            d.remaining -= avail;
            this.#countBody(isReq, avail);
            off = end;
          }
          break;
        }
        case St.Chunked:
          off = this.#chunked(d, isReq, captured, off, end, tsNs, out);
          break;
        case St.UntilClose:
          this.#countBody(false, end - off);
          off = end;
          break;
        case St.Lost:
          if (off === start && startsMessage(dir, captured, start, end) === 1) {
            if (!isReq && this.#currentAnswer() !== null) this.#finishLostResponse(this.#res.lastPrevNs, out);
            d.st = St.Head;
          } else {
            this.#countBody(isReq, end - off);
            off = end;
          }
          break;
        default:
          return; // Upgraded
      }
    }
    if (gap === 0) {
      if (!isReq) this.#res.lastPrevNs = tsNs;
      return;
    }
    // bytes of this chunk that were not captured
    switch (d.st) {
      case St.Head:
        if (d.bufLen > 0) this.#truncatedHead(d, dir, d.buf as Uint8Array, 0, d.bufLen, d.headStartNs, tsNs, out);
        else this.#lose(d);
        d.bufLen = 0;
        break;
      case St.Length:
        if (gap >= d.remaining) {
          const r = d.remaining | 0; // ≤ gap: a small integer
          this.#countBody(isReq, r);
          gap -= r;
          d.remaining = 0;
          this.#bodyDone(dir, tsNs, out);
          if (gap > 0 && (d.st as St) === St.Head) this.#lose(d); // the next message starts in the gap
        } else {
          this.#countBody(isReq, gap);
          d.remaining -= gap;
        }
        break;
      case St.Chunked:
        this.#countBody(isReq, gap);
        if (d.cs === Cs.Data && d.remaining >= gap) {
          d.remaining -= gap;
          if (d.remaining === 0) d.cs = Cs.DataCr;
        } else {
          this.#lose(d);
        }
        break;
      case St.UntilClose:
      case St.Lost:
        this.#countBody(isReq, gap);
        break;
      default:
        break;
    }
    if (!isReq) this.#res.lastPrevNs = tsNs;
  }

  expire(nowNs: number, out: L7Record[]): void {
    const timeout = this.#opts.requestTimeoutNs;
    while (this.#pending.length > 0) {
      const x = this.#pending[0];
      if (x.answering) {
        // a response is in progress: give up on it only when it went quiet
        if (nowNs - this.#res.lastNs <= timeout) return;
        this.#finishResponse(this.#res.lastNs, false, out);
        this.#res.st = St.Lost;
        continue;
      }
      if (nowNs - x.startNs <= timeout) return;
      this.#pending.shift();
      if (this.#curReq === x) this.#curReq = null;
      out.push(this.#record(x, Math.max(x.startNs, nowNs), true, this.#opts));
      this.#release(x);
    }
  }

  close(tsNs: number, out: L7Record[]): void {
    if (this.#currentAnswer() !== null) this.#finishResponse(Math.max(this.#res.lastNs, 0), false, out);
    for (const x of this.#pending) {
      out.push(this.#record(x, Math.max(x.startNs, tsNs), true, this.#opts));
      this.#release(x);
    }
    this.#pending.length = 0;
    this.#curReq = null;
    this.#orphanActive = false;
    this.#req.st = St.Upgraded;
    this.#res.st = St.Upgraded;
    this.#req.bufLen = 0;
    this.#res.bufLen = 0;
  }

  /** The exchange whose response is being received, or null. */
  #currentAnswer(): Exchange | null {
    if (this.#orphanActive) return this.#orphan;
    const x = this.#pending[0];
    return x !== undefined && x.answering ? x : null;
  }

  #countBody(isReq: boolean, n: number): void {
    if (isReq) {
      if (this.#curReq !== null) this.#curReq.reqBodyBytes += n;
    } else {
      const x = this.#currentAnswer();
      if (x !== null) x.respBodyBytes += n;
    }
  }

  /** Malformed chunked framing at `off`: counts the body bytes consumed since `start`, resyncs; returns `off`. */
  #badChunk(d: DirState, isReq: boolean, off: number, start: number): number {
    this.#countBody(isReq, off - start);
    this.#lose(d);
    return off;
  }

  #lose(d: DirState): void {
    d.st = St.Lost;
    d.bufLen = 0;
    this.stats.resyncs++;
  }

  /** Head state at b[off]: returns the offset after what was consumed, or -1 when the gap was consumed too. */
  #head(d: DirState, dir: Direction, b: Uint8Array, off: number, end: number, gap: number, tsNs: number, out: L7Record[]): number {
    const cap = this.#opts.maxBufferedBytes;
    if (d.bufLen === 0) {
      while (off < end && (b[off] === CR || b[off] === LF)) off++; // empty lines between messages (RFC 9112 §2.2)
      if (off === end) return end;
      const looks = startsMessage(dir, b, off, end, false);
      if (looks === 0) {
        this.#lose(d);
        return off;
      }
      const he = this.#parseHead(d, dir, b, off, end, tsNs, tsNs, false, out);
      if (he >= 0) return he;
      if (he === -2) return end; // malformed: the rest of the chunk is skipped (Lost)
      if (gap > 0) {
        this.#truncatedHead(d, dir, b, off, end, tsNs, tsNs, out);
        return -1;
      }
      const n = end - off;
      if (n > cap) {
        this.#truncatedHead(d, dir, b, off, off + cap, tsNs, tsNs, out);
        return end;
      }
      this.#bufferAppend(d, b, off, n);
      d.headStartNs = tsNs;
      d.scanFrom = lastLineStart(d.buf as Uint8Array, d.bufLen);
      return end;
    }
    // continue a buffered head
    const old = d.bufLen;
    const n = Math.min(end - off, cap - old);
    this.#bufferAppend(d, b, off, n);
    const buf = d.buf as Uint8Array;
    if (old < 16 && startsMessage(dir, buf, 0, d.bufLen, false) === 0) {
      this.#lose(d);
      return off;
    }
    const he = findHeadEnd(buf, d.scanFrom, d.bufLen, 0);
    if (he >= 0) {
      d.bufLen = 0;
      this.#parseHead(d, dir, buf, 0, he, d.headStartNs, tsNs, false, out);
      return off + (he - old);
    }
    if (n < end - off || gap > 0) {
      // over the cap, or the rest of the head was not captured
      this.#truncatedHead(d, dir, buf, 0, d.bufLen, d.headStartNs, tsNs, out);
      d.bufLen = 0;
      return gap > 0 ? -1 : end;
    }
    d.scanFrom = lastLineStart(buf, d.bufLen);
    return end;
  }

  #bufferAppend(d: DirState, b: Uint8Array, off: number, n: number): void {
    const need = d.bufLen + n;
    if (d.buf === null || d.buf.length < need) {
      const nb = new Uint8Array(Math.min(this.#opts.maxBufferedBytes, Math.max(need, 256, d.buf === null ? 0 : d.buf.length * 2)));
      if (d.buf !== null) nb.set(d.buf.subarray(0, d.bufLen));
      d.buf = nb;
    }
    d.buf.set(b.subarray(off, off + n), d.bufLen);
    d.bufLen = need;
  }

  /** A head whose end was not captured: use what is there, then resync (the framing is unknown). */
  #truncatedHead(d: DirState, dir: Direction, b: Uint8Array, s: number, e: number, startNs: number, tsNs: number, out: L7Record[]): void {
    this.stats.truncatedHeads++;
    this.#parseHead(d, dir, b, s, e, startNs, tsNs, true, out);
    if (d.st !== St.Upgraded && d.st !== St.Lost) this.#lose(d);
  }

  /**
   * Parses the head at b[s, e) in one pass. Returns the index just past it when complete; -1 when it is not
   * complete (nothing changed; with `truncated` a partial head is used as far as it goes instead and e is
   * returned); -2 when it is malformed (the direction is lost).
   */
  #parseHead(d: DirState, dir: Direction, b: Uint8Array, s: number, e: number, startNs: number, tsNs: number, truncated: boolean, out: L7Record[]): number {
    return dir === Direction.Request ? this.#parseRequest(d, b, s, e, startNs, truncated, out) : this.#parseResponse(d, b, s, e, tsNs, truncated, out);
  }

  #parseRequest(d: DirState, b: Uint8Array, s: number, e: number, startNs: number, truncated: boolean, out: L7Record[]): number {
    // request-line = method SP request-target SP HTTP-version CRLF
    let i = s;
    while (i < e && isTchar(b[i])) i++;
    if (i === s || i - s > 32 || i >= e || b[i] !== SP) {
      if (i === e && !truncated) return -1;
      this.#lose(d);
      return -2;
    }
    const mEnd = i;
    // one pass over the target (to SP, CR or LF), then the version and the line end right after it
    const tStart = mEnd + 1;
    let tEnd = tStart;
    while (tEnd < e) {
      const c = b[tEnd];
      if (c === SP || c === CR || c === LF) break;
      tEnd++;
    }
    const lineEnd = findLF(b, tEnd, e);
    if (lineEnd === e && !truncated) return -1;
    if (tEnd === tStart) {
      this.#lose(d);
      return -2;
    }
    let version = '';
    if (tEnd < lineEnd) {
      const v = tEnd + 1;
      const n = Math.min(7, lineEnd - v);
      for (let k = 0; k < n; k++) {
        if (b[v + k] !== HTTP1[k]) {
          this.#lose(d);
          return -2;
        }
      }
      const minor = b[v + 7];
      if (lineEnd - v >= 8 && minor >= 48 && minor <= 57) version = minor === 49 ? '1.1' : minor === 48 ? '1.0' : '1.' + String.fromCharCode(minor);
      else if (!truncated) {
        this.#lose(d);
        return -2;
      }
    } else if (!truncated) {
      this.#lose(d); // HTTP/0.9 or garbage
      return -2;
    }
    const known = knownMethod(b, s, mEnd);
    const x = this.#acquire(known ?? '_OTHER', startNs);
    x.version = version;
    x.isHead = known === 'HEAD';
    x.isConnect = known === 'CONNECT';

    // header fields: only names of the lengths we want are looked at, by checking for the colon right after them
    let chunked = false;
    let contentLength = -2; // -2: absent, -1: invalid
    let headEnd = -1;
    i = lineEnd + 1;
    while (i < e) {
      const le = findLF(b, i, e);
      if (le === e) break; // a partial last line
      const lineE = trimEnd(b, i, le);
      if (lineE === i) {
        headEnd = le + 1;
        break;
      }
      const n = lineE - i;
      if (n > 4 && b[i + 4] === COLON) {
        if (eqLower(b, i, i + 4, H_HOST)) this.#host(x, b, trimStart(b, i + 5, lineE), lineE);
      } else if (n > 10 && b[i + 10] === COLON) {
        if (eqLower(b, i, i + 10, H_USER_AGENT)) x.userAgent = this.#ua.get(b, trimStart(b, i + 11, lineE), lineE);
        else if (eqLower(b, i, i + 10, H_TRACESTATE)) {
          const vs = trimStart(b, i + 11, lineE);
          x.tracestate = latin1(b, vs, Math.min(lineE, vs + MAX_TRACESTATE));
        }
      } else if (n > 11 && b[i + 11] === COLON) {
        const vs = trimStart(b, i + 12, lineE);
        if (eqLower(b, i, i + 11, H_TRACEPARENT) && isTraceparent(b, vs, lineE)) x.traceparent = latin1(b, vs, vs + 55);
      } else if (n > 14 && b[i + 14] === COLON) {
        if (eqLower(b, i, i + 14, H_CONTENT_LENGTH)) {
          const v = parseDec(b, trimStart(b, i + 15, lineE), lineE);
          contentLength = contentLength !== -2 && contentLength !== v ? -1 : v;
        }
      } else if (n > 17 && b[i + 17] === COLON) {
        if (eqLower(b, i, i + 17, H_TRANSFER_ENCODING)) chunked = endsWithLower(b, trimStart(b, i + 18, lineE), lineE, V_CHUNKED);
      }
      i = le + 1;
    }
    if (headEnd < 0 && !truncated) return -1;
    if (known === undefined) x.methodOriginal = latin1(b, s, mEnd);
    this.#target(x, b, tStart, tEnd);
    const end = headEnd < 0 ? e : headEnd;
    x.reqHeadBytes = end - s;
    this.#enqueue(x, out);
    if (truncated) return end; // the caller resyncs
    if (chunked) this.#startChunked(d);
    else if (contentLength === -1) this.#lose(d);
    else if (contentLength > 0) {
      d.st = St.Length;
      d.remaining = contentLength;
    } else d.st = St.Head;
    return end;
  }

  #enqueue(x: Exchange, out: L7Record[]): void {
    if (this.#pending.length >= MAX_PENDING) {
      const old = this.#pending.shift() as Exchange;
      this.stats.pendingOverflow++;
      out.push(this.#record(old, old.startNs, true, this.#opts));
      if (old.answering) {
        // the response being received belonged to it: finish skipping it without a request
        this.#orphan.answering = true;
        this.#orphanActive = true;
      }
      this.#release(old);
    }
    this.#pending.push(x);
    this.#curReq = x;
  }

  /** request-target: origin-form, absolute-form, authority-form (CONNECT) or asterisk-form. */
  #target(x: Exchange, b: Uint8Array, s: number, e: number): void {
    if (x.isConnect) {
      this.#host(x, b, s, e);
      return;
    }
    let p = s;
    if (b[s] !== 47 && b[s] !== 42) {
      // absolute-form: scheme://authority/path
      const sep = b.indexOf(47, s);
      if (sep > s && sep + 1 < e && b[sep - 1] === COLON && b[sep + 1] === 47) {
        const a = sep + 2;
        let ae = a;
        while (ae < e && b[ae] !== 47 && b[ae] !== 63) ae++;
        if (x.host === undefined) this.#host(x, b, a, ae);
        p = ae;
      }
    }
    let q = p;
    while (q < e && b[q] !== 63 && b[q] !== 35) q++;
    x.path = q > p ? this.#path.get(b, p, q) : '/';
    if (q < e && b[q] === 63 && this.#opts.keepQueryString) {
      let f = q + 1;
      while (f < e && b[f] !== 35) f++;
      x.query = latin1(b, q + 1, f);
    }
  }

  /** Host header (or authority): `name`, `name:port`, `[v6]`, `[v6]:port`. */
  #host(x: Exchange, b: Uint8Array, s: number, e: number): void {
    if (e <= s) return;
    let he = e;
    let port = 0;
    if (b[s] === 91) {
      const close = b.indexOf(93, s);
      if (close < 0 || close >= e) return;
      x.host = this.#hostName.get(b, s + 1, close);
      if (close + 1 < e && b[close + 1] === COLON) port = parseDec(b, close + 2, e);
      x.port = port > 0 && port < 65536 ? port : 0;
      return;
    }
    for (let k = e - 1; k > s; k--) {
      if (b[k] === COLON) {
        port = parseDec(b, k + 1, e);
        he = k;
        break;
      }
    }
    x.host = this.#hostName.get(b, s, he);
    x.port = port > 0 && port < 65536 ? port : 0;
  }

  #parseResponse(d: DirState, b: Uint8Array, s: number, e: number, tsNs: number, truncated: boolean, out: L7Record[]): number {
    // status-line = HTTP-version SP status-code SP [reason-phrase] CRLF
    if (e - s < 12) {
      if (!truncated) return -1;
      this.#lose(d);
      return -2;
    }
    let bad = b[s + 8] !== SP;
    for (let k = 0; k < 7 && !bad; k++) if (b[s + k] !== HTTP1[k]) bad = true;
    const status = parseDec(b, s + 9, s + 12);
    if (bad || status < 100 || status > 999 || (s + 12 < e && b[s + 12] !== SP && b[s + 12] !== CR && b[s + 12] !== LF)) {
      this.#lose(d);
      return -2;
    }
    let chunked = false;
    let contentLength = -2;
    let headEnd = -1;
    let i = findLF(b, s + 12, e) + 1;
    while (i < e) {
      const le = findLF(b, i, e);
      if (le === e) break;
      const lineE = trimEnd(b, i, le);
      if (lineE === i) {
        headEnd = le + 1;
        break;
      }
      const n = lineE - i;
      if (n > 14 && b[i + 14] === COLON && eqLower(b, i, i + 14, H_CONTENT_LENGTH)) {
        const v = parseDec(b, trimStart(b, i + 15, lineE), lineE);
        contentLength = contentLength !== -2 && contentLength !== v ? -1 : v;
      } else if (n > 17 && b[i + 17] === COLON && eqLower(b, i, i + 17, H_TRANSFER_ENCODING)) {
        chunked = endsWithLower(b, trimStart(b, i + 18, lineE), lineE, V_CHUNKED);
      }
      i = le + 1;
    }
    if (headEnd < 0 && !truncated) return -1;
    const end = headEnd < 0 ? e : headEnd;

    // which request does this answer?
    let x: Exchange;
    const first = this.#pending[0];
    if (first !== undefined && !first.answering) x = first;
    else {
      x = this.#orphan;
      x.isHead = false;
      x.isConnect = false;
    }
    if (status < 200 && status !== 101) {
      // interim response (100 Continue, 103 Early Hints): the final one follows
      if (x !== this.#orphanX) x.respHeadBytes += end - s;
      d.st = truncated ? St.Lost : St.Head;
      return end;
    }
    x.status = status;
    x.respHeadBytes += end - s;
    x.respBodyBytes = 0;
    x.answering = true;
    if (x === this.#orphanX) this.#orphanActive = true;
    if (status === 101 || (x.isConnect && status < 300)) {
      this.#finishResponse(tsNs, false, out);
      this.#req.st = St.Upgraded;
      this.#res.st = St.Upgraded;
      this.#req.bufLen = 0;
      this.#res.bufLen = 0;
      return end;
    }
    if (truncated) {
      // the body's framing may be in the part we did not see: the response ends when the next one starts
      d.st = St.Lost;
      return end;
    }
    if (x.isHead || status === 204 || status === 304) {
      d.st = St.Head;
      this.#finishResponse(tsNs, false, out);
    } else if (chunked) {
      this.#startChunked(d);
    } else if (contentLength >= 0) {
      if (contentLength === 0) {
        d.st = St.Head;
        this.#finishResponse(tsNs, false, out);
      } else {
        d.st = St.Length;
        d.remaining = contentLength;
      }
    } else if (contentLength === -1) {
      this.#lose(d);
    } else {
      d.st = St.UntilClose; // no length: the body ends when the connection closes (RFC 9112 §6.3)
    }
    return end;
  }

  #startChunked(d: DirState): void {
    d.st = St.Chunked;
    d.cs = Cs.Size;
    d.csize = 0;
    d.remaining = 0;
  }

  /** Chunked body bytes b[off, end): returns the offset after the body (or end). */
  #chunked(d: DirState, isReq: boolean, b: Uint8Array, off: number, end: number, tsNs: number, out: L7Record[]): number {
    const start = off;
    while (off < end) {
      switch (d.cs) {
        case Cs.Data: {
          const n = Math.min(d.remaining, end - off);
          off += n;
          d.remaining -= n;
          if (d.remaining === 0) d.cs = Cs.DataCr;
          break;
        }
        case Cs.Size: {
          const c = b[off];
          const v = hexVal(c);
          if (v >= 0) {
            d.csize = d.csize * 16 + v;
            if (d.csize > MAX_CHUNK_SIZE) {
              return this.#badChunk(d, isReq, off, start);
            }
          } else if (c === CR) d.cs = Cs.SizeLf;
          else if (c === LF) this.#sizeLineDone(d);
          else if (c === 59 || c === SP || c === HT) d.cs = Cs.Ext;
          else {
            return this.#badChunk(d, isReq, off, start);
          }
          off++;
          break;
        }
        case Cs.Ext:
          if (b[off] === LF) this.#sizeLineDone(d);
          off++;
          break;
        case Cs.SizeLf:
          if (b[off] !== LF) {
            return this.#badChunk(d, isReq, off, start);
          }
          this.#sizeLineDone(d);
          off++;
          break;
        case Cs.DataCr:
          if (b[off] === CR) d.cs = Cs.DataLf;
          else if (b[off] === LF) d.cs = Cs.Size;
          else {
            return this.#badChunk(d, isReq, off, start);
          }
          off++;
          break;
        case Cs.DataLf:
          if (b[off] !== LF) {
            return this.#badChunk(d, isReq, off, start);
          }
          d.cs = Cs.Size;
          d.csize = 0;
          off++;
          break;
        case Cs.TrailerStart:
          if (b[off] === CR) d.cs = Cs.TrailerLf;
          else if (b[off] === LF) {
            off++;
            this.#countBody(isReq, off - start);
            this.#bodyDone(isReq ? Direction.Request : Direction.Response, tsNs, out);
            return off;
          } else d.cs = Cs.TrailerLine;
          off++;
          break;
        case Cs.TrailerLine:
          if (b[off] === LF) d.cs = Cs.TrailerStart;
          off++;
          break;
        case Cs.TrailerLf:
          if (b[off] !== LF) {
            d.cs = Cs.TrailerLine;
            break;
          }
          off++;
          this.#countBody(isReq, off - start);
          this.#bodyDone(isReq ? Direction.Request : Direction.Response, tsNs, out);
          return off;
        default:
          off = end;
      }
    }
    this.#countBody(isReq, off - start);
    return off;
  }

  #sizeLineDone(d: DirState): void {
    if (d.csize === 0) d.cs = Cs.TrailerStart;
    else {
      d.cs = Cs.Data;
      d.remaining = d.csize;
    }
    d.csize = 0;
  }

  #bodyDone(dir: Direction, tsNs: number, out: L7Record[]): void {
    if (dir === Direction.Request) {
      this.#req.st = St.Head;
      return;
    }
    this.#res.st = St.Head;
    this.#finishResponse(tsNs, false, out);
  }

  /**
   * Ends a response whose framing was lost. Requests pipelined in the same chunk as its request were
   * answered inside the bytes we could not follow: they are emitted as incomplete rather than matched
   * to the wrong responses.
   */
  #finishLostResponse(endNs: number, out: L7Record[]): void {
    const x = this.#pending[0];
    if (x === undefined) {
      this.#finishResponse(endNs, false, out);
      return;
    }
    const xStart = x.startNs; // read first: finishing x releases it
    this.#finishResponse(endNs, false, out);
    while (this.#pending.length > 0 && this.#pending[0].startNs <= xStart && !this.#pending[0].answering) {
      const y = this.#pending.shift() as Exchange;
      if (this.#curReq === y) this.#curReq = null;
      out.push(this.#record(y, Math.max(endNs, y.startNs), true, this.#opts));
      this.#release(y);
    }
  }

  #finishResponse(endNs: number, incomplete: boolean, out: L7Record[]): void {
    if (this.#orphanActive) {
      this.#orphanActive = false;
      this.#orphan.answering = false;
      this.#orphan.respHeadBytes = 0;
      this.stats.unmatchedResponses++;
      return;
    }
    const x = this.#pending[0];
    if (x === undefined || !x.answering) return;
    this.#pending.shift();
    if (this.#curReq === x) this.#curReq = null;
    out.push(this.#record(x, Math.max(endNs, x.startNs), incomplete, this.#opts));
    this.#release(x);
  }

  /** A fresh exchange: a released one reset, else a new one (one request at a time is the common case). */
  #acquire(method: string, startNs: number): Exchange {
    const x = this.#free.pop();
    if (x === undefined) return newExchange(method, startNs);
    resetExchange(x, method, startNs);
    return x;
  }

  /** An exchange that was turned into its record and left every queue: kept for the next request. */
  #release(x: Exchange): void {
    if (this.#free.length < MAX_FREE) this.#free.push(x);
  }
}

/**
 * One string reused while the same bytes come back (no allocation on repeats). The bytes are compared with
 * the string's char codes (latin1: one char per byte), so nothing but the string is kept. Values that keep
 * changing (paths with ids) are not compared for a while after a few misses in a row: a miss costs more
 * than making the string alone.
 */
class Interned {
  #str = '';
  /** #str is a value to compare with (values over 256 bytes are not: comparing would cost more than it saves). */
  #set = false;
  /** Misses in a row; at MISS_LIMIT the value is not interned for the next MISS_BACKOFF calls. */
  #misses = 0;

  get(b: Uint8Array, s: number, e: number): string {
    const n = e - s;
    if (this.#misses >= MISS_LIMIT) {
      if (++this.#misses < MISS_LIMIT + MISS_BACKOFF) return latin1(b, s, e);
      this.#misses = 0;
      this.#set = false;
    }
    const str = this.#str;
    if (this.#set && str.length === n) {
      let i = 0;
      while (i < n && str.charCodeAt(i) === b[s + i]) i++;
      if (i === n) {
        this.#misses = 0;
        return str;
      }
    }
    if (this.#set) this.#misses++;
    const v = latin1(b, s, e);
    this.#str = v;
    this.#set = n <= 256;
    return v;
  }
}

const MISS_LIMIT = 4;
const MISS_BACKOFF = 32;

function newExchange(method: string, startNs: number): Exchange {
  return {
    method, methodOriginal: undefined, path: '', query: undefined, host: undefined, port: 0, userAgent: undefined,
    traceparent: undefined, tracestate: undefined, version: '', isHead: false, isConnect: false, startNs,
    reqHeadBytes: 0, reqBodyBytes: 0, status: 0, respHeadBytes: 0, respBodyBytes: 0, answering: false,
  };
}

function resetExchange(x: Exchange, method: string, startNs: number): void {
  x.method = method;
  x.methodOriginal = undefined;
  x.path = '';
  x.query = undefined;
  x.host = undefined;
  x.port = 0;
  x.userAgent = undefined;
  x.traceparent = undefined;
  x.tracestate = undefined;
  x.version = '';
  x.isHead = false;
  x.isConnect = false;
  x.startNs = startNs;
  x.reqHeadBytes = 0;
  x.reqBodyBytes = 0;
  x.status = 0;
  x.respHeadBytes = 0;
  x.respBodyBytes = 0;
  x.answering = false;
}

/** Status codes as strings (statusLabel, error.type): one string per code, made once. */
const CODE_STRINGS: string[] = [];
function codeString(code: number): string {
  if (code < 100 || code > 999) return String(code);
  return (CODE_STRINGS[code] ??= String(code));
}

/**
 * The last attributes a session made and what they were made from: when the next exchange has the same
 * values (keep-alive clients repeat their requests) its attributes become a shared frozen part, given to
 * every exchange while the values repeat, so spans share it and the OTLP encoder copies its cached bytes.
 * An exchange whose values differ from the last one's gets a plain object (a part is made only for values
 * seen twice: a short connection's single exchange costs nothing more). Compared by value (the strings are
 * mostly the same interned objects).
 */
class PartMemo {
  /** The values below are set (from the last exchange). */
  seen = false;
  /** The shared part for them, once they repeated. */
  part: AttributePart | null = null;
  /** Misses in a row (see attributePart). */
  misses = 0;
  method = '';
  path = '';
  query: string | undefined = undefined;
  status = 0;
  host: string | undefined = undefined;
  port = 0;
  version = '';
  reqBody = 0;
  respBody = 0;
  userAgent: string | undefined = undefined;
  methodOriginal: string | undefined = undefined;
}

/**
 * The exchange's attributes as a shared part when its values repeat the last exchange's, else null (the
 * record gets a plain object). While the values keep changing (paths with ids), after MISS_LIMIT misses in
 * a row the next MISS_BACKOFF exchanges are not compared at all.
 */
function attributePart(x: Exchange, opts: ParserOptions, m: PartMemo): AttributePart | null {
  if (m.misses >= MISS_LIMIT) {
    if (++m.misses < MISS_LIMIT + MISS_BACKOFF) return null;
    m.misses = 0;
    m.seen = false;
  }
  const query = opts.keepQueryString ? x.query : undefined;
  const respBody = x.status > 0 ? x.respBodyBytes : 0;
  if (m.seen) {
    if (m.method === x.method && m.path === x.path && m.query === query && m.status === x.status && m.host === x.host && m.port === x.port &&
      m.version === x.version && m.reqBody === x.reqBodyBytes && m.respBody === respBody && m.userAgent === x.userAgent && m.methodOriginal === x.methodOriginal) {
      m.misses = 0;
      return (m.part ??= new AttributePart(attributesOf(x, opts)));
    }
    if (++m.misses >= MISS_LIMIT) return null;
  }
  m.seen = true;
  m.part = null;
  m.method = x.method;
  m.path = x.path;
  m.query = query;
  m.status = x.status;
  m.host = x.host;
  m.port = x.port;
  m.version = x.version;
  m.reqBody = x.reqBodyBytes;
  m.respBody = respBody;
  m.userAgent = x.userAgent;
  m.methodOriginal = x.methodOriginal;
  return null;
}

function attributesOf(x: Exchange, opts: ParserOptions): Record<string, string | number | boolean> {
  let attributes: Record<string, string | number | boolean>;
  if (x.status > 0 && x.host !== undefined && x.port > 0 && x.version !== '') {
    // the common answered request with a Host: one literal (its slots in the object, no growing store)
    attributes = {
      'http.request.method': x.method,
      'url.path': x.path,
      'url.scheme': 'http',
      'http.response.status_code': x.status,
      'server.address': x.host,
      'server.port': x.port,
      'network.protocol.version': x.version,
    };
    if (x.query !== undefined && opts.keepQueryString) attributes['url.query'] = x.query;
  } else {
    attributes = {
      'http.request.method': x.method,
      'url.path': x.path,
      'url.scheme': 'http',
    };
    if (x.query !== undefined && opts.keepQueryString) attributes['url.query'] = x.query;
    if (x.status > 0) attributes['http.response.status_code'] = x.status;
    if (x.host !== undefined) attributes['server.address'] = x.host;
    if (x.port > 0) attributes['server.port'] = x.port;
    if (x.version !== '') attributes['network.protocol.version'] = x.version;
  }
  if (x.reqBodyBytes > 0) attributes['http.request.body.size'] = x.reqBodyBytes;
  if (x.status > 0 && x.respBodyBytes > 0) attributes['http.response.body.size'] = x.respBodyBytes;
  if (x.userAgent !== undefined) attributes['user_agent.original'] = x.userAgent;
  if (x.methodOriginal !== undefined) attributes['http.request.method_original'] = x.methodOriginal;
  return attributes;
}

function toRecord(x: Exchange, endNs: number, incomplete: boolean, opts: ParserOptions, memo: PartMemo | null): L7Record {
  const part = memo !== null ? attributePart(x, opts, memo) : null;
  const code = x.status;
  const answered = code > 0 && !incomplete;
  const failed = answered && code >= 400;
  return {
    protocol: 'http',
    startNs: x.startNs,
    endNs,
    name: x.method === '_OTHER' ? 'HTTP' : x.method,
    attributes: part !== null ? (part.values as Record<string, string | number | boolean>) : attributesOf(x, opts),
    attributePart: part ?? undefined,
    status: !answered ? 'unknown' : failed ? 'error' : 'ok',
    errorType: failed ? codeString(code) : undefined,
    statusLabel: answered ? codeString(code) : 'unknown',
    requestSize: x.reqHeadBytes + x.reqBodyBytes,
    responseSize: answered ? x.respHeadBytes + x.respBodyBytes : -1,
    traceparent: x.traceparent,
    tracestate: x.traceparent !== undefined ? x.tracestate : undefined,
    incomplete: incomplete || undefined,
    clientFault: failed && code < 500 ? true : undefined,
  };
}

/**
 * The first LF in b[i, e), or e. Four bytes a step, then one: header lines are tens of bytes, and the
 * unrolled loop pays fewer bounds checks and branches per byte (a byte loop beats TypedArray#indexOf's call
 * cost on short lines; 170 vs 225-260 ns per nginx response head, microbenchmark).
 */
function findLF(b: Uint8Array, i: number, e: number): number {
  while (i + 4 <= e && b[i] !== LF && b[i + 1] !== LF && b[i + 2] !== LF && b[i + 3] !== LF) i += 4;
  while (i < e && b[i] !== LF) i++;
  return i;
}

/** The `http` protocol: HTTP/1.0 and HTTP/1.1 (HTTP/2 is a separate parser). */
export const http1Parser: ProtocolParser = {
  name: 'http',
  detect(first: Uint8Array, dir: Direction): boolean {
    return startsMessage(dir, first, 0, first.length) === 1;
  },
  newSession(opts: ParserOptions): Http1Session {
    return new Http1Session(opts);
  },
};

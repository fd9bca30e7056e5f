/**
 * A streaming RESP2/RESP3 value reader over captured chunks: it finds where each top-level value ends,
 * across chunk splits and capture gaps (bulk payloads are skipped by their declared length without
 * copying), and reports the value's type, the first few scalar elements of a top-level aggregate, and
 * its size. Memory is bounded: a 64-byte line prefix, a 64-byte element prefix, a fixed-depth stack.
 */
import { ascii } from '../common/util.js';

export const MAX_ELEMS = 8;
const ELEM_MAX = 64;
const LINE_KEEP = 64;
const MAX_DEPTH = 32;
const MAX_LINE = 64 * 1024;
const MAX_BULK = 512 * 1024 * 1024;

const CR = 13, LF = 10;

/** Length-prefixed types whose payload follows the line. */
const BULKS = new Uint8Array(256);
for (const c of '$!=') BULKS[c.charCodeAt(0)] = 1;
/** Aggregates: element count on the line (maps and attributes count pairs). */
const AGGREGATES = new Uint8Array(256);
for (const c of '*~>') AGGREGATES[c.charCodeAt(0)] = 1;
for (const c of '%|') AGGREGATES[c.charCodeAt(0)] = 2;
/** Scalar line types. */
const SCALARS = new Uint8Array(256);
for (const c of '+-:_,#(') SCALARS[c.charCodeAt(0)] = 1;

export const T_ARRAY = 42; // '*'
export const T_ERROR = 45; // '-'
export const T_BLOB_ERROR = 33; // '!'
export const T_PUSH = 62; // '>'
export const T_ATTRIBUTE = 124; // '|'
export const T_INLINE = 0;

export interface RespValue {
  /** Type byte of the top-level value ('*', '+', '-', …) or T_INLINE for an inline command. */
  type: number;
  /** Scalar elements of a top-level aggregate (or the words of an inline command), first MAX_ELEMS, each cut at 64 bytes; null for non-scalars. */
  readonly elems: (string | null)[];
  /** Number of elements announced (for aggregates) or words (inline). */
  count: number;
  /** For '-' / '!': the error text's first 64 bytes. */
  text: string;
  /** Bytes of the whole value on the wire. */
  bytes: number;
  startNs: number;
  endNs: number;
}

export interface RespSink {
  value(v: RespValue): void;
  lost(tsNs: number): void;
}

const enum Mode { Line, Bulk, Lost }

export class RespReader {
  readonly #sink: RespSink;
  readonly #inline: boolean;
  #mode = Mode.Line;
  readonly #line = new Uint8Array(LINE_KEEP);
  #lineLen = 0; // bytes kept
  #lineTotal = 0; // bytes of the line seen so far
  #bulkLeft = 0; // payload + CRLF bytes still to consume
  #bulkKeep = 0; // payload bytes wanted for an element
  readonly #bulk = new Uint8Array(ELEM_MAX);
  #bulkLen = 0;
  readonly #counts = new Float64Array(MAX_DEPTH);
  readonly #attr = new Uint8Array(MAX_DEPTH);
  #depth = 0;
  #inTop = false;
  /** Depth-0 attribute being skipped (not a reply of its own). */
  #topAttr = false;
  readonly #v: RespValue = { type: 0, elems: [], count: 0, text: '', bytes: 0, startNs: 0, endNs: 0 };

  /** `inline`: the request side, where a line not starting with a RESP type is an inline command. */
  constructor(sink: RespSink, inline: boolean) {
    this.#sink = sink;
    this.#inline = inline;
  }

  get isLost(): boolean { return this.#mode === Mode.Lost; }

  reset(): void {
    this.#mode = Mode.Line;
    this.#lineLen = 0;
    this.#lineTotal = 0;
    this.#depth = 0;
    this.#inTop = false;
    this.#topAttr = false;
  }

  markLost(tsNs: number): void {
    if (this.#mode === Mode.Lost) return;
    this.#mode = Mode.Lost;
    this.#sink.lost(tsNs);
  }

  feed(b: Uint8Array, length: number, tsNs: number): void {
    let off = 0;
    const end = b.length;
    if (this.#mode === Mode.Lost) {
      if (!this.#startsValue(b, end)) return;
      this.reset();
    }
    while (off < end && this.#mode !== Mode.Lost) {
      if (!this.#inTop) this.#beginTop(tsNs);
      if (this.#mode === Mode.Bulk) {
        const n = Math.min(this.#bulkLeft, end - off);
        if (this.#bulkLen < this.#bulkKeep) {
          const k = Math.min(n, this.#bulkKeep - this.#bulkLen);
          this.#bulk.set(b.subarray(off, off + k), this.#bulkLen);
          this.#bulkLen += k;
        }
        this.#bulkLeft -= n;
        this.#v.bytes += n;
        off += n;
        if (this.#bulkLeft === 0) this.#endBulk(tsNs);
        continue;
      }
      // Line mode: find LF
      let nl = -1;
      for (let i = off; i < end; i++) if (b[i] === LF) { nl = i; break; }
      const stop = nl < 0 ? end : nl + 1;
      const n = stop - off;
      if (this.#lineLen < LINE_KEEP) {
        const k = Math.min(n, LINE_KEEP - this.#lineLen);
        this.#line.set(b.subarray(off, off + k), this.#lineLen);
        this.#lineLen += k;
      }
      this.#lineTotal += n;
      this.#v.bytes += n;
      off = stop;
      if (nl >= 0) {
        this.#endLine(tsNs);
      } else if (this.#lineTotal > MAX_LINE) {
        this.markLost(tsNs);
      }
    }
    const gap = length - end;
    if (gap > 0 && this.#mode !== Mode.Lost) {
      if (this.#mode === Mode.Bulk && gap <= this.#bulkLeft) {
        this.#bulkLeft -= gap;
        this.#v.bytes += gap;
        if (this.#bulkLeft === 0) this.#endBulk(tsNs);
      } else if (this.#mode === Mode.Bulk && gap > this.#bulkLeft) {
        this.markLost(tsNs);
      } else {
        this.markLost(tsNs);
      }
    }
  }

  /**
   * Can a command start at b[0]? Only the request side resyncs by itself (clients write whole commands);
   * a reply stream that lost its place stays lost until the session resets it (the next request).
   */
  #startsValue(b: Uint8Array, end: number): boolean {
    if (end < 3 || !this.#inline) return false;
    const t = b[0];
    if (AGGREGATES[t] !== 0 || BULKS[t] === 1) return (b[1] >= 48 && b[1] <= 57) || b[1] === 45;
    return (t >= 65 && t <= 90) || (t >= 97 && t <= 122);
  }

  #beginTop(tsNs: number): void {
    this.#inTop = true;
    const v = this.#v;
    v.type = -1;
    v.elems.length = 0;
    v.count = 0;
    v.text = '';
    v.bytes = 0;
    v.startNs = tsNs;
  }

  #lineLength(): number {
    // kept line without the trailing CR LF (when fully kept)
    let n = this.#lineLen;
    if (this.#lineTotal === this.#lineLen) {
      if (n > 0 && this.#line[n - 1] === LF) n--;
      if (n > 0 && this.#line[n - 1] === CR) n--;
    }
    return n;
  }

  #endLine(tsNs: number): void {
    const len = this.#lineLength();
    const line = this.#line;
    this.#lineLen = 0;
    this.#lineTotal = 0;
    if (len === 0) {
      if (this.#depth === 0 && this.#v.type === -1) { this.#inTop = false; return; } // empty line between values
      this.markLost(tsNs);
      return;
    }
    const t = line[0];
    if (this.#depth === 0 && this.#v.type === -1 && !this.#topAttr) this.#v.type = t;
    if (BULKS[t] === 1 || AGGREGATES[t] !== 0) {
      const n = this.#number(line, 1, len);
      if (n === undefined) { this.markLost(tsNs); return; }
      if (BULKS[t] === 1) {
        if (n < 0) { this.#scalar(null, tsNs); return; }
        if (n > MAX_BULK) { this.markLost(tsNs); return; }
        this.#mode = Mode.Bulk;
        this.#bulkLeft = n + 2;
        this.#bulkLen = 0;
        const elemDepth = this.#depth === 1 && !this.#topAttr && this.#attr[0] === 0 && this.#v.elems.length < MAX_ELEMS;
        this.#bulkKeep = elemDepth || (this.#depth === 0 && t === T_BLOB_ERROR) ? Math.min(n, ELEM_MAX) : 0;
        return;
      }
      // aggregate
      if (this.#depth === 0 && !this.#topAttr && t !== T_ATTRIBUTE) this.#v.count = Math.max(0, n);
      if (n <= 0) { this.#scalar(null, tsNs); return; }
      if (this.#depth >= MAX_DEPTH) { this.markLost(tsNs); return; }
      this.#counts[this.#depth] = n * AGGREGATES[t];
      this.#attr[this.#depth] = t === T_ATTRIBUTE ? 1 : 0;
      if (this.#depth === 0 && t === T_ATTRIBUTE) { this.#topAttr = true; this.#v.type = -1; }
      else if (this.#depth > 0 && this.#depth === 1 && this.#attr[0] === 0 && this.#v.elems.length < MAX_ELEMS) this.#v.elems.push(null);
      this.#depth++;
      return;
    }
    if (SCALARS[t] === 1) {
      if (this.#depth === 0 && (t === T_ERROR)) this.#v.text = ascii(line, 1, len);
      const keep = this.#depth === 1 && this.#attr[0] === 0 && !this.#topAttr;
      this.#scalar(keep ? ascii(line, 1, Math.min(len, ELEM_MAX)) : null, tsNs);
      return;
    }
    if (this.#inline && this.#depth === 0) {
      this.#v.type = T_INLINE;
      this.#inlineWords(line, len);
      this.#complete(tsNs);
      return;
    }
    this.markLost(tsNs);
  }

  #inlineWords(line: Uint8Array, len: number): void {
    let i = 0;
    while (i < len) {
      while (i < len && (line[i] === 32 || line[i] === 9)) i++;
      if (i >= len) break;
      let j = i;
      while (j < len && line[j] !== 32 && line[j] !== 9) j++;
      if (this.#v.elems.length < MAX_ELEMS) this.#v.elems.push(ascii(line, i, j));
      this.#v.count++;
      i = j;
    }
  }

  #number(line: Uint8Array, start: number, end: number): number | undefined {
    if (end <= start || end - start > 12) return undefined;
    let neg = false;
    let i = start;
    if (line[i] === 45) { neg = true; i++; }
    if (i >= end) return undefined;
    let n = 0;
    for (; i < end; i++) {
      const d = line[i] - 48;
      if (d < 0 || d > 9) return undefined;
      n = n * 10 + d;
    }
    return neg ? -n : n;
  }

  #endBulk(tsNs: number): void {
    this.#mode = Mode.Line;
    const keep = this.#bulkKeep > 0;
    const s = keep ? ascii(this.#bulk, 0, this.#bulkLen) : null;
    if (this.#depth === 0 && this.#v.type === T_BLOB_ERROR) this.#v.text = s ?? '';
    this.#scalar(this.#depth === 0 ? null : s, tsNs);
  }

  /** A value that needs nothing more ended at the current depth. */
  #scalar(s: string | null, tsNs: number): void {
    if (this.#depth === 1 && s !== null && this.#attr[0] === 0 && !this.#topAttr && this.#v.elems.length < MAX_ELEMS) this.#v.elems.push(s);
    else if (this.#depth === 1 && s === null && this.#attr[0] === 0 && !this.#topAttr && this.#v.elems.length < MAX_ELEMS) this.#v.elems.push(null);
    // pop completed aggregates
    while (this.#depth > 0) {
      const d = this.#depth - 1;
      if (--this.#counts[d] > 0) return;
      this.#depth--;
      if (this.#attr[d] === 1) {
        // an attribute is not a value: the value it describes follows
        if (this.#depth === 0) this.#topAttr = false;
        return;
      }
    }
    if (this.#topAttr) return;
    this.#complete(tsNs);
  }

  #complete(tsNs: number): void {
    this.#v.endNs = tsNs;
    this.#inTop = false;
    this.#sink.value(this.#v);
  }
}

/** Small helpers shared by the database parsers. */

import type { L7Record, Status } from '../../types.js';

/** Latin-1/ASCII decode of b[start, end) (protocol keywords, numbers, SQLSTATEs). */
export function ascii(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
}

const decoder = new TextDecoder('utf-8');

/** UTF-8 decode of b[start, end) (query text, names); invalid or cut sequences become U+FFFD. */
export function utf8(b: Uint8Array, start: number, end: number): string {
  if (end - start < 64) {
    let plain = true;
    for (let i = start; i < end; i++) if (b[i] >= 0x80) { plain = false; break; }
    if (plain) return ascii(b, start, end);
  }
  return decoder.decode(b.subarray(start, end));
}

/** Index of byte `v` in b[start, end), or -1. */
export function indexOf(b: Uint8Array, v: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === v) return i;
  return -1;
}

/** A FIFO with O(1) push/shift that reuses its array. */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number { return this.#items.length - this.#head; }
  push(v: T): void { this.#items.push(v); }
  peek(): T | undefined { return this.#items[this.#head]; }
  at(i: number): T | undefined { return this.#items[this.#head + i]; }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const v = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 64 && this.#head * 2 > this.#items.length) { this.#items = this.#items.slice(this.#head); this.#head = 0; }
    else if (this.#head === this.#items.length) {
      // emptied by pop when small: `length = 0` drops the backing store, which the next push allocates again
      if (this.#items.length > 64) this.#items.length = 0;
      else while (this.#items.length > 0) this.#items.pop();
      this.#head = 0;
    }
    return v;
  }
  clear(): void { this.#items.length = 0; this.#head = 0; }
}

/** What every database record carries; `attributes` is built by the parser. */
export interface DbRecordInit {
  readonly protocol: string;
  readonly startNs: number;
  readonly endNs: number;
  readonly name: string;
  readonly attributes: Record<string, string | number | boolean>;
  /** undefined: ok. */
  readonly errorType?: string;
  readonly requestSize: number;
  readonly responseSize: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly incomplete?: boolean;
}

/** A database record: status ok/error/unknown, statusLabel ok/failed/unknown (coroot's labels). */
export function dbRecord(r: DbRecordInit): L7Record {
  const status: Status = r.incomplete === true ? 'unknown' : r.errorType !== undefined ? 'error' : 'ok';
  const rec: { -readonly [K in keyof L7Record]: L7Record[K] } = {
    protocol: r.protocol,
    startNs: r.startNs,
    endNs: Math.max(r.endNs, r.startNs),
    name: r.name,
    attributes: r.attributes,
    status,
    statusLabel: status === 'ok' ? 'ok' : status === 'error' ? 'failed' : 'unknown',
    requestSize: r.requestSize,
    responseSize: r.responseSize,
  };
  if (r.errorType !== undefined) {
    rec.errorType = r.errorType;
    r.attributes['error.type'] = r.errorType;
  }
  if (r.traceparent !== undefined) rec.traceparent = r.traceparent;
  if (r.tracestate !== undefined) rec.tracestate = r.tracestate;
  if (r.incomplete === true) rec.incomplete = true;
  return rec;
}

/** Parse a non-negative decimal in b[start, end); -1 if not all digits or too long. */
export function parseDecimal(b: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = b[i] - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

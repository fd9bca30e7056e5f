import { randomFillSync } from 'node:crypto';

/**
 * Trace and span ids as lowercase hex. Derived ids must be computed identically by every Sonde agent
 * (cross-node linking depends on it), so the algorithm is fixed and versioned (`EXCHANGE_KEY_VERSION`):
 *
 *   key   = "sonde1" | tuple | ordinal | name | path      ('|' = the code unit 0x7c between parts)
 *   lanes = four 32-bit FNV-1a-style lanes over the key's UTF-16 code units (distinct offset bases and
 *           multipliers), each finished with murmur3's fmix32
 *   trace id        = hex(lane0, lane1, lane2, lane3)
 *   client span id  = hex(fmix32(lane1 ^ 0x636c6e74), fmix32(lane2 ^ 0x636c6e74))    ("clnt")
 *   server span id  = hex(fmix32(lane1 ^ 0x73727672), fmix32(lane2 ^ 0x73727672))    ("srvr")
 *
 * Not cryptographic: ids only need to be unique, not unguessable. Hex strings are written into a scratch
 * buffer and sliced once (one flat string per id).
 */
export const EXCHANGE_KEY_VERSION = 'sonde1';

const CLIENT_SALT = 0x636c6e74;
const SERVER_SALT = 0x73727672;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0; // int32: stays a small integer in object fields (uint32 would box as a heap number)
}

/** The four hash lanes of one exchange key. */
export class KeyHash {
  // lanes are kept as int32 (| 0): small integers in fields, never boxed
  a = 0x811c9dc5 | 0;
  b = (0x01000193 ^ 0x9e3779b9) | 0;
  c = 0x85ebca6b | 0;
  d = 0xc2b2ae35 | 0;
  n = 0;

  str(s: string): this {
    let { a, b, c, d } = this;
    for (let i = 0; i < s.length; i++) {
      const x = s.charCodeAt(i);
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x01000193) ^ (b >>> 15);
      c = Math.imul(c ^ x, 0x5bd1e995) ^ (c >>> 13);
      d = Math.imul(d ^ x, 0x27d4eb2f) ^ (d >>> 11);
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    this.n += s.length;
    return this;
  }

  /** A non-negative integer as its decimal digits (same code units as String(n), without the string). */
  int(v: number): this {
    if (v >= 10) this.int(Math.floor(v / 10));
    return this.unit(48 + (v % 10));
  }

  /** One code unit (the '|' separator). */
  unit(x: number): this {
    this.a = Math.imul(this.a ^ x, 0x01000193);
    this.b = Math.imul(this.b ^ x, 0x01000193) ^ (this.b >>> 15);
    this.c = Math.imul(this.c ^ x, 0x5bd1e995) ^ (this.c >>> 13);
    this.d = Math.imul(this.d ^ x, 0x27d4eb2f) ^ (this.d >>> 11);
    this.n++;
    return this;
  }

  /** A copy of the lanes so far (to extend a per-connection prefix per exchange). */
  clone(): KeyHash {
    const h = new KeyHash();
    h.a = this.a;
    h.b = this.b;
    h.c = this.c;
    h.d = this.d;
    h.n = this.n;
    return h;
  }

  /** Finishes the lanes (call once). */
  finish(): this {
    const l0 = fmix32(this.a ^ this.n);
    const l1 = fmix32(this.b ^ l0);
    const l2 = fmix32(this.c ^ l1);
    const l3 = fmix32(this.d ^ l2);
    this.a = l0;
    this.b = l1;
    this.c = l2;
    this.d = l3;
    return this;
  }
}

/** The lanes of "version | tuple |": computed once per connection. */
export function hashTuplePrefix(tuple: string): KeyHash {
  return new KeyHash().str(EXCHANGE_KEY_VERSION).unit(0x7c).str(tuple).unit(0x7c);
}

/** The lanes of an exchange key: version | tuple | ordinal | name | path (prefix from hashTuplePrefix). */
export function hashExchange(prefix: KeyHash, ordinal: number, name: string, path: string): KeyHash {
  return prefix.clone().int(ordinal).unit(0x7c).str(name).unit(0x7c).str(path).finish();
}

const SCRATCH_HASH = new KeyHash();

/**
 * hashExchange into a reused scratch KeyHash (no allocation): read its lanes before the next call.
 * The linker copies them into its entries.
 */
export function hashExchangeScratch(prefix: KeyHash, ordinal: number, name: string, path: string): KeyHash {
  const h = SCRATCH_HASH;
  h.a = prefix.a;
  h.b = prefix.b;
  h.c = prefix.c;
  h.d = prefix.d;
  h.n = prefix.n;
  return h.int(ordinal).unit(0x7c).str(name).unit(0x7c).str(path).finish();
}

const HEXCH = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEXCH[i] = '0123456789abcdef'.charCodeAt(i);
const SCRATCH = new Uint8Array(32);
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

function put32(off: number, v: number): void {
  for (let i = 7; i >= 0; i--) {
    SCRATCH[off + i] = HEXCH[v & 15];
    v >>>= 4;
  }
}

/** 32 hex chars of the key's lanes (never all zero). */
export function traceIdOf(h: KeyHash): string {
  return traceIdOfLanes(h.a, h.b, h.c, h.d);
}

/** traceIdOf from the four (finished) lanes. */
export function traceIdOfLanes(a: number, b: number, c: number, d: number): string {
  put32(0, a);
  put32(8, b);
  put32(16, c);
  put32(24, (a | b | c | d) === 0 ? 1 : d);
  return latin1Slice.call(SCRATCH, 0, 32);
}

/** 16 hex chars: the span id of the exchange's client or server end (never all zero). */
export function spanIdOf(h: KeyHash, side: 'client' | 'server'): string {
  return spanIdOfLanes(h.b, h.c, side === 'client');
}

/** spanIdOf from lanes 1 and 2 of a finished key. */
export function spanIdOfLanes(b: number, c: number, client: boolean): string {
  const salt = client ? CLIENT_SALT : SERVER_SALT;
  const x = fmix32(b ^ salt);
  const y = fmix32(c ^ salt);
  put32(0, x);
  put32(8, (x | y) === 0 ? 1 : y);
  return latin1Slice.call(SCRATCH, 0, 16);
}

/** 16 hex chars of two lanes (as spanIdOfLanes prints them). */
export function hexOfLanes2(x: number, y: number): string {
  put32(0, x);
  put32(8, y);
  return latin1Slice.call(SCRATCH, 0, 16);
}

/** 32 hex chars of four lanes (as traceIdOfLanes prints them, without its all-zero rule). */
export function hexOfLanes4(a: number, b: number, c: number, d: number): string {
  put32(0, a);
  put32(8, b);
  put32(16, c);
  put32(24, d);
  return latin1Slice.call(SCRATCH, 0, 32);
}

/** The int32 lane of the 8 hex chars at hex[i, i + 8) (validated hex: W3C traceparent ids). */
export function laneOfHex(hex: string, i: number): number {
  let v = 0;
  for (let k = 0; k < 8; k++) {
    const c = hex.charCodeAt(i + k);
    v = (v << 4) | (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v | 0;
}

/**
 * The two lanes of spanIdOf(h, side) from lanes 1 and 2 of a finished key: `spanLaneX(b, client)` and
 * `spanLaneY(b, c, client)` (which applies the never-all-zero rule).
 */
export function spanLaneX(b: number, client: boolean): number {
  return fmix32(b ^ (client ? CLIENT_SALT : SERVER_SALT));
}

export function spanLaneY(b: number, c: number, client: boolean): number {
  const salt = client ? CLIENT_SALT : SERVER_SALT;
  const y = fmix32(c ^ salt);
  return (fmix32(b ^ salt) | y) === 0 ? 1 : y;
}

/** The last lane of traceIdOf: d, or 1 when all four are zero. */
export function traceLaneD(a: number, b: number, c: number, d: number): number {
  return (a | b | c | d) === 0 ? 1 : d;
}

const POOL = new Uint8Array(4096);
let poolPos = POOL.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > POOL.length) {
      randomFillSync(POOL);
      poolPos = 0;
    }
    let zero = true;
    for (let i = 0; i < bytes; i++) {
      const v = POOL[poolPos++];
      if (v !== 0) zero = false;
      SCRATCH[2 * i] = HEXCH[v >>> 4];
      SCRATCH[2 * i + 1] = HEXCH[v & 15];
    }
    if (!zero) return latin1Slice.call(SCRATCH, 0, 2 * bytes);
  }
}

/** A random int32 lane (random ids as lanes: the caller rejects an all-zero id). */
export function randomLane(): number {
  if (poolPos + 4 > POOL.length) {
    randomFillSync(POOL);
    poolPos = 0;
  }
  const v = (POOL[poolPos] << 24) | (POOL[poolPos + 1] << 16) | (POOL[poolPos + 2] << 8) | POOL[poolPos + 3];
  poolPos += 4;
  return v;
}

export function randomTraceId(): string {
  return randomHex(16);
}

export function randomSpanId(): string {
  return randomHex(8);
}

/** Parsed W3C traceparent (already validated by the parser): version-traceid-parentid-flags. */
export function splitTraceparent(tp: string): { traceId: string; spanId: string; flags: number } {
  return { traceId: tp.slice(3, 35), spanId: tp.slice(36, 52), flags: parseInt(tp.slice(53, 55), 16) || 0 };
}

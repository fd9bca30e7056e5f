import { randomFillSync } from 'node:crypto';

/**
 * Trace and span ids. Derived ids must be computed identically by every Sonde agent (cross-node linking
 * depends on it), so the algorithm is fixed and versioned by the key prefix (`sonde1|`): four 32-bit
 * FNV-1a lanes with distinct offset bases over the key's UTF-16 code units, each finished with
 * murmur3's fmix32. Not cryptographic: ids only need to be unique, not unguessable.
 */

const LANE_SEEDS = [0x811c9dc5, 0x01000193 ^ 0x9e3779b9, 0x85ebca6b, 0xc2b2ae35];
const lanes = new Uint32Array(4);

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashLanes(key: string): Uint32Array {
  let a = LANE_SEEDS[0];
  let b = LANE_SEEDS[1];
  let c = LANE_SEEDS[2];
  let d = LANE_SEEDS[3];
  for (let i = 0; i < key.length; i++) {
    const x = key.charCodeAt(i);
    a = Math.imul(a ^ x, 0x01000193);
    b = Math.imul(b ^ x, 0x01000193) ^ (b >>> 15);
    c = Math.imul(c ^ x, 0x5bd1e995) ^ (c >>> 13);
    d = Math.imul(d ^ x, 0x27d4eb2f) ^ (d >>> 11);
  }
  lanes[0] = fmix32(a ^ key.length);
  lanes[1] = fmix32(b ^ lanes[0]);
  lanes[2] = fmix32(c ^ lanes[1]);
  lanes[3] = fmix32(d ^ lanes[2]);
  return lanes;
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** 32 lowercase hex chars (never all zero) derived from `key`. */
export function deriveTraceId(key: string): string {
  const l = hashLanes(key);
  if ((l[0] | l[1] | l[2] | l[3]) === 0) l[3] = 1;
  return hex8(l[0]) + hex8(l[1]) + hex8(l[2]) + hex8(l[3]);
}

/** 16 lowercase hex chars (never all zero) derived from `key`. */
export function deriveSpanId(key: string): string {
  const l = hashLanes(key);
  if ((l[1] | l[2]) === 0) l[2] = 1;
  return hex8(l[1]) + hex8(l[2]);
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL = new Uint8Array(4096);
let poolPos = POOL.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > POOL.length) {
      randomFillSync(POOL);
      poolPos = 0;
    }
    let s = '';
    let zero = true;
    for (let i = 0; i < bytes; i++) {
      const v = POOL[poolPos++];
      if (v !== 0) zero = false;
      s += HEX[v];
    }
    if (!zero) return s;
  }
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

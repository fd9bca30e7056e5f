import type { L7Record, ParserOptions, ProtocolParser, Direction } from '../../src/receivers/ebpf/l7/types.js';
import { DEFAULT_PARSER_OPTIONS } from '../../src/receivers/ebpf/l7/types.js';

/** One observed chunk of a conversation (a seed for the fuzzer). */
export interface Chunk {
  readonly dir: Direction;
  readonly bytes: Uint8Array;
  /** Real length of the chunk when the capture was truncated (defaults to bytes.length). */
  readonly length?: number;
}

/** A deterministic PRNG (mulberry32) so a failing input can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x0d, 0x0a, 0x20, 0x3a, 0x2c, 0x24, 0x2a, 0x2b, 0x2d];

function mutate(bytes: Uint8Array, rnd: () => number): Uint8Array {
  let b = Uint8Array.from(bytes);
  const ops = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < ops; i++) {
    const pos = Math.floor(rnd() * (b.length + 1));
    switch (Math.floor(rnd() * 7)) {
      case 0: // flip a bit
        if (b.length) b[pos % b.length] ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // interesting byte
        if (b.length) b[pos % b.length] = INTERESTING[Math.floor(rnd() * INTERESTING.length)];
        break;
      case 2: { // insert random bytes
        const n = 1 + Math.floor(rnd() * 8);
        const ins = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
        const nb = new Uint8Array(b.length + n);
        nb.set(b.subarray(0, pos));
        nb.set(ins, pos);
        nb.set(b.subarray(pos), pos + n);
        b = nb;
        break;
      }
      case 3: { // delete a range
        const n = Math.floor(rnd() * 16);
        const nb = new Uint8Array(Math.max(0, b.length - n));
        nb.set(b.subarray(0, Math.min(pos, nb.length)));
        if (pos + n < b.length) nb.set(b.subarray(pos + n), pos);
        b = nb;
        break;
      }
      case 4: // truncate
        b = b.subarray(0, pos);
        break;
      case 5: { // duplicate a range (repeated headers, pipelining)
        const n = Math.min(b.length - (pos % (b.length || 1)), Math.floor(rnd() * 64));
        const part = b.slice(pos % (b.length || 1), (pos % (b.length || 1)) + n);
        const nb = new Uint8Array(b.length + part.length);
        nb.set(b);
        nb.set(part, b.length);
        b = nb;
        break;
      }
      default: { // overwrite with a big length-like value (binary protocols)
        if (b.length >= 4) {
          const p = pos % (b.length - 3);
          b[p] = 0x7f; b[p + 1] = 0xff; b[p + 2] = 0xff; b[p + 3] = 0xff;
        }
      }
    }
  }
  return b;
}

export interface FuzzResult {
  readonly inputs: number;
  readonly records: number;
}

/**
 * Feeds `iterations` mutated conversations to fresh sessions of `parser`: chunks are mutated, re-split at
 * random points, sometimes marked truncated, sometimes sent in the wrong direction. Throws (with the seed
 * to replay) if a session throws, or emits a record that is not well-formed.
 */
export function fuzzParser(parser: ProtocolParser, seeds: readonly (readonly Chunk[])[], iterations: number, seed = 1, opts: ParserOptions = DEFAULT_PARSER_OPTIONS): FuzzResult {
  let records = 0;
  const out: L7Record[] = [];
  for (let i = 0; i < iterations; i++) {
    const s = seed + i;
    const rnd = prng(s);
    const conv = seeds[Math.floor(rnd() * seeds.length)];
    const session = parser.newSession(opts);
    let ts = 1_000_000;
    try {
      for (const c of conv) {
        const bytes = rnd() < 0.7 ? mutate(c.bytes, rnd) : c.bytes;
        const dir = rnd() < 0.05 ? (1 - c.dir) as Direction : c.dir;
        // re-split the chunk the way segments or short writes would
        let off = 0;
        while (off < bytes.length || off === 0) {
          const n = rnd() < 0.5 ? bytes.length - off : 1 + Math.floor(rnd() * Math.max(1, bytes.length - off));
          const part = bytes.subarray(off, off + n);
          const truncated = rnd() < 0.1 ? part.subarray(0, Math.floor(rnd() * part.length)) : part;
          ts += 1000 + Math.floor(rnd() * 1e6);
          session.feed(dir, truncated, part.length + (c.length && off + n >= bytes.length ? c.length - c.bytes.length : 0), ts, out);
          off += Math.max(n, 1);
          if (bytes.length === 0) break;
        }
      }
      session.expire(ts + 120e9, out);
      session.close(ts + 121e9, out);
    } catch (e) {
      throw new Error(`${parser.name} session threw on fuzz input seed=${s}: ${(e as Error).stack ?? String(e)}`);
    }
    for (const r of out) {
      if (r.protocol !== parser.name || typeof r.name !== 'string' || !(r.endNs >= r.startNs)) {
        throw new Error(`${parser.name} emitted a malformed record on seed=${s}: ${JSON.stringify(r)}`);
      }
    }
    records += out.length;
    out.length = 0;
  }
  return { inputs: iterations, records };
}

/** Iterations for fuzz tests: ≥ 100k in CI; SONDE_FUZZ_ITERATIONS raises it for a longer run. */
export function fuzzIterations(defaultCount = 100_000): number {
  const env = Number(process.env.SONDE_FUZZ_ITERATIONS);
  return Number.isFinite(env) && env > 0 ? env : defaultCount;
}

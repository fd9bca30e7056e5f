import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Direction } from '../../../src/receivers/ebpf/l7/types.js';

export interface FixtureChunk {
  readonly dir: Direction;
  /** Nanoseconds since the connection's first byte. */
  readonly tsNs: number;
  readonly bytes: Uint8Array;
}

const root = new URL('../../../../', import.meta.url).pathname;
const MAGIC = 'SONDE-L7-FIXTURE 1\n';

/** A recorded conversation from test/fixtures/l7/<dir>/<name>.bin (see the README there). */
export function loadFixture(dir: string, name: string): FixtureChunk[] {
  const b = readFileSync(join(root, 'test/fixtures/l7', dir, `${name}.bin`));
  if (b.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new Error(`${name}: not a fixture`);
  const out: FixtureChunk[] = [];
  let off = MAGIC.length;
  while (off < b.length) {
    const dir = b.readUInt8(off) as Direction;
    const tsNs = b.readUInt32LE(off + 1) * 1000;
    const len = b.readUInt32LE(off + 5);
    out.push({ dir, tsNs, bytes: new Uint8Array(b.subarray(off + 9, off + 9 + len)) });
    off += 9 + len;
  }
  return out;
}

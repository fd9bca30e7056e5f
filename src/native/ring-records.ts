// Walking a batch Buffer from a ring reader. A batch is a verbatim slice of the BPF ring
// buffer: records of { u32 len_flags, u32 pg_off, data[len], pad to 8 } (native/src/ring.c).
import { ENUMS } from './layouts.generated.js';

const HDR = ENUMS.BPF_RINGBUF_HDR_SZ;
const DISCARD = ENUMS.BPF_RINGBUF_DISCARD_BIT;
const LEN_MASK = ~(ENUMS.BPF_RINGBUF_BUSY_BIT | ENUMS.BPF_RINGBUF_DISCARD_BIT) >>> 0;

/** Called once per committed record: `offset` is where the record's data starts in `view`. */
export type RecordFn = (view: DataView, offset: number, length: number) => void;

const views = new WeakMap<ArrayBufferLike, DataView>();

/** One DataView per underlying ArrayBuffer, reused across batches (readers reuse their Buffer). */
export function viewOf(buf: Buffer): DataView {
  let v = views.get(buf.buffer);
  if (!v) {
    v = new DataView(buf.buffer);
    views.set(buf.buffer, v);
  }
  return v;
}

/** Calls fn for each non-discarded record in buf[0, bytes); returns the number of records. */
export function forEachRecord(buf: Buffer, bytes: number, fn: RecordFn): number {
  if (bytes > buf.length) throw new RangeError(`batch of ${bytes} bytes exceeds its ${buf.length}-byte buffer`);
  const view = viewOf(buf);
  const base = buf.byteOffset;
  let off = 0;
  let n = 0;
  while (off + HDR <= bytes) {
    const lenFlags = view.getUint32(base + off, true);
    const len = (lenFlags & LEN_MASK) >>> 0;
    const data = off + HDR;
    if (data + len > bytes) throw new RangeError(`truncated ring record at offset ${off}`);
    if ((lenFlags & DISCARD) === 0) {
      fn(view, base + data, len);
      n++;
    }
    off = (data + len + 7) & ~7;
  }
  return n;
}

/** Encodes records in the ring format (tests, FakeNative, fixture recording). */
export function encodeRecords(records: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const r of records) total += (HDR + r.length + 7) & ~7;
  const out = Buffer.alloc(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32LE(r.length, off);
    out.set(r, off + HDR);
    off += (HDR + r.length + 7) & ~7;
  }
  return out;
}

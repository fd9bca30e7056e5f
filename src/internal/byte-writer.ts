/**
 * A growable output buffer with the writes every hand-rolled wire encoder here shares (protobuf,
 * ClickHouse RowBinary): unsigned LEB128 varints and varint-length-prefixed UTF-8 strings. Encoders
 * extend it with their own primitives and write into one reused buffer (no per-field allocation).
 */
export class ByteWriter {
  buf: Buffer;
  pos = 0;
  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.pos);
    this.buf = nb;
  }
  /** Unsigned LEB128 varint, exact up to 2^53. */
  varint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    if (v < 0x80) {
      b[this.pos++] = v;
      return;
    }
    if (v < 0x80000000) {
      // 31-bit fast path with integer shifts.
      while (v >= 0x80) {
        b[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[this.pos++] = v;
      return;
    }
    while (v >= 0x80) {
      b[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
  }
  /** A varint byte length, then the UTF-8 bytes (protobuf's string payload, RowBinary's String). */
  lenString(s: string): void {
    const len = s.length;
    if (len < 128) {
      // Short strings: copy char codes while they are ASCII (cheaper than Buffer#write for a few bytes).
      this.ensure(1 + len * 3);
      const b = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === len) {
        b[this.pos] = len;
        this.pos = start + len;
        return;
      }
    }
    const max = len * 3;
    if (max < 128) {
      // One-byte length prefix: write the bytes, then the real length.
      this.ensure(1 + max);
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
  reset(): void {
    this.pos = 0;
  }
}

/**
 * Minimal protobuf wire-format reader and writer for the few messages Sonde encodes by hand
 * (remote-write requests, google.rpc.Status/RetryInfo). Hot-path encoders write into one growable
 * buffer with length prefixes back-patched, so there is no per-field allocation.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export class ProtoReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  /** A varint as a JS number (exact up to 2^53). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error('protobuf: varint too long');
  }
  /** A signed int64 varint (two's complement) as a JS number. */
  int64(): number {
    const v = this.varintBig();
    return Number(BigInt.asIntN(64, v));
  }
  varintBig(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
    }
    throw new Error('protobuf: varint too long');
  }
  tag(): { field: number; wire: number } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: t & 7 };
  }
  /** Start/end offsets of a length-delimited field's payload; advances past it. */
  lenRange(): [number, number] {
    const n = this.varint();
    const s = this.pos;
    if (s + n > this.end) throw new Error('protobuf: truncated length-delimited field');
    this.pos = s + n;
    return [s, s + n];
  }
  bytes(): Uint8Array {
    const [s, e] = this.lenRange();
    return this.buf.subarray(s, e);
  }
  string(): string {
    const [s, e] = this.lenRange();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + s, e - s).toString('utf8');
  }
  double(): number {
    if (this.pos + 8 > this.end) throw new Error('protobuf: truncated double');
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE(0);
    this.pos += 8;
    return v;
  }
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT: this.varint(); break;
      case WIRE_I64: this.pos += 8; break;
      case WIRE_LEN: this.lenRange(); break;
      case WIRE_I32: this.pos += 4; break;
      default: throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new Error('protobuf: truncated field');
  }
}

/** Largest payload a length prefix of 0..4 varint bytes can carry (exclusive). */
const LEN_LIMIT = [0, 128, 16384, 2097152, 268435456];

/** Growable output buffer with the handful of writes Sonde needs. */
export class ProtoWriter {
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
  /** int64 (negative values take 10 bytes, two's complement). */
  int64(v: number): void {
    if (v >= 0) return this.varint(v);
    let b = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (b >= 0x80n) {
      this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.pos++] = Number(b);
  }
  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  /** A string field (tag + length + utf-8). */
  string(field: number, s: string): void {
    const len = s.length;
    this.tag(field, WIRE_LEN);
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
  bytesField(field: number, b: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(b.length);
    this.raw(b);
  }
  /**
   * Starts a length-delimited field with a fixed-width (`reserve` bytes) length prefix; finish with
   * `endLen(mark)`. A non-minimal varint length is valid protobuf and avoids moving the payload.
   */
  beginLen(field: number, reserve = 3): number {
    this.tag(field, WIRE_LEN);
    this.ensure(reserve);
    const mark = this.pos;
    this.pos += reserve;
    return mark * 8 + reserve;
  }
  endLen(token: number): void {
    const reserve = token & 7;
    const mark = (token - reserve) / 8;
    let len = this.pos - mark - reserve;
    if (len >= LEN_LIMIT[reserve]) throw new Error(`protobuf: nested message of ${len} bytes exceeds its ${reserve}-byte length prefix`);
    const b = this.buf;
    const last = mark + reserve - 1;
    for (let i = mark; i < last; i++) {
      b[i] = (len & 0x7f) | 0x80;
      len >>>= 7;
    }
    b[last] = len;
  }
  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
  reset(): void {
    this.pos = 0;
  }
}

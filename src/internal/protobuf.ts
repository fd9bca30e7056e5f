/**
 * Minimal protobuf wire-format reader and writer for the few messages Sonde encodes by hand
 * (remote-write requests, google.rpc.Status/RetryInfo). Hot-path encoders write into one growable
 * buffer with length prefixes back-patched, so there is no per-field allocation.
 */

import { ByteWriter } from './byte-writer.js';

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

/** Protobuf wire-format writer: ByteWriter's varints and strings plus tags, int64, doubles, nested lengths. */
export class ProtoWriter extends ByteWriter {
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
    this.tag(field, WIRE_LEN);
    this.lenString(s);
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
}

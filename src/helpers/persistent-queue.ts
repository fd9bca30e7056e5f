/**
 * The on-disk store behind `sending_queue.storage`: append-only segment files of CRC-framed records plus
 * one ack file per segment. A record is written (to the page cache; see `fsync`) before the exporter
 * accepts the data, read back when a consumer sends it, and acknowledged once the backend took it (or it
 * was dropped for good). A segment whose records are all acknowledged is deleted. After a restart every
 * unacknowledged record is replayed in order.
 *
 * Crash safety: a record is only trusted when its magic, length and CRC-32 check out. A torn tail (the
 * agent died mid-write) or a damaged record is skipped and counted; the reader then scans forward for the
 * next valid record. A lost ack only causes a resend (at-least-once). New writes never go to a segment
 * left by an earlier run, so a torn tail is never appended to.
 *
 * Record:  magic u32 "SQR1" | body length u32 | crc32(body) u32 | body
 * Body:    items u32 | record index u32 | partition u16 | key length u16 | key (utf-8) | data
 * Ack file: u32 record indexes (position of the record in its segment), appended.
 *
 * I/O is synchronous: records are small, writes land in the page cache, and ordering stays trivial.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

const MAGIC = 0x53515231; // "SQR1"
const HEADER = 12;
const BODY_FIXED = 12;
const MAX_BODY = 1 << 30;
/** Bytes a record takes in a segment beyond its key and data. */
export const RECORD_OVERHEAD = HEADER + BODY_FIXED;

const crc32: (b: Uint8Array) => number = (zlib as { crc32?: (b: Uint8Array) => number }).crc32 ?? crc32Js;

let CRC_TABLE: Uint32Array | undefined;
function crc32Js(b: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Where a record lives; what the in-memory queue keeps instead of the data. */
export interface StoredRecord {
  readonly segment: Segment;
  readonly index: number;
  readonly offset: number; // of the data inside the segment file
  readonly length: number; // data bytes
  readonly items: number;
  readonly partition: number;
  readonly key: string;
  /** Bytes the record takes in the segment file (header + body). */
  readonly size: number;
}

export class Segment {
  readonly seq: number;
  readonly path: string;
  readonly ackPath: string;
  fd: number;
  ackFd = -1;
  ackSize = 0;
  size = 0;
  records = 0;
  live = 0;
  sealed = false;
  constructor(seq: number, dir: string, fd: number) {
    this.seq = seq;
    this.path = join(dir, `${String(seq).padStart(16, '0')}.seg`);
    this.ackPath = join(dir, `${String(seq).padStart(16, '0')}.ack`);
    this.fd = fd;
  }
}

export interface StoreOptions {
  readonly dir: string;
  /** Upper bound on the bytes of all segment files. */
  readonly maxBytes: number;
  /** A new segment starts when the current one would pass this size. */
  readonly segmentBytes?: number;
  /** fsync after every write (durable across power loss; slower). */
  readonly fsync?: boolean;
}

export interface OpenResult {
  /** Unacknowledged records from earlier runs, oldest first. */
  readonly replay: StoredRecord[];
  /** Damaged records (or torn tails) skipped while reading. */
  readonly corrupt: number;
}

export class DiskStore {
  readonly #opts: StoreOptions;
  readonly #segmentBytes: number;
  readonly #segments = new Map<number, Segment>();
  #current?: Segment;
  #nextSeq = 1;
  #bytes = 0;
  #closed = false;

  constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#segmentBytes = opts.segmentBytes ?? Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(opts.maxBytes / 8)));
  }

  /** Bytes used by segment files (including acknowledged records of segments still in use). */
  get bytes(): number {
    return this.#bytes;
  }

  open(): OpenResult {
    mkdirSync(this.#opts.dir, { recursive: true });
    const names = readdirSync(this.#opts.dir).filter((n) => /^\d{16}\.seg$/.test(n)).sort();
    const replay: StoredRecord[] = [];
    let corrupt = 0;
    for (const n of names) {
      const seq = Number(n.slice(0, 16));
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
      const seg = new Segment(seq, this.#opts.dir, -1);
      const acked = this.#readAcks(seg.ackPath);
      const buf = readFileSync(seg.path);
      const found: StoredRecord[] = [];
      corrupt += scanRecords(buf, seg, found);
      seg.records = found.reduce((m, r) => Math.max(m, r.index + 1), 0);
      seg.size = buf.length;
      seg.sealed = true;
      for (const r of found) if (!acked.has(r.index)) replay.push(r);
      seg.live = found.filter((r) => !acked.has(r.index)).length;
      if (seg.live === 0) {
        this.#remove(seg);
        continue;
      }
      seg.fd = openSync(seg.path, 'r');
      seg.ackFd = openSync(seg.ackPath, existsSync(seg.ackPath) ? 'r+' : 'w');
      seg.ackSize = fstatSync(seg.ackFd).size & ~3; // a torn entry is overwritten by the next ack
      this.#segments.set(seq, seg);
      this.#bytes += seg.size;
    }
    // Stray ack files whose segment is gone.
    for (const n of readdirSync(this.#opts.dir)) {
      if (/^\d{16}\.ack$/.test(n) && !existsSync(join(this.#opts.dir, n.replace(/\.ack$/, '.seg')))) rmSync(join(this.#opts.dir, n), { force: true });
    }
    return { replay, corrupt };
  }

  #readAcks(path: string): Set<number> {
    const out = new Set<number>();
    if (!existsSync(path)) return out;
    const b = readFileSync(path);
    for (let o = 0; o + 4 <= b.length; o += 4) out.add(b.readUInt32LE(o)); // a torn last entry is ignored
    return out;
  }

  /** Space check without writing. */
  fits(dataBytes: number, keyBytes: number): boolean {
    return this.#bytes + HEADER + BODY_FIXED + keyBytes + dataBytes <= this.#opts.maxBytes;
  }

  /** Appends one record; returns undefined when the store is full. */
  append(data: Uint8Array, items: number, partition: number, key: string): StoredRecord | undefined {
    if (this.#closed) throw new Error('persistent queue is closed');
    const keyBuf = Buffer.from(key, 'utf8');
    const bodyLen = BODY_FIXED + keyBuf.length + data.length;
    const size = HEADER + bodyLen;
    if (this.#bytes + size > this.#opts.maxBytes) return undefined;
    let seg = this.#current;
    if (!seg || (seg.size > 0 && seg.size + size > this.#segmentBytes)) seg = this.#rotate();
    const rec = Buffer.allocUnsafe(HEADER + BODY_FIXED + keyBuf.length);
    const index = seg.records++;
    rec.writeUInt32LE(items, HEADER);
    rec.writeUInt32LE(index, HEADER + 4);
    rec.writeUInt16LE(partition, HEADER + 8);
    rec.writeUInt16LE(keyBuf.length, HEADER + 10);
    keyBuf.copy(rec, HEADER + BODY_FIXED);
    const crc = crc32Concat(rec.subarray(HEADER), data);
    rec.writeUInt32LE(MAGIC, 0);
    rec.writeUInt32LE(bodyLen, 4);
    rec.writeUInt32LE(crc, 8);
    const offset = seg.size;
    writeAll(seg.fd, rec, offset);
    writeAll(seg.fd, data, offset + rec.length);
    if (this.#opts.fsync) fsyncSync(seg.fd);
    seg.size += size;
    seg.live++;
    this.#bytes += size;
    return { segment: seg, index, offset: offset + rec.length, length: data.length, items, partition, key, size };
  }

  #rotate(): Segment {
    if (this.#current) {
      this.#current.sealed = true;
      if (this.#current.live === 0) this.#remove(this.#current);
    }
    const seq = this.#nextSeq++;
    const seg = new Segment(seq, this.#opts.dir, -1);
    seg.fd = openSync(seg.path, 'w+');
    seg.ackFd = openSync(seg.ackPath, 'w');
    this.#segments.set(seq, seg);
    this.#current = seg;
    return seg;
  }

  read(r: StoredRecord): Buffer {
    const out = Buffer.allocUnsafe(r.length);
    let got = 0;
    while (got < r.length) {
      const n = readSync(r.segment.fd, out, got, r.length - got, r.offset + got);
      if (n === 0) throw new Error(`persistent queue: short read in ${r.segment.path}`);
      got += n;
    }
    return out;
  }

  /** The record was delivered or dropped for good. */
  ack(r: StoredRecord): void {
    const seg = r.segment;
    if (seg.fd < 0) return;
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(r.index, 0);
    writeAll(seg.ackFd, b, seg.ackSize);
    seg.ackSize += 4;
    seg.live--;
    if (seg.live === 0 && seg.sealed) this.#remove(seg);
  }

  #remove(seg: Segment): void {
    if (seg.fd >= 0) closeSync(seg.fd);
    if (seg.ackFd >= 0) closeSync(seg.ackFd);
    seg.fd = -1;
    seg.ackFd = -1;
    if (this.#segments.delete(seg.seq)) this.#bytes -= seg.size;
    if (this.#current === seg) this.#current = undefined;
    try {
      unlinkSync(seg.path);
    } catch { /* already gone */ }
    rmSync(seg.ackPath, { force: true });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const seg of this.#segments.values()) {
      if (seg.fd >= 0) closeSync(seg.fd);
      if (seg.ackFd >= 0) closeSync(seg.ackFd);
      seg.fd = -1;
      seg.ackFd = -1;
    }
    // An empty current segment is left for the next run, which removes it (no live records).
  }
}

function writeAll(fd: number, b: Uint8Array, position: number): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done, position + done);
}

function crc32Concat(a: Uint8Array, b: Uint8Array): number {
  // zlib.crc32 takes an initial value: crc32(b, crc32(a)).
  const z = (zlib as { crc32?: (b: Uint8Array, init?: number) => number }).crc32;
  if (z) return z(b, z(a));
  const joined = Buffer.concat([a, b]);
  return crc32(joined);
}

/** Parses every valid record of a segment into `out`; returns how many damaged spots were skipped. */
export function scanRecords(buf: Buffer, seg: Segment, out: StoredRecord[]): number {
  let corrupt = 0;
  let o = 0;
  let inBadRun = false;
  while (o + HEADER <= buf.length) {
    const ok = buf.readUInt32LE(o) === MAGIC && (() => {
      const len = buf.readUInt32LE(o + 4);
      if (len < BODY_FIXED || len > MAX_BODY || o + HEADER + len > buf.length) return false;
      return crc32(buf.subarray(o + HEADER, o + HEADER + len)) === buf.readUInt32LE(o + 8);
    })();
    if (!ok) {
      if (!inBadRun) corrupt++;
      inBadRun = true;
      // Resynchronise: look for the next magic after this position.
      const next = buf.indexOf(MAGIC_BYTES, o + 1);
      if (next < 0) break;
      o = next;
      continue;
    }
    inBadRun = false;
    const len = buf.readUInt32LE(o + 4);
    const body = o + HEADER;
    const items = buf.readUInt32LE(body);
    const index = buf.readUInt32LE(body + 4);
    const partition = buf.readUInt16LE(body + 8);
    const keyLen = buf.readUInt16LE(body + 10);
    const key = buf.toString('utf8', body + BODY_FIXED, body + BODY_FIXED + keyLen);
    const dataOff = body + BODY_FIXED + keyLen;
    out.push({ segment: seg, index, offset: dataOff, length: len - BODY_FIXED - keyLen, items, partition, key, size: HEADER + len });
    o = body + len;
  }
  if (o < buf.length && o + HEADER > buf.length && !inBadRun) corrupt++; // torn header at the tail
  return corrupt;
}

const MAGIC_BYTES = (() => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(MAGIC, 0);
  return b;
})();

/**
 * memcached over captured chunks, text and binary protocols (chosen per connection by the first byte:
 * 0x80/0x81 is binary).
 *
 * Text: one record per command line. Storage commands' data blocks and VALUE blocks are skipped by their
 * declared length (across chunks and capture gaps, never copied). Retrieval commands (get, gets, gat,
 * gats) count hits (VALUE blocks) and misses (keys − hits) into `sonde.memcached.hits`/`.misses`, with
 * db.operation.batch.size for multi-key gets. `noreply` commands are recorded at once (no reply comes).
 * ERROR / CLIENT_ERROR / SERVER_ERROR make a failed record with that word as error.type; NOT_FOUND,
 * NOT_STORED, EXISTS are outcomes, not failures (in db.response.status_code). Meta commands (mg, ms, md,
 * ma, mn, me) are parsed; the `q` flag is handled (a quiet command whose reply is suppressed completes
 * when a later reply — at the latest the `mn` that ends a quiet batch — arrives).
 *
 * Binary: requests and responses matched by opaque; quiet commands (getq, setq, …) that get no response
 * complete when a later response arrives. Status 0x01 (not found), 0x02 (exists) and 0x05 (not stored)
 * are outcomes; 0x03, 0x04, 0x06 and ≥ 0x20 are failures.
 *
 * Keys only with `recordKeys` (db.query.text = command and keys); values never.
 */
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../types.js';
import { Direction } from '../../types.js';
import { FramedReader } from '../common/framed.js';
import { Fifo, ascii, dbRecord } from '../common/util.js';

const PROTOCOL = 'memcached';
const MAX_PENDING = 4096;
const LINE_KEEP = 1024;
const MAX_LINE = 64 * 1024;
const MAX_DATA = 1 << 30;
const LF = 10, CR = 13;

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
const NO_REPLY = new Set(['quit', 'watch', 'shutdown']);
const KNOWN = new Set([...STORAGE, ...RETRIEVAL, 'delete', 'incr', 'decr', 'touch', 'flush_all', 'version', 'stats', 'verbosity', 'quit',
  'mg', 'ms', 'md', 'ma', 'mn', 'me', 'cache_memlimit', 'shutdown', 'lru_crawler', 'slabs', 'lru', 'watch', 'misbehave', 'verbosity']);
const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
const ERRORS = new Set(['ERROR', 'CLIENT_ERROR', 'SERVER_ERROR']);

interface Command {
  readonly startNs: number;
  readonly op: string;
  readonly keys: string[];
  /** Number of keys (retrieval). */
  readonly keyCount: number;
  reqSize: number;
  respSize: number;
  hits: number;
  readonly quiet: boolean;
  /** Binary: the opaque the response echoes. */
  readonly opaque: number;
}

/** Split a line into words (spaces); at most `max` words. */
function words(b: Uint8Array, start: number, end: number, max: number): string[] {
  const out: string[] = [];
  let i = start;
  while (i < end && out.length < max) {
    while (i < end && b[i] === 32) i++;
    if (i >= end) break;
    let j = i;
    while (j < end && b[j] !== 32) j++;
    out.push(ascii(b, i, j));
    i = j;
  }
  return out;
}

/** Line/data-block reader for the text protocol. */
class TextReader {
  readonly #line = new Uint8Array(LINE_KEEP);
  #lineLen = 0;
  #lineTotal = 0;
  #dataLeft = 0;
  #lost = false;
  #startTs = 0;
  readonly #onLine: (b: Uint8Array, len: number, total: number, tsNs: number) => number;
  readonly #onData: (n: number) => void;
  readonly #resync: ((b: Uint8Array) => boolean) | undefined;

  constructor(onLine: (b: Uint8Array, len: number, total: number, tsNs: number) => number, onData: (n: number) => void, resync?: (b: Uint8Array) => boolean) {
    this.#onLine = onLine;
    this.#onData = onData;
    this.#resync = resync;
  }

  get isLost(): boolean { return this.#lost; }
  reset(): void { this.#lost = false; this.#lineLen = 0; this.#lineTotal = 0; this.#dataLeft = 0; }
  markLost(): void { this.#lost = true; }

  feed(b: Uint8Array, length: number, tsNs: number): void {
    if (this.#lost) {
      if (this.#resync === undefined || !this.#resync(b)) return;
      this.reset();
    }
    let off = 0;
    const end = b.length;
    while (off < end && !this.#lost) {
      if (this.#dataLeft > 0) {
        const n = Math.min(this.#dataLeft, end - off);
        this.#dataLeft -= n;
        this.#onData(n);
        off += n;
        continue;
      }
      let nl = -1;
      for (let i = off; i < end; i++) if (b[i] === LF) { nl = i; break; }
      const stop = nl < 0 ? end : nl + 1;
      const n = stop - off;
      if (this.#lineTotal === 0) this.#startTs = tsNs;
      if (this.#lineLen < LINE_KEEP) {
        const k = Math.min(n, LINE_KEEP - this.#lineLen);
        this.#line.set(b.subarray(off, off + k), this.#lineLen);
        this.#lineLen += k;
      }
      this.#lineTotal += n;
      off = stop;
      if (nl >= 0) {
        let len = this.#lineLen;
        if (this.#lineTotal === this.#lineLen) { len--; if (len > 0 && this.#line[len - 1] === CR) len--; }
        const total = this.#lineTotal;
        this.#lineLen = 0;
        this.#lineTotal = 0;
        const data = this.#onLine(this.#line, len, total, this.#startTs);
        if (data < 0) { this.#lost = true; return; }
        this.#dataLeft = data;
      } else if (this.#lineTotal > MAX_LINE) {
        this.#lost = true;
      }
    }
    const gap = length - end;
    if (gap > 0 && !this.#lost) {
      if (this.#dataLeft >= gap) { this.#dataLeft -= gap; this.#onData(gap); } else this.#lost = true;
    }
  }
}

const BIN_OPS: Record<number, string> = {
  0x00: 'get', 0x01: 'set', 0x02: 'add', 0x03: 'replace', 0x04: 'delete', 0x05: 'increment', 0x06: 'decrement', 0x07: 'quit', 0x08: 'flush',
  0x09: 'getq', 0x0a: 'noop', 0x0b: 'version', 0x0c: 'getk', 0x0d: 'getkq', 0x0e: 'append', 0x0f: 'prepend', 0x10: 'stat', 0x11: 'setq',
  0x12: 'addq', 0x13: 'replaceq', 0x14: 'deleteq', 0x15: 'incrementq', 0x16: 'decrementq', 0x17: 'quitq', 0x18: 'flushq', 0x19: 'appendq',
  0x1a: 'prependq', 0x1b: 'verbosity', 0x1c: 'touch', 0x1d: 'gat', 0x1e: 'gatq', 0x20: 'sasl_list_mechs', 0x21: 'sasl_auth', 0x22: 'sasl_step',
};
const BIN_QUIET = new Set([0x09, 0x0d, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1e]);
const BIN_STATUS: Record<number, string> = {
  0x00: 'OK', 0x01: 'KEY_NOT_FOUND', 0x02: 'KEY_EXISTS', 0x03: 'VALUE_TOO_LARGE', 0x04: 'INVALID_ARGUMENTS', 0x05: 'ITEM_NOT_STORED',
  0x06: 'NON_NUMERIC_VALUE', 0x07: 'WRONG_VBUCKET', 0x08: 'AUTH_ERROR', 0x09: 'AUTH_CONTINUE', 0x20: 'AUTH_ERROR', 0x21: 'AUTH_CONTINUE',
  0x81: 'UNKNOWN_COMMAND', 0x82: 'OUT_OF_MEMORY', 0x83: 'NOT_SUPPORTED', 0x84: 'INTERNAL_ERROR', 0x85: 'BUSY', 0x86: 'TEMPORARY_FAILURE',
};

const be32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

class MemcachedSession implements ParserSession {
  readonly #opts: ParserOptions;
  #mode: 'unknown' | 'text' | 'binary' = 'unknown';
  readonly #pending = new Fifo<Command>();
  #out: L7Record[] = [];
  #ts = 0;
  #lastRespTs = 0;
  // text
  readonly #treq: TextReader;
  readonly #tresp: TextReader;
  /** The reply being read for the head text command: a VALUE block count so far, STAT lines… */
  #inMulti = false;
  // binary
  readonly #breq: FramedReader;
  readonly #bresp: FramedReader;

  constructor(opts: ParserOptions) {
    this.#opts = opts;
    this.#treq = new TextReader((b, len, total, ts) => this.#requestLine(b, len, total, ts), (n) => this.#requestData(n),
      (b) => b.length > 1 && KNOWN.has(words(b, 0, Math.min(b.length, 16), 1)[0] ?? ''));
    this.#tresp = new TextReader((b, len, total, ts) => this.#responseLine(b, len, total, ts), (n) => this.#responseData(n));
    this.#breq = new FramedReader({
      headerSize: () => 24,
      bodyLength: (h, o) => (h[o] === 0x80 && be32(h, o + 8) <= MAX_DATA ? be32(h, o + 8) : -1),
      keep: (h, o) => h[o + 4] + ((h[o + 2] << 8) | h[o + 3]),
      message: (h, ho, b, bo, blen, bodyLen, ts) => this.#binRequest(h, ho, b, bo, blen, bodyLen, ts),
      lost: () => undefined,
      resync: (b, off, end) => (end - off >= 24 && b[off] === 0x80 ? off : -1),
    }, 512);
    this.#bresp = new FramedReader({
      headerSize: () => 24,
      bodyLength: (h, o) => (h[o] === 0x81 && be32(h, o + 8) <= MAX_DATA ? be32(h, o + 8) : -1),
      keep: () => 0,
      message: (h, ho, _b, _bo, _blen, bodyLen, ts) => this.#binResponse(h, ho, bodyLen, ts),
      lost: () => undefined,
      resync: () => -1,
    }, 64);
  }

  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
    if (length <= 0) return;
    this.#out = out;
    this.#ts = tsNs;
    if (this.#mode === 'unknown' && captured.length > 0) this.#mode = captured[0] === 0x80 || captured[0] === 0x81 ? 'binary' : 'text';
    const binary = this.#mode === 'binary';
    if (dir === Direction.Request) {
      const respLost = binary ? this.#bresp.isLost : this.#tresp.isLost;
      if (respLost && this.#pending.length > 0) this.#completeLost();
      if (binary) this.#breq.feed(captured, length, tsNs); else this.#treq.feed(captured, length, tsNs);
    } else {
      this.#lastRespTs = tsNs;
      const lost = binary ? this.#bresp.isLost : this.#tresp.isLost;
      if (lost) { const c = this.#pending.peek(); if (c !== undefined) c.respSize += length; }
      if (binary) this.#bresp.feed(captured, length, tsNs); else this.#tresp.feed(captured, length, tsNs);
    }
  }

  expire(nowNs: number, out: L7Record[]): void {
    const head = this.#pending.peek();
    if (head === undefined || nowNs - head.startNs < this.#opts.requestTimeoutNs) return;
    this.#out = out;
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) this.#emit(c, nowNs, undefined, undefined, true);
    if (this.#mode === 'binary') this.#bresp.markLost(nowNs); else this.#tresp.markLost();
  }

  close(tsNs: number, out: L7Record[]): void {
    this.#out = out;
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) this.#emit(c, tsNs, undefined, undefined, true);
  }

  #completeLost(): void {
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) this.#emit(c, this.#lastRespTs, undefined, undefined, false);
    this.#inMulti = false;
    if (this.#mode === 'binary') this.#bresp.reset(); else this.#tresp.reset();
  }

  #push(c: Command): void {
    if (this.#pending.length >= MAX_PENDING) this.#emit(this.#pending.shift()!, this.#ts, undefined, undefined, true);
    this.#pending.push(c);
  }

  #emit(c: Command, endNs: number, code: string | undefined, err: string | undefined, incomplete: boolean): void {
    const attrs: Record<string, string | number | boolean> = { 'db.system.name': PROTOCOL, 'db.operation.name': c.op };
    if (this.#opts.recordKeys && c.keys.length > 0) attrs['db.query.text'] = `${c.op} ${c.keys.join(' ')}${c.keyCount > c.keys.length ? ' …' : ''}`;
    if (c.keyCount > 1) attrs['db.operation.batch.size'] = c.keyCount;
    if (code !== undefined) attrs['db.response.status_code'] = code;
    const retrieval = RETRIEVAL.has(c.op) || c.op === 'mg' || c.op === 'get' || c.op === 'getk' || c.op === 'getq' || c.op === 'getkq' || c.op === 'gatq';
    if (retrieval && !incomplete && err === undefined) {
      attrs['sonde.memcached.hits'] = c.hits;
      attrs['sonde.memcached.misses'] = Math.max(0, c.keyCount - c.hits);
    }
    this.#out.push(dbRecord({
      protocol: PROTOCOL, startNs: c.startNs, endNs, name: c.op, attributes: attrs, errorType: err,
      requestSize: c.reqSize, responseSize: incomplete && c.respSize === 0 ? -1 : c.respSize, incomplete,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // text protocol

  #requestLine(b: Uint8Array, len: number, total: number, ts: number): number {
    const w = words(b, 0, len, 64);
    if (w.length === 0) return 0;
    const op = w[0].toLowerCase();
    const base: Command = { startNs: ts, op, keys: [], keyCount: 0, reqSize: total, respSize: 0, hits: 0, quiet: false, opaque: 0 };
    let data = 0;
    let keys: string[] = [];
    let keyCount = 0;
    let noreply = w[w.length - 1] === 'noreply';
    let quiet = false;
    if (STORAGE.has(op)) {
      const n = Number(w[4]);
      if (!Number.isInteger(n) || n < 0 || n > MAX_DATA) return -1;
      data = n + 2;
      keys = w.slice(1, 2);
      keyCount = 1;
    } else if (RETRIEVAL.has(op)) {
      const first = op === 'gat' || op === 'gats' ? 2 : 1;
      keyCount = Math.max(0, w.length - first);
      keys = w.slice(first, first + 8); // (a line longer than 1 KiB: only the keys in its first KiB are counted)
    } else if (META.has(op)) {
      noreply = false;
      keys = op === 'mn' || op === 'me' ? [] : w.slice(1, 2);
      keyCount = keys.length;
      const flags = w.slice(op === 'ms' ? 3 : 2);
      quiet = flags.includes('q');
      if (op === 'ms') {
        const n = Number(w[2]);
        if (!Number.isInteger(n) || n < 0 || n > MAX_DATA) return -1;
        data = n + 2;
      }
    } else if (op === 'delete' || op === 'incr' || op === 'decr' || op === 'touch') {
      keys = w.slice(1, 2);
      keyCount = 1;
    } else if (!KNOWN.has(op)) {
      noreply = false; // unknown words get ERROR
    }
    const c: Command = { ...base, keys, keyCount, quiet };
    if (NO_REPLY.has(op)) return data;
    if (noreply) { this.#pendingData = c; this.#emit(c, ts, undefined, undefined, false); return data; }
    this.#push(c);
    this.#pendingData = c;
    return data;
  }

  /** The command whose data block is being read (its bytes count as request size). */
  #pendingData: Command | undefined;

  #requestData(n: number): void {
    if (this.#pendingData !== undefined) this.#pendingData.reqSize += n;
  }

  /** The command whose reply data block is being read. */
  #respData: Command | undefined;

  #responseData(n: number): void {
    if (this.#respData !== undefined) this.#respData.respSize += n;
  }

  #responseLine(b: Uint8Array, len: number, total: number, ts: number): number {
    let c = this.#pending.peek();
    this.#respData = c;
    if (c === undefined) return 0;
    c.respSize += total;
    const w = words(b, 0, Math.min(len, 128), 6);
    const word = w[0] ?? '';
    // quiet meta commands whose reply was suppressed: this reply is for a later command
    while (c.quiet && !this.#inMulti && ((word === 'MN' && c.op !== 'mn') || (word === 'VA' && c.op !== 'mg') || (word === 'EN' && c.op !== 'mg'))) {
      this.#pending.shift();
      c.respSize -= total;
      this.#emit(c, ts, undefined, undefined, false);
      c = this.#pending.peek();
      this.#respData = c;
      if (c === undefined) return 0;
      c.respSize += total;
    }
    if (RETRIEVAL.has(c.op)) {
      if (word === 'VALUE') {
        this.#inMulti = true;
        c.hits++;
        const n = Number(w[3]);
        return Number.isInteger(n) && n >= 0 && n <= MAX_DATA ? n + 2 : -1;
      }
      if (word === 'END') { this.#finish(c, ts, undefined); return 0; }
      if (ERRORS.has(word)) { this.#finish(c, ts, word); return 0; }
      return -1;
    }
    if (c.op === 'stats' || c.op === 'lru_crawler' || c.op === 'slabs') {
      if (word === 'STAT' || word === 'ITEM') { this.#inMulti = true; return 0; }
      this.#finish(c, ts, ERRORS.has(word) ? word : undefined, word);
      return 0;
    }
    if (c.op === 'mg' && word === 'VA') {
      c.hits = 1;
      const n = Number(w[1]);
      // the record ends at the VA line; its data block still counts into its size
      c.respSize += Number.isInteger(n) && n >= 0 ? n + 2 : 0;
      this.#respData = undefined;
      this.#finish(c, ts, undefined, word);
      return Number.isInteger(n) && n >= 0 && n <= MAX_DATA ? n + 2 : -1;
    }
    if (word.length > 0 && word.charCodeAt(0) >= 48 && word.charCodeAt(0) <= 57) { this.#finish(c, ts, undefined, ''); return 0; } // incr/decr value
    this.#finish(c, ts, ERRORS.has(word) ? word : undefined, word);
    return 0;
  }

  #finish(c: Command, ts: number, err: string | undefined, code?: string): void {
    this.#pending.shift();
    this.#inMulti = false;
    this.#emit(c, ts, code === '' ? undefined : code ?? (err === undefined ? undefined : err), err, false);
  }

  // -------------------------------------------------------------------------------------------
  // binary protocol

  #binRequest(h: Uint8Array, o: number, b: Uint8Array, bo: number, blen: number, bodyLen: number, ts: number): void {
    const opcode = h[o + 1];
    const keyLen = (h[o + 2] << 8) | h[o + 3];
    const extras = h[o + 4];
    const op = BIN_OPS[opcode] ?? `opcode_${opcode}`;
    const keys = keyLen > 0 && blen >= extras + keyLen ? [ascii(b, bo + extras, bo + extras + keyLen)] : [];
    const c: Command = { startNs: ts, op, keys, keyCount: keyLen > 0 ? 1 : 0, reqSize: 24 + bodyLen, respSize: 0, hits: 0, quiet: BIN_QUIET.has(opcode), opaque: be32(h, o + 12) };
    if (opcode === 0x07) return; // quit
    this.#push(c);
  }

  #binResponse(h: Uint8Array, o: number, bodyLen: number, ts: number): void {
    const opaque = be32(h, o + 12);
    const status = (h[o + 6] << 8) | h[o + 7];
    const opcode = h[o + 1];
    let c = this.#pending.peek();
    // quiet requests before this one got no response: they succeeded (or missed, for getq)
    while (c !== undefined && c.opaque !== opaque && c.quiet) {
      this.#pending.shift();
      this.#emit(c, ts, undefined, undefined, false);
      c = this.#pending.peek();
    }
    if (c === undefined || c.opaque !== opaque) return;
    c.respSize += 24 + bodyLen;
    // STAT: one response per statistic, the last one has no key
    if (opcode === 0x10 && ((h[o + 2] << 8) | h[o + 3]) > 0) return;
    this.#pending.shift();
    if (status === 0 && (opcode === 0x00 || opcode === 0x09 || opcode === 0x0c || opcode === 0x0d || opcode === 0x1d || opcode === 0x1e)) c.hits = 1;
    const name = BIN_STATUS[status] ?? `STATUS_${status}`;
    const failed = status === 0x03 || status === 0x04 || status === 0x06 || status >= 0x20;
    this.#emit(c, ts, status === 0 ? undefined : name, failed ? name : undefined, false);
  }
}

/**
 * First bytes: binary magic 0x80 (request) / 0x81 (response) with a known opcode; text requests start
 * with a command word followed by a space or CRLF; text responses with VALUE, END, STORED, NOT_STORED,
 * EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, VERSION, STAT, ERROR, CLIENT_ERROR, SERVER_ERROR, or a meta
 * reply (HD, VA, EN, NF, NS, EX, MN).
 */
const TEXT_REQ = /^(get|gets|gat|gats|set|add|replace|append|prepend|cas|delete|incr|decr|touch|flush_all|version|stats|verbosity|mg|ms|md|ma|mn|me)( |\r\n)/;
const TEXT_RESP = /^(VALUE |END\r\n|STORED\r\n|NOT_STORED\r\n|EXISTS\r\n|NOT_FOUND\r\n|DELETED\r\n|TOUCHED\r\n|OK\r\n|VERSION |STAT |ERROR\r\n|CLIENT_ERROR |SERVER_ERROR |HD[ \r]|VA |EN\r\n|NF[ \r]|NS[ \r]|EX[ \r]|MN\r\n)/;

function detect(first: Uint8Array, dir: Direction): boolean {
  if (first.length >= 24 && (first[0] === 0x80 || first[0] === 0x81)) {
    return first[0] === (dir === Direction.Request ? 0x80 : 0x81) && BIN_OPS[first[1]] !== undefined && first[5] === 0;
  }
  if (first.length < 3) return false;
  const s = String.fromCharCode(...first.subarray(0, Math.min(first.length, 16)));
  return dir === Direction.Request ? TEXT_REQ.test(s) : TEXT_RESP.test(s);
}

export const memcachedParser: ProtocolParser = {
  name: PROTOCOL,
  detect,
  newSession: (opts) => new MemcachedSession(opts),
};

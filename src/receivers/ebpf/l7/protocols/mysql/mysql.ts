/**
 * MySQL / MariaDB client/server protocol (uncompressed, protocol 41) over captured chunks.
 *
 * Records: one per COM_QUERY and one per COM_STMT_EXECUTE (statement text resolved from the
 * COM_STMT_PREPARE whose OK carried the statement id), each ending at the last packet of its reply
 * (OK, ERR, or the EOF/OK that ends the last result set — SERVER_MORE_RESULTS_EXISTS is followed).
 * Housekeeping commands (COM_STMT_PREPARE, COM_INIT_DB, COM_PING, COM_STMT_RESET, COM_CHANGE_USER, …)
 * make a record only when they fail; COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA and COM_QUIT have no reply.
 *
 * The handshake (server version → `mariadb` vs `mysql`, capability flags) and the handshake response
 * (CLIENT_DEPRECATE_EOF, the initial database → db.namespace) are read when seen; COM_INIT_DB that
 * succeeds changes db.namespace. Result sets are followed with or without CLIENT_DEPRECATE_EOF without
 * needing the handshake: a 0xFE packet shorter than 0xFFFFFF is always an EOF/OK terminator (a row
 * starting with 0xFE would be ≥ 16 MiB), and the EOF after column definitions is exactly 5 bytes.
 * An SSL request or compression makes the session go quiet (nothing readable follows).
 */
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../types.js';
import { Direction } from '../../types.js';
import { FramedReader } from '../common/framed.js';
import type { FrameProtocol } from '../common/framed.js';
import { Fifo, ascii, dbRecord, indexOf, utf8 } from '../common/util.js';
import { MYSQL_DIALECT, analyzeSql, sqlSpanName } from '../sql/sanitize.js';

const PROTOCOL = 'mysql';
const MAX_PACKET = 0xffffff;
const MAX_PENDING = 256;
const MAX_STATEMENTS = 512;

// commands
const COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03, COM_FIELD_LIST = 0x04, COM_STATISTICS = 0x09, COM_PROCESS_INFO = 0x0a;
const COM_PING = 0x0e, COM_CHANGE_USER = 0x11, COM_STMT_PREPARE = 0x16, COM_STMT_EXECUTE = 0x17, COM_STMT_SEND_LONG_DATA = 0x18;
const COM_STMT_CLOSE = 0x19, COM_STMT_RESET = 0x1a, COM_SET_OPTION = 0x1b, COM_STMT_FETCH = 0x1c, COM_RESET_CONNECTION = 0x1f;
const COM_STMT_BULK_EXECUTE = 0xfa;

/** Commands a client may send (for validation and detection). */
const COMMANDS = new Uint8Array(256);
for (const c of [0x00, COM_QUIT, COM_INIT_DB, COM_QUERY, COM_FIELD_LIST, 0x05, 0x06, 0x07, 0x08, COM_STATISTICS, COM_PROCESS_INFO, 0x0c, 0x0d,
  COM_PING, 0x11, 0x12, 0x13, 0x14, 0x15, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE, COM_STMT_RESET,
  COM_SET_OPTION, COM_STMT_FETCH, 0x1d, 0x1e, COM_RESET_CONNECTION, COM_STMT_BULK_EXECUTE]) COMMANDS[c] = 1;

const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_COMPRESS = 0x20;
const CLIENT_SSL = 0x800;
const CLIENT_DEPRECATE_EOF = 0x1000000;
const CLIENT_QUERY_ATTRIBUTES = 1 << 27;
const SERVER_MORE_RESULTS_EXISTS = 0x8;
const MARIADB_CACHE_METADATA_EXT = 0x10; // extended capability bit 4 (1 << 36)

const enum Reply {
  /** OK, ERR, or result sets (QUERY, STMT_EXECUTE, PROCESS_INFO). */
  Result,
  /** STMT_PREPARE: OK with statement id, then parameter and column definitions. */
  Prepare,
  /** One OK/ERR/EOF packet. */
  Ok,
  /** One packet whatever it is (COM_STATISTICS). */
  Any,
  /** Column definitions then EOF (COM_FIELD_LIST), or rows then EOF (COM_STMT_FETCH). */
  UntilEof,
}

const enum Phase {
  /** Waiting for the first packet of a reply (or of the next result set). */
  First,
  /** Column definitions (or, for prepare, parameter definitions then column definitions). */
  Columns,
  /** Rows until the terminator. */
  Rows,
}

interface Command {
  readonly startNs: number;
  readonly cmd: number;
  readonly reply: Reply;
  readonly text: string | undefined;
  /** COM_INIT_DB: the schema to switch to on OK. */
  readonly schema: string | undefined;
  reqSize: number;
  respSize: number;
  rows: number;
  errorCode: string | undefined;
  lost: boolean;
  /** Makes a record (QUERY/EXECUTE), or only when it fails. */
  readonly always: boolean;
}

const le16 = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8);
const le24 = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
const le32 = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

/** Length-encoded integer at b[o]: [value, size] (value -1 for NULL 0xFB or a truncated buffer). */
function lenenc(b: Uint8Array, o: number, end: number): [number, number] {
  if (o >= end) return [-1, 1];
  const c = b[o];
  if (c < 0xfb) return [c, 1];
  if (c === 0xfc) return o + 3 <= end ? [le16(b, o + 1), 3] : [-1, 3];
  if (c === 0xfd) return o + 4 <= end ? [le24(b, o + 1), 4] : [-1, 4];
  if (c === 0xfe) return o + 9 <= end ? [le32(b, o + 1) + le32(b, o + 5) * 2 ** 32, 9] : [-1, 9];
  return [-1, 1];
}

class MysqlSession implements ParserSession {
  readonly #opts: ParserOptions;
  readonly #req: FramedReader;
  readonly #resp: FramedReader;
  #out: L7Record[] = [];
  #ts = 0;
  #quiet = false;
  /** Handshake state: 'start' until the first packet tells which side we are on. */
  #auth: 'start' | 'greeting' | 'auth' | 'commands' = 'start';
  #system = PROTOCOL;
  #namespace: string | undefined;
  #clientCaps = 0;
  /** Server capabilities from the greeting (all bits when the greeting was not seen). */
  #serverCaps = 0xffffffff;
  #cacheMetadata = false;
  #queryAttributes = false;
  readonly #pending = new Fifo<Command>();
  readonly #statements = new Map<number, string>();
  #lastRespTs = 0;
  // reply parsing state for the head command
  #phase = Phase.First;
  #defsLeft = 0; // column (or param+column) definitions still expected
  #eofsLeft = 0; // classic EOFs after definition blocks still expected (prepare: up to 2)
  #columnsAfterParams = 0;
  #reqContinues = false; // previous request packet was 0xFFFFFF long
  #respContinues = false;

  constructor(opts: ParserOptions) {
    this.#opts = opts;
    const keepCap = Math.max(64, opts.maxBufferedBytes);
    this.#req = new FramedReader(this.#requestProtocol(keepCap), keepCap);
    this.#resp = new FramedReader(this.#responseProtocol(), 512);
  }

  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
    if (this.#quiet || length <= 0) return;
    this.#out = out;
    this.#ts = tsNs;
    if (dir === Direction.Request) {
      if (this.#resp.isLost && this.#pending.length > 0) this.#completeLost();
      this.#req.feed(captured, length, tsNs);
    } else {
      this.#lastRespTs = tsNs;
      if (this.#resp.isLost) {
        const c = this.#pending.peek();
        if (c !== undefined) { c.respSize += length; c.lost = true; }
      }
      this.#resp.feed(captured, length, tsNs);
    }
  }

  expire(nowNs: number, out: L7Record[]): void {
    const head = this.#pending.peek();
    if (head === undefined || nowNs - head.startNs < this.#opts.requestTimeoutNs) return;
    this.#out = out;
    this.#abandon(nowNs);
    this.#resp.markLost(nowNs);
  }

  close(tsNs: number, out: L7Record[]): void {
    this.#out = out;
    this.#abandon(tsNs);
  }

  #abandon(tsNs: number): void {
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) if (c.always) this.#emit(c, tsNs, true);
    this.#phase = Phase.First;
  }

  #completeLost(): void {
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) if (c.always || c.errorCode !== undefined) this.#emit(c, this.#lastRespTs, false);
    this.#phase = Phase.First;
    this.#respContinues = false;
    this.#resp.reset();
  }

  #emit(c: Command, endNs: number, incomplete: boolean): void {
    const attrs: Record<string, string | number | boolean> = { 'db.system.name': this.#system };
    if (this.#namespace !== undefined) attrs['db.namespace'] = this.#namespace;
    let name = this.#system;
    let traceparent: string | undefined;
    let tracestate: string | undefined;
    if (c.text !== undefined) {
      const info = analyzeSql(c.text, MYSQL_DIALECT, this.#opts.keepSqlLiterals);
      attrs['db.query.text'] = info.text;
      if (info.operation !== undefined) attrs['db.operation.name'] = info.operation;
      if (info.collection !== undefined) attrs['db.collection.name'] = info.collection;
      if (info.statements > 1) attrs['db.operation.batch.size'] = info.statements;
      name = sqlSpanName(info, this.#system);
      traceparent = info.traceparent;
      tracestate = info.tracestate;
    } else {
      const op = COMMAND_NAMES[c.cmd];
      if (op !== undefined) { attrs['db.operation.name'] = op; name = op; }
    }
    if (c.errorCode !== undefined) attrs['db.response.status_code'] = c.errorCode;
    if (!incomplete && !c.lost && (c.reply === Reply.Result)) attrs['db.response.returned_rows'] = c.rows;
    this.#out.push(dbRecord({
      protocol: PROTOCOL, startNs: c.startNs, endNs, name, attributes: attrs, errorType: c.errorCode,
      requestSize: c.reqSize, responseSize: incomplete && c.respSize === 0 ? -1 : c.respSize, traceparent, tracestate, incomplete,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // client → server

  #requestProtocol(keepCap: number): FrameProtocol {
    return {
      headerSize: () => 4,
      bodyLength: (h, o) => le24(h, o),
      keep: (h, o) => (h[o + 3] === 0 || this.#auth !== 'commands' ? keepCap : 0),
      message: (h, ho, b, bo, blen, bodyLen, tsNs) => {
        this.#ts = tsNs;
        const continued = this.#reqContinues;
        this.#reqContinues = bodyLen === MAX_PACKET;
        if (continued) {
          const head = this.#pending.at(this.#pending.length - 1);
          if (head !== undefined) head.reqSize += bodyLen + 4;
          return;
        }
        this.#request(h[ho + 3], b, bo, blen, bodyLen);
      },
      lost: () => { this.#reqContinues = false; },
      // a command packet (sequence 0, a known command byte) at the start of a chunk
      resync: (b, off, end) => (end - off >= 5 && b[off + 3] === 0 && COMMANDS[b[off + 4]] === 1 && le24(b, off) >= 1 ? off : -1),
    };
  }

  #request(seq: number, b: Uint8Array, o: number, blen: number, bodyLen: number): void {
    if (this.#auth === 'start') this.#auth = seq === 0 ? 'commands' : 'auth';
    if (this.#auth === 'greeting' || (this.#auth === 'auth' && seq === 1 && blen >= 32)) {
      if (this.#handshakeResponse(b, o, blen)) return;
    }
    if (seq !== 0) {
      // auth data, LOCAL INFILE contents: part of whatever is pending
      const head = this.#pending.at(this.#pending.length - 1);
      if (head !== undefined) head.reqSize += bodyLen + 4;
      return;
    }
    if (this.#auth !== 'commands') this.#auth = 'commands';
    if (blen < 1) return;
    // a prepare whose only missing packets are classic EOFs that never come (CLIENT_DEPRECATE_EOF, handshake unseen)
    const head = this.#pending.peek();
    if (head?.reply === Reply.Prepare && this.#phase === Phase.Columns && this.#defsLeft === 0) this.#finish(head, this.#lastRespTs);
    const cmd = b[o];
    const end = o + blen;
    const size = bodyLen + 4;
    switch (cmd) {
      case COM_QUERY: {
        let i = o + 1;
        if (this.#queryAttributes) {
          const [params, n1] = lenenc(b, i, end);
          const [, n2] = lenenc(b, i + n1, end);
          if (params !== 0) { this.#push(cmd, Reply.Result, undefined, undefined, size, true); return; }
          i += n1 + n2;
        }
        this.#push(cmd, Reply.Result, utf8(b, i, end), undefined, size, true);
        return;
      }
      case COM_STMT_PREPARE:
        this.#push(cmd, Reply.Prepare, utf8(b, o + 1, end), undefined, size, false);
        return;
      case COM_STMT_EXECUTE:
      case COM_STMT_BULK_EXECUTE: {
        const id = blen >= 5 ? le32(b, o + 1) : -1;
        this.#push(cmd, Reply.Result, this.#statements.get(id), undefined, size, true);
        return;
      }
      case COM_STMT_CLOSE:
        if (blen >= 5) this.#statements.delete(le32(b, o + 1));
        return;
      case COM_STMT_SEND_LONG_DATA:
      case COM_QUIT:
        return;
      case COM_INIT_DB:
        this.#push(cmd, Reply.Ok, undefined, utf8(b, o + 1, end), size, false);
        return;
      case COM_STATISTICS:
        this.#push(cmd, Reply.Any, undefined, undefined, size, false);
        return;
      case COM_FIELD_LIST:
      case COM_STMT_FETCH:
        this.#push(cmd, Reply.UntilEof, undefined, undefined, size, false);
        return;
      case COM_PROCESS_INFO:
        this.#push(cmd, Reply.Result, undefined, undefined, size, false);
        return;
      case COM_CHANGE_USER:
        this.#auth = 'auth';
        return;
      default:
        // PING, STMT_RESET, RESET_CONNECTION, SET_OPTION, DEBUG, …: one OK/ERR/EOF
        if (COMMANDS[cmd] === 1) this.#push(cmd, Reply.Ok, undefined, undefined, size, false);
    }
  }

  /** HandshakeResponse41 (or SSLRequest): capabilities and the initial database. */
  #handshakeResponse(b: Uint8Array, o: number, blen: number): boolean {
    if (blen < 32) return false;
    const caps = le32(b, o);
    if ((caps & 0x200) === 0) return false; // not protocol 41
    this.#clientCaps = (caps & this.#serverCaps) >>> 0;
    this.#auth = 'auth';
    this.#queryAttributes = (this.#clientCaps & CLIENT_QUERY_ATTRIBUTES) !== 0;
    if ((caps & 1) === 0) this.#cacheMetadata = (le32(b, o + 28) & MARIADB_CACHE_METADATA_EXT) !== 0; // MariaDB: extended caps in the filler
    if ((caps & CLIENT_SSL) !== 0 && blen === 32) { this.#quiet = true; return true; }
    if ((caps & CLIENT_COMPRESS) !== 0) { this.#quiet = true; return true; }
    const end = o + blen;
    let i = o + 32;
    const userEnd = indexOf(b, 0, i, end);
    if (userEnd < 0) return true;
    i = userEnd + 1;
    // auth response: lenenc (PLUGIN_AUTH_LENENC_CLIENT_DATA) or 1-byte length (SECURE_CONNECTION) or NUL-terminated
    if ((caps & 0x200000) !== 0) { const [n, sz] = lenenc(b, i, end); if (n < 0) return true; i += sz + n; }
    else if ((caps & 0x8000) !== 0) i += 1 + (b[i] ?? 0);
    else { const z = indexOf(b, 0, i, end); if (z < 0) return true; i = z + 1; }
    if ((caps & CLIENT_CONNECT_WITH_DB) !== 0 && i < end) {
      const z = indexOf(b, 0, i, end);
      if (z > i) this.#namespace = utf8(b, i, z);
    }
    return true;
  }

  #push(cmd: number, reply: Reply, text: string | undefined, schema: string | undefined, size: number, always: boolean): void {
    if (this.#pending.length >= MAX_PENDING) {
      const old = this.#pending.shift();
      if (old?.always === true) this.#emit(old, this.#ts, true);
      this.#phase = Phase.First;
    }
    this.#pending.push({ startNs: this.#ts, cmd, reply, text, schema, reqSize: size, respSize: 0, rows: 0, errorCode: undefined, lost: false, always });
  }

  // -------------------------------------------------------------------------------------------
  // server → client

  #responseProtocol(): FrameProtocol {
    return {
      headerSize: () => 4,
      bodyLength: (h, o) => le24(h, o),
      keep: () => 256,
      message: (h, ho, b, bo, blen, bodyLen, tsNs) => {
        const continued = this.#respContinues;
        this.#respContinues = bodyLen === MAX_PACKET;
        const head = this.#pending.peek();
        if (head !== undefined) head.respSize += bodyLen + 4;
        if (continued) return;
        this.#response(h[ho + 3], b, bo, blen, bodyLen, tsNs);
      },
      lost: () => { const c = this.#pending.peek(); if (c !== undefined) c.lost = true; },
      resync: (b, off, end, length) => this.#resyncResponse(b, off, end, length),
    };
  }

  /** While lost: a fully captured chunk that ends with a final EOF / OK-as-EOF closes the head command. */
  #resyncResponse(b: Uint8Array, off: number, end: number, length: number): number {
    if (length !== end) return -1;
    let status = -1;
    if (end - off >= 9 && le24(b, end - 9) === 5 && b[end - 5] === 0xfe) status = le16(b, end - 2);
    else if (end - off >= 11 && le24(b, end - 11) === 7 && b[end - 7] === 0xfe) status = le16(b, end - 4);
    if (status < 0 || (status & SERVER_MORE_RESULTS_EXISTS) !== 0) return -1;
    const c = this.#pending.shift();
    if (c !== undefined && (c.always || c.errorCode !== undefined)) this.#emit(c, this.#ts, false);
    this.#phase = Phase.First;
    return end;
  }

  #finish(c: Command, tsNs: number): void {
    this.#pending.shift();
    this.#phase = Phase.First;
    if (c.errorCode === undefined && c.schema !== undefined) this.#namespace = c.schema;
    if (c.always || c.errorCode !== undefined) this.#emit(c, tsNs, false);
  }

  #err(c: Command, b: Uint8Array, o: number, blen: number, tsNs: number): void {
    c.errorCode = blen >= 3 ? String(le16(b, o + 1)) : 'unknown';
    this.#finish(c, tsNs);
  }

  #response(seq: number, b: Uint8Array, o: number, blen: number, bodyLen: number, tsNs: number): void {
    if (blen < 1) return;
    const first = b[o];
    if (this.#auth !== 'commands') { this.#authReply(seq, b, o, blen); return; }
    const c = this.#pending.peek();
    if (c === undefined) return;
    // a 0xFE packet shorter than 16 MiB is an EOF (5 bytes) or an OK-as-EOF
    const terminator = first === 0xfe && bodyLen < MAX_PACKET;
    switch (c.reply) {
      case Reply.Ok:
      case Reply.Any:
        if (first === 0xff && c.reply === Reply.Ok) this.#err(c, b, o, blen, tsNs); else this.#finish(c, tsNs);
        return;
      case Reply.UntilEof:
        if (first === 0xff) this.#err(c, b, o, blen, tsNs);
        else if (terminator) this.#finish(c, tsNs);
        return;
      case Reply.Prepare:
        this.#prepareReply(c, b, o, blen, bodyLen, tsNs);
        return;
      case Reply.Result:
        this.#resultReply(c, b, o, blen, bodyLen, tsNs);
    }
  }

  #authReply(seq: number, b: Uint8Array, o: number, blen: number): void {
    const first = b[o];
    if (this.#auth === 'start' && seq === 0 && first === 0x0a) {
      this.#auth = 'greeting';
      const z = indexOf(b, 0, o + 1, o + blen);
      if (z > 0) {
        const version = ascii(b, o + 1, z);
        if (version.includes('MariaDB')) this.#system = 'mariadb';
        // thread id (4), auth data 1 (8), filler (1), caps low (2), charset (1), status (2), caps high (2)
        const c = z + 1 + 4 + 8 + 1;
        if (c + 7 <= o + blen) this.#serverCaps = (le16(b, c) | (le16(b, c + 5) << 16)) >>> 0;
      }
      return;
    }
    if (this.#auth === 'start') { this.#auth = 'commands'; return; }
    if (first === 0x00 && this.#auth === 'auth') this.#auth = 'commands';
    // 0xFE auth switch, 0x01 more data, 0xFF failure: stay (a failed login is not a query)
  }

  /** Status flags of an OK (0x00/0xFE header) or EOF packet; -1 if not readable. */
  #status(b: Uint8Array, o: number, blen: number, bodyLen: number): number {
    if (b[o] === 0xfe && bodyLen === 5) return blen >= 5 ? le16(b, o + 3) : -1;
    const end = o + blen;
    const [, n1] = lenenc(b, o + 1, end);
    const [, n2] = lenenc(b, o + 1 + n1, end);
    const at = o + 1 + n1 + n2;
    return at + 2 <= end ? le16(b, at) : -1;
  }

  #resultReply(c: Command, b: Uint8Array, o: number, blen: number, bodyLen: number, tsNs: number): void {
    const first = b[o];
    if (first === 0xff) { this.#err(c, b, o, blen, tsNs); return; }
    const terminator = first === 0xfe && bodyLen < MAX_PACKET;
    switch (this.#phase) {
      case Phase.First: {
        if (first === 0x00) {
          const st = this.#status(b, o, blen, bodyLen);
          if (st >= 0 && (st & SERVER_MORE_RESULTS_EXISTS) !== 0) return; // another result follows
          this.#finish(c, tsNs);
          return;
        }
        if (first === 0xfb) return; // LOCAL INFILE request: the client sends the file, then OK/ERR
        const [cols] = lenenc(b, o, o + blen);
        if (cols <= 0) { this.#finish(c, tsNs); return; }
        this.#defsLeft = cols;
        this.#eofsLeft = 1;
        // MariaDB metadata cache: a trailing "metadata follows" byte; 0 = no column definitions
        if (this.#cacheMetadata && (c.cmd === COM_STMT_EXECUTE || c.cmd === COM_STMT_BULK_EXECUTE) && blen >= 2 && b[o + blen - 1] === 0) this.#defsLeft = 0;
        this.#phase = this.#defsLeft > 0 ? Phase.Columns : Phase.Rows;
        return;
      }
      case Phase.Columns: {
        if (this.#isColumnDef(b, o, blen)) {
          if (--this.#defsLeft === 0 && (this.#clientCaps & CLIENT_DEPRECATE_EOF) !== 0) this.#phase = Phase.Rows;
          return;
        }
        // not a definition: the EOF after them, or rows already (definitions skipped/lost)
        this.#phase = Phase.Rows;
        if (terminator && bodyLen === 5 && this.#eofsLeft > 0) { this.#eofsLeft = 0; return; }
        this.#rowsPacket(c, b, o, blen, bodyLen, tsNs);
        return;
      }
      case Phase.Rows:
        if (this.#eofsLeft > 0 && terminator && bodyLen === 5 && c.rows === 0 && this.#defsLeft === 0 && (this.#clientCaps & CLIENT_DEPRECATE_EOF) === 0) {
          // the classic EOF after column definitions
          this.#eofsLeft = 0;
          return;
        }
        this.#rowsPacket(c, b, o, blen, bodyLen, tsNs);
    }
  }

  #rowsPacket(c: Command, b: Uint8Array, o: number, blen: number, bodyLen: number, tsNs: number): void {
    if (b[o] === 0xfe && bodyLen < MAX_PACKET) {
      const st = this.#status(b, o, blen, bodyLen);
      if (st >= 0 && (st & SERVER_MORE_RESULTS_EXISTS) !== 0) { this.#phase = Phase.First; return; }
      this.#finish(c, tsNs);
      return;
    }
    c.rows++;
  }

  /** Column definition 41: starts with the catalog, always lenenc "def". */
  #isColumnDef(b: Uint8Array, o: number, blen: number): boolean {
    return blen >= 4 && b[o] === 3 && b[o + 1] === 0x64 && b[o + 2] === 0x65 && b[o + 3] === 0x66;
  }

  #prepareReply(c: Command, b: Uint8Array, o: number, blen: number, bodyLen: number, tsNs: number): void {
    const first = b[o];
    if (this.#phase === Phase.First) {
      if (first === 0xff) { this.#err(c, b, o, blen, tsNs); return; }
      if (first !== 0x00 || blen < 9) { this.#finish(c, tsNs); return; }
      const id = le32(b, o + 1);
      const cols = le16(b, o + 5);
      const params = le16(b, o + 7);
      if (c.text !== undefined) {
        if (this.#statements.size >= MAX_STATEMENTS && !this.#statements.has(id)) {
          const k = this.#statements.keys().next();
          if (k.done !== true) this.#statements.delete(k.value);
        }
        this.#statements.set(id, c.text);
      }
      const skipMeta = this.#cacheMetadata && blen >= 13 && b[o + 12] === 0;
      this.#defsLeft = skipMeta ? 0 : params + cols;
      this.#columnsAfterParams = cols;
      const classic = (this.#clientCaps & CLIENT_DEPRECATE_EOF) === 0;
      this.#eofsLeft = skipMeta || !classic ? 0 : (params > 0 ? 1 : 0) + (cols > 0 ? 1 : 0);
      if (this.#defsLeft === 0 && this.#eofsLeft === 0) { this.#finish(c, tsNs); return; }
      this.#phase = Phase.Columns;
      return;
    }
    if (this.#isColumnDef(b, o, blen)) {
      if (this.#defsLeft > 0) this.#defsLeft--;
    } else if (first === 0xfe && bodyLen < MAX_PACKET) {
      if (this.#eofsLeft > 0) this.#eofsLeft--;
    } else if (first === 0xff) { this.#err(c, b, o, blen, tsNs); return; }
    if (this.#defsLeft === 0 && (this.#eofsLeft === 0 || (this.#clientCaps & CLIENT_DEPRECATE_EOF) !== 0)) {
      // with the handshake unseen, classic EOFs may still follow: they end up as packets with no pending command
      this.#finish(c, tsNs);
    }
  }
}

const COMMAND_NAMES: Record<number, string> = {
  [COM_INIT_DB]: 'USE', [COM_PING]: 'PING', [COM_STMT_PREPARE]: 'PREPARE', [COM_STMT_EXECUTE]: 'EXECUTE', [COM_STMT_BULK_EXECUTE]: 'EXECUTE',
  [COM_STMT_RESET]: 'RESET', [COM_FIELD_LIST]: 'FIELD_LIST', [COM_STATISTICS]: 'STATISTICS', [COM_RESET_CONNECTION]: 'RESET_CONNECTION',
  [COM_SET_OPTION]: 'SET_OPTION', [COM_STMT_FETCH]: 'FETCH', [COM_PROCESS_INFO]: 'PROCESSLIST', [COM_QUERY]: 'QUERY',
};

/**
 * First bytes of a connection. Requests: a packet header (3-byte length ≥ 1, sequence 0) and a known
 * command byte (COM_QUERY needs printable text after it), or a HandshakeResponse41 (sequence 1,
 * CLIENT_PROTOCOL_41). Responses: the v10 greeting (sequence 0, 0x0A, a NUL-terminated version), or an
 * OK/ERR/column-count packet with sequence 1.
 */
function detect(first: Uint8Array, dir: Direction): boolean {
  if (first.length < 5) return false;
  const len = le24(first, 0);
  const seq = first[3];
  if (len < 1) return false;
  if (dir === Direction.Request) {
    if (seq === 1) return len >= 32 && first.length >= 8 && (le32(first, 4) & 0x200) !== 0;
    if (seq !== 0) return false;
    const cmd = first[4];
    if (cmd === COM_QUERY || cmd === COM_STMT_PREPARE) {
      if (len < 2 || first.length < 6) return false;
      for (let i = 5; i < Math.min(first.length, 4 + len, 16); i++) {
        const x = first[i];
        if (x < 0x09 || (x > 0x0d && x < 0x20 && x !== 0x1b)) return false;
      }
      return true;
    }
    if (cmd === COM_STMT_EXECUTE || cmd === COM_STMT_CLOSE || cmd === COM_STMT_RESET) return len >= 5;
    return (cmd === COM_PING || cmd === COM_QUIT || cmd === COM_STATISTICS || cmd === COM_RESET_CONNECTION) && len === 1 || (cmd === COM_INIT_DB && len > 1);
  }
  if (seq === 0) {
    if (first[4] !== 0x0a || len < 40) return false;
    return indexOf(first, 0, 5, Math.min(first.length, 64)) > 5;
  }
  if (seq !== 1) return false;
  const b = first[4];
  if (b === 0xff) return len >= 3;
  if (b === 0x00) return len >= 7;
  return b > 0 && b < 0xfb && len <= 9;
}

export const mysqlParser: ProtocolParser = {
  name: PROTOCOL,
  detect,
  newSession: (opts) => new MysqlSession(opts),
};

/**
 * Redis (RESP2 and RESP3) over captured chunks: one record per command, replies matched FIFO (so
 * pipelines of any depth work), inline commands, MULTI/EXEC (each queued command gets its +QUEUED
 * record; EXEC gets the array), errors (`-ERR …`, `-WRONGTYPE …`, RESP3 blob errors) with the prefix as
 * error.type and db.response.status_code, db.namespace from a successful SELECT. Pub/sub: pushes
 * (RESP3 '>' and, in subscribed mode, RESP2 message/pmessage/smessage arrays) are never taken for
 * replies; a (P|S)(UN)SUBSCRIBE record ends at its first confirmation and the extra per-channel
 * confirmations are consumed. Attributes ('|') are skipped. Values are never recorded; keys only with
 * `recordKeys` (db.query.text = command, keys, and `?` for the other arguments).
 */
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../types.js';
import { Direction } from '../../types.js';
import { Fifo, dbRecord } from '../common/util.js';
import { MAX_ELEMS, RespReader, T_ARRAY, T_BLOB_ERROR, T_ERROR, T_INLINE, T_PUSH } from './resp.js';
import type { RespValue } from './resp.js';

const PROTOCOL = 'redis';
const MAX_PENDING = 4096;

/** Commands whose first argument is a subcommand (CONFIG GET, CLIENT SETNAME…). */
const CONTAINERS = new Set(['CONFIG', 'CLIENT', 'CLUSTER', 'COMMAND', 'XGROUP', 'XINFO', 'OBJECT', 'MEMORY', 'SCRIPT', 'FUNCTION', 'ACL',
  'DEBUG', 'MODULE', 'SLOWLOG', 'LATENCY', 'PUBSUB']);

const SUBSCRIBE = new Set(['SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE']);
const CONFIRMATIONS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);
const MESSAGES = new Set(['message', 'pmessage', 'smessage']);

/** Which arguments are keys (for `recordKeys`). */
const FIRST_KEY = new Set(('GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SETRANGE '
  + 'HGET HSET HSETNX HMSET HMGET HDEL HLEN HKEYS HVALS HGETALL HEXISTS HINCRBY HINCRBYFLOAT HSCAN HSTRLEN HRANDFIELD LPUSH RPUSH LPUSHX '
  + 'RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LREM LTRIM LINSERT LPOS SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SSCAN '
  + 'ZADD ZREM ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZRANK ZREVRANK ZSCORE ZMSCORE ZCARD ZCOUNT ZINCRBY ZSCAN ZPOPMIN ZPOPMAX '
  + 'ZRANGEBYLEX ZLEXCOUNT ZREMRANGEBYSCORE ZREMRANGEBYRANK EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME TTL PTTL PERSIST TYPE DUMP RESTORE '
  + 'XADD XRANGE XREVRANGE XLEN XDEL XTRIM XACK XCLAIM XAUTOCLAIM XPENDING SETBIT GETBIT BITCOUNT BITPOS BITFIELD PFADD GEOADD GEODIST GEOPOS '
  + 'GEOHASH GEOSEARCH GEORADIUS SORT').split(' '));
const ALL_KEYS = new Set('DEL UNLINK EXISTS TOUCH WATCH MGET SINTER SUNION SDIFF PFCOUNT RENAME RENAMENX'.split(' '));
const PAIR_KEYS = new Set(['MSET', 'MSETNX']);
const NUMKEYS = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO']);

interface Command {
  readonly startNs: number;
  readonly op: string;
  readonly text: string | undefined;
  readonly reqSize: number;
  readonly subscribe: boolean;
  /** SELECT n: the index to switch to on +OK. */
  readonly select: string | undefined;
}

const isKeyArg = (op: string, i: number, elems: readonly (string | null)[]): boolean => {
  if (FIRST_KEY.has(op)) return i === 1;
  if (ALL_KEYS.has(op)) return i >= 1;
  if (PAIR_KEYS.has(op)) return i % 2 === 1;
  if (NUMKEYS.has(op)) { const n = Number(elems[2] ?? 0); return i >= 3 && i < 3 + n; }
  return false;
};

class RedisSession implements ParserSession {
  readonly #opts: ParserOptions;
  readonly #req: RespReader;
  readonly #resp: RespReader;
  #out: L7Record[] = [];
  readonly #pending = new Fifo<Command>();
  #namespace: string | undefined;
  #subscribed = false;
  /** Confirmations still expected for subscribe commands already recorded. */
  #lastRespTs = 0;

  constructor(opts: ParserOptions) {
    this.#opts = opts;
    this.#req = new RespReader({ value: (v) => this.#command(v), lost: () => undefined }, true);
    this.#resp = new RespReader({ value: (v) => this.#reply(v), lost: () => undefined }, false);
  }

  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
    if (length <= 0) return;
    this.#out = out;
    if (dir === Direction.Request) {
      if (this.#resp.isLost && this.#pending.length > 0 && !this.#subscribed) this.#completeLost();
      this.#req.feed(captured, length, tsNs);
    } else {
      this.#lastRespTs = tsNs;
      this.#resp.feed(captured, length, tsNs);
    }
  }

  expire(nowNs: number, out: L7Record[]): void {
    const head = this.#pending.peek();
    if (head === undefined || nowNs - head.startNs < this.#opts.requestTimeoutNs) return;
    this.#out = out;
    // a blocking command (BLPOP 0…) may legitimately wait: only the expired ones go
    while (this.#pending.length > 0 && nowNs - this.#pending.peek()!.startNs >= this.#opts.requestTimeoutNs) {
      this.#emit(this.#pending.shift()!, nowNs, -1, undefined, true);
    }
    if (this.#pending.length === 0) this.#resp.markLost(nowNs);
  }

  close(tsNs: number, out: L7Record[]): void {
    this.#out = out;
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) this.#emit(c, tsNs, -1, undefined, true);
  }

  #completeLost(): void {
    let c: Command | undefined;
    while ((c = this.#pending.shift()) !== undefined) this.#emit(c, this.#lastRespTs, -1, undefined, false);
    this.#resp.reset();
  }

  #command(v: RespValue): void {
    if ((v.type !== T_ARRAY && v.type !== T_INLINE) || v.count === 0) return;
    const name = v.elems[0];
    if (name === null || name === undefined || name.length === 0) return;
    let op = name.toUpperCase();
    if (CONTAINERS.has(op) && typeof v.elems[1] === 'string') op = `${op} ${v.elems[1].toUpperCase()}`;
    let text: string | undefined;
    if (this.#opts.recordKeys) {
      const base = op.split(' ')[0];
      text = op;
      const shown = Math.min(v.count, MAX_ELEMS);
      for (let i = op.includes(' ') ? 2 : 1; i < shown; i++) text += isKeyArg(base, i, v.elems) && v.elems[i] !== null ? ` ${v.elems[i]}` : ' ?';
      if (v.count > shown) text += ' …';
    }
    const subscribe = SUBSCRIBE.has(op);
    if (subscribe && op.endsWith('SUBSCRIBE') && !op.includes('UN')) this.#subscribed = true;
    if (this.#pending.length >= MAX_PENDING) this.#emit(this.#pending.shift()!, v.startNs, -1, undefined, true);
    this.#pending.push({ startNs: v.startNs, op, text, reqSize: v.bytes, subscribe, select: op === 'SELECT' ? (v.elems[1] ?? undefined) : undefined });
  }

  #reply(v: RespValue): void {
    const first = v.elems[0];
    // pub/sub traffic that is not a reply
    if (v.type === T_PUSH || (this.#subscribed && v.type === T_ARRAY)) {
      if (typeof first === 'string' && CONFIRMATIONS.has(first)) {
        if (v.elems[2] === '0' && first.includes('unsubscribe')) this.#subscribed = false;
        const head = this.#pending.peek();
        if (head?.subscribe === true && head.op.toLowerCase() === first) {
          this.#pending.shift();
          this.#emit(head, v.endNs, v.bytes, undefined, false);
        }
        return;
      }
      if (v.type === T_PUSH || (typeof first === 'string' && MESSAGES.has(first))) return;
      if (typeof first === 'string' && first === 'pong' && this.#subscribed) {
        // PING in subscribed mode answers ["pong", ""]
      }
    }
    const head = this.#pending.shift();
    if (head === undefined) return;
    let err: string | undefined;
    if (v.type === T_ERROR || v.type === T_BLOB_ERROR) {
      const sp = v.text.indexOf(' ');
      err = (sp < 0 ? v.text : v.text.slice(0, sp)) || 'ERR';
    } else if (head.select !== undefined) {
      this.#namespace = head.select;
    }
    this.#emit(head, v.endNs, v.bytes, err, false);
  }

  #emit(c: Command, endNs: number, respSize: number, err: string | undefined, incomplete: boolean): void {
    const attrs: Record<string, string | number | boolean> = { 'db.system.name': PROTOCOL, 'db.operation.name': c.op };
    if (this.#namespace !== undefined) attrs['db.namespace'] = this.#namespace;
    if (c.text !== undefined) attrs['db.query.text'] = c.text;
    if (err !== undefined) attrs['db.response.status_code'] = err;
    this.#out.push(dbRecord({
      protocol: PROTOCOL, startNs: c.startNs, endNs, name: c.op, attributes: attrs, errorType: err,
      requestSize: c.reqSize, responseSize: respSize, incomplete,
    }));
  }
}

/**
 * First bytes of a connection. Requests: `*<1-3 digits>\r\n$<digits>\r\n` followed by a letter, or an
 * inline command (a known command word followed by space or CRLF). Responses: `+OK`, `+PONG`, `-ERR`,
 * `-WRONGTYPE`, `-NOAUTH`, `:<digits>\r\n`, `$<digits>\r\n`, `*<digits>\r\n`, `%<digits>\r\n`, `_\r\n`.
 */
const INLINE = /^(PING|ECHO|SET|GET|DEL|EXISTS|INCR|DECR|AUTH|SELECT|INFO|QUIT|HELLO|KEYS|MGET|MSET|EXPIRE|TTL|TYPE|SUBSCRIBE|PUBLISH|MONITOR|CLIENT|CONFIG|FLUSHALL|FLUSHDB|DBSIZE)( |\r\n)/i;

function detect(first: Uint8Array, dir: Direction): boolean {
  if (first.length < 3) return false;
  const s = String.fromCharCode(...first.subarray(0, Math.min(first.length, 32)));
  if (dir === Direction.Request) {
    if (/^\*[1-9]\d{0,3}\r\n\$\d{1,9}\r\n[A-Za-z]/.test(s)) return true;
    // inline GET/SET…; `GET /path HTTP/1.1` is HTTP (and tried first anyway)
    return INLINE.test(s) && !/^[A-Za-z]+ \//.test(s);
  }
  return /^(\+[A-Za-z]|-[A-Z]+ |:-?\d+\r\n|\$-?\d+\r\n|\*-?\d+\r\n|%\d+\r\n|~\d+\r\n|>\d+\r\n|_\r\n|,|#[tf]\r\n)/.test(s);
}

export const redisParser: ProtocolParser = {
  name: PROTOCOL,
  detect,
  newSession: (opts) => new RedisSession(opts),
};

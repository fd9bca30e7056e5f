// The conversations behind test/fixtures/l7: real clients against real servers, through RecordingProxy.
// `node scripts/record-l7-fixtures.mjs` writes them; test/e2e/l7-db-fixtures.test.ts re-records them
// and checks that the parsers still see the same records.
import { execFile as execFileCb, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordingProxy } from './l7-fixtures.js';
import { RespReader } from '../../src/receivers/ebpf/l7/protocols/redis/resp.js';
import type { Fixture } from './l7-fixtures.js';
import type { PostgresPeer } from '../peers/postgres.js';
import type { MariadbPeer } from '../peers/mariadb.js';
import type { RedisPeer } from '../peers/redis.js';
import type { MemcachedPeer } from '../peers/memcached.js';

const execFile = promisify(execFileCb);
const require = createRequire(import.meta.url);

export interface Peers {
  pg: PostgresPeer;
  maria: MariadbPeer;
  redis: RedisPeer;
  memcached: MemcachedPeer;
}

export interface Scenario {
  readonly protocol: 'postgresql' | 'mysql' | 'redis' | 'memcached';
  readonly name: string;
  readonly description: string;
  /** Capture limit per chunk (like the BPF side), or null for full bytes. */
  readonly capture: number | null;
  /** Drives real clients at `port` (the proxy in front of the real server). */
  run(port: number, peers: Peers): Promise<void>;
}

/** A raw TCP client for the conversations no CLI produces (pipelines, Close, RESET, pub/sub). */
class Raw {
  readonly #sock: Socket;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => { this.#buf = Buffer.concat([this.#buf, b]); for (const w of this.#waiters.splice(0)) w(); });
    sock.on('error', () => undefined);
  }
  static async open(port: number): Promise<Raw> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return new Raw(s);
  }
  send(b: Buffer | string): void { this.#sock.write(b); }
  /** Wait until `done(buffered)` says the reply is complete, then return and clear it. */
  async until(done: (b: Buffer) => boolean, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.#buf)) {
      if (Date.now() > deadline) throw new Error(`raw client: timeout waiting; have ${JSON.stringify(this.#buf.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, 50); });
    }
    const b = this.#buf;
    this.#buf = Buffer.alloc(0);
    return b;
  }
  async end(): Promise<void> {
    this.#sock.end();
    await new Promise<void>((resolve) => { this.#sock.once('close', () => resolve()); setTimeout(resolve, 2000); });
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function pgMsg(type: string, ...parts: (Buffer | string | number[])[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(`${p}\0`) : Array.isArray(p) ? Buffer.from(p) : p)));
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const i16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const i32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
function pgStartup(user: string, db: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${db}\0application_name\0sonde-fixture\0\0`);
  return Buffer.concat([i32(body.length + 8), i32(196608), body]);
}
const pgBind = (portal: string, stmt: string, params: string[]): Buffer => pgMsg('B', portal, stmt, i16(0), i16(params.length),
  ...params.flatMap((p) => [i32(Buffer.byteLength(p)), Buffer.from(p)]), i16(0));
const pgReadyCount = (b: Buffer): number => {
  let n = 0;
  for (let i = 0; i + 5 <= b.length;) { const len = b.readInt32BE(i + 1); if (b[i] === 0x5a) n++; i += 1 + len; }
  return n;
};

async function psqlRun(port: number, pg: PostgresPeer, args: string[], input?: string, env: Record<string, string> = {}): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn(pg.psql, ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', pg.user, '-d', pg.database, ...args], {
      env: { ...process.env, PGSSLMODE: 'prefer', ...env }, stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 || code === 1 || code === 2 || code === 3 ? resolve() : reject(new Error(`psql exited ${code}: ${err}`))));
    p.stdin.end(input ?? '');
  });
}

async function pgbench(port: number, pg: PostgresPeer, mode: string): Promise<void> {
  await execFile(pg.pgbench, ['-h', '127.0.0.1', '-p', String(port), '-U', pg.user, '-n', '-c', '1', '-t', '2', '-M', mode, pg.database],
    { env: { ...process.env, PGSSLMODE: 'disable' } });
}

export const PG_PSQL_SQL = `CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, customer text, total numeric);
INSERT INTO orders VALUES (1, 'alice', 10.5), (2, 'bob', 20);
SELECT * FROM orders WHERE id IN (1, 2, 3) AND customer <> 'mallory';
UPDATE orders SET total = total + 1 WHERE customer = 'alice';
SELECT customer FROM orders /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/;
SELEC broken syntax;
SELECT * FROM missing_table;
SELECT $tag$dollar 'quoted'$tag$ AS d, E'esc\\'aped' AS e;
DO $$ BEGIN RAISE NOTICE 'a notice'; END $$;
DELETE FROM orders WHERE id = 2;
\\copy orders FROM STDIN
7\tcarol\t3.5
8\tdave\t4
\\.
COPY (SELECT id FROM orders ORDER BY id) TO STDOUT;
SELECT 1; SELECT 2;
`;

const pgScenarios: Scenario[] = [
  {
    protocol: 'postgresql', name: 'psql-simple', capture: null,
    description: 'psql 15 (-X, sslmode=prefer: SSLRequest answered N) over TCP, trust auth, statements from stdin: DDL, INSERT, SELECT with IN list, '
      + 'UPDATE, a sqlcommenter traceparent, a syntax error (42601), an undefined table (42P01), dollar-quoted and E\'\' strings, a NOTICE, '
      + 'DELETE, \\copy FROM STDIN (COPY in), COPY TO STDOUT, and two statements in one line (psql sends them as one Q).',
    async run(port, { pg }) {
      await psqlRun(port, pg, ['-v', 'ON_ERROR_STOP=0'], PG_PSQL_SQL);
      await psqlRun(port, pg, ['-c', 'SELECT 1; SELECT count(*) FROM orders']);
    },
  },
  ...(['simple', 'extended', 'prepared'] as const).map((mode): Scenario => ({
    protocol: 'postgresql', name: `pgbench-${mode}`, capture: null,
    description: `pgbench -n -c 1 -t 2 -M ${mode} (TPC-B-like: BEGIN, 3 UPDATEs, SELECT, INSERT, END per transaction) after pgbench -i -s 1 done directly (not recorded), sslmode=disable.`,
    async run(port, { pg }) { await pgbench(port, pg, mode); },
  })),
  {
    protocol: 'postgresql', name: 'auth', capture: null,
    description: 'psql -c "SELECT current_user" as a SCRAM-SHA-256 user and as an md5 user (password auth via a custom hba_file), plus a wrong password (28P01).',
    async run(port, { pg }) {
      await psqlRun(port, pg, ['-U', 'scram_user', '-c', 'SELECT current_user'], undefined, { PGPASSWORD: 'scram-secret', PGSSLMODE: 'disable' });
      await psqlRun(port, pg, ['-U', 'md5_user', '-c', 'SELECT current_user'], undefined, { PGPASSWORD: 'md5-secret', PGSSLMODE: 'disable' });
      await psqlRun(port, pg, ['-U', 'scram_user', '-c', 'SELECT 1'], undefined, { PGPASSWORD: 'wrong', PGSSLMODE: 'disable' });
    },
  },
  {
    protocol: 'postgresql', name: 'extended-pipeline', capture: null,
    description: 'A raw wire-protocol client: startup; named statement (Parse s1 + Describe S + Sync), then Bind/Execute of s1 twice and an unnamed '
      + 'Parse/Bind/Execute in ONE pipeline with one Sync; Flush; a pipeline whose 2nd Execute fails (22012) so the 3rd is skipped; a Parse error '
      + '(42601); Close s1 + Sync; Execute of the closed s1 (26000); Execute with a row limit (PortalSuspended); Terminate.',
    async run(port, { pg }) {
      const c = await Raw.open(port);
      c.send(pgStartup(pg.user, pg.database));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgMsg('P', 's1', 'SELECT id, customer FROM orders WHERE id = $1', i16(0)), pgMsg('D', [0x53], 's1'), pgMsg('S')]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([
        pgBind('', 's1', ['1']), pgMsg('E', '', i32(0)),
        pgBind('', 's1', ['7']), pgMsg('D', [0x50], ''), pgMsg('E', '', i32(0)),
        pgMsg('P', '', "UPDATE orders SET total = total * 2 WHERE customer = 'carol'", i16(0)), pgBind('', '', []), pgMsg('E', '', i32(0)),
        pgMsg('S'),
      ]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgMsg('P', '', 'SELECT 42', i16(0)), pgBind('', '', []), pgMsg('E', '', i32(0)), pgMsg('H')]));
      await c.until((b) => b.includes(Buffer.from('SELECT 1\0')));
      c.send(pgMsg('S'));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([
        pgMsg('P', '', 'SELECT 1', i16(0)), pgBind('', '', []), pgMsg('E', '', i32(0)),
        pgMsg('P', '', 'SELECT 1/0', i16(0)), pgBind('', '', []), pgMsg('E', '', i32(0)),
        pgMsg('P', '', 'SELECT 3', i16(0)), pgBind('', '', []), pgMsg('E', '', i32(0)),
        pgMsg('S'),
      ]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgMsg('P', 'bad', 'SELEC oops', i16(0)), pgBind('', 'bad', []), pgMsg('E', '', i32(0)), pgMsg('S')]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgMsg('C', [0x53], 's1'), pgMsg('S')]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgBind('', 's1', ['1']), pgMsg('E', '', i32(0)), pgMsg('S')]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(Buffer.concat([pgMsg('P', 'many', 'SELECT generate_series(1, 5)', i16(0)), pgBind('p1', 'many', []), pgMsg('E', 'p1', i32(2)), pgMsg('E', 'p1', i32(0)), pgMsg('S')]));
      await c.until((b) => pgReadyCount(b) >= 1);
      c.send(pgMsg('X'));
      await c.end();
    },
  },
  {
    protocol: 'postgresql', name: 'big-result-captured', capture: 256,
    description: 'psql -c "SELECT g, repeat(\'x\', 100) FROM generate_series(1, 20000) g" -c "SELECT 1" (two Q on one connection), chunks cut to 256 bytes like the BPF capture '
      + '(the result set spans many reads, each seen as its first 256 bytes and its real length).',
    async run(port, { pg }) {
      await psqlRun(port, pg, ['-c', "SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g", '-c', 'SELECT 1'], undefined, { PGSSLMODE: 'disable' });
    },
  },
];

/** Set up what the pg scenarios need (runs directly against the server, not recorded). */
export async function preparePostgres(pg: PostgresPeer): Promise<void> {
  await execFile(pg.pgbench, ['-i', '-s', '1', '-q', pg.database], { env: { ...process.env, ...pg.env } });
  await execFile(pg.psql, ['-X', '-q', '-c', `SET password_encryption = 'scram-sha-256'; CREATE USER scram_user PASSWORD 'scram-secret' SUPERUSER;
    SET password_encryption = 'md5'; CREATE USER md5_user PASSWORD 'md5-secret' SUPERUSER;`], { env: { ...process.env, ...pg.env } });
}

/** pg_hba for the peer: password auth for the two auth users over TCP, trust otherwise. */
export function pgHbaFile(dir: string): string {
  const f = join(dir, 'pg_hba.conf');
  writeFileSync(f, ['local all all trust', 'host all scram_user 127.0.0.1/32 scram-sha-256', 'host all md5_user 127.0.0.1/32 md5',
    'host all all 127.0.0.1/32 trust', ''].join('\n'));
  return f;
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB

async function mariadbRun(port: number, m: MariadbPeer, sql: string, database?: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const args = ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', m.user, '--force'];
    if (database !== undefined) args.push(database);
    const p = spawn('mariadb', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    p.on('error', reject);
    p.on('close', () => resolve());
    p.stdin.end(sql);
  });
}

function myPacket(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}

/** Minimal client: handshake response (native password, empty), optional CLIENT_DEPRECATE_EOF. */
async function myRawLogin(port: number, user: string, db: string, deprecateEof: boolean): Promise<Raw> {
  const c = await Raw.open(port);
  const hs = await c.until((b) => b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3));
  if (hs[4] !== 0x0a) throw new Error('mysql raw: no v10 handshake');
  // CLIENT_LONG_PASSWORD|FOUND_ROWS|LONG_FLAG|CONNECT_WITH_DB|PROTOCOL_41|TRANSACTIONS|SECURE_CONNECTION|MULTI_STATEMENTS|MULTI_RESULTS|PS_MULTI_RESULTS|PLUGIN_AUTH
  let caps = 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000;
  if (deprecateEof) caps |= 0x1000000;
  const p = Buffer.concat([
    Buffer.from(Uint32Array.of(caps).buffer), Buffer.from(Uint32Array.of(16 * 1024 * 1024).buffer), Buffer.from([45]), Buffer.alloc(23),
    Buffer.from(`${user}\0`), Buffer.from([0]), Buffer.from(`${db}\0`), Buffer.from('mysql_native_password\0'),
  ]);
  c.send(myPacket(1, p));
  const ok = await c.until((b) => b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3));
  if (ok[4] !== 0x00) throw new Error(`mysql raw: login failed ${ok.subarray(4).toString('latin1')}`);
  return c;
}

/** Reads whole packets until the reply to one command is complete (a terminal OK/ERR/EOF count). */
function myTerminators(b: Buffer): { packets: number; terms: number } {
  let packets = 0;
  let terms = 0;
  for (let i = 0; i + 4 <= b.length;) {
    const len = b.readUIntLE(i, 3);
    if (i + 4 + len > b.length) break;
    const first = b[i + 4];
    if (first === 0x00 || first === 0xff || (first === 0xfe && len < 0xffffff)) terms++;
    packets++;
    i += 4 + len;
  }
  return { packets, terms };
}

const myScenarios: Scenario[] = [
  {
    protocol: 'mysql', name: 'mariadb-cli', capture: null,
    description: 'mariadb 10.11 CLI (--force) over TCP reading statements from stdin: DDL, '
      + 'INSERT with literals, SELECT with an IN list, a syntax error (1064/42000), an unknown table (1146/42S02), USE (COM_INIT_DB; the CLI then asks SELECT DATABASE()), a sqlcommenter comment (the CLI strips comments before sending), '
      + 'traceparent, multi-statement text, UPDATE, DELETE, then COM_QUIT.',
    async run(port, { maria }) {
      await mariadbRun(port, maria, `CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2));
INSERT INTO items VALUES (1, 'apple', 1.25), (2, "pear", 2);
SELECT * FROM items WHERE id IN (1, 2, 3) AND name <> 'x';
SELEC broken;
SELECT * FROM no_such_table;
USE mysql;
SELECT COUNT(*) FROM user /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/;
USE sonde;
UPDATE items SET price = price * 2 WHERE name = 'apple';
DELETE FROM items WHERE id = 2;
SELECT 1; SELECT 2;
`, maria.database);
    },
  },
  {
    protocol: 'mysql', name: 'mysql2-prepared', capture: null,
    description: 'mysql2 3.24 (npm): query() (COM_QUERY), execute() of two statements (COM_STMT_PREPARE + COM_STMT_EXECUTE, binary rows), the same '
      + 'statement executed again (cached: EXECUTE only), an execute that fails (1146), unprepare (COM_STMT_CLOSE), ping (COM_PING), end (COM_QUIT).',
    async run(port, { maria }) {
      const mysql = require('mysql2/promise') as { createConnection(o: object): Promise<MyConn> };
      interface MyConn {
        query(sql: string, v?: unknown[]): Promise<unknown>; execute(sql: string, v?: unknown[]): Promise<unknown>;
        unprepare(sql: string): void; ping(): Promise<void>; end(): Promise<void>;
      }
      const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: maria.user, database: maria.database });
      await conn.query("INSERT INTO items VALUES (3, 'plum', 3.5)");
      await conn.execute('SELECT id, name FROM items WHERE id = ?', [1]);
      await conn.execute('SELECT id, name FROM items WHERE id = ?', [3]);
      await conn.execute('UPDATE items SET price = ? WHERE id = ?', [9.99, 3]);
      await conn.execute('SELECT * FROM nope WHERE id = ?', [1]).catch(() => undefined);
      conn.unprepare('SELECT id, name FROM items WHERE id = ?');
      await conn.ping();
      await conn.end();
    },
  },
  ...([false, true] as const).map((deprecateEof): Scenario => ({
    protocol: 'mysql', name: deprecateEof ? 'raw-deprecate-eof' : 'raw-classic-eof', capture: null,
    description: `A raw client (native password, ${deprecateEof ? 'WITH' : 'without'} CLIENT_DEPRECATE_EOF): COM_QUERY with a result set, `
      + 'COM_STMT_PREPARE (params + columns), COM_STMT_EXECUTE, COM_STMT_RESET, COM_STMT_EXECUTE, COM_STMT_CLOSE (no reply), COM_INIT_DB to a missing '
      + 'database (1049), COM_PING, COM_QUIT.',
    async run(port, { maria }) {
      const c = await myRawLogin(port, maria.user, maria.database, deprecateEof);
      const cmd = async (payload: Buffer, wantTerms: number): Promise<Buffer> => {
        c.send(myPacket(0, payload));
        return await c.until((b) => myTerminators(b).terms >= wantTerms);
      };
      await cmd(Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT id, name FROM items ORDER BY id')]), deprecateEof ? 1 : 2);
      const prep = await cmd(Buffer.concat([Buffer.from([0x16]), Buffer.from('SELECT name FROM items WHERE id = ?')]), deprecateEof ? 1 : 3);
      const stmtId = prep.readUInt32LE(5);
      // COM_STMT_EXECUTE: id, flags 0, iteration 1, null bitmap (1 byte), new-params-bound 1, type LONGLONG, value 1
      const exec = Buffer.concat([Buffer.from([0x17]), Buffer.from(Uint32Array.of(stmtId).buffer), Buffer.from([0, 1, 0, 0, 0, 0, 1, 0x08, 0]),
        Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]);
      await cmd(exec, deprecateEof ? 1 : 2);
      await cmd(Buffer.concat([Buffer.from([0x1a]), Buffer.from(Uint32Array.of(stmtId).buffer)]), 1);
      await cmd(exec, deprecateEof ? 1 : 2);
      c.send(myPacket(0, Buffer.concat([Buffer.from([0x19]), Buffer.from(Uint32Array.of(stmtId).buffer)])));
      await cmd(Buffer.concat([Buffer.from([0x02]), Buffer.from('no_such_db')]), 1);
      await cmd(Buffer.from([0x0e]), 1);
      c.send(myPacket(0, Buffer.from([0x01])));
      await c.end();
    },
  })),
  {
    protocol: 'mysql', name: 'big-result-captured', capture: 256,
    description: 'mariadb CLI: SELECT of 20000 rows of 100 bytes (the SEQUENCE engine) then SELECT 1, chunks cut to 256 bytes like the BPF capture.',
    async run(port, { maria }) {
      await mariadbRun(port, maria, "SELECT seq, REPEAT('x', 100) FROM seq_1_to_20000;\nSELECT 1;\n", maria.database);
    },
  },
];

export async function prepareMariadb(maria: MariadbPeer): Promise<void> {
  await execFile('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(maria.port), '-u', maria.user, maria.database, '-e',
    'CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2))']);
}

// ---------------------------------------------------------------------------------------------
// Redis

async function redisCli(port: number, args: string[], input: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    p.on('error', reject);
    p.on('close', () => resolve());
    p.stdin.end(input);
  });
}

const respCmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const respLines = (b: Buffer): number => b.toString('latin1').split('\r\n').length - 1;
/** At least `n` complete top-level replies (pushes and attributes not counted) are in `b`. */
function respComplete(b: Buffer, n: number): boolean {
  let count = 0;
  const r = new RespReader({ value: (v) => { if (v.type !== 62) count++; }, lost: () => undefined }, false);
  r.feed(b, b.length, 0);
  return count >= n;
}

const redisScenarios: Scenario[] = [
  {
    protocol: 'redis', name: 'redis-cli', capture: 4096,
    description: 'redis-cli 7.0 reading commands from stdin (RESP2, one connection): PING, SET/GET, a miss, INCR, HSET/HGETALL, LPUSH/LRANGE, '
      + 'WRONGTYPE, SELECT 2 then commands in db 2, MULTI/INCR/INCR/EXEC, MSET/MGET, EXPIRE/TTL, SADD/SMEMBERS, ZADD/ZSCORE, an unknown command (ERR), SELECT 0, DEL.',
    async run(port) {
      await redisCli(port, [], ['PING', 'SET user:1 alice', 'GET user:1', 'GET missing', 'INCR counter', 'HSET h f1 v1 f2 v2', 'HGETALL h',
        'LPUSH l a b c', 'LRANGE l 0 -1', 'GET l', 'SELECT 2', 'SET k2 secret', 'GET k2', 'MULTI', 'INCR c', 'INCR c', 'EXEC', 'MSET a 1 b 2',
        'MGET a b zz', 'EXPIRE user:1 100', 'TTL user:1', 'SADD s x y', 'SMEMBERS s', 'ZADD z 1.5 m', 'ZSCORE z m', 'NOSUCHCOMMAND x', 'SELECT 0',
        'DEL user:1 h', ''].join('\n'));
    },
  },
  {
    protocol: 'redis', name: 'redis-cli-resp3', capture: 4096,
    description: 'redis-cli -3 (HELLO 3 first): HGETALL (map), SMEMBERS (set), ZSCORE (double), GET miss (null), CLIENT TRACKING ON + GET + SET '
      + '(an invalidation push before the +OK), then (redis-cli 7.0 stops at types it cannot print) a raw RESP3 client: HELLO 3, DEBUG PROTOCOL bignum/true/false/verbatim/double/map/set/null/attrib (an attribute before the reply)/push (a push, then the reply), PING (the server runs with --enable-debug-command yes).',
    async run(port) {
      await redisCli(port, ['-3'], ['HSET h3 f v', 'HGETALL h3', 'SADD s3 a', 'SMEMBERS s3', 'ZADD z3 2.5 m', 'ZSCORE z3 m', 'GET nothing',
        'CLIENT TRACKING ON', 'GET tk', 'SET tk 1', ''].join('\n'));
      // redis-cli 7.0 stops at the types it does not print: a raw RESP3 client for those
      const c = await Raw.open(port);
      const ask = async (...args: string[]): Promise<void> => { c.send(respCmd(...args)); await c.until((b) => respComplete(b, 1)); };
      await ask('HELLO', '3');
      for (const t of ['bignum', 'true', 'false', 'verbatim', 'double', 'map', 'set', 'null', 'attrib', 'push']) await ask('DEBUG', 'PROTOCOL', t);
      await ask('PING');
      await c.end();
    },
  },
  {
    protocol: 'redis', name: 'redis-benchmark-pipeline', capture: null,
    description: 'redis-benchmark -c 1 -n 48 -P 16 -t set,get,lpush (16 commands per write; responses matched FIFO). redis-benchmark first asks CONFIG GET save / appendonly.',
    async run(port) {
      await execFile('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-c', '1', '-n', '48', '-P', '16', '-t', 'set,get,lpush', '-q']);
    },
  },
  {
    protocol: 'redis', name: 'pubsub', capture: 4096,
    description: 'A raw RESP2 subscriber: SUBSCRIBE ch1 ch2 (two confirmations), a message published by redis-cli (a second connection), PING in '
      + 'subscribed mode, PSUBSCRIBE news.*, a pattern message, UNSUBSCRIBE, PUNSUBSCRIBE, then PING and an inline command back in normal mode.',
    async run(port) {
      const sub = await Raw.open(port);
      sub.send(respCmd('SUBSCRIBE', 'ch1', 'ch2'));
      await sub.until((b) => respLines(b) >= 12);
      await redisCli(port, [], 'PUBLISH ch1 hello\n');
      await sub.until((b) => respLines(b) >= 7);
      sub.send(respCmd('PING'));
      await sub.until((b) => respLines(b) >= 5);
      sub.send(respCmd('PSUBSCRIBE', 'news.*'));
      await sub.until((b) => respLines(b) >= 6);
      await redisCli(port, [], 'PUBLISH news.today hi\n');
      await sub.until((b) => respLines(b) >= 9);
      sub.send(respCmd('UNSUBSCRIBE'));
      await sub.until((b) => respLines(b) >= 12);
      sub.send(respCmd('PUNSUBSCRIBE'));
      await sub.until((b) => respLines(b) >= 6);
      sub.send(respCmd('PING'));
      await sub.until((b) => respLines(b) >= 1);
      sub.send('EXISTS ch1\r\n');
      await sub.until((b) => respLines(b) >= 1);
      await sub.end();
    },
  },
  {
    protocol: 'redis', name: 'inline-and-big', capture: 256,
    description: 'A raw client: inline commands (PING, SET inl 5, GET inl), a 100 kB SET and GET (bulk string across many reads), an empty-array '
      + 'reply, QUIT; chunks cut to 256 bytes like the BPF capture.',
    async run(port) {
      const c = await Raw.open(port);
      c.send('PING\r\n'); await c.until((b) => respLines(b) >= 1);
      c.send('SET inl 5\r\n'); await c.until((b) => respLines(b) >= 1);
      c.send('GET inl\r\n'); await c.until((b) => respLines(b) >= 2);
      c.send(respCmd('SET', 'big', 'v'.repeat(100_000))); await c.until((b) => respLines(b) >= 1);
      c.send(respCmd('GET', 'big')); await c.until((b) => b.length >= 100_000 + 10);
      c.send(respCmd('LRANGE', 'emptylist', '0', '-1')); await c.until((b) => respLines(b) >= 1);
      c.send(respCmd('QUIT')); await c.until((b) => respLines(b) >= 1);
      await c.end();
    },
  },
];

// ---------------------------------------------------------------------------------------------
// memcached

const mcScenarios: Scenario[] = [
  {
    protocol: 'memcached', name: 'text', capture: null,
    description: 'A raw socket speaking the text protocol to memcached 1.6: set/get hit, get miss, multi-key get (2 hits, 1 miss), gets + cas '
      + '(stored, then EXISTS), add (NOT_STORED), replace, append, prepend, incr/decr, incr on a missing key (NOT_FOUND), touch, gat, delete (DELETED, '
      + 'NOT_FOUND), set noreply, an unknown command (ERROR), a bad data chunk (CLIENT_ERROR), incr on a non-number (CLIENT_ERROR), version, '
      + 'stats settings, meta commands (ms, mg hit/miss, md, mn), verbosity, flush_all, quit.',
    async run(port) {
      const c = await Raw.open(port);
      const line = async (s: string, done: (b: string) => boolean): Promise<void> => { c.send(s); await c.until((b) => done(b.toString('latin1'))); };
      const one = (b: string): boolean => b.endsWith('\r\n');
      const end = (b: string): boolean => b.endsWith('END\r\n');
      await line('set k1 0 0 5\r\nhello\r\n', one);
      await line('get k1\r\n', end);
      await line('get nokey\r\n', end);
      await line('set k2 3 0 2\r\nhi\r\n', one);
      await line('get k1 k2 k3\r\n', end);
      c.send('gets k1\r\n');
      const gets = (await c.until((b) => b.toString('latin1').endsWith('END\r\n'))).toString('latin1');
      const cas = /VALUE k1 \d+ \d+ (\d+)/.exec(gets)?.[1] ?? '0';
      await line(`cas k1 0 0 3 ${cas}\r\nbye\r\n`, one);
      await line(`cas k1 0 0 3 ${cas}\r\nbye\r\n`, one);
      await line('add k1 0 0 1\r\nx\r\n', one);
      await line('replace k2 0 0 3\r\nnew\r\n', one);
      await line('append k2 0 0 1\r\n!\r\n', one);
      await line('prepend k2 0 0 1\r\n<\r\n', one);
      await line('set n 0 0 2\r\n10\r\n', one);
      await line('incr n 5\r\n', one);
      await line('decr n 3\r\n', one);
      await line('incr missing 1\r\n', one);
      await line('touch k1 100\r\n', one);
      await line('gat 100 k1 k2\r\n', end);
      await line('delete k2\r\n', one);
      await line('delete k2\r\n', one);
      c.send('set quiet 0 0 1 noreply\r\nq\r\n');
      await line('get quiet\r\n', end);
      await line('bogus command\r\n', one);
      await line('set bad 0 0 2\r\ntoolong\r\n', (b) => b.split('\r\n').length >= 3);
      await line('incr k1 1\r\n', one);
      await line('version\r\n', one);
      await line('stats settings\r\n', end);
      await line('ms mk 2 T0\r\nmv\r\n', one);
      await line('mg mk v\r\n', (b) => b.split('\r\n').length >= 3);
      await line('mg nomk v\r\n', one);
      await line('md mk\r\n', one);
      await line('mn\r\n', one);
      await line('verbosity 1\r\n', one);
      await line('flush_all\r\n', one);
      c.send('quit\r\n');
      await c.end();
    },
  },
  {
    protocol: 'memcached', name: 'memjs-binary', capture: null,
    description: 'memjs 1.3 (npm, binary protocol): set, get hit, get miss, add on an existing key (key exists), replace, increment (initial), '
      + 'increment, delete, delete miss, append, touch, flush, quit.',
    async run(port) {
      interface MemjsClient {
        set(k: string, v: string, o: object): Promise<unknown>; get(k: string): Promise<unknown>; add(k: string, v: string, o: object): Promise<unknown>;
        replace(k: string, v: string, o: object): Promise<unknown>; increment(k: string, n: number, o: object): Promise<unknown>;
        delete(k: string): Promise<unknown>; append(k: string, v: string): Promise<unknown>; touch(k: string, e: number): Promise<unknown>;
        flush(): Promise<unknown>; quit(): void; close(): void;
      }
      const memjs = require('memjs') as { Client: { create(s: string, o: object): MemjsClient } };
      const log = { log: () => undefined };
      const c = memjs.Client.create(`127.0.0.1:${port}`, { logger: log, retries: 0, timeout: 2 });
      const safe = async (p: Promise<unknown>): Promise<void> => { await p.catch(() => undefined); };
      await safe(c.set('mj1', 'value-one', {}));
      await safe(c.get('mj1'));
      await safe(c.get('mj-missing'));
      await safe(c.add('mj1', 'x', {}));
      await safe(c.replace('mj1', 'value-two', {}));
      await safe(c.increment('mjn', 1, { initial: 10 }));
      await safe(c.increment('mjn', 5, {}));
      await safe(c.delete('mjn'));
      await safe(c.delete('mjn'));
      await safe(c.append('mj1', '+'));
      await safe(c.touch('mj1', 100));
      await safe(c.flush());
      c.quit();
      await sleep(100);
      c.close();
    },
  },
  {
    protocol: 'memcached', name: 'big-value-captured', capture: 128,
    description: 'A raw text client: set of a 200 kB value, get of it (VALUE block across many reads), get of a small key, a multi-get with the big key; '
      + 'chunks cut to 128 bytes like the BPF capture.',
    async run(port) {
      const c = await Raw.open(port);
      const big = 'b'.repeat(200_000);
      c.send(`set big 0 0 ${big.length}\r\n${big}\r\n`); await c.until((b) => b.toString('latin1').endsWith('\r\n'));
      c.send('set small 0 0 1\r\ns\r\n'); await c.until((b) => b.toString('latin1').endsWith('\r\n'));
      c.send('get big\r\n'); await c.until((b) => b.toString('latin1').endsWith('END\r\n'));
      c.send('get small\r\n'); await c.until((b) => b.toString('latin1').endsWith('END\r\n'));
      c.send('get small big nope\r\n'); await c.until((b) => b.toString('latin1').endsWith('END\r\n'));
      c.send('quit\r\n');
      await c.end();
    },
  },
];

export const SCENARIOS: readonly Scenario[] = [...pgScenarios, ...myScenarios, ...redisScenarios, ...mcScenarios];

/** Runs one scenario through a fresh recording proxy in front of `targetPort`. */
export async function recordScenario(s: Scenario, targetPort: number, peers: Peers): Promise<Fixture> {
  const proxy = await RecordingProxy.start(targetPort);
  try {
    await s.run(proxy.port, peers);
    await proxy.idle();
    return { protocol: s.protocol, scenario: s.name, description: s.description, capture: s.capture, connections: proxy.conversations(s.capture) };
  } finally {
    await proxy.close();
  }
}

export function targetPort(s: Scenario, p: Peers): number {
  switch (s.protocol) {
    case 'postgresql': return p.pg.port;
    case 'mysql': return p.maria.port;
    case 'redis': return p.redis.port;
    case 'memcached': return p.memcached.port;
  }
}

/** Start the four servers configured the way the scenarios need. */
export async function startScenarioPeers(): Promise<Peers & { stop(): Promise<void> }> {
  const { startPostgres, startMariadb, startRedis, startMemcached } = await import('../peers/index.js');
  const hbaDir = mkdtempSync(join(tmpdir(), 'sonde-hba-'));
  const { chmodSync } = await import('node:fs');
  chmodSync(hbaDir, 0o755);
  const hba = pgHbaFile(hbaDir);
  chmodSync(hba, 0o644);
  const pg = await startPostgres({ settings: { hba_file: hba, password_encryption: 'scram-sha-256' } });
  const maria = await startMariadb();
  const redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
  const memcached = await startMemcached();
  await preparePostgres(pg);
  await prepareMariadb(maria);
  return {
    pg, maria, redis, memcached,
    async stop() {
      await Promise.all([pg.stop(), maria.stop(), redis.stop(), memcached.stop()]);
      rmSync(hbaDir, { recursive: true, force: true });
    },
  };
}

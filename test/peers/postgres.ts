// PostgreSQL 15 (Debian): initdb into a temp dir, then `postgres` itself in the foreground as the
// postgres user (it refuses root), trust auth, unix socket in the dir, fsync off.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOOPBACK, freePort, systemUser, tcpExchange } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

const execFile = promisify(execFileCb);

export interface PostgresOptions {
  /** Database created after start (default `sonde`); `postgres` always exists. */
  database?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Major version under /usr/lib/postgresql (default: 15 if present, else the newest). */
  version?: string;
}

export interface PostgresPeer extends RestartablePeer {
  readonly port: number;
  /** Superuser, trust auth, no password. */
  readonly user: string;
  readonly database: string;
  /** postgresql://postgres@127.0.0.1:PORT/DB */
  readonly connectionString: string;
  /** Directory holding the unix socket `.s.PGSQL.<port>` (use as PGHOST for socket connections). */
  readonly socketDir: string;
  readonly dataDir: string;
  readonly binDir: string;
  readonly psql: string;
  readonly pgbench: string;
  /** PGHOST/PGPORT/PGUSER/PGDATABASE for spawning psql, pgbench and friends. */
  readonly env: Record<string, string>;
}

export function postgresBinDir(version?: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))) : [];
  const v = version ?? (versions.includes('15') ? '15' : versions.sort((a, b) => Number(b) - Number(a))[0]);
  if (v === undefined || !versions.includes(v)) throw new Error(`PostgreSQL ${version ?? ''} not found under ${root} (apt-get install postgresql)`);
  return join(root, v, 'bin');
}

function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

function frame(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(4 + payload.length, 1);
  return Buffer.concat([head, payload]);
}

interface PgReply { types: string[]; error: string | undefined }

function parseFrames(b: Buffer): PgReply {
  const types: string[] = [];
  let error: string | undefined;
  for (let i = 0; i + 5 <= b.length;) {
    const type = String.fromCharCode(b[i] ?? 0);
    const len = b.readInt32BE(i + 1);
    if (i + 1 + len > b.length) break;
    types.push(type);
    if (type === 'E' && error === undefined) {
      const fields = b.subarray(i + 5, i + 1 + len).toString().split('\0');
      error = fields.find((f) => f.startsWith('M'))?.slice(1) ?? 'unknown error';
    }
    i += 1 + len;
  }
  return { types, error };
}

/**
 * Speak the wire protocol directly: startup (trust auth), optionally one simple query, terminate.
 * Resolves when the server is ready for queries (and the query succeeded); rejects with the server's
 * error message otherwise (e.g. "the database system is starting up").
 */
export async function pgSimpleQuery(port: number, opts: { user?: string; database?: string; sql?: string } = {}): Promise<void> {
  const parts = [startupMessage(opts.user ?? 'postgres', opts.database ?? 'postgres')];
  if (opts.sql !== undefined) parts.push(frame('Q', Buffer.from(`${opts.sql}\0`)));
  parts.push(frame('X', Buffer.alloc(0)));
  const wantZ = opts.sql !== undefined ? 2 : 1;
  const reply = await tcpExchange(port, Buffer.concat(parts), (b) => {
    const r = parseFrames(b);
    return r.error !== undefined || r.types.filter((t) => t === 'Z').length >= wantZ;
  }, 5000);
  const r = parseFrames(reply);
  if (r.error !== undefined) throw new Error(`postgres: ${r.error}`);
  if (r.types.filter((t) => t === 'Z').length < wantZ) throw new Error('postgres: connection closed before ReadyForQuery');
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresPeer> {
  const binDir = postgresBinDir(opts.version);
  const pgUser = systemUser('postgres');
  const database = opts.database ?? 'sonde';
  let port = 0;
  let dataDir = '';
  const server = await startServer('postgres', async (dir) => {
    port = await freePort();
    dataDir = join(dir, 'data');
    chownSync(dir, pgUser.uid, pgUser.gid); // postgres must traverse the dir and create its socket there
    execFileSync(join(binDir, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      cwd: dir, uid: pgUser.uid, gid: pgUser.gid, stdio: ['ignore', 'ignore', 'pipe'],
    });
    const settings = { listen_addresses: LOOPBACK, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', ...opts.settings };
    return {
      spawn: () => ({
        cmd: join(binDir, 'postgres'),
        args: ['-D', dataDir, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
        cwd: dir,
        uid: pgUser.uid,
        gid: pgUser.gid,
        stopSignal: 'SIGINT', // "fast" shutdown; SIGTERM ("smart") waits for clients to disconnect
      }),
      ready: async () => { await pgSimpleQuery(port); return true; },
      init: async () => {
        if (database !== 'postgres') await pgSimpleQuery(port, { sql: `CREATE DATABASE "${database.replace(/"/g, '""')}"` });
      },
    };
  });
  return Object.assign(server.handle(), {
    port,
    user: 'postgres',
    database,
    connectionString: `postgresql://postgres@${LOOPBACK}:${port}/${encodeURIComponent(database)}`,
    socketDir: server.dir,
    dataDir,
    binDir,
    psql: join(binDir, 'psql'),
    pgbench: join(binDir, 'pgbench'),
    env: { PGHOST: LOOPBACK, PGPORT: String(port), PGUSER: 'postgres', PGDATABASE: database },
  });
}

/** Run psql against the peer (for tests that want the real CLI client). */
export async function psql(pg: PostgresPeer, sql: string): Promise<string> {
  const { stdout } = await execFile(pg.psql, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, ...pg.env } });
  return stdout;
}

// MariaDB 10.11 (Debian): mariadb-install-db into a temp dir, then mariadbd in the foreground.
// root@127.0.0.1 has no password.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOOPBACK, freePort, tcpExchange } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

const execFile = promisify(execFileCb);

export interface MariadbOptions {
  /** Database created after start (default `sonde`). */
  database?: string;
  /** Extra mariadbd arguments. */
  args?: string[];
}

export interface MariadbPeer extends RestartablePeer {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Unix socket path. */
  readonly socket: string;
  /** mysql://root@127.0.0.1:PORT/DB */
  readonly url: string;
}

/** The server speaks first: a v10 handshake packet (payload byte 0 = 0x0a); 0xff is an error packet. */
export async function mariadbHandshake(port: number): Promise<string> {
  const b = await tcpExchange(port, '', (buf) => buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3));
  if (b[4] !== 0x0a) throw new Error(`mariadb: not a handshake (${b.subarray(4, 64).toString()})`);
  const end = b.indexOf(0, 5);
  return b.subarray(5, end).toString(); // server version
}

export async function mariadbCli(m: { port: number; user: string }, sql: string, database?: string): Promise<string> {
  const args = ['--no-defaults', '-h', LOOPBACK, '-P', String(m.port), '-u', m.user, '--batch', '--skip-column-names', '-e', sql];
  if (database !== undefined) args.push(database);
  const { stdout } = await execFile('mariadb', args);
  return stdout;
}

export async function startMariadb(opts: MariadbOptions = {}): Promise<MariadbPeer> {
  const database = opts.database ?? 'sonde';
  let port = 0;
  let socket = '';
  const server = await startServer('mariadb', async (dir) => {
    port = await freePort();
    socket = join(dir, 'mysql.sock');
    const dataDir = join(dir, 'data');
    mkdirSync(join(dir, 'tmp'));
    execFileSync('mariadb-install-db', ['--no-defaults', '--user=root', `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal', '--skip-test-db'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return {
      spawn: () => ({
        cmd: 'mariadbd',
        args: ['--no-defaults', '--user=root', `--datadir=${dataDir}`, `--bind-address=${LOOPBACK}`, `--port=${port}`,
          `--socket=${socket}`, `--pid-file=${join(dir, 'mysql.pid')}`, `--tmpdir=${join(dir, 'tmp')}`, '--skip-log-bin',
          '--innodb-buffer-pool-size=32M', '--innodb-flush-log-at-trx-commit=0', ...(opts.args ?? [])],
        cwd: dir,
      }),
      ready: async () => (await mariadbHandshake(port)).length > 0,
      init: async () => { await mariadbCli({ port, user: 'root' }, `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\``); },
    };
  });
  return Object.assign(server.handle(), {
    port, user: 'root', password: '', database, socket, url: `mysql://root@${LOOPBACK}:${port}/${database}`,
  });
}

// ClickHouse for tests: modern ClickHouse (26.x, npm `chdb`, in-process engine) behind a small HTTP
// front that speaks enough of ClickHouse's HTTP interface for @clickhouse/client
// (see clickhouse-shim.ts for what is and isn't implemented). The shim runs in a child process;
// halt()/restart() bring it down and back on the same port with the same data (it lives in `dir`).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPBACK, httpGet } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface ClickhouseOptions {
  /** Fixed port; default: the shim binds port 0 on first start and keeps that port on restart(). */
  port?: number;
}

export interface ClickhousePeer extends RestartablePeer {
  readonly port: number;
  /** http://127.0.0.1:PORT: the `url` for @clickhouse/client's createClient(). */
  readonly url: string;
  /** chdb engine version, e.g. 26.7.2.1. */
  readonly version: string;
  /**
   * POST `sql` and return the response text; throws with the server's `Code: N. DB::Exception` text
   * on a non-200 answer. `params` go into the URL (settings, param_*, default_format, database).
   */
  sql(sql: string, params?: Record<string, string>): Promise<string>;
}

const shimPath = fileURLToPath(new URL('./clickhouse-shim.js', import.meta.url));

export async function startClickhouse(opts: ClickhouseOptions = {}): Promise<ClickhousePeer> {
  let port = opts.port ?? 0;
  const server = await startServer('clickhouse', (dir) => {
    const portFile = join(dir, 'port');
    return {
      spawn: () => {
        rmSync(portFile, { force: true });
        return {
          cmd: process.execPath,
          args: [shimPath, '--port', String(port), '--data', join(dir, 'chdb'), '--port-file', portFile],
          cwd: dir,
        };
      },
      ready: async () => {
        if (!existsSync(portFile)) return false;
        port = Number(readFileSync(portFile, 'utf8'));
        const r = await httpGet(`http://${LOOPBACK}:${port}/ping`);
        return r.status === 200 && r.body === 'Ok.\n';
      },
    };
  });
  const url = `http://${LOOPBACK}:${port}`;

  async function sql(query: string, params: Record<string, string> = {}): Promise<string> {
    const res = await fetch(`${url}/?${new URLSearchParams(params).toString()}`, { method: 'POST', body: query });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`clickhouse ${res.status}: ${text.trim()}`);
    return text;
  }

  const version = (await sql('SELECT version()')).trim();
  return Object.assign(server.handle(), { port, url, version, sql });
}

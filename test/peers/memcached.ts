// memcached (Debian) on a free loopback TCP port; UDP off (-U 0).
import { LOOPBACK, freePort, tcpExchange } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface MemcachedOptions {
  /** Memory limit in MiB (default 64). */
  memoryMb?: number;
  args?: string[];
}

export interface MemcachedPeer extends RestartablePeer {
  readonly port: number;
}

/** Text protocol `version` -> `VERSION x.y.z`. */
export async function memcachedVersion(port: number): Promise<string> {
  const b = await tcpExchange(port, 'version\r\n', (buf) => buf.includes('\r\n'));
  const m = /^VERSION (\S+)\r\n/.exec(b.toString());
  if (m === null) throw new Error(`memcached: unexpected reply ${JSON.stringify(b.toString())}`);
  return m[1] ?? '';
}

export async function startMemcached(opts: MemcachedOptions = {}): Promise<MemcachedPeer> {
  let port = 0;
  const server = await startServer('memcached', async () => {
    port = await freePort();
    return {
      spawn: () => ({
        cmd: 'memcached',
        // -u root: memcached refuses to run as root without it.
        args: ['-u', 'root', '-l', LOOPBACK, '-p', String(port), '-U', '0', '-m', String(opts.memoryMb ?? 64), ...(opts.args ?? [])],
      }),
      ready: async () => (await memcachedVersion(port)).length > 0,
    };
  });
  return Object.assign(server.handle(), { port });
}

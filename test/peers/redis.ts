// Redis 7 (Debian redis-server) on a free loopback port, no persistence.
import { LOOPBACK, freePort, tcpExchange } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface RedisOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
}

export interface RedisPeer extends RestartablePeer {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
}

/** RESP PING -> +PONG (a server still loading answers -LOADING). */
export async function redisPing(port: number): Promise<boolean> {
  const b = await tcpExchange(port, 'PING\r\n', (buf) => buf.includes('\r\n'));
  return b.toString() === '+PONG\r\n';
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisPeer> {
  let port = 0;
  const server = await startServer('redis', async (dir) => {
    port = await freePort();
    return {
      spawn: () => ({
        cmd: 'redis-server',
        args: ['--bind', LOOPBACK, '--port', String(port), '--save', '', '--appendonly', 'no',
          '--daemonize', 'no', '--dir', dir, ...(opts.args ?? [])],
      }),
      ready: () => redisPing(port),
    };
  });
  return Object.assign(server.handle(), { port, url: `redis://${LOOPBACK}:${port}` });
}

// NATS server (Debian nats-server) on free loopback ports (client + HTTP monitoring).
import { LOOPBACK, freePort, tcpExchange } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface NatsOptions {
  args?: string[];
}

export interface NatsPeer extends RestartablePeer {
  readonly port: number;
  /** HTTP monitoring port (/varz, /healthz). */
  readonly monitorPort: number;
  /** nats://127.0.0.1:PORT */
  readonly url: string;
}

/** The server greets with INFO; CONNECT + PING must be answered with PONG. */
export async function natsPing(port: number): Promise<boolean> {
  const b = await tcpExchange(port, 'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n', (buf) => buf.includes('PONG\r\n') || buf.includes('-ERR'));
  return b.toString().startsWith('INFO ') && b.includes('PONG\r\n');
}

export async function startNats(opts: NatsOptions = {}): Promise<NatsPeer> {
  let port = 0;
  let monitorPort = 0;
  const server = await startServer('nats', async () => {
    port = await freePort();
    monitorPort = await freePort();
    return {
      spawn: () => ({
        cmd: 'nats-server',
        args: ['-a', LOOPBACK, '-p', String(port), '-m', String(monitorPort), ...(opts.args ?? [])],
      }),
      ready: () => natsPing(port),
    };
  });
  return Object.assign(server.handle(), { port, monitorPort, url: `nats://${LOOPBACK}:${port}` });
}

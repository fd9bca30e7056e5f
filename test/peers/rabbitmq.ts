// RabbitMQ 3.10 (Debian, Erlang/OTP 25). Slow to start (~10 s): start it once per suite.
// Runs /usr/lib/rabbitmq/bin/rabbitmq-server directly (/usr/sbin/rabbitmq-server does `su rabbitmq`).
// Everything binds 127.0.0.1: AMQP listener, Erlang distribution port (inet_dist_use_interface) and
// our own foreground epmd on a private port (-start_epmd false keeps the VM from daemonizing one).
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { LOOPBACK, PeerProcess, freePort, pidsListeningOn, tcpConnects, tcpExchange, waitReady } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface RabbitmqOptions {
  /** Extra rabbitmq.conf lines. */
  config?: string;
  readyTimeoutMs?: number;
}

export interface RabbitmqPeer extends RestartablePeer {
  /** AMQP 0-9-1 port. */
  readonly port: number;
  /** amqp://guest:guest@127.0.0.1:PORT */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly nodeName: string;
  readonly distPort: number;
  readonly epmdPort: number;
}

/** AMQP 0-9-1 protocol header -> the server's first frame is a method frame (type 1, Connection.Start). */
export async function amqpProbe(port: number): Promise<boolean> {
  const b = await tcpExchange(port, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), (buf) => buf.length >= 7, 3000);
  return b[0] === 0x01;
}

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const shortstr = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const longstr = (s: string): Buffer => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);

function methodFrame(classId: number, methodId: number, args: Buffer[]): Buffer {
  const payload = Buffer.concat([u16(classId), u16(methodId), ...args]);
  return Buffer.concat([Buffer.from([1]), u16(0), u32(payload.length), payload, Buffer.from([0xce])]);
}

/** client-properties = { capabilities: { authentication_failure_close: true } }: a failed login gets Close 403, not a bare TCP reset. */
const CLIENT_PROPERTIES = ((): Buffer => {
  const inner = Buffer.concat([shortstr('authentication_failure_close'), Buffer.from('t'), Buffer.from([1])]);
  const field = Buffer.concat([shortstr('capabilities'), Buffer.from('F'), u32(inner.length), inner]);
  return Buffer.concat([u32(field.length), field]);
})();

/**
 * A full AMQP 0-9-1 connection handshake with PLAIN auth: Start/Start-Ok, Tune/Tune-Ok, Open/Open-Ok,
 * then Close/Close-Ok. Resolves on success; rejects with the server's reply text (e.g. ACCESS_REFUSED).
 */
export function amqpLogin(port: number, user = 'guest', password = 'guest', vhost = '/', timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let buf = Buffer.alloc(0);
    const finish = (err?: Error): void => { s.destroy(); if (err !== undefined) reject(err); else resolve(); };
    s.setTimeout(timeoutMs, () => finish(new Error('amqp: timeout')));
    s.once('error', (e) => finish(e));
    s.once('close', () => finish(new Error('amqp: connection closed during handshake')));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const size = buf.readUInt32BE(3);
        if (buf.length < 8 + size) return;
        const type = buf[0];
        const payload = buf.subarray(7, 7 + size);
        buf = buf.subarray(8 + size);
        if (type !== 1) continue; // heartbeats etc.
        const method = `${payload.readUInt16BE(0)}.${payload.readUInt16BE(2)}`;
        if (method === '10.10') { // Start -> Start-Ok
          s.write(methodFrame(10, 11, [CLIENT_PROPERTIES, shortstr('PLAIN'), longstr(`\0${user}\0${password}`), shortstr('en_US')]));
        } else if (method === '10.30') { // Tune -> Tune-Ok (accept the server's channel-max and frame-max, no heartbeats), Open
          s.write(methodFrame(10, 31, [payload.subarray(4, 6), payload.subarray(6, 10), u16(0)]));
          s.write(methodFrame(10, 40, [shortstr(vhost), shortstr(''), Buffer.from([0])]));
        } else if (method === '10.41') { // Open-Ok -> Close
          s.write(methodFrame(10, 50, [u16(200), shortstr('bye'), u16(0), u16(0)]));
        } else if (method === '10.51') { // Close-Ok
          finish();
        } else if (method === '10.50') { // server closes: reply-code, reply-text
          const code = payload.readUInt16BE(4);
          finish(new Error(`amqp: server closed the connection: ${code} ${payload.subarray(7, 7 + (payload[6] ?? 0)).toString()}`));
        }
      }
    });
    s.connect(port, LOOPBACK, () => s.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
  });
}

function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; }
}

export async function startRabbitmq(opts: RabbitmqOptions = {}): Promise<RabbitmqPeer> {
  let port = 0;
  let distPort = 0;
  let epmdPort = 0;
  let nodeName = '';
  const server = await startServer('rabbitmq', async (dir) => {
    port = await freePort();
    distPort = await freePort();
    epmdPort = await freePort();
    nodeName = `sonde${port}@localhost`;
    writeFileSync(join(dir, 'rabbitmq.conf'), `# generated by test/peers/rabbitmq.ts
listeners.tcp.default = ${LOOPBACK}:${port}
disk_free_limit.absolute = 1MB
log.console = true
log.console.level = info
log.file = false
${opts.config ?? ''}
`);
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: dir, // .erlang.cookie goes here
      RABBITMQ_NODENAME: nodeName,
      RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      ERL_EPMD_ADDRESS: LOOPBACK,
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(dir, 'rabbit.pid'),
      RABBITMQ_LOGS: '-',
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false',
    };
    let epmd: PeerProcess | undefined;
    return {
      beforeStart: async () => {
        epmd = new PeerProcess({ cmd: 'epmd', args: ['-address', LOOPBACK, '-port', String(epmdPort)], env }, join(dir, 'epmd.log'));
        await waitReady('epmd', epmd, () => tcpConnects(epmdPort), { timeoutMs: 10_000 });
      },
      spawn: () => ({ cmd: '/usr/lib/rabbitmq/bin/rabbitmq-server', args: [], env, cwd: dir, stopTimeoutMs: 30_000 }),
      ready: () => amqpProbe(port),
      readyTimeoutMs: opts.readyTimeoutMs ?? 90_000,
      afterHalt: async () => {
        await epmd?.stop();
        epmd = undefined;
        // Safety net: an `epmd -daemon` started despite -start_epmd false escapes our process group.
        for (const pid of pidsListeningOn(epmdPort)) {
          if (cmdline(pid).includes('epmd')) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
      },
    };
  });
  return Object.assign(server.handle(), {
    port, distPort, epmdPort, nodeName, user: 'guest', password: 'guest', url: `amqp://guest:guest@${LOOPBACK}:${port}`,
  });
}

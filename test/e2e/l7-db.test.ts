// e2e (root): the kernel detector table's database rows on real servers and real clients: each
// protocol's connections are recognised in the kernel from their first bytes, cross to user space,
// and become linked CLIENT/SERVER spans (the parsers themselves are tested on fixtures elsewhere).
// Filtered by each server's port and the clients' pids.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { loadNative } from '../../src/native/load.js';
import type { SpanRecord } from '../../src/pdata/traces.js';
import { ParserRegistry } from '../../src/receivers/ebpf/l7/registry.js';
import { protocolParsers } from '../../src/receivers/ebpf/l7/protocols/index.js';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { startMariadb, startMemcached, startPostgres, startRedis } from '../peers/index.js';
import { e2eSkipReason, nodeChild } from '../helpers/e2e.js';
import { L7TestAgent, run } from '../helpers/l7-agent.js';
import { bpfObjectPath } from '../helpers/paths.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy' : undefined);
if (skip) console.log(`# SKIP l7 database e2e: ${skip}`);

const pidOf = (s: SpanRecord): number => s.resource.attributes['process.pid'] as number;

describe('l7 probe: database protocols detected in the kernel (real servers)', { skip, concurrency: false, timeout: 120_000 }, () => {
  let agent: L7TestAgent;
  before(() => {
    const registry = new ParserRegistry();
    for (const p of protocolParsers) registry.register(p);
    agent = L7TestAgent.start(loadNative(), { registry });
  });
  after(() => agent?.stop());

  /** The CLIENT spans of `pids` and the SERVER spans on `port`, each client linked to its server span. */
  async function linked(pids: number[], port: number, n: number): Promise<{ clients: SpanRecord[]; servers: SpanRecord[] }> {
    const clients = (): SpanRecord[] => agent.spans.filter((s) => pids.includes(pidOf(s)) && s.kind === SpanKind.CLIENT);
    const servers = (): SpanRecord[] => agent.spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes['server.port'] === port);
    assert.ok(await agent.waitFor(() => clients().length >= n && servers().length >= n), `client ${clients().length}, server ${servers().length}`);
    await agent.settle(300);
    const c = clients().sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    const s = servers();
    for (const x of c) {
      const sv = s.find((y) => y.parentSpanId === x.spanId);
      assert.ok(sv, `SERVER span for ${x.name}`);
      assert.equal(sv.traceId, x.traceId);
      assert.equal(sv.name, x.name);
    }
    return { clients: c, servers: s };
  }

  test('Redis: redis-cli commands (RESP arrays), an error reply', async () => {
    const redis = await startRedis();
    try {
      agent.spans.length = 0;
      const cli = (args: string[]): Promise<{ pid: number }> => run('redis-cli', ['-p', String(redis.port), ...args]);
      const a = await cli(['SET', 'sonde:k', 'v']);
      const b = await cli(['GET', 'sonde:k']);
      const c = await cli(['INCR', 'sonde:k']);
      const { clients, servers } = await linked([a.pid, b.pid, c.pid], redis.port, 3);
      assert.deepEqual(clients.map((s) => s.attributes['db.operation.name']), ['SET', 'GET', 'INCR']);
      assert.ok(clients.every((s) => s.attributes['db.system.name'] === 'redis'));
      assert.equal(clients[2].status.code, SpanStatusCode.ERROR, 'INCR on a string: -ERR');
      assert.equal(servers.length, 3);
    } finally {
      await redis.stop();
    }
  });

  test('memcached: text protocol set/get from a raw client', async () => {
    const mc = await startMemcached();
    try {
      agent.spans.length = 0;
      const c = nodeChild(`
import net from 'node:net';
const s = net.connect(${mc.port}, '127.0.0.1', () => s.write('set sonde 0 0 5\\r\\nhello\\r\\n'));
let step = 0;
s.on('data', (d) => { if (step++ === 0) s.write('get sonde\\r\\n'); else { console.log(String(d).split('\\r\\n')[0]); s.end(); } });
s.on('close', () => process.exit(0));`);
      assert.equal(await c.line(), 'VALUE sonde 0 5');
      const { clients } = await linked([c.pid], mc.port, 2);
      assert.deepEqual(clients.map((s) => s.attributes['db.operation.name']), ['set', 'get']);
      assert.ok(clients.every((s) => s.attributes['db.system.name'] === 'memcached'));
    } finally {
      await mc.stop();
    }
  });

  test('PostgreSQL: psql (startup message detected; the query becomes a span on both ends)', async () => {
    const pg = await startPostgres();
    try {
      agent.spans.length = 0;
      const q = await run(pg.psql, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.user, '-d', pg.database, '-X', '-q', '-c', 'SELECT 42 AS answer']);
      const { clients } = await linked([q.pid], pg.port, 1);
      const sel = clients.find((s) => String(s.attributes['db.query.text']).startsWith('SELECT'));
      assert.ok(sel, JSON.stringify(clients.map((s) => s.attributes)));
      assert.equal(sel.attributes['db.system.name'], 'postgresql');
      assert.equal(sel.attributes['db.query.text'], 'SELECT ? AS answer', 'literals replaced by ?');
    } finally {
      await pg.stop();
    }
  });

  test('MariaDB: the mariadb client (server greeting detected first; COM_QUERY spans on both ends)', async () => {
    const db = await startMariadb();
    try {
      agent.spans.length = 0;
      const q = await run('mariadb', ['-h', '127.0.0.1', '-P', String(db.port), '-u', db.user, ...(db.password ? [`-p${db.password}`] : []), '-e', 'SELECT 7 + 1']);
      const { clients } = await linked([q.pid], db.port, 1);
      const sel = clients.find((s) => String(s.attributes['db.query.text']).startsWith('SELECT'));
      assert.ok(sel, JSON.stringify(clients.map((s) => s.attributes)));
      assert.ok(['mysql', 'mariadb'].includes(String(sel.attributes['db.system.name'])), 'MariaDB reports itself (semconv db.system.name)');
    } finally {
      await db.stop();
    }
  });

  test('non-L7 TCP traffic does not cross: a binary protocol is tried a few segments, then ignored on both ends', async () => {
    const k0 = agent.kernelStats();
    const srv = nodeChild(`
import net from 'node:net';
const s = net.createServer((c) => c.on('data', (d) => c.write(d))).listen(0, '127.0.0.1', () => console.log(s.address().port));
process.stdin.on('data', () => process.exit(0));`);
    const port = Number(await srv.line());
    try {
      const c = nodeChild(`
import net from 'node:net';
const s = net.connect(${port}, '127.0.0.1');
let n = 0;
s.on('connect', () => s.write(Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5])));
s.on('data', () => { if (++n < 20) s.write(Buffer.alloc(64, n)); else s.end(); });
s.on('close', () => { console.log(n); process.exit(0); });`);
      assert.equal(await c.line(), '20');
      await agent.settle(200);
      const k1 = agent.kernelStats();
      assert.ok(k1.undetected - k0.undetected >= 2, 'both sockets given up in the kernel after detect_tries segments');
      assert.equal(agent.opensByPort.get(port) ?? 0, 0, 'nothing crossed to user space (no OPEN for the port: the machine is shared)');
      assert.equal(agent.spans.filter((s) => s.attributes['server.port'] === port || s.attributes['network.peer.port'] === port).length, 0);
    } finally {
      srv.proc.stdin?.write('x');
    }
  });
});

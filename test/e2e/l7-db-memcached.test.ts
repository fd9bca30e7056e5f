// e2e (root, real kernel): memcached 1.6 with libmemcached's CLI tools (memccp/memccat/memcrm/memctouch:
// the text protocol, and --binary), a raw text-protocol socket (errors, multi-get hit/miss) and memjs (the
// binary protocol) through the ebpf receiver's l7 probe and the real Service. Exact CLIENT/SERVER spans,
// linking, statuses, hit/miss counts and metric increments.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { startMemcached, type MemcachedPeer } from '../peers/index.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { TestCgroup } from '../helpers/l7-agent.js';
import { L7Service, assertLinked, cgroupOf, exec, inCgroup, markSpans, promDelta, sinkDelta, snapshot, sortByStart, stepSpans } from '../helpers/l7-service.js';
import { bpfObjectPath } from '../helpers/paths.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy' : undefined)
  ?? (spawnSync('memccp', ['--help']).error ? 'libmemcached-tools not installed (scripts/apt-packages-peers.txt)' : undefined);
if (skip) console.log(`# SKIP l7 memcached e2e: ${skip}`);

const require = createRequire(import.meta.url);
const op = (sp: ReadableSpan): unknown => sp.attributes['db.operation.name'];
const err = (sp: ReadableSpan): unknown => sp.attributes['error.type'];
const code = (sp: ReadableSpan): unknown => sp.attributes['db.response.status_code'];

describe('memcached through the l7 probe and the Service (e2e, root)', { skip, concurrency: false, timeout: 300_000 }, () => {
  let svc: L7Service;
  let mc: MemcachedPeer;
  let cg: TestCgroup;
  let dest: string;
  let tmp: string;

  before(async () => {
    svc = await L7Service.start();
    cg = new TestCgroup('mc');
    mc = await inCgroup(cg, () => startMemcached());
    dest = `127.0.0.1:${mc.port}`;
    tmp = mkdtempSync(join(tmpdir(), 'sonde-l7-mc-'));
    writeFileSync(join(tmp, 'k1'), 'hello');
  });

  after(async () => {
    await mc?.stop();
    await svc?.stop();
    cg?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs each libmemcached tool invocation (one process, one connection each) and returns their pids. */
  async function tools(binary: boolean): Promise<number[]> {
    const s = [`--servers=127.0.0.1:${mc.port}`, ...(binary ? ['--binary'] : [])];
    const pids: number[] = [];
    for (const [cmd, args, ok] of [
      ['memccp', [join(tmp, 'k1')], [0]], // set k1
      ['memccat', ['k1'], [0]], // get: hit
      ['memccat', ['nokey'], [1]], // get: miss
      ['memctouch', ['--expire=100', 'k1'], [0]], // touch
      ['memcrm', ['k1'], [0]], // delete
      ['memcrm', ['k1'], [0, 1]], // delete: not found
    ] as Array<[string, string[], number[]]>) {
      pids.push((await exec(cmd, [...s, ...args], { okCodes: ok })).pid);
    }
    return pids;
  }

  test('libmemcached CLI, text protocol: set, get hit, get miss, touch, delete, delete miss — one span each end, linked; metrics', async () => {
    const m0 = await snapshot(svc);
    const since = markSpans(svc, mc.port);
    const pids = await tools(false);
    const { clients, servers } = await stepSpans(svc, { pids, port: mc.port, since, n: 6 });
    assertLinked(clients, servers);
    const byPid = pids.map((p) => clients.filter((s) => s.resource.attributes['process.pid'] === p));
    assert.deepEqual(byPid.map((l) => l.map(op)), [['set'], ['get'], ['get'], ['touch'], ['delete'], ['delete']]);
    assert.deepEqual(byPid.map((l) => code(l[0])), ['STORED', undefined, undefined, 'TOUCHED', 'DELETED', 'NOT_FOUND']);
    assert.deepEqual(byPid.slice(1, 3).map((l) => [l[0].attributes['sonde.memcached.hits'], l[0].attributes['sonde.memcached.misses']]), [[1, 0], [0, 1]]);
    assert.ok([...clients, ...servers].every((s) => s.status.code === SpanStatusCode.UNSET && err(s) === undefined), 'a miss is not an error');
    assert.ok([...clients, ...servers].every((s) => s.attributes['db.system.name'] === 'memcached' && s.attributes['db.query.text'] === undefined));
    assert.ok(servers.every((s) => cgroupOf(s) === cg.rel));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', { ...out, status: 'ok' }), 6);
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', out), 6);
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_duration_seconds_total_count', out), 6);
    assert.equal(promDelta(m0, m1, 'container_memcached_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'ok' }), 6);
    assert.equal(promDelta(m0, m1, 'container_memcached_inbound_queries_duration_seconds_total_count', { sonde_cgroup_path: cg.rel }), 6);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { 'db.system.name': 'memcached', 'server.port': mc.port, 'db.operation.name': 'get' }), 2);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'memcached', 'db.operation.name': 'delete', 'db.response.status_code': 'NOT_FOUND' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'memcached' }), 6);
  });

  test('raw text client: multi-get (2 hits, 1 miss), incr on a string (CLIENT_ERROR), an unknown command (ERROR), noreply, version', async () => {
    const m0 = await snapshot(svc);
    const since = markSpans(svc, mc.port);
    const r = await exec(process.execPath, ['--input-type=module', '-e', `
import net from 'node:net';
const steps = [
  ['set a 0 0 1\\r\\n1\\r\\n', 'STORED\\r\\n'],
  ['set b 0 0 2\\r\\nbb\\r\\n', 'STORED\\r\\n'],
  ['get a b zz\\r\\n', 'END\\r\\n'],
  ['incr b 1\\r\\n', '\\r\\n'],
  ['bogus command\\r\\n', '\\r\\n'],
  ['set q 0 0 1 noreply\\r\\nq\\r\\nversion\\r\\n', '\\r\\n'],
];
const s = net.connect(${mc.port}, '127.0.0.1');
let buf = '', i = 0;
const out = [];
s.on('connect', () => s.write(steps[0][0]));
s.on('data', (d) => {
  buf += d;
  if (!buf.endsWith(steps[i][1])) return;
  out.push(buf.split('\\r\\n')[0]); buf = '';
  if (++i === steps.length) { s.end(); console.log(JSON.stringify(out)); } else s.write(steps[i][0]);
});`]);
    const replies = JSON.parse(r.stdout) as string[];
    assert.deepEqual(replies.slice(0, 5), ['STORED', 'STORED', 'VALUE a 0 1', 'CLIENT_ERROR cannot increment or decrement non-numeric value', 'ERROR']);
    assert.match(replies[5], /^VERSION /);
    // the noreply set is recorded at once (no reply to wait for), before the version request it was written with
    const { clients, servers } = await stepSpans(svc, { pids: [r.pid], port: mc.port, since, n: 7 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(op), ['set', 'set', 'get', 'incr', 'bogus', 'set', 'version']);
    assert.deepEqual(clients.map(err), [undefined, undefined, undefined, 'CLIENT_ERROR', 'ERROR', undefined, undefined]);
    assert.deepEqual(clients.map((s) => s.status.code), clients.map((s) => (err(s) ? SpanStatusCode.ERROR : SpanStatusCode.UNSET)));
    assert.deepEqual(servers.map(err), clients.map(err));
    assert.deepEqual([clients[2].attributes['sonde.memcached.hits'], clients[2].attributes['sonde.memcached.misses']], [2, 1]);

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', { ...out, status: 'ok' }), 5);
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', { ...out, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_memcached_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'failed' }), 2);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { 'server.port': mc.port, 'error.type': 'CLIENT_ERROR' }), 1);
  });

  test('binary protocol: libmemcached --binary and memjs — detected in the kernel, one span per request, linked', async () => {
    const m0 = await snapshot(svc);
    const since = markSpans(svc, mc.port);
    const pids = await tools(true);
    const memjs = require.resolve('memjs');
    const j = await exec(process.execPath, ['--input-type=module', '-e', `
import memjs from ${JSON.stringify(memjs)};
const c = memjs.Client.create('127.0.0.1:${mc.port}', { logger: { log() {} }, retries: 0 });
await c.set('mj', 'v', {});
const hit = await c.get('mj');
const miss = await c.get('mj-missing');
let exists = '';
try { exists = String(await c.add('mj', 'x', {})); } catch (e) { exists = e.message; }
await c.delete('mj');
c.quit();
console.log(JSON.stringify([String(hit.value), miss.value, exists]));`]);
    assert.deepEqual(JSON.parse(j.stdout), ['v', null, 'false']);
    const { clients, servers } = await stepSpans(svc, { pids: [...pids, j.pid], port: mc.port, since, n: 11 });
    assertLinked(clients, servers);
    const tool = clients.filter((s) => pids.includes(s.resource.attributes['process.pid'] as number));
    // libmemcached's binary get is GETK (the key echoed back)
    assert.deepEqual(sortByStart(tool).map(op), ['set', 'getk', 'getk', 'touch', 'delete', 'delete']);
    const js = clients.filter((s) => s.resource.attributes['process.pid'] === j.pid);
    assert.deepEqual(js.map(op), ['set', 'get', 'get', 'add', 'delete']);
    assert.deepEqual(js.map(code), [undefined, undefined, 'KEY_NOT_FOUND', 'KEY_EXISTS', undefined]);
    assert.deepEqual(js.map(err), Array(5).fill(undefined), 'outcomes, not failures: a miss, add on an existing key (like NOT_STORED in text)');
    assert.ok(servers.every((s) => s.attributes['db.system.name'] === 'memcached' && cgroupOf(s) === cg.rel));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    const failed = clients.filter(err).length;
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', out), 11);
    assert.equal(promDelta(m0, m1, 'container_memcached_queries_total', { ...out, status: 'failed' }), failed);
    assert.equal(promDelta(m0, m1, 'container_memcached_inbound_queries_total', { sonde_cgroup_path: cg.rel }), 11);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'memcached' }), 11);
  });
});

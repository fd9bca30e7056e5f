// e2e (root, real kernel): Redis 7 with redis-cli (RESP2 commands from stdin: WRONGTYPE and ERR replies,
// SELECT → db.namespace) and redis-benchmark with -P pipelining (one span per command) through the ebpf
// receiver's l7 probe and the real Service. Exact CLIENT/SERVER spans, linking, statuses and metric increments.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { startRedis, type RedisPeer } from '../peers/index.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { TestCgroup } from '../helpers/l7-agent.js';
import { L7Service, assertLinked, cgroupOf, countBy, exec, inCgroup, markSpans, promDelta, sinkDelta, snapshot, stepSpans } from '../helpers/l7-service.js';
import { bpfObjectPath } from '../helpers/paths.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy' : undefined);
if (skip) console.log(`# SKIP l7 redis e2e: ${skip}`);

const op = (sp: ReadableSpan): unknown => sp.attributes['db.operation.name'];
const err = (sp: ReadableSpan): unknown => sp.attributes['error.type'];

describe('Redis through the l7 probe and the Service (e2e, root)', { skip, concurrency: false, timeout: 300_000 }, () => {
  let svc: L7Service;
  let redis: RedisPeer;
  let cg: TestCgroup;
  let dest: string;

  before(async () => {
    svc = await L7Service.start();
    cg = new TestCgroup('redis');
    redis = await inCgroup(cg, () => startRedis());
    dest = `127.0.0.1:${redis.port}`;
  });

  after(async () => {
    await redis?.stop();
    await svc?.stop();
    cg?.destroy();
  });

  test('redis-cli: 11 commands on one connection (WRONGTYPE, an unknown command, SELECT 3) — exact spans, statuses, namespace, metrics', async () => {
    const commands = ['SET user:1 alice', 'GET user:1', 'GET missing', 'INCR counter', 'LPUSH list a b c', 'GET list', 'HSET h f v',
      'SELECT 3', 'SET k 1', 'INCR k', 'NOSUCHCMD x'];
    const m0 = await snapshot(svc);
    const since = markSpans(svc, redis.port);
    const r = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port)], { input: `${commands.join('\n')}\n` });
    assert.match(r.stdout, /WRONGTYPE/);
    // redis-cli 7 first asks COMMAND DOCS (for its hints) on the same connection
    const { clients, servers } = await stepSpans(svc, { pids: [r.pid], port: redis.port, since, n: 12 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(op), ['COMMAND DOCS', 'SET', 'GET', 'GET', 'INCR', 'LPUSH', 'GET', 'HSET', 'SELECT', 'SET', 'INCR', 'NOSUCHCMD']);
    assert.deepEqual(clients.map((s) => s.name), clients.map(op));
    assert.deepEqual(clients.map(err), [...Array(6).fill(undefined), 'WRONGTYPE', ...Array(4).fill(undefined), 'ERR']);
    assert.deepEqual(clients.filter(err).map((s) => [s.status.code, s.attributes['db.response.status_code']]), [[SpanStatusCode.ERROR, 'WRONGTYPE'], [SpanStatusCode.ERROR, 'ERR']]);
    assert.deepEqual(servers.map(err), clients.map(err));
    assert.deepEqual(clients.map((s) => s.attributes['db.namespace']), [...Array(8).fill(undefined), '3', '3', '3', '3'], 'db.namespace from a successful SELECT on');
    assert.ok([...clients, ...servers].every((s) => s.attributes['db.system.name'] === 'redis' && s.attributes['db.query.text'] === undefined), 'no keys or values without record_keys');
    assert.ok(servers.every((s) => cgroupOf(s) === cg.rel));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    const inb = { sonde_cgroup_path: cg.rel };
    assert.equal(promDelta(m0, m1, 'container_redis_queries_total', { ...out, status: 'ok' }), 10);
    assert.equal(promDelta(m0, m1, 'container_redis_queries_total', { ...out, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_redis_queries_duration_seconds_total_count', out), 12);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_total', { ...inb, status: 'ok' }), 10);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_total', { ...inb, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_duration_seconds_total_count', inb), 12);
    const cl = { 'db.system.name': 'redis', 'server.port': redis.port };
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', cl), 12);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.operation.name': 'GET', 'error.type': 'WRONGTYPE' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.namespace': '3' }), 4);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'redis' }), 12);
    assert.equal(promDelta(m0, m1, 'db_server_operation_duration_seconds_count', { ...inb, db_operation_name: 'NOSUCHCMD', error_type: 'ERR' }), 1);
  });

  test('redis-cli -3 (RESP3: HELLO 3, map, set, double and null replies): one span per command, linked', async () => {
    const m0 = await snapshot(svc);
    const since = markSpans(svc, redis.port);
    const r = await exec('redis-cli', ['-3', '-h', '127.0.0.1', '-p', String(redis.port)], { input: 'HSET h3 f v\nHGETALL h3\nSADD s3 a\nSMEMBERS s3\nZADD z3 2.5 m\nZSCORE z3 m\nGET nothing\n' });
    const { clients, servers } = await stepSpans(svc, { pids: [r.pid], port: redis.port, since, n: 9 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(op), ['HELLO', 'COMMAND DOCS', 'HSET', 'HGETALL', 'SADD', 'SMEMBERS', 'ZADD', 'ZSCORE', 'GET']);
    assert.ok([...clients, ...servers].every((s) => s.status.code === SpanStatusCode.UNSET && err(s) === undefined));
    const m1 = await snapshot(svc);
    assert.equal(promDelta(m0, m1, 'container_redis_queries_total', { destination: dest, status: 'ok' }), 9);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'ok' }), 9);
  });

  test('redis-benchmark -c 2 -P 16 -n 160 -t set,get,incr,lpush: 640 pipelined commands, one CLIENT and one SERVER span each, linked', async () => {
    const N = 160;
    const TESTS = ['SET', 'GET', 'INCR', 'LPUSH'];
    const m0 = await snapshot(svc);
    const since = markSpans(svc, redis.port);
    const b = await exec('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-c', '2', '-P', '16', '-n', String(N), '-t', TESTS.join(',').toLowerCase(), '-q']);
    // it first asks CONFIG GET save and CONFIG GET appendonly on one connection
    const total = TESTS.length * N + 2;
    const { clients, servers } = await stepSpans(svc, { pids: [b.pid], port: redis.port, since, n: total });
    assertLinked(clients, servers);
    const want = { 'CONFIG GET': 2, ...Object.fromEntries(TESTS.map((t) => [t, N])) };
    assert.deepEqual(countBy(clients, (s) => String(op(s))), want);
    assert.deepEqual(countBy(servers, (s) => String(op(s))), want);
    assert.ok([...clients, ...servers].every((s) => s.status.code === SpanStatusCode.UNSET && err(s) === undefined && s.attributes['sonde.l7.incomplete'] === undefined));
    assert.ok(servers.every((s) => cgroupOf(s) === cg.rel));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    assert.equal(promDelta(m0, m1, 'container_redis_queries_total', { ...out, status: 'ok' }), total);
    assert.equal(promDelta(m0, m1, 'container_redis_queries_total', out), total);
    assert.equal(promDelta(m0, m1, 'container_redis_queries_duration_seconds_total_count', out), total);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'ok' }), total);
    assert.equal(promDelta(m0, m1, 'container_redis_inbound_queries_total', { sonde_cgroup_path: cg.rel }), total);
    for (const t of TESTS) {
      assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { 'db.system.name': 'redis', 'server.port': redis.port, 'db.operation.name': t }), N, t);
      assert.equal(promDelta(m0, m1, 'db_server_operation_duration_seconds_count', { sonde_cgroup_path: cg.rel, db_operation_name: t }), N, t);
    }
  });
});

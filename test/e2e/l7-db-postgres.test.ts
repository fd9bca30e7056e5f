// e2e (root, real kernel): PostgreSQL 15 with psql and pgbench (-M simple / extended / prepared) through
// the ebpf receiver's l7 probe and the real Service (test/helpers/l7-service.ts). Each test drives a known
// number of statements and asserts exact CLIENT and SERVER span counts, each SERVER span the child of its
// CLIENT span, the sanitized statement text, db.* attributes, SQLSTATE on errors, and the exact increments of
// the coroot families (prometheus scrape) and of the semconv histograms (Sink, and the scrape).
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { startPostgres, type PostgresPeer } from '../peers/index.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { TestCgroup } from '../helpers/l7-agent.js';
import { L7Service, assertLinked, cgroupOf, countBy, exec, inCgroup, markSpans, pointAttrs, promDelta, sinkDelta, snapshot, stepSpans } from '../helpers/l7-service.js';
import { bpfObjectPath } from '../helpers/paths.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy' : undefined);
if (skip) console.log(`# SKIP l7 postgres e2e: ${skip}`);

const text = (sp: ReadableSpan): string => String(sp.attributes['db.query.text']);

describe('PostgreSQL through the l7 probe and the Service (e2e, root)', { skip, concurrency: false, timeout: 300_000 }, () => {
  let svc: L7Service;
  let pg: PostgresPeer;
  let cg: TestCgroup;
  let tmp: string;
  let dest: string;

  before(async () => {
    svc = await L7Service.start();
    cg = new TestCgroup('pg');
    pg = await inCgroup(cg, () => startPostgres());
    dest = `127.0.0.1:${pg.port}`;
    tmp = mkdtempSync(join(tmpdir(), 'sonde-l7-pg-'));
    // pgbench's tables over the unix socket (not TCP: not traced)
    await exec(pg.pgbench, ['-i', '-s', '1', '-q', pg.database], { env: { ...pg.env, PGHOST: pg.socketDir } });
  });

  after(async () => {
    await pg?.stop();
    await svc?.stop();
    cg?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const psqlArgs = (): string[] => ['-X', '-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.user, '-d', pg.database];

  test('psql: 7 statements (DDL, DML, a syntax error, an undefined table) — exact spans, sanitized text, SQLSTATE, metrics', async () => {
    const script = join(tmp, 'script.sql');
    writeFileSync(script, [
      'CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric);',
      "INSERT INTO orders VALUES (1, 'alice', 10.5), (2, 'bob', 20);",
      "SELECT customer, total FROM orders WHERE id = 1 AND customer <> 'mallory';",
      "UPDATE orders SET total = total + 1 WHERE customer = 'alice';",
      'SELEC broken syntax;',
      'SELECT * FROM missing_table;',
      'DELETE FROM orders WHERE id = 2;',
      '',
    ].join('\n'));
    const m0 = await snapshot(svc); // also lets spans of earlier activity (the peer's set-up) leave
    const since = markSpans(svc, pg.port);
    const q = await exec(pg.psql, [...psqlArgs(), '-q', '-v', 'ON_ERROR_STOP=0', '-f', script], { env: { PGSSLMODE: 'disable' } });
    const { clients, servers } = await stepSpans(svc, { pids: [q.pid], port: pg.port, since, n: 7 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(text), [
      // psql sends the statement as typed, `;` included; repeated VALUES rows collapse to one
      'CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric);',
      'INSERT INTO orders VALUES (?, ?, ?);',
      'SELECT customer, total FROM orders WHERE id = ? AND customer <> ?;',
      'UPDATE orders SET total = total + ? WHERE customer = ?;',
      'SELEC broken syntax;',
      'SELECT * FROM missing_table;',
      'DELETE FROM orders WHERE id = ?;',
    ]);
    assert.deepEqual(clients.map((s) => s.name), ['CREATE TABLE orders', 'INSERT orders', 'SELECT orders', 'UPDATE orders', 'SELEC', 'SELECT missing_table', 'DELETE orders']);
    assert.deepEqual(clients.map((s) => s.attributes['db.operation.name']), ['CREATE TABLE', 'INSERT', 'SELECT', 'UPDATE', 'SELEC', 'SELECT', 'DELETE']);
    for (const sp of [...clients, ...servers]) {
      assert.equal(sp.attributes['db.system.name'], 'postgresql');
      assert.equal(sp.attributes['db.namespace'], pg.database, 'from the startup message');
      assert.equal(sp.attributes['server.port'], pg.port);
    }
    const errors = clients.filter((s) => s.status.code === SpanStatusCode.ERROR);
    assert.deepEqual(errors.map((s) => [s.attributes['error.type'], s.attributes['db.response.status_code']]), [['42601', '42601'], ['42P01', '42P01']]);
    assert.deepEqual(servers.filter((s) => s.status.code === SpanStatusCode.ERROR).map((s) => s.attributes['error.type']), ['42601', '42P01']);
    assert.equal(clients.filter((s) => s.attributes['error.type'] === undefined && s.status.code === SpanStatusCode.UNSET).length, 5);
    assert.ok(servers.every((s) => cgroupOf(s) === cg.rel), `SERVER spans in the server's cgroup ${cg.rel}: ${JSON.stringify(countBy(servers, cgroupOf))}`);
    assert.deepEqual(clients.map((s) => s.attributes['db.response.returned_rows']), [0, 0, 1, 0, undefined, undefined, 0], 'rows returned (DML without RETURNING returns none)');

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    const inb = { sonde_cgroup_path: cg.rel };
    assert.equal(promDelta(m0, m1, 'container_postgres_queries_total', { ...out, status: 'ok' }), 5);
    assert.equal(promDelta(m0, m1, 'container_postgres_queries_total', { ...out, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_postgres_queries_duration_seconds_total_count', out), 7);
    assert.equal(promDelta(m0, m1, 'container_postgres_queries_duration_seconds_total_bucket', { ...out, status: 'ok', le: '+Inf' }), 5);
    assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_total', { ...inb, status: 'ok' }), 5);
    assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_total', { ...inb, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_duration_seconds_total_count', inb), 7);
    // semconv histograms (ebpf/otel): by operation, collection, namespace and error
    const cl = { 'db.system.name': 'postgresql', 'db.namespace': pg.database, 'server.port': pg.port };
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', cl), 7);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.operation.name': 'INSERT', 'db.collection.name': 'orders' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'error.type': '42601', 'db.response.status_code': '42601' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'error.type': '42P01', 'db.collection.name': 'missing_table' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'postgresql', 'db.namespace': pg.database }), 7);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.operation.name': 'SELECT', 'db.collection.name': 'orders' }), 1);
    assert.equal(promDelta(m0, m1, 'db_client_operation_duration_seconds_count', { db_system_name: 'postgresql', server_port: String(pg.port) }), 7);
    assert.equal(promDelta(m0, m1, 'db_server_operation_duration_seconds_count', { ...inb, db_system_name: 'postgresql', error_type: '42601' }), 1);
  });

  // pgbench with a custom script: no built-in checks (scale, partitions), so the statements are exactly the script's
  const T = 5;
  const SCRIPT = [
    '\\set aid random(1, 100000)',
    '\\set delta random(-5000, 5000)',
    'BEGIN;',
    'UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;',
    'SELECT abalance FROM pgbench_accounts WHERE aid = :aid;',
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, :delta, CURRENT_TIMESTAMP);",
    'END;',
    '',
  ].join('\n');
  const PER_TXN = 5;

  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    test(`pgbench -M ${mode} -t ${T}: ${PER_TXN} statements per transaction, each a CLIENT and a SERVER span, linked; metrics +${T * PER_TXN}`, async () => {
      const script = join(tmp, 'txn.sql');
      writeFileSync(script, SCRIPT);
      const m0 = await snapshot(svc); // also lets spans of earlier activity (the peer's set-up) leave
      const since = markSpans(svc, pg.port);
      const b = await exec(pg.pgbench, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.user, '-n', '-c', '1', '-t', String(T), '-M', mode, '-f', script, pg.database],
        { env: { PGSSLMODE: 'disable' } });
      assert.match(b.stdout, new RegExp(`number of transactions actually processed: ${T}/${T}`));
      const N = T * PER_TXN;
      const { clients, servers } = await stepSpans(svc, { pids: [b.pid], port: pg.port, since, n: N });
      assertLinked(clients, servers);
      const p = (i: number): string => (mode === 'simple' ? '?' : `$${i}`);
      const want = [
        'BEGIN;',
        `UPDATE pgbench_accounts SET abalance = abalance + ${p(1)} WHERE aid = ${p(2)};`,
        `SELECT abalance FROM pgbench_accounts WHERE aid = ${p(1)};`,
        `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ${p(1)}, ${p(2)}, CURRENT_TIMESTAMP);`,
        'END;',
      ];
      assert.deepEqual(countBy(clients, text), Object.fromEntries(want.map((w) => [w, T])), 'statement texts (simple: pgbench substitutes :variables, literals → ?; extended/prepared: $n from Parse kept)');
      assert.deepEqual(clients.slice(0, PER_TXN).map(text), want, 'in order');
      assert.deepEqual(countBy(clients, (s) => s.name), { BEGIN: T, 'UPDATE pgbench_accounts': T, 'SELECT pgbench_accounts': T, 'INSERT pgbench_history': T, END: T });
      assert.ok([...clients, ...servers].every((s) => s.attributes['db.namespace'] === pg.database && s.status.code === SpanStatusCode.UNSET));
      assert.ok(servers.every((s) => cgroupOf(s) === cg.rel));

      const m1 = await snapshot(svc);
      const out = { destination: dest, actual_destination: dest };
      assert.equal(promDelta(m0, m1, 'container_postgres_queries_total', { ...out, status: 'ok' }), N);
      assert.equal(promDelta(m0, m1, 'container_postgres_queries_total', out), N);
      assert.equal(promDelta(m0, m1, 'container_postgres_queries_duration_seconds_total_count', out), N);
      assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'ok' }), N);
      assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_total', { sonde_cgroup_path: cg.rel }), N);
      assert.equal(promDelta(m0, m1, 'container_postgres_inbound_queries_duration_seconds_total_count', { sonde_cgroup_path: cg.rel }), N);
      const cl = { 'db.system.name': 'postgresql', 'server.port': pg.port };
      assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', cl), N);
      assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.operation.name': 'UPDATE', 'db.collection.name': 'pgbench_accounts' }), T, JSON.stringify(pointAttrs(m1.otel, undefined, 'db.client.operation.duration')));
      assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.operation.name': 'INSERT', 'db.collection.name': 'pgbench_history', 'db.namespace': pg.database }), T,
        JSON.stringify(m1.otel.map((rm) => [rm.resource.attributes['sonde.cgroup.path'], pointAttrs([rm], undefined, 'db.server.operation.duration')])));
      assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'postgresql' }), N);
    });
  }

  test('self-telemetry: no events lost, nothing the parsers could not follow', (tc) => {
    const t = svc.telemetry();
    tc.diagnostic(t.split('\n').filter((l) => /cgroup_attrib|sonde_l7_user|sonde_ebpf_cgroups/.test(l)).join('\n'));
    assert.match(t, /sonde_l7_kernel_connections\{receiver="ebpf",result="detected"\} [1-9]/);
    assert.doesNotMatch(t, /sonde_ebpf_kernel_events_lost_total\{receiver="ebpf",probe="l7",reason="ringbuf_full"\} [1-9]/);
    assert.match(t, /sonde_l7_pipeline\{receiver="ebpf",what="parser_errors"\} 0/);
  });
});

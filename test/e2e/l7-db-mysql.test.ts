// e2e (root, real kernel): MariaDB 10.11 with the mariadb CLI (text protocol: COM_QUERY, COM_INIT_DB) and
// mysql2 (server-side prepared statements: COM_STMT_PREPARE/EXECUTE/CLOSE) through the ebpf receiver's l7
// probe and the real Service. Exact CLIENT/SERVER spans, linking, sanitized text, MySQL error numbers,
// db.namespace from the handshake and COM_INIT_DB, and exact coroot/semconv metric increments.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { startMariadb, type MariadbPeer } from '../peers/index.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { TestCgroup } from '../helpers/l7-agent.js';
import { L7Service, assertLinked, cgroupOf, exec, inCgroup, markSpans, promDelta, sinkDelta, snapshot, stepSpans } from '../helpers/l7-service.js';
import { bpfObjectPath } from '../helpers/paths.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy' : undefined);
if (skip) console.log(`# SKIP l7 mysql e2e: ${skip}`);

const require = createRequire(import.meta.url);
const text = (sp: ReadableSpan): string => String(sp.attributes['db.query.text']);
const err = (sp: ReadableSpan): unknown => sp.attributes['error.type'];

describe('MariaDB through the l7 probe and the Service (e2e, root)', { skip, concurrency: false, timeout: 300_000 }, () => {
  let svc: L7Service;
  let db: MariadbPeer;
  let cg: TestCgroup;
  let dest: string;

  before(async () => {
    svc = await L7Service.start();
    cg = new TestCgroup('my');
    db = await inCgroup(cg, () => startMariadb());
    dest = `127.0.0.1:${db.port}`;
  });

  after(async () => {
    await db?.stop();
    await svc?.stop();
    cg?.destroy();
  });

  test('mariadb CLI (text protocol): 9 statements incl. a syntax error (1064), an unknown table (1146) and USE — exact spans, text, namespace, metrics', async () => {
    const script = [
      'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2));',
      "INSERT INTO items VALUES (1, 'apple', 1.50), (2, 'pear', 2.25);",
      "SELECT name FROM items WHERE id = 1 AND name <> 'x';",
      "UPDATE items SET price = price * 2 WHERE name = 'apple';",
      'SELEC broken;',
      'SELECT * FROM missing_table;',
      'USE mysql;',
      'SELECT 1;',
      'DELETE FROM sonde.items WHERE id = 2;',
      '',
    ].join('\n');
    const m0 = await snapshot(svc); // also lets spans of earlier activity (the peer's set-up) leave
    const since = markSpans(svc, db.port);
    const q = await exec('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(db.port), '-u', db.user, '--force', db.database], { input: script, okCodes: [1] });
    // USE is COM_INIT_DB (a record only when it fails) followed by the CLI's own SELECT DATABASE()
    const { clients, servers } = await stepSpans(svc, { pids: [q.pid], port: db.port, since, n: 9 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(text), [
      'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(?), price DECIMAL(?,?))',
      'INSERT INTO items VALUES (?, ?, ?)',
      'SELECT name FROM items WHERE id = ? AND name <> ?',
      'UPDATE items SET price = price * ? WHERE name = ?',
      'SELEC broken',
      'SELECT * FROM missing_table',
      'SELECT DATABASE()',
      'SELECT ?',
      'DELETE FROM sonde.items WHERE id = ?',
    ], 'the CLI strips the `;`; literals → ?; repeated VALUES rows collapse');
    assert.deepEqual(clients.map((s) => s.attributes['db.namespace']), [...Array(7).fill(db.database), 'mysql', 'mysql'], 'handshake database, then COM_INIT_DB');
    assert.deepEqual(clients.map((s) => s.name), ['CREATE TABLE items', 'INSERT items', 'SELECT items', 'UPDATE items', 'SELEC', 'SELECT missing_table', 'SELECT', 'SELECT', 'DELETE sonde.items']);
    assert.deepEqual(clients.map(err), [undefined, undefined, undefined, undefined, '1064', '1146', undefined, undefined, undefined]);
    assert.deepEqual(servers.map(err), clients.map(err));
    assert.deepEqual(clients.map((s) => s.status.code), clients.map((s) => (err(s) ? SpanStatusCode.ERROR : SpanStatusCode.UNSET)));
    assert.deepEqual(clients.filter(err).map((s) => s.attributes['db.response.status_code']), ['1064', '1146']);
    assert.ok([...clients, ...servers].every((s) => s.attributes['db.system.name'] === 'mariadb' && s.attributes['server.port'] === db.port));
    assert.ok(servers.every((s) => cgroupOf(s) === cg.rel));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    const inb = { sonde_cgroup_path: cg.rel };
    assert.equal(promDelta(m0, m1, 'container_mysql_queries_total', { ...out, status: 'ok' }), 7);
    assert.equal(promDelta(m0, m1, 'container_mysql_queries_total', { ...out, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_mysql_queries_duration_seconds_total_count', out), 9);
    assert.equal(promDelta(m0, m1, 'container_mysql_inbound_queries_total', { ...inb, status: 'ok' }), 7);
    assert.equal(promDelta(m0, m1, 'container_mysql_inbound_queries_total', { ...inb, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_mysql_inbound_queries_duration_seconds_total_count', inb), 9);
    const cl = { 'db.system.name': 'mariadb', 'server.port': db.port };
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', cl), 9);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.namespace': 'mysql' }), 2);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'error.type': '1064', 'db.response.status_code': '1064' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'mariadb' }), 9);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.operation.name': 'UPDATE', 'db.collection.name': 'items', 'db.namespace': db.database }), 1);
    assert.equal(promDelta(m0, m1, 'db_server_operation_duration_seconds_count', { ...inb, error_type: '1146' }), 1);
  });

  test('mysql2 execute(): server-side prepared statements (one PREPARE, EXECUTEs by statement id), a failing PREPARE (1146), a duplicate key on EXECUTE (1062), CLOSE', async () => {
    const mysql2 = require.resolve('mysql2/promise');
    const m0 = await snapshot(svc); // also lets spans of earlier activity (the peer's set-up) leave
    const since = markSpans(svc, db.port);
    const r = await exec(process.execPath, ['--input-type=module', '-e', `
import mysql from ${JSON.stringify(mysql2)};
const c = await mysql.createConnection({ host: '127.0.0.1', port: ${db.port}, user: '${db.user}', database: '${db.database}' });
await c.query('CREATE TABLE IF NOT EXISTS fruit (id INT PRIMARY KEY, name VARCHAR(20))');
for (let i = 1; i <= 4; i++) await c.execute('SELECT name FROM fruit WHERE id = ?', [i]);
await c.execute('INSERT INTO fruit VALUES (?, ?)', [10, 'plum']);
let e1 = '', e2 = '';
try { await c.execute('INSERT INTO fruit VALUES (?, ?)', [10, 'dup']); } catch (e) { e1 = e.errno; }
try { await c.execute('SELECT * FROM missing_table WHERE id = ?', [1]); } catch (e) { e2 = e.errno; }
c.unprepare('SELECT name FROM fruit WHERE id = ?');
const [rows] = await c.execute('SELECT COUNT(*) AS n FROM fruit WHERE name = ?', ['plum']);
await c.end();
console.log(JSON.stringify([e1, e2, rows[0].n]));`]);
    assert.equal(r.stdout.trim(), '[1062,1146,1]');
    // query + 4 executes + insert + duplicate execute + failed prepare + count execute (its prepare is not a record)
    const { clients, servers } = await stepSpans(svc, { pids: [r.pid], port: db.port, since, n: 9 });
    assertLinked(clients, servers);
    assert.deepEqual(clients.map(text), [
      'CREATE TABLE IF NOT EXISTS fruit (id INT PRIMARY KEY, name VARCHAR(?))',
      ...Array(4).fill('SELECT name FROM fruit WHERE id = ?'),
      'INSERT INTO fruit VALUES (?, ?)',
      'INSERT INTO fruit VALUES (?, ?)',
      'SELECT * FROM missing_table WHERE id = ?',
      'SELECT COUNT(*) AS n FROM fruit WHERE name = ?',
    ], 'EXECUTE spans carry the text of their PREPARE (by statement id)');
    assert.deepEqual(clients.map(err), [undefined, undefined, undefined, undefined, undefined, undefined, '1062', '1146', undefined]);
    assert.deepEqual(clients.map((s) => s.attributes['db.response.returned_rows']), [0, 0, 0, 0, 0, 0, 0, undefined, 1], 'binary result sets counted (the table is empty until the INSERT)');
    assert.ok([...clients, ...servers].every((s) => s.attributes['db.namespace'] === db.database && s.attributes['db.system.name'] === 'mariadb'));
    assert.deepEqual(servers.map(err), clients.map(err));

    const m1 = await snapshot(svc);
    const out = { destination: dest, actual_destination: dest };
    assert.equal(promDelta(m0, m1, 'container_mysql_queries_total', { ...out, status: 'ok' }), 7);
    assert.equal(promDelta(m0, m1, 'container_mysql_queries_total', { ...out, status: 'failed' }), 2);
    assert.equal(promDelta(m0, m1, 'container_mysql_inbound_queries_total', { sonde_cgroup_path: cg.rel }), 9);
    assert.equal(promDelta(m0, m1, 'container_mysql_inbound_queries_total', { sonde_cgroup_path: cg.rel, status: 'failed' }), 2);
    const cl = { 'db.system.name': 'mariadb', 'server.port': db.port };
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'db.operation.name': 'SELECT', 'db.collection.name': 'fruit' }), 5);
    assert.equal(sinkDelta(m0, m1, 'otel', undefined, 'db.client.operation.duration', { ...cl, 'error.type': '1062' }), 1);
    assert.equal(sinkDelta(m0, m1, 'otel', cg.rel, 'db.server.operation.duration', { 'db.system.name': 'mariadb' }), 9);
  });
});

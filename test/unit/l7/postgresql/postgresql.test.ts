import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { postgresqlParser as p } from '../../../../src/receivers/ebpf/l7/protocols/postgresql/postgresql.js';
import { Direction } from '../../../../src/receivers/ebpf/l7/types.js';
import { loadFixture, replay, replayFixture } from '../../../helpers/l7-fixtures.js';

const te = (s: string) => new TextEncoder().encode(s);

test('psql: SSLRequest/N, startup namespace, simple queries, errors with SQLSTATE, traceparent, COPY, notices', () => {
  const r = replayFixture(p, loadFixture('postgresql', 'psql-simple'));
  assert.equal(r.length, 15);
  assert.ok(r.every((x) => x.attributes['db.namespace'] === 'sonde' && x.attributes['db.system.name'] === 'postgresql'));
  const byText = (t: string) => r.find((x) => x.attributes['db.query.text'] === t);
  assert.equal(byText('SELECT * FROM orders WHERE id IN (?) AND customer <> ?;')?.name, 'SELECT orders');
  const syntax = r.find((x) => x.errorType === '42601');
  assert.deepEqual([syntax?.statusLabel, syntax?.attributes['db.response.status_code']], ['failed', '42601']);
  assert.equal(r.filter((x) => x.status === 'error').map((x) => x.errorType).join(), '42601,42P01');
  assert.equal(r.find((x) => x.traceparent !== undefined)?.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.deepEqual(r.filter((x) => x.name === 'COPY').map((x) => x.status), ['ok', 'ok']);
  assert.equal(r[r.length - 1].attributes['db.operation.name'], 'BATCH SELECT');
});

test('pgbench -M simple / extended / prepared: 7 statements per transaction, same names', () => {
  for (const mode of ['simple', 'extended', 'prepared']) {
    const f = loadFixture('postgresql', `pgbench-${mode}`);
    const tx = replay(p, f.connections[1]).map((x) => x.name);
    assert.deepEqual(tx, Array(2).fill(['BEGIN', 'UPDATE pgbench_accounts', 'SELECT pgbench_accounts', 'UPDATE pgbench_tellers',
      'UPDATE pgbench_branches', 'INSERT pgbench_history', 'END']).flat(), mode);
  }
  const prepared = replay(p, loadFixture('postgresql', 'pgbench-prepared').connections[1]);
  assert.equal(prepared[8].attributes['db.query.text'], 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;',
    'a named statement prepared once resolves for every Execute');
});

test('extended pipelines: one record per Execute, skipped Executes after an error make none, Close forgets the statement', () => {
  const r = replay(p, loadFixture('postgresql', 'extended-pipeline').connections[0]);
  assert.deepEqual(r.map((x) => `${x.name}:${x.errorType ?? 'ok'}`), ['SELECT orders:ok', 'SELECT orders:ok', 'UPDATE orders:ok', 'SELECT:ok',
    'SELECT:ok', 'SELECT:22012', 'SELEC:42601', 'postgresql:26000', 'SELECT:ok', 'SELECT:ok']);
  assert.equal(r[7].attributes['db.query.text'], undefined, 'Execute of a closed statement: text unknown');
  assert.deepEqual([r[8].attributes['db.response.returned_rows'], r[9].attributes['db.response.returned_rows']], [2, 3], 'PortalSuspended');
});

test('auth: SCRAM and md5 exchanges are skipped; a failed login makes no record', () => {
  const f = loadFixture('postgresql', 'auth');
  assert.deepEqual(f.connections.map((c) => replay(p, c).map((x) => x.name)), [['SELECT'], ['SELECT'], []]);
});

test('mid-stream attach: no startup seen, typed messages parsed; unknown prepared statement named by the command tag', () => {
  const out = replay(p, { chunks: [
    { dir: Direction.Request, tsNs: 0, bytes: new Uint8Array([0x42, 0, 0, 0, 12, 0, 0x73, 0x39, 0, 0, 0, 0, 0, 0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4]), length: 28 },
    { dir: Direction.Response, tsNs: 10, bytes: new Uint8Array([0x32, 0, 0, 0, 4, 0x43, 0, 0, 0, 13, ...te('UPDATE 3'), 0, 0x5a, 0, 0, 0, 5, 0x49]), length: 24 },
  ] });
  assert.deepEqual(out.map((x) => [x.name, x.status, x.attributes['db.operation.name']]), [['UPDATE', 'ok', 'UPDATE']]);
});

test('detect: requests and responses', () => {
  const startup = loadFixture('postgresql', 'pgbench-simple').connections[0].chunks[0].bytes;
  assert.ok(p.detect(startup, Direction.Request));
  assert.ok(p.detect(new Uint8Array([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), Direction.Request)); // SSLRequest
  assert.ok(p.detect(new Uint8Array([0x51, 0, 0, 0, 13, ...te('SELECT 1'), 0]), Direction.Request));
  assert.ok(!p.detect(te('GET / HTTP/1.1\r\n'), Direction.Request));
  assert.ok(!p.detect(te('*1\r\n$4\r\nPING\r\n'), Direction.Request));
  assert.ok(p.detect(new Uint8Array([0x4e]), Direction.Response));
  assert.ok(p.detect(new Uint8Array([0x52, 0, 0, 0, 8, 0, 0, 0, 0]), Direction.Response));
});

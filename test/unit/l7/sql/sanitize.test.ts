import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { MYSQL_DIALECT, POSTGRES_DIALECT, analyzeSql, sqlSpanName } from '../../../../src/receivers/ebpf/l7/protocols/sql/sanitize.js';

const pg = (s: string) => analyzeSql(s, POSTGRES_DIALECT);
const my = (s: string) => analyzeSql(s, MYSQL_DIALECT);

test('literals become ?', () => {
  assert.equal(pg("SELECT * FROM users WHERE name = 'O''Brien' AND age > 42 AND score = 1.5e3").text,
    'SELECT * FROM users WHERE name = ? AND age > ? AND score = ?');
  assert.equal(pg("select E'it\\'s', B'0101', X'ff', U&'d\\0061t', N'x'").text, 'select ?, ?, ?, ?, ?');
  assert.equal(pg('SELECT $$dollar $ quoted$$, $tag$ with $$ inside $tag$, $1, $22').text, 'SELECT ?, ?, $1, $22');
  assert.equal(my("SELECT 'it\\'s', \"dq\", 0x1F, 0b101, .5, -3 FROM `t1`").text, 'SELECT ?, ?, ?, ?, ?, ? FROM `t1`');
  assert.equal(pg('SELECT a-1, b - 2, -3, (-4) FROM t').text, 'SELECT a-?, b - ?, ?, (?) FROM t');
  assert.equal(pg('SELECT col1, t2.c3 FROM t2 WHERE x = TRUE AND y IS NULL').text, 'SELECT col1, t2.c3 FROM t2 WHERE x = TRUE AND y IS NULL');
  assert.equal(pg('SELECT x::int, :name, ? FROM t').text, 'SELECT x::int, :name, ? FROM t');
  assert.equal(pg('SELECT "Weird ""name"" 1" FROM "T"').text, 'SELECT "Weird ""name"" 1" FROM "T"');
});

test('IN lists and VALUES rows are collapsed', () => {
  assert.equal(pg('SELECT * FROM t WHERE id IN (1, 2, 3) AND k in (\'a\',\'b\')').text, 'SELECT * FROM t WHERE id IN (?) AND k in (?)');
  assert.equal(my("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')").text, 'INSERT INTO t (a, b) VALUES (?, ?)');
  assert.equal(pg('SELECT * FROM t WHERE id IN ($1, $2)').text, 'SELECT * FROM t WHERE id IN ($1, $2)');
});

test('comments dropped, whitespace collapsed, sqlcommenter traceparent extracted', () => {
  const r = pg("SELECT 1 -- hello\n  FROM  /* c */ t /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',tracestate='congo%3Dt61rcWkgMzE'*/");
  assert.equal(r.text, 'SELECT ? FROM t');
  assert.equal(r.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.equal(r.tracestate, 'congo=t61rcWkgMzE');
  assert.equal(pg('/* a /* nested */ still */ SELECT 1').text, 'SELECT ?');
  assert.equal(my('SELECT 1 # mysql comment\n, 2').text, 'SELECT ?, ?');
  assert.equal(pg("SELECT 1 /*traceparent='bogus'*/").traceparent, undefined);
});

test('operation and collection', () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ['SELECT abalance FROM pgbench_accounts WHERE aid = $1;', 'SELECT', 'pgbench_accounts'],
    ['select * from public.orders o where o.id = 1 order by 1 limit 5', 'SELECT', 'public.orders'],
    ['SELECT * FROM a JOIN b ON a.id = b.id', 'SELECT', undefined],
    ['SELECT * FROM a, b', 'SELECT', undefined],
    ['SELECT * FROM a WHERE id IN (SELECT id FROM b)', 'SELECT', undefined],
    ['SELECT * FROM (SELECT 1) s', 'SELECT', undefined],
    ['SELECT 1', 'SELECT', undefined],
    ['SELECT * FROM generate_series(1, 10)', 'SELECT', undefined],
    ['SELECT a FROM t UNION SELECT a FROM u', 'SELECT', undefined],
    ['INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);', 'INSERT', 'pgbench_history'],
    ['INSERT INTO t SELECT * FROM u', 'INSERT', undefined],
    ['insert ignore into `db`.`t` set a = 1', 'INSERT', 'db.t'],
    ['UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;', 'UPDATE', 'pgbench_tellers'],
    ['UPDATE t SET a = 1 FROM u WHERE t.id = u.id', 'UPDATE', undefined],
    ['DELETE FROM "Orders" WHERE id = 3', 'DELETE', 'Orders'],
    ['DELETE FROM t USING u WHERE t.id = u.id', 'DELETE', undefined],
    ['WITH x AS (SELECT 1) SELECT * FROM x', 'SELECT', undefined],
    ['CREATE TABLE IF NOT EXISTS items (id int)', 'CREATE TABLE', 'items'],
    ['create unique index i on t (a)', 'CREATE INDEX', undefined],
    ['DROP TABLE t1', 'DROP TABLE', 't1'],
    ['TRUNCATE pgbench_history', 'TRUNCATE', 'pgbench_history'],
    ['BEGIN', 'BEGIN', undefined],
    ['begin;', 'BEGIN', undefined],
    ['', undefined, undefined],
    ['(SELECT 1)', 'SELECT', undefined],
  ];
  for (const [sql, op, table] of cases) {
    const r = pg(sql);
    assert.equal(r.operation, op, sql);
    assert.equal(r.collection, table, sql);
  }
  assert.equal(sqlSpanName(pg('SELECT * FROM orders WHERE id = 1'), 'postgresql'), 'SELECT orders');
  assert.equal(sqlSpanName(pg('SELECT 1'), 'postgresql'), 'SELECT');
  assert.equal(sqlSpanName(pg(''), 'postgresql'), 'postgresql');
});

test('several statements in one text: BATCH', () => {
  assert.deepEqual([pg('BEGIN; SELECT 1; COMMIT').operation, pg('BEGIN; SELECT 1; COMMIT').statements], ['BATCH', 3]);
  const s = pg('SELECT 1 FROM t; SELECT 2 FROM t;');
  assert.deepEqual([s.operation, s.collection, s.statements], ['BATCH SELECT', 't', 2]);
});

test('truncated input never throws and keeps the prefix', () => {
  assert.equal(pg("SELECT * FROM t WHERE a = 'unterminated").text, 'SELECT * FROM t WHERE a = ?');
  assert.equal(pg('SELECT /* unterminated').text, 'SELECT');
  assert.equal(pg('SELECT $x$ never closed').text, 'SELECT ?');
  assert.equal(pg('SELECT "half').text, 'SELECT "half');
  for (let i = 0; i < 2000; i++) {
    const s = Array.from({ length: 1 + (i % 40) }, (_, k) => String.fromCharCode(32 + ((i * 31 + k * 17) % 95))).join('');
    pg(s); my(s);
  }
});

test('keepSqlLiterals keeps the raw text', () => {
  const r = analyzeSql("  SELECT 'x' FROM t WHERE id IN (1,2)  ", POSTGRES_DIALECT, true);
  assert.equal(r.text, "SELECT 'x' FROM t WHERE id IN (1,2)");
  assert.equal(r.collection, 't');
});

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mysqlParser as p } from '../../../../src/receivers/ebpf/l7/protocols/mysql/mysql.js';
import { Direction } from '../../../../src/receivers/ebpf/l7/types.js';
import { loadFixture, replay, replayFixture } from '../../../helpers/l7-fixtures.js';

const te = (s: string) => new TextEncoder().encode(s);

test('mariadb CLI: MariaDB detected from the greeting, namespace from the handshake and COM_INIT_DB, errors', () => {
  const r = replayFixture(p, loadFixture('mysql', 'mariadb-cli'));
  assert.equal(r.length, 12);
  assert.ok(r.every((x) => x.attributes['db.system.name'] === 'mariadb'));
  assert.deepEqual(r.filter((x) => x.status === 'error').map((x) => [x.errorType, x.attributes['db.response.status_code']]), [['1064', '1064'], ['1146', '1146']]);
  const fromMysqlDb = r.find((x) => x.attributes['db.collection.name'] === 'user');
  assert.equal(fromMysqlDb?.attributes['db.namespace'], 'mysql');
  assert.equal(r.find((x) => x.name === 'SELECT items')?.attributes['db.response.returned_rows'], 2);
  assert.equal(r.find((x) => x.name === 'INSERT items')?.attributes['db.query.text'], 'INSERT INTO items VALUES (?, ?, ?)');
});

test('mysql2 execute(): statement text resolved by id from the PREPARE OK; cached statements execute again', () => {
  const r = replayFixture(p, loadFixture('mysql', 'mysql2-prepared'));
  assert.deepEqual(r.map((x) => `${x.name}:${x.errorType ?? 'ok'}`), ['INSERT items:ok', 'SELECT items:ok', 'SELECT items:ok', 'UPDATE items:ok', 'SELECT nope:1146']);
  assert.equal(r[2].attributes['db.query.text'], 'SELECT id, name FROM items WHERE id = ?');
});

test('raw client with and without CLIENT_DEPRECATE_EOF: same records; STMT_RESET/CLOSE/PING make none; COM_INIT_DB failure does', () => {
  const classic = replayFixture(p, loadFixture('mysql', 'raw-classic-eof')).map((x) => [x.name, x.errorType, x.attributes['db.response.returned_rows']]);
  const dep = replayFixture(p, loadFixture('mysql', 'raw-deprecate-eof')).map((x) => [x.name, x.errorType, x.attributes['db.response.returned_rows']]);
  assert.deepEqual(classic, [['SELECT items', undefined, 2], ['SELECT items', undefined, 1], ['SELECT items', undefined, 1], ['USE', '1049', undefined]]);
  assert.deepEqual(dep, classic);
});

test('mid-stream attach: COM_QUERY and an OK without any handshake', () => {
  const q = te('\x03UPDATE t SET a = 1');
  const out = replay(p, { chunks: [
    { dir: Direction.Request, tsNs: 0, bytes: new Uint8Array([q.length, 0, 0, 0, ...q]), length: q.length + 4 },
    { dir: Direction.Response, tsNs: 5, bytes: new Uint8Array([7, 0, 0, 1, 0, 1, 0, 2, 0, 0, 0]), length: 11 },
  ] });
  assert.deepEqual(out.map((x) => [x.name, x.status, x.attributes['db.system.name']]), [['UPDATE t', 'ok', 'mysql']]);
});

test('detect', () => {
  const f = loadFixture('mysql', 'mariadb-cli').connections[0].chunks;
  assert.ok(p.detect(f[0].bytes, Direction.Response), 'greeting');
  assert.ok(p.detect(f[1].bytes, Direction.Request), 'handshake response');
  const q = te('\x03SELECT 1');
  assert.ok(p.detect(new Uint8Array([q.length, 0, 0, 0, ...q]), Direction.Request));
  assert.ok(!p.detect(te('GET / HTTP/1.1\r\n'), Direction.Request));
  assert.ok(!p.detect(new Uint8Array([0x51, 0, 0, 0, 13, ...te('SELECT 1'), 0]), Direction.Request), 'a postgres Q is not mysql');
});

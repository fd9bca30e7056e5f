import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { memcachedParser as p } from '../../../../src/receivers/ebpf/l7/protocols/memcached/memcached.js';
import { Direction } from '../../../../src/receivers/ebpf/l7/types.js';
import { loadFixture, replayFixture } from '../../../helpers/l7-fixtures.js';

const te = (s: string) => new TextEncoder().encode(s);

test('text protocol: hits/misses, outcomes vs failures, noreply, meta commands', () => {
  const r = replayFixture(p, loadFixture('memcached', 'text'));
  assert.equal(r.length, 35);
  const multi = r.find((x) => x.attributes['db.operation.batch.size'] === 3);
  assert.deepEqual([multi?.attributes['sonde.memcached.hits'], multi?.attributes['sonde.memcached.misses']], [2, 1]);
  assert.deepEqual(r.filter((x) => x.status === 'error').map((x) => x.errorType), ['ERROR', 'CLIENT_ERROR', 'ERROR', 'CLIENT_ERROR']);
  assert.deepEqual(r.filter((x) => x.attributes['db.response.status_code'] === 'NOT_FOUND').map((x) => x.status), ['ok', 'ok']);
  assert.deepEqual(r.filter((x) => x.name === 'mg').map((x) => x.attributes['sonde.memcached.hits']), [1, 0]);
  assert.ok(r.every((x) => x.attributes['db.query.text'] === undefined), 'no keys without recordKeys');
});

test('binary protocol (memjs): opaque matching, miss/exists are outcomes', () => {
  const r = replayFixture(p, loadFixture('memcached', 'memjs-binary'), { recordKeys: true });
  assert.deepEqual(r.map((x) => x.name), ['set', 'get', 'get', 'add', 'replace', 'increment', 'increment', 'delete', 'delete', 'append', 'touch', 'flush']);
  assert.ok(r.every((x) => x.status === 'ok'));
  assert.equal(r[2].attributes['db.response.status_code'], 'KEY_NOT_FOUND');
  assert.equal(r[1].attributes['db.query.text'], 'get mj1');
  assert.ok(!JSON.stringify(r).includes('value-one'));
});

test('detect', () => {
  assert.ok(p.detect(te('get k1 k2\r\n'), Direction.Request));
  assert.ok(p.detect(te('set k 0 0 5\r\nhello\r\n'), Direction.Request));
  assert.ok(!p.detect(te('GET / HTTP/1.1\r\n'), Direction.Request), 'HTTP GET is upper case');
  assert.ok(p.detect(te('VALUE k 0 5\r\n'), Direction.Response));
  assert.ok(p.detect(te('STORED\r\n'), Direction.Response));
  const bin = loadFixture('memcached', 'memjs-binary').connections[0].chunks;
  assert.ok(p.detect(bin[0].bytes, Direction.Request));
  assert.ok(p.detect(bin[1].bytes, Direction.Response));
});

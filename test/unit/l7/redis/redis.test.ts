import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { redisParser as p } from '../../../../src/receivers/ebpf/l7/protocols/redis/redis.js';
import { Direction } from '../../../../src/receivers/ebpf/l7/types.js';
import { loadFixture, replay, replayFixture } from '../../../helpers/l7-fixtures.js';

const te = (s: string) => new TextEncoder().encode(s);

test('redis-cli: WRONGTYPE and ERR prefixes, SELECT namespace, MULTI/EXEC, values never recorded', () => {
  const r = replayFixture(p, loadFixture('redis', 'redis-cli'));
  assert.equal(r.length, 29);
  assert.deepEqual(r.filter((x) => x.status === 'error').map((x) => [x.name, x.errorType, x.attributes['db.response.status_code']]),
    [['GET', 'WRONGTYPE', 'WRONGTYPE'], ['NOSUCHCOMMAND', 'ERR', 'ERR']]);
  assert.equal(r.find((x) => x.name === 'SET' && x.attributes['db.namespace'] === '2')?.name, 'SET');
  assert.equal(r[r.length - 1].attributes['db.namespace'], '0');
  assert.deepEqual(r.slice(14, 18).map((x) => x.name), ['MULTI', 'INCR', 'INCR', 'EXEC']);
  assert.ok(r.every((x) => x.attributes['db.query.text'] === undefined), 'no text without recordKeys');
  const keys = replayFixture(p, loadFixture('redis', 'redis-cli'), { recordKeys: true });
  assert.equal(keys.find((x) => x.name === 'SET')?.attributes['db.query.text'], 'SET user:1 ?');
  assert.ok(!JSON.stringify(keys).includes('alice') && !JSON.stringify(keys).includes('secret'), 'values never recorded');
});

test('redis-benchmark -P 16: one record per pipelined command', () => {
  const f = loadFixture('redis', 'redis-benchmark-pipeline');
  assert.deepEqual(f.connections.map((c) => replay(p, c).length), [2, 48, 48, 48]);
});

test('RESP3: HELLO 3, maps/sets/doubles/nulls/big numbers/verbatim, attributes and pushes are not replies', () => {
  const f = loadFixture('redis', 'redis-cli-resp3');
  const raw = replay(p, f.connections[1]);
  assert.equal(raw.length, 12);
  assert.ok(raw.every((x) => x.status === 'ok'));
  const tracked = replay(p, f.connections[0]);
  assert.deepEqual(tracked.slice(-3).map((x) => [x.name, x.responseSize]), [['CLIENT TRACKING', 5], ['GET', 3], ['SET', 5]], 'invalidation push not taken for a reply');
});

test('pub/sub: confirmations end (P)SUBSCRIBE records, messages are pushes, normal mode afterwards', () => {
  const r = replay(p, loadFixture('redis', 'pubsub').connections[0]);
  assert.deepEqual(r.map((x) => x.name), ['SUBSCRIBE', 'PING', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'PING', 'EXISTS']);
});

test('detect', () => {
  assert.ok(p.detect(te('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'), Direction.Request));
  assert.ok(p.detect(te('PING\r\n'), Direction.Request));
  assert.ok(!p.detect(te('GET / HTTP/1.1\r\n'), Direction.Request));
  assert.ok(p.detect(te('+OK\r\n'), Direction.Response));
  assert.ok(p.detect(te('-WRONGTYPE Operation'), Direction.Response));
  assert.ok(p.detect(te('%7\r\n$6\r\nserver'), Direction.Response));
});

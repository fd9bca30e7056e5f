// Ids as int32 lanes (what the linker and SpanRecord keep) spell exactly the hex ids of the string functions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashExchange, hashTuplePrefix, hexOfLanes2, hexOfLanes4, laneOfHex, randomLane, spanIdOf, spanIdOfLanes, spanLaneX, spanLaneY, traceIdOf, traceIdOfLanes, traceLaneD } from '../../../src/receivers/ebpf/l7/ids.js';

test('derived ids from lanes equal the hex ids (both sides, the never-all-zero rules)', () => {
  const prefix = hashTuplePrefix('10.0.0.1:45000>10.0.0.2:8080');
  for (let ordinal = 0; ordinal < 200; ordinal++) {
    const h = hashExchange(prefix, ordinal, 'GET', `/users/${ordinal}`);
    assert.equal(hexOfLanes4(h.a, h.b, h.c, traceLaneD(h.a, h.b, h.c, h.d)), traceIdOf(h));
    for (const client of [true, false]) {
      assert.equal(hexOfLanes2(spanLaneX(h.b, client), spanLaneY(h.b, h.c, client)), spanIdOf(h, client ? 'client' : 'server'));
    }
  }
  assert.equal(hexOfLanes4(0, 0, 0, traceLaneD(0, 0, 0, 0)), traceIdOfLanes(0, 0, 0, 0));
  assert.equal(hexOfLanes4(0, 0, 0, traceLaneD(0, 0, 0, 0)), '00000000000000000000000000000001');
  // lanes whose span id would be all zero
  for (const client of [true, false]) {
    for (const [b, c] of [[0, 0], [-1, 0], [0x7fffffff, -0x80000000]]) assert.equal(hexOfLanes2(spanLaneX(b, client), spanLaneY(b, c, client)), spanIdOfLanes(b, c, client));
  }
});

test('laneOfHex reads 8 hex digits (either case) as the int32 lane hexOfLanes prints', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const t = [laneOfHex(tp, 3), laneOfHex(tp, 11), laneOfHex(tp, 19), laneOfHex(tp, 27)];
  assert.equal(hexOfLanes4(t[0], t[1], t[2], t[3]), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(hexOfLanes2(laneOfHex(tp, 36), laneOfHex(tp, 44)), '00f067aa0ba902b7');
  assert.equal(laneOfHex('FFFFFFFF', 0), -1);
  assert.equal(laneOfHex('80000000', 0), -0x80000000);
  for (let i = 0; i < 100; i++) {
    const v = randomLane();
    assert.ok(Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff);
    assert.equal(laneOfHex(hexOfLanes2(v, 0), 0), v);
  }
});

// Every recorded conversation of the four database protocols, replayed through its parser:
// golden records, every-byte-boundary splits, byte-at-a-time feeding, capture cuts, and fuzzing.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { protocolParsers } from '../../../src/receivers/ebpf/l7/protocols/index.js';
import type { L7Record, ProtocolParser } from '../../../src/receivers/ebpf/l7/types.js';
import { DEFAULT_PARSER_OPTIONS } from '../../../src/receivers/ebpf/l7/types.js';
import { fuzzIterations, fuzzParser } from '../../helpers/fuzz.js';
import { fuzzSeeds, listFixtures, loadFixture, replay } from '../../helpers/l7-fixtures.js';
import type { Conversation, RecordedChunk } from '../../helpers/l7-fixtures.js';
import { golden, replayShapes, shape } from '../../helpers/l7-golden.js';

const DB = ['postgresql', 'mysql', 'redis', 'memcached'] as const;
const parser = (name: string): ProtocolParser => {
  const p = protocolParsers.find((x) => x.name === name);
  assert.ok(p, `parser ${name} registered`);
  return p;
};

/** One conversation per protocol for the exhaustive split tests (full bytes, requests and replies of several kinds). */
const SPLIT: Record<(typeof DB)[number], [string, number]> = {
  postgresql: ['extended-pipeline', 0],
  mysql: ['raw-classic-eof', 0],
  redis: ['redis-cli-resp3', 1],
  memcached: ['text', 0],
};

for (const proto of DB) {
  for (const scenario of listFixtures(proto)) {
    test(`${proto}/${scenario}: records match the golden file`, () => {
      const { expected, actual } = golden(parser(proto), proto, scenario);
      assert.deepEqual(actual, expected);
      assert.ok(actual.flat().length > 0, 'the fixture produces records');
    });
  }

  test(`${proto}: split at every byte boundary, and fed one byte at a time, gives the same records`, () => {
    const p = parser(proto);
    const [scenario, conn] = SPLIT[proto];
    const conv = loadFixture(proto, scenario).connections[conn];
    const want = replayShapes(p, conv);
    assert.ok(want.length > 0);
    // byte at a time (sizes and all)
    const bytewise = replay(p, conv, {}, (c) => Array.from({ length: c.bytes.length }, (_, i) => ({ ...c, bytes: c.bytes.subarray(i, i + 1), length: 1 })));
    assert.deepEqual(bytewise.map(shape), want);
    // every boundary inside every chunk
    for (let k = 0; k < conv.chunks.length; k++) {
      const c = conv.chunks[k];
      for (let i = 1; i < c.bytes.length; i++) {
        const split = (x: RecordedChunk): RecordedChunk[] => (x === c
          ? [{ ...x, bytes: x.bytes.subarray(0, i), length: i }, { ...x, bytes: x.bytes.subarray(i), length: x.length - i }]
          : [x]);
        const got = replay(p, conv, {}, split).map(shape);
        assert.deepEqual(got, want, `chunk ${k} split at ${i}`);
      }
    }
  });

  test(`${proto}: every fixture cut to a capture limit (16…1024 bytes per chunk) stays well-formed`, () => {
    const p = parser(proto);
    for (const scenario of listFixtures(proto)) {
      for (const conv of loadFixture(proto, scenario).connections) {
        for (const cap of [16, 64, 256, 1024]) {
          const cut: Conversation = { chunks: conv.chunks.map((c) => ({ ...c, bytes: c.bytes.subarray(0, cap) })) };
          const recs = replay(p, cut);
          for (const r of recs) assertWellFormed(r, proto);
          // never more records than requests seen in full
          assert.ok(recs.length <= replay(p, conv).length + 1, `${scenario} cap ${cap}: ${recs.length} records`);
        }
      }
    }
  });

  test(`${proto}: fuzzed (${fuzzIterations()} mutated conversations): no throw, no hang, well-formed records`, () => {
    const seeds = fuzzSeeds(proto);
    const t0 = performance.now();
    const r = fuzzParser(parser(proto), seeds, fuzzIterations(), 1);
    const r2 = fuzzParser(parser(proto), seeds, 2000, 7, { ...DEFAULT_PARSER_OPTIONS, recordKeys: true, keepSqlLiterals: true, maxBufferedBytes: 64 });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(`# fuzz ${proto}: ${r.inputs + r2.inputs} inputs, ${r.records + r2.records} records, ${s} s\n`);
    assert.equal(r.inputs, fuzzIterations());
  });
}

function assertWellFormed(r: L7Record, proto: string): void {
  assert.equal(r.protocol, proto);
  assert.ok(r.endNs >= r.startNs);
  assert.ok(r.name.length > 0);
  assert.ok(['ok', 'failed', 'unknown'].includes(r.statusLabel));
  assert.equal(r.status === 'error', r.errorType !== undefined);
  assert.ok(typeof r.attributes['db.system.name'] === 'string');
}

test('capture gaps: big results/values recorded with a 128/256-byte capture still give one record per request', () => {
  const pg = replay(parser('postgresql'), loadFixture('postgresql', 'big-result-captured').connections[0]);
  assert.deepEqual(pg.map((r) => [r.name, r.status, r.attributes['db.query.text']]), [
    ['SELECT', 'ok', 'SELECT g, repeat(?, ?) FROM generate_series(?, ?) g'],
    ['SELECT', 'ok', 'SELECT ?'],
  ]);
  assert.ok(pg[0].responseSize > 2_000_000, `all bytes of the big result counted: ${pg[0].responseSize}`);
  assert.equal(pg[0].attributes['db.response.returned_rows'], undefined, 'row count unknown after a gap');
  assert.equal(pg[1].attributes['db.response.returned_rows'], 1);

  const my = replay(parser('mysql'), loadFixture('mysql', 'big-result-captured').connections[0]);
  assert.deepEqual(my.map((r) => [r.name, r.status]), [['SELECT seq_1_to_20000', 'ok'], ['SELECT', 'ok']]);
  assert.ok(my[0].responseSize > 2_000_000);

  const mc = replay(parser('memcached'), loadFixture('memcached', 'big-value-captured').connections[0]);
  assert.deepEqual(mc.map((r) => [r.name, r.attributes['sonde.memcached.hits'], r.attributes['sonde.memcached.misses']]),
    [['set', undefined, undefined], ['set', undefined, undefined], ['get', 1, 0], ['get', 1, 0], ['get', 2, 1]]);
  assert.equal(mc[0].requestSize, 200_022, 'the 200 kB data block is skipped by its declared length, across gaps');

  const rd = replay(parser('redis'), loadFixture('redis', 'inline-and-big').connections[0]);
  assert.deepEqual(rd.map((r) => r.name), ['PING', 'SET', 'GET', 'SET', 'GET', 'LRANGE', 'QUIT']);
  assert.equal(rd[4].responseSize, 100_011);
});

test('a connection that closes with requests in flight emits them as incomplete; expire does too', () => {
  for (const proto of DB) {
    const p = parser(proto);
    const conv = loadFixture(proto, SPLIT[proto][0]).connections[SPLIT[proto][1]];
    // requests only: every reply dropped
    const reqOnly: Conversation = { chunks: conv.chunks.filter((c) => c.dir === 0) };
    const recs = replay(p, reqOnly);
    assert.ok(recs.length > 0, proto);
    for (const r of recs) {
      if (proto === 'memcached' && r.responseSize === 0) continue; // `noreply`: recorded at once
      assert.equal(r.incomplete, true, proto);
      assert.equal(r.statusLabel, 'unknown');
    }
    const s = p.newSession({ ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1000 });
    const out: L7Record[] = [];
    for (const c of reqOnly.chunks) s.feed(0, c.bytes, c.length, 1e9, out);
    const immediate = out.length; // memcached `noreply` commands are recorded at once
    s.expire(1e9 + 500, out);
    assert.equal(out.length, immediate, `${proto}: nothing expires before the timeout`);
    s.expire(1e9 + 5000, out);
    assert.ok(out.length > immediate && out.slice(immediate).every((r) => r.incomplete === true), `${proto}: expire emits what waited too long`);
  }
});

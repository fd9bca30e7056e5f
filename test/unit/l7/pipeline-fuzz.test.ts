// Randomised end-to-end runs of the L7 pipeline: interleaved connections (both roles, shared processes and
// threads), mutated recorded chunks, truncation, losses, reopened ids, ticks at random times. No throw, no
// parser errors, spans well-formed, and once everything is closed and flushed no state is left behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnInfo } from '../../../src/receivers/ebpf/l7/conn.js';
import { L7Pipeline } from '../../../src/receivers/ebpf/l7/pipeline.js';
import { Direction } from '../../../src/receivers/ebpf/l7/types.js';
import { fuzzIterations, prng } from '../../helpers/fuzz.js';
import { FAKE_CLOCK, HOST } from './helpers.js';
import { loadFixture } from './fixtures.js';

const FIXTURES = ['curl-nginx-keepalive', 'wrk-nginx-pipelined', 'node-keepalive', 'node-http10-eof', 'curl-nginx-post'].map((n) => loadFixture('http1', n));

test('pipeline fuzz: random interleavings stay consistent and leave no state', () => {
  const runs = Math.max(200, Math.floor(fuzzIterations() / 200));
  let spansOut = 0;
  for (let run = 0; run < runs; run++) {
    const rnd = prng(run + 1);
    const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK, link: { windowNs: 1e9 }, metrics: { naming: rnd() < 0.5 ? 'coroot' : 'otel' } });
    const open = new Map<number, { info: ConnInfo; f: number; i: number }>();
    let ts = 1e9;
    let nextId = 1;
    for (let step = 0; step < 60; step++) {
      ts += Math.floor(rnd() * 2e6);
      const r = rnd();
      if (r < 0.15 || open.size === 0) {
        const role = rnd() < 0.5 ? 'client' : 'server';
        const port = 40000 + Math.floor(rnd() * 4);
        const id = rnd() < 0.05 && open.size > 0 ? [...open.keys()][0] : nextId++;
        const info: ConnInfo = {
          id, pid: 1 + Math.floor(rnd() * 3), role,
          localIp: '10.0.0.1', localPort: role === 'client' ? port : 80,
          remoteIp: rnd() < 0.5 ? '10.0.0.1' : '10.0.0.2', remotePort: role === 'client' ? 80 : port,
          cgroupPath: `/cg${Math.floor(rnd() * 2)}`, fromStart: rnd() < 0.8,
          protocol: rnd() < 0.5 ? 'http' : undefined,
        };
        p.open(info, ts);
        open.set(id, { info, f: Math.floor(rnd() * FIXTURES.length), i: 0 });
      } else if (r < 0.2) {
        const id = [...open.keys()][Math.floor(rnd() * open.size)];
        p.close(id, ts);
        open.delete(id);
      } else if (r < 0.22) {
        p.lost([...open.keys()][Math.floor(rnd() * open.size)], ts);
      } else if (r < 0.3) {
        spansOut += check(p.tick(ts));
      } else {
        const [id, c] = [...open.entries()][Math.floor(rnd() * open.size)];
        const fx = FIXTURES[c.f];
        const chunk = fx[c.i % fx.length];
        c.i++;
        let bytes = chunk.bytes;
        if (rnd() < 0.2) {
          bytes = Uint8Array.from(bytes);
          for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        }
        const cap = rnd() < 0.3 ? Math.floor(rnd() * bytes.length) : bytes.length;
        const egress = (chunk.dir === Direction.Request) === (c.info.role === 'client');
        p.chunk(id, rnd() < 0.03 ? !egress : egress, ts, rnd() < 0.7 ? 100 + c.info.pid : 0, bytes.subarray(0, cap), bytes.length);
      }
    }
    for (const id of open.keys()) p.close(id, ts);
    spansOut += check(p.tick(ts + 10e9, true));
    p.collectMetrics();
    const st = p.stats();
    assert.equal(st.tracker.parserErrors, 0, `run ${run}`);
    assert.equal(st.connections, 0);
    assert.equal(st.pendingSpans, 0, `run ${run}`);
    assert.equal(st.indexKeys, 0, `run ${run}`);
    assert.equal(st.bufferedBytes, 0);
  }
  assert.ok(spansOut > runs);
});

function check(spans: ReturnType<L7Pipeline['tick']>): number {
  for (const s of spans) {
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.match(s.parentSpanId, /^([0-9a-f]{16})?$/);
    assert.notEqual(s.parentSpanId, s.spanId);
    assert.ok(s.endTime[0] > s.startTime[0] || (s.endTime[0] === s.startTime[0] && s.endTime[1] >= s.startTime[1]));
  }
  return spans.length;
}

// Trace linking on synthetic connection/exchange sequences: traceparent, thread causality, client↔server on
// one node, cross-node determinism, out-of-order arrival, the window and its bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { L7Event } from '../../../src/receivers/ebpf/l7/conn.js';
import type { LinkOptions, LinkedSpan } from '../../../src/receivers/ebpf/l7/linking.js';
import { Linker } from '../../../src/receivers/ebpf/l7/linking.js';
import { conn, event } from './helpers.js';

const W = 2e9;
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function link(events: L7Event[], opts: Partial<LinkOptions> = {}, now = 100e9): LinkedSpan[] {
  const l = new Linker({ windowNs: W, ...opts });
  for (const e of events) l.push(e);
  const out: LinkedSpan[] = [];
  l.flush(now, out);
  return out;
}

function byPath(spans: LinkedSpan[]): Record<string, LinkedSpan> {
  return Object.fromEntries(spans.map((s) => [`${s.ev.conn.role}:${s.ev.record.attributes['url.path']}`, s]));
}

// A front service (pid 10) on 10.0.0.1:8080 calls a backend (pid 30) on this node at 10.0.0.1:9090 and a
// database on another node at 10.0.0.7:5432, from its handler thread 11.
const frontIn = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51000');
const frontOut = conn('client', 10, '10.0.0.1:40000', '10.0.0.1:9090');
const backIn = conn('server', 30, '10.0.0.1:9090', '10.0.0.1:40000');

test('traceparent: the request continues the caller\'s trace (trace id, parent span, tracestate)', () => {
  const [s] = link([event(frontIn, { start: 100, end: 900, respTid: 11, ordinal: 0, traceparent: TP, tracestate: 'congo=t61' })]);
  assert.equal(s.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(s.parentSpanId, '00f067aa0ba902b7');
  assert.equal(s.traceState, 'congo=t61');
  assert.equal(s.traceFlags, 1);
  assert.equal(s.reason, 'traceparent');
  assert.match(s.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(s.spanId, '00f067aa0ba902b7');
});

test('thread causality: a call made by the handling thread inside the request is its child', () => {
  const spans = byPath(link([
    event(frontOut, { start: 200, end: 500, reqTid: 11, ordinal: 0, path: '/backend' }),
    event(frontIn, { start: 100, end: 900, reqTid: 0, respTid: 11, ordinal: 0, path: '/front' }),
  ]));
  const parent = spans['server:/front'];
  const child = spans['client:/backend'];
  assert.equal(child.reason, 'thread');
  assert.equal(child.parentSpanId, parent.spanId);
  assert.equal(child.traceId, parent.traceId);
});

test('thread causality needs the same process, the same thread and containment', () => {
  const other = conn('client', 99, '10.0.0.1:40001', '10.0.0.1:9090');
  const cases: L7Event[][] = [
    [event(frontOut, { start: 200, end: 500, reqTid: 12 }), event(frontIn, { start: 100, end: 900, respTid: 11 })],
    [event(other, { start: 200, end: 500, reqTid: 11 }), event(frontIn, { start: 100, end: 900, respTid: 11 })],
    [event(frontOut, { start: 50, end: 500, reqTid: 11 }), event(frontIn, { start: 100e6, end: 900e6, respTid: 11 })],
    [event(frontOut, { start: 200, end: 500, reqTid: 0 }), event(frontIn, { start: 100, end: 900, respTid: 0 })],
  ];
  for (const evs of cases) {
    const c = link(evs).find((s) => s.ev.conn.role === 'client') as LinkedSpan;
    assert.equal(c.reason, 'root');
    assert.equal(c.parentSpanId, '');
  }
  // the reading thread counts too (when the kernel knows it)
  const c = link([event(frontOut, { start: 200, end: 500, reqTid: 11 }), event(frontIn, { start: 100, end: 900, reqTid: 11, respTid: 12 })]).find((s) => s.ev.conn.role === 'client') as LinkedSpan;
  assert.equal(c.reason, 'thread');
});

test('ambiguous thread parents (one thread serving several requests): skip by default, latest on request', () => {
  const evs = [
    event(frontOut, { start: 300, end: 500, reqTid: 11, path: '/backend' }),
    event(frontIn, { start: 100, end: 900, respTid: 11, path: '/a' }),
    event(conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51001'), { start: 200, end: 950, respTid: 11, path: '/b' }),
  ];
  const l = new Linker({ windowNs: W });
  for (const e of evs) l.push(e);
  const out: LinkedSpan[] = [];
  l.flush(100e9, out);
  assert.equal(byPath(out)['client:/backend'].reason, 'root');
  assert.equal(l.stats.ambiguous, 1);
  const latest = byPath(link(evs, { threadAmbiguity: 'latest' }));
  assert.equal(latest['client:/backend'].parentSpanId, latest['server:/b'].spanId);
});

test('client ↔ server on one node: the SERVER span joins the CLIENT span\'s trace as its child', () => {
  const spans = byPath(link([
    event(backIn, { start: 250, end: 450, respTid: 31, ordinal: 0, path: '/backend', peerLocal: true }),
    event(frontOut, { start: 200, end: 500, reqTid: 11, ordinal: 0, path: '/backend', peerLocal: true }),
  ]));
  const c = spans['client:/backend'];
  const s = spans['server:/backend'];
  assert.equal(s.reason, 'peer');
  assert.equal(s.parentSpanId, c.spanId);
  assert.equal(s.traceId, c.traceId);
  assert.equal(c.link, undefined, 'the far end is local: no cross-node link');
});

test('a three-hop chain with shuffled arrival resolves to one trace: caller → front → backend', () => {
  const evs = [
    event(backIn, { start: 250, end: 450, respTid: 31, ordinal: 0, path: '/backend' }),
    event(frontIn, { start: 100, end: 900, respTid: 11, ordinal: 0, path: '/front', traceparent: TP }),
    event(frontOut, { start: 200, end: 500, reqTid: 11, ordinal: 0, path: '/backend' }),
  ];
  for (const order of [[0, 1, 2], [1, 0, 2], [2, 1, 0], [1, 2, 0]]) {
    const spans = byPath(link(order.map((i) => evs[i])));
    const front = spans['server:/front'];
    const call = spans['client:/backend'];
    const back = spans['server:/backend'];
    assert.equal(front.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', `order ${order}`);
    assert.equal(call.traceId, front.traceId);
    assert.equal(back.traceId, front.traceId);
    assert.equal(call.parentSpanId, front.spanId);
    assert.equal(back.parentSpanId, call.spanId);
    assert.equal(front.parentSpanId, '00f067aa0ba902b7');
  }
});

test('a SERVER exchange whose CLIENT parent still counts its candidates ends in the trace that CLIENT takes', () => {
  // a pool thread (tid 11) wrote the call and the responses of two requests that contain it: /a (its own)
  // and /b (queued while the call ran, answered next). The call waits for its window to count them; the
  // backend's SERVER exchange, its child, ends first and so reaches its deadline first.
  const b = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51009');
  const run = (ambiguity: 'skip' | 'latest', bBeforeBackendDeadline: boolean): Record<string, LinkedSpan> => {
    const l = new Linker({ windowNs: W, threadAmbiguity: ambiguity });
    const out: LinkedSpan[] = [];
    l.push(event(backIn, { start: 250, end: 450, respTid: 31, ordinal: 0, path: '/backend', peerLocal: true }));
    l.push(event(frontOut, { start: 200, end: 500, reqTid: 11, ordinal: 0, inboundInFlight: 2, path: '/backend', peerLocal: true }));
    l.push(event(frontIn, { start: 100, end: 900, respTid: 11, peerLocal: false, path: '/a' }));
    if (bBeforeBackendDeadline) l.push(event(b, { start: 150, end: 1200, respTid: 11, peerLocal: false, path: '/b' }));
    l.flush(450 + W, out);
    if (!bBeforeBackendDeadline) l.push(event(b, { start: 150, end: 1200, respTid: 11, peerLocal: false, path: '/b' }));
    l.flush(1200 + W, out);
    assert.equal(out.length, 4);
    return byPath(out);
  };
  for (const ambiguity of ['skip', 'latest'] as const) {
    for (const early of [true, false]) {
      const spans = run(ambiguity, early);
      const call = spans['client:/backend'];
      const back = spans['server:/backend'];
      const what = `${ambiguity}, /b ${early ? 'before' : 'after'} the backend's deadline`;
      assert.equal(back.parentSpanId, call.spanId, what);
      assert.equal(back.traceId, call.traceId, `${what}: the backend is in its caller's trace`);
      if (early) {
        // both candidates known when the call is decided
        assert.equal(call.parentSpanId, ambiguity === 'skip' ? '' : spans['server:/b'].spanId, what);
      } else {
        // decided with the backend, a little before its own deadline: /a only
        assert.equal(call.parentSpanId, spans['server:/a'].spanId, what);
        assert.equal(call.traceId, spans['server:/a'].traceId, what);
      }
    }
  }
});

test('cross-node: two agents that never talk derive the same ids from the 4-tuple and the ordinal', () => {
  // node A: a batch job (no parent) calls 10.0.0.7:5432; node B runs the server
  const a = conn('client', 50, '10.0.0.1:41000', '10.0.0.7:5432');
  const b = conn('server', 70, '10.0.0.7:5432', '10.0.0.1:41000');
  const onA = link([event(a, { start: 1000, end: 5000, reqTid: 51, ordinal: 3, path: '/q' })]);
  const onB = link([event(b, { start: 1_000_000_777, end: 1_000_003_000, respTid: 71, ordinal: 3, path: '/q' })]); // another clock
  assert.equal(onA[0].reason, 'root');
  assert.equal(onB[0].reason, 'derived');
  assert.equal(onB[0].traceId, onA[0].traceId);
  assert.equal(onB[0].parentSpanId, onA[0].spanId);
  // and again: the derivation is deterministic
  assert.deepEqual(link([event(a, { start: 7, end: 9, ordinal: 3, path: '/q' })])[0].spanId, onA[0].spanId);
  // a different exchange on the same connection gets other ids
  assert.notEqual(link([event(b, { start: 1, end: 2, ordinal: 4, path: '/q' })])[0].traceId, onB[0].traceId);
});

test('cross-node inside a trace: the CLIENT span links to the far SERVER span\'s derived ids', () => {
  const out = conn('client', 10, '10.0.0.1:42000', '10.0.0.7:5432');
  const far = conn('server', 70, '10.0.0.7:5432', '10.0.0.1:42000');
  const onA = byPath(link([
    event(frontIn, { start: 100, end: 900, respTid: 11, ordinal: 0, path: '/front', traceparent: TP }),
    event(out, { start: 200, end: 500, reqTid: 11, ordinal: 0, path: '/q' }),
  ]));
  const onB = link([event(far, { start: 210, end: 490, respTid: 71, ordinal: 0, path: '/q' })])[0];
  const call = onA['client:/q'];
  assert.equal(call.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.deepEqual(call.link, { traceId: onB.traceId, spanId: onB.spanId });
  assert.equal(onB.parentSpanId, call.spanId, 'the far span still names the call as its parent');
});

test('connections not seen from their start get random ids and no derived parent', () => {
  const c = conn('server', 70, '10.0.0.7:5432', '10.0.0.1:43000', { fromStart: false });
  const [a] = link([event(c, { start: 1, end: 2, ordinal: -1 })]);
  const [b] = link([event(c, { start: 1, end: 2, ordinal: -1 })]);
  assert.equal(a.reason, 'root');
  assert.equal(a.parentSpanId, '');
  assert.notEqual(a.traceId, b.traceId);
  assert.match(a.traceId, /^[0-9a-f]{32}$/);
});

test('exchanges wait for their window; force flushes; the buffer cap forces the oldest out', () => {
  const l = new Linker({ windowNs: W, maxBuffered: 3 });
  const out: LinkedSpan[] = [];
  l.push(event(frontIn, { start: 100, end: 1000 }));
  l.flush(1000 + W - 1, out);
  assert.equal(out.length, 0);
  assert.equal(l.pending, 1);
  l.flush(1000 + W, out);
  assert.equal(out.length, 1);
  for (let i = 0; i < 5; i++) l.push(event(frontIn, { start: 2000 + i, end: 3000 + i }));
  l.flush(3000, out);
  assert.equal(out.length, 3);
  assert.equal(l.stats.forced, 2);
  l.flush(3000, out, true);
  assert.equal(out.length, 6);
  assert.equal(l.pending, 0);
});

test('a parent already emitted stays findable for one more window (late arrivals)', () => {
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  l.push(event(frontIn, { start: 100, end: 900, respTid: 11, path: '/front' }));
  l.flush(900 + W, out);
  assert.equal(out.length, 1);
  // a call inside the request whose event reached user space late
  l.push(event(frontOut, { start: 300, end: 800, reqTid: 11, path: '/late-event' }));
  // a fire-and-forget call that outlived the request: containment fails, no parent
  l.push(event(frontOut, { start: 200, end: 900 + 5e6, reqTid: 11, path: '/outlived' }));
  l.flush(900 + W + 1, out, true);
  assert.equal(out[1].parentSpanId, out[0].spanId);
  assert.equal(out[1].traceId, out[0].traceId);
  assert.equal(out[2].reason, 'root');
  // after that window it is gone
  l.push(event(frontOut, { start: 300, end: 800, reqTid: 11, path: '/too-late' }));
  l.flush(900 + 3 * W, out, true);
  assert.equal(out[3].reason, 'root');
});

test('no wait when nothing can be a local parent: calls with no inbound request in flight, servers whose client is remote', () => {
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  l.push(event(frontOut, { start: 200, end: 500, reqTid: 11, ordinal: 0, inboundInFlight: 0 }));
  l.push(event(frontIn, { start: 100, end: 900, respTid: 11, ordinal: 0, peerLocal: false }));
  l.flush(900, out);
  assert.deepEqual(out.map((s) => s.reason), ['root', 'derived']);
  assert.equal(l.pending, 0);
});

test('one inbound request in flight: the call belongs to it whatever thread made it, released when it arrives', () => {
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  // Go-style: the goroutine wrote the call from thread 12, the response from thread 11
  l.push(event(frontOut, { start: 200, end: 500, reqTid: 12, ordinal: 0, inboundInFlight: 1, path: '/call' }));
  l.flush(600, out);
  assert.equal(out.length, 0, 'waits for its parent');
  l.push(event(frontIn, { start: 100, end: 900, respTid: 11, ordinal: 0, peerLocal: false, path: '/front' }));
  l.flush(900, out);
  assert.equal(out.length, 2, 'both out long before the window ends');
  const spans = byPath(out);
  assert.equal(spans['client:/call'].parentSpanId, spans['server:/front'].spanId);
  assert.equal(spans['client:/call'].reason, 'thread');
});

test('one request counted in flight, another arrived but not read yet: the call is never given the unread one', () => {
  // thread per connection, new connections: y's request arrived (150) before the call (200), but its thread
  // read it (the OWNER record, ownedSinceNs) only at 250, so the call was written with x alone in flight. y
  // ends first: without its read time it would be the first server to contain the call, and take it.
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  const x = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51000', { ownedSinceNs: 120 });
  const y = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51001', { ownedSinceNs: 250 });
  l.push(event(frontOut, { start: 200, end: 500, reqTid: 11, inboundInFlight: 1, path: '/call' }));
  l.push(event(y, { start: 150, end: 800, respTid: 12, peerLocal: false, path: '/y' }));
  l.push(event(x, { start: 100, end: 900, respTid: 11, peerLocal: false, path: '/x' }));
  l.flush(900, out);
  assert.equal(out.length, 3, 'released when its parent arrives');
  const spans = byPath(out);
  assert.equal(spans['client:/call'].parentSpanId, spans['server:/x'].spanId);
  assert.equal(spans['client:/call'].reason, 'thread');
  // read before the call: a candidate again (here the only one)
  const l2 = new Linker({ windowNs: W });
  const y2 = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51002', { ownedSinceNs: 190 });
  l2.push(event(frontOut, { start: 200, end: 500, reqTid: 11, inboundInFlight: 1, path: '/call' }));
  l2.push(event(y2, { start: 150, end: 800, respTid: 12, peerLocal: false, path: '/y' }));
  const out2: LinkedSpan[] = [];
  l2.flush(900, out2);
  assert.equal(byPath(out2)['client:/call'].parentSpanId, byPath(out2)['server:/y'].spanId);
});

test('requests making many calls on several threads at once: every call finds its request, however many calls came in between', () => {
  // eight handler threads (tids 11…18), one request each, 20 calls per request, all interleaved: when a
  // request's SERVER exchange arrives, its first calls are ~160 waiting calls of the process back
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  const T = 8;
  const K = 20;
  const calls = Array.from({ length: T }, (_, k) => conn('client', 10, `10.0.0.1:${41000 + k}`, '10.0.0.1:9090'));
  for (let i = 0; i < K; i++) {
    for (let k = 0; k < T; k++) {
      const start = 1000 + (i * T + k) * 100;
      l.push(event(calls[k], { start, end: start + 50, reqTid: 11 + k, inboundInFlight: T, path: `/t${k}/c${i}` }));
    }
  }
  for (let k = 0; k < T; k++) {
    l.push(event(conn('server', 10, '10.0.0.1:8080', `10.0.0.9:${52000 + k}`), { start: 100 + k, end: 1e6 + k, respTid: 11 + k, peerLocal: false, path: `/t${k}` }));
  }
  // and one request in flight making 100 calls from any thread (the in-flight count links them)
  const alone = conn('client', 20, '10.0.0.1:43000', '10.0.0.1:9090');
  for (let i = 0; i < 100; i++) l.push(event(alone, { start: 1000 + i * 100, end: 1050 + i * 100, reqTid: 21 + (i % 3), inboundInFlight: 1, path: `/alone/c${i}` }));
  l.push(event(conn('server', 20, '10.0.0.1:8081', '10.0.0.9:53000'), { start: 100, end: 1e6, respTid: 21, peerLocal: false, path: '/alone' }));
  l.flush(1e6 + W + 1, out);
  assert.equal(out.length, T * K + T + 101);
  const parents = new Map(out.filter((s) => s.ev.conn.role === 'server').map((s) => [String(s.ev.record.attributes['url.path']), s.spanId]));
  for (const s of out.filter((x) => x.ev.conn.role === 'client')) {
    const path = String(s.ev.record.attributes['url.path']);
    assert.equal(s.parentSpanId, parents.get(path.slice(0, path.lastIndexOf('/'))), path);
  }
});

test('several inbound requests in flight on one thread (an event loop): skipped, decided at the deadline', () => {
  const l = new Linker({ windowNs: W });
  const out: LinkedSpan[] = [];
  l.push(event(frontOut, { start: 300, end: 500, reqTid: 11, inboundInFlight: 2, path: '/call' }));
  l.push(event(frontIn, { start: 100, end: 900, respTid: 11, peerLocal: false, path: '/a' }));
  l.flush(1000, out);
  assert.deepEqual(out.map((s) => s.ev.record.attributes['url.path']), ['/a'], 'the call waits: another candidate may still come');
  l.push(event(conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51009'), { start: 250, end: 1200, respTid: 11, peerLocal: false, path: '/b' }));
  l.flush(500 + W, out);
  assert.equal(out.length, 3);
  assert.equal(byPath(out)['client:/call'].reason, 'root');
  assert.equal(l.stats.ambiguous, 1);
});

test('a public client address never gets a derived parent (it cannot run Sonde)', () => {
  const pub = conn('server', 70, '10.0.0.7:443', '203.0.113.9:51000');
  const [s] = link([event(pub, { start: 1, end: 2, ordinal: 0, peerLocal: false })]);
  assert.equal(s.reason, 'root');
  assert.equal(s.parentSpanId, '');
  const priv = conn('server', 70, '10.0.0.7:443', '10.0.0.9:51000');
  assert.equal(link([event(priv, { start: 1, end: 2, ordinal: 0, peerLocal: false })])[0].reason, 'derived');
});

test('long keep-alive runs: the queues and index lists wrap and grow as rings, every server still finds its client', () => {
  // servers arrive before their clients (they wait on the tuple's list), many per flush, flushed often so
  // the rings' heads move while they fill: each ring wraps around and then grows past its first capacity
  const cl = conn('client', 40, '10.0.0.1:41000', '10.0.0.1:8080');
  const sv = conn('server', 50, '10.0.0.1:8080', '10.0.0.1:41000');
  const l = new Linker({ windowNs: 1e6, retainNs: 2e6 });
  const out: LinkedSpan[] = [];
  let t = 1e9;
  let n = 0;
  for (let round = 0; round < 40; round++) {
    const burst = 1 + (round % 13) * 7; // 1 … 85 exchanges between flushes
    for (let i = 0; i < burst; i++, n++) {
      l.push(event(sv, { start: t + 10, end: t + 90, respTid: 51, ordinal: n, path: `/r${n}` }));
      l.push(event(cl, { start: t, end: t + 100, reqTid: 41, ordinal: n, path: `/r${n}`, peerLocal: true }));
      t += 1000;
    }
    t += 1.5e6;
    l.flush(t, out);
  }
  l.flush(t + 1e10, out, true);
  assert.equal(out.length, 2 * n);
  const clients = new Map(out.filter((s) => s.ev.conn.role === 'client').map((s) => [s.ev.record.attributes['url.path'], s]));
  for (const s of out.filter((x) => x.ev.conn.role === 'server')) {
    const c = clients.get(s.ev.record.attributes['url.path']) as LinkedSpan;
    assert.equal(s.parentSpanId, c.spanId, String(s.ev.record.attributes['url.path']));
    assert.equal(s.traceId, c.traceId);
    assert.equal(s.reason, 'peer');
  }
});

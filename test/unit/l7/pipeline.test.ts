// The whole user-space path as the ebpf receiver drives it: connection events and recorded payload chunks in,
// linked SERVER/CLIENT spans and request metrics out. Also spans' attributes/status/resources and the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SumMetricData } from '@opentelemetry/sdk-metrics';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ClockOffset } from '../../../src/receivers/ebpf/l7/clock.js';
import type { ConnInfo } from '../../../src/receivers/ebpf/l7/conn.js';
import { L7Pipeline } from '../../../src/receivers/ebpf/l7/pipeline.js';
import type { SpanRecord } from '../../../src/pdata/traces.js';
import { Direction } from '../../../src/receivers/ebpf/l7/types.js';
import { FAKE_CLOCK, HOST } from './helpers.js';
import { loadFixture } from './fixtures.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const T0 = 5_000_000_000; // kernel monotonic ns of the first chunk

function base(id: number, pid: number, role: 'client' | 'server', local: string, remote: string): ConnInfo {
  const [lip, lp] = local.split(':');
  const [rip, rp] = remote.split(':');
  return { id, pid, role, localIp: lip, localPort: Number(lp), remoteIp: rip, remotePort: Number(rp), cgroupPath: `/system.slice/p${pid}.service`, fromStart: true };
}

// pid 100 (curl-like client, thread 101) → pid 200 (Node server, thread 201) on 127.0.0.1:3000; while handling
// the first request, thread 201 calls a database on another node (10.0.0.7:5432) over HTTP.
const clientConn = base(1, 100, 'client', '127.0.0.1:45000', '127.0.0.1:3000');
const serverConn = base(2, 200, 'server', '127.0.0.1:3000', '127.0.0.1:45000');
const dbConn = base(3, 200, 'client', '10.0.0.5:46000', '10.0.0.7:5432');

function drive(p: L7Pipeline): void {
  p.open(clientConn);
  p.open(serverConn);
  p.open(dbConn);
  const f = loadFixture('http1', 'node-keepalive');
  let first = true;
  for (const c of f) {
    const ts = T0 + c.tsNs;
    if (c.dir === Direction.Request) {
      p.chunk(clientConn.id, true, ts, 101, c.bytes, c.bytes.length); // curl writes
      p.chunk(serverConn.id, false, ts + 10_000, 0, c.bytes, c.bytes.length); // softirq ingress: reader unknown
    } else {
      if (first) {
        // the handler thread calls the database before answering the first request
        p.chunk(dbConn.id, true, ts - 300_000, 201, enc('GET /rows/7 HTTP/1.1\r\nHost: db\r\n\r\n'), 35);
        p.chunk(dbConn.id, false, ts - 100_000, 0, enc('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]'), 40);
        first = false;
      }
      p.chunk(serverConn.id, true, ts - 10_000, 201, c.bytes, c.bytes.length); // the handler writes
      p.chunk(clientConn.id, false, ts, 0, c.bytes, c.bytes.length);
    }
  }
  const end = T0 + f[f.length - 1].tsNs + 1_000_000;
  p.close(clientConn.id, end);
  p.close(serverConn.id, end);
  p.close(dbConn.id, end);
}

test('recorded Node traffic, both ends on this node plus an outbound call: 15 linked spans in 7 traces', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  drive(p);
  // every parent arrived, so nothing waits for the 2 s window: all spans are out at the first tick
  const spans = p.tick(T0 + 1e8);
  assert.equal(spans.length, 15);
  assert.deepEqual(p.tick(T0 + 10e9), []);
  const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
  const clients = spans.filter((s) => s.kind === SpanKind.CLIENT && s.attributes['network.peer.port'] === 3000);
  const db = spans.find((s) => s.attributes['url.path'] === '/rows/7') as SpanRecord;
  assert.equal(servers.length, 7);
  assert.equal(clients.length, 7);
  assert.deepEqual(servers.map((s) => s.name), ['GET /users/{id}', 'POST /upload', 'GET /empty', 'GET /cached', 'PUT /expect', 'GET /fail', 'GET /big']);
  for (let i = 1; i < 7; i++) {
    assert.equal(servers[i].parentSpanId, clients[i].spanId, `server ${i} is the child of its client`);
    assert.equal(servers[i].traceId, clients[i].traceId);
  }
  // the first request carried a traceparent: client, server and the database call all continue it
  const tp = '4bf92f3577b34da6a3ce929d0e0e4736';
  assert.equal(clients[0].traceId, tp);
  assert.equal(clients[0].parentSpanId, '00f067aa0ba902b7');
  assert.equal(servers[0].traceId, tp);
  assert.equal(servers[0].parentSpanId, '00f067aa0ba902b7', 'traceparent wins over the local peer');
  assert.equal(db.traceId, tp);
  assert.equal(db.parentSpanId, servers[0].spanId);
  assert.equal(db.links.length, 1, 'the far end is on another node: link to its derived SERVER span');
  // the other requests had no context: 6 more traces
  assert.equal(new Set(spans.map((s) => s.traceId)).size, 7);

  // attributes, status, resource, times
  const s0 = servers[0];
  assert.equal(s0.attributes['http.route'], '/users/{id}');
  assert.equal(s0.attributes['client.address'], '127.0.0.1');
  assert.equal(s0.attributes['network.peer.port'], 45000);
  assert.equal(s0.attributes['server.address'], '127.0.0.1');
  assert.equal(clients[0].attributes['url.template'], '/users/{id}');
  assert.equal(clients[0].attributes['url.full'], `http://127.0.0.1:${s0.attributes['server.port']}/users/123`, 'no query: privacy');
  assert.equal(db.attributes['url.full'], 'http://db/rows/7', 'Host header without a port: default port');
  assert.equal(db.attributes['server.port'], 80);
  assert.equal(s0.attributes['url.query'], undefined);
  assert.equal(s0.resource, servers[1].resource, 'one Resource object per process');
  assert.notEqual(s0.resource, clients[0].resource);
  assert.equal(s0.resource.attributes['process.pid'], 200);
  assert.equal(s0.resource.attributes['sonde.cgroup.path'], '/system.slice/p200.service');
  assert.equal(s0.resource.attributes['host.name'], 'node-a');
  assert.equal(db.resource, s0.resource);
  const fail = servers[5];
  assert.deepEqual(fail.status, { code: SpanStatusCode.ERROR });
  assert.equal(fail.attributes['error.type'], '500');
  assert.deepEqual(servers[3].status, { code: SpanStatusCode.UNSET });
  const f = loadFixture('http1', 'node-keepalive');
  assert.deepEqual(s0.startTime, FAKE_CLOCK.toHrTime(T0 + f[0].tsNs + 10_000));
  assert.deepEqual(s0.endTime, FAKE_CLOCK.toHrTime(T0 + f[1].tsNs - 10_000));

  const st = p.stats();
  assert.equal(st.tracker.records, 15);
  assert.equal(st.tracker.parserErrors, 0);
  assert.equal(st.connections, 0);
  assert.equal(st.pendingSpans, 0);
  assert.deepEqual({ tp: st.link.traceparent, peer: st.link.peer, thread: st.link.thread, timedOut: st.link.timedOut }, { tp: 2, peer: 6, thread: 1, timedOut: 0 });
});

test('metrics from the same traffic (coroot naming): inbound by status class, outbound by destination', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK, spans: false });
  drive(p);
  const rms = p.collectMetrics();
  const find = (pid: number, name: string) => rms.find((r) => r.resource.attributes['sonde.cgroup.path'] === `/system.slice/p${pid}.service`)?.scopeMetrics[0].metrics.find((m) => m.descriptor.name === name) as SumMetricData;
  assert.deepEqual(find(200, 'container_http_inbound_requests_total').dataPoints.map((d) => [d.attributes.status, d.value]), [['2xx', 5], ['3xx', 1], ['5xx', 1]]);
  assert.deepEqual(find(100, 'container_http_requests_total').dataPoints.map((d) => [d.attributes, d.value]), [
    [{ destination: '127.0.0.1:3000', actual_destination: '127.0.0.1:3000', status: '2xx' }, 5],
    [{ destination: '127.0.0.1:3000', actual_destination: '127.0.0.1:3000', status: '3xx' }, 1],
    [{ destination: '127.0.0.1:3000', actual_destination: '127.0.0.1:3000', status: '5xx' }, 1],
  ]);
  assert.deepEqual(find(200, 'container_http_requests_total').dataPoints.map((d) => [d.attributes.destination, d.value]), [['10.0.0.7:5432', 1]]);
});

test('client 4xx is an error, server 4xx is not; chunks of unknown connections and non-HTTP bytes are counted, not parsed', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  const c = base(10, 1, 'client', '10.0.0.1:1000', '10.0.0.2:80');
  const s = base(11, 2, 'server', '10.0.0.2:80', '10.0.0.1:1000');
  p.open(c);
  p.open(s);
  p.chunk(c.id, true, 1000, 5, enc('GET /missing HTTP/1.1\r\n\r\n'), 25);
  p.chunk(s.id, false, 1100, 0, enc('GET /missing HTTP/1.1\r\n\r\n'), 25);
  p.chunk(s.id, true, 1200, 6, enc('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), 45);
  p.chunk(c.id, false, 1300, 0, enc('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), 45);
  p.chunk(999, true, 1400, 0, enc('GET / HTTP/1.1\r\n\r\n'), 18);
  const bin = base(12, 3, 'client', '10.0.0.1:1001', '10.0.0.3:6379');
  p.open(bin);
  for (let i = 0; i < 5; i++) p.chunk(bin.id, true, 1500 + i, 0, Uint8Array.of(0x16, 3, 1, 0, 0x50), 5);
  const spans = p.tick(10e9, true);
  const client = spans.find((x) => x.kind === SpanKind.CLIENT) as SpanRecord;
  const server = spans.find((x) => x.kind === SpanKind.SERVER) as SpanRecord;
  assert.deepEqual(client.status, { code: SpanStatusCode.ERROR });
  assert.equal(client.attributes['error.type'], '404');
  assert.deepEqual(server.status, { code: SpanStatusCode.UNSET });
  assert.equal(server.attributes['error.type'], undefined);
  const st = p.stats();
  assert.equal(st.tracker.unknownConnection, 1);
  assert.equal(st.tracker.undetected, 1);
});

test('ClockOffset: kernel monotonic ns → wall HrTime, offset measured at a millisecond tick', () => {
  let wall = 1_700_000_000_123;
  let mono = 3_000_000_000_000n;
  let calls = 0;
  const clock = new ClockOffset({
    wallMs: () => {
      calls++;
      if (calls === 3) wall++; // Date.now() ticks between the 2nd and 3rd read
      return wall;
    },
    monoNs: () => (mono += 1000n),
  });
  // the tick was seen at mono 3_000_000_002_000 (2nd monoNs call, right after it) = wall 1_700_000_000_124 ms
  assert.equal(clock.offsetNs(), 1_700_000_000_124n * 1_000_000n - 3_000_000_002_000n);
  assert.deepEqual(clock.toHrTime(3_000_000_002_000), [1_700_000_000, 124_000_000]);
  assert.deepEqual(clock.toHrTime(3_000_000_002_000 + 1_999_999_999), [1_700_000_002, 123_999_999]);
  const real = new ClockOffset();
  const [s] = real.toHrTime(real.nowMonoNs());
  assert.ok(Math.abs(s - Date.now() / 1000) < 2);
});

test('a loss of unknown size: the exchange in progress ends there (its status was seen), parsing resumes at the next request', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK, spans: false });
  const c = base(20, 1, 'client', '10.0.0.1:2000', '10.0.0.2:80');
  p.open(c);
  p.chunk(c.id, true, 1000, 5, enc('GET /a HTTP/1.1\r\n\r\n'), 19);
  p.chunk(c.id, false, 2000, 0, enc('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), 1400);
  p.lost(c.id, 3000); // the rest of that body went missing
  p.chunk(c.id, false, 4000, 0, enc('tail of the lost body'), 21);
  p.chunk(c.id, true, 5000, 5, enc('GET /b HTTP/1.1\r\n\r\n'), 19);
  p.chunk(c.id, false, 6000, 0, enc('HTTP/1.1 204 No Content\r\n\r\n'), 27);
  const counter = p.collectMetrics()[0].scopeMetrics[0].metrics.find((m) => m.descriptor.name === 'container_http_requests_total') as SumMetricData;
  assert.deepEqual(counter.dataPoints.map((d) => [d.attributes.status, d.value]), [['2xx', 2]]);
  assert.equal(p.stats().tracker.losses, 1);
});

test('bounded state: many short connections leave nothing behind in the tracker or the linker', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  let ts = 1e9;
  for (let i = 0; i < 2000; i++) {
    const c = base(1000 + 2 * i, 1, 'client', `10.0.0.1:${20000 + i}`, '10.0.0.2:80');
    const s = base(1001 + 2 * i, 2, 'server', '10.0.0.2:80', `10.0.0.1:${20000 + i}`);
    p.open(c);
    p.open(s);
    p.chunk(c.id, true, ts, 5, enc('GET /x HTTP/1.1\r\n\r\n'), 19);
    p.chunk(s.id, false, ts + 10, 0, enc('GET /x HTTP/1.1\r\n\r\n'), 19);
    p.chunk(s.id, true, ts + 20, 6, enc('HTTP/1.1 204 No Content\r\n\r\n'), 27);
    p.chunk(c.id, false, ts + 30, 0, enc('HTTP/1.1 204 No Content\r\n\r\n'), 27);
    p.close(c.id, ts + 40);
    p.close(s.id, ts + 40);
    ts += 1e6;
    if (i % 100 === 0) p.tick(ts);
  }
  const spans = p.tick(ts + 10e9, true);
  const st = p.stats();
  assert.equal(st.tracker.records, 4000);
  assert.equal(st.connections, 0);
  assert.equal(st.pendingSpans, 0);
  assert.equal(st.indexKeys, 0);
  assert.ok(spans.length > 0);
});

test('recorded chain client → Node front → Node backend: one trace per request, four spans, no thread ids needed', () => {
  // user-space recordings carry no thread ids: the front's call is linked because it was the only inbound
  // request in flight in the front process when the call was written
  const front = loadFixture('http1', 'node-chain-front');
  const back = loadFixture('http1', 'node-chain-backend');
  const client = base(101, 100, 'client', '127.0.0.1:50001', '127.0.0.1:3000');
  const frontIn = base(102, 200, 'server', '127.0.0.1:3000', '127.0.0.1:50001');
  const frontOut = base(103, 200, 'client', '127.0.0.1:50002', '127.0.0.1:4000');
  const backIn = base(104, 300, 'server', '127.0.0.1:4000', '127.0.0.1:50002');
  const events = [
    ...front.map((c) => ({ c, a: client, b: frontIn })),
    ...back.map((c) => ({ c, a: frontOut, b: backIn })),
  ].sort((x, y) => x.c.tsNs - y.c.tsNs);
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  for (const conn of [client, frontIn, frontOut, backIn]) p.open(conn);
  for (const { c, a, b } of events) {
    const ts = T0 + c.tsNs;
    // request chunks: written by the client end, read by the server end; responses the other way
    p.chunk(a.id, c.dir === Direction.Request, ts, 0, c.bytes, c.bytes.length);
    p.chunk(b.id, c.dir !== Direction.Request, ts, 0, c.bytes, c.bytes.length);
  }
  const spans = p.tick(T0 + 1e8);
  assert.equal(spans.length, 12);
  const by = (pid: number, kind: SpanKind) => spans.filter((s) => s.resource.attributes['process.pid'] === pid && s.kind === kind);
  const [calls, fronts, outs, backs] = [by(100, SpanKind.CLIENT), by(200, SpanKind.SERVER), by(200, SpanKind.CLIENT), by(300, SpanKind.SERVER)];
  assert.deepEqual(fronts.map((s) => s.name), ['GET /orders/{id}', 'GET /orders/{id}', 'GET /orders/{id}']);
  assert.deepEqual(backs.map((s) => s.name), ['GET /items/{id}', 'GET /items/{id}', 'GET /items/{id}']);
  for (let i = 0; i < 3; i++) {
    assert.equal(fronts[i].traceId, calls[i].traceId, `request ${i}`);
    assert.equal(outs[i].traceId, calls[i].traceId);
    assert.equal(backs[i].traceId, calls[i].traceId);
    assert.equal(outs[i].parentSpanId, fronts[i].spanId, 'the call is a child of the request being handled');
    assert.equal(backs[i].parentSpanId, outs[i].spanId, 'the backend span is a child of the call');
    if (i > 0) assert.equal(fronts[i].parentSpanId, calls[i].spanId);
  }
  assert.equal(calls[0].traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(fronts[0].parentSpanId, 'b7ad6b7169203331');
  assert.equal(new Set(spans.map((s) => s.traceId)).size, 3);
  assert.equal(p.stats().link.timedOut, 0, 'every span came out as soon as its parent did');
});

test('IPv4-mapped addresses are unmapped; loopback tuples are matched within their network namespace', () => {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  // pod A: client and server talk over 127.0.0.1 in netns 1; pod B (netns 2) has the same tuple, server only
  const c = { ...base(1, 1, 'client', '127.0.0.1:40000', '127.0.0.1:8080'), netns: 1 };
  const s = { ...base(2, 2, 'server', '127.0.0.1:8080', '127.0.0.1:40000'), netns: 1 };
  const other = { ...base(3, 3, 'server', '127.0.0.1:8080', '127.0.0.1:40000'), localIp: '::ffff:127.0.0.1', remoteIp: '::FFFF:127.0.0.1', netns: 2 };
  assert.equal(other.localPort, 8080);
  for (const x of [c, s, other]) p.open(x);
  const req = enc('GET /x HTTP/1.1\r\n\r\n');
  const res = enc('HTTP/1.1 204 No Content\r\n\r\n');
  p.chunk(c.id, true, 1000, 5, req, req.length);
  p.chunk(s.id, false, 1100, 0, req, req.length);
  p.chunk(other.id, false, 1150, 0, req, req.length);
  p.chunk(other.id, true, 1160, 7, res, res.length);
  p.chunk(s.id, true, 1200, 6, res, res.length);
  p.chunk(c.id, false, 1300, 0, res, res.length);
  const spans = p.tick(10e9, true);
  const client = spans.find((x) => x.kind === SpanKind.CLIENT) as SpanRecord;
  const inA = spans.find((x) => x.resource.attributes['process.pid'] === 2) as SpanRecord;
  const inB = spans.find((x) => x.resource.attributes['process.pid'] === 3) as SpanRecord;
  assert.equal(inA.parentSpanId, client.spanId);
  assert.notEqual(inB.parentSpanId, client.spanId, 'another namespace: not the same connection');
  // without namespaces the two would be one tuple
  const q = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  const c2 = base(1, 1, 'client', '127.0.0.1:40000', '127.0.0.1:8080');
  const o2 = { ...base(3, 3, 'server', '127.0.0.1:8080', '127.0.0.1:40000'), localIp: '::ffff:127.0.0.1', remoteIp: '::ffff:127.0.0.1' };
  q.open(c2);
  q.open(o2);
  q.chunk(c2.id, true, 1000, 5, req, req.length);
  q.chunk(o2.id, false, 1150, 0, req, req.length);
  q.chunk(o2.id, true, 1160, 7, res, res.length);
  q.chunk(c2.id, false, 1300, 0, res, res.length);
  const two = q.tick(10e9, true);
  assert.equal((two.find((x) => x.kind === SpanKind.SERVER) as SpanRecord).parentSpanId, (two.find((x) => x.kind === SpanKind.CLIENT) as SpanRecord).spanId, 'unmapped: same tuple as the IPv4 end');
  assert.equal(inB.attributes['client.address'], '127.0.0.1');
});

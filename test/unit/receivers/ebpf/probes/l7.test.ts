// The l7 probe without a kernel: the detector table, the adapter on synthetic records (owner wait,
// gaps, the agent's own connections, malformed input, no allocation per segment), and the ring
// batches recorded on a real kernel (scripts/record-l7-ringbuf-fixtures.mjs) replayed through the
// adapter + L7Pipeline and through the ebpf receiver (FakeNative).
import { test, describe } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { DataPoint, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Issue } from '../../../../../src/config/schema.js';
import { INVALID } from '../../../../../src/config/schema.js';
import { ENUMS, STRUCTS } from '../../../../../src/native/layouts.generated.js';
import { FakeNative } from '../../../../../src/native/fake.js';
import { encodeRecords } from '../../../../../src/native/ring-records.js';
import type { SpanRecord } from '../../../../../src/pdata/traces.js';
import type { ConnInfo } from '../../../../../src/receivers/ebpf/l7/conn.js';
import { L7Pipeline } from '../../../../../src/receivers/ebpf/l7/pipeline.js';
import { ParserRegistry } from '../../../../../src/receivers/ebpf/l7/registry.js';
import { http1Parser } from '../../../../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import { Direction } from '../../../../../src/receivers/ebpf/l7/types.js';
import type { EbpfConfig } from '../../../../../src/receivers/ebpf/config.js';
import { createEbpfReceiverFactory } from '../../../../../src/receivers/ebpf/factory.js';
import { L7Adapter } from '../../../../../src/receivers/ebpf/probes/l7/adapter.js';
import type { L7Input } from '../../../../../src/receivers/ebpf/probes/l7/adapter.js';
import { buildDetectorTable, DETECTOR_ROWS, matchDetector } from '../../../../../src/receivers/ebpf/probes/l7/detectors.js';
import { SelfTelemetry } from '../../../../../src/service/telemetry.js';
import { fixturesDir } from '../../../../helpers/paths.js';
import { testSettings, TestHost } from '../../../../helpers/settings.js';
import { Sink } from '../../../../helpers/sinks.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const REQ = ENUMS.L7_DETECT_REQUEST;
const RESP = ENUMS.L7_DETECT_RESPONSE;

describe('detector table', () => {
  const all = buildDetectorTable(['http', 'postgresql', 'mysql', 'redis', 'memcached']);

  test('fits the kernel table; rows of unregistered protocols are left out; ids follow registration', () => {
    assert.ok(all.count <= ENUMS.L7_DETECTORS_MAX);
    assert.equal(all.count, DETECTOR_ROWS.length);
    assert.deepEqual(all.names, ['http', 'postgresql', 'redis', 'memcached', 'mysql'], 'ids in table order');
    const httpOnly = buildDetectorTable(['http']);
    assert.deepEqual(httpOnly.names, ['http']);
    assert.equal(httpOnly.count, DETECTOR_ROWS.filter((r) => r.protocol === 'http').length);
    assert.equal(httpOnly.rodata.length, STRUCTS.l7_detector.size * ENUMS.L7_DETECTORS_MAX);
    // row 0 = "GET " in struct l7_detector
    const F = STRUCTS.l7_detector.fields;
    assert.deepEqual([...httpOnly.rodata.subarray(F.prefix.offset, F.prefix.offset + 4)], [...enc('GET ')]);
    assert.deepEqual([...httpOnly.rodata.subarray(F.mask.offset, F.mask.offset + 8)], [255, 255, 255, 255, 0, 0, 0, 0]);
    assert.equal(httpOnly.rodata[F.len.offset], 4);
    assert.equal(httpOnly.rodata[F.protocol.offset], 1);
    assert.equal(httpOnly.rodata[F.dir.offset], REQ);
    assert.throws(() => buildDetectorTable(['x'], Array(65).fill({ protocol: 'x', dir: 'request', bytes: [1] })), /holds 64/);
  });

  const cases: Array<[string, number[] | string, number, string | undefined]> = [
    ['GET request', 'GET /api HTTP/1.1\r\n', REQ, 'http'],
    ['DELETE request', 'DELETE /x HTTP/1.1\r\n', REQ, 'http'],
    ['HTTP response', 'HTTP/1.1 200 OK\r\n', RESP, 'http'],
    ['a response is not a request', 'HTTP/1.1 200 OK\r\n', REQ, undefined],
    ['lowercase method', 'get / HTTP/1.1\r\n', REQ, 'memcached'],
    ['TLS ClientHello', [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01], REQ | RESP, undefined],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.2\r\n', REQ | RESP, undefined],
    ['postgres StartupMessage', [0, 0, 0, 0x29, 0, 3, 0, 0, 0x75, 0x73], REQ, 'postgresql'],
    ['postgres SSLRequest', [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], REQ, 'postgresql'],
    ['postgres Query', [0x51, 0, 0, 0, 0x0e, 0x53, 0x45, 0x4c], REQ, 'postgresql'],
    ['redis command', '*3\r\n$3\r\nSET\r\n', REQ, 'redis'],
    ['redis long command', '*12\r\n$4\r\nMSET\r\n', REQ, 'redis'],
    ['memcached get', 'get user:1\r\n', REQ, 'memcached'],
    ['mysql COM_QUERY', [0x21, 0, 0, 0, 0x03, 0x53, 0x45, 0x4c], REQ, 'mysql'],
    ['mysql greeting', [0x5b, 0, 0, 0, 0x0a, 0x31, 0x30, 0x2e], RESP, 'mysql'],
    ['short payload', 'GE', REQ, undefined],
  ];
  for (const [name, bytes, dir, want] of cases) {
    test(`matches: ${name}`, () => {
      const b = typeof bytes === 'string' ? enc(bytes) : Uint8Array.from(bytes);
      assert.equal(matchDetector(all, b.subarray(0, 8), b.length, dir)?.protocol, want);
    });
  }

  test('every HTTP message the parser accepts first passes the kernel row', () => {
    const http = buildDetectorTable(['http']);
    for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']) {
      const b = enc(`${m} / HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.ok(http1Parser.detect(b, Direction.Request), m);
      assert.equal(matchDetector(http, b.subarray(0, 8), b.length, REQ)?.protocol, 'http', m);
    }
  });
});

// ── synthetic records ────────────────────────────────────────────────────────────────────────

const C = STRUCTS.l7_conn_event.fields;
const E = STRUCTS.l7_event.fields;

function open(cookie: number, o: { pid: number; role: 'client' | 'server'; ownerTask?: boolean; fromStart?: boolean; sport?: number; dport?: number; cgroupId?: number; ts?: number }): Uint8Array {
  const b = Buffer.alloc(STRUCTS.l7_conn_event.size);
  b.writeBigUInt64LE(BigInt(o.ts ?? 1000), C.ts_ns.offset);
  b.writeBigUInt64LE(BigInt(cookie), C.cookie.offset);
  b.writeUInt32LE(ENUMS.L7_EVENT_OPEN, C.type.offset);
  b.writeUInt32LE(o.pid, C.pid.offset);
  b.writeBigUInt64LE(BigInt(o.cgroupId ?? 0), C.cgroup_id.offset);
  b.writeUInt16LE(2, C['tuple.family'].offset);
  b.set([127, 0, 0, 1], C['tuple.saddr'].offset);
  b.set([127, 0, 0, 1], C['tuple.daddr'].offset);
  b.writeUInt16LE(o.sport ?? (o.role === 'client' ? 40000 : 8080), C['tuple.sport'].offset);
  b.writeUInt16LE(o.dport ?? (o.role === 'client' ? 8080 : 40000), C['tuple.dport'].offset);
  b[C.role.offset] = o.role === 'client' ? ENUMS.SONDE_ROLE_CLIENT : ENUMS.SONDE_ROLE_SERVER;
  b[C.protocol.offset] = 1;
  b[C.flags.offset] = ENUMS.L7_CONN_TRACKED | (o.fromStart ?? true ? ENUMS.L7_CONN_FROM_START : 0) | (o.ownerTask ? ENUMS.L7_CONN_OWNER_TASK : 0);
  return b;
}

function data(cookie: number, egress: boolean, ts: number, payload: string, o: { pid?: number; tid?: number; length?: number; gap?: number; sizeClass?: number } = {}): Uint8Array {
  const p = enc(payload);
  const b = Buffer.alloc(STRUCTS.l7_event.size + (o.sizeClass ?? p.length));
  b.writeBigUInt64LE(BigInt(ts), E.ts_ns.offset);
  b.writeBigUInt64LE(BigInt(cookie), E.cookie.offset);
  b.writeUInt32LE(ENUMS.L7_EVENT_DATA, E.type.offset);
  b.writeUInt32LE(o.pid ?? 0, E.pid.offset);
  b.writeUInt32LE(o.tid ?? 0, E.tid.offset);
  b.writeUInt32LE(o.length ?? p.length, E.length.offset);
  b.writeUInt32LE(o.gap ?? 0, E.gap.offset);
  b.writeUInt16LE(p.length, E.captured.offset);
  b[E.dir.offset] = egress ? ENUMS.L7_DIR_EGRESS : ENUMS.L7_DIR_INGRESS;
  b[E.flags.offset] = o.pid ? ENUMS.L7_DATA_TASK : 0;
  b.set(p, STRUCTS.l7_event.size);
  return b;
}

function event(type: number, cookie: number, ts: number, pid = 0, tid = 0): Uint8Array {
  const b = Buffer.alloc(STRUCTS.l7_event.size);
  b.writeBigUInt64LE(BigInt(ts), E.ts_ns.offset);
  b.writeBigUInt64LE(BigInt(cookie), E.cookie.offset);
  b.writeUInt32LE(type, E.type.offset);
  b.writeUInt32LE(pid, E.pid.offset);
  b.writeUInt32LE(tid, E.tid.offset);
  return b;
}

type Call = ['open', ConnInfo] | ['chunk', number, boolean, number, number, string, number] | ['close', number, number];

class Recorder implements L7Input {
  readonly calls: Call[] = [];
  readonly arrays: Uint8Array[] = [];
  open(conn: ConnInfo): void { this.calls.push(['open', conn]); }
  chunk(id: number, egress: boolean, ts: number, tid: number, d: Uint8Array, length: number): void {
    this.arrays.push(d);
    this.calls.push(['chunk', id, egress, ts, tid, new TextDecoder().decode(d), length]);
  }
  close(id: number, ts: number): void { this.calls.push(['close', id, ts]); }
}

const feed = (a: L7Adapter, records: Uint8Array[]): void => {
  const b = encodeRecords(records);
  a.onBatch(b, records.length, b.length);
};
const cgroups = (pid: number, id: number): string => (id !== 0 ? `/id/${id}` : `/pid/${pid}`);

describe('adapter (synthetic records)', () => {
  test('a client connection opens at its first chunk with the kernel\'s owner and cgroup id; chunks pass in order', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups });
    feed(a, [
      open(7, { pid: 100, role: 'client', ownerTask: true, cgroupId: 55 }),
      data(7, true, 2000, 'GET / HTTP/1.1\r\n\r\n', { pid: 100, tid: 101 }),
      data(7, false, 3000, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
      event(ENUMS.L7_EVENT_CLOSE, 7, 4000),
    ]);
    assert.equal(r.calls.length, 4);
    const [, info] = r.calls[0] as ['open', ConnInfo];
    assert.deepEqual({ ...info }, { id: 7, pid: 100, role: 'client', localIp: '127.0.0.1', localPort: 40000, remoteIp: '127.0.0.1', remotePort: 8080, cgroupPath: '/id/55', fromStart: true, protocol: 'http', ownedSinceNs: 2000 });
    assert.deepEqual(r.calls[1], ['chunk', 7, true, 2000, 101, 'GET / HTTP/1.1\r\n\r\n', 18]);
    assert.deepEqual(r.calls[2].slice(0, 5), ['chunk', 7, false, 3000, 0]);
    assert.deepEqual(r.calls[3], ['close', 7, 4000]);
    assert.equal(a.connections, 0);
  });

  test('a server connection waits for its owner (OWNER record), then opens with it and replays in order', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups });
    feed(a, [
      open(8, { pid: 10, role: 'server', cgroupId: 3 }), // the listener's (nginx master)
      data(8, false, 2000, 'GET /a HTTP/1.1\r\n\r\n'),
    ]);
    assert.equal(r.calls.length, 0, 'held');
    feed(a, [event(ENUMS.L7_EVENT_OWNER, 8, 2500, 11, 12), data(8, true, 3000, 'HTTP/1.1 204 No Content\r\n\r\n', { pid: 11, tid: 12 })]);
    const [, info] = r.calls[0] as ['open', ConnInfo];
    assert.equal(info.pid, 11, 'the worker that read it');
    assert.equal(info.cgroupPath, '/pid/11', 'servers: the owner\'s cgroup by pid');
    assert.equal(info.ownedSinceNs, 2500, 'handed over when the owner read it (the request arrived at 2000)');
    assert.deepEqual(r.calls.slice(1).map((c) => c.slice(0, 5)), [['chunk', 8, false, 2000, 0], ['chunk', 8, true, 3000, 12]]);
    assert.equal(a.stats.ownerChanged, 1);
  });

  test('a server worker that exited before its records were decoded (a short PostgreSQL backend) takes the listener\'s cgroup, not the root', () => {
    const r = new Recorder();
    // pid 21 is gone: /proc has nothing and the receiver's index answers the root; the listener's id is known
    const resolve = (pid: number, id: number): string => (id === 4 ? '/srv' : pid === 21 ? '/' : pid === 22 ? '' : `/pid/${pid}`);
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: resolve });
    feed(a, [
      open(9, { pid: 20, role: 'server', cgroupId: 4 }),
      data(9, false, 2000, 'GET /a HTTP/1.1\r\n\r\n'),
      event(ENUMS.L7_EVENT_OWNER, 9, 2500, 21, 21),
      open(10, { pid: 20, role: 'server', cgroupId: 4 }),
      data(10, false, 2000, 'GET /b HTTP/1.1\r\n\r\n'),
      event(ENUMS.L7_EVENT_OWNER, 10, 2500, 22, 22),
      open(11, { pid: 20, role: 'server', cgroupId: 4 }),
      data(11, false, 2000, 'GET /c HTTP/1.1\r\n\r\n'),
      event(ENUMS.L7_EVENT_OWNER, 11, 2500, 23, 23),
    ]);
    const opens = r.calls.filter((c) => c[0] === 'open').map((c) => c[1] as ConnInfo);
    assert.deepEqual(opens.map((i) => [i.pid, i.cgroupPath]), [[21, '/srv'], [22, '/srv'], [23, '/pid/23']], 'by pid when it resolves, else the listener\'s');
  });

  test('without OWNER, the first egress chunk with a writer settles the owner; the cap opens with the listener\'s', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups, maxPendingChunks: 3 });
    feed(a, [open(9, { pid: 10, role: 'server' }), data(9, false, 1, 'GET / HTTP/1.1\r\n\r\n'), data(9, true, 2, 'HTTP/1.1 200 OK\r\n\r\n', { pid: 12, tid: 13 })]);
    assert.equal((r.calls[0] as ['open', ConnInfo])[1].pid, 12);
    assert.equal((r.calls[0] as ['open', ConnInfo])[1].ownedSinceNs, 2, 'at the write that named the owner');
    feed(a, [open(10, { pid: 10, role: 'server' }), ...[1, 2, 3].map((i) => data(10, false, i, 'GET / HTTP/1.1\r\n\r\n'))]);
    const opened = r.calls.filter((c) => c[0] === 'open').map((c) => (c[1] as ConnInfo));
    assert.equal(opened[1].pid, 10, 'cap reached: the kernel\'s pid');
    assert.equal(opened[1].ownedSinceNs, 3, 'handed over at the chunk that reached the cap');
    assert.equal(a.stats.ownerUnknown, 1);
  });

  test('a declared hole is fed as an uncaptured chunk before the segment; captured < length passes through', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups });
    feed(a, [open(11, { pid: 1, role: 'client', ownerTask: true }), data(11, true, 1, 'GET / HTTP/1.1\r\n\r\n', { pid: 1, tid: 1 }), data(11, false, 2, 'abc', { gap: 1000, length: 5000 })]);
    assert.deepEqual(r.calls.slice(2).map((c) => c.slice(0, 7)), [['chunk', 11, false, 2, 0, '', 1000], ['chunk', 11, false, 2, 0, 'abc', 5000]]);
    assert.equal(a.stats.gapBytes, 1000);
  });

  test('the kernel\'s protocol is kept only when its parser confirms the first chunk', () => {
    const r = new Recorder();
    const registry = new ParserRegistry().register(http1Parser);
    const a = new L7Adapter(r, { protocols: ['http'], registry, cgroupPath: cgroups });
    feed(a, [open(12, { pid: 1, role: 'client', ownerTask: true }), data(12, true, 1, 'GET / HTTP/1.1\r\n', { pid: 1 })]);
    feed(a, [open(13, { pid: 1, role: 'client', ownerTask: true }), data(13, true, 1, 'GETX\x00\x01', { pid: 1 })]);
    const opened = r.calls.filter((c) => c[0] === 'open').map((c) => (c[1] as ConnInfo).protocol);
    assert.deepEqual(opened, ['http', undefined]);
    assert.deepEqual([a.stats.confirmed, a.stats.unconfirmed], [1, 1]);
  });

  test('the agent\'s own connections are dropped; unknown cookies, malformed and unknown records are counted', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups, selfPid: 77 });
    feed(a, [open(14, { pid: 77, role: 'client', ownerTask: true }), data(14, true, 1, 'GET / HTTP/1.1\r\n\r\n', { pid: 77 }), data(14, false, 2, 'HTTP/1.1 200 OK\r\n\r\n')]);
    assert.equal(r.calls.length, 0);
    assert.equal(a.stats.self, 1);
    const bad = data(15, true, 1, 'x');
    Buffer.from(bad.buffer, bad.byteOffset).writeUInt16LE(500, E.captured.offset); // captured beyond the record
    feed(a, [data(99, true, 1, 'GET'), bad, event(42, 1, 1), new Uint8Array(10)]);
    assert.equal(a.stats.unknownConnection, 1);
    assert.equal(a.stats.malformed, 3);
  });

  test('records of a size class longer than their capture; the same array is reused per captured length (no allocation per segment)', () => {
    const r = new Recorder();
    const a = new L7Adapter(r, { protocols: ['http'], cgroupPath: cgroups });
    feed(a, [open(16, { pid: 1, role: 'client', ownerTask: true }), data(16, true, 1, 'GET /a HTTP/1.1\r\n\r\n', { pid: 1, sizeClass: 64 })]);
    for (let i = 0; i < 3; i++) feed(a, [data(16, true, 10 + i, 'GET /b HTTP/1.1\r\n\r\n', { pid: 1, sizeClass: 64 })]);
    assert.equal(r.calls.length, 5);
    assert.equal((r.calls[2] as unknown[])[5], 'GET /b HTTP/1.1\r\n\r\n');
    const arrays = r.arrays.slice(1);
    assert.ok(arrays.every((x) => x === arrays[0]), 'one reused array for this length');
  });
});

// ── recorded batches ─────────────────────────────────────────────────────────────────────────

interface Manifest {
  nginxPort: number;
  nodeA: { port: number; pid: number };
  nodeB: { port: number; pid: number };
  curl: { keepalive: number; single: number; chain: number };
  nginxRequests: Array<[string, number]>;
  bigBytes: number;
  chainRequests: number;
  connections: number;
  records: number;
}
const manifest = JSON.parse(readFileSync(fixturesDir('ringbuf', 'l7', 'manifest.json'), 'utf8')) as Manifest;
const batches = ['001-workload.bin', '002-workload.bin'].map((f) => readFileSync(fixturesDir('ringbuf', 'l7', f)));
const pidOf = (sp: ReadableSpan): number => sp.resource.attributes['process.pid'] as number;

function checkRecorded(spans: ReadableSpan[]): void {
  const m = manifest;
  const curl = spans.filter((sp) => pidOf(sp) === m.curl.keepalive || pidOf(sp) === m.curl.single)
    .sort((x, y) => x.startTime[0] - y.startTime[0] || x.startTime[1] - y.startTime[1]);
  assert.deepEqual(curl.map((sp) => [sp.attributes['url.path'], sp.attributes['http.response.status_code']]), m.nginxRequests);
  assert.ok(curl.every((sp) => sp.kind === SpanKind.CLIENT && sp.attributes['url.query'] === undefined));
  const nginx = spans.filter((sp) => sp.kind === SpanKind.SERVER && sp.attributes['server.port'] === m.nginxPort);
  assert.equal(nginx.length, m.nginxRequests.length);
  for (const c of curl) {
    const sv = nginx.find((x) => x.parentSpanContext?.spanId === c.spanContext().spanId);
    assert.ok(sv, `server span of ${String(c.attributes['url.path'])}`);
    assert.equal(sv.spanContext().traceId, c.spanContext().traceId);
  }
  const big = curl.find((sp) => sp.attributes['url.path'] === '/big');
  assert.equal(big?.attributes['http.response.body.size'], m.bigBytes);
  assert.equal(curl.find((sp) => sp.attributes['url.path'] === '/error')?.status.code, SpanStatusCode.ERROR);
  // the chain: curl → A → B, one trace per request
  const chain = spans.filter((sp) => [m.curl.chain, m.nodeA.pid, m.nodeB.pid].includes(pidOf(sp)));
  assert.equal(chain.length, 4 * m.chainRequests);
  for (const root of chain.filter((sp) => pidOf(sp) === m.curl.chain)) {
    let cur: ReadableSpan | undefined = root;
    const kinds: SpanKind[] = [];
    for (let i = 0; i < 3 && cur; i++) {
      const parent: ReadableSpan = cur;
      cur = chain.find((x) => x.parentSpanContext?.spanId === parent.spanContext().spanId);
      if (cur) kinds.push(cur.kind);
    }
    assert.deepEqual(kinds, [SpanKind.SERVER, SpanKind.CLIENT, SpanKind.SERVER], 'curl → A (server) → A (client) → B (server)');
  }
  assert.equal(spans.length, 2 * m.nginxRequests.length + 4 * m.chainRequests, 'nothing else');
}

describe('recorded ring batches (real kernel, scripts/record-l7-ringbuf-fixtures.mjs)', () => {
  test('adapter + L7Pipeline: every request of the workload as linked CLIENT/SERVER spans', () => {
    const registry = new ParserRegistry().register(http1Parser);
    const p = new L7Pipeline({ host: { hostname: 'h', machineId: 'm', arch: 'x64' }, registry, link: { windowNs: 1e6 } });
    const a = new L7Adapter(p, { protocols: ['http'], registry, cgroupPath: () => '/test' });
    let records = 0;
    for (const b of batches) {
      a.onBatch(b, 0, b.length);
      records = a.stats.records;
    }
    assert.equal(records, manifest.records);
    assert.equal(a.stats.malformed + a.stats.unknownConnection, 0);
    assert.equal(a.connections, 0, 'every connection closed');
    const spans: SpanRecord[] = p.tick(Number.MAX_SAFE_INTEGER / 2, true);
    checkRecorded(spans);
    assert.equal(p.stats().tracker.parserErrors, 0);
  });

  test('through the ebpf receiver on FakeNative: probes.l7 spans on the traces signal, request metrics on the metrics signal', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sonde-l7-unit-'));
    try {
      const f = createEbpfReceiverFactory({ native: FakeNative.fromFixtures(fixturesDir('ringbuf')) });
      const issues: Issue[] = [];
      const cfg = f.configSchema.parse({
        proc_root: empty, cgroup_root: empty, discovery: false, ring_buffer: { drain_interval: '1ms' },
        probes: { l7: { enabled: true, link_window: '1ms', span_interval: '10ms' } },
      }, ['ebpf'], issues, f.createDefaultConfig());
      assert.notEqual(cfg, INVALID, JSON.stringify(issues));
      const telemetry = new SelfTelemetry();
      const set = testSettings('ebpf', 'receiver', telemetry);
      const sink = new Sink();
      const traces = f.createTraces!(set, cfg as EbpfConfig, sink);
      const metrics = f.createMetrics!(set, cfg as EbpfConfig, sink);
      await traces.start(new TestHost());
      await metrics.start(new TestHost());
      await new Promise((r) => setTimeout(r, 150));
      await traces.shutdown();
      await metrics.shutdown();
      checkRecorded(sink.allSpans());
      const md: ResourceMetrics[] = sink.metrics.at(-1) ?? [];
      const inbound = md.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)).filter((mm) => mm.descriptor.name === 'container_http_inbound_requests_total')
        .flatMap((mm) => mm.dataPoints as DataPoint<number>[]).reduce((n, pt) => n + pt.value, 0);
      assert.equal(inbound, manifest.nginxRequests.length + 2 * manifest.chainRequests, 'nginx + A + B inbound requests');
      assert.equal(telemetry.counterValue('sonde_ebpf_events_total', { probe: 'l7', type: 'open' }), manifest.connections);
      assert.equal(telemetry.counterValue('sonde_ebpf_user_events_lost_total', { probe: 'l7' }), 0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('config: l7 needs the tcp probe; capture_bytes is bounded by the kernel\'s largest size class', () => {
    const f = createEbpfReceiverFactory();
    const issues: Issue[] = [];
    f.configSchema.parse({ probes: { tcp: { enabled: false }, l7: { enabled: true } } }, ['ebpf'], issues, f.createDefaultConfig());
    assert.ok(issues.some((i) => i.path.join('.') === 'ebpf.probes.l7' && /tcp/.test(i.message)), JSON.stringify(issues));
    assert.equal((f.createDefaultConfig().probes.l7 as unknown as { capture_bytes: number }).capture_bytes, 1024);
  });
});

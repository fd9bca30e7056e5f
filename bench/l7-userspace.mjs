#!/usr/bin/env node
// User-space L7 microbenchmarks: HTTP/1.1 keep-alive traffic shaped like wrk → nginx, fed as the kernel side
// would (one chunk per write/read, both ends of each connection on this node), through
//   1. the HTTP/1 parser alone                    (records/s, ns/record)
//   2. parser + connection table + metrics          (spans off)
//   3. parser + metrics + linking + SpanRecords     (the whole L7Pipeline)
//   4. 3 + OTLP protobuf encoding of spans (the otlp exporter's direct encoder; and, for reference, the
//      SDK's ProtobufTraceSerializer) and metrics (what an exporter does with them)
// and the bytes allocated per record (and per skipped body chunk), measured without a GC in between.
//   npx tsc -p tsconfig.json && node bench/l7-userspace.mjs [records] [--root DIR]
// `--root DIR`: measure another checkout's build (DIR/dist) with this script (before/after comparisons).
import { execFileSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';

// Timings run in this process with V8's default heap settings (what the agent runs with). Allocations are
// measured in a child with a young generation big enough that no GC happens during the measured run.
const ALLOC = process.argv.includes('--alloc');
let allocs = {};
if (!ALLOC) {
  const child = execFileSync(process.execPath, ['--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128', new URL(import.meta.url).pathname, ...process.argv.slice(2), '--alloc'], { encoding: 'utf8', maxBuffer: 1 << 20 });
  allocs = JSON.parse(child);
}

const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? `${process.argv[rootArg + 1].replace(/\/+$/, '')}/` : new URL('..', import.meta.url).pathname;
const { encodeTraces } = await import(`${root}dist/src/internal/otlp/proto.js`);
const { Http1Session } = await import(`${root}dist/src/receivers/ebpf/l7/protocols/http1/parser.js`);
const { DEFAULT_PARSER_OPTIONS } = await import(`${root}dist/src/receivers/ebpf/l7/types.js`);
const { L7Pipeline } = await import(`${root}dist/src/receivers/ebpf/l7/pipeline.js`);
const { ProtobufTraceSerializer, ProtobufMetricsSerializer } = await import('@opentelemetry/otlp-transformer');

const N = Number(process.argv[2]) > 0 ? Number(process.argv[2]) : 200_000;
const CONNS = 64;
const enc = (s) => new TextEncoder().encode(s);

// wrk-style requests on a few routes with ids; nginx-style responses
const host0 = { hostname: 'bench', machineId: 'm', arch: 'x64' };
const REQS = Array.from({ length: 256 }, (_, i) => enc(`GET /api/users/${1000 + i}/orders HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n`));
const RES = enc('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 24 Nov 2026 21:03:57 GMT\r\nContent-Type: application/json\r\nContent-Length: 27\r\nConnection: keep-alive\r\n\r\n{"id":1000,"orders":[1,2]}\n');

let gcs = 0;
new PerformanceObserver((l) => (gcs += l.getEntries().length)).observe({ entryTypes: ['gc'] });

const tick = () => new Promise((r) => setImmediate(r));

/**
 * Warm-up, then a timed run: wall ns and user+system CPU ns per record (the machine is shared, CPU time is
 * the steadier number). Then a short run for allocations: heap growth with no GC in between (checked).
 */
async function measure(name, records, fn, allocRecords = 20_000) {
  fn(Math.min(20_000, records));
  if (ALLOC) return measureAlloc(name, records, fn, allocRecords);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const n = fn(records);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  const cpuNs = (cpu.user + cpu.system) * 1000;
  const bytes = allocs[name] ?? NaN;
  const r = { name, records: n, nsPerRecord: ns / n, cpuNsPerRecord: cpuNs / n, recordsPerSec: (n * 1e9) / ns, bytesPerRecord: bytes };
  console.log(`${name.padEnd(50)} ${String(n).padStart(7)} rec ${r.nsPerRecord.toFixed(0).padStart(6)} ns/rec wall ${r.cpuNsPerRecord.toFixed(0).padStart(6)} ns/rec cpu ${(r.recordsPerSec / 1e6).toFixed(2).padStart(5)} M rec/s ${Number.isFinite(bytes) ? bytes.toFixed(0).padStart(6) : '     ?'} B/rec`);
  return r;
}

const allocOut = {};
/** Heap growth per record over a run with no GC in it (checked; NaN if one happened). */
async function measureAlloc(name, records, fn, allocRecords) {
  const small = Math.min(records, allocRecords);
  fn(small);
  globalThis.gc();
  await tick();
  await new Promise((r) => setTimeout(r, 20)); // let the observer report the gc() above
  const g0 = gcs;
  const before = process.memoryUsage().heapUsed;
  const m = fn(small); // (the loop above ran once already: this one is optimized code)
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 20));
  const clean = gcs === g0;
  allocOut[name] = clean ? (after - before) / m : null;
  return { name, records: m, nsPerRecord: NaN };
}

const results = [];

results.push(await measure('parser only (keep-alive, 1 record = req+resp)', N, (n) => {
  const opts = DEFAULT_PARSER_OPTIONS;
  const sessions = Array.from({ length: CONNS }, () => new Http1Session(opts));
  const out = [];
  let recs = 0;
  for (let i = 0; i < n; i++) {
    const s = sessions[i % CONNS];
    const ts = i * 1000;
    s.feed(0, REQS[i & 255], REQS[i & 255].length, ts, out);
    s.feed(1, RES, RES.length, ts + 500, out);
    recs += out.length;
    out.length = 0;
  }
  return recs;
}));

// skipped body chunks: a 1 MiB body in 1 KiB captures of 64 KiB writes
results.push(await measure('parser: skipped body chunks (per chunk)', N, (n) => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out = [];
  s.feed(0, REQS[0], REQS[0].length, 0, out);
  s.feed(1, enc(`HTTP/1.1 200 OK\r\nContent-Length: ${n * 65536}\r\n\r\n`), 64, 1, out);
  const body = new Uint8Array(1024);
  for (let i = 0; i < n; i++) s.feed(1, body, 65536, 2 + i, out);
  return n;
}, 1_000_000));

// the metrics hot path alone, on records as the tracker hands them over (after warm-up: no allocation)
const { L7Metrics } = await import(`${root}dist/src/receivers/ebpf/l7/metrics.js`);
const { ResourceCache } = await import(`${root}dist/src/receivers/ebpf/l7/resources.js`);
const { RouteTemplater } = await import(`${root}dist/src/receivers/ebpf/l7/routes.js`);
const { connKeys } = await import(`${root}dist/src/receivers/ebpf/l7/conn.js`);
function metricEvents() {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out = [];
  for (let i = 0; i < 256; i++) {
    s.feed(0, REQS[i], REQS[i].length, i * 1000, out);
    s.feed(1, RES, RES.length, i * 1000 + 300 + (i % 7) * 1e6, out);
  }
  const conn = (role) => ({ id: 1, pid: 1, role, localIp: '10.0.0.1', localPort: 40000, remoteIp: '10.0.0.2', remotePort: 8080, cgroupPath: '/a', fromStart: true });
  return ['client', 'server'].flatMap((role) => { const c = conn(role); const k = connKeys(c); return out.map((record) => ({ record, conn: c, keys: k, reqTid: 0, respTid: 0, ordinal: -1 })); });
}
const EVENTS = metricEvents();
for (const naming of ['coroot', 'otel']) {
  results.push(await measure(`metrics.record only (${naming})`, N, (n) => {
    const m = new L7Metrics({ naming }, new ResourceCache(host0), new RouteTemplater(), { name: 'bench' });
    for (let i = 0; i < 1024; i++) m.record(EVENTS[i % EVENTS.length]); // warm-up: every series exists
    for (let i = 0; i < n; i++) m.record(EVENTS[i % EVENTS.length]);
    return n;
  }, 1_000_000));
}

function conns(p, base) {
  const list = [];
  for (let c = 0; c < CONNS; c++) {
    const port = 40000 + c;
    const client = { id: base + 2 * c, pid: 100, role: 'client', localIp: '10.0.0.1', localPort: port, remoteIp: '10.0.0.2', remotePort: 8080, cgroupPath: '/system.slice/wrk.service', fromStart: true, protocol: 'http' };
    const server = { id: base + 2 * c + 1, pid: 200, role: 'server', localIp: '10.0.0.2', localPort: 8080, remoteIp: '10.0.0.1', remotePort: port, cgroupPath: '/system.slice/nginx.service', fromStart: true, protocol: 'http' };
    p.open(client);
    p.open(server);
    list.push([client.id, server.id]);
  }
  return list;
}

/** Both ends of every exchange on this node: 2 records (a CLIENT and a SERVER one) per request. */
function drive(p, n, onTick) {
  const list = conns(p, Math.floor(Math.random() * 1e9) * 2);
  let ts = 1e12;
  let recs = 0;
  for (let i = 0; i < n; i += 2) {
    const [c, s] = list[(i >> 1) % CONNS];
    const req = REQS[(i >> 1) & 255];
    ts += 50_000; // 20k requests/s of kernel time: the linking window holds 2 s of them
    p.chunk(c, true, ts, 101, req, req.length);
    p.chunk(s, false, ts + 1000, 0, req, req.length);
    p.chunk(s, true, ts + 2000, 201, RES, RES.length);
    p.chunk(c, false, ts + 3000, 0, RES, RES.length);
    recs += 2;
    if ((i & 4095) === 0) onTick(ts); // every ~100 ms of kernel time
  }
  onTick(ts + 10e9, true);
  for (const [c, s] of list) {
    p.close(c, ts + 10e9);
    p.close(s, ts + 10e9);
  }
  return recs;
}

const host = host0;

results.push(await measure('parse + conn table + metrics (coroot)', N, (n) => {
  const p = new L7Pipeline({ host, spans: false });
  return drive(p, n, () => 0);
}));

results.push(await measure('parse + metrics (otel semconv, route templating)', N, (n) => {
  const p = new L7Pipeline({ host, spans: false, metrics: { naming: 'otel' } });
  return drive(p, n, () => 0);
}));

results.push(await measure('short connections: open + req + resp + close, metrics', N / 4, (n) => {
  const p = new L7Pipeline({ host, spans: false });
  let ts = 1e12;
  for (let i = 0; i < n; i++) {
    const port = 10000 + (i % 50000);
    const id = 1e6 + i;
    p.open({ id, pid: 300, role: 'server', localIp: '10.0.0.2', localPort: 80, remoteIp: '10.0.0.9', remotePort: port, cgroupPath: '/system.slice/web.service', fromStart: true }, ts);
    const req = REQS[i & 255];
    p.chunk(id, false, ts + 1000, 0, req, req.length);
    p.chunk(id, true, ts + 2000, 301, RES, RES.length);
    p.close(id, ts + 3000);
    ts += 50_000;
  }
  return n;
}));

let spanCount = 0;
results.push(await measure('parse + metrics + linking + spans', N, (n) => {
  const p = new L7Pipeline({ host });
  return drive(p, n, (now, force) => {
    const spans = p.tick(now, force);
    spanCount += spans.length;
    return 0;
  });
}));

const sdk = await measure('  … + SDK OTLP serializer (spans, metrics/10s)', N, (n) => {
  const p = new L7Pipeline({ host });
  let last = 0;
  return drive(p, n, (now, force) => {
    const spans = p.tick(now, force);
    for (let i = 0; i < spans.length; i += 512) ProtobufTraceSerializer.serializeRequest(spans.slice(i, i + 512));
    if (force || now - last > 10e9) {
      ProtobufMetricsSerializer.serializeRequest(p.collectMetrics()[0] ?? { resource: undefined, scopeMetrics: [] });
      last = now;
    }
    return 0;
  });
}, 8_000);
results.push(sdk);

const full = await measure('  … + OTLP encode, exporter\'s encoder (spans, metrics/10s)', N, (n) => {
  const p = new L7Pipeline({ host });
  let last = 0;
  return drive(p, n, (now, force) => {
    const spans = p.tick(now, force);
    for (let i = 0; i < spans.length; i += 512) encodeTraces(spans.slice(i, i + 512));
    if (force || now - last > 10e9) {
      ProtobufMetricsSerializer.serializeRequest(p.collectMetrics()[0] ?? { resource: undefined, scopeMetrics: [] });
      last = now;
    }
    return 0;
  });
}, 8_000);
results.push(full);

if (ALLOC) {
  process.stdout.write(JSON.stringify(allocOut));
  process.exit(0);
}
const spansRow = results.find((r) => r.name === 'parse + metrics + linking + spans');
console.log(`\n${spanCount} spans built in the spans run. Target (issue #4): ≤ 5 µs agent user-space CPU per traced request,`);
console.log(`spans + metrics exported. CPU per record (one end of a request; both ends traced here = 2 records):`);
console.log(`  parse + metrics + linking + span: ${(spansRow.cpuNsPerRecord / 1000).toFixed(2)} µs; with the exporter's OTLP encoding: ${(full.cpuNsPerRecord / 1000).toFixed(2)} µs (the SDK's serializer: ${(sdk.cpuNsPerRecord / 1000).toFixed(2)} µs)`);
console.log(`machine: ${(await import('node:os')).cpus()[0].model}, ${(await import('node:os')).cpus().length} cores, Node ${process.version}`);

#!/usr/bin/env node
// The agent's user-space L7 path on real ring records, without the kernel and the load in the way:
// wrk → nginx traffic (both ends traced) is recorded once from the l7 probe's ring (root), then the
// recorded batches are replayed in this process through exactly what the bench agent does with them
// (bench/lib/l7-agent.mjs): L7Adapter → L7Pipeline (parser, connection table, metrics, linking, spans),
// spans handed out every 100 ms of kernel time and encoded as OTLP protobuf by the exporter's encoder
// (src/internal/otlp/proto.ts), request metrics encoded every 10 s of kernel time.
// Per replay: CPU time (user+system) per request and per record, GC time (PerformanceObserver); then,
// in a child with a young generation big enough to hold it, the bytes allocated per request over a
// part of the recording with no GC in between (checked).
//   record (root):   node bench/l7-replay.mjs --record /tmp/l7-wrk.bin [--seconds 2] [--conns 32]
//   replay:          node bench/l7-replay.mjs --replay /tmp/l7-wrk.bin [--rounds 8] [--root DIR]
// `--root DIR` replays with another checkout's build (DIR/dist): compare two versions on the same
// recording, alternating runs. Without --record/--replay: records to a temp file and replays it.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { arg, freePort, median, num } from './lib/loopback.mjs';

const here = new URL('..', import.meta.url).pathname;
const ROOT = (arg('root', here) + '/').replace(/\/+$/, '/');
const ALLOC = process.argv.includes('--alloc');
/** How often spans are handed out and encoded, in kernel time (the l7 probe's span_interval; default 100 ms). */
const TICK_NS = num('tick-ms', 100) * 1e6;

async function record(file) {
  if (process.getuid() !== 0) { console.log('# l7-replay: recording needs root (skipped)'); process.exit(0); }
  const { startNginx, wrk } = await import('./lib/loopback.mjs');
  const { BenchL7Agent } = await import('./lib/l7-agent.mjs');
  const { forEachRecord } = await import(`${here}dist/src/native/ring-records.js`);
  const agent = new BenchL7Agent({ captureBytes: 1024, mode: 'kernel' });
  const port = num('port', 0) || await freePort();
  const nginx = await startNginx({ port });
  const parts = [];
  let records = 0;
  // the bench agent drains in 'kernel' mode (discards); record what it drains instead
  agent.reader.stop();
  agent.reader.start((buf, n, bytes) => {
    // [u32 bytes][f64 last kernel ts of the batch][batch]
    let last = 0;
    forEachRecord(buf, bytes, (view, off) => { const t = Number(view.getBigUint64(off, true)); if (t > last) last = t; });
    const h = Buffer.alloc(12);
    h.writeUInt32LE(bytes, 0);
    h.writeDoubleLE(last, 4);
    parts.push(h, Buffer.from(buf.subarray(0, bytes)));
    records += n;
  }, { intervalMs: 10 });
  agent.attach();
  const r = await wrk({ port, seconds: num('seconds', 2), conns: num('conns', 32) });
  agent.detach();
  await new Promise((res) => setTimeout(res, 100));
  agent.reader.stop();
  while (agent.reader.drain(() => {}) > 0);
  const lost = agent.lost();
  agent.destroy();
  nginx.stop();
  writeFileSync(file, Buffer.concat(parts));
  console.log(`# recorded ${records} records (${r.requests} wrk requests at ${Math.round(r.rps)} req/s, ring lost ${lost.ringbufFull}) → ${file}`);
}

function load(file) {
  const all = readFileSync(file);
  const batches = [];
  for (let off = 0; off < all.length;) {
    const n = all.readUInt32LE(off);
    const ts = all.readDoubleLE(off + 4);
    batches.push({ ts, data: all.subarray(off + 12, off + 12 + n) });
    off += 12 + n;
  }
  return batches;
}

async function replayer() {
  const { L7Pipeline } = await import(`${ROOT}dist/src/receivers/ebpf/l7/pipeline.js`);
  const { ParserRegistry } = await import(`${ROOT}dist/src/receivers/ebpf/l7/registry.js`);
  const { http1Parser } = await import(`${ROOT}dist/src/receivers/ebpf/l7/protocols/http1/parser.js`);
  const { L7Adapter } = await import(`${ROOT}dist/src/receivers/ebpf/probes/l7/adapter.js`);
  const { encodeTraces } = await import(`${ROOT}dist/src/internal/otlp/proto.js`);
  const { ProtobufMetricsSerializer } = await import('@opentelemetry/otlp-transformer');
  const registry = new ParserRegistry().register(http1Parser);
  const buf = Buffer.allocUnsafe(8 << 20);
  // the ring reader's batch shape: one reused Buffer
  return (batches, count = batches.length) => {
    const pipeline = new L7Pipeline({ host: { hostname: 'bench', machineId: 'm', arch: 'x64' }, registry, link: { windowNs: 200e6 } });
    const adapter = new L7Adapter(pipeline, { protocols: ['http'], registry, cgroupPath: (pid) => `/bench/${pid}` });
    let spans = 0;
    let bytes = 0;
    let lastTick = 0;
    let lastMetrics = 0;
    const exp = (now, force) => {
      const out = pipeline.tick(now, force);
      spans += out.length;
      for (let i = 0; i < out.length; i += 512) bytes += encodeTraces(out.slice(i, i + 512)).length;
    };
    for (let b = 0; b < count; b++) {
      const { ts, data } = batches[b];
      data.copy(buf, 0);
      adapter.onBatch(buf, 0, data.length);
      if (ts - lastTick >= TICK_NS) { exp(ts, false); lastTick = ts; }
      if (ts - lastMetrics >= 10e9) {
        for (const rm of pipeline.collectMetrics()) bytes += ProtobufMetricsSerializer.serializeRequest(rm).length;
        lastMetrics = ts;
      }
    }
    adapter.flush();
    exp(batches[count - 1].ts + 10e9, true);
    for (const rm of pipeline.collectMetrics()) bytes += ProtobufMetricsSerializer.serializeRequest(rm).length;
    return { spans, bytes, records: adapter.stats.records, exchanges: pipeline.stats().tracker.records };
  };
}

let file = arg('replay', undefined);
if (!ALLOC && file === undefined) {
  file = arg('record', undefined) ?? join(mkdtempSync(join(tmpdir(), 'sonde-l7-replay-')), 'wrk.bin');
  await record(file);
  if (arg('record', undefined) !== undefined) process.exit(0);
}
const batches = load(file);
const replay = await replayer();

if (ALLOC) {
  // a prefix of the recording; the young generation holds all of it (no GC in the measured run)
  let gcs = 0;
  new PerformanceObserver((l) => (gcs += l.getEntries().length)).observe({ entryTypes: ['gc'] });
  const count = Math.min(batches.length, num('alloc-batches', 40));
  replay(batches, count);
  replay(batches, count);
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 20));
  const g0 = gcs;
  const h0 = process.memoryUsage().heapUsed;
  const r = replay(batches, count);
  const h1 = process.memoryUsage().heapUsed;
  await new Promise((res) => setTimeout(res, 20));
  process.stdout.write(JSON.stringify({ clean: gcs === g0, bytes: h1 - h0, spans: r.spans, records: r.records }));
  process.exit(0);
}

let gcNs = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcNs += e.duration * 1e6; }).observe({ entryTypes: ['gc'] });
const ROUNDS = num('rounds', 8);
replay(batches); // warm-up
replay(batches);
const rows = [];
await new Promise((res) => setTimeout(res, 20));
const gcStart = gcNs;
let cpuAll = 0;
for (let i = 0; i < ROUNDS; i++) {
  const c0 = process.cpuUsage();
  const r = replay(batches);
  const c = process.cpuUsage(c0);
  const cpuNs = (c.user + c.system) * 1000;
  cpuAll += cpuNs;
  const requests = r.spans / 2; // both ends traced: 2 spans per request
  rows.push({ usPerReq: cpuNs / 1000 / requests, usPerSpan: cpuNs / 1000 / r.spans, nsPerRecord: cpuNs / r.records, r });
}
await new Promise((res) => setTimeout(res, 20)); // the observer reports the last GCs
const gcPct = (100 * (gcNs - gcStart)) / cpuAll;
const a = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256', new URL(import.meta.url).pathname, '--replay', file, '--root', ROOT, '--alloc'], { encoding: 'utf8' }));
const r0 = rows[0].r;
const range = (k, d = 2) => `${median(rows.map((x) => x[k])).toFixed(d)} [${Math.min(...rows.map((x) => x[k])).toFixed(d)}..${Math.max(...rows.map((x) => x[k])).toFixed(d)}]`;
console.log(`# ${ROOT}: ${r0.records} records, ${r0.exchanges} exchanges, ${r0.spans} spans, ${(r0.bytes / r0.spans).toFixed(0)} B exported per span; ${ROUNDS} replays`);
console.log(`agent CPU µs/request ${range('usPerReq')}   µs/span ${range('usPerSpan')}   ns/record ${range('nsPerRecord', 0)}   GC ${gcPct.toFixed(1)} % of CPU (GC pauses, all replays)`);
console.log(`allocated per span: ${a.clean ? (a.bytes / a.spans).toFixed(0) : '? (a GC ran)'} B (${a.spans} spans, ${a.records} records)`);
console.log(JSON.stringify({ root: ROOT, usPerReq: +median(rows.map((x) => x.usPerReq)).toFixed(3), usPerReqMin: +Math.min(...rows.map((x) => x.usPerReq)).toFixed(3), gcPct: +gcPct.toFixed(1), bytesPerSpan: a.clean ? Math.round(a.bytes / a.spans) : null }));

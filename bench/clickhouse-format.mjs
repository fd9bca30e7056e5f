// clickhouse exporter: JSONEachRow vs RowBinary, side by side in one run, on the same rows.
//   (a) encode: the exporter's encoding on the caller's path (CPU µs per row, one JS thread, GC included)
//   (b) server: INSERT of the same rows into the exporter's own tables (its DDL, the trace-id MV included)
//       in ClickHouse 26.x (npm chdb, in this process): wall ms and process CPU ms per 10k rows, plain and
//       gzip bodies (what `compress: gzip` makes the server decompress); the payload is read with
//       INSERT … FROM INFILE (both formats the same way; chdb takes SQL text, so no HTTP layer here)
//   (c) bytes per row on the wire, without and with gzip (zlib level 6, @clickhouse/client's default);
//       RowBinary requests also carry the names-and-types header once (~1 KiB for otel_traces)
// `rowbinary` is what the exporter sends (RowBinaryWithNamesAndTypes); `rowbinary-plain` the same rows as
// RowBinary without the header, to show what the server's type check costs.
// Usage: npm run bench -- clickhouse-format   (BENCH_SECONDS=2 per encode case, BENCH_ROUNDS=9 server rounds)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Session } from 'chdb';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
const { traceRows, logRows, metricRows } = await import(dist('src/exporters/clickhouse/rows.js'));
const { RowBinaryEncoder, rowBinaryHeader } = await import(dist('src/exporters/clickhouse/rowbinary.js'));
const { ddlFor, insertColumns, insertFor } = await import(dist('src/exporters/clickhouse/schema.js'));
const { createDefaultClickhouseConfig } = await import(dist('src/exporters/clickhouse/config.js'));
const { makeSpans, makeMetrics, makeLogs, testResource } = await import(dist('test/helpers/data.js'));
const { gaugeMetric, resourceMetrics } = await import(dist('src/pdata/metrics.js'));
const { nowHrTime } = await import(dist('src/pdata/time.js'));
const { SpanRecord, SpanKind, SpanStatusCode } = await import(dist('src/pdata/traces.js'));

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const NL = Buffer.from('\n');

// ---- data ----
// lean: makeSpans (3 span attributes, 2 resource attributes), as bench/exporters.mjs.
const lean = makeSpans(1000);
// l7: what the L7 probes emit: 10 span attributes, 6 resource attributes, one event on errors; random ids
// and spread timestamps (for realistic gzip sizes).
let seed = 42;
const rndHex = (n) => Array.from({ length: n }, () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return (seed >>> 16 & 15).toString(16);
}).join('');
const l7res = testResource({ 'k8s.namespace.name': 'prod', 'k8s.pod.name': 'checkout-7d9f8b6c5-x2x4q', 'k8s.container.name': 'app', 'host.name': 'node-1' });
const t0 = nowHrTime();
const l7 = Array.from({ length: 1000 }, (_, i) => new SpanRecord({
  name: i % 3 ? 'GET /api/items/{id}' : 'SELECT orders', kind: i % 2 ? SpanKind.CLIENT : SpanKind.SERVER,
  traceId: rndHex(32), spanId: rndHex(16), parentSpanId: rndHex(16),
  startTime: [t0[0], (t0[1] + i * 37_003) % 1e9], endTime: [t0[0] + 1, (t0[1] + i * 37_003 + 1_234_567 * (i % 7)) % 1e9],
  status: i % 10 === 9 ? { code: SpanStatusCode.ERROR, message: 'HTTP 500' } : { code: SpanStatusCode.UNSET },
  attributes: {
    'http.request.method': 'GET', 'url.path': `/api/items/${i}`, 'http.response.status_code': i % 10 === 9 ? 500 : 200,
    'server.address': '10.0.3.17', 'server.port': 8080, 'client.address': '10.0.7.21', 'network.protocol.version': '1.1',
    'network.transport': 'tcp', 'sonde.l7.protocol': 'http', 'container.id': '4f1e2d3c4b5a69788796a5b4c3d2e1f04f1e2d3c4b5a69788796a5b4c3d2e1f0',
  },
  events: i % 10 === 9 ? [{ name: 'exception', time: t0, attributes: { 'exception.type': 'HTTPError', 'exception.message': 'Internal Server Error' } }] : undefined,
  resource: l7res, instrumentationScope: { name: 'sonde.l7', version: '0.1.0' },
}));
// metrics: 50 resources × (20 gauge series + makeMetrics' 2 sums, 1 gauge, 1 histogram) = 1200 points.
const md = [];
for (let r = 0; r < 50; r++) {
  const res = testResource({ 'service.name': `svc-${r}`, 'k8s.namespace.name': 'prod', 'k8s.pod.name': `pod-${r}`, 'k8s.container.name': 'app' });
  md.push(...makeMetrics(res));
  md.push(resourceMetrics(res, { name: 'bench' }, [gaugeMetric('container_memory_rss', 'RSS', 'By', Array.from({ length: 20 }, (_, i) => ({ startTime: t0, endTime: t0, attributes: { slot: String(i) }, value: i })))]));
}
const logs = makeLogs(1000, l7res);

// ---- encoders (what the exporter runs per consume call) ----
const rb = new RowBinaryEncoder();
const json = (lines) => Buffer.concat([Buffer.from(lines.join('\n')), NL]);
const cases = [
  { name: 'traces lean (3 attrs)', rows: lean.length, table: 'traces', enc: { jsoneachrow: () => [['traces', json(traceRows(lean))]], rowbinary: () => [['traces', rb.traces(lean)]] } },
  { name: 'traces l7 (10 attrs)', rows: l7.length, table: 'traces', enc: { jsoneachrow: () => [['traces', json(traceRows(l7))]], rowbinary: () => [['traces', rb.traces(l7)]] } },
  { name: 'metrics (4 tables)', rows: 1200, table: 'metrics', enc: {
    jsoneachrow: () => [...metricRows(md)].map(([k, v]) => [k, json(v.lines)]),
    rowbinary: () => [...rb.metrics(md)].map(([k, v]) => [k, v.data]),
  } },
  { name: 'logs', rows: logs.length, table: 'logs', enc: { jsoneachrow: () => [['logs', json(logRows(logs))]], rowbinary: () => [['logs', rb.logs(logs)]] } },
];
const FORMATS = ['jsoneachrow', 'rowbinary'];

function encodeCpu(fn, rows) {
  for (let i = 0; i < 50; i++) fn(); // warm up
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  const end = Date.now() + SECONDS * 1000;
  let n = 0;
  while (Date.now() < end) {
    fn();
    n++;
  }
  const c = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - w0) / 1e3;
  return { cpuUs: (c.user + c.system) / (n * rows), wallUs: wall / (n * rows) };
}

console.log(`# clickhouse insert formats (Node ${process.version}, ${SECONDS}s per encode case, ${ROUNDS} server rounds, loadavg ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
console.log('\n## (a) encode on the caller\'s path, (c) bytes per row\n');
console.log(`${'case'.padEnd(24)} ${'format'.padEnd(12)} ${'CPU µs/row'.padStart(11)} ${'wall µs/row'.padStart(12)} ${'B/row'.padStart(7)} ${'gzip B/row'.padStart(11)}`);
const payloads = new Map();
for (const c of cases) {
  for (const f of FORMATS) {
    const r = encodeCpu(c.enc[f], c.rows);
    const parts = c.enc[f]();
    const bytes = parts.reduce((a, [, b]) => a + b.length, 0);
    const gz = parts.reduce((a, [, b]) => a + gzipSync(b).length, 0);
    payloads.set(`${c.name}/${f}`, parts);
    console.log(`${c.name.padEnd(24)} ${f.padEnd(12)} ${r.cpuUs.toFixed(2).padStart(11)} ${r.wallUs.toFixed(2).padStart(12)} ${(bytes / c.rows).toFixed(0).padStart(7)} ${(gz / c.rows).toFixed(0).padStart(11)}`);
  }
}

// ---- server side ----
const dir = mkdtempSync(join(tmpdir(), 'sonde-bench-chfmt-'));
const session = new Session(join(dir, 'chdb'));
const cfg = { ...createDefaultClickhouseConfig(), database: 'bench_fmt' };
for (const signal of ['traces', 'metrics', 'logs']) for (const sql of ddlFor(signal, cfg)) await session.queryAsync(sql);
// Background merges would add CPU to whichever insert runs next; they cost the same for both formats.
await session.queryAsync('SYSTEM STOP MERGES');
// The same tables with the Null engine: parsing (and type conversion) only, nothing stored, no MV.
const nullCfg = { ...cfg, database: 'bench_null' };
await session.queryAsync('CREATE DATABASE bench_null');
for (const t of ['otel_traces', 'otel_logs', 'otel_metrics_gauge', 'otel_metrics_sum', 'otel_metrics_histogram', 'otel_metrics_exponential_histogram']) {
  await session.queryAsync(`CREATE TABLE bench_null.${t} AS bench_fmt.${t} ENGINE = Null`);
}

const REPEAT = 10; // 10 consume calls' payloads merged into one INSERT (the queue merges up to 20k rows)
// Server-side variants: JSONEachRow; RowBinary rows behind the RowBinaryWithNamesAndTypes header (what
// the exporter sends: one header per request); plain RowBinary (the same rows, no header, no type check).
const SERVER_FORMATS = ['jsoneachrow', 'rowbinary', 'rowbinary-plain'];
async function insertOnce(parts, variant, gzip, target) {
  let wall = 0;
  let cpu = 0;
  const format = variant === 'jsoneachrow' ? 'jsoneachrow' : 'rowbinary';
  for (const [kind, data] of parts) {
    let sql = insertFor(kind, target, format);
    const chunks = Array.from({ length: REPEAT }, () => data);
    if (variant === 'rowbinary') chunks.unshift(rowBinaryHeader(kind, insertColumns(sql)));
    if (variant === 'rowbinary-plain') sql = sql.replace(/RowBinaryWithNamesAndTypes$/, 'RowBinary');
    const body = Buffer.concat(chunks);
    const file = join(dir, `in-${kind}.${gzip ? 'gz' : 'bin'}`);
    writeFileSync(file, gzip ? gzipSync(body) : body);
    sql = sql.replace(/ FORMAT (\w+)$/, ` FROM INFILE '${file}'${gzip ? " COMPRESSION 'gzip'" : ''} FORMAT $1`);
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await session.queryAsync(sql);
    wall += Number(process.hrtime.bigint() - w0) / 1e6;
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1e3;
  }
  return { wall, cpu };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const version = (await session.queryAsync('SELECT version()', { format: 'TabSeparated' })).text().trim();
for (const [label, target] of [['MergeTree tables (the exporter\'s DDL, trace-id MV included; merges stopped)', cfg], ['Null-engine copies (parse only)', nullCfg]]) {
  console.log(`\n## (b) ClickHouse ${version} (chdb, in-process): INSERT into ${label}, ${REPEAT}× one consume call's rows per statement, median of ${ROUNDS} rounds, per 10k rows\n`);
  console.log(`${'case'.padEnd(24)} ${'format'.padEnd(15)} ${'body'.padEnd(5)} ${'wall ms'.padStart(8)} ${'CPU ms'.padStart(8)}`);
  for (const c of cases) {
    for (const gzip of [false, true]) {
      const res = Object.fromEntries(SERVER_FORMATS.map((f) => [f, { wall: [], cpu: [] }]));
      const payload = (f) => payloads.get(`${c.name}/${f === 'jsoneachrow' ? f : 'rowbinary'}`);
      for (const f of SERVER_FORMATS) await insertOnce(payload(f), f, gzip, target); // warm up
      for (let r = 0; r < ROUNDS; r++) {
        for (const f of r % 2 ? SERVER_FORMATS : [...SERVER_FORMATS].reverse()) { // alternate the order
          const x = await insertOnce(payload(f), f, gzip, target);
          res[f].wall.push(x.wall);
          res[f].cpu.push(x.cpu);
        }
      }
      const per10k = 10_000 / (REPEAT * c.rows);
      for (const f of SERVER_FORMATS) {
        console.log(`${c.name.padEnd(24)} ${f.padEnd(15)} ${(gzip ? 'gzip' : 'plain').padEnd(5)} ${(median(res[f].wall) * per10k).toFixed(1).padStart(8)} ${(median(res[f].cpu) * per10k).toFixed(1).padStart(8)}`);
      }
    }
  }
}
// Both formats inserted the same rows: check the tables agree (the bench is also a consistency check).
const cnt = (await session.queryAsync('SELECT count() FROM bench_fmt.otel_traces', { format: 'TabSeparated' })).text().trim();
const distinctRows = (await session.queryAsync("SELECT count() FROM (SELECT DISTINCT * EXCEPT (TimestampTime) FROM bench_fmt.otel_logs)", { format: 'TabSeparated' })).text().trim();
console.log(`\n(otel_traces holds ${cnt} rows; otel_logs distinct rows over both formats: ${distinctRows}, = ${logs.length} when both formats wrote identical rows)`);
session.close();
rmSync(dir, { recursive: true, force: true });

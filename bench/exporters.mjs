// Exporter throughput on this machine: spans/s through `otlp` (gRPC) and `otlphttp`, samples/s through
// `prometheusremotewrite`, rows/s through `clickhouse` (RowBinary and JSONEachRow encode + HTTP; bench/clickhouse-format.mjs compares the formats in detail), each exporter in this
// process (one JS thread) sending to a discard sink in a child process. Usage: npm run bench
//   BENCH_SECONDS=5 (per case)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
const { otlpExporterFactory } = await import(dist('src/exporters/otlp/factory.js'));
const { otlpHttpExporterFactory } = await import(dist('src/exporters/otlphttp/factory.js'));
const { prometheusRemoteWriteExporterFactory } = await import(dist('src/exporters/prometheusremotewrite/factory.js'));
const { clickhouseExporterFactory } = await import(dist('src/exporters/clickhouse/factory.js'));
const { makeSpans, makeMetrics, testResource } = await import(dist('test/helpers/data.js'));
const { testSettings, TestHost } = await import(dist('test/helpers/settings.js'));
const { gaugeMetric, resourceMetrics } = await import(dist('src/pdata/metrics.js'));
const { nowHrTime } = await import(dist('src/pdata/time.js'));

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const sink = spawn(process.execPath, [join(root, 'bench/sink.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
const [line] = await once(sink.stdout, 'data');
const [grpcPort, httpPort] = String(line).trim().split(' ').map(Number);

function create(factory, signal, overrides) {
  const issues = [];
  const cfg = factory.configSchema.parse(overrides, [factory.type], issues, factory.createDefaultConfig());
  if (issues.length) throw new Error(JSON.stringify(issues));
  const set = testSettings(`${factory.type}/bench`, 'exporter');
  const fn = signal === 'traces' ? factory.createTraces : signal === 'metrics' ? factory.createMetrics : factory.createLogs;
  return { e: fn.call(factory, set, cfg), tel: set.telemetry };
}

/** Feeds `batch` for SECONDS (block_on_overflow keeps the queue full without drops), then drains. */
async function run(name, factory, signal, overrides, batch, itemsPerBatch, unit, counter) {
  const { e, tel } = create(factory, signal, { ...overrides, sending_queue: { ...(overrides.sending_queue ?? {}), block_on_overflow: true } });
  await e.start(new TestHost());
  const consume = signal === 'traces' ? (d) => e.consumeTraces(d) : signal === 'metrics' ? (d) => e.consumeMetrics(d) : (d) => e.consumeLogs(d);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const end = Date.now() + SECONDS * 1000;
  let batches = 0;
  while (Date.now() < end) {
    await consume(batch);
    batches++;
  }
  await e.shutdown(AbortSignal.timeout(60_000));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const dropped = tel.counterValue('sonde_exporter_dropped_items_total');
  const sent = counter ? tel.counterValue(counter) : batches * itemsPerBatch;
  const rate = sent / secs;
  const cpuPct = ((cpu.user + cpu.system) / 1e6 / secs) * 100;
  console.log(`${name.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} ${unit}/s   process CPU ${cpuPct.toFixed(0)}%   dropped ${dropped}`);
  return rate;
}

console.log(`# exporter throughput (${SECONDS}s per case, Node ${process.version}, sink in a child process)`);
const spans = makeSpans(1000);
await run('otlp gRPC, traces, compression none', otlpExporterFactory, 'traces', { endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: true }, compression: 'none' }, spans, 1000, 'spans', 'sonde_exporter_sent_spans_total');
await run('otlp gRPC, traces, gzip', otlpExporterFactory, 'traces', { endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: true }, compression: 'gzip' }, spans, 1000, 'spans', 'sonde_exporter_sent_spans_total');
await run('otlphttp, traces, gzip', otlpHttpExporterFactory, 'traces', { endpoint: `http://127.0.0.1:${httpPort}` }, spans, 1000, 'spans', 'sonde_exporter_sent_spans_total');

// Remote-write: 50 resources × (20 gauge series + makeMetrics' 2 counters, 1 gauge, 1 histogram = 6 buckets/sum/count)
const t = nowHrTime();
const rw = [];
for (let r = 0; r < 50; r++) {
  const res = testResource({ 'service.name': `svc-${r}`, 'k8s.namespace.name': 'prod', 'k8s.pod.name': `pod-${r}`, 'k8s.container.name': 'app' });
  rw.push(...makeMetrics(res));
  rw.push(resourceMetrics(res, { name: 'bench' }, [gaugeMetric('container_memory_rss', 'RSS', 'By', Array.from({ length: 20 }, (_, i) => ({ startTime: t, endTime: t, attributes: { slot: String(i) }, value: i })))]));
}
for (const v of ['1.0', '2.0']) {
  await run(`prometheusremotewrite RW ${v}, 5 shards`, prometheusRemoteWriteExporterFactory, 'metrics', { endpoint: `http://127.0.0.1:${httpPort}/api/v1/write`, remote_write_version: v }, rw, 0, 'samples', 'sonde_exporter_prometheusremotewrite_samples_sent_total');
}
for (const [label, format] of [['RowBinary', 'rowbinary'], ['JSONEachRow', 'jsoneachrow']]) {
  await run(`clickhouse ${label}, traces, gzip`, clickhouseExporterFactory, 'traces', { endpoint: `http://127.0.0.1:${httpPort}`, create_schema: false, format }, spans, 1000, 'rows', 'sonde_exporter_sent_spans_total');
  await run(`clickhouse ${label}, traces, no compression`, clickhouseExporterFactory, 'traces', { endpoint: `http://127.0.0.1:${httpPort}`, create_schema: false, compress: 'none', format }, spans, 1000, 'rows', 'sonde_exporter_sent_spans_total');
}
sink.kill();

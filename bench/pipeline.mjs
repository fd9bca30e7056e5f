// Pipeline core throughput on one core: spans/s through the real Service graph (receiver fan-out →
// batch → debug exporter), and metric points/s ingested + scraped by the prometheus exporter.
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const { parseYamlConfig } = await import(`${root}dist/src/config/load.js`);
const { resolveConfig } = await import(`${root}dist/src/config/resolve.js`);
const { Service } = await import(`${root}dist/src/service/service.js`);
const { nopLogger } = await import(`${root}dist/src/service/logger.js`);
const { componentsWithTestReceiver } = await import(`${root}dist/test/helpers/components.js`);
const { testReceivers } = await import(`${root}dist/test/helpers/test-receiver.js`);
const { makeSpans, makeMetrics, testResource } = await import(`${root}dist/test/helpers/data.js`);

const yaml = `
receivers: { testgen: {} }
processors: { batch: { send_batch_size: 8192, timeout: 200ms } }
exporters:
  debug: { verbosity: basic, summary_interval: 1h, output: stderr }
  prometheus: { endpoint: 127.0.0.1:0 }
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    traces: { receivers: [testgen], processors: [batch], exporters: [debug] }
    metrics: { receivers: [testgen], exporters: [prometheus] }
`;
const { config } = resolveConfig(parseYamlConfig(yaml, 'bench.yaml'), componentsWithTestReceiver());
const svc = new Service(config, { logger: nopLogger() });
await svc.start();
const r = testReceivers.get('testgen');

// Spans: batches of 512 pre-built spans pushed as fast as the graph accepts them.
const batch = makeSpans(512);
const N = 400;
for (let i = 0; i < 20; i++) await r.traces.consumeTraces(batch.slice()); // warm-up
let t = performance.now();
for (let i = 0; i < N; i++) await r.traces.consumeTraces(batch.slice());
let dt = (performance.now() - t) / 1000;
console.log(`traces: ${(N * 512 / dt / 1e6).toFixed(2)}M spans/s through receiver → batch → debug (${(dt * 1e9 / (N * 512)).toFixed(0)} ns/span)`);

// Metrics: 200 containers × 4 points, ingested, then one scrape rendering all series.
const resources = Array.from({ length: 200 }, (_, i) => testResource({ 'container.id': `c${i}`, 'sonde.cgroup.path': `/kubepods/pod${i}/c${i}` }));
const md = resources.flatMap((res) => makeMetrics(res));
for (let i = 0; i < 5; i++) await r.metrics.consumeMetrics(md);
const M = 50;
t = performance.now();
for (let i = 0; i < M; i++) await r.metrics.consumeMetrics(md);
dt = (performance.now() - t) / 1000;
console.log(`metrics: ${(M * md.length * 4 / dt / 1e3).toFixed(0)}k points/s into the prometheus exporter (800 series)`);
const url = `http://${svc.componentAddress('exporter prometheus (metrics)')}/metrics`;
t = performance.now();
const S = 50;
let bytes = 0;
for (let i = 0; i < S; i++) bytes = (await (await fetch(url)).text()).length;
dt = (performance.now() - t) / S;
console.log(`scrape: ${dt.toFixed(2)} ms per scrape of ${(bytes / 1024).toFixed(0)} KiB`);
await svc.shutdown();

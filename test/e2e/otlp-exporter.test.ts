// The otlp (gRPC) and otlphttp exporters against a real OpenTelemetry Collector (built from upstream Go
// modules, test/peers/otelcol): data sent through the real Service (testgen → batch → exporter) must
// arrive field by field; a 30 s outage must lose nothing, with the persistent queue also across an agent
// restart; a full queue must count its drops and keep memory bounded.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Traces } from '../../src/consumer/consumer.js';
import { hrTimeToNsString, nowHrTime } from '../../src/pdata/time.js';
import { SpanKind, SpanRecord, SpanStatusCode } from '../../src/pdata/traces.js';
import { makeLogs, makeMetrics, makeSpans, testResource } from '../helpers/data.js';
import { startService } from '../helpers/service.js';
import type { RunningService } from '../helpers/service.js';
import { startOtelcol } from '../peers/index.js';

setFlagsFromString('--expose-gc');
/** A full collection, so heap figures are what is retained, not what the GC has not reached yet. */
const gc = runInNewContext('gc') as () => void;
import type { OtelcolPeer } from '../peers/index.js';

const OUTAGE_MS = Number(process.env.SONDE_OUTAGE_MS ?? 30_000);
const tmp = mkdtempSync(join(tmpdir(), 'sonde-otlp-e2e-'));
let col: OtelcolPeer;

before(async () => {
  col = await startOtelcol();
});
after(async () => {
  await col?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const RETRY = 'retry_on_failure: { initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0 }';

function yaml(exporter: string, signals: string[] = ['traces', 'metrics', 'logs']): string {
  return `
receivers:
  testgen:
processors:
  batch:
    timeout: 50ms
exporters:
${exporter}
service:
  shutdown_timeout: 5s
  pipelines:
${signals.map((s) => `    ${s}: { receivers: [testgen], processors: [batch], exporters: [${exporter.trim().split(':')[0]}] }`).join('\n')}
`;
}

const grpcExporter = (extra = '') => `  otlp:\n    endpoint: 127.0.0.1:${col.grpcPort}\n    tls: { insecure: true }\n    ${RETRY}\n${extra}`;

function richSpans(): Traces {
  const res = resourceFromAttributes({ 'service.name': 'checkout', 'k8s.pod.name': 'checkout-7d9f', 'host.name': 'node-1' });
  const t = nowHrTime();
  const end: [number, number] = [t[0] + 1, t[1]];
  return [
    new SpanRecord({
      name: 'GET /api/items', kind: SpanKind.SERVER,
      traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331',
      startTime: t, endTime: end,
      status: { code: SpanStatusCode.ERROR, message: 'upstream timeout' },
      attributes: { 'http.request.method': 'GET', 'http.response.status_code': 504, 'net.peer.ok': true, ratio: 0.25 },
      events: [{ name: 'retry', time: t, attributes: { attempt: 2 } }],
      links: [{ context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1 }, attributes: { 'link.kind': 'follows' } }],
      resource: res, instrumentationScope: { name: 'sonde.ebpf.l7', version: '0.1.0' },
    }),
    new SpanRecord({
      name: 'SELECT items', kind: SpanKind.CLIENT,
      traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'c8be7c827a314442', parentSpanId: 'b7ad6b7169203331',
      startTime: t, endTime: [t[0], t[1] + 2_000_000 > 999_999_999 ? t[1] : t[1] + 2_000_000],
      attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM items' },
      resource: res, instrumentationScope: { name: 'sonde.ebpf.l7', version: '0.1.0' },
    }),
  ];
}

async function pushSpans(svc: RunningService, n: number, tag: string): Promise<string[]> {
  const spans = makeSpans(n, testResource({ 'batch.tag': tag }));
  await svc.receiver().traces!.consumeTraces(spans);
  return spans.map((s) => s.spanContext().spanId);
}

describe('otlp exporter → real Collector', () => {
  test('traces, metrics (two resources, one request) and logs arrive field by field through the Service', async () => {
    const before = { traces: col.traces().length, metrics: col.metrics().length, logs: col.logs().length };
    const svc = await startService(yaml(grpcExporter()));
    try {
      const spans = richSpans();
      await svc.receiver().traces!.consumeTraces(spans);
      const resB = testResource({ 'service.name': 'cart', 'container.id': 'def456' });
      await svc.receiver().metrics!.consumeMetrics([...makeMetrics(), ...makeMetrics(resB, 10)]);
      await svc.receiver().logs!.consumeLogs(makeLogs(3));

      const got = await col.waitFor('2 spans', (c) => { const s = c.spans().filter((x) => x.span.traceId === '0af7651916cd43dd8448eb211c80319c'); return s.length === 2 && s; });
      const server = got.find((s) => s.span.spanId === 'b7ad6b7169203331')!;
      const client = got.find((s) => s.span.spanId === 'c8be7c827a314442')!;
      assert.equal(server.span.name, 'GET /api/items');
      assert.equal(server.span.kind, 2); // SPAN_KIND_SERVER
      assert.equal(client.span.kind, 3);
      assert.equal(client.span.parentSpanId, 'b7ad6b7169203331');
      assert.ok(!server.span.parentSpanId);
      assert.equal(server.span.startTimeUnixNano, hrTimeToNsString(spans[0].startTime));
      assert.equal(server.span.endTimeUnixNano, hrTimeToNsString(spans[0].endTime));
      assert.equal(client.span.endTimeUnixNano, hrTimeToNsString(spans[1].endTime));
      assert.deepEqual(server.attributes, { 'http.request.method': 'GET', 'http.response.status_code': '504', 'net.peer.ok': true, ratio: 0.25 });
      assert.deepEqual(server.resource, { 'service.name': 'checkout', 'k8s.pod.name': 'checkout-7d9f', 'host.name': 'node-1' });
      assert.equal(server.scope.name, 'sonde.ebpf.l7');
      assert.equal(server.scope.version, '0.1.0');
      assert.deepEqual(server.span.status, { code: 2, message: 'upstream timeout' });
      assert.equal(server.span.events?.[0].name, 'retry');
      assert.equal(server.span.events?.[0].timeUnixNano, hrTimeToNsString(spans[0].startTime));
      assert.equal(server.span.links?.[0].traceId, '11111111111111111111111111111111');
      assert.equal(server.span.links?.[0].spanId, '2222222222222222');

      const metricLines = await col.waitFor('metrics', (c) => { const m = c.metrics().slice(before.metrics); return m.length > 0 && m; });
      assert.equal(metricLines.length, 1, 'one export request for the whole batch');
      const rms = metricLines[0].resourceMetrics;
      assert.deepEqual(rms.map((rm) => rm.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue), ['checkout', 'cart']);
      const cart = rms[1].scopeMetrics![0].metrics!;
      const sum = cart.find((m) => m.name === 'container_net_tcp_successful_connects_total')!;
      assert.equal(sum.sum?.isMonotonic, true);
      assert.equal(sum.sum?.aggregationTemporality, 2);
      assert.deepEqual(sum.sum?.dataPoints?.map((p) => p.asDouble), [30, 50]);
      const hist = cart.find((m) => m.name === 'http.server.request.duration')!;
      assert.equal(hist.unit, 's');
      const hp = hist.histogram!.dataPoints![0];
      assert.deepEqual([hp.count, hp.sum, hp.bucketCounts, hp.explicitBounds, hp.min, hp.max], ['4', 0.1, ['1', '2', '0', '1'], [0.005, 0.01, 0.025], 0.001, 0.05]);

      const logs = await col.waitFor('3 logs', (c) => { const l = c.logRecords().slice(-3); return l.length === 3 && l.every((x) => x.record.body?.stringValue?.startsWith('log line')) && l; });
      assert.deepEqual(logs.map((l) => l.record.body?.stringValue), ['log line 0', 'log line 1', 'log line 2']);
      assert.equal(logs[0].record.severityNumber, 9);
      assert.equal(logs[0].record.severityText, 'INFO');
      assert.deepEqual(logs[1].attributes, { 'event.name': 'process.exit', 'process.pid': '1001' });
      assert.equal(logs[0].resource['service.name'], 'checkout');
    } finally {
      await svc.stop();
    }
    assert.ok(before.traces >= 0);
  });

  test('otlphttp: traces and metrics arrive over OTLP/HTTP (protobuf, gzip)', async () => {
    const svc = await startService(yaml(`  otlphttp:\n    endpoint: ${col.httpUrl}\n    ${RETRY}\n`, ['traces', 'metrics']));
    try {
      const ids = await pushSpans(svc, 20, 'http');
      await svc.receiver().metrics!.consumeMetrics(makeMetrics(testResource({ 'service.name': 'via-http' })));
      const got = await col.waitFor('20 spans', (c) => { const s = c.spans().filter((x) => x.resource['batch.tag'] === 'http'); return s.length === 20 && s; });
      assert.deepEqual(got.map((s) => s.span.spanId).sort(), ids.sort());
      assert.equal(got[0].span.name, 'GET /api/items');
      assert.equal(got[0].attributes['http.request.method'], 'GET');
      const m = await col.waitFor('http metrics', (c) => { const x = c.metricList().filter((f) => f.resource['service.name'] === 'via-http'); return x.length === 3 && x; });
      assert.deepEqual(m.map((x) => x.metric.name).sort(), ['container_net_tcp_active_connections', 'container_net_tcp_successful_connects_total', 'http.server.request.duration']);
      assert.equal(svc.counter('sonde_exporter_sent_spans_total'), 20);
    } finally {
      await svc.stop();
    }
  });

  test(`outage: the Collector stopped for ${OUTAGE_MS / 1000}s while spans keep flowing; every span arrives, exactly once`, { timeout: OUTAGE_MS + 60_000 }, async () => {
    const svc = await startService(yaml(grpcExporter(), ['traces']));
    const sent: string[] = [];
    try {
      sent.push(...await pushSpans(svc, 50, 'outage'));
      await col.waitFor('pre-outage spans', (c) => c.spans().filter((x) => x.resource['batch.tag'] === 'outage').length === 50);
      await col.halt();
      const end = Date.now() + OUTAGE_MS;
      while (Date.now() < end) {
        sent.push(...await pushSpans(svc, 100, 'outage'));
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(svc.counter('sonde_exporter_retries_total') > 0, 'sends failed while the backend was down');
      await col.restart();
      const got = await col.waitFor(`${sent.length} spans`, (c) => { const s = c.spans().filter((x) => x.resource['batch.tag'] === 'outage'); return s.length >= sent.length && s; }, 60_000);
      await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up now
      const all = col.spans().filter((x) => x.resource['batch.tag'] === 'outage').map((x) => x.span.spanId);
      assert.equal(all.length, sent.length, 'exact count, no duplicates');
      assert.deepEqual(new Set(got.map((s) => s.span.spanId)), new Set(sent));
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), 0);
    } finally {
      if (!col.running) await col.restart();
      await svc.stop();
    }
  });

  test(`outage with a persistent queue and an agent restart in the middle: nothing is lost`, { timeout: OUTAGE_MS + 60_000 }, async () => {
    const storage = join(tmp, 'queue');
    const cfg = yaml(grpcExporter(`    sending_queue: { storage: ${storage} }\n`), ['traces']);
    const sent: string[] = [];
    await col.halt();
    try {
      const a = await startService(cfg);
      const half = Date.now() + OUTAGE_MS / 2;
      while (Date.now() < half) {
        sent.push(...await pushSpans(a, 100, 'restart'));
        await new Promise((r) => setTimeout(r, 1000));
      }
      await a.stop(); // the agent goes away while the backend is still down
      assert.equal(a.counter('sonde_exporter_dropped_items_total'), 0, 'nothing dropped at shutdown: it is on disk');
      const b = await startService(cfg); // a new agent on the same storage
      try {
        const end = Date.now() + OUTAGE_MS / 2;
        while (Date.now() < end) {
          sent.push(...await pushSpans(b, 100, 'restart'));
          await new Promise((r) => setTimeout(r, 1000));
        }
        await col.restart();
        await col.waitFor(`${sent.length} spans`, (c) => c.spans().filter((x) => x.resource['batch.tag'] === 'restart').length >= sent.length, 60_000);
        await new Promise((r) => setTimeout(r, 500));
        const got = col.spans().filter((x) => x.resource['batch.tag'] === 'restart').map((x) => x.span.spanId);
        assert.equal(got.length, sent.length, 'exact count across the restart, no duplicates');
        assert.deepEqual(new Set(got), new Set(sent));
      } finally {
        await b.stop();
      }
    } finally {
      if (!col.running) await col.restart();
    }
  });

  test('queue full while the backend is down: drops are counted and memory stays bounded', { timeout: 120_000 }, async () => {
    const svc = await startService(yaml(grpcExporter(`    sending_queue: { queue_size: 5000, queue_bytes: 2MiB, num_consumers: 2 }\n`), ['traces']));
    await col.halt();
    try {
      gc();
      const heap0 = process.memoryUsage().heapUsed;
      let pushed = 0;
      let peakItems = 0;
      let peakBytes = 0;
      const gauge = (name: string) => Number(new RegExp(`^${name}\\{exporter="otlp",otel_signal="traces"\\} (\\d+)`, 'm').exec(svc.telemetry.render())?.[1] ?? 0);
      for (let i = 0; i < 200; i++) {
        await svc.receiver().traces!.consumeTraces(makeSpans(2000, testResource({ 'batch.tag': 'flood' })));
        pushed += 2000;
        if (i % 20 === 0) {
          peakItems = Math.max(peakItems, gauge('sonde_exporter_queue_size'));
          peakBytes = Math.max(peakBytes, gauge('sonde_exporter_queue_bytes'));
        }
      }
      await new Promise((r) => setTimeout(r, 200)); // let the batch processor hand over the last batch
      gc();
      const heapGrowth = process.memoryUsage().heapUsed - heap0;
      console.log(`# heap retained after ${pushed} spans against a full queue: ${(heapGrowth / 1048576).toFixed(1)} MiB`);
      const full = svc.counter('sonde_exporter_dropped_items_total', { reason: 'queue_full' });
      assert.ok(full >= pushed - 5000 - 2 * 8192, `queue_full drops ${full} of ${pushed}`);
      assert.ok(peakItems <= 5000 + 8192, `queue held ${peakItems} items`);
      assert.ok(peakBytes <= 2 * 1024 * 1024 + 4 * 1024 * 1024, `queue held ${peakBytes} bytes`);
      // 400k spans (~100 MB encoded) went in; the heap must not have kept them (the queue holds ≤ 2 MiB
      // encoded plus the batches in flight).
      assert.ok(heapGrowth < 16 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MiB`);
      await svc.stop();
      const dropped = svc.counter('sonde_exporter_dropped_items_total');
      const refusedByBatch = svc.counter('sonde_processor_batch_send_failed_items_total');
      assert.equal(dropped, pushed, 'every span is accounted for as dropped (queue_full while running, shutdown at the end)');
      assert.equal(refusedByBatch, full);
    } finally {
      await svc.stop(); // idempotent; a failed assertion above must not leave the service running
      await col.restart();
    }
  });
});

// The clickhouse exporter against a real ClickHouse engine (chdb 26.x behind the HTTP shim of
// test/peers): the exporter's own DDL and INSERTs run, rows are read back with SELECTs (Map attributes,
// DateTime64(9) timestamps, Duration in ns, SPAN_KIND_*/STATUS_CODE_* strings, the trace-id MV), a 30 s
// outage loses nothing (also with the persistent queue across an agent restart), a full queue counts drops.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SpanKind, SpanRecord, SpanStatusCode } from '../../src/pdata/traces.js';
import { makeLogs, makeMetrics, makeSpans, testResource } from '../helpers/data.js';
import { startService } from '../helpers/service.js';
import type { RunningService } from '../helpers/service.js';
import { startClickhouse } from '../peers/index.js';
import type { ClickhousePeer } from '../peers/index.js';

const OUTAGE_MS = Number(process.env.SONDE_OUTAGE_MS ?? 30_000);
const tmp = mkdtempSync(join(tmpdir(), 'sonde-ch-e2e-'));
let ch: ClickhousePeer;

before(async () => {
  ch = await startClickhouse();
});
after(async () => {
  await ch?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function yaml(db: string, extra = '', signals = ['traces', 'metrics', 'logs']): string {
  return `
receivers:
  testgen:
processors:
  batch:
    timeout: 50ms
exporters:
  clickhouse:
    endpoint: ${ch.url}
    database: ${db}
    ttl: 72h
    retry_on_failure: { initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0 }
${extra}
service:
  shutdown_timeout: 5s
  pipelines:
${signals.map((s) => `    ${s}: { receivers: [testgen], processors: [batch], exporters: [clickhouse] }`).join('\n')}
`;
}

async function rows<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const text = await ch.sql(`${sql} FORMAT JSONEachRow`);
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

async function count(sql: string): Promise<number> {
  return Number((await rows<{ c: string | number }>(sql))[0]?.c ?? 0);
}

async function waitCount(sql: string, want: number, timeoutMs = 60_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let n = 0;
  while (Date.now() < end) {
    n = await count(sql).catch(() => 0); // the database appears with the exporter's first request
    if (n >= want) return n;
    await new Promise((r) => setTimeout(r, 250));
  }
  return n;
}

describe('clickhouse exporter → ClickHouse (chdb)', () => {
  test('traces, metrics and logs land in the clickhouseexporter schema, field by field', async () => {
    const svc = await startService(yaml('e2e_fields'));
    const sec = Math.floor(Date.now() / 1000) - 60; // within the table TTL (72h): older rows are dropped on insert
    const res = resourceFromAttributes({ 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1' });
    const span = new SpanRecord({
      name: 'GET /api/items', kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: 'a000000000000001',
      startTime: [sec, 123_456_789], endTime: [sec + 1, 223_456_789],
      status: { code: SpanStatusCode.ERROR, message: 'boom' },
      attributes: { 'http.response.status_code': 500, tags: ['a', 'b'] },
      events: [{ name: 'retry', time: [sec, 500_000_000], attributes: { attempt: 2 } }],
      links: [{ context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1 }, attributes: { kind: 'follows' } }],
      resource: res, instrumentationScope: { name: 'sonde.l7', version: '0.1.0' },
    });
    try {
      await svc.receiver().traces!.consumeTraces([span]);
      await svc.receiver().metrics!.consumeMetrics(makeMetrics(testResource({ 'service.name': 'm-svc' })));
      await svc.receiver().logs!.consumeLogs(makeLogs(2, testResource({ 'service.name': 'l-svc' })));
      await svc.service.shutdown();
    } finally {
      await svc.stop();
    }
    const [t] = await rows('SELECT Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.Attributes, toString(toUnixTimestamp64Nano(Timestamp)) AS ns FROM e2e_fields.otel_traces');
    const utc = (s: number, frac: string) => `${new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${frac}`;
    assert.equal(t.Timestamp, utc(sec, '123456789'));
    assert.equal(String(t.ns), `${sec}123456789`, 'DateTime64(9) keeps the nanoseconds');
    assert.deepEqual([t.TraceId, t.SpanId, t.ParentSpanId, t.SpanName, t.ServiceName], ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 'a000000000000001', 'GET /api/items', 'checkout']);
    assert.equal(t.SpanKind, 'SPAN_KIND_SERVER');
    assert.equal(t.StatusCode, 'STATUS_CODE_ERROR');
    assert.equal(t.StatusMessage, 'boom');
    assert.equal(Number(t.Duration), 1_100_000_000, 'Duration in ns');
    assert.deepEqual(t.ResourceAttributes, { 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1' });
    assert.deepEqual(t.SpanAttributes, { 'http.response.status_code': '500', tags: '["a","b"]' });
    assert.deepEqual([t.ScopeName, t.ScopeVersion], ['sonde.l7', '0.1.0']);
    assert.deepEqual(t['Events.Name'], ['retry']);
    assert.deepEqual(t['Events.Timestamp'], [utc(sec, '500000000')]);
    assert.deepEqual(t['Events.Attributes'], [{ attempt: '2' }]);
    assert.deepEqual([t['Links.TraceId'], t['Links.SpanId'], t['Links.Attributes']], [['11111111111111111111111111111111'], ['2222222222222222'], [{ kind: 'follows' }]]);
    const [idts] = await rows('SELECT TraceId, toString(toUnixTimestamp64Nano(Start)) AS s FROM e2e_fields.otel_traces_trace_id_ts');
    assert.deepEqual([idts.TraceId, String(idts.s)], ['0af7651916cd43dd8448eb211c80319c', `${sec}123456789`], 'the materialized view filled the trace-id lookup table');

    const sums = await rows('SELECT MetricName, Value, Attributes, AggregationTemporality, IsMonotonic, ServiceName, ScopeName FROM e2e_fields.otel_metrics_sum ORDER BY Value');
    assert.deepEqual(sums.map((r) => [r.MetricName, r.Value, r.AggregationTemporality, r.IsMonotonic, r.ServiceName, r.ScopeName]), [
      ['container_net_tcp_successful_connects_total', 3, 2, true, 'm-svc', 'sonde.test'],
      ['container_net_tcp_successful_connects_total', 5, 2, true, 'm-svc', 'sonde.test'],
    ]);
    assert.deepEqual(sums[0].Attributes, { destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' });
    const gauges = await rows('SELECT MetricName, Value FROM e2e_fields.otel_metrics_gauge');
    assert.deepEqual(gauges, [{ MetricName: 'container_net_tcp_active_connections', Value: 2 }]);
    const [h] = await rows('SELECT MetricName, MetricUnit, Count, Sum, BucketCounts, ExplicitBounds, Min, Max FROM e2e_fields.otel_metrics_histogram');
    assert.deepEqual([h.MetricName, h.MetricUnit, Number(h.Count), h.Sum, (h.BucketCounts as unknown[]).map(Number), h.ExplicitBounds, h.Min, h.Max],
      ['http.server.request.duration', 's', 4, 0.1, [1, 2, 0, 1], [0.005, 0.01, 0.025], 0.001, 0.05]);

    const logs = await rows('SELECT Body, SeverityText, SeverityNumber, ServiceName, LogAttributes FROM e2e_fields.otel_logs ORDER BY Body');
    assert.deepEqual(logs, [
      { Body: 'log line 0', SeverityText: 'INFO', SeverityNumber: 9, ServiceName: 'l-svc', LogAttributes: { 'event.name': 'process.exit', 'process.pid': '1000' } },
      { Body: 'log line 1', SeverityText: 'INFO', SeverityNumber: 9, ServiceName: 'l-svc', LogAttributes: { 'event.name': 'process.exit', 'process.pid': '1001' } },
    ]);
    const ddl = await ch.sql('SHOW CREATE TABLE e2e_fields.otel_traces');
    assert.match(ddl, /TTL toDateTime\(Timestamp\) \+ toIntervalDay\(3\)/);
  });

  test(`outage: ClickHouse stopped for ${OUTAGE_MS / 1000}s while spans keep flowing; every span is inserted exactly once`, { timeout: OUTAGE_MS + 90_000 }, async () => {
    const svc = await startService(yaml('e2e_outage', '', ['traces']));
    let sent = 0;
    const push = async (s: RunningService) => {
      await s.receiver().traces!.consumeTraces(makeSpans(100));
      sent += 100;
    };
    try {
      await push(svc);
      assert.equal(await waitCount('SELECT count() AS c FROM e2e_outage.otel_traces', 100), 100);
      await ch.halt();
      const end = Date.now() + OUTAGE_MS;
      while (Date.now() < end) {
        await push(svc);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await ch.restart();
      assert.equal(await waitCount('SELECT count() AS c FROM e2e_outage.otel_traces', sent), sent);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await count('SELECT count() AS c FROM e2e_outage.otel_traces'), sent, 'no duplicates');
      assert.equal(await count('SELECT uniqExact(SpanId) AS c FROM e2e_outage.otel_traces'), sent);
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), 0);
    } finally {
      if (!ch.running) await ch.restart();
      await svc.stop();
    }
  });

  test('outage with a persistent queue and an agent restart in the middle: every span is inserted', { timeout: OUTAGE_MS + 90_000 }, async () => {
    const cfg = yaml('e2e_restart', `    sending_queue: { storage: ${join(tmp, 'chq')} }\n`, ['traces']);
    let sent = 0;
    // The schema must exist before the outage (the agent creates it on first use).
    const warm = await startService(cfg);
    await warm.receiver().traces!.consumeTraces(makeSpans(10));
    sent += 10;
    await warm.stop();
    assert.equal(await waitCount('SELECT count() AS c FROM e2e_restart.otel_traces', 10), 10);
    await ch.halt();
    try {
      const a = await startService(cfg);
      const half = Date.now() + OUTAGE_MS / 2;
      while (Date.now() < half) {
        await a.receiver().traces!.consumeTraces(makeSpans(100));
        sent += 100;
        await new Promise((r) => setTimeout(r, 1000));
      }
      await a.stop();
      assert.equal(a.counter('sonde_exporter_dropped_items_total'), 0);
      const b = await startService(cfg);
      try {
        const end = Date.now() + OUTAGE_MS / 2;
        while (Date.now() < end) {
          await b.receiver().traces!.consumeTraces(makeSpans(100));
          sent += 100;
          await new Promise((r) => setTimeout(r, 1000));
        }
        await ch.restart();
        assert.equal(await waitCount('SELECT count() AS c FROM e2e_restart.otel_traces', sent), sent);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(await count('SELECT uniqExact(SpanId) AS c FROM e2e_restart.otel_traces'), sent);
        assert.equal(await count('SELECT count() AS c FROM e2e_restart.otel_traces'), sent);
      } finally {
        await b.stop();
      }
    } finally {
      if (!ch.running) await ch.restart();
    }
  });

  test('queue full while ClickHouse is down: drops are counted and memory stays bounded', { timeout: 120_000 }, async () => {
    const svc = await startService(yaml('e2e_full', '    sending_queue: { queue_size: 5000, queue_bytes: 4MiB }\n', ['traces']));
    await ch.halt();
    try {
      const heap0 = process.memoryUsage().heapUsed;
      let pushed = 0;
      for (let i = 0; i < 100; i++) {
        await svc.receiver().traces!.consumeTraces(makeSpans(2000));
        pushed += 2000;
      }
      await new Promise((r) => setTimeout(r, 200));
      const heapGrowth = process.memoryUsage().heapUsed - heap0;
      const full = svc.counter('sonde_exporter_dropped_items_total', { reason: 'queue_full' });
      assert.ok(full >= pushed - 5000 - 4 * 20_000, `queue_full drops ${full} of ${pushed}`);
      assert.ok(heapGrowth < 80 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MiB`);
      await svc.stop();
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), pushed);
    } finally {
      await ch.restart();
    }
  });
});

// The clickhouse exporter against a real ClickHouse engine (chdb 26.x behind the HTTP shim of
// test/peers): the exporter's own DDL and INSERTs run, rows are read back with SELECTs (Map attributes,
// DateTime64(9) timestamps, Duration in ns, SPAN_KIND_*/STATUS_CODE_* strings, events/links, metric
// buckets, the trace-id MV) for both insert formats (RowBinary, JSONEachRow), queued payloads of either
// format are sent after a restart with the other, a 30 s
// outage loses nothing (also with the persistent queue across an agent restart), a full queue counts drops.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { ExponentialHistogramMetricData } from '@opentelemetry/sdk-metrics';
import { resourceMetrics, sumMetric } from '../../src/pdata/metrics.js';
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

/** Both insert formats write the same rows: every field is read back for each. */
const FORMATS = ['rowbinary', 'jsoneachrow'] as const;

describe('clickhouse exporter → ClickHouse (chdb)', () => {
  for (const format of FORMATS) {
    test(`format ${format}: traces, metrics and logs land in the clickhouseexporter schema, field by field`, async () => {
      const db = `e2e_fields_${format}`;
      const svc = await startService(yaml(db, `    format: ${format}\n`));
      const sec = Math.floor(Date.now() / 1000) - 60; // within the table TTL (72h): older rows are dropped on insert
      const res = resourceFromAttributes({ 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1' });
      const scope = { name: 'sonde.l7', version: '0.1.0' };
      const span = new SpanRecord({
        name: 'GET /api/items', kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: 'a000000000000001',
        traceState: 'vendor=abc,other=1',
        startTime: [sec, 123_456_789], endTime: [sec + 1, 223_456_789],
        status: { code: SpanStatusCode.ERROR, message: 'boom' },
        attributes: { 'http.response.status_code': 500, tags: ['a', 'b'], ok: true, ratio: 0.25 },
        events: [
          { name: 'retry', time: [sec, 500_000_000], attributes: { attempt: 2 } },
          { name: 'exception', time: [sec, 999_999_999], attributes: { 'exception.message': 'naïve ☃ 🚀', empty: '' } },
        ],
        links: [
          { context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1 }, attributes: { kind: 'follows' } },
          { context: { traceId: '33333333333333333333333333333333', spanId: '4444444444444444', traceFlags: 0 } },
        ],
        resource: res, instrumentationScope: scope,
      });
      const long = 'x'.repeat(70_000); // a 3-byte varint length
      const span2 = new SpanRecord({
        name: 'ünïcödé 名前', kind: SpanKind.CONSUMER, traceId: 'ffffffffffffffffffffffffffffffff', spanId: 'ffffffffffffffff',
        startTime: [sec, 0], endTime: [sec, 0], status: { code: SpanStatusCode.OK }, attributes: { long, '': 'empty key' },
        resource: res, instrumentationScope: { name: '' },
      });
      const mres = testResource({ 'service.name': 'm-svc' });
      const t: [number, number] = [sec, 1];
      const md = [...makeMetrics(mres), resourceMetrics(mres, { name: 'sonde.test', version: '1.0.0' }, [
        sumMetric('bytes_delta', 'Bytes', 'By', [{ startTime: [sec - 10, 0], endTime: t, attributes: {}, value: 2 ** 40 + 0.5 }], { monotonic: false, temporality: AggregationTemporality.DELTA }),
        {
          descriptor: { name: 'latency_exp', description: 'Exp', unit: 'ms', valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.DELTA, dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
          dataPoints: [{ startTime: [sec - 10, 0], endTime: t, attributes: { route: '/x' }, value: {
            count: 9, sum: 12.5, scale: 3, zeroCount: 1, min: 0, max: 4,
            positive: { offset: -2, bucketCounts: [1, 2, 3] }, negative: { offset: 5, bucketCounts: [2] },
          } }],
        } satisfies ExponentialHistogramMetricData,
      ])];
      const logRes = testResource({ 'service.name': 'l-svc' });
      const logs = makeLogs(2, logRes);
      logs.push({
        hrTime: [sec, 42], hrTimeObserved: [sec, 42], severityText: 'ERROR', severityNumber: 17, body: { msg: 'ö', n: 1 }, resource: logRes,
        instrumentationScope: { name: 'scope.l', version: '2', schemaUrl: 'https://s/1' }, attributes: {}, droppedAttributesCount: 0,
        spanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
      });
      try {
        await svc.receiver().traces!.consumeTraces([span, span2]);
        await svc.receiver().metrics!.consumeMetrics(md);
        await svc.receiver().logs!.consumeLogs(logs);
        await svc.service.shutdown();
      } finally {
        await svc.stop();
      }
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), 0);
      const tr = await rows(`SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage, Events.Timestamp, Events.Name, Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, Links.Attributes, toString(toUnixTimestamp64Nano(Timestamp)) AS ns, arrayMap(x -> toString(toUnixTimestamp64Nano(x)), Events.Timestamp) AS evns FROM ${db}.otel_traces ORDER BY SpanId`);
      assert.equal(tr.length, 2);
      const [t1, t2] = tr;
      const utc = (s: number, frac: string) => `${new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${frac}`;
      assert.equal(t1.Timestamp, utc(sec, '123456789'));
      assert.equal(String(t1.ns), `${sec}123456789`, 'DateTime64(9) keeps the nanoseconds');
      assert.deepEqual([t1.TraceId, t1.SpanId, t1.ParentSpanId, t1.TraceState, t1.SpanName, t1.ServiceName], ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 'a000000000000001', 'vendor=abc,other=1', 'GET /api/items', 'checkout']);
      assert.equal(t1.SpanKind, 'SPAN_KIND_SERVER');
      assert.equal(t1.StatusCode, 'STATUS_CODE_ERROR');
      assert.equal(t1.StatusMessage, 'boom');
      assert.equal(Number(t1.Duration), 1_100_000_000, 'Duration in ns');
      assert.deepEqual(t1.ResourceAttributes, { 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1' });
      assert.deepEqual(t1.SpanAttributes, { 'http.response.status_code': '500', tags: '["a","b"]', ok: 'true', ratio: '0.25' });
      assert.deepEqual([t1.ScopeName, t1.ScopeVersion], ['sonde.l7', '0.1.0']);
      assert.deepEqual(t1['Events.Name'], ['retry', 'exception']);
      assert.deepEqual(t1['Events.Timestamp'], [utc(sec, '500000000'), utc(sec, '999999999')]);
      assert.deepEqual(t1.evns, [`${sec}500000000`, `${sec}999999999`]);
      assert.deepEqual(t1['Events.Attributes'], [{ attempt: '2' }, { 'exception.message': 'naïve ☃ 🚀', empty: '' }]);
      assert.deepEqual([t1['Links.TraceId'], t1['Links.SpanId'], t1['Links.TraceState'], t1['Links.Attributes']],
        [['11111111111111111111111111111111', '33333333333333333333333333333333'], ['2222222222222222', '4444444444444444'], ['', ''], [{ kind: 'follows' }, {}]]);
      assert.deepEqual([t2.SpanName, t2.SpanKind, t2.StatusCode, t2.StatusMessage, t2.ParentSpanId, t2.TraceState, t2.ScopeName, t2.ScopeVersion, Number(t2.Duration), String(t2.ns)],
        ['ünïcödé 名前', 'SPAN_KIND_CONSUMER', 'STATUS_CODE_OK', '', '', '', '', '', 0, `${sec}000000000`]);
      assert.deepEqual(t2.SpanAttributes, { long, '': 'empty key' });
      assert.deepEqual([t2['Events.Name'], t2['Events.Timestamp'], t2['Events.Attributes'], t2['Links.TraceId'], t2['Links.Attributes']], [[], [], [], [], []]);
      const [idts] = await rows(`SELECT TraceId, toString(toUnixTimestamp64Nano(Start)) AS s FROM ${db}.otel_traces_trace_id_ts WHERE TraceId = '0af7651916cd43dd8448eb211c80319c'`);
      assert.deepEqual([idts.TraceId, String(idts.s)], ['0af7651916cd43dd8448eb211c80319c', `${sec}123456789`], 'the materialized view filled the trace-id lookup table');

      const common = 'ResourceAttributes, ResourceSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, ScopeDroppedAttrCount, ScopeSchemaUrl, ServiceName, MetricName, MetricDescription, MetricUnit, Attributes, toString(toUnixTimestamp64Nano(StartTimeUnix)) AS st, toString(toUnixTimestamp64Nano(TimeUnix)) AS tu, Flags, Exemplars.Value';
      const ns = (h: readonly [number, number]) => `${h[0]}${String(h[1]).padStart(9, '0')}`;
      const m0 = md[0].scopeMetrics[0].metrics;
      const [start0, end0] = [m0[0].dataPoints[0].startTime, m0[0].dataPoints[0].endTime];
      const sums = await rows(`SELECT ${common}, Value, AggregationTemporality, IsMonotonic FROM ${db}.otel_metrics_sum ORDER BY Value`);
      assert.deepEqual(sums.map((r) => [r.MetricName, r.MetricDescription, r.MetricUnit, r.Value, r.AggregationTemporality, r.IsMonotonic, r.ServiceName, r.ScopeName, r.ScopeVersion, r.st, r.tu, r.Flags, r['Exemplars.Value']]), [
        ['container_net_tcp_successful_connects_total', 'Successful TCP connects', '', 3, 2, true, 'm-svc', 'sonde.test', '1.0.0', ns(start0), ns(end0), 0, []],
        ['container_net_tcp_successful_connects_total', 'Successful TCP connects', '', 5, 2, true, 'm-svc', 'sonde.test', '1.0.0', ns(start0), ns(end0), 0, []],
        ['bytes_delta', 'Bytes', 'By', 2 ** 40 + 0.5, 1, false, 'm-svc', 'sonde.test', '1.0.0', `${sec - 10}000000000`, `${sec}000000001`, 0, []],
      ]);
      assert.deepEqual(sums[0].Attributes, { destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' });
      assert.deepEqual(sums[1].Attributes, { destination: '10.0.0.2:6379', actual_destination: '10.0.0.2:6379' });
      assert.deepEqual(sums[2].Attributes, {});
      for (const r of sums) {
        assert.deepEqual([r.ResourceAttributes, r.ResourceSchemaUrl, r.ScopeAttributes, r.ScopeDroppedAttrCount, r.ScopeSchemaUrl],
          [{ 'service.name': 'm-svc', 'container.id': 'abc123' }, '', {}, 0, '']);
      }
      const gauges = await rows(`SELECT MetricName, Value, Attributes, st, tu FROM (SELECT ${common}, Value FROM ${db}.otel_metrics_gauge)`);
      assert.deepEqual(gauges, [{ MetricName: 'container_net_tcp_active_connections', Value: 2, Attributes: { destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' }, st: ns(start0), tu: ns(end0) }]);
      const [h] = await rows(`SELECT ${common}, Count, Sum, BucketCounts, ExplicitBounds, Min, Max, AggregationTemporality FROM ${db}.otel_metrics_histogram`);
      assert.deepEqual([h.MetricName, h.MetricUnit, Number(h.Count), h.Sum, (h.BucketCounts as unknown[]).map(Number), h.ExplicitBounds, h.Min, h.Max, h.AggregationTemporality, h.Attributes, h.st, h.tu],
        ['http.server.request.duration', 's', 4, 0.1, [1, 2, 0, 1], [0.005, 0.01, 0.025], 0.001, 0.05, 2, { 'http.request.method': 'GET', 'http.response.status_code': '200' }, ns(start0), ns(end0)]);
      const [e] = await rows(`SELECT ${common}, Count, Sum, Scale, ZeroCount, PositiveOffset, PositiveBucketCounts, NegativeOffset, NegativeBucketCounts, Min, Max, AggregationTemporality FROM ${db}.otel_metrics_exponential_histogram`);
      assert.deepEqual([e.MetricName, e.MetricDescription, e.MetricUnit, Number(e.Count), e.Sum, e.Scale, Number(e.ZeroCount), e.PositiveOffset, (e.PositiveBucketCounts as unknown[]).map(Number), e.NegativeOffset, (e.NegativeBucketCounts as unknown[]).map(Number), e.Min, e.Max, e.AggregationTemporality, e.Attributes, e.st, e.tu],
        ['latency_exp', 'Exp', 'ms', 9, 12.5, 3, 1, -2, [1, 2, 3], 5, [2], 0, 4, 1, { route: '/x' }, `${sec - 10}000000000`, `${sec}000000001`]);

      const lg = await rows(`SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ts, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes FROM ${db}.otel_logs ORDER BY Body`);
      const base = { TraceId: '', SpanId: '', TraceFlags: 0, SeverityText: 'INFO', SeverityNumber: 9, ServiceName: 'l-svc', ResourceSchemaUrl: '', ResourceAttributes: { 'service.name': 'l-svc', 'container.id': 'abc123' }, ScopeSchemaUrl: '', ScopeName: 'sonde.test', ScopeVersion: '1.0.0', ScopeAttributes: {} };
      assert.deepEqual(lg, [
        { ...base, ts: ns(logs[0].hrTime), Body: 'log line 0', LogAttributes: { 'event.name': 'process.exit', 'process.pid': '1000' } },
        { ...base, ts: ns(logs[1].hrTime), Body: 'log line 1', LogAttributes: { 'event.name': 'process.exit', 'process.pid': '1001' } },
        { ...base, ts: `${sec}000000042`, TraceId: '0af7651916cd43dd8448eb211c80319c', SpanId: 'b7ad6b7169203331', TraceFlags: 1, SeverityText: 'ERROR', SeverityNumber: 17, Body: '{"msg":"ö","n":1}', ScopeSchemaUrl: 'https://s/1', ScopeName: 'scope.l', ScopeVersion: '2', LogAttributes: {} },
      ]);
      const ddl = await ch.sql(`SHOW CREATE TABLE ${db}.otel_traces`);
      assert.match(ddl, /TTL toDateTime\(Timestamp\) \+ toIntervalDay\(3\)/);
    });
  }

  test('a persistent queue written in one format is sent after a restart with the other', { timeout: 60_000 }, async () => {
    const storage = join(tmp, 'chq-formats');
    const cfg = (format: string) => yaml('e2e_formats', `    format: ${format}\n    sending_queue: { storage: ${storage} }\n`, ['traces']);
    const warm = await startService(cfg('rowbinary'));
    await warm.receiver().traces!.consumeTraces(makeSpans(5));
    await warm.stop();
    assert.equal(await waitCount('SELECT count() AS c FROM e2e_formats.otel_traces', 5), 5);
    await ch.halt();
    let sent = 5;
    try {
      for (const format of ['jsoneachrow', 'rowbinary', 'jsoneachrow']) {
        const a = await startService(cfg(format));
        await a.receiver().traces!.consumeTraces(makeSpans(50));
        sent += 50;
        await a.stop(); // ClickHouse is down: the spans stay on disk, keyed with their format
      }
      await ch.restart();
      const b = await startService(cfg('rowbinary'));
      try {
        assert.equal(await waitCount('SELECT count() AS c FROM e2e_formats.otel_traces', sent), sent);
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(await count('SELECT uniqExact(SpanId) AS c FROM e2e_formats.otel_traces'), sent);
        assert.equal(await count("SELECT count() AS c FROM e2e_formats.otel_traces WHERE SpanAttributes['http.request.method'] = 'GET' AND Duration = 1500000"), sent, 'rows of both formats decode alike');
        assert.equal(b.counter('sonde_exporter_dropped_items_total'), 0);
      } finally {
        await b.stop();
      }
    } finally {
      if (!ch.running) await ch.restart();
    }
  });

  test('RowBinary against a table whose column type changed: a permanent error (the header\'s types are checked), not retried', { timeout: 60_000 }, async () => {
    const warm = await startService(yaml('e2e_types', '', ['traces']));
    await warm.receiver().traces!.consumeTraces(makeSpans(2));
    await warm.stop();
    assert.equal(await waitCount('SELECT count() AS c FROM e2e_types.otel_traces', 2), 2);
    await ch.sql('ALTER TABLE e2e_types.otel_traces MODIFY COLUMN Duration Int32');
    const svc = await startService(yaml('e2e_types', '', ['traces']));
    try {
      await svc.receiver().traces!.consumeTraces(makeSpans(3));
      await svc.service.shutdown();
      // (ClickHouse answers INCORRECT_DATA "Type of 'Duration' must be Int32, not UInt64" from the header check.)
      assert.equal(svc.counter('sonde_exporter_dropped_items_total', { reason: 'permanent_error' }), 3);
      assert.equal(svc.counter('sonde_exporter_retries_total'), 0);
    } finally {
      await svc.stop();
    }
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

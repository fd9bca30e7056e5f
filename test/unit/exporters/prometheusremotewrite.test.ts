// prometheusremotewrite: the encoder (names, labels, sorting, histograms, target_info, sharding) and the
// protocol against a small fake receiver: RW 2.0 when accepted, fallback to 1.0 on 415, status handling
// (400 permanent, 5xx/429 retried), auth headers, config validation.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import SnappyJS from 'snappyjs';
import type { Component } from '../../../src/component/component.js';
import type { Issue } from '../../../src/config/schema.js';
import { INVALID } from '../../../src/config/schema.js';
import type { MetricsConsumer } from '../../../src/consumer/consumer.js';
import { RemoteWriteEncoder } from '../../../src/exporters/prometheusremotewrite/encode.js';
import { prometheusRemoteWriteExporterFactory as factory } from '../../../src/exporters/prometheusremotewrite/factory.js';
import { AggregationTemporality, gaugeMetric, histogramMetric, resourceMetrics, sumMetric } from '../../../src/pdata/metrics.js';
import { SelfTelemetry } from '../../../src/service/telemetry.js';
import { makeMetrics, testResource } from '../../helpers/data.js';
import { decodeV1, decodeV2 } from '../../helpers/remote-write.js';
import { TEST_HOST, testSettings, TestHost } from '../../helpers/settings.js';

const T: [number, number] = [1_700_000_000, 123_456_789]; // → 1700000000123 ms
const START: [number, number] = [1_699_999_000, 0];

function encoder(o: Partial<ConstructorParameters<typeof RemoteWriteEncoder>[0]> = {}) {
  return new RemoteWriteEncoder({ namespace: '', addSuffixes: true, resourceToTelemetry: false, coroot: true, host: TEST_HOST, externalLabels: {}, targetInfo: true, shards: 1, metadata: false, ...o });
}

describe('remote-write encoder', () => {
  const res = testResource({ 'service.namespace': 'shop', 'service.instance.id': 'pod-1', 'k8s.namespace.name': 'prod', 'k8s.pod.name': 'checkout-1', 'k8s.container.name': 'app', 'k8s.deployment.name': 'checkout' });
  const md = [resourceMetrics(res, { name: 's' }, [
    sumMetric('http.requests', 'Requests', '{request}', [{ startTime: START, endTime: T, attributes: { 'http.method': 'GET', job: 'overridden', cluster: 'own' }, value: 7 }]),
    gaugeMetric('memory.usage', 'Memory', 'By', [{ startTime: START, endTime: T, attributes: {}, value: 1024 }]),
    histogramMetric('rpc.duration', 'Latency', 's', [{ startTime: START, endTime: T, attributes: { rpc: 'Get' }, value: { buckets: { boundaries: [0.1, 1], counts: [2, 3, 1] }, count: 6, sum: 2.5 } }]),
  ])];

  test('names, values, ms timestamps, sorted labels, job/instance, coroot labels, external labels, target_info', () => {
    const { shards, samples, unsupported } = encoder({ externalLabels: { cluster: 'eu-1', region: 'west' } }).encode(md);
    assert.equal(unsupported, 0);
    assert.equal(shards.length, 1);
    assert.equal(shards[0].items, 3, 'items are data points');
    const { series } = decodeV1(shards[0].data);
    assert.equal(samples, series.length);
    for (const s of series) {
      assert.deepEqual(s.order, [...s.order].sort(), `labels sorted: ${s.order.join(',')}`);
      assert.equal(new Set(s.order).size, s.order.length);
      assert.ok(Object.values(s.labels).every((v) => v !== ''));
      assert.equal(s.samples.length, 1);
      assert.equal(s.samples[0].timestamp, 1_700_000_000_123);
    }
    const by = (name: string, extra: Record<string, string> = {}) => series.find((s) => s.labels.__name__ === name && Object.entries(extra).every(([k, v]) => s.labels[k] === v));
    const counter = by('http_requests_total')!;
    assert.deepEqual(counter.labels, {
      __name__: 'http_requests_total', http_method: 'GET', job: 'shop/checkout', instance: 'pod-1', cluster: 'own', region: 'west',
      container_id: '/k8s/prod/checkout-1/app', app_id: '/k8s/prod/checkout', machine_id: TEST_HOST.machineId, system_uuid: TEST_HOST.systemUuid,
    });
    assert.equal(counter.samples[0].value, 7);
    assert.equal(by('memory_usage_bytes')!.samples[0].value, 1024);
    assert.deepEqual(['0.1', '1', '+Inf'].map((le) => by('rpc_duration_seconds_bucket', { le })!.samples[0].value), [2, 5, 6]);
    assert.equal(by('rpc_duration_seconds_sum')!.samples[0].value, 2.5);
    assert.equal(by('rpc_duration_seconds_count')!.samples[0].value, 6);
    const ti = by('target_info')!;
    assert.equal(ti.samples[0].value, 1);
    assert.equal(ti.labels.job, 'shop/checkout');
    assert.equal(ti.labels.k8s_pod_name, 'checkout-1');
    assert.equal(ti.labels.container_id, 'abc123');
    assert.equal(ti.labels.service_name, undefined, 'identifying attributes are not repeated');
  });

  test('the same series always lands in the same shard; different series spread over shards', () => {
    const e = encoder({ shards: 4, targetInfo: false });
    const where = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      const batch = [resourceMetrics(testResource(), { name: 's' }, [gaugeMetric('g', '', '', Array.from({ length: 64 }, (_, i) => ({ startTime: START, endTime: [T[0] + round, 0] as [number, number], attributes: { i }, value: i })))])];
      for (const sh of e.encode(batch).shards) {
        for (const s of decodeV1(sh.data).series) {
          const key = s.labels.i;
          if (where.has(key)) assert.equal(where.get(key), sh.shard, `series i=${key} moved shards`);
          where.set(key, sh.shard);
        }
      }
    }
    assert.equal(new Set(where.values()).size, 4);
  });

  test('delta sums and delta histograms are counted as unsupported, not sent', () => {
    const batch = [resourceMetrics(testResource(), { name: 's' }, [
      sumMetric('d', '', '', [{ startTime: START, endTime: T, attributes: {}, value: 1 }], { temporality: AggregationTemporality.DELTA }),
      histogramMetric('h', '', '', [{ startTime: START, endTime: T, attributes: {}, value: { buckets: { boundaries: [], counts: [1] }, count: 1, sum: 1 } }], AggregationTemporality.DELTA),
      gaugeMetric('ok', '', '', [{ startTime: START, endTime: T, attributes: {}, value: 1 }]),
    ])];
    const r = encoder({ targetInfo: false }).encode(batch);
    assert.equal(r.unsupported, 2);
    assert.deepEqual(decodeV1(r.shards[0].data).series.map((s) => s.labels.__name__), ['ok']);
  });

  test('with metadata: one MetricMetadata per family (type, help, unit)', () => {
    const { shards } = encoder({ metadata: true }).encode(md);
    const { metadata } = decodeV1(shards[0].data);
    assert.deepEqual(metadata.map((m) => [m.name, m.type, m.help, m.unit]), [
      ['http_requests_total', 1, 'Requests', '{request}'], ['memory_usage_bytes', 2, 'Memory', 'By'], ['rpc_duration_seconds', 3, 'Latency', 's'],
    ]);
  });
});

interface Received { headers: IncomingHttpHeaders; body: Buffer }

class FakeReceiver {
  readonly server: Server;
  readonly received: Received[] = [];
  /** Decides the answer for each request. */
  answer: (r: Received) => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 204 });
  url = '';
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { headers: req.headers, body: Buffer.from(SnappyJS.uncompress(Buffer.concat(chunks))) };
        this.received.push(r);
        const a = this.answer(r);
        res.writeHead(a.status, a.headers).end(a.body ?? '');
      });
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1/write`;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
  isV2(r: Received): boolean {
    return String(r.headers['content-type']).includes('io.prometheus.write.v2.Request');
  }
}

function exporter(url: string, extra: Record<string, unknown> = {}) {
  const telemetry = new SelfTelemetry();
  const issues: Issue[] = [];
  const cfg = factory.configSchema.parse({
    endpoint: url, timeout: '2s', sending_queue: { num_consumers: 2 },
    retry_on_failure: { initial_interval: '10ms', max_interval: '20ms', max_elapsed_time: '5s' }, ...extra,
  }, ['prometheusremotewrite'], issues, factory.createDefaultConfig());
  assert.deepEqual(issues, []);
  const e = factory.createMetrics!(testSettings('prometheusremotewrite', 'exporter', telemetry), cfg as never) as Component & MetricsConsumer;
  return { e, c: (name: string, match: Record<string, string> = {}) => telemetry.counterValue(name, match) };
}

describe('remote-write protocol against a fake receiver', () => {
  const rx = new FakeReceiver();
  before(() => rx.start());
  after(() => rx.stop());

  test('RW 2.0: spec headers, snappy block, symbols table, label refs, metadata; stays on 2.0 once confirmed', async () => {
    rx.received.length = 0;
    rx.answer = (r) => (rx.isV2(r) ? { status: 204, headers: { 'X-Prometheus-Remote-Write-Samples-Written': '1' } } : { status: 400 });
    const { e, c } = exporter(rx.url, { headers: { 'X-Scope-OrgID': 'tenant-1' } });
    await e.start(new TestHost());
    await e.consumeMetrics(makeMetrics());
    await e.consumeMetrics(makeMetrics());
    await e.shutdown();
    assert.ok(rx.received.length >= 2);
    for (const r of rx.received) {
      assert.equal(r.headers['content-type'], 'application/x-protobuf;proto=io.prometheus.write.v2.Request');
      assert.equal(r.headers['content-encoding'], 'snappy');
      assert.equal(r.headers['x-prometheus-remote-write-version'], '2.0.0');
      assert.equal(r.headers['x-scope-orgid'], 'tenant-1');
      assert.match(String(r.headers['user-agent']), /^sonde\//);
    }
    const all = rx.received.flatMap((r) => decodeV2(r.body).series);
    assert.equal(decodeV2(rx.received[0].body).symbols[0], '');
    const counter = all.filter((s) => s.labels.__name__ === 'container_net_tcp_successful_connects_total');
    assert.equal(counter.length, 4);
    assert.deepEqual(counter[0].metadata, { type: 1, help: 'Successful TCP connects', unit: '' });
    assert.deepEqual(all.find((s) => s.labels.__name__ === 'http_server_request_duration_seconds_bucket')?.metadata, { type: 3, help: 'Duration of HTTP server requests', unit: 's' });
    for (const s of all) assert.deepEqual(s.order, [...s.order].sort());
    assert.equal(c('sonde_exporter_sent_metric_points_total'), 8);
  });

  test('415 on RW 2.0: the same request is resent as 1.0 and the exporter stays on 1.0', async () => {
    rx.received.length = 0;
    rx.answer = (r) => (rx.isV2(r) ? { status: 415, body: 'unsupported' } : { status: 204 });
    const { e, c } = exporter(rx.url, { sending_queue: { num_consumers: 1 } });
    await e.start(new TestHost());
    await e.consumeMetrics(makeMetrics());
    await e.consumeMetrics(makeMetrics());
    await e.shutdown();
    assert.deepEqual(rx.received.map((r) => rx.isV2(r)), [true, false, false]);
    const v1 = rx.received[1];
    assert.equal(v1.headers['content-type'], 'application/x-protobuf');
    assert.equal(v1.headers['x-prometheus-remote-write-version'], '0.1.0');
    const dec = decodeV1(v1.body);
    assert.equal(dec.metadata.length, 0, 'field 3 is reserved in 1.0: metadata stripped');
    assert.ok(dec.series.some((s) => s.labels.__name__ === 'container_net_tcp_active_connections'));
    assert.equal(c('sonde_exporter_sent_metric_points_total'), 8);
    assert.equal(c('sonde_exporter_dropped_items_total'), 0);
  });

  test('a 400 is permanent: not retried, dropped and counted', async () => {
    rx.received.length = 0;
    rx.answer = () => ({ status: 400, body: 'out of bounds' });
    const { e, c } = exporter(rx.url, { remote_write_version: '1.0', sending_queue: { num_consumers: 1 } });
    await e.start(new TestHost());
    await e.consumeMetrics(makeMetrics());
    await e.shutdown();
    assert.equal(rx.received.length, 1);
    assert.equal(c('sonde_exporter_dropped_items_total', { reason: 'permanent_error' }), 4);
    assert.equal(c('sonde_exporter_retries_total'), 0);
  });

  test('5xx and 429 (with Retry-After) are retried until accepted', async () => {
    rx.received.length = 0;
    const plan = [{ status: 503 }, { status: 429, headers: { 'Retry-After': '0' } }, { status: 500 }];
    rx.answer = () => plan.shift() ?? { status: 204 };
    const { e, c } = exporter(rx.url, { remote_write_version: '1.0', sending_queue: { num_consumers: 1 } });
    await e.start(new TestHost());
    await e.consumeMetrics(makeMetrics());
    await e.shutdown();
    assert.equal(rx.received.length, 4);
    assert.equal(c('sonde_exporter_retries_total'), 3);
    assert.equal(c('sonde_exporter_sent_metric_points_total'), 4);
  });

  test('basic auth and bearer token become the Authorization header', async () => {
    rx.received.length = 0;
    rx.answer = () => ({ status: 204 });
    for (const extra of [{ basic_auth: { username: 'u', password: 'p@ss' } }, { bearer_token: 'tok' }]) {
      const { e } = exporter(rx.url, { remote_write_version: '1.0', ...extra });
      await e.start(new TestHost());
      await e.consumeMetrics(makeMetrics());
      await e.shutdown();
    }
    const auths = new Set(rx.received.map((r) => r.headers.authorization));
    assert.deepEqual([...auths], [`Basic ${Buffer.from('u:p@ss').toString('base64')}`, 'Bearer tok']);
  });
});

describe('prometheusremotewrite config', () => {
  const parse = (v: Record<string, unknown>) => {
    const issues: Issue[] = [];
    const r = factory.configSchema.parse(v, ['exporters', 'prometheusremotewrite'], issues, factory.createDefaultConfig());
    return { r, issues: issues.map((i) => `${i.path.join('::')}: ${i.message}`) };
  };
  test('endpoint is required and must be a URL', () => {
    assert.deepEqual(parse({}).issues, ['exporters::prometheusremotewrite::endpoint: is required: the remote-write URL, e.g. http://prometheus:9090/api/v1/write']);
    assert.match(parse({ endpoint: 'prometheus:9090' }).issues[0], /^exporters::prometheusremotewrite::endpoint: must be a URL/);
  });
  test('reserved headers, and two kinds of auth at once, are refused', () => {
    const { r, issues } = parse({ endpoint: 'http://p/api/v1/write', headers: { 'Content-Type': 'x' }, bearer_token: 't', basic_auth: { username: 'u' } });
    assert.equal(r, INVALID);
    assert.deepEqual(issues, [
      'exporters::prometheusremotewrite::headers::Content-Type: is reserved by the remote-write protocol and set by the exporter',
      'exporters::prometheusremotewrite::bearer_token: cannot be used together with basic_auth',
    ]);
  });
});

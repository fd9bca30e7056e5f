// L7 request metrics: coroot families and semconv histograms with exact counts and buckets, per-cgroup
// resources, path templating and the per-service cap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Histogram, HistogramMetricData, ResourceMetrics, SumMetricData } from '@opentelemetry/sdk-metrics';
import { CGROUP_PATH_ATTR } from '../../../src/internal/coroot.js';
import { L7Metrics, PROMETHEUS_DEFAULT_BUCKETS, SEMCONV_DURATION_BUCKETS } from '../../../src/receivers/ebpf/l7/metrics.js';
import type { L7MetricsNaming } from '../../../src/receivers/ebpf/l7/metrics.js';
import { L7_SCOPE } from '../../../src/receivers/ebpf/l7/pipeline.js';
import { ResourceCache } from '../../../src/receivers/ebpf/l7/resources.js';
import { OVERFLOW_ROUTE, RouteTemplater, templatePath } from '../../../src/receivers/ebpf/l7/routes.js';
import { HOST, conn, event } from './helpers.js';

const ms = 1e6;
const client = conn('client', 10, '10.0.0.1:40000', '10.96.0.10:80', { actualRemoteIp: '10.1.2.3', actualRemotePort: 8080 });
const server = conn('server', 10, '10.0.0.1:8080', '10.0.0.9:51000');
const other = conn('server', 20, '10.0.0.1:9090', '10.0.0.9:52000');

function setup(naming: L7MetricsNaming, cap = 200): L7Metrics {
  return new L7Metrics({ naming }, new ResourceCache(HOST), new RouteTemplater(cap), L7_SCOPE);
}

function metric(rms: ResourceMetrics[], cgroup: string, name: string) {
  const rm = rms.find((r) => r.resource.attributes[CGROUP_PATH_ATTR] === cgroup);
  return rm?.scopeMetrics[0].metrics.find((m) => m.descriptor.name === name);
}

test('coroot naming: outbound {destination, actual_destination, status} and inbound {status}, exact counts and buckets', () => {
  const m = setup('coroot');
  m.record(event(client, { start: 0, end: 3 * ms, status: 200 })); // 0.003 s → le 0.005
  m.record(event(client, { start: 0, end: 200 * ms, status: 204 })); // 0.2 s → le 0.25
  m.record(event(client, { start: 0, end: 20_000 * ms, status: 503 })); // 20 s → +Inf
  m.record(event(client, { start: 0, end: 5 * ms, incomplete: true })); // counted as unknown, no duration
  m.record(event(server, { start: 0, end: 10 * ms, status: 404 })); // exactly 0.01 → le 0.01
  m.record(event(server, { start: 0, end: 1 * ms, status: 200 }));
  m.record(event(other, { start: 0, end: 1 * ms, status: 200 }));
  const rms = m.collect();
  assert.equal(rms.length, 2, 'one ResourceMetrics per cgroup');
  const cg = client.cgroupPath;
  const out = metric(rms, cg, 'container_http_requests_total') as SumMetricData;
  assert.equal(out.isMonotonic, true);
  const dest = { destination: '10.96.0.10:80', actual_destination: '10.1.2.3:8080' };
  assert.deepEqual(out.dataPoints.map((p) => [p.attributes, p.value]), [
    [{ ...dest, status: '2xx' }, 2],
    [{ ...dest, status: '5xx' }, 1],
    [{ ...dest, status: 'unknown' }, 1],
  ]);
  const h = metric(rms, cg, 'container_http_requests_duration_seconds_total') as HistogramMetricData;
  assert.equal(h.descriptor.unit, 's');
  const ok = h.dataPoints.find((p) => p.attributes.status === '2xx')?.value as Histogram;
  assert.deepEqual(ok.buckets.boundaries, [...PROMETHEUS_DEFAULT_BUCKETS]);
  assert.deepEqual(ok.buckets.counts, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.equal(ok.count, 2);
  assert.ok(Math.abs((ok.sum as number) - 0.203) < 1e-12);
  const slow = h.dataPoints.find((p) => p.attributes.status === '5xx')?.value as Histogram;
  assert.deepEqual(slow.buckets.counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(h.dataPoints.find((p) => p.attributes.status === 'unknown'), undefined);
  const inb = metric(rms, cg, 'container_http_inbound_requests_total') as SumMetricData;
  assert.deepEqual(inb.dataPoints.map((p) => [p.attributes, p.value]), [[{ status: '4xx' }, 1], [{ status: '2xx' }, 1]]);
  const inh = metric(rms, cg, 'container_http_inbound_requests_duration_seconds_total') as HistogramMetricData;
  assert.deepEqual((inh.dataPoints.find((p) => p.attributes.status === '4xx')?.value as Histogram).buckets.counts, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(rms.map((r) => r.resource.attributes['host.name']), ['node-a', 'node-a']);
  // cumulative: a second collection keeps counting
  m.record(event(client, { start: 0, end: 1 * ms, status: 201 }));
  const again = metric(m.collect(), cg, 'container_http_requests_total') as SumMetricData;
  assert.equal(again.dataPoints[0].value, 3);
});

test('coroot status for databases: ok / failed / unknown', () => {
  const m = setup('coroot');
  const base = event(client, { start: 0, end: ms });
  const rec = (status: 'ok' | 'error' | 'unknown') => ({ ...base, record: { ...base.record, protocol: 'postgresql', status } });
  m.record(rec('ok'));
  m.record(rec('error'));
  m.record(rec('unknown'));
  const c = metric(m.collect(), client.cgroupPath, 'container_postgres_queries_total') as SumMetricData;
  assert.deepEqual(c.dataPoints.map((p) => [p.attributes.status, p.value]), [['ok', 1], ['failed', 1], ['unknown', 1]]);
});

test('otel naming: semconv histograms, buckets and attributes; error.type by side', () => {
  const m = setup('otel');
  m.record(event(server, { start: 0, end: 30 * ms, path: '/users/42', status: 200 }));
  m.record(event(server, { start: 0, end: 30 * ms, path: '/users/43', status: 200 }));
  m.record(event(server, { start: 0, end: 80 * ms, path: '/users/43', status: 404 }));
  m.record(event(server, { start: 0, end: 80 * ms, path: '/boom', status: 500 }));
  m.record(event(server, { start: 0, end: 80 * ms, path: '/boom', incomplete: true }));
  m.record(event(client, { start: 0, end: 7 * ms, path: '/x', status: 404, method: 'POST' }));
  const rms = m.collect();
  const s = metric(rms, server.cgroupPath, 'http.server.request.duration') as HistogramMetricData;
  assert.equal(s.descriptor.unit, 's');
  assert.deepEqual(s.dataPoints.map((p) => [p.attributes, (p.value as Histogram).count]), [
    [{ 'http.request.method': 'GET', 'http.response.status_code': 200, 'http.route': '/users/{id}', 'url.scheme': 'http' }, 2],
    [{ 'http.request.method': 'GET', 'http.response.status_code': 404, 'http.route': '/users/{id}', 'url.scheme': 'http' }, 1],
    [{ 'http.request.method': 'GET', 'http.response.status_code': 500, 'http.route': '/boom', 'url.scheme': 'http', 'error.type': '500' }, 1],
  ]);
  const first = s.dataPoints[0].value as Histogram;
  assert.deepEqual(first.buckets.boundaries, [...SEMCONV_DURATION_BUCKETS]);
  assert.deepEqual(first.buckets.counts, [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(first.min, 0.03);
  assert.equal(first.max, 0.03);
  const c = metric(rms, client.cgroupPath, 'http.client.request.duration') as HistogramMetricData;
  assert.deepEqual(c.dataPoints.map((p) => p.attributes), [
    { 'http.request.method': 'POST', 'http.response.status_code': 404, 'server.address': '10.1.2.3', 'server.port': 8080, 'url.scheme': 'http', 'error.type': '404' },
  ]);
  assert.deepEqual((c.dataPoints[0].value as Histogram).buckets.counts, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
});

test('path templates: numbers, UUIDs, hashes, tokens become {id}; words stay', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['/users/42', '/users/{id}'],
    ['/users/42/orders/7', '/users/{id}/orders/{id}'],
    ['/api/v1/items', '/api/v1/items'],
    ['/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301', '/o/{id}'],
    ['/blob/d41d8cd98f00b204e9800998ecf8427e', '/blob/{id}'],
    ['/x/507f1f77bcf86cd799439011', '/x/{id}'],
    ['/orders/order-12345', '/orders/{id}'],
    ['/t/eyJhbGciOiJIUzI1NiJ9abcdefgh1', '/t/{id}'],
    ['/u/jane@example.com', '/u/{id}'],
    ['/static/app.js', '/static/app.js'],
    ['/healthz', '/healthz'],
    ['/users/42/', '/users/{id}/'],
    ['/deadbeefcafebabe', '/deadbeefcafebabe'],
  ];
  for (const [p, t] of cases) assert.equal(templatePath(p), t, p);
});

test('per-service cap: templates beyond it go to {overflow}; other services are unaffected; known ones still match', () => {
  const r = new RouteTemplater(3);
  assert.equal(r.route('/a', '/one'), '/one');
  assert.equal(r.route('/a', '/two/5'), '/two/{id}');
  assert.equal(r.route('/a', '/three'), '/three');
  assert.equal(r.route('/a', '/four'), OVERFLOW_ROUTE);
  assert.equal(r.route('/a', '/two/6'), '/two/{id}');
  assert.equal(r.route('/b', '/four'), '/four');
  assert.deepEqual(r.templates('/a'), ['/one', '/two/{id}', '/three']);
  // in metrics
  const m = setup('otel', 2);
  for (const p of ['/a', '/b', '/c', '/d', '/a']) m.record(event(server, { start: 0, end: ms, path: p }));
  const s = metric(m.collect(), server.cgroupPath, 'http.server.request.duration') as HistogramMetricData;
  assert.deepEqual(s.dataPoints.map((p) => [p.attributes['http.route'], (p.value as Histogram).count]), [['/a', 2], ['/b', 1], [OVERFLOW_ROUTE, 2]]);
});

test('the hot path reuses series: no new series for repeated keys', () => {
  const m = setup('coroot');
  for (let i = 0; i < 1000; i++) m.record(event(client, { start: 0, end: ms, status: 200 + (i % 3) }));
  const c = metric(m.collect(), client.cgroupPath, 'container_http_requests_total') as SumMetricData;
  assert.equal(c.dataPoints.length, 1);
  assert.equal(c.dataPoints[0].value, 1000);
});

test('through the Prometheus exporter: coroot names and labels as Coroot reads them', async () => {
  const { SeriesStore } = await import('../../../src/exporters/prometheus/store.js');
  const m = setup('coroot');
  m.record(event(client, { start: 0, end: 3 * ms, status: 200 }));
  m.record(event(server, { start: 0, end: 3 * ms, status: 500 }));
  const store = new SeriesStore({ namespace: '', addSuffixes: true, constLabels: {}, resourceToTelemetry: false, coroot: true, host: { hostname: 'node-a', machineId: 'm1', systemUuid: '', kernelRelease: '6', arch: 'x64' }, expirationMs: 60_000, maxSeries: 1000 });
  store.ingest(m.collect());
  const text = store.render(false, false);
  const lines = text.split('\n').filter((l) => l.startsWith('container_'));
  const has = (prefix: string, ...parts: string[]) => assert.ok(lines.some((l) => l.startsWith(prefix) && parts.every((p) => l.includes(p))), `${prefix} ${parts.join(' ')}\n${text}`);
  has('container_http_requests_total{', 'destination="10.96.0.10:80"', 'actual_destination="10.1.2.3:8080"', 'status="2xx"', 'container_id="/system.slice/app-10.service"');
  has('container_http_requests_duration_seconds_total_bucket{', 'le="0.005"', 'status="2xx"');
  has('container_http_requests_duration_seconds_total_count{', 'status="2xx"');
  has('container_http_inbound_requests_total{', 'status="5xx"');
  has('container_http_inbound_requests_duration_seconds_total_sum{', 'status="5xx"');
});

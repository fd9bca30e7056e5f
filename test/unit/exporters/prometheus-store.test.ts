import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SeriesStore } from '../../../src/exporters/prometheus/store.js';
import { metricFamilyName, sanitizeLabelName, unitSuffix } from '../../../src/internal/prometheus/naming.js';
import { AggregationTemporality, gaugeMetric, histogramMetric, resourceMetrics, sumMetric } from '../../../src/pdata/metrics.js';
import { TEST_HOST } from '../../helpers/settings.js';

test('OTel names become Prometheus names as the Collector translates them', () => {
  const o = { addSuffixes: true };
  assert.equal(metricFamilyName('http.server.request.duration', 's', 'histogram', o), 'http_server_request_duration_seconds');
  assert.equal(metricFamilyName('container_net_tcp_successful_connects_total', '', 'counter', o), 'container_net_tcp_successful_connects_total');
  assert.equal(metricFamilyName('container_http_requests_duration_seconds_total', '', 'histogram', o), 'container_http_requests_duration_seconds_total');
  assert.equal(metricFamilyName('system.network.io', 'By', 'counter', o), 'system_network_io_bytes_total');
  assert.equal(metricFamilyName('disk.rate', 'By/s', 'gauge', o), 'disk_rate_bytes_per_second');
  assert.equal(metricFamilyName('cpu.utilization', '1', 'gauge', o), 'cpu_utilization_ratio');
  assert.equal(metricFamilyName('queue.items', '{items}', 'gauge', o), 'queue_items');
  assert.equal(metricFamilyName('x', 's', 'counter', { addSuffixes: false, namespace: 'ns' }), 'ns_x');
  assert.equal(unitSuffix('ms'), 'milliseconds');
  assert.equal(sanitizeLabelName('k8s.pod.name'), 'k8s_pod_name');
  assert.equal(sanitizeLabelName('1abc'), 'key_1abc');
});

const t0: [number, number] = [1_700_000_000, 0];
const t1: [number, number] = [1_700_000_060, 500_000_000];

function store(over: Partial<ConstructorParameters<typeof SeriesStore>[0]> = {}) {
  return new SeriesStore({ namespace: '', addSuffixes: true, constLabels: {}, resourceToTelemetry: false, coroot: true, host: TEST_HOST, expirationMs: 60_000, maxSeries: 100, ...over });
}

const res = resourceFromAttributes({ 'service.name': 'api', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'api-7d9f-x2', 'k8s.container.name': 'api', 'k8s.deployment.name': 'api' });

test('text exposition: counters, gauges, histograms with coroot labels, escaping, expiry', () => {
  const st = store();
  const now = 1_000_000;
  st.ingest([resourceMetrics(res, { name: 's' }, [
    sumMetric('container_net_tcp_successful_connects_total', 'Successful connects', '', [{ startTime: t0, endTime: t1, attributes: { destination: '10.0.0.1:80', note: 'a "quoted"\nline\\' }, value: 7 }]),
    gaugeMetric('container_net_tcp_active_connections', '', '', [{ startTime: t0, endTime: t1, attributes: {}, value: 2 }]),
    histogramMetric('http.client.request.duration', 'HTTP client durations', 's', [{ startTime: t0, endTime: t1, attributes: { 'http.request.method': 'GET' }, value: { buckets: { boundaries: [0.1, 1], counts: [1, 2, 3] }, count: 6, sum: 9.5 } }]),
  ])], now);
  const text = st.render(false, true, now);
  const ids = 'app_id="/k8s/shop/api",container_id="/k8s/shop/api-7d9f-x2/api",destination="10.0.0.1:80",machine_id="0123456789abcdef0123456789abcdef",note="a \\"quoted\\"\\nline\\\\",system_uuid="4c4c4544-0000-1111-2222-333344445555"';
  assert.ok(text.includes(`# HELP container_net_tcp_successful_connects_total Successful connects\n# TYPE container_net_tcp_successful_connects_total counter\ncontainer_net_tcp_successful_connects_total{${ids}} 7 1700000060500\n`), text);
  assert.match(text, /# HELP container_net_tcp_active_connections container_net_tcp_active_connections\n# TYPE container_net_tcp_active_connections gauge\n/);
  assert.match(text, /http_client_request_duration_seconds_bucket\{[^}]*http_request_method="GET"[^}]*,le="0\.1"\} 1 /);
  assert.match(text, /http_client_request_duration_seconds_bucket\{[^}]*le="1"\} 3 /);
  assert.match(text, /http_client_request_duration_seconds_bucket\{[^}]*le="\+Inf"\} 6 /);
  assert.match(text, /http_client_request_duration_seconds_sum\{[^}]*\} 9\.5 /);
  assert.match(text, /http_client_request_duration_seconds_count\{[^}]*\} 6 /);
  assert.ok(!text.includes('# EOF'));
  // Expired after metric_expiration without updates.
  assert.equal(st.render(false, false, now + 61_000), '');
  assert.equal(st.seriesCount, 0);
});

test('OpenMetrics: counter family without _total, samples with it, timestamps in seconds, # EOF', () => {
  const st = store({ coroot: false });
  st.ingest([resourceMetrics(res, { name: 's' }, [
    sumMetric('requests', 'Requests', '', [{ startTime: t0, endTime: t1, attributes: { code: '200' }, value: 3 }]),
  ])], 0);
  const om = st.render(true, true, 0);
  assert.equal(om, '# HELP requests Requests\n# TYPE requests counter\nrequests_total{code="200"} 3 1700000060.500\n# EOF\n');
  assert.equal(st.render(false, false, 0), '# HELP requests_total Requests\n# TYPE requests_total counter\nrequests_total{code="200"} 3\n');
});

test('delta sums accumulate; cumulative sums replace; series cap counts drops', () => {
  const st = store({ coroot: false, maxSeries: 2 });
  const delta = (v: number, attrs: Record<string, string>) => [resourceMetrics(res, { name: 's' }, [
    sumMetric('hits', '', '', [{ startTime: t0, endTime: t1, attributes: attrs, value: v }], { temporality: AggregationTemporality.DELTA }),
  ])];
  st.ingest(delta(2, { a: '1' }), 0);
  st.ingest(delta(3, { a: '1' }), 0);
  assert.match(st.render(false, false, 0), /hits_total\{a="1"\} 5\n/);
  st.ingest(delta(1, { a: '2' }), 0);
  st.ingest(delta(1, { a: '3' }), 0);
  assert.equal(st.seriesCount, 2);
  assert.equal(st.droppedSeries, 1);
});

test('resource_to_telemetry_conversion copies resource attributes as labels', () => {
  const st = store({ coroot: false, resourceToTelemetry: true, constLabels: { 'cluster.name': 'c1' } });
  st.ingest([resourceMetrics(res, { name: 's' }, [gaugeMetric('g', '', '', [{ startTime: t0, endTime: t1, attributes: {}, value: 1 }])])], 0);
  assert.match(st.render(false, false, 0), /g\{cluster_name="c1",k8s_container_name="api",k8s_deployment_name="api",k8s_namespace_name="shop",k8s_pod_name="api-7d9f-x2",service_name="api"\} 1/);
});

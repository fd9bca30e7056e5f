import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { Logs, Metrics, Traces } from '../../src/consumer/consumer.js';
import { gaugeMetric, histogramMetric, resourceMetrics, sumMetric } from '../../src/pdata/metrics.js';
import { nowHrTime } from '../../src/pdata/time.js';
import { SpanKind, SpanRecord, SpanStatusCode } from '../../src/pdata/traces.js';

const SCOPE = { name: 'sonde.test', version: '1.0.0' };

let idSeq = 1;
function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

export function testResource(attrs: Attributes = {}): Resource {
  return resourceFromAttributes({ 'service.name': 'checkout', 'container.id': 'abc123', ...attrs });
}

/** `n` finished spans sharing one resource; ids are unique and deterministic per process. */
export function makeSpans(n: number, resource: Resource = testResource(), attrs: Attributes = {}): Traces {
  const out: Traces = [];
  const start = nowHrTime();
  for (let i = 0; i < n; i++) {
    const id = idSeq++;
    out.push(new SpanRecord({
      name: 'GET /api/items',
      kind: i % 2 ? SpanKind.CLIENT : SpanKind.SERVER,
      traceId: hex(id, 32),
      spanId: hex(id, 16),
      startTime: start,
      endTime: [start[0], start[1] + 1_500_000 > 999_999_999 ? start[1] : start[1] + 1_500_000],
      status: i % 10 === 9 ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
      attributes: { 'http.request.method': 'GET', 'url.path': '/api/items', 'http.response.status_code': i % 10 === 9 ? 500 : 200, ...attrs },
      resource,
      instrumentationScope: SCOPE,
    }));
  }
  return out;
}

/** A counter (monotonic sum), a gauge and a histogram: 2 + 1 + 1 = 4 data points per call. */
export function makeMetrics(resource: Resource = testResource(), value = 1): Metrics {
  const t = nowHrTime();
  const start: [number, number] = [t[0] - 60, t[1]];
  return [resourceMetrics(resource, SCOPE, [
    sumMetric('container_net_tcp_successful_connects_total', 'Successful TCP connects', '', [
      { startTime: start, endTime: t, attributes: { destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' }, value: 3 * value },
      { startTime: start, endTime: t, attributes: { destination: '10.0.0.2:6379', actual_destination: '10.0.0.2:6379' }, value: 5 * value },
    ]),
    gaugeMetric('container_net_tcp_active_connections', 'Active TCP connections', '', [
      { startTime: start, endTime: t, attributes: { destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' }, value: 2 },
    ]),
    histogramMetric('http.server.request.duration', 'Duration of HTTP server requests', 's', [
      { startTime: start, endTime: t, attributes: { 'http.request.method': 'GET', 'http.response.status_code': 200 }, value: { buckets: { boundaries: [0.005, 0.01, 0.025], counts: [1, 2, 0, 1] }, count: 4, sum: 0.1, min: 0.001, max: 0.05 } },
    ]),
  ])];
}

export function makeLogs(n: number, resource: Resource = testResource()): Logs {
  const t = nowHrTime();
  return Array.from({ length: n }, (_, i) => ({
    hrTime: t,
    hrTimeObserved: t,
    severityText: 'INFO',
    severityNumber: 9,
    body: `log line ${i}`,
    resource,
    instrumentationScope: SCOPE,
    attributes: { 'event.name': 'process.exit', 'process.pid': 1000 + i },
    droppedAttributesCount: 0,
  }));
}

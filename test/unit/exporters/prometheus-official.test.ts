// Cross-check: for a single resource without Sonde's extra labels, the prometheus exporter's text output
// carries the same samples as the official @opentelemetry/exporter-prometheus serializer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SeriesStore } from '../../../src/exporters/prometheus/store.js';
import { gaugeMetric, histogramMetric, resourceMetrics, sumMetric } from '../../../src/pdata/metrics.js';
import { TEST_HOST } from '../../helpers/settings.js';

type Sample = string;

/** `name{a="1",b="2"} value` with labels sorted, so label order does not matter. */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    const labels = (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
    out.push(`${m[1]}{${labels.sort().join(',')}} ${Number(m[3])}`);
  }
  return out.sort();
}

test('same samples as the official PrometheusSerializer (counters, gauges, histograms, escaping)', () => {
  const t0: [number, number] = [1_700_000_000, 0];
  const t1: [number, number] = [1_700_000_010, 0];
  const rm = resourceMetrics(resourceFromAttributes({ 'service.name': 'x' }), { name: 'scope' }, [
    sumMetric('container_http_requests_total', 'HTTP requests', '', [
      { startTime: t0, endTime: t1, attributes: { destination: '10.0.0.1:80', status: '2xx' }, value: 12 },
      { startTime: t0, endTime: t1, attributes: { destination: '10.0.0.1:80', status: '5xx' }, value: 1 },
    ]),
    sumMetric('bytes_in_flight', '', '', [{ startTime: t0, endTime: t1, attributes: { path: 'a "b"\\c' }, value: -3 }], { monotonic: false }),
    gaugeMetric('node_uptime_seconds', 'Uptime', '', [{ startTime: t0, endTime: t1, attributes: {}, value: 1234.5 }]),
    histogramMetric('container_http_requests_duration_seconds_total', 'Latency', '', [
      { startTime: t0, endTime: t1, attributes: { status: '2xx' }, value: { buckets: { boundaries: [0.005, 0.01, 0.1, 1], counts: [3, 4, 0, 2, 1] }, count: 10, sum: 2.5 } },
    ]),
  ]);
  const official = new PrometheusSerializer(undefined, false, undefined, true, true).serialize(rm);
  const store = new SeriesStore({ namespace: '', addSuffixes: true, constLabels: {}, resourceToTelemetry: false, coroot: false, host: TEST_HOST, expirationMs: 60_000, maxSeries: 1000 });
  store.ingest([rm], 0);
  const ours = store.render(false, false, 0);
  assert.deepEqual(samples(ours), samples(official));
  // And the same TYPE for every family.
  const types = (t: string) => [...t.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
  assert.deepEqual(types(ours), types(official));
});

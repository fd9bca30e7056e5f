import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { Metrics } from '../consumer/consumer.js';

/**
 * Splits metrics into a head of at most `n` data points and the rest, keeping resource and scope
 * grouping; a metric is cut between data points when needed. The input is not modified.
 */
export function splitMetrics(md: Metrics, n: number): [Metrics, Metrics] {
  const head: Metrics = [];
  const tail: Metrics = [];
  let left = n;
  for (const rm of md) {
    if (left <= 0) {
      tail.push(rm);
      continue;
    }
    const hScopes: typeof rm.scopeMetrics = [];
    const tScopes: typeof rm.scopeMetrics = [];
    for (const sm of rm.scopeMetrics) {
      const hm: MetricData[] = [];
      const tm: MetricData[] = [];
      for (const m of sm.metrics) {
        const pts = m.dataPoints.length;
        if (left >= pts) {
          hm.push(m);
          left -= pts;
        } else if (left > 0) {
          hm.push({ ...m, dataPoints: m.dataPoints.slice(0, left) } as MetricData);
          tm.push({ ...m, dataPoints: m.dataPoints.slice(left) } as MetricData);
          left = 0;
        } else {
          tm.push(m);
        }
      }
      if (hm.length) hScopes.push({ scope: sm.scope, metrics: hm });
      if (tm.length) tScopes.push({ scope: sm.scope, metrics: tm });
    }
    if (hScopes.length) head.push({ resource: rm.resource, scopeMetrics: hScopes });
    if (tScopes.length) tail.push({ resource: rm.resource, scopeMetrics: tScopes });
  }
  return [head, tail];
}

import type { Signal } from '../component/component.js';
import type { Logs, Metrics, Traces } from '../consumer/consumer.js';
import { countPoints } from './metrics.js';

/** Items in a batch, in the Collector's units: spans, metric data points, log records. */
export function countItems(signal: Signal, d: Traces | Metrics | Logs): number {
  return signal === 'metrics' ? countPoints(d as Metrics) : d.length;
}

/** The self-telemetry noun for a signal's items: spans, metric_points, log_records. */
export const ITEM_NOUN: Record<Signal, string> = { traces: 'spans', metrics: 'metric_points', logs: 'log_records' };

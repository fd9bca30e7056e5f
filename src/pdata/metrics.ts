import type { Attributes, HrTime } from '@opentelemetry/api';
import { ValueType } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, GaugeMetricData, Histogram, HistogramMetricData, MetricData, ResourceMetrics, SumMetricData } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { Metrics } from '../consumer/consumer.js';

export { AggregationTemporality, DataPointType };

/** Number of data points (the Collector's unit for metric items). */
export function countPoints(md: Metrics): number {
  let n = 0;
  for (const rm of md) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}

function clonePoint<T>(p: DataPoint<T>): DataPoint<T> {
  const v = p.value as unknown;
  let value: unknown = v;
  if (typeof v === 'object' && v !== null) {
    const h = v as Histogram;
    value = { ...h, buckets: { boundaries: [...h.buckets.boundaries], counts: [...h.buckets.counts] } };
  }
  return { startTime: p.startTime, endTime: p.endTime, attributes: { ...p.attributes }, value: value as T };
}

/** Deep copy of the mutable structure (resources are immutable and shared). */
export function cloneMetrics(md: Metrics): Metrics {
  return md.map((rm) => ({
    resource: rm.resource,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      scope: sm.scope,
      metrics: sm.metrics.map((m) => ({ ...m, dataPoints: (m.dataPoints as DataPoint<unknown>[]).map(clonePoint) }) as MetricData),
    })),
  }));
}

export interface PointInit<T> {
  attributes: Attributes;
  value: T;
  startTime: HrTime;
  endTime: HrTime;
}

export function sumMetric(name: string, description: string, unit: string, dataPoints: DataPoint<number>[], opts: { monotonic?: boolean; temporality?: AggregationTemporality; valueType?: ValueType } = {}): SumMetricData {
  return {
    descriptor: { name, description, unit, valueType: opts.valueType ?? ValueType.DOUBLE },
    aggregationTemporality: opts.temporality ?? AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.SUM,
    isMonotonic: opts.monotonic ?? true,
    dataPoints,
  };
}

export function gaugeMetric(name: string, description: string, unit: string, dataPoints: DataPoint<number>[], valueType: ValueType = ValueType.DOUBLE): GaugeMetricData {
  return {
    descriptor: { name, description, unit, valueType },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  };
}

export function histogramMetric(name: string, description: string, unit: string, dataPoints: DataPoint<Histogram>[], temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE): HistogramMetricData {
  return {
    descriptor: { name, description, unit, valueType: ValueType.DOUBLE },
    aggregationTemporality: temporality,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints,
  };
}

export function resourceMetrics(resource: Resource, scope: InstrumentationScope, metrics: MetricData[]): ResourceMetrics {
  return { resource, scopeMetrics: [{ scope, metrics }] };
}

/**
 * Rows for the clickhouseexporter schema as JSONEachRow lines (one JSON object per line, keys = the
 * INSERT's columns). Value encodings as the pinned exporter writes them: ids lowercase hex ('' when
 * empty), DateTime64(9) as "seconds.nanoseconds" (exact, no float rounding), Duration in ns,
 * SpanKind `SPAN_KIND_*` and StatusCode `STATUS_CODE_*` (traceutil.SpanKindStr/StatusCodeStr), attribute
 * maps of strings (arrays as JSON), ServiceName from the resource's service.name.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, ExponentialHistogram, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { attrValueString } from '../../internal/prometheus/labels.js';
import type { MetricKind } from './schema.js';

const SPAN_KIND: Record<number, string> = {
  [SpanKind.INTERNAL]: 'SPAN_KIND_INTERNAL', [SpanKind.SERVER]: 'SPAN_KIND_SERVER', [SpanKind.CLIENT]: 'SPAN_KIND_CLIENT',
  [SpanKind.PRODUCER]: 'SPAN_KIND_PRODUCER', [SpanKind.CONSUMER]: 'SPAN_KIND_CONSUMER',
};
const STATUS: Record<number, string> = { [SpanStatusCode.UNSET]: 'STATUS_CODE_UNSET', [SpanStatusCode.OK]: 'STATUS_CODE_OK', [SpanStatusCode.ERROR]: 'STATUS_CODE_ERROR' };

/** DateTime64(9) text: exact seconds.nanoseconds. */
export function dt64(t: HrTime): string {
  return `${t[0]}.${String(t[1]).padStart(9, '0')}`;
}

function durationNs(a: HrTime, b: HrTime): number {
  return Math.max(0, (b[0] - a[0]) * 1e9 + (b[1] - a[1]));
}

function attrMap(a: Attributes | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (a) for (const k of Object.keys(a)) out[k] = attrValueString(a[k]);
  return out;
}

const resourceCache = new WeakMap<Resource, { attrs: Record<string, string>; service: string; schemaUrl: string }>();
function res(r: Resource) {
  let v = resourceCache.get(r);
  if (!v) {
    const attrs = attrMap(r.attributes);
    v = { attrs, service: attrs['service.name'] ?? '', schemaUrl: r.schemaUrl ?? '' };
    resourceCache.set(r, v);
  }
  return v;
}

function add(out: Map<string, { lines: string[]; items: number }>, kind: string, line: string): void {
  let e = out.get(kind);
  if (!e) {
    e = { lines: [], items: 0 };
    out.set(kind, e);
  }
  e.lines.push(line);
  e.items++;
}

export function traceRows(td: Traces): string[] {
  const out: string[] = new Array<string>(td.length);
  for (let i = 0; i < td.length; i++) {
    const s = td[i];
    const ctx = s.spanContext();
    const r = res(s.resource);
    const evT: string[] = [];
    const evN: string[] = [];
    const evA: Array<Record<string, string>> = [];
    for (const e of s.events) {
      evT.push(dt64(e.time));
      evN.push(e.name);
      evA.push(attrMap(e.attributes));
    }
    const lT: string[] = [];
    const lS: string[] = [];
    const lTs: string[] = [];
    const lA: Array<Record<string, string>> = [];
    for (const l of s.links) {
      lT.push(l.context.traceId);
      lS.push(l.context.spanId);
      lTs.push(l.context.traceState?.serialize() ?? '');
      lA.push(attrMap(l.attributes));
    }
    out[i] = JSON.stringify({
      Timestamp: dt64(s.startTime),
      TraceId: ctx.traceId,
      SpanId: ctx.spanId,
      ParentSpanId: s.parentSpanContext?.spanId ?? '',
      TraceState: ctx.traceState?.serialize() ?? '',
      SpanName: s.name,
      SpanKind: SPAN_KIND[s.kind] ?? 'SPAN_KIND_UNSPECIFIED',
      ServiceName: r.service,
      ResourceAttributes: r.attrs,
      ScopeName: s.instrumentationScope.name,
      ScopeVersion: s.instrumentationScope.version ?? '',
      SpanAttributes: attrMap(s.attributes),
      Duration: durationNs(s.startTime, s.endTime),
      StatusCode: STATUS[s.status.code] ?? 'STATUS_CODE_UNSET',
      StatusMessage: s.status.message ?? '',
      'Events.Timestamp': evT,
      'Events.Name': evN,
      'Events.Attributes': evA,
      'Links.TraceId': lT,
      'Links.SpanId': lS,
      'Links.TraceState': lTs,
      'Links.Attributes': lA,
    });
  }
  return out;
}

function bodyString(b: unknown): string {
  if (b === undefined || b === null) return '';
  if (typeof b === 'string') return b;
  if (b instanceof Uint8Array) return Buffer.from(b).toString('base64');
  return typeof b === 'object' ? JSON.stringify(b) : String(b);
}

export function logRows(ld: Logs): string[] {
  return ld.map((l) => {
    const r = res(l.resource);
    const ctx = l.spanContext;
    return JSON.stringify({
      Timestamp: dt64(l.hrTime),
      TraceId: ctx?.traceId ?? '',
      SpanId: ctx?.spanId ?? '',
      TraceFlags: ctx?.traceFlags ?? 0,
      SeverityText: l.severityText ?? '',
      SeverityNumber: l.severityNumber ?? 0,
      ServiceName: r.service,
      Body: bodyString(l.body),
      ResourceSchemaUrl: r.schemaUrl,
      ResourceAttributes: r.attrs,
      ScopeSchemaUrl: l.instrumentationScope.schemaUrl ?? '',
      ScopeName: l.instrumentationScope.name,
      ScopeVersion: l.instrumentationScope.version ?? '',
      ScopeAttributes: {},
      LogAttributes: attrMap(l.attributes as Attributes),
    });
  });
}

/** OTLP AggregationTemporality numbers (DELTA=1, CUMULATIVE=2); the SDK's enum starts at 0. */
function temporality(m: MetricData): number {
  return m.aggregationTemporality === AggregationTemporality.DELTA ? 1 : 2;
}

const NO_EXEMPLARS = { 'Exemplars.FilteredAttributes': [], 'Exemplars.TimeUnix': [], 'Exemplars.Value': [], 'Exemplars.SpanId': [], 'Exemplars.TraceId': [] };

/** Rows per metric table kind. */
export function metricRows(md: Metrics): Map<MetricKind, { lines: string[]; items: number }> {
  const out = new Map<string, { lines: string[]; items: number }>();
  for (const rm of md) {
    const r = res(rm.resource);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const common = {
          ResourceAttributes: r.attrs, ResourceSchemaUrl: r.schemaUrl,
          ScopeName: sm.scope.name, ScopeVersion: sm.scope.version ?? '', ScopeAttributes: {}, ScopeDroppedAttrCount: 0, ScopeSchemaUrl: sm.scope.schemaUrl ?? '',
          ServiceName: r.service, MetricName: m.descriptor.name, MetricDescription: m.descriptor.description, MetricUnit: m.descriptor.unit,
        };
        for (const p of m.dataPoints as DataPoint<unknown>[]) {
          const base = { ...common, Attributes: attrMap(p.attributes), StartTimeUnix: dt64(p.startTime), TimeUnix: dt64(p.endTime) };
          if (m.dataPointType === DataPointType.GAUGE) {
            add(out, 'gauge', JSON.stringify({ ...base, Value: p.value as number, Flags: 0, ...NO_EXEMPLARS }));
          } else if (m.dataPointType === DataPointType.SUM) {
            add(out, 'sum', JSON.stringify({ ...base, Value: p.value as number, Flags: 0, ...NO_EXEMPLARS, AggregationTemporality: temporality(m), IsMonotonic: m.isMonotonic }));
          } else if (m.dataPointType === DataPointType.HISTOGRAM) {
            const h = p.value as Histogram;
            add(out, 'histogram', JSON.stringify({
              ...base, Count: h.count, Sum: h.sum ?? 0, BucketCounts: h.buckets.counts, ExplicitBounds: h.buckets.boundaries,
              ...NO_EXEMPLARS, Flags: 0, Min: h.min ?? 0, Max: h.max ?? 0, AggregationTemporality: temporality(m),
            }));
          } else if (m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) {
            const h = p.value as ExponentialHistogram;
            add(out, 'exp_histogram', JSON.stringify({
              ...base, Count: h.count, Sum: h.sum ?? 0, Scale: h.scale, ZeroCount: h.zeroCount,
              PositiveOffset: h.positive.offset, PositiveBucketCounts: h.positive.bucketCounts,
              NegativeOffset: h.negative.offset, NegativeBucketCounts: h.negative.bucketCounts,
              ...NO_EXEMPLARS, Flags: 0, Min: h.min ?? 0, Max: h.max ?? 0, AggregationTemporality: temporality(m),
            }));
          }
        }
      }
    }
  }
  return out as Map<MetricKind, { lines: string[]; items: number }>;
}

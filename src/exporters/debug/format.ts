import type { Attributes, HrTime } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { DataPoint, Histogram, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

function attrs(a: Attributes | Record<string, unknown>): string {
  return Object.entries(a).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`).join(' ');
}

function iso(t: HrTime): string {
  return new Date(t[0] * 1000 + t[1] / 1e6).toISOString();
}

function ms(t: HrTime): string {
  return (t[0] * 1000 + t[1] / 1e6).toFixed(3);
}

export function spanLine(s: ReadableSpan): string {
  const ctx = s.spanContext();
  const status = s.status.code === SpanStatusCode.ERROR ? ' status=ERROR' : '';
  return `span ${JSON.stringify(s.name)} kind=${SpanKind[s.kind]} trace=${ctx.traceId} span=${ctx.spanId}${s.parentSpanContext ? ` parent=${s.parentSpanContext.spanId}` : ''} duration=${ms(s.duration)}ms${status} ${attrs(s.attributes)}`;
}

export function spanDetailed(s: ReadableSpan): string {
  const ctx = s.spanContext();
  return [
    `Span #${ctx.spanId}`,
    `  Resource: ${attrs(s.resource.attributes)}`,
    `  Scope: ${s.instrumentationScope.name} ${s.instrumentationScope.version ?? ''}`,
    `  Name: ${s.name}`,
    `  Kind: ${SpanKind[s.kind]}`,
    `  Trace ID: ${ctx.traceId}`,
    `  Parent ID: ${s.parentSpanContext?.spanId ?? ''}`,
    `  Start: ${iso(s.startTime)}`,
    `  End: ${iso(s.endTime)}`,
    `  Status: ${SpanStatusCode[s.status.code]}${s.status.message ? ` ${s.status.message}` : ''}`,
    `  Attributes:`,
    ...Object.entries(s.attributes).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
    ...(s.links.length ? ['  Links:', ...s.links.map((l) => `    ${l.context.traceId}/${l.context.spanId}`)] : []),
  ].join('\n');
}

function pointValue(type: DataPointType, p: DataPoint<unknown>): string {
  if (type === DataPointType.HISTOGRAM) {
    const h = p.value as Histogram;
    return `count=${h.count} sum=${h.sum ?? 0} buckets=[${h.buckets.counts.join(',')}] bounds=[${h.buckets.boundaries.join(',')}]`;
  }
  return `value=${String(p.value)}`;
}

export function metricLines(rm: ResourceMetrics, detailed: boolean): string[] {
  const out: string[] = [];
  if (detailed) out.push(`ResourceMetrics: ${attrs(rm.resource.attributes)}`);
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      for (const p of m.dataPoints as DataPoint<unknown>[]) {
        out.push(`metric ${m.descriptor.name}${m.descriptor.unit ? `[${m.descriptor.unit}]` : ''} ${DataPointType[m.dataPointType]} ${attrs(p.attributes)} ${pointValue(m.dataPointType, p)}${detailed ? ` start=${iso(p.startTime)} end=${iso(p.endTime)}` : ''}`);
      }
    }
  }
  return out;
}

export function logLine(r: ReadableLogRecord, detailed: boolean): string {
  const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  const base = `log ${iso(r.hrTime)} ${r.severityText ?? ''} ${JSON.stringify(body)} ${attrs(r.attributes)}`;
  return detailed ? `${base} resource: ${attrs(r.resource.attributes)}` : base;
}

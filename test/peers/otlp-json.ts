// Minimal types for OTLP/JSON (the protobuf JSON mapping the Collector's file exporter writes)
// and flatteners that tests want: spans / metrics / log records with their resource attributes.

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
export interface OtlpKeyValue { key: string; value?: OtlpAnyValue }
export interface OtlpResource { attributes?: OtlpKeyValue[]; droppedAttributesCount?: number }
export interface OtlpScope { name?: string; version?: string; attributes?: OtlpKeyValue[] }

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind?: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpKeyValue[];
  events?: Array<{ timeUnixNano: string; name: string; attributes?: OtlpKeyValue[] }>;
  links?: Array<{ traceId: string; spanId: string; attributes?: OtlpKeyValue[] }>;
  status?: { code?: number; message?: string };
}
export interface OtlpTracesData {
  resourceSpans: Array<{ resource?: OtlpResource; schemaUrl?: string; scopeSpans?: Array<{ scope?: OtlpScope; spans?: OtlpSpan[] }> }>;
}

export interface OtlpNumberDataPoint { attributes?: OtlpKeyValue[]; startTimeUnixNano?: string; timeUnixNano: string; asDouble?: number; asInt?: string }
export interface OtlpMetric {
  name: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: OtlpNumberDataPoint[] };
  sum?: { dataPoints?: OtlpNumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: Array<Record<string, unknown>>; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints?: Array<Record<string, unknown>>; aggregationTemporality?: number };
  summary?: { dataPoints?: Array<Record<string, unknown>> };
}
export interface OtlpMetricsData {
  resourceMetrics: Array<{ resource?: OtlpResource; scopeMetrics?: Array<{ scope?: OtlpScope; metrics?: OtlpMetric[] }> }>;
}

export interface OtlpLogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
  traceId?: string;
  spanId?: string;
  eventName?: string;
}
export interface OtlpLogsData {
  resourceLogs: Array<{ resource?: OtlpResource; scopeLogs?: Array<{ scope?: OtlpScope; logRecords?: OtlpLogRecord[] }> }>;
}

/** AnyValue -> plain JS. int64 stays a decimal string, as OTLP/JSON sends it. */
export function anyValue(v: OtlpAnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue !== undefined) return attrs(v.kvlistValue.values);
  return undefined;
}

export function attrs(kvs: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export interface FlatSpan { span: OtlpSpan; attributes: Record<string, unknown>; resource: Record<string, unknown>; scope: OtlpScope }
export interface FlatMetric { metric: OtlpMetric; resource: Record<string, unknown>; scope: OtlpScope }
export interface FlatLogRecord { record: OtlpLogRecord; attributes: Record<string, unknown>; resource: Record<string, unknown>; scope: OtlpScope }

export function flattenSpans(data: OtlpTracesData[]): FlatSpan[] {
  return data.flatMap((d) => d.resourceSpans.flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((span) => ({
    span, attributes: attrs(span.attributes), resource: attrs(rs.resource?.attributes), scope: ss.scope ?? {},
  })))));
}

export function flattenMetrics(data: OtlpMetricsData[]): FlatMetric[] {
  return data.flatMap((d) => d.resourceMetrics.flatMap((rm) => (rm.scopeMetrics ?? []).flatMap((sm) => (sm.metrics ?? []).map((metric) => ({
    metric, resource: attrs(rm.resource?.attributes), scope: sm.scope ?? {},
  })))));
}

export function flattenLogs(data: OtlpLogsData[]): FlatLogRecord[] {
  return data.flatMap((d) => d.resourceLogs.flatMap((rl) => (rl.scopeLogs ?? []).flatMap((sl) => (sl.logRecords ?? []).map((record) => ({
    record, attributes: attrs(record.attributes), resource: attrs(rl.resource?.attributes), scope: sl.scope ?? {},
  })))));
}

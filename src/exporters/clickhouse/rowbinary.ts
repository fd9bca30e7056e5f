/**
 * Rows for the clickhouseexporter schema in ClickHouse's RowBinary format: the INSERT's columns in
 * order, each value in its binary form with no names, types or delimiters
 * (https://clickhouse.com/docs/interfaces/formats/RowBinary). Same values as the JSONEachRow rows of
 * rows.ts; encodings used here:
 *   String / LowCardinality(String)   varint byte length + UTF-8 bytes (LowCardinality is transparent)
 *   UInt8/Bool, Int32, UInt32          little-endian, fixed width
 *   UInt64, DateTime64(9)              8 bytes little-endian (DateTime64(9) = Int64 ns since the epoch)
 *   Float64                            8 bytes IEEE-754 little-endian
 *   Array(T)                           varint element count + elements
 *   Map(K, V)                          varint pair count + key, value, key, value…
 *   Nested columns (Events.*, Links.*, Exemplars.*)  one Array(T) per sub-column, as listed in the INSERT
 * Rows are written straight into one growable buffer per table kind that is reused across calls (the
 * ProtoWriter style of src/internal/protobuf.ts); resource attribute maps are encoded once per Resource.
 * RowBinary payloads have no header, so queued payloads of the same table concatenate into more rows.
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, ExponentialHistogram, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { attrValueString } from '../../internal/prometheus/labels.js';
import { ByteWriter } from '../../internal/byte-writer.js';
import type { MetricKind } from './schema.js';

const TWO_32 = 4294967296;

/** RowBinary writer: ByteWriter's varints (lengths, counts) and strings plus little-endian fixed-width values. */
export class RowBinaryWriter extends ByteWriter {
  uint8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v | 0, this.pos);
    this.pos += 4;
  }
  /** Two 32-bit halves, low first. */
  #u64(lo: number, hi: number): void {
    this.ensure(8);
    const b = this.buf;
    const p = this.pos;
    b.writeUInt32LE(lo >>> 0, p);
    b.writeUInt32LE(hi >>> 0, p + 4);
    this.pos = p + 8;
  }
  /** UInt64 from a non-negative safe integer (negative and fractional values are clamped/truncated). */
  uint64(v: number): void {
    if (!(v > 0)) return this.#u64(0, 0);
    if (v > Number.MAX_SAFE_INTEGER) return this.uint64Big(BigInt(Math.min(v, 1.8446744073709552e19 - 2048)));
    v = Math.floor(v);
    const hi = Math.floor(v / TWO_32);
    this.#u64(v - hi * TWO_32, hi);
  }
  uint64Big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }
  /**
   * DateTime64(9) from an HrTime: Int64 nanoseconds since the epoch, exact (sec × 1e9 + ns does not
   * fit a double, so the product is built from 16-bit halves of `sec`, each step below 2^53).
   */
  dt64(t: HrTime): void {
    const sec = t[0];
    const ns = t[1];
    if (sec < 0 || sec >= TWO_32 || !Number.isInteger(sec) || !Number.isInteger(ns)) {
      return this.uint64Big(BigInt(Math.trunc(sec)) * 1_000_000_000n + BigInt(Math.trunc(ns)));
    }
    const sh = Math.floor(sec / 65536);
    const sl = sec - sh * 65536;
    const p1 = sh * 1e9; // × 2^16
    const p0 = sl * 1e9 + ns;
    const p1h = Math.floor(p1 / 65536);
    const x = (p1 - p1h * 65536) * 65536 + p0;
    const carry = Math.floor(x / TWO_32);
    this.#u64(x - carry * TWO_32, p1h + carry);
  }
  float64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  /** String: varint byte length + UTF-8. */
  string(s: string): void {
    this.lenString(s);
  }
  /** Copies bytes already written at [start, end) to the end (a repeated row prefix). */
  repeat(start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    this.buf.copy(this.buf, this.pos, start, end);
    this.pos += n;
  }
  /** Map(String, String) of attributes: values as text (arrays as JSON), as rows.ts's attrMap. */
  attrs(a: Attributes | undefined): void {
    if (!a) return this.uint8(0);
    const keys = Object.keys(a);
    this.varint(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      this.string(k);
      this.string(attrValueString(a[k]));
    }
  }
  float64Array(v: ArrayLike<number>): void {
    this.varint(v.length);
    this.ensure(v.length * 8);
    for (let i = 0; i < v.length; i++) {
      this.buf.writeDoubleLE(v[i], this.pos);
      this.pos += 8;
    }
  }
  uint64Array(v: ArrayLike<number>): void {
    this.varint(v.length);
    for (let i = 0; i < v.length; i++) this.uint64(v[i]);
  }
}

function strBytes(s: string): Buffer {
  const w = new RowBinaryWriter(16 + s.length * 3);
  w.string(s);
  return w.finish();
}

const SPAN_KIND: Record<number, Buffer> = {
  [SpanKind.INTERNAL]: strBytes('SPAN_KIND_INTERNAL'), [SpanKind.SERVER]: strBytes('SPAN_KIND_SERVER'), [SpanKind.CLIENT]: strBytes('SPAN_KIND_CLIENT'),
  [SpanKind.PRODUCER]: strBytes('SPAN_KIND_PRODUCER'), [SpanKind.CONSUMER]: strBytes('SPAN_KIND_CONSUMER'),
};
const SPAN_KIND_UNSPECIFIED = strBytes('SPAN_KIND_UNSPECIFIED');
const STATUS: Record<number, Buffer> = {
  [SpanStatusCode.UNSET]: strBytes('STATUS_CODE_UNSET'), [SpanStatusCode.OK]: strBytes('STATUS_CODE_OK'), [SpanStatusCode.ERROR]: strBytes('STATUS_CODE_ERROR'),
};

/** A resource's encoded columns: ServiceName, ResourceAttributes, ResourceSchemaUrl. */
interface ResourceBytes {
  readonly service: Buffer;
  readonly attrs: Buffer;
  readonly schemaUrl: Buffer;
}

function durationNs(a: HrTime, b: HrTime): number {
  return Math.max(0, (b[0] - a[0]) * 1e9 + (b[1] - a[1]));
}

function bodyString(b: unknown): string {
  if (b === undefined || b === null) return '';
  if (typeof b === 'string') return b;
  if (b instanceof Uint8Array) return Buffer.from(b).toString('base64');
  return typeof b === 'object' ? JSON.stringify(b) : String(b);
}

/** OTLP AggregationTemporality numbers (DELTA=1, CUMULATIVE=2); the SDK's enum starts at 0. */
function temporality(m: MetricData): number {
  return m.aggregationTemporality === AggregationTemporality.DELTA ? 1 : 2;
}

const MAP = 'Map(LowCardinality(String), String)';
const LC = 'LowCardinality(String)';
const DT = 'DateTime64(9)';
const METRIC_COMMON: Record<string, string> = {
  ResourceAttributes: MAP, ResourceSchemaUrl: 'String', ScopeName: 'String', ScopeVersion: 'String', ScopeAttributes: MAP,
  ScopeDroppedAttrCount: 'UInt32', ScopeSchemaUrl: 'String', ServiceName: LC, MetricName: 'String', MetricDescription: 'String',
  MetricUnit: 'String', Attributes: MAP, StartTimeUnix: DT, TimeUnix: DT, Flags: 'UInt32',
  'Exemplars.FilteredAttributes': `Array(${MAP})`, 'Exemplars.TimeUnix': `Array(${DT})`, 'Exemplars.Value': 'Array(Float64)',
  'Exemplars.SpanId': 'Array(String)', 'Exemplars.TraceId': 'Array(String)', AggregationTemporality: 'Int32',
  Count: 'UInt64', Sum: 'Float64', Min: 'Float64', Max: 'Float64',
};
/**
 * The ClickHouse type of every column this encoder writes, per table kind, as in sql/*_table.sql (a unit
 * test compares them with the DDL). They go into the RowBinaryWithNamesAndTypes header, so ClickHouse
 * checks them against the table: a column whose type was changed is a clear error (INCORRECT_DATA,
 * "Type of 'Duration' must be Int32, not UInt64") instead of bytes read as another type.
 */
export const COLUMN_TYPES: Record<'traces' | 'logs' | MetricKind, Record<string, string>> = {
  traces: {
    Timestamp: DT, TraceId: 'String', SpanId: 'String', ParentSpanId: 'String', TraceState: 'String', SpanName: LC, SpanKind: LC,
    ServiceName: LC, ResourceAttributes: MAP, ScopeName: 'String', ScopeVersion: 'String', SpanAttributes: MAP, Duration: 'UInt64',
    StatusCode: LC, StatusMessage: 'String', 'Events.Timestamp': `Array(${DT})`, 'Events.Name': `Array(${LC})`,
    'Events.Attributes': `Array(${MAP})`, 'Links.TraceId': 'Array(String)', 'Links.SpanId': 'Array(String)',
    'Links.TraceState': 'Array(String)', 'Links.Attributes': `Array(${MAP})`,
  },
  logs: {
    Timestamp: DT, TraceId: 'String', SpanId: 'String', TraceFlags: 'UInt8', SeverityText: LC, SeverityNumber: 'UInt8',
    ServiceName: LC, Body: 'String', ResourceSchemaUrl: LC, ResourceAttributes: MAP, ScopeSchemaUrl: LC, ScopeName: 'String',
    ScopeVersion: LC, ScopeAttributes: MAP, LogAttributes: MAP,
  },
  gauge: { ...METRIC_COMMON, Value: 'Float64' },
  sum: { ...METRIC_COMMON, Value: 'Float64', IsMonotonic: 'Bool' },
  histogram: { ...METRIC_COMMON, BucketCounts: 'Array(UInt64)', ExplicitBounds: 'Array(Float64)' },
  exp_histogram: { ...METRIC_COMMON, Scale: 'Int32', ZeroCount: 'UInt64', PositiveOffset: 'Int32', PositiveBucketCounts: 'Array(UInt64)', NegativeOffset: 'Int32', NegativeBucketCounts: 'Array(UInt64)' },
  summary: {}, // not written
};

/**
 * The RowBinaryWithNamesAndTypes header for an INSERT's column list: column count, the names, then the
 * types. Rows are queued without it (payloads concatenate); it is sent in front of each request.
 */
export function rowBinaryHeader(kind: 'traces' | 'logs' | MetricKind, columns: readonly string[]): Buffer {
  const types = COLUMN_TYPES[kind];
  const w = new RowBinaryWriter(4096);
  w.varint(columns.length);
  for (const c of columns) w.string(c);
  for (const c of columns) {
    const t = types[c];
    if (t === undefined) throw new Error(`clickhouse: no RowBinary type for ${kind} column ${c}`);
    w.string(t);
  }
  return w.finish();
}

/** Exemplars.FilteredAttributes, .TimeUnix, .Value, .SpanId, .TraceId: five empty arrays. */
const NO_EXEMPLARS = Buffer.alloc(5);

/**
 * RowBinary encoder of one exporter: reused buffers (one per table kind) and encoded resources.
 * Not reentrant: each call returns copies and resets its buffers before returning.
 */
export class RowBinaryEncoder {
  readonly #resources = new WeakMap<Resource, ResourceBytes>();
  readonly #writers = new Map<string, RowBinaryWriter>();

  #writer(kind: string): RowBinaryWriter {
    let w = this.#writers.get(kind);
    if (!w) {
      w = new RowBinaryWriter(64 * 1024);
      this.#writers.set(kind, w);
    }
    return w;
  }

  #resource(r: Resource): ResourceBytes {
    let v = this.#resources.get(r);
    if (!v) {
      const w = new RowBinaryWriter(1024);
      w.attrs(r.attributes);
      v = { service: strBytes(attrValueString(r.attributes['service.name'])), attrs: w.finish(), schemaUrl: strBytes(r.schemaUrl ?? '') };
      this.#resources.set(r, v);
    }
    return v;
  }

  /** otel_traces rows in the column order of sql/traces_insert.sql. */
  traces(td: Traces): Buffer {
    const w = this.#writer('traces');
    w.reset(); // a throw in an earlier call may have left bytes behind
    for (let i = 0; i < td.length; i++) {
      const s = td[i];
      const ctx = s.spanContext();
      const r = this.#resource(s.resource);
      w.dt64(s.startTime); // Timestamp
      w.string(ctx.traceId); // TraceId
      w.string(ctx.spanId); // SpanId
      w.string(s.parentSpanContext?.spanId ?? ''); // ParentSpanId
      w.string(ctx.traceState?.serialize() ?? ''); // TraceState
      w.string(s.name); // SpanName
      w.raw(SPAN_KIND[s.kind] ?? SPAN_KIND_UNSPECIFIED); // SpanKind
      w.raw(r.service); // ServiceName
      w.raw(r.attrs); // ResourceAttributes
      w.string(s.instrumentationScope.name); // ScopeName
      w.string(s.instrumentationScope.version ?? ''); // ScopeVersion
      w.attrs(s.attributes); // SpanAttributes
      w.uint64(durationNs(s.startTime, s.endTime)); // Duration
      w.raw(STATUS[s.status.code] ?? STATUS[SpanStatusCode.UNSET]); // StatusCode
      w.string(s.status.message ?? ''); // StatusMessage
      const ev = s.events;
      const ne = ev.length;
      w.varint(ne); // Events.Timestamp
      for (let j = 0; j < ne; j++) w.dt64(ev[j].time);
      w.varint(ne); // Events.Name
      for (let j = 0; j < ne; j++) w.string(ev[j].name);
      w.varint(ne); // Events.Attributes
      for (let j = 0; j < ne; j++) w.attrs(ev[j].attributes);
      const ln = s.links;
      const nl = ln.length;
      w.varint(nl); // Links.TraceId
      for (let j = 0; j < nl; j++) w.string(ln[j].context.traceId);
      w.varint(nl); // Links.SpanId
      for (let j = 0; j < nl; j++) w.string(ln[j].context.spanId);
      w.varint(nl); // Links.TraceState
      for (let j = 0; j < nl; j++) w.string(ln[j].context.traceState?.serialize() ?? '');
      w.varint(nl); // Links.Attributes
      for (let j = 0; j < nl; j++) w.attrs(ln[j].attributes);
    }
    const out = w.finish();
    w.reset();
    return out;
  }

  /** otel_logs rows in the column order of sql/logs_insert.sql. */
  logs(ld: Logs): Buffer {
    const w = this.#writer('logs');
    w.reset();
    for (let i = 0; i < ld.length; i++) {
      const l = ld[i];
      const r = this.#resource(l.resource);
      const ctx = l.spanContext;
      w.dt64(l.hrTime); // Timestamp
      w.string(ctx?.traceId ?? ''); // TraceId
      w.string(ctx?.spanId ?? ''); // SpanId
      w.uint8(ctx?.traceFlags ?? 0); // TraceFlags
      w.string(l.severityText ?? ''); // SeverityText
      w.uint8(l.severityNumber ?? 0); // SeverityNumber
      w.raw(r.service); // ServiceName
      w.string(bodyString(l.body)); // Body
      w.raw(r.schemaUrl); // ResourceSchemaUrl
      w.raw(r.attrs); // ResourceAttributes
      w.string(l.instrumentationScope.schemaUrl ?? ''); // ScopeSchemaUrl
      w.string(l.instrumentationScope.name); // ScopeName
      w.string(l.instrumentationScope.version ?? ''); // ScopeVersion
      w.uint8(0); // ScopeAttributes (empty map)
      w.attrs(l.attributes as Attributes); // LogAttributes
    }
    const out = w.finish();
    w.reset();
    return out;
  }

  /** Rows per metric table kind (gauge, sum, histogram, exp_histogram), column order of sql/metrics_*_insert.sql. */
  metrics(md: Metrics): Map<MetricKind, { data: Buffer; items: number }> {
    const items = new Map<MetricKind, number>();
    for (const w of this.#writers.values()) w.reset();
    for (const rm of md) {
      const r = this.#resource(rm.resource);
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const t = m.dataPointType;
          const kind: MetricKind | undefined = t === DataPointType.GAUGE ? 'gauge' : t === DataPointType.SUM ? 'sum'
            : t === DataPointType.HISTOGRAM ? 'histogram' : t === DataPointType.EXPONENTIAL_HISTOGRAM ? 'exp_histogram' : undefined;
          if (kind === undefined) continue;
          const points = m.dataPoints as DataPoint<unknown>[];
          if (points.length === 0) continue;
          const w = this.#writer(kind);
          items.set(kind, (items.get(kind) ?? 0) + points.length);
          // Columns ResourceAttributes … MetricUnit are the same for every point of the metric:
          // written once, then copied.
          const prefixStart = w.pos;
          w.raw(r.attrs); // ResourceAttributes
          w.raw(r.schemaUrl); // ResourceSchemaUrl
          w.string(sm.scope.name); // ScopeName
          w.string(sm.scope.version ?? ''); // ScopeVersion
          w.uint8(0); // ScopeAttributes (empty map)
          w.uint32(0); // ScopeDroppedAttrCount
          w.string(sm.scope.schemaUrl ?? ''); // ScopeSchemaUrl
          w.raw(r.service); // ServiceName
          w.string(m.descriptor.name); // MetricName
          w.string(m.descriptor.description); // MetricDescription
          w.string(m.descriptor.unit); // MetricUnit
          const prefixEnd = w.pos;
          const temp = kind === 'gauge' ? 0 : temporality(m);
          for (let j = 0; j < points.length; j++) {
            const p = points[j];
            if (j > 0) w.repeat(prefixStart, prefixEnd);
            w.attrs(p.attributes); // Attributes
            w.dt64(p.startTime); // StartTimeUnix
            w.dt64(p.endTime); // TimeUnix
            if (kind === 'gauge' || kind === 'sum') {
              w.float64(p.value as number); // Value
              w.uint32(0); // Flags
              w.raw(NO_EXEMPLARS);
              if (kind === 'sum') {
                w.int32(temp); // AggregationTemporality
                w.uint8(m.dataPointType === DataPointType.SUM && m.isMonotonic ? 1 : 0); // IsMonotonic
              }
            } else if (kind === 'histogram') {
              const h = p.value as Histogram;
              w.uint64(h.count); // Count
              w.float64(h.sum ?? 0); // Sum
              w.uint64Array(h.buckets.counts); // BucketCounts
              w.float64Array(h.buckets.boundaries); // ExplicitBounds
              w.raw(NO_EXEMPLARS);
              w.uint32(0); // Flags
              w.float64(h.min ?? 0); // Min
              w.float64(h.max ?? 0); // Max
              w.int32(temp); // AggregationTemporality
            } else {
              const h = p.value as ExponentialHistogram;
              w.uint64(h.count); // Count
              w.float64(h.sum ?? 0); // Sum
              w.int32(h.scale); // Scale
              w.uint64(h.zeroCount); // ZeroCount
              w.int32(h.positive.offset); // PositiveOffset
              w.uint64Array(h.positive.bucketCounts); // PositiveBucketCounts
              w.int32(h.negative.offset); // NegativeOffset
              w.uint64Array(h.negative.bucketCounts); // NegativeBucketCounts
              w.raw(NO_EXEMPLARS);
              w.uint32(0); // Flags
              w.float64(h.min ?? 0); // Min
              w.float64(h.max ?? 0); // Max
              w.int32(temp); // AggregationTemporality
            }
          }
        }
      }
    }
    const out = new Map<MetricKind, { data: Buffer; items: number }>();
    for (const [kind, n] of items) {
      const w = this.#writer(kind);
      out.set(kind, { data: w.finish(), items: n });
      w.reset();
    }
    return out;
  }
}

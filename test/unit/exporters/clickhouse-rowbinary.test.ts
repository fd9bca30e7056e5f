// clickhouse exporter, RowBinary: the writer's primitives (varint lengths, UInt64, DateTime64(9)
// precision, maps, unicode), and every table's rows decoded back with the column types read from the
// exporter's own DDL (sql/*_table.sql) in the INSERT's column order, compared with the JSONEachRow rows
// of the same data (both formats must carry the same values). Also: the exporter sends each format with
// its INSERT … FORMAT and queue key (RowBinary as RowBinaryWithNamesAndTypes: the header's types are
// the DDL's), and old (format-less) queue keys are JSONEachRow.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ValueType } from '@opentelemetry/api';
import type { HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { ExponentialHistogramMetricData } from '@opentelemetry/sdk-metrics';
import type { Issue } from '../../../src/config/schema.js';
import { INVALID } from '../../../src/config/schema.js';
import { parseQueueKey, queueKey } from '../../../src/exporters/clickhouse/clickhouse.js';
import { clickhouseExporterFactory as factory } from '../../../src/exporters/clickhouse/factory.js';
import { COLUMN_TYPES, RowBinaryEncoder, RowBinaryWriter, rowBinaryHeader } from '../../../src/exporters/clickhouse/rowbinary.js';
import { logRows, metricRows, traceRows } from '../../../src/exporters/clickhouse/rows.js';
import { insertColumns, insertFor, sqlDir } from '../../../src/exporters/clickhouse/schema.js';
import type { MetricKind } from '../../../src/exporters/clickhouse/schema.js';
import { resourceMetrics, sumMetric } from '../../../src/pdata/metrics.js';
import { SpanKind, SpanRecord, SpanStatusCode } from '../../../src/pdata/traces.js';
import { makeLogs, makeMetrics, makeSpans, testResource } from '../../helpers/data.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const bytes = (f: (w: RowBinaryWriter) => void): number[] => {
  const w = new RowBinaryWriter(4); // tiny: every write also exercises growth
  f(w);
  return [...w.finish()];
};

describe('RowBinaryWriter', () => {
  test('varint lengths at every byte boundary', () => {
    const cases: Array<[number, number[]]> = [
      [0, [0]], [1, [1]], [127, [0x7f]], [128, [0x80, 0x01]], [300, [0xac, 0x02]], [16383, [0xff, 0x7f]], [16384, [0x80, 0x80, 0x01]],
      [2 ** 31 - 1, [0xff, 0xff, 0xff, 0xff, 0x07]], [2 ** 31, [0x80, 0x80, 0x80, 0x80, 0x08]], [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
      [Number.MAX_SAFE_INTEGER, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ];
    for (const [v, want] of cases) assert.deepEqual(bytes((w) => w.varint(v)), want, String(v));
  });

  test('strings: length prefix in bytes (not UTF-16 units), empty, unicode, long', () => {
    const enc = (s: string) => bytes((w) => w.string(s));
    assert.deepEqual(enc(''), [0]);
    assert.deepEqual(enc('abc'), [3, 0x61, 0x62, 0x63]);
    for (const s of ['é', 'naïve', '☃', '🚀', 'a🚀b', '名前'.repeat(21), 'é'.repeat(63), 'é'.repeat(64), 'x'.repeat(127), 'x'.repeat(128), '🚀'.repeat(40), 'ü'.repeat(70_000), 'x'.repeat(70_000), '\u0000\n"\\']) {
      const utf8 = Buffer.from(s, 'utf8');
      const w = new RowBinaryWriter(4);
      w.varint(utf8.length);
      w.raw(utf8);
      assert.deepEqual(enc(s), [...w.finish()], `${s.slice(0, 8)}… (${s.length} chars, ${utf8.length} bytes)`);
    }
    // a lone surrogate becomes U+FFFD, as Buffer.from does (valid UTF-8 for ClickHouse)
    assert.deepEqual(enc('\ud800'), [3, 0xef, 0xbf, 0xbd]);
  });

  test('fixed-width integers and floats are little-endian', () => {
    assert.deepEqual(bytes((w) => w.uint8(0xab)), [0xab]);
    assert.deepEqual(bytes((w) => w.uint32(0x01020304)), [4, 3, 2, 1]);
    assert.deepEqual(bytes((w) => w.int32(-2)), [0xfe, 0xff, 0xff, 0xff]);
    assert.deepEqual(bytes((w) => w.float64(1.5)), [...Buffer.from(new Float64Array([1.5]).buffer)]);
    assert.deepEqual(bytes((w) => w.float64Array([0.005, Infinity])), [2, ...Buffer.from(new Float64Array([0.005, Infinity]).buffer)]);
  });

  test('UInt64: exact up to 2^53, clamped outside', () => {
    const u64 = (v: number) => Buffer.from(bytes((w) => w.uint64(v))).readBigUInt64LE(0);
    for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1_100_000_000, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) assert.equal(u64(v), BigInt(v), String(v));
    assert.equal(u64(-5), 0n);
    assert.equal(u64(NaN), 0n);
    assert.equal(u64(2 ** 60), 2n ** 60n);
    assert.equal(u64(1e30), 2n ** 64n - 2048n, 'beyond UInt64: the largest double below 2^64');
    assert.deepEqual(bytes((w) => w.uint64Array([1, 2 ** 40])), [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
  });

  test('DateTime64(9): exact Int64 nanoseconds for any HrTime', () => {
    const dt = (t: HrTime) => Buffer.from(bytes((w) => w.dt64(t))).readBigInt64LE(0);
    const ref = (t: HrTime) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    const fixed: HrTime[] = [[0, 0], [0, 1], [1, 0], [1_700_000_000, 123_456_789], [1_700_000_000, 999_999_999], [65535, 999_999_999], [65536, 0],
      [2 ** 32 - 1, 999_999_999], [4_102_444_800, 1], [2 ** 33, 5], [-1, 500_000_000]];
    for (const t of fixed) assert.equal(dt(t), ref(t), t.join(','));
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    for (let i = 0; i < 20_000; i++) {
      const t: HrTime = [rnd(2 ** 31) * 2 + rnd(2), rnd(1_000_000_000)];
      assert.equal(dt(t), ref(t), t.join(','));
    }
  });

  test('Map(String, String): pair count, then key/value pairs; values as text, arrays as JSON', () => {
    assert.deepEqual(bytes((w) => w.attrs(undefined)), [0]);
    assert.deepEqual(bytes((w) => w.attrs({})), [0]);
    assert.deepEqual(bytes((w) => w.attrs({ a: 'b', n: 1, t: true, l: ['x', '2'] })),
      [4, 1, 0x61, 1, 0x62, 1, 0x6e, 1, 0x31, 1, 0x74, 4, ...Buffer.from('true'), 1, 0x6c, 9, ...Buffer.from('["x","2"]')]);
    const big: Record<string, string> = {};
    for (let i = 0; i < 200; i++) big[`k${i}`] = 'v';
    assert.deepEqual(bytes((w) => w.attrs(big)).slice(0, 2), [200, 1], '200 pairs: a 2-byte count');
  });
});

// ---- a RowBinary reader driven by the DDL's column types ----

/** Column name → type from a CREATE TABLE file; Nested (a T, b U) becomes `X.a Array(T)`, `X.b Array(U)`. */
function ddlTypes(file: string): Map<string, string> {
  const text = readFileSync(join(sqlDir(), file), 'utf8');
  const out = new Map<string, string>();
  const body = text.slice(text.indexOf('(') + 1);
  const nested = /(\w+) Nested \(([\s\S]*?)\)\s*CODEC/g;
  for (const m of body.matchAll(nested)) {
    for (const line of m[2].split(',\n')) {
      const [name, ...type] = line.trim().split(/\s+/);
      out.set(`${m[1]}.${name}`, `Array(${type.join(' ')})`);
    }
  }
  for (const line of body.replace(nested, '').split('\n')) {
    const m = /^\s{4}(\w+) (.+?)(?: CODEC\(.*\))?(?: DEFAULT .*)?,?$/.exec(line);
    if (m && m[1] !== 'INDEX') out.set(m[1], m[2] === 'Boolean' ? 'Bool' : m[2]); // Boolean is an alias of Bool
  }
  return out;
}

/** The INSERT's column list, in order. */
function columnsOf(kind: 'traces' | 'logs' | MetricKind): string[] {
  const sql = insertFor(kind, factory.createDefaultConfig(), 'rowbinary');
  assert.match(sql, /\) FORMAT RowBinaryWithNamesAndTypes$/);
  return insertColumns(sql);
}

class Reader {
  pos = 0;
  readonly b: Buffer;
  constructor(b: Buffer) {
    this.b = b;
  }
  varUInt(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = this.b[this.pos++];
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 128;
    }
  }
  read(type: string): unknown {
    const b = this.b;
    const p = this.pos;
    if (type === 'String' || type === 'LowCardinality(String)') {
      const n = this.varUInt();
      const s = b.toString('utf8', this.pos, this.pos + n);
      this.pos += n;
      return s;
    }
    if (type === 'DateTime64(9)') {
      this.pos += 8;
      const ns = b.readBigInt64LE(p);
      return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`; // the JSONEachRow text form
    }
    const fixed: Record<string, [number, () => unknown]> = {
      UInt8: [1, () => b.readUInt8(p)], Bool: [1, () => { const v = b.readUInt8(p); assert.ok(v <= 1); return v === 1; }],
      UInt32: [4, () => b.readUInt32LE(p)], Int32: [4, () => b.readInt32LE(p)],
      UInt64: [8, () => Number(b.readBigUInt64LE(p))], Float64: [8, () => b.readDoubleLE(p)],
    };
    const f = fixed[type];
    if (f) {
      this.pos += f[0];
      return f[1]();
    }
    const arr = /^Array\((.*)\)$/.exec(type);
    if (arr) return Array.from({ length: this.varUInt() }, () => this.read(arr[1]));
    const map = /^Map\((.*), (.*)\)$/.exec(type);
    if (map) {
      const out: Record<string, unknown> = {};
      const n = this.varUInt();
      for (let i = 0; i < n; i++) {
        const k = this.read(map[1]) as string;
        out[k] = this.read(map[2]);
      }
      return out;
    }
    throw new Error(`reader: unsupported type ${type}`);
  }
}

/** Decodes all rows of a RowBinary payload with the DDL's types for the INSERT's columns. */
function decode(data: Buffer, kind: 'traces' | 'logs' | MetricKind, ddlFile: string): Array<Record<string, unknown>> {
  const types = ddlTypes(ddlFile);
  const cols = columnsOf(kind);
  for (const c of cols) assert.ok(types.has(c), `INSERT column ${c} is in ${ddlFile}`);
  const r = new Reader(data);
  const rows: Array<Record<string, unknown>> = [];
  while (r.pos < data.length) {
    const row: Record<string, unknown> = {};
    for (const c of cols) row[c] = r.read(types.get(c)!);
    rows.push(row);
  }
  assert.equal(r.pos, data.length, 'no trailing bytes');
  return rows;
}

const sec = 1_700_000_000;
function richSpans() {
  const res = testResource({ 'k8s.pod.name': 'pod-ü' });
  return [
    new SpanRecord({
      name: 'GET /api/items', kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: 'a000000000000001',
      traceState: 'vendor=abc', startTime: [sec, 123_456_789], endTime: [sec + 100_000, 223_456_789],
      status: { code: SpanStatusCode.ERROR, message: 'bööm' },
      attributes: { 'http.response.status_code': 500, tags: ['a', 'b'], ok: false, big: 2 ** 53 },
      events: [{ name: 'retry', time: [sec, 999_999_999], attributes: { attempt: 2 } }, { name: 'x', time: [sec + 1, 0] }],
      links: [{ context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1, traceState: undefined }, attributes: { k: 'v' } },
        { context: { traceId: '33333333333333333333333333333333', spanId: '4444444444444444', traceFlags: 0 } }],
      resource: res, instrumentationScope: { name: 'sonde.l7', version: '0.1.0' },
    }),
    new SpanRecord({
      name: '', kind: 99 as SpanKind, traceId: '', spanId: '', startTime: [sec, 5], endTime: [sec - 1, 0], status: { code: SpanStatusCode.OK },
      attributes: { long: 'é'.repeat(40_000) }, resource: res, instrumentationScope: { name: '' },
    }),
    ...makeSpans(3),
  ];
}

const DDL: Record<string, string> = {
  traces: 'traces_table.sql', logs: 'logs_table.sql', gauge: 'metrics_gauge_table.sql', sum: 'metrics_sum_table.sql',
  histogram: 'metrics_histogram_table.sql', exp_histogram: 'metrics_exp_histogram_table.sql',
};

describe('RowBinaryWithNamesAndTypes header', () => {
  test('the header types are the DDL types of every INSERT column', () => {
    for (const [kind, file] of Object.entries(DDL) as Array<['traces' | 'logs' | MetricKind, string]>) {
      const ddl = ddlTypes(file);
      const cols = columnsOf(kind);
      assert.deepEqual(Object.fromEntries(cols.map((c) => [c, COLUMN_TYPES[kind][c]])), Object.fromEntries(cols.map((c) => [c, ddl.get(c)])), kind);
      // header = count, names, types
      const r = new Reader(rowBinaryHeader(kind, cols));
      const n = r.varUInt();
      assert.equal(n, cols.length);
      const names = Array.from({ length: n }, () => r.read('String'));
      const types = Array.from({ length: n }, () => r.read('String'));
      assert.deepEqual(names, cols);
      assert.deepEqual(types, cols.map((c) => ddl.get(c)));
      assert.equal(r.pos, r.b.length);
    }
    assert.throws(() => rowBinaryHeader('traces', ['Nope']), /no RowBinary type for traces column Nope/);
  });
});

describe('RowBinary rows = JSONEachRow rows, decoded with the DDL types', () => {
  test('otel_traces (events, links, unknown SpanKind, negative duration clamped, 80 kB attribute)', () => {
    const spans = richSpans();
    const rows = decode(new RowBinaryEncoder().traces(spans), 'traces', 'traces_table.sql');
    assert.deepEqual(rows, traceRows(spans).map((l) => JSON.parse(l) as unknown));
    assert.equal(rows[0].Duration, 100_000_100_000_000);
    assert.equal(rows[1].SpanKind, 'SPAN_KIND_UNSPECIFIED');
    assert.equal(rows[1].Duration, 0);
  });

  test('otel_logs', () => {
    const logs = makeLogs(3);
    logs.push({ ...logs[0], body: { a: [1, 'ö'] }, severityNumber: undefined, severityText: undefined, spanContext: { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 } });
    logs.push({ ...logs[0], body: new Uint8Array([0, 255]), hrTime: [sec, 7] });
    const rows = decode(new RowBinaryEncoder().logs(logs), 'logs', 'logs_table.sql');
    assert.deepEqual(rows, logRows(logs).map((l) => JSON.parse(l) as unknown));
  });

  test('metrics: gauge, sum, histogram, exponential histogram (shared columns copied per point)', () => {
    const res = testResource({ 'service.name': 'm' });
    const md = [...makeMetrics(res), ...makeMetrics(testResource({ 'service.name': 'n' }), 3), resourceMetrics(res, { name: 's', version: '1', schemaUrl: 'https://x' }, [
      sumMetric('delta', 'D', 'By', [{ startTime: [sec, 0], endTime: [sec, 1], attributes: {}, value: -2.5 }, { startTime: [sec, 0], endTime: [sec, 2], attributes: { a: 'b' }, value: 2 ** 60 }], { monotonic: false, temporality: AggregationTemporality.DELTA }),
      {
        descriptor: { name: 'exp', description: '', unit: 'ms', valueType: ValueType.DOUBLE }, aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
        dataPoints: [{ startTime: [sec, 0], endTime: [sec, 9], attributes: { r: '/' }, value: { count: 6, sum: 1, scale: -1, zeroCount: 2, positive: { offset: -3, bucketCounts: [1, 2] }, negative: { offset: 0, bucketCounts: [] } } }],
      } satisfies ExponentialHistogramMetricData,
    ])];
    const enc = new RowBinaryEncoder();
    const rb = enc.metrics(md);
    const json = metricRows(md);
    assert.deepEqual([...rb.keys()].sort(), [...json.keys()].sort());
    for (const [kind, { data, items }] of rb) {
      const want = json.get(kind)!;
      assert.equal(items, want.items, kind);
      assert.deepEqual(decode(data, kind, DDL[kind]), want.lines.map((l) => JSON.parse(l) as unknown), kind);
    }
    // The encoder's buffers are reused: a second call yields the same bytes, not the first call's leftovers.
    const again = enc.metrics(md);
    for (const [kind, { data }] of rb) assert.deepEqual(again.get(kind)!.data, data);
    assert.equal(enc.metrics([]).size, 0);
  });
});

describe('clickhouse exporter formats', () => {
  test('queue keys: JSONEachRow keeps the bare table kind (payloads queued by older versions), RowBinary adds :rowbinary', () => {
    assert.equal(queueKey('traces', 'jsoneachrow'), 'traces');
    assert.equal(queueKey('exp_histogram', 'rowbinary'), 'exp_histogram:rowbinary');
    assert.deepEqual(parseQueueKey('traces'), { kind: 'traces', format: 'jsoneachrow' });
    assert.deepEqual(parseQueueKey('logs:rowbinary'), { kind: 'logs', format: 'rowbinary' });
    assert.equal(factory.createDefaultConfig().format, 'rowbinary');
  });

  for (const format of ['rowbinary', 'jsoneachrow'] as const) {
    test(`format ${format}: INSERT … FORMAT ${format === 'rowbinary' ? 'RowBinaryWithNamesAndTypes (header + rows)' : 'JSONEachRow'} with the encoder's bytes`, async () => {
      const seen: Array<{ query: string; body: Buffer }> = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({ query: new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '', body: Buffer.concat(chunks) });
          res.writeHead(200, { 'X-ClickHouse-Summary': '{}' }).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const issues: Issue[] = [];
      const cfg = factory.configSchema.parse({ endpoint: `http://127.0.0.1:${port}`, create_schema: false, compress: 'none', format, sending_queue: { enabled: false } }, ['clickhouse'], issues, factory.createDefaultConfig());
      assert.deepEqual(issues, []);
      assert.ok(cfg !== INVALID);
      const e = factory.createTraces!(testSettings('clickhouse', 'exporter'), cfg);
      await e.start(new TestHost());
      const spans = richSpans();
      try {
        await e.consumeTraces(spans);
      } finally {
        await e.shutdown();
        server.close();
      }
      assert.equal(seen.length, 1);
      assert.match(seen[0].query, format === 'rowbinary' ? /^INSERT INTO `default`\.`otel_traces` \([\s\S]*`Links\.Attributes`\s*\) FORMAT RowBinaryWithNamesAndTypes$/ : /FORMAT JSONEachRow$/);
      const want = format === 'rowbinary'
        ? Buffer.concat([rowBinaryHeader('traces', columnsOf('traces')), new RowBinaryEncoder().traces(spans)])
        : Buffer.from(`${traceRows(spans).join('\n')}\n`);
      assert.deepEqual(seen[0].body, want);
    });
  }
});

// The direct OTLP trace encoder produces the same ExportTraceServiceRequest as the official serializer:
// both outputs are decoded with the upstream .proto files and compared field by field.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import protobuf from 'protobufjs';
import { OtlpTraceEncoder } from '../../../src/internal/otlp/traces-encoder.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { AttributePart, SpanKind, SpanRecord, SpanStatusCode } from '../../../src/pdata/traces.js';
import { makeSpans, testResource } from '../../helpers/data.js';

const require = createRequire(import.meta.url);
const protoRoot = dirname(require.resolve('@elastic/mockotlpserver/package.json'));
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(protoRoot, target);
root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
const Request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');

function decode(buf: Uint8Array): unknown {
  return Request.toObject(Request.decode(buf), { longs: String, bytes: String, enums: Number, defaults: true });
}

function official(spans: SpanRecord[]): Uint8Array {
  const b = ProtobufTraceSerializer.serializeRequest(spans);
  assert.ok(b);
  return b;
}

test('same message as the official ProtobufTraceSerializer for varied spans', () => {
  const r1 = resourceFromAttributes({ 'service.name': 'api', 'process.pid': 4242, 'host.arch': 'x64', weird: 'ünïcødé ✓ 🚀' });
  const r2 = testResource();
  const scopeA = { name: 'sonde/ebpf', version: '0.1.0' };
  const scopeB = { name: 'other', schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' };
  const long = 'x'.repeat(20_000);
  const spans: SpanRecord[] = [
    new SpanRecord({
      name: 'GET /users/{id}', kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331',
      parentSpanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED,
      startTime: [1_732_000_000, 123_456_789], endTime: [1_732_000_001, 999_999_999],
      status: { code: SpanStatusCode.ERROR, message: 'boom' },
      attributes: { 'http.request.method': 'GET', 'http.response.status_code': 500, ratio: 0.25, neg: -17, ok: false, tags: ['a', 'b'], nums: [1, 2, 3], big: 2 ** 40, 'db.query.text': long },
      resource: r1, instrumentationScope: scopeA,
      events: [{ name: 'exception', time: [1_732_000_000, 5], attributes: { 'exception.type': 'E' } }],
      links: [{ context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1, isRemote: true, traceState: new TraceState('a=1,b=2') }, attributes: { 'link.kind': 'peer' } }],
    }),
    new SpanRecord({
      name: 'SELECT orders', kind: SpanKind.CLIENT, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7',
      startTime: [1_732_000_000, 0], endTime: [1_732_000_000, 1], attributes: {}, resource: r1, instrumentationScope: scopeB,
      traceState: 'vendor=x',
    }),
    ...(makeSpans(5, r2) as SpanRecord[]),
    ...(makeSpans(2, r1) as SpanRecord[]),
  ];
  const enc = new OtlpTraceEncoder();
  const ours = enc.encode(spans);
  assert.deepEqual(decode(ours), decode(official(spans)));
  // Encoding again (cached resources/scopes, reused buffer) gives the same bytes.
  assert.deepEqual(enc.encode(spans), ours);
  // A different batch after that is not polluted by the previous one.
  const few = spans.slice(1, 3);
  assert.deepEqual(decode(enc.encode(few)), decode(official(few)));
});

test('timestamps are exact to the nanosecond (no float rounding)', () => {
  const enc = new OtlpTraceEncoder();
  const s = makeSpans(1)[0] as SpanRecord;
  s.startTime = [1_999_999_999, 999_999_999];
  s.endTime = [4_000_000_000, 1];
  const d = decode(enc.encode([s])) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ startTimeUnixNano: string; endTimeUnixNano: string }> }> }> };
  const sp = d.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(sp.startTimeUnixNano, '1999999999999999999');
  assert.equal(sp.endTimeUnixNano, '4000000000000000001');
});

test('fast paths (SpanRecord fields, short ASCII values, small integers, cached keys) match the official serializer at their edges', () => {
  const r = testResource();
  const scope = { name: 'sonde/ebpf', version: '0.1.0' };
  const attributes: Record<string, string | number | boolean | string[]> = {};
  // string values around the one-byte-length limit of the fast path (key + value + 4 < 128)
  for (let n = 90; n < 110; n++) attributes[`k${n}`] = 'v'.repeat(n);
  attributes['ascii.then.not'] = 'abc€def';
  attributes['latin1'] = 'caf\u00e9';
  attributes['emoji'] = '🚀';
  attributes[`long.key.${'x'.repeat(120)}`] = 'value';
  attributes['ünï.key'] = 'v';
  attributes['int.edges.a'] = 0;
  attributes['int.edges.b'] = 127;
  attributes['int.edges.c'] = 128;
  attributes['int.edges.d'] = 2 ** 31 - 1;
  attributes['int.edges.e'] = 2 ** 31;
  attributes['int.edges.f'] = -1;
  attributes['float'] = 1.5;
  attributes['bool'] = true;
  attributes['arr'] = ['x', 'y'];
  attributes[''] = 'empty key';
  const spans: ReadableSpan[] = [
    new SpanRecord({
      name: 'GET /x', kind: SpanKind.CLIENT, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: '00f067aa0ba902b7',
      traceState: 'congo=t61,rojo=00f067aa0ba902b7', startTime: [1_732_000_000, 1], endTime: [1_732_000_000, 2], attributes, resource: r, instrumentationScope: scope,
      status: { code: SpanStatusCode.ERROR },
    }),
    new SpanRecord({
      name: 'GET /y', kind: SpanKind.SERVER, traceId: 'AF7651916CD43DD8448EB211C80319C0', spanId: 'B7AD6B7169203331',
      startTime: [1_732_000_000, 1], endTime: [1_732_000_000, 2], attributes: { 'url.path': '/y' }, resource: r, instrumentationScope: scope,
      links: [{ context: { traceId: '11111111111111111111111111111111', spanId: '2222222222222222', traceFlags: 1, isRemote: true }, attributes: { 'sonde.link': 'far_server' } }],
    }),
  ];
  // a foreign ReadableSpan (not a SpanRecord): the generic path
  const rec = spans[0] as SpanRecord;
  const foreign: ReadableSpan = {
    name: rec.name, kind: rec.kind, spanContext: () => rec.spanContext(), parentSpanContext: rec.parentSpanContext, startTime: rec.startTime, endTime: rec.endTime,
    status: rec.status, attributes: rec.attributes, links: [], events: [], duration: rec.duration, ended: true, resource: r, instrumentationScope: scope,
    droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0,
  };
  spans.push(foreign);
  const enc = new OtlpTraceEncoder();
  for (let i = 0; i < 2; i++) assert.deepEqual(decode(enc.encode(spans)), decode(official(spans as SpanRecord[])));
  // the W3C tracestate of a SpanRecord reaches the export
  const d = decode(enc.encode([spans[0]])) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ traceState: string }> }> }> };
  assert.equal(d.resourceSpans[0].scopeSpans[0].spans[0].traceState, 'congo=t61,rojo=00f067aa0ba902b7');
});

test('a SpanRecord with shared attribute parts encodes byte for byte like the same span with one plain object; the SDK serializers agree', () => {
  const r = testResource();
  const scope = { name: 'sonde/ebpf', version: '0.1.0' };
  const p0 = new AttributePart({ 'http.request.method': 'GET', 'url.path': '/a/ünï', 'http.response.status_code': 200, long: 'L'.repeat(300), ratio: 0.5, ok: true, tags: ['x', 'y'] });
  const p1 = new AttributePart({ 'network.peer.address': '10.0.0.1', 'network.peer.port': 45000, 'client.address': '10.0.0.1', big: 2 ** 40, neg: -3 });
  const p2 = new AttributePart({ 'network.peer.address': '10.0.0.2', 'network.peer.port': 45001, 'error.type': '500' });
  const mk = (i: number, a: AttributePart, b: AttributePart | null, plain: boolean): SpanRecord => {
    const s = new SpanRecord({
      name: `GET /a/${i}`, kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: `b7ad6b716920333${i}`,
      startTime: [1_732_000_000, i], endTime: [1_732_000_001, i], attributes: {}, resource: r, instrumentationScope: scope,
    });
    if (plain) s.attributes = { ...a.values, ...b?.values };
    else s.setAttributeParts(a, b);
    return s;
  };
  const shape: Array<[AttributePart, AttributePart | null]> = [[p0, p1], [p0, p2], [p0, p1], [p1, null], [p0, p1]];
  const withParts = (): SpanRecord[] => shape.map(([a, b], i) => mk(i, a, b, false));
  const plain = shape.map(([a, b], i) => mk(i, a, b, true));
  const enc = new OtlpTraceEncoder();
  const want = Buffer.from(new OtlpTraceEncoder().encode(plain));
  const spans = withParts();
  // first encoding (p0 written three times: from the second one its bytes are kept), then from the cache
  assert.deepEqual(Buffer.from(enc.encode(spans)), want);
  assert.ok(p0.encoded !== null && p1.encoded !== null);
  assert.equal(p2.encoded, null, 'a part encoded once keeps no bytes');
  assert.deepEqual(Buffer.from(enc.encode(spans)), want);
  assert.deepEqual(Buffer.from(enc.encode(withParts().slice(1, 2))), Buffer.from(new OtlpTraceEncoder().encode(plain.slice(1, 2))));
  assert.ok(spans.every((s) => s.attributesIfPlain === null), 'encoding makes no attributes object');
  // the official serializers read `attributes` (made from the parts): same message, same JSON
  assert.deepEqual(decode(official(withParts())), decode(want));
  assert.equal(Buffer.from(JsonTraceSerializer.serializeRequest(withParts()) as Uint8Array).toString(), Buffer.from(JsonTraceSerializer.serializeRequest(plain) as Uint8Array).toString());
  // a span whose object was made (and changed) exports the object
  const changed = withParts()[0];
  changed.attributes['http.response.status_code'] = 404;
  const d = decode(enc.encode([changed])) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ attributes: Array<{ key: string; value: { intValue: string } }> }> }> }> };
  assert.equal(d.resourceSpans[0].scopeSpans[0].spans[0].attributes.find((a) => a.key === 'http.response.status_code')?.value.intValue, '404');
  assert.equal(p0.values['http.response.status_code'], 200);
  assert.deepEqual(Buffer.from(enc.encode(withParts())), want, 'the parts and their cached bytes are unchanged');
});

test('ids held as lanes: the same bytes as hex ids, hex getters on demand, strings assigned later win', () => {
  const r = testResource();
  const scope = { name: 'sonde/ebpf', version: '0.1.0' };
  const mk = (): SpanRecord => new SpanRecord({
    name: 'GET /', kind: SpanKind.CLIENT, traceId: '', spanId: '', startTime: [1_732_000_000, 1], endTime: [1_732_000_000, 2],
    attributes: { 'url.path': '/' }, resource: r, instrumentationScope: scope,
  });
  const lanes = [mk(), mk()];
  lanes[0].setIdLanes(0x4bf92f35, 0x77b34da6, 0xa3ce929d | 0, 0x0e0e4736, 0x00f067aa, 0x0ba902b7, true, -0x80000000, -1);
  lanes[1].setIdLanes(1, 2, 3, 4, 5, 6, false, 7, 8);
  const hex = [mk(), mk()];
  hex[0].traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  hex[0].spanId = '00f067aa0ba902b7';
  hex[0].parentSpanId = '80000000ffffffff';
  hex[1].traceId = '00000001000000020000000300000004';
  hex[1].spanId = '0000000500000006';
  const want = Buffer.from(new OtlpTraceEncoder().encode(hex));
  const enc = new OtlpTraceEncoder();
  assert.deepEqual(Buffer.from(enc.encode(lanes)), want);
  assert.deepEqual(Buffer.from(enc.encode(lanes.map((s) => s.clone()))), want, 'clone() keeps the lanes');
  assert.deepEqual(decode(official(lanes)), decode(want), 'the SDK serializer reads the hex getters');
  assert.equal(lanes[0].traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(lanes[0].parentSpanId, '80000000ffffffff');
  assert.equal(lanes[1].parentSpanId, '');
  assert.equal(lanes[1].parentSpanContext, undefined);
  assert.deepEqual(lanes[0].spanContext(), hex[0].spanContext());
  assert.deepEqual(Buffer.from(enc.encode(lanes)), want, 'reading the getters changes nothing');
  lanes[0].spanId = 'aaaaaaaaaaaaaaaa';
  lanes[0].parentSpanId = '';
  assert.equal(lanes[0].spanId, 'aaaaaaaaaaaaaaaa');
  hex[0].spanId = 'aaaaaaaaaaaaaaaa';
  hex[0].parentSpanId = '';
  assert.deepEqual(Buffer.from(enc.encode(lanes)), Buffer.from(new OtlpTraceEncoder().encode(hex)));
});

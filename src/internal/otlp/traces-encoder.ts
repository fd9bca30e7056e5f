/**
 * A direct OTLP/protobuf encoder for ExportTraceServiceRequest: ReadableSpan[] → bytes in one pass over one
 * reused growable buffer, with each Resource's and scope's encoding cached (resources are immutable and
 * shared by every span of a process). It produces the same message as @opentelemetry/otlp-transformer's
 * ProtobufTraceSerializer (a test decodes both and compares), at a fraction of the cost: the official
 * serializer first builds a JS object tree per span and then walks it again.
 *
 * Field numbers: opentelemetry/proto/{collector/trace/v1/trace_service,trace/v1/trace,common/v1/common,
 * resource/v1/resource}.proto.
 */
import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { ProtoWriter, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from '../protobuf.js';

const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/** Writes a fixed64 nanosecond timestamp from HrTime exactly (no BigInt): sec·1e9 + ns split in 32-bit halves. */
function writeTime(w: ProtoWriter, field: number, t: HrTime): void {
  // 1e9 = 15258·2^16 + 51712, so sec·1e9 = (sec·15258)·2^16 + sec·51712, every product exact below 2^53.
  const sec = t[0];
  const a = sec * 15258;
  const ah = Math.floor(a / 65536);
  const al = a - ah * 65536;
  const c = al * 65536 + sec * 51712 + t[1];
  const carry = Math.floor(c / 4294967296);
  const lo = c - carry * 4294967296;
  const hi = ah + carry;
  w.tag(field, WIRE_I64);
  w.ensure(8);
  const b = w.buf;
  let p = w.pos;
  b[p++] = lo & 0xff; b[p++] = (lo >>> 8) & 0xff; b[p++] = (lo >>> 16) & 0xff; b[p++] = (lo >>> 24) & 0xff;
  b[p++] = hi & 0xff; b[p++] = (hi >>> 8) & 0xff; b[p++] = (hi >>> 16) & 0xff; b[p++] = (hi >>> 24) & 0xff;
  w.pos = p;
}

function writeFixed32(w: ProtoWriter, field: number, v: number): void {
  w.tag(field, WIRE_I32);
  w.ensure(4);
  const b = w.buf;
  let p = w.pos;
  b[p++] = v & 0xff; b[p++] = (v >>> 8) & 0xff; b[p++] = (v >>> 16) & 0xff; b[p++] = (v >>> 24) & 0xff;
  w.pos = p;
}

/** Nibble value of a lowercase/uppercase hex digit char code. */
function nibble(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

function writeHexBytes(w: ProtoWriter, field: number, hex: string): void {
  const n = hex.length >>> 1;
  w.tag(field, WIRE_LEN);
  w.varint(n);
  w.ensure(n);
  const b = w.buf;
  let p = w.pos;
  for (let i = 0; i < hex.length; i += 2) b[p++] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1));
  w.pos = p;
}

function writeAnyValue(w: ProtoWriter, v: unknown): void {
  switch (typeof v) {
    case 'string':
      w.string(1, v);
      return;
    case 'boolean':
      w.tag(2, WIRE_VARINT);
      w.varint(v ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(v)) {
        w.tag(3, WIRE_VARINT);
        w.int64(v);
      } else {
        w.tag(4, WIRE_I64);
        w.double(v);
      }
      return;
    default:
  }
  if (v instanceof Uint8Array) {
    w.bytesField(7, v);
  } else if (Array.isArray(v)) {
    const arr = w.beginLen(5, 4);
    for (const item of v) {
      const m = w.beginLen(1, 4);
      writeAnyValue(w, item);
      w.endLen(m);
    }
    w.endLen(arr);
  } else if (v !== null && typeof v === 'object') {
    const list = w.beginLen(6, 4);
    for (const k of Object.keys(v)) writeKeyValue(w, 1, k, (v as Record<string, unknown>)[k]);
    w.endLen(list);
  }
}

/** Bytes a varint length prefix needs for a payload of at most `max` bytes (minimal when max is exact). */
function reserveFor(max: number): number {
  return max < 128 ? 1 : max < 16384 ? 2 : max < 2097152 ? 3 : 4;
}

/** Upper bound of an AnyValue's encoded size, cheap for scalars (strings: 3 bytes per UTF-16 unit). */
function anyValueMax(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return 1 + 4 + v.length * 3;
    case 'boolean':
      return 2;
    case 'number':
      return 11;
    default:
      return 1 << 28; // arrays, maps, bytes: the widest prefix
  }
}

function writeKeyValue(w: ProtoWriter, field: number, key: string, value: unknown): void {
  const avMax = anyValueMax(value);
  const avReserve = reserveFor(avMax);
  const kv = w.beginLen(field, reserveFor(1 + 4 + key.length * 3 + 1 + avReserve + avMax));
  w.string(1, key);
  const av = w.beginLen(2, avReserve);
  writeAnyValue(w, value);
  w.endLen(av);
  w.endLen(kv);
}

function writeAttributes(w: ProtoWriter, field: number, attrs: Attributes | undefined): void {
  if (!attrs) return;
  for (const k of Object.keys(attrs)) {
    const v: AttributeValue | undefined = attrs[k];
    if (v === undefined) continue;
    writeKeyValue(w, field, k, v);
  }
}

function writeUint(w: ProtoWriter, field: number, v: number | undefined): void {
  if (!v) return;
  w.tag(field, WIRE_VARINT);
  w.varint(v);
}

function writeSpan(w: ProtoWriter, s: ReadableSpan): void {
  const ctx = s.spanContext();
  const m = w.beginLen(2, 4); // ScopeSpans.spans
  writeHexBytes(w, 1, ctx.traceId);
  writeHexBytes(w, 2, ctx.spanId);
  const ts = ctx.traceState?.serialize();
  if (ts) w.string(3, ts);
  const parent = s.parentSpanContext;
  if (parent?.spanId) writeHexBytes(w, 4, parent.spanId);
  w.string(5, s.name);
  w.tag(6, WIRE_VARINT);
  w.varint(s.kind == null ? 0 : s.kind + 1);
  writeTime(w, 7, s.startTime);
  writeTime(w, 8, s.endTime);
  writeAttributes(w, 9, s.attributes);
  writeUint(w, 10, s.droppedAttributesCount);
  for (const e of s.events) {
    const em = w.beginLen(11, 4);
    writeTime(w, 1, e.time);
    w.string(2, e.name);
    writeAttributes(w, 3, e.attributes);
    writeUint(w, 4, e.droppedAttributesCount);
    w.endLen(em);
  }
  writeUint(w, 12, s.droppedEventsCount);
  for (const l of s.links) {
    const lm = w.beginLen(13, 4);
    writeHexBytes(w, 1, l.context.traceId);
    writeHexBytes(w, 2, l.context.spanId);
    const lts = l.context.traceState?.serialize();
    if (lts) w.string(3, lts);
    writeAttributes(w, 4, l.attributes);
    writeUint(w, 5, l.droppedAttributesCount);
    writeFixed32(w, 6, (l.context.traceFlags & 0xff) | HAS_IS_REMOTE | (l.context.isRemote ? IS_REMOTE : 0));
    w.endLen(lm);
  }
  writeUint(w, 14, s.droppedLinksCount);
  const st = w.beginLen(15, reserveFor(16 + (s.status.message?.length ?? 0) * 3));
  if (s.status.message) w.string(2, s.status.message);
  if (s.status.code) {
    w.tag(3, WIRE_VARINT);
    w.varint(s.status.code);
  }
  w.endLen(st);
  writeFixed32(w, 16, (ctx.traceFlags & 0xff) | HAS_IS_REMOTE | (parent?.isRemote ? IS_REMOTE : 0));
  w.endLen(m);
}

/** Encodes a Resource message body (attributes, dropped count) once per Resource object. */
function encodeResource(r: Resource): Buffer {
  const w = new ProtoWriter(256);
  writeAttributes(w, 1, r.attributes);
  return w.finish();
}

function encodeScope(s: InstrumentationScope): Buffer {
  const w = new ProtoWriter(64);
  w.string(1, s.name);
  if (s.version) w.string(2, s.version);
  return w.finish();
}

export class OtlpTraceEncoder {
  readonly #w = new ProtoWriter(256 * 1024);
  readonly #resources = new WeakMap<Resource, Buffer>();
  readonly #scopes = new WeakMap<InstrumentationScope, Buffer>();
  /** Spans grouped by resource, then scope key; reused between calls. */
  readonly #groups = new Map<Resource, Map<string, ReadableSpan[]>>();

  #resourceBytes(r: Resource): Buffer {
    let b = this.#resources.get(r);
    if (!b) {
      b = encodeResource(r);
      this.#resources.set(r, b);
    }
    return b;
  }

  #scopeBytes(s: InstrumentationScope): Buffer {
    let b = this.#scopes.get(s);
    if (!b) {
      b = encodeScope(s);
      this.#scopes.set(s, b);
    }
    return b;
  }

  /** The ExportTraceServiceRequest for `spans` (a fresh Buffer the caller owns). */
  encode(spans: readonly ReadableSpan[]): Buffer {
    const groups = this.#groups;
    groups.clear();
    for (const s of spans) {
      let byScope = groups.get(s.resource);
      if (!byScope) {
        byScope = new Map();
        groups.set(s.resource, byScope);
      }
      const sc = s.instrumentationScope;
      const key = `${sc.name}@${sc.version ?? ''}:${sc.schemaUrl ?? ''}`;
      const list = byScope.get(key);
      if (list) list.push(s);
      else byScope.set(key, [s]);
    }
    const w = this.#w;
    w.reset();
    for (const [resource, byScope] of groups) {
      const rs = w.beginLen(1, 4); // ExportTraceServiceRequest.resource_spans
      w.bytesField(1, this.#resourceBytes(resource)); // ResourceSpans.resource
      for (const list of byScope.values()) {
        const ss = w.beginLen(2, 4); // ResourceSpans.scope_spans
        const scope = list[0].instrumentationScope;
        w.bytesField(1, this.#scopeBytes(scope)); // ScopeSpans.scope
        for (const s of list) writeSpan(w, s);
        if (scope.schemaUrl) w.string(3, scope.schemaUrl);
        w.endLen(ss);
      }
      if (resource.schemaUrl) w.string(3, resource.schemaUrl);
      w.endLen(rs);
    }
    groups.clear();
    return w.finish();
  }
}

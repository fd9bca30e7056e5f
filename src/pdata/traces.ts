import type { Attributes, HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { InstrumentationScope, TraceState } from '@opentelemetry/core';
import { TraceState as W3CTraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';
import type { Traces } from '../consumer/consumer.js';

export { SpanKind, SpanStatusCode };

function hrDiff(a: HrTime, b: HrTime): HrTime {
  let s = b[0] - a[0];
  let ns = b[1] - a[1];
  if (ns < 0) {
    s -= 1;
    ns += 1e9;
  }
  return [s, ns];
}

/** SpanRecord.idLanes bits. */
export const ID_TRACE = 1;
export const ID_SPAN = 2;
export const ID_PARENT = 4;

const HEX = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX[i] = '0123456789abcdef'.charCodeAt(i);
const HEX_SCRATCH = new Uint8Array(32);
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** Lowercase hex of `n` (2 or 4) int32 lanes, 8 digits each. */
function hexLanes(n: number, a: number, b: number, c: number, d: number): string {
  for (let k = 0; k < n; k++) {
    let v = k === 0 ? a : k === 1 ? b : k === 2 ? c : d;
    for (let i = 7; i >= 0; i--) {
      HEX_SCRATCH[8 * k + i] = HEX[v & 15];
      v >>>= 4;
    }
  }
  return latin1Slice.call(HEX_SCRATCH, 0, 8 * n);
}

const STATUS_UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const STATUS_ERROR: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });
/** Shared, frozen: a span without links/events allocates nothing for them. */
export const NO_LINKS: Link[] = Object.freeze([]) as unknown as Link[];
export const NO_EVENTS: TimedEvent[] = Object.freeze([]) as unknown as TimedEvent[];
/** The attributes of a span made empty (`new SpanRecord()`): its producer assigns its own object. */
const NO_ATTRIBUTES: Attributes = Object.freeze({});

/** The status of a span: shared frozen objects for the two common ones (`{ code }` without a message). */
export function spanStatus(code: SpanStatusCode): SpanStatus {
  return code === SpanStatusCode.ERROR ? STATUS_ERROR : code === SpanStatusCode.UNSET ? STATUS_UNSET : { code };
}

/** A W3C tracestate header value as the SDK's TraceState (spanContext().traceState); the last one is reused. */
let lastTraceState = '';
let lastTraceStateObj: TraceState | undefined;
function traceStateOf(s: string): TraceState | undefined {
  if (s === '') return undefined;
  if (s !== lastTraceState || lastTraceStateObj === undefined) {
    lastTraceStateObj = new W3CTraceState(s);
    lastTraceState = s;
  }
  return lastTraceStateObj;
}

/**
 * An immutable set of span attributes shared by many spans: a producer interns one per distinct combination
 * (e.g. per parsed request shape, per connection) and gives spans a few of them (SpanRecord#setAttributeParts)
 * instead of a fresh object each. `values` is frozen. `encoded` belongs to the OTLP encoder: the part's
 * KeyValues encoded as Span.attributes entries, kept once the part has been encoded more than once.
 */
export class AttributePart {
  readonly values: Readonly<Attributes>;
  encoded: Uint8Array | null = null;
  /** Times the encoder wrote the part without its cache (it caches from the second). */
  encodes = 0;

  constructor(values: Attributes) {
    this.values = Object.freeze(values);
  }
}

export interface SpanRecordInit {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceFlags?: number;
  traceState?: string;
  startTime: HrTime;
  endTime: HrTime;
  status?: SpanStatus;
  attributes: Attributes;
  links?: Link[];
  events?: TimedEvent[];
  resource: Resource;
  instrumentationScope: InstrumentationScope;
}

/**
 * A finished span as Sonde's receivers build it: a `ReadableSpan` (so the official exporters take it as is)
 * whose resource and attributes processors may replace. Ids read as lowercase hex strings (a producer may hold
 * them as int32 lanes, setIdLanes: the strings are then made only if something reads them).
 *
 * Cheap to make and to keep (receivers make one per request, a batch processor holds them): methods live on
 * the prototype, the common statuses and empty links/events are shared frozen objects, and the times are
 * kept as numbers (`startSeconds`/`startNanos`, …) — `startTime`/`endTime` make their HrTime on access.
 * `new SpanRecord()` without an init makes an empty span for a producer to fill field by field (it assigns
 * `attributes`: the empty default is shared and frozen).
 */
/**
 * A span's parts that producers on the hot path leave at their defaults: the ids as hex strings (made from
 * the lanes only when read), the trace state, links and events. One object made on the first write or
 * hex read, instead of six fields in every span (a tick's spans are all alive until encoded: scavenges
 * copy them).
 */
class SpanExtra {
  /** The ids as hex strings; null: not made yet from the lanes (the id's idLanes bit is set). */
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  traceState = '';
  links: Link[] = NO_LINKS;
  events: TimedEvent[] = NO_EVENTS;

  constructor(idLanes: number) {
    this.traceId = (idLanes & ID_TRACE) !== 0 ? null : '';
    this.spanId = (idLanes & ID_SPAN) !== 0 ? null : '';
    this.parentSpanId = (idLanes & ID_PARENT) !== 0 ? null : '';
  }
}

export class SpanRecord implements ReadableSpan {
  name = '';
  kind: SpanKind = SpanKind.INTERNAL;
  /**
   * Which ids are held as 32-bit lanes (ID_TRACE | ID_SPAN | ID_PARENT, set by setIdLanes): trace id =
   * t0..t3, span id = s0 s1, parent span id = p0 p1, each lane 8 hex digits of the id in order. A producer
   * that has ids as numbers sets them so: no hex string is made unless something reads one, and the OTLP
   * encoder writes the bytes from the lanes.
   */
  idLanes = 0;
  t0 = 0;
  t1 = 0;
  t2 = 0;
  t3 = 0;
  s0 = 0;
  s1 = 0;
  p0 = 0;
  p1 = 0;
  traceFlags: number = TraceFlags.SAMPLED;
  /** Wall-clock start and end: seconds since the epoch and nanoseconds within the second. */
  startSeconds = 0;
  startNanos = 0;
  endSeconds = 0;
  endNanos = 0;
  status: SpanStatus = STATUS_UNSET;
  /**
   * The attributes as one plain object (`attributes`), or null while the span holds them as shared parts
   * (`part0` then `part1`, see setAttributeParts): the object is then made on first access and is the truth
   * from there on (a processor may change it).
   */
  #attributes: Attributes | null = NO_ATTRIBUTES;
  /** Shared attribute parts (null: none); meaningful only while `#attributes` is null. Keys do not overlap. */
  part0: AttributePart | null = null;
  part1: AttributePart | null = null;
  resource!: Resource;
  instrumentationScope!: InstrumentationScope;
  /** Hex ids, trace state, links, events (SpanExtra); null: all at their defaults. */
  #x: SpanExtra | null = null;

  constructor(init?: SpanRecordInit) {
    if (init === undefined) return;
    this.name = init.name;
    this.kind = init.kind;
    this.traceId = init.traceId;
    this.spanId = init.spanId;
    this.parentSpanId = init.parentSpanId ?? '';
    this.traceFlags = init.traceFlags ?? TraceFlags.SAMPLED;
    this.traceState = init.traceState ?? '';
    this.startTime = init.startTime;
    this.endTime = init.endTime;
    if (init.status !== undefined) this.status = init.status;
    this.attributes = init.attributes;
    if (init.links !== undefined) this.links = init.links;
    if (init.events !== undefined) this.events = init.events;
    this.resource = init.resource;
    this.instrumentationScope = init.instrumentationScope;
  }

  /** The span's attributes (ReadableSpan): a plain object, made from the parts on first access. */
  get attributes(): Attributes {
    return this.#attributes ?? this.#materialize();
  }
  set attributes(a: Attributes) {
    this.#attributes = a;
    this.part0 = null;
    this.part1 = null;
  }

  /** The attributes as a plain object if one exists (null: only as parts; the encoder reads these). */
  get attributesIfPlain(): Attributes | null {
    return this.#attributes;
  }

  /**
   * Gives the span its attributes as shared immutable parts, `a`'s keys then `b`'s (no key in both): no
   * object per span until something reads `attributes`.
   */
  setAttributeParts(a: AttributePart, b: AttributePart | null): void {
    this.#attributes = null;
    this.part0 = a;
    this.part1 = b;
  }

  #materialize(): Attributes {
    const o: Attributes = {};
    const a = this.part0;
    const b = this.part1;
    if (a !== null) for (const k in a.values) o[k] = a.values[k];
    if (b !== null) for (const k in b.values) o[k] = b.values[k];
    this.#attributes = o;
    this.part0 = null;
    this.part1 = null;
    return o;
  }

  #extra(): SpanExtra {
    return (this.#x ??= new SpanExtra(this.idLanes));
  }

  get traceId(): string {
    if ((this.idLanes & ID_TRACE) === 0) return this.#x?.traceId ?? '';
    const x = this.#extra();
    return (x.traceId ??= hexLanes(4, this.t0, this.t1, this.t2, this.t3));
  }
  set traceId(v: string) {
    this.#extra().traceId = v;
    this.idLanes &= ~ID_TRACE;
  }

  get spanId(): string {
    if ((this.idLanes & ID_SPAN) === 0) return this.#x?.spanId ?? '';
    const x = this.#extra();
    return (x.spanId ??= hexLanes(2, this.s0, this.s1, 0, 0));
  }
  set spanId(v: string) {
    this.#extra().spanId = v;
    this.idLanes &= ~ID_SPAN;
  }

  /** '' for a root span. */
  get parentSpanId(): string {
    if ((this.idLanes & ID_PARENT) === 0) return this.#x?.parentSpanId ?? '';
    const x = this.#extra();
    return (x.parentSpanId ??= hexLanes(2, this.p0, this.p1, 0, 0));
  }
  set parentSpanId(v: string) {
    this.#extra().parentSpanId = v;
    this.idLanes &= ~ID_PARENT;
  }

  get traceState(): string {
    return this.#x === null ? '' : this.#x.traceState;
  }
  set traceState(v: string) {
    if (v !== '' || this.#x !== null) this.#extra().traceState = v;
  }

  get links(): Link[] {
    return this.#x === null ? NO_LINKS : this.#x.links;
  }
  set links(v: Link[]) {
    if (v !== NO_LINKS || this.#x !== null) this.#extra().links = v;
  }

  get events(): TimedEvent[] {
    return this.#x === null ? NO_EVENTS : this.#x.events;
  }
  set events(v: TimedEvent[]) {
    if (v !== NO_EVENTS || this.#x !== null) this.#extra().events = v;
  }

  /** Sets the ids as lanes (see idLanes); `hasParent` false: a root span. */
  setIdLanes(t0: number, t1: number, t2: number, t3: number, s0: number, s1: number, hasParent: boolean, p0: number, p1: number): void {
    this.t0 = t0;
    this.t1 = t1;
    this.t2 = t2;
    this.t3 = t3;
    this.s0 = s0;
    this.s1 = s1;
    if (hasParent) {
      this.p0 = p0;
      this.p1 = p1;
      this.idLanes = ID_TRACE | ID_SPAN | ID_PARENT;
    } else {
      this.idLanes = ID_TRACE | ID_SPAN;
    }
    const x = this.#x;
    if (x !== null) {
      x.traceId = null;
      x.spanId = null;
      x.parentSpanId = hasParent ? null : '';
    }
  }

  spanContext(): SpanContext {
    const ctx: SpanContext = { traceId: this.traceId, spanId: this.spanId, traceFlags: this.traceFlags, isRemote: false };
    if (this.traceState !== '') ctx.traceState = traceStateOf(this.traceState);
    return ctx;
  }

  get parentSpanContext(): SpanContext | undefined {
    return this.parentSpanId ? { traceId: this.traceId, spanId: this.parentSpanId, traceFlags: this.traceFlags, isRemote: false } : undefined;
  }

  get startTime(): HrTime {
    return [this.startSeconds, this.startNanos];
  }
  set startTime(t: HrTime) {
    this.startSeconds = t[0];
    this.startNanos = t[1];
  }

  get endTime(): HrTime {
    return [this.endSeconds, this.endNanos];
  }
  set endTime(t: HrTime) {
    this.endSeconds = t[0];
    this.endNanos = t[1];
  }

  get duration(): HrTime {
    return hrDiff(this.startTime, this.endTime);
  }

  get ended(): boolean {
    return true;
  }
  get droppedAttributesCount(): number {
    return 0;
  }
  get droppedEventsCount(): number {
    return 0;
  }
  get droppedLinksCount(): number {
    return 0;
  }

  clone(): SpanRecord {
    const c = new SpanRecord();
    c.name = this.name;
    c.kind = this.kind;
    c.idLanes = this.idLanes;
    const x = this.#x;
    if (x !== null) {
      const cx = c.#extra();
      cx.traceId = x.traceId;
      cx.spanId = x.spanId;
      cx.parentSpanId = x.parentSpanId;
    }
    c.t0 = this.t0;
    c.t1 = this.t1;
    c.t2 = this.t2;
    c.t3 = this.t3;
    c.s0 = this.s0;
    c.s1 = this.s1;
    c.p0 = this.p0;
    c.p1 = this.p1;
    c.traceFlags = this.traceFlags;
    c.traceState = this.traceState;
    c.startSeconds = this.startSeconds;
    c.startNanos = this.startNanos;
    c.endSeconds = this.endSeconds;
    c.endNanos = this.endNanos;
    c.status = this.status;
    if (this.#attributes !== null) c.attributes = { ...this.#attributes };
    else c.setAttributeParts(this.part0 as AttributePart, this.part1); // immutable: shared, not copied
    c.links = this.links.length > 0 ? [...this.links] : NO_LINKS;
    c.events = this.events.length > 0 ? [...this.events] : NO_EVENTS;
    c.resource = this.resource;
    c.instrumentationScope = this.instrumentationScope;
    return c;
  }
}

/** Shallow-copies spans so a mutating consumer can replace resources/attributes without touching the original. */
export function cloneTraces(td: Traces): Traces {
  return td.map((s) => {
    if (s instanceof SpanRecord) return s.clone();
    // A foreign ReadableSpan: copy its fields into a SpanRecord.
    const ctx = s.spanContext();
    return new SpanRecord({
      name: s.name,
      kind: s.kind,
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      parentSpanId: s.parentSpanContext?.spanId,
      traceFlags: ctx.traceFlags,
      traceState: ctx.traceState?.serialize(),
      startTime: s.startTime,
      endTime: s.endTime,
      status: s.status,
      attributes: { ...s.attributes },
      links: [...s.links],
      events: [...s.events],
      resource: s.resource,
      instrumentationScope: s.instrumentationScope,
    });
  });
}

export function countSpans(td: Traces): number {
  return td.length;
}

/** Groups spans by their Resource object (spans of one resource share one object). */
export function groupByResource(td: Traces): Map<Resource, ReadableSpan[]> {
  const m = new Map<Resource, ReadableSpan[]>();
  for (const s of td) {
    const list = m.get(s.resource);
    if (list) list.push(s);
    else m.set(s.resource, [s]);
  }
  return m;
}

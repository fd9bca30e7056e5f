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
 * whose resource and attributes processors may replace. Ids are lowercase hex strings.
 *
 * Cheap to make and to keep (receivers make one per request, a batch processor holds them): methods live on
 * the prototype, the common statuses and empty links/events are shared frozen objects, and the times are
 * kept as numbers (`startSeconds`/`startNanos`, …) — `startTime`/`endTime` make their HrTime on access.
 * `new SpanRecord()` without an init makes an empty span for a producer to fill field by field (it assigns
 * `attributes`: the empty default is shared and frozen).
 */
export class SpanRecord implements ReadableSpan {
  name = '';
  kind: SpanKind = SpanKind.INTERNAL;
  traceId = '';
  spanId = '';
  parentSpanId = '';
  traceFlags: number = TraceFlags.SAMPLED;
  traceState = '';
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
  links: Link[] = NO_LINKS;
  events: TimedEvent[] = NO_EVENTS;
  resource!: Resource;
  instrumentationScope!: InstrumentationScope;

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
    c.traceId = this.traceId;
    c.spanId = this.spanId;
    c.parentSpanId = this.parentSpanId;
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

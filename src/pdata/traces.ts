import type { Attributes, HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
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

/**
 * A finished span as Sonde's receivers build it: a `ReadableSpan` (so the official exporters take it as is)
 * whose resource and attributes processors may replace. Ids are lowercase hex strings.
 */
export class SpanRecord implements ReadableSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceFlags: number;
  traceState: string;
  startTime: HrTime;
  endTime: HrTime;
  status: SpanStatus;
  attributes: Attributes;
  links: Link[];
  events: TimedEvent[];
  resource: Resource;
  instrumentationScope: InstrumentationScope;

  constructor(init: {
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
  }) {
    this.name = init.name;
    this.kind = init.kind;
    this.traceId = init.traceId;
    this.spanId = init.spanId;
    this.parentSpanId = init.parentSpanId ?? '';
    this.traceFlags = init.traceFlags ?? TraceFlags.SAMPLED;
    this.traceState = init.traceState ?? '';
    this.startTime = init.startTime;
    this.endTime = init.endTime;
    this.status = init.status ?? { code: SpanStatusCode.UNSET };
    this.attributes = init.attributes;
    this.links = init.links ?? [];
    this.events = init.events ?? [];
    this.resource = init.resource;
    this.instrumentationScope = init.instrumentationScope;
  }

  spanContext = (): SpanContext => ({ traceId: this.traceId, spanId: this.spanId, traceFlags: this.traceFlags, isRemote: false });

  get parentSpanContext(): SpanContext | undefined {
    return this.parentSpanId ? { traceId: this.traceId, spanId: this.parentSpanId, traceFlags: this.traceFlags, isRemote: false } : undefined;
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
    return new SpanRecord({ ...this, attributes: { ...this.attributes }, links: [...this.links], events: [...this.events] });
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

import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Component, Host, Signal } from '../component/component.js';
import type { Settings } from '../component/factory.js';
import { SharedComponents } from '../component/shared.js';
import type { Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../consumer/consumer.js';
import { cloneTraces, SpanRecord } from '../pdata/traces.js';
import { newProcessor } from './processor-helper.js';

/**
 * What a resource-enriching processor (cgroup, container, k8sattributes) computes for one Resource:
 * attributes to add (never overriding a non-empty value already there) and how long the answer may be reused
 * for the same Resource object.
 */
export interface Enrichment {
  readonly add: Attributes;
  readonly ttlMs: number;
}

export type Enricher = (attrs: Attributes) => Enrichment | Promise<Enrichment>;

export interface EnrichStats {
  /** Distinct resources looked at. */
  resources: number;
  /** Answered from the Resource → Resource cache. */
  cached: number;
  /** Resources that got at least one attribute. */
  enriched: number;
}

/** True when `v` counts as "not set" (the Collector's k8sattributes rule; OTel's `unknown_service` default too). */
export function isEmpty(key: string, v: AttributeValue | undefined): boolean {
  if (v === undefined || v === null || v === '') return true;
  return key === 'service.name' && typeof v === 'string' && v.startsWith('unknown_service');
}

/** `old` plus the attributes of `add` that `old` lacks; `old` itself when nothing is new. */
export function withMissing(old: Resource, add: Attributes): Resource {
  const a = old.attributes;
  const missing: Attributes = {};
  let n = 0;
  for (const [k, v] of Object.entries(add)) {
    if (v === undefined || v === null || v === '') continue;
    if (!isEmpty(k, a[k])) continue;
    missing[k] = v;
    n++;
  }
  if (n === 0) return old;
  // The merged resource keeps old's schema URL; keys in `missing` are absent or empty in old.
  return resourceFromAttributes({ ...a, ...missing }, old.schemaUrl ? { schemaUrl: old.schemaUrl } : undefined);
}

/**
 * Caches Resource → enriched Resource (weakly, with the enricher's TTL), so a batch costs one enricher call
 * per distinct Resource object and, while the TTL holds, later batches cost none: receivers reuse one
 * Resource object per process/container.
 */
export class ResourceEnricher {
  readonly #enrich: Enricher;
  readonly #cache = new WeakMap<Resource, { value: Resource; expires: number; version: number }>();
  readonly #now: () => number;
  readonly #version: () => number;
  readonly stats: EnrichStats = { resources: 0, cached: 0, enriched: 0 };

  /**
   * `version`, when given, is a counter the source bumps whenever what it knows changes (the pod informer
   * does on every pod event): cached answers from an older version are recomputed.
   */
  constructor(enrich: Enricher, opts: { now?: () => number; version?: () => number } = {}) {
    this.#enrich = enrich;
    this.#now = opts.now ?? Date.now;
    this.#version = opts.version ?? (() => 0);
  }

  /** Enriched versions of the given distinct resources. */
  async resolve(resources: Iterable<Resource>): Promise<Map<Resource, Resource>> {
    const out = new Map<Resource, Resource>();
    const pending: Array<Promise<void>> = [];
    const now = this.#now();
    const version = this.#version();
    for (const r of resources) {
      if (out.has(r)) continue;
      this.stats.resources++;
      const c = this.#cache.get(r);
      if (c && c.expires > now && c.version === version) {
        this.stats.cached++;
        out.set(r, c.value);
        continue;
      }
      out.set(r, r);
      const apply = (e: Enrichment): void => {
        const value = withMissing(r, e.add);
        if (value !== r) this.stats.enriched++;
        out.set(r, value);
        this.#cache.set(r, { value, expires: this.#now() + e.ttlMs, version });
      };
      const e = this.#enrich(r.attributes);
      if (e instanceof Promise) pending.push(e.then(apply));
      else apply(e);
    }
    await Promise.all(pending);
    return out;
  }
}

function distinct<T extends { resource: Resource }>(items: readonly T[]): Set<Resource> {
  const s = new Set<Resource>();
  for (const i of items) s.add(i.resource);
  return s;
}

/** Replaces the resource of every span / ResourceMetrics / log record with its enriched version (in place). */
export async function enrichTraces(td: Traces, e: ResourceEnricher): Promise<Traces> {
  const map = await e.resolve(distinct(td));
  for (let i = 0; i < td.length; i++) {
    const s = td[i];
    const r = map.get(s.resource)!;
    if (r === s.resource) continue;
    if (s instanceof SpanRecord) s.resource = r;
    else {
      const copy = cloneTraces([s as ReadableSpan])[0] as SpanRecord;
      copy.resource = r;
      td[i] = copy;
    }
  }
  return td;
}

export async function enrichMetrics(md: Metrics, e: ResourceEnricher): Promise<Metrics> {
  const map = await e.resolve(distinct(md));
  for (const rm of md) rm.resource = map.get(rm.resource)!;
  return md;
}

export async function enrichLogs(ld: Logs, e: ResourceEnricher): Promise<Logs> {
  const map = await e.resolve(distinct(ld));
  for (const rec of ld) {
    const r = map.get(rec.resource)!;
    if (r !== rec.resource) (rec as { resource: Resource }).resource = r;
  }
  return ld;
}

type ConsumerOf<S extends Signal> = S extends 'traces' ? TracesConsumer : S extends 'metrics' ? MetricsConsumer : LogsConsumer;

/** A processor (any signal) that replaces each item's Resource with `enricher`'s version. Declares mutatesData. */
export function newResourceProcessor<S extends Signal>(
  signal: S,
  next: ConsumerOf<S>,
  enricher: ResourceEnricher,
  lifecycle: { start?(host: Host): Promise<void>; shutdown?(signal?: AbortSignal): Promise<void> } = {},
): Component & ConsumerOf<S> {
  const fn = signal === 'traces'
    ? (d: Traces) => enrichTraces(d, enricher)
    : signal === 'metrics' ? (d: Metrics) => enrichMetrics(d, enricher) : (d: Logs) => enrichLogs(d, enricher);
  return newProcessor(signal, next, fn as never, { mutatesData: true, ...lifecycle });
}


/**
 * create* methods for a processor whose one core per id (caches, runtime clients, informers) serves all
 * three signals through a ResourceEnricher; each signal's processor ref-counts the core's lifecycle.
 */
export function sharedResourceProcessorMethods<C extends object, T extends Component & { readonly enricher: ResourceEnricher }>(create: (set: Settings, cfg: C) => T) {
  const shared = new SharedComponents<C, T>();
  const core = (set: Settings, cfg: C) => {
    const s = shared.getOrCreate(cfg, () => create(set, cfg));
    const h = s.handle();
    return { enricher: s.instance.enricher, lifecycle: { start: h.start, shutdown: h.shutdown } };
  };
  return {
    createTraces(set: Settings, cfg: C, next: TracesConsumer): Component & TracesConsumer {
      const c = core(set, cfg);
      return newResourceProcessor('traces', next, c.enricher, c.lifecycle);
    },
    createMetrics(set: Settings, cfg: C, next: MetricsConsumer): Component & MetricsConsumer {
      const c = core(set, cfg);
      return newResourceProcessor('metrics', next, c.enricher, c.lifecycle);
    },
    createLogs(set: Settings, cfg: C, next: LogsConsumer): Component & LogsConsumer {
      const c = core(set, cfg);
      return newResourceProcessor('logs', next, c.enricher, c.lifecycle);
    },
  };
}

import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { histogramMetric, resourceMetrics, sumMetric } from '../../../pdata/metrics.js';
import { nowHrTime } from '../../../pdata/time.js';
import type { L7Event } from './conn.js';
import type { ResourceCache } from './resources.js';
import type { RouteTemplater } from './routes.js';
import type { L7Record } from './types.js';

/**
 * Request metrics from L7 exchanges, aggregated per cgroup (one Resource each) in the hot path and exported
 * as cumulative ResourceMetrics on the collection interval. Two namings:
 * - `coroot`: coroot-node-agent's families (compat.md §3.2) for Prometheus: `container_<proto>_<noun>_total`
 *   {destination, actual_destination, status} and `…_duration_seconds_total` histograms (Prometheus default
 *   buckets) for outbound requests; `container_<proto>_inbound_<noun>…` {status} for inbound ones.
 * - `otel`: semconv histograms (`http.server.request.duration`, `http.client.request.duration`,
 *   `db.client.operation.duration`, …) with the semconv buckets and attributes.
 * Series are pre-keyed in per-family tries of Maps over attribute values that already exist as strings
 * (connection keys, parser attributes, constant status labels, cached route templates): after warm-up a
 * record costs a few Map lookups and numeric updates, no allocation.
 * Incomplete exchanges (no response seen) count in coroot's counters with status `unknown` and are left
 * out of every duration histogram.
 */

export type L7MetricsNaming = 'coroot' | 'otel';

export const PROMETHEUS_DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const SEMCONV_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** How one protocol's exchanges become metrics. */
export interface ProtocolMetricSpec {
  /** coroot names: `container_${proto}_${noun}_total`, `container_${proto}_inbound_${noun}_total`, … */
  readonly corootProto: string;
  readonly corootNoun: 'requests' | 'queries';
  /** coroot's `status` label for a record (a constant string: no allocation). */
  corootStatus(r: L7Record): string;
  /** semconv histogram names; a missing one means no semconv metric for that side. */
  readonly otelClient?: string;
  readonly otelServer?: string;
  /** semconv attribute keys per side, taken from the record (plus http.route, error.type, server.* computed here). */
  readonly otelClientKeys: readonly string[];
  readonly otelServerKeys: readonly string[];
}

const STATUS_CLASS = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx', '7xx', '8xx', '9xx'];

function httpStatusClass(r: L7Record): string {
  const code = r.attributes['http.response.status_code'];
  if (r.incomplete === true || typeof code !== 'number') return 'unknown';
  return STATUS_CLASS[Math.floor(code / 100) % 10];
}

function okFailed(r: L7Record): string {
  return r.incomplete === true || r.status === 'unknown' ? 'unknown' : r.status === 'error' ? 'failed' : 'ok';
}

const HTTP_SPEC: ProtocolMetricSpec = {
  corootProto: 'http',
  corootNoun: 'requests',
  corootStatus: httpStatusClass,
  otelClient: 'http.client.request.duration',
  otelServer: 'http.server.request.duration',
  otelClientKeys: ['http.request.method', 'http.response.status_code', 'server.address', 'server.port', 'url.scheme', 'network.protocol.version', 'error.type'],
  otelServerKeys: ['http.request.method', 'http.response.status_code', 'http.route', 'url.scheme', 'network.protocol.version', 'error.type'],
};

function dbSpec(corootProto: string): ProtocolMetricSpec {
  const keys = ['db.system.name', 'db.operation.name', 'db.collection.name', 'db.namespace', 'db.response.status_code', 'error.type'];
  return {
    corootProto,
    corootNoun: 'queries',
    corootStatus: okFailed,
    otelClient: 'db.client.operation.duration',
    otelServer: 'db.server.operation.duration',
    otelClientKeys: [...keys, 'server.address', 'server.port'],
    otelServerKeys: keys,
  };
}

function requestSpec(corootProto: string): ProtocolMetricSpec {
  return { corootProto, corootNoun: 'requests', corootStatus: okFailed, otelClientKeys: [], otelServerKeys: [] };
}

/** Protocol name (registry key) → metric spec. Parsers of other protocols add theirs to a copy. */
export const DEFAULT_PROTOCOL_METRICS: ReadonlyMap<string, ProtocolMetricSpec> = new Map<string, ProtocolMetricSpec>([
  ['http', HTTP_SPEC],
  ['postgresql', dbSpec('postgres')],
  ['mysql', dbSpec('mysql')],
  ['redis', dbSpec('redis')],
  ['memcached', dbSpec('memcached')],
  ['mongodb', dbSpec('mongo')],
  ['clickhouse', dbSpec('clickhouse')],
  ['cassandra', dbSpec('cassandra')],
  ['kafka', requestSpec('kafka')],
  ['zookeeper', requestSpec('zookeeper')],
  ['dubbo2', requestSpec('dubbo')],
  ['foundationdb', requestSpec('foundationdb')],
]);

class Series {
  readonly attributes: Attributes;
  /** Exchanges counted (coroot counter, incomplete ones included). */
  total = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  readonly buckets: Float64Array;

  constructor(attributes: Attributes, nBuckets: number) {
    this.attributes = attributes;
    this.buckets = new Float64Array(nBuckets);
  }
}

type Level = Map<string | number | undefined, Level | Series>;

class Family {
  readonly keys: readonly string[];
  readonly bounds: readonly number[];
  readonly root: Level = new Map();
  readonly series: Series[] = [];

  constructor(keys: readonly string[], bounds: readonly number[]) {
    this.keys = keys;
    this.bounds = bounds;
  }

  /** The series for values[0..keys.length); attributes with an undefined value are left out. */
  get(values: (string | number | undefined)[]): Series {
    const n = this.keys.length;
    let m = this.root;
    for (let i = 0; i < n - 1; i++) {
      let next = m.get(values[i]) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        m.set(values[i], next);
      }
      m = next;
    }
    const last = n > 0 ? values[n - 1] : undefined;
    let s = m.get(last) as Series | undefined;
    if (s === undefined) {
      const attributes: Attributes = {};
      for (let i = 0; i < n; i++) if (values[i] !== undefined) attributes[this.keys[i]] = values[i];
      s = new Series(attributes, this.bounds.length + 1);
      m.set(last, s);
      this.series.push(s);
    }
    return s;
  }

  /** `ns`: an integer nanosecond duration (a small integer below 2.1 s: no boxed double crosses the call). */
  observe(s: Series, ns: number): void {
    const seconds = ns / 1e9;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    s.buckets[i]++;
    s.count++;
    s.sum += seconds;
    if (seconds < s.min) s.min = seconds;
    if (seconds > s.max) s.max = seconds;
  }
}

class ResourceAgg {
  readonly resource: Resource;
  readonly start: HrTime;
  /** family name → family (coroot: the counter's name; both counter and histogram read it). */
  readonly families = new Map<string, Family>();

  constructor(resource: Resource, start: HrTime) {
    this.resource = resource;
    this.start = start;
  }
}

interface FamilyNames {
  readonly outCounter: string;
  readonly outHistogram: string;
  readonly inCounter: string;
  readonly inHistogram: string;
}

const COROOT_OUT_KEYS = ['destination', 'actual_destination', 'status'];
const COROOT_IN_KEYS = ['status'];

export interface L7MetricsOptions {
  readonly naming: L7MetricsNaming;
  readonly protocols?: ReadonlyMap<string, ProtocolMetricSpec>;
}

export class L7Metrics {
  readonly #naming: L7MetricsNaming;
  readonly #specs: ReadonlyMap<string, ProtocolMetricSpec>;
  readonly #names = new Map<string, FamilyNames>();
  readonly #resources: ResourceCache;
  readonly #routes: RouteTemplater;
  readonly #scope: InstrumentationScope;
  readonly #aggs = new Map<string, ResourceAgg>();
  readonly #values: (string | number | undefined)[] = new Array(16).fill(undefined);
  /** Records of protocols without a metric spec. */
  unknownProtocol = 0;

  constructor(opts: L7MetricsOptions, resources: ResourceCache, routes: RouteTemplater, scope: InstrumentationScope) {
    this.#naming = opts.naming;
    this.#specs = opts.protocols ?? DEFAULT_PROTOCOL_METRICS;
    for (const [p, s] of this.#specs) {
      const out = `container_${s.corootProto}_${s.corootNoun}`;
      const inb = `container_${s.corootProto}_inbound_${s.corootNoun}`;
      this.#names.set(p, { outCounter: `${out}_total`, outHistogram: `${out}_duration_seconds_total`, inCounter: `${inb}_total`, inHistogram: `${inb}_duration_seconds_total` });
    }
    this.#resources = resources;
    this.#routes = routes;
    this.#scope = scope;
  }

  record(ev: L7Event): void {
    const r = ev.record;
    const spec = this.#specs.get(r.protocol);
    if (spec === undefined) {
      this.unknownProtocol++;
      return;
    }
    const conn = ev.conn;
    let agg = this.#aggs.get(conn.cgroupPath);
    if (agg === undefined) {
      agg = new ResourceAgg(this.#resources.forCgroup(conn.cgroupPath), nowHrTime());
      this.#aggs.set(conn.cgroupPath, agg);
    }
    const server = conn.role === 'server';
    const complete = r.incomplete !== true;
    const ns = r.endNs - r.startNs;
    const v = this.#values;

    if (this.#naming === 'coroot') {
      const names = this.#names.get(r.protocol) as FamilyNames;
      const name = server ? names.inCounter : names.outCounter;
      let fam = agg.families.get(name);
      if (fam === undefined) {
        fam = new Family(server ? COROOT_IN_KEYS : COROOT_OUT_KEYS, PROMETHEUS_DEFAULT_BUCKETS);
        agg.families.set(name, fam);
      }
      if (server) v[0] = spec.corootStatus(r);
      else {
        v[0] = ev.keys.remote;
        v[1] = ev.keys.actualRemote;
        v[2] = spec.corootStatus(r);
      }
      const s = fam.get(v);
      s.total++;
      if (complete) fam.observe(s, ns);
      return;
    }

    const name = server ? spec.otelServer : spec.otelClient;
    if (name === undefined || !complete) return;
    let fam = agg.families.get(name);
    if (fam === undefined) {
      fam = new Family(server ? spec.otelServerKeys : spec.otelClientKeys, SEMCONV_DURATION_BUCKETS);
      agg.families.set(name, fam);
    }
    const keys = fam.keys;
    const attrs = r.attributes;
    const failed = r.status === 'error' && !(server && r.clientFault === true);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      let x: string | number | boolean | undefined = attrs[k];
      if (k === 'error.type') x = failed ? r.errorType : undefined;
      else if (k === 'http.route') {
        const path = attrs['url.path'];
        x = typeof path === 'string' ? this.#routes.route(conn.cgroupPath, path) : undefined;
      } else if (x === undefined && k === 'server.address') x = conn.actualRemoteIp ?? conn.remoteIp;
      else if (x === undefined && k === 'server.port' && attrs['server.address'] === undefined) x = conn.actualRemotePort ?? conn.remotePort;
      v[i] = typeof x === 'boolean' ? String(x) : x;
    }
    fam.observe(fam.get(v), ns);
  }

  /** Cumulative metrics of every cgroup seen so far. */
  collect(now: HrTime = nowHrTime()): ResourceMetrics[] {
    const out: ResourceMetrics[] = [];
    for (const agg of this.#aggs.values()) {
      const metrics: MetricData[] = [];
      for (const [name, fam] of agg.families) {
        const hist = (): DataPoint<Histogram>[] => fam.series.filter((s) => s.count > 0).map((s) => ({
          startTime: agg.start,
          endTime: now,
          attributes: s.attributes,
          value: {
            buckets: { boundaries: [...fam.bounds], counts: Array.from(s.buckets) },
            sum: s.sum,
            count: s.count,
            min: s.min,
            max: s.max,
          },
        }));
        if (this.#naming === 'coroot') {
          const inbound = name.includes('_inbound_');
          metrics.push(sumMetric(name, inbound ? 'Inbound requests handled, by status' : 'Outbound requests made, by destination and status', '', fam.series.map((s) => ({ startTime: agg.start, endTime: now, attributes: s.attributes, value: s.total }))));
          const points = hist();
          if (points.length > 0) metrics.push(histogramMetric(name.replace(/_total$/, '_duration_seconds_total'), 'Request durations', 's', points));
        } else {
          metrics.push(histogramMetric(name, 'Duration of requests', 's', hist()));
        }
      }
      const nonEmpty = metrics.filter((m) => m.dataPoints.length > 0);
      if (nonEmpty.length > 0) out.push(resourceMetrics(agg.resource, this.#scope, nonEmpty));
    }
    return out;
  }
}

/**
 * OpenTelemetry metrics → Prometheus remote-write series, the way the Collector's prometheusremotewrite
 * translator does it, encoded straight into per-shard `prometheus.WriteRequest` (RW 1.0) fragments:
 *
 * - names from the shared translation (src/internal/prometheus/naming.ts): monotonic cumulative sums
 *   are counters with `_total`, other sums and gauges are gauges, histograms become `_bucket{le}`
 *   (cumulative, with `+Inf`), `_sum` and `_count`;
 * - labels: resource labels (coroot labels, optionally every resource attribute) < data point attributes
 *   < `job`/`instance` from the resource < `__name__`; external labels only where not already set;
 *   sorted by name, empty values left out;
 * - one `target_info` series (value 1) per resource with its non-identifying attributes;
 * - timestamps in ms (the point's end time); delta sums/histograms and exponential histograms are not
 *   representable and are counted as `unsupported`.
 *
 * Every series goes to shard `fnv1a(labels) % shards`, so a series always travels through the same
 * ordered lane (samples of a series stay in order). Fragments of one shard concatenate into one valid
 * WriteRequest. With `metadata`, a MetricMetadata per family is added (field 3) for RW 2.0 transcoding.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { Metrics } from '../../consumer/consumer.js';
import type { HostInfo } from '../../internal/host-info.js';
import type { LabelSet } from '../../internal/prometheus/labels.js';
import { addAttributes, jobInstance, resourceLabels, targetInfoLabels } from '../../internal/prometheus/labels.js';
import type { PromType } from '../../internal/prometheus/naming.js';
import { metricFamilyName, sanitizeLabelName } from '../../internal/prometheus/naming.js';
import { ProtoWriter } from '../../internal/protobuf.js';

export interface EncoderOptions {
  readonly namespace: string;
  readonly addSuffixes: boolean;
  readonly resourceToTelemetry: boolean;
  readonly coroot: boolean;
  readonly host: HostInfo;
  readonly externalLabels: Record<string, string>;
  readonly targetInfo: boolean;
  readonly shards: number;
  /** Add MetricMetadata (type, help, unit) per family: needed to build RW 2.0 requests. */
  readonly metadata: boolean;
}

export interface ShardPayload {
  readonly shard: number;
  readonly data: Buffer;
  /** Data points whose first series is in this shard. */
  readonly items: number;
  readonly samples: number;
}

export interface EncodeResult {
  readonly shards: ShardPayload[];
  readonly samples: number;
  /** Data points that cannot be sent over remote-write. */
  readonly unsupported: number;
}

/** prometheus.MetricMetadata.MetricType */
const META_TYPE: Record<PromType, number> = { counter: 1, gauge: 2, histogram: 3, summary: 5, unknown: 0 };

function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

/** Byte length of a string in UTF-8, fast for ASCII. */
function utf8Len(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

function formatLe(b: number): string {
  if (b === Infinity) return '+Inf';
  return String(b);
}

/** Sorted [name, value, name, value, …] without empty values. */
type FlatLabels = string[];

function sortedFlat(labels: LabelSet): FlatLabels {
  const keys = [...labels.keys()].sort();
  const out: FlatLabels = [];
  for (const k of keys) {
    const v = labels.get(k)!;
    if (v !== '') out.push(k, v);
  }
  return out;
}

/** Inserts (or replaces) name=value into a sorted flat list, returning a new list. */
function withLabel(flat: FlatLabels, name: string, value: string): FlatLabels {
  const out: FlatLabels = [];
  let done = false;
  for (let i = 0; i < flat.length; i += 2) {
    if (!done && flat[i] >= name) {
      out.push(name, value);
      done = true;
      if (flat[i] === name) continue;
    }
    out.push(flat[i], flat[i + 1]);
  }
  if (!done) out.push(name, value);
  return out;
}

interface ResourceInfo {
  /** Base labels (lowest precedence) as a map, and job/instance (override attributes). */
  readonly base: LabelSet;
  readonly job?: string;
  readonly instance?: string;
  readonly targetInfo?: LabelSet;
}

export class RemoteWriteEncoder {
  readonly #opts: EncoderOptions;
  readonly #resources = new WeakMap<Resource, ResourceInfo>();
  readonly #names = new Map<string, string>();
  readonly #external: Array<[string, string]>;
  #writers: ProtoWriter[];
  #items: number[];
  #samples: number[];

  constructor(opts: EncoderOptions) {
    this.#opts = opts;
    this.#external = Object.entries(opts.externalLabels).map(([k, v]) => [sanitizeLabelName(k), v] as [string, string]).filter(([, v]) => v !== '');
    this.#writers = Array.from({ length: opts.shards }, () => new ProtoWriter(16 * 1024));
    this.#items = new Array<number>(opts.shards).fill(0);
    this.#samples = new Array<number>(opts.shards).fill(0);
  }

  #resource(r: Resource): ResourceInfo {
    let info = this.#resources.get(r);
    if (!info) {
      const base = resourceLabels(r, { resourceToTelemetry: this.#opts.resourceToTelemetry, coroot: this.#opts.coroot, host: this.#opts.host });
      const { job, instance } = jobInstance(r);
      info = { base, job, instance, targetInfo: this.#opts.targetInfo ? targetInfoLabels(r) : undefined };
      this.#resources.set(r, info);
    }
    return info;
  }

  #familyName(m: MetricData, type: PromType): string {
    const key = `${m.descriptor.name}\u0000${m.descriptor.unit}\u0000${type}`;
    let n = this.#names.get(key);
    if (n === undefined) {
      n = metricFamilyName(m.descriptor.name, m.descriptor.unit, type, { namespace: this.#opts.namespace, addSuffixes: this.#opts.addSuffixes });
      if (this.#names.size > 10_000) this.#names.clear();
      this.#names.set(key, n);
    }
    return n;
  }

  /** Labels of a point without __name__ (sorted flat list). */
  #pointLabels(info: ResourceInfo, attrs: Attributes): FlatLabels {
    const labels: LabelSet = new Map(info.base);
    const own: LabelSet = new Map();
    addAttributes(own, attrs);
    for (const [k, v] of own) labels.set(k, v);
    if (info.job) labels.set('job', info.job);
    if (info.instance) labels.set('instance', info.instance);
    for (const [k, v] of this.#external) if (!labels.has(k)) labels.set(k, v);
    labels.delete('__name__');
    return sortedFlat(labels);
  }

  /** Writes one TimeSeries with one sample; returns its shard. */
  #series(flat: FlatLabels, value: number, tsMs: number): number {
    let h = 0x811c9dc5;
    let labelsLen = 0;
    for (let i = 0; i < flat.length; i += 2) {
      h = fnv1a(fnv1a(h, flat[i]), flat[i + 1]);
      h = Math.imul(h ^ 0xff, 0x01000193);
      const nb = utf8Len(flat[i]);
      const vb = utf8Len(flat[i + 1]);
      const l = 1 + varintSize(nb) + nb + 1 + varintSize(vb) + vb;
      labelsLen += 1 + varintSize(l) + l;
    }
    const shard = (h >>> 0) % this.#opts.shards;
    const w = this.#writers[shard];
    const sampleLen = 9 + (tsMs >= 0 ? 1 + varintSize(tsMs) : 11);
    const tsLen = labelsLen + 1 + varintSize(sampleLen) + sampleLen;
    w.ensure(1 + varintSize(tsLen) + tsLen + 16);
    w.buf[w.pos++] = 0x0a; // WriteRequest.timeseries = 1
    w.varint(tsLen);
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i];
      const val = flat[i + 1];
      const nb = utf8Len(name);
      const vb = utf8Len(val);
      w.buf[w.pos++] = 0x0a; // TimeSeries.labels = 1
      w.varint(1 + varintSize(nb) + nb + 1 + varintSize(vb) + vb);
      w.ensure(nb + vb + 12);
      w.buf[w.pos++] = 0x0a; // Label.name = 1
      w.varint(nb);
      w.pos += w.buf.write(name, w.pos, 'utf8');
      w.buf[w.pos++] = 0x12; // Label.value = 2
      w.varint(vb);
      w.pos += w.buf.write(val, w.pos, 'utf8');
    }
    w.buf[w.pos++] = 0x12; // TimeSeries.samples = 2
    w.varint(sampleLen);
    w.buf[w.pos++] = 0x09; // Sample.value = 1 (double)
    w.buf.writeDoubleLE(value, w.pos);
    w.pos += 8;
    w.buf[w.pos++] = 0x10; // Sample.timestamp = 2
    w.int64(tsMs);
    this.#samples[shard]++;
    return shard;
  }

  #metadata(name: string, type: PromType, help: string, unit: string): void {
    // MetricMetadata goes to shard 0 (WriteRequest.metadata = 3); RW 2.0 transcoding reads it back.
    const w = this.#writers[0];
    const t = w.beginLen(3);
    w.tag(1, 0);
    w.varint(META_TYPE[type]);
    w.string(2, name);
    if (help) w.string(4, help);
    if (unit) w.string(5, unit);
    w.endLen(t);
  }

  encode(md: Metrics): EncodeResult {
    let unsupported = 0;
    let total = 0;
    const seenMeta = this.#opts.metadata ? new Set<string>() : undefined;
    for (const rm of md) {
      const info = this.#resource(rm.resource);
      let latestMs = -1;
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const delta = m.aggregationTemporality === AggregationTemporality.DELTA;
          if (m.dataPointType === DataPointType.GAUGE || m.dataPointType === DataPointType.SUM) {
            const counter = m.dataPointType === DataPointType.SUM && m.isMonotonic;
            if (counter && delta) {
              unsupported += m.dataPoints.length;
              continue;
            }
            const type: PromType = counter ? 'counter' : 'gauge';
            const name = this.#familyName(m, type);
            if (seenMeta && !seenMeta.has(name)) {
              seenMeta.add(name);
              this.#metadata(name, type, m.descriptor.description, m.descriptor.unit);
            }
            for (const p of m.dataPoints as DataPoint<number>[]) {
              const ts = p.endTime[0] * 1000 + Math.floor(p.endTime[1] / 1e6);
              if (ts > latestMs) latestMs = ts;
              const flat = withLabel(this.#pointLabels(info, p.attributes), '__name__', name);
              this.#items[this.#series(flat, p.value, ts)]++;
              total++;
            }
          } else if (m.dataPointType === DataPointType.HISTOGRAM) {
            if (delta) {
              unsupported += m.dataPoints.length;
              continue;
            }
            const name = this.#familyName(m, 'histogram');
            if (seenMeta && !seenMeta.has(name)) {
              seenMeta.add(name);
              this.#metadata(name, 'histogram', m.descriptor.description, m.descriptor.unit);
            }
            for (const p of m.dataPoints as DataPoint<Histogram>[]) {
              const ts = p.endTime[0] * 1000 + Math.floor(p.endTime[1] / 1e6);
              if (ts > latestMs) latestMs = ts;
              const base = this.#pointLabels(info, p.attributes);
              const h = p.value;
              const bucket = withLabel(base, '__name__', `${name}_bucket`);
              let cum = 0;
              const { boundaries, counts } = h.buckets;
              let first = -1;
              for (let i = 0; i < counts.length; i++) {
                cum += counts[i];
                const le = i < boundaries.length ? boundaries[i] : Infinity;
                if (i < boundaries.length && le === Infinity) continue; // +Inf is added once, below
                const shard = this.#series(withLabel(bucket, 'le', formatLe(le)), cum, ts);
                if (first < 0) first = shard;
                total++;
              }
              this.#series(withLabel(base, '__name__', `${name}_sum`), h.sum ?? 0, ts);
              this.#series(withLabel(base, '__name__', `${name}_count`), h.count, ts);
              total += 2;
              this.#items[first < 0 ? 0 : first]++;
            }
          } else {
            unsupported += m.dataPoints.length;
          }
        }
      }
      if (info.targetInfo && latestMs >= 0) {
        const labels = new Map(info.targetInfo);
        for (const [k, v] of this.#external) if (!labels.has(k)) labels.set(k, v);
        this.#series(withLabel(sortedFlat(labels), '__name__', 'target_info'), 1, latestMs);
        total++;
      }
    }
    const shards: ShardPayload[] = [];
    for (let s = 0; s < this.#writers.length; s++) {
      const w = this.#writers[s];
      if (w.pos === 0) continue;
      shards.push({ shard: s, data: w.finish(), items: this.#items[s], samples: this.#samples[s] });
      w.reset();
      this.#items[s] = 0;
      this.#samples[s] = 0;
    }
    return { shards, samples: total, unsupported };
  }
}

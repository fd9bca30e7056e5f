import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { HostInfo } from '../../internal/host-info.js';
import type { LabelSet } from '../../internal/prometheus/labels.js';
import { addAttributes, resourceLabels } from '../../internal/prometheus/labels.js';
import type { PromType } from '../../internal/prometheus/naming.js';
import { escapeLabelValue, formatValue, metricFamilyName, sanitizeLabelName } from '../../internal/prometheus/naming.js';
import type { Metrics } from '../../consumer/consumer.js';
import { hrTimeToMs } from '../../pdata/time.js';

interface Series {
  /** Rendered, sorted `name="value"` pairs without braces. */
  readonly labels: string;
  value: number;
  hist?: { bounds: number[]; counts: number[]; sum: number; count: number };
  tsMs: number;
  updatedMs: number;
}

interface Family {
  /** Sample name for counters (ends in _total) or the base name for others. */
  readonly name: string;
  readonly type: PromType;
  readonly help: string;
  readonly unit: string;
  readonly series: Map<string, Series>;
}

export interface StoreOptions {
  readonly namespace: string;
  readonly addSuffixes: boolean;
  readonly constLabels: Record<string, string>;
  readonly resourceToTelemetry: boolean;
  readonly coroot: boolean;
  readonly host: HostInfo;
  readonly expirationMs: number;
  readonly maxSeries: number;
}

function promType(m: MetricData): PromType {
  switch (m.dataPointType) {
    case DataPointType.SUM:
      return m.isMonotonic ? 'counter' : 'gauge';
    case DataPointType.GAUGE:
      return 'gauge';
    case DataPointType.HISTOGRAM:
      return 'histogram';
    default:
      return 'unknown';
  }
}

function renderLabels(labels: LabelSet): string {
  const keys = [...labels.keys()].sort();
  let out = '';
  for (const k of keys) out += `${out ? ',' : ''}${k}="${escapeLabelValue(labels.get(k)!)}"`;
  return out;
}

/**
 * The scrape exporter's state: the latest value of every series (cumulative), with delta sums and delta
 * histograms accumulated, series expiring after `metric_expiration`, and a cap on the series count.
 */
export class SeriesStore {
  readonly #opts: StoreOptions;
  readonly #families = new Map<string, Family>();
  readonly #resourceLabels = new WeakMap<Resource, LabelSet>();
  readonly #constLabels: LabelSet;
  #seriesCount = 0;
  /** Series refused because of max_series, and points whose name collided with another type. */
  droppedSeries = 0;
  conflicts = 0;

  constructor(opts: StoreOptions) {
    this.#opts = opts;
    this.#constLabels = new Map(Object.entries(opts.constLabels).map(([k, v]) => [sanitizeLabelName(k), v]));
  }

  get seriesCount(): number {
    return this.#seriesCount;
  }

  #labelsFor(resource: Resource): LabelSet {
    let l = this.#resourceLabels.get(resource);
    if (!l) {
      l = resourceLabels(resource, { resourceToTelemetry: this.#opts.resourceToTelemetry, coroot: this.#opts.coroot, host: this.#opts.host });
      this.#resourceLabels.set(resource, l);
    }
    return l;
  }

  #series(fam: Family, base: LabelSet, attrs: Attributes, now: number): Series | undefined {
    const labels = new Map(base);
    addAttributes(labels, attrs);
    for (const [k, v] of this.#constLabels) labels.set(k, v);
    const rendered = renderLabels(labels);
    let s = fam.series.get(rendered);
    if (!s) {
      if (this.#seriesCount >= this.#opts.maxSeries) {
        this.droppedSeries++;
        return undefined;
      }
      s = { labels: rendered, value: 0, tsMs: now, updatedMs: now };
      fam.series.set(rendered, s);
      this.#seriesCount++;
    }
    return s;
  }

  /** Ingests a batch; returns the number of data points stored. */
  ingest(md: Metrics, now = Date.now()): number {
    let stored = 0;
    for (const rm of md) {
      const base = this.#labelsFor(rm.resource);
      for (const sm of rm.scopeMetrics) {
        for (const m of sm.metrics) {
          const type = promType(m);
          const name = metricFamilyName(m.descriptor.name, m.descriptor.unit, type, { namespace: this.#opts.namespace, addSuffixes: this.#opts.addSuffixes });
          let fam = this.#families.get(name);
          if (!fam) {
            fam = { name, type, help: m.descriptor.description, unit: m.descriptor.unit, series: new Map() };
            this.#families.set(name, fam);
          } else if (fam.type !== type) {
            this.conflicts += m.dataPoints.length;
            continue;
          }
          const delta = m.aggregationTemporality === AggregationTemporality.DELTA;
          if (m.dataPointType === DataPointType.HISTOGRAM) {
            for (const p of m.dataPoints as DataPoint<Histogram>[]) {
              const s = this.#series(fam, base, p.attributes, now);
              if (!s) continue;
              const h = p.value;
              if (delta && s.hist && s.hist.bounds.length === h.buckets.boundaries.length) {
                h.buckets.counts.forEach((c, i) => (s.hist!.counts[i] += c));
                s.hist.sum += h.sum ?? 0;
                s.hist.count += h.count;
              } else {
                s.hist = { bounds: [...h.buckets.boundaries], counts: [...h.buckets.counts], sum: h.sum ?? 0, count: h.count };
              }
              s.tsMs = hrTimeToMs(p.endTime);
              s.updatedMs = now;
              stored++;
            }
          } else if (m.dataPointType === DataPointType.SUM || m.dataPointType === DataPointType.GAUGE) {
            const accumulate = delta && m.dataPointType === DataPointType.SUM && m.isMonotonic;
            for (const p of m.dataPoints as DataPoint<number>[]) {
              const s = this.#series(fam, base, p.attributes, now);
              if (!s) continue;
              s.value = accumulate ? s.value + p.value : p.value;
              s.tsMs = hrTimeToMs(p.endTime);
              s.updatedMs = now;
              stored++;
            }
          }
        }
      }
    }
    return stored;
  }

  #expire(now: number): void {
    const limit = now - this.#opts.expirationMs;
    for (const [name, fam] of this.#families) {
      for (const [k, s] of fam.series) {
        if (s.updatedMs < limit) {
          fam.series.delete(k);
          this.#seriesCount--;
        }
      }
      if (fam.series.size === 0) this.#families.delete(name);
    }
  }

  /** Text exposition format 0.0.4 (`openMetrics` false) or OpenMetrics 1.0 (ends with `# EOF`). */
  render(openMetrics: boolean, withTimestamps: boolean, now = Date.now()): string {
    this.#expire(now);
    const parts: string[] = [];
    const ts = (s: Series) => (withTimestamps ? ` ${openMetrics ? (s.tsMs / 1000).toFixed(3) : Math.round(s.tsMs)}` : '');
    const sample = (name: string, labels: string, extra: string, v: number, s: Series) => {
      const l = labels && extra ? `${labels},${extra}` : labels || extra;
      return `${name}${l ? `{${l}}` : ''} ${formatValue(v)}${ts(s)}\n`;
    };
    for (const fam of this.#families.values()) {
      const familyName = openMetrics && fam.type === 'counter' ? fam.name.replace(/_total$/, '') : fam.name;
      const help = (fam.help || fam.name).replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
      const sampleName = openMetrics && fam.type === 'counter' ? `${familyName}_total` : fam.name;
      let out = `# HELP ${familyName} ${help}\n# TYPE ${familyName} ${fam.type}\n`;
      for (const s of fam.series.values()) {
        if (fam.type === 'histogram' && s.hist) {
          let cum = 0;
          const { bounds, counts } = s.hist;
          for (let i = 0; i < counts.length; i++) {
            cum += counts[i];
            const le = i < bounds.length ? formatValue(bounds[i]) : '+Inf';
            if (i < bounds.length && bounds[i] === Infinity) continue;
            out += sample(`${fam.name}_bucket`, s.labels, `le="${le}"`, cum, s);
          }
          out += sample(`${fam.name}_sum`, s.labels, '', s.hist.sum, s);
          out += sample(`${fam.name}_count`, s.labels, '', s.hist.count, s);
        } else {
          out += sample(sampleName, s.labels, '', s.value, s);
        }
      }
      parts.push(out);
    }
    if (openMetrics) parts.push('# EOF\n');
    return parts.join('');
  }
}

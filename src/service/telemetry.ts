/**
 * Sonde's own metrics (self-telemetry): a small registry of counter/gauge/histogram families rendered in
 * the Prometheus text format on `service.telemetry.metrics.address`. Families are get-or-create by name, so
 * several components share one family and differ by label values. Incrementing a child is a property
 * update: cache the child (`family.labels(...)`) outside hot loops.
 */

type LabelValues = readonly string[];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function fmt(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelStr(names: readonly string[], values: LabelValues, extra?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Counter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Gauge {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

abstract class Family<C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly children = new Map<string, { values: LabelValues; child: C }>();
  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }
  protected abstract make(): C;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.join('\u0000');
    let e = this.children.get(key);
    if (!e) {
      e = { values, child: this.make() };
      this.children.set(key, e);
    }
    return e.child;
  }
  remove(...values: string[]): void {
    this.children.delete(values.join('\u0000'));
  }
  abstract render(): string;
}

export class CounterFamily extends Family<Counter> {
  readonly type = 'counter';
  protected make(): Counter {
    return new Counter();
  }
  render(): string {
    let out = '';
    for (const { values, child } of this.children.values()) out += `${this.name}${labelStr(this.labelNames, values)} ${fmt(child.value)}\n`;
    return out;
  }
  /** Sum over children whose labels match `match` (tests and summaries). */
  sum(match: Record<string, string> = {}): number {
    let total = 0;
    for (const { values, child } of this.children.values()) {
      if (this.labelNames.every((n, i) => match[n] === undefined || match[n] === values[i])) total += child.value;
    }
    return total;
  }
}

export class GaugeFamily extends Family<Gauge> {
  readonly type = 'gauge';
  /** Read at render time, one per owner key (see SelfTelemetry.gaugeFn). */
  readonly collectors = new Map<string, () => Iterable<readonly [LabelValues, number]>>();
  protected make(): Gauge {
    return new Gauge();
  }
  render(): string {
    let out = '';
    for (const { values, child } of this.children.values()) out += `${this.name}${labelStr(this.labelNames, values)} ${fmt(child.value)}\n`;
    for (const collect of this.collectors.values()) {
      for (const [values, v] of collect()) out += `${this.name}${labelStr(this.labelNames, values)} ${fmt(v)}\n`;
    }
    return out;
  }
}

export class HistogramFamily extends Family<Histogram> {
  readonly type = 'histogram';
  readonly bounds: readonly number[];
  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]) {
    super(name, help, labelNames);
    this.bounds = bounds;
  }
  protected make(): Histogram {
    return new Histogram(this.bounds);
  }
  render(): string {
    let out = '';
    for (const { values, child } of this.children.values()) {
      let cum = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cum += child.counts[i];
        const le = i < this.bounds.length ? fmt(this.bounds[i]) : '+Inf';
        out += `${this.name}_bucket${labelStr(this.labelNames, values, `le="${le}"`)} ${cum}\n`;
      }
      out += `${this.name}_sum${labelStr(this.labelNames, values)} ${fmt(child.sum)}\n`;
      out += `${this.name}_count${labelStr(this.labelNames, values)} ${child.count}\n`;
    }
    return out;
  }
}

type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;

export class SelfTelemetry {
  readonly #families = new Map<string, AnyFamily>();

  #get<F extends AnyFamily>(name: string, type: F['type'], labelNames: readonly string[], make: () => F): F {
    const f = this.#families.get(name);
    if (f) {
      if (f.type !== type || f.labelNames.join(',') !== labelNames.join(',')) {
        throw new TypeError(`self-telemetry metric ${name} re-registered as ${type}{${labelNames.join(',')}}, was ${f.type}{${f.labelNames.join(',')}}`);
      }
      return f as F;
    }
    const nf = make();
    this.#families.set(name, nf);
    return nf;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): CounterFamily {
    return this.#get(name, 'counter', labelNames, () => new CounterFamily(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): GaugeFamily {
    return this.#get(name, 'gauge', labelNames, () => new GaugeFamily(name, help, labelNames));
  }

  /**
   * A gauge whose values are read at render time. Replaces an earlier collector of the same name and `key`;
   * components that can have several instances (receivers `ebpf` and `ebpf/x`) pass their id as `key` so each
   * keeps its own rows.
   */
  gaugeFn(name: string, help: string, labelNames: readonly string[], collect: () => Iterable<readonly [LabelValues, number]>, key = ''): GaugeFamily {
    const f = this.gauge(name, help, labelNames);
    f.collectors.set(key, collect);
    return f;
  }

  histogram(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): HistogramFamily {
    return this.#get(name, 'histogram', labelNames, () => new HistogramFamily(name, help, labelNames, bounds));
  }

  family(name: string): AnyFamily | undefined {
    return this.#families.get(name);
  }

  /** Sum of a counter family over children matching `match`; 0 when the family does not exist. */
  counterValue(name: string, match: Record<string, string> = {}): number {
    const f = this.#families.get(name);
    return f instanceof CounterFamily ? f.sum(match) : 0;
  }

  /** Total of every `*_dropped_*` / `*_lost_*` counter: the debug exporter's "drops" column. */
  totalDrops(): number {
    let total = 0;
    for (const f of this.#families.values()) {
      if (f instanceof CounterFamily && /_(dropped|lost)_/.test(f.name)) total += f.sum();
    }
    return total;
  }

  render(): string {
    let out = '';
    for (const f of this.#families.values()) {
      const body = f.render();
      if (!body) continue;
      out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n${body}`;
    }
    return out;
  }
}

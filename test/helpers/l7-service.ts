// e2e helper: the real Service with the ebpf receiver's l7 probe, as a user would configure it, for the
// database-protocol suites (test/e2e/l7-db-*.test.ts). Two receivers on the same kernel traffic:
//   ebpf       metrics_naming: coroot — spans → Sink, coroot families → Sink and the prometheus exporter
//   ebpf/otel  metrics_naming: otel   — semconv histograms (db.client/server.operation.duration) → Sink and
//              the prometheus exporter (no spans: it is not in a traces pipeline)
// Tests filter by their own servers (ports, a cgroup per server) and clients (pids): the machine is shared.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Histogram, HistogramMetricData, ResourceMetrics, SumMetricData } from '@opentelemetry/sdk-metrics';
import { loadServiceConfig } from '../../src/cli.js';
import type { ExporterFactory } from '../../src/component/factory.js';
import { builtinComponents } from '../../src/components.js';
import { s } from '../../src/config/schema.js';
import { nopLogger } from '../../src/service/logger.js';
import { defineComponents } from '../../src/service/registry.js';
import { Service } from '../../src/service/service.js';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import type { TestCgroup } from './l7-agent.js';
import { TEST_HOST } from './settings.js';
import { Sink } from './sinks.js';

function sinkExporter(type: string, sink: Sink): ExporterFactory<Record<string, never>> {
  return {
    kind: 'exporter', type, description: 'test sink', stability: { traces: 'development', metrics: 'development' },
    configSchema: s.object({}) as never, createDefaultConfig: () => ({}),
    createTraces: () => sink, createMetrics: () => sink,
  };
}

export const pidOf = (sp: ReadableSpan): number => sp.resource.attributes['process.pid'] as number;
export const cgroupOf = (sp: ReadableSpan): string => sp.resource.attributes['sonde.cgroup.path'] as string;
const spanId = (sp: ReadableSpan): string => sp.spanContext().spanId;

/** One Prometheus sample of a scrape. */
export interface PromSample { name: string; labels: Record<string, string>; value: number }

export function parsePrometheusText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let l = re.exec(m[2] ?? ''); l; l = re.exec(m[2] ?? '')) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function promSum(samples: PromSample[], name: string, labels: Record<string, string>): number {
  let n = 0;
  for (const x of samples) if (x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) n += x.value;
  return n;
}

/** Sum (counters) or count (histograms) of the points of `name` in cgroup `cg` whose attributes include `attrs`. */
export function pointSum(rms: ResourceMetrics[], cg: string | undefined, name: string, attrs: Record<string, string | number>, what: 'value' | 'sum' = 'value'): number {
  let n = 0;
  for (const rm of rms) {
    if (cg !== undefined && rm.resource.attributes['sonde.cgroup.path'] !== cg) continue;
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.descriptor.name !== name) continue;
        for (const p of (m as SumMetricData | HistogramMetricData).dataPoints) {
          if (!Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) continue;
          n += typeof p.value === 'number' ? p.value : what === 'sum' ? (p.value as Histogram).sum ?? 0 : (p.value as Histogram).count;
        }
      }
    }
  }
  return n;
}

/** Every attribute set of `name`'s points in cgroup `cg` (for failure messages and exact-set assertions). */
export function pointAttrs(rms: ResourceMetrics[], cg: string | undefined, name: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const rm of rms) {
    if (cg !== undefined && rm.resource.attributes['sonde.cgroup.path'] !== cg) continue;
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of (m as SumMetricData | HistogramMetricData).dataPoints) {
        out.push({ ...p.attributes, _n: typeof p.value === 'number' ? p.value : (p.value as Histogram).count });
      }
    }
  }
  return out;
}

export class L7Service {
  readonly svc: Service;
  /** Spans of `ebpf` and metrics of both receivers (separate sinks so the two namings never mix). */
  readonly sink = new Sink();
  readonly otelSink = new Sink();
  readonly #tmp: string;

  private constructor(svc: Service, tmp: string, sink: Sink, otelSink: Sink) {
    this.svc = svc;
    this.#tmp = tmp;
    this.sink = sink;
    this.otelSink = otelSink;
  }

  static async start(extraL7 = ''): Promise<L7Service> {
    const tmp = mkdtempSync(join(tmpdir(), 'sonde-l7-db-'));
    const file = join(tmp, 'config.yaml');
    const probes = (naming: string): string => `
    collection_interval: 200ms
    discovery: false
    probes:
      process: { enabled: false }
      tcp: { enabled: true }
      l7:
        enabled: true
        link_window: 300ms
        span_interval: 50ms
        metrics_naming: ${naming}${extraL7}`;
    writeFileSync(file, `
receivers:
  ebpf:${probes('coroot')}
  ebpf/otel:${probes('otel')}
exporters:
  testsink:
  testsink/otel:
  prometheus:
    endpoint: 127.0.0.1:0
    resource_to_telemetry_conversion: { enabled: true }
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [ebpf]
      exporters: [testsink]
    metrics:
      receivers: [ebpf]
      exporters: [testsink, prometheus]
    metrics/otel:
      receivers: [ebpf/otel]
      exporters: [testsink/otel, prometheus]
`);
    const sink = new Sink();
    const otelSink = new Sink();
    const b = builtinComponents();
    // one factory per type; the instance name picks the sink
    const comps = defineComponents({
      receivers: [...b.receivers.values()], processors: [...b.processors.values()],
      exporters: [...b.exporters.values(), {
        ...sinkExporter('testsink', sink),
        createTraces: (set) => (set.id.name === 'otel' ? otelSink : sink),
        createMetrics: (set) => (set.id.name === 'otel' ? otelSink : sink),
      }], extensions: [],
    });
    const { config } = loadServiceConfig(file, comps);
    const svc = new Service(config, { logger: nopLogger(), host: TEST_HOST });
    await svc.start();
    return new L7Service(svc, tmp, sink, otelSink);
  }

  spans(): ReadableSpan[] {
    return this.sink.allSpans();
  }

  /** The latest cumulative metrics of one naming. */
  metrics(naming: 'coroot' | 'otel' = 'coroot'): ResourceMetrics[] {
    return (naming === 'coroot' ? this.sink : this.otelSink).metrics.at(-1) ?? [];
  }

  async scrape(): Promise<PromSample[]> {
    const addr = this.svc.componentAddress('exporter prometheus (metrics)');
    assert.ok(addr, 'prometheus exporter address');
    return parsePrometheusText(await (await fetch(`http://${addr}/metrics`)).text());
  }

  /** The l7 self-telemetry of the `ebpf` receiver, as the telemetry endpoint renders it. */
  telemetry(): string {
    return this.svc.telemetry.render();
  }

  async stop(): Promise<void> {
    await this.svc.shutdown().catch(() => undefined);
    rmSync(this.#tmp, { recursive: true, force: true });
  }

  /**
   * Waits until `cond` holds, then for the spans to stop changing (the link window and span interval):
   * exact counts are asserted after that, so a late extra span would show.
   */
  async settle(cond: () => boolean, ms = 20_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) return false;
      await sleep(50);
    }
    let n = this.sink.spanCount;
    for (let quiet = 0; quiet < 6; quiet++) {
      await sleep(100);
      if (this.sink.spanCount !== n) { n = this.sink.spanCount; quiet = 0; }
    }
    return true;
  }

  /** Waits for the next metric collection of both receivers (so counters include everything settled so far). */
  async nextCollection(): Promise<void> {
    const a = this.sink.metrics.length;
    const b = this.otelSink.metrics.length;
    await this.sink.waitFor(() => this.sink.metrics.length > a + 1, 10_000, 'coroot metrics');
    await this.otelSink.waitFor(() => this.otelSink.metrics.length > b + 1, 10_000, 'otel metrics');
  }
}

/** The spans of one step: CLIENT spans of the client pids, SERVER spans on `port` not seen before `since`. */
export interface StepSpans { clients: ReadableSpan[]; servers: ReadableSpan[] }

/** A mark in the span stream: spans on `port` already seen. */
export function markSpans(svc: L7Service, port: number): Set<string> {
  return new Set(svc.spans().filter((sp) => sp.attributes['server.port'] === port).map(spanId));
}

/**
 * Waits for `n` CLIENT spans of `pids` and `nServer` new SERVER spans on `port`, lets the stream settle, and
 * asserts the counts are exact and every SERVER span is the child of one CLIENT span (same trace, same name).
 */
export async function stepSpans(svc: L7Service, opts: { pids: number[]; port: number; since: Set<string>; n: number; nServer?: number }): Promise<StepSpans> {
  const nServer = opts.nServer ?? opts.n;
  const clients = (): ReadableSpan[] => svc.spans().filter((sp) => sp.kind === SpanKind.CLIENT && opts.pids.includes(pidOf(sp)));
  const servers = (): ReadableSpan[] => svc.spans().filter((sp) => sp.kind === SpanKind.SERVER && sp.attributes['server.port'] === opts.port && !opts.since.has(spanId(sp)));
  const ok = await svc.settle(() => clients().length >= opts.n && servers().length >= nServer);
  const describe = (l: ReadableSpan[]): string => JSON.stringify(countBy(l, (sp) => `${sp.name} ${sp.status.code}`));
  assert.ok(ok, `waiting: client ${clients().length}/${opts.n} ${describe(clients())}, server ${servers().length}/${nServer} ${describe(servers())}`);
  const c = sortByStart(clients());
  const sv = sortByStart(servers());
  assert.equal(c.length, opts.n, `CLIENT spans ${describe(c)}`);
  assert.equal(sv.length, nServer, `SERVER spans ${describe(sv)}`);
  return { clients: c, servers: sv };
}

/** Asserts every SERVER span has exactly one CLIENT parent among `clients` (same trace and name) and returns the pairs. */
export function assertLinked(clients: ReadableSpan[], servers: ReadableSpan[]): Array<[ReadableSpan, ReadableSpan]> {
  const byId = new Map(clients.map((c) => [spanId(c), c]));
  const pairs: Array<[ReadableSpan, ReadableSpan]> = [];
  const used = new Set<string>();
  for (const sv of servers) {
    const parent = byId.get(sv.parentSpanContext?.spanId ?? '');
    assert.ok(parent, `SERVER span ${sv.name} (${String(sv.attributes['db.query.text'] ?? sv.attributes['db.operation.name'])}) has a CLIENT parent`);
    assert.equal(sv.spanContext().traceId, parent.spanContext().traceId);
    assert.equal(sv.name, parent.name);
    assert.ok(!used.has(spanId(parent)), 'one SERVER span per CLIENT span');
    used.add(spanId(parent));
    pairs.push([parent, sv]);
  }
  return pairs;
}

export function sortByStart(l: ReadableSpan[]): ReadableSpan[] {
  return [...l].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
}

export function countBy<T>(l: readonly T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of l) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

/** Runs a command to completion (stdin from `input`); rejects on a non-zero exit unless `okCodes` has it. */
export function exec(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string>; okCodes?: number[] } = {}): Promise<{ pid: number; stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code) => {
      const r = { pid: p.pid ?? 0, stdout, stderr, code };
      if (code === 0 || (code !== null && (opts.okCodes ?? []).includes(code))) resolve(r);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
    p.stdin.end(opts.input ?? '');
  });
}

/**
 * Runs `start` (which spawns a server) with this process moved into `cg`, so the server, its listening
 * socket and every worker it forks later belong to `cg` from the start (the kernel stamps a listener's
 * cgroup at listen(): moving a server afterwards leaves short-lived workers attributed to the old one).
 */
export async function inCgroup<T>(cg: TestCgroup, start: () => Promise<T>): Promise<T> {
  const root = cgroup2Root();
  assert.ok(root, 'cgroup v2 mount');
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
  writeFileSync(join(cg.path, 'cgroup.procs'), String(process.pid));
  try {
    return await start();
  } finally {
    writeFileSync(join(root, own, 'cgroup.procs'), String(process.pid));
  }
}

/** Everything the metric assertions read at one moment: the prometheus scrape and both sinks' latest collection. */
export interface MetricsSnapshot { prom: PromSample[]; coroot: ResourceMetrics[]; otel: ResourceMetrics[] }

export async function snapshot(svc: L7Service): Promise<MetricsSnapshot> {
  await svc.nextCollection();
  return { prom: await svc.scrape(), coroot: svc.metrics('coroot'), otel: svc.metrics('otel') };
}

/** The increment of a scraped series sum between two snapshots. */
export function promDelta(a: MetricsSnapshot, b: MetricsSnapshot, name: string, labels: Record<string, string>): number {
  return promSum(b.prom, name, labels) - promSum(a.prom, name, labels);
}

/** The increment of a Sink series (counter value or histogram count) between two snapshots. */
export function sinkDelta(a: MetricsSnapshot, b: MetricsSnapshot, naming: 'coroot' | 'otel', cg: string | undefined, name: string, attrs: Record<string, string | number>): number {
  return pointSum(b[naming], cg, name, attrs) - pointSum(a[naming], cg, name, attrs);
}

import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Component, Host, Kind, Signal, StatusEvent } from '../component/component.js';
import type { ExporterFactory, ProcessorFactory, ReceiverFactory, Settings } from '../component/factory.js';
import type { AnyConsumer, LogsConsumer, MetricsConsumer, TracesConsumer } from '../consumer/consumer.js';
import type { ResolvedComponent, ServiceConfig } from '../config/resolve.js';
import type { HostInfo } from '../internal/host-info.js';
import { readHostInfo } from '../internal/host-info.js';
import { countItems, ITEM_NOUN } from '../pdata/count.js';
import { VERSION } from '../version.js';
import { fanout, observe } from './fanout.js';
import type { Logger } from './logger.js';
import { ProcessScheduling } from './scheduling.js';
import type { SchedulingOptions } from './scheduling.js';
import { SelfTelemetry } from './telemetry.js';
import { TelemetryServer } from './telemetry-server.js';

/** A component failed to start; names it. */
export class StartError extends Error {
  override readonly name = 'StartError';
  readonly component: string;
  constructor(component: string, cause: unknown) {
    super(`${component} failed to start: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.component = component;
  }
}

interface Node {
  readonly label: string; // e.g. "exporter otlp/primary (traces)"
  readonly kind: Kind;
  readonly component: Component;
  status: StatusEvent['status'];
  error?: Error;
}

export interface ServiceOptions {
  readonly logger: Logger;
  readonly telemetry?: SelfTelemetry;
  readonly host?: HostInfo;
  /** Called once when a component reports a fatal error: the owner should shut the service down. */
  readonly onFatal?: (err: Error) => void;
  /** How `service.scheduling` reaches the threads (tests: a fake native binding). */
  readonly scheduling?: SchedulingOptions;
}

function createFor(signal: Signal): 'createTraces' | 'createMetrics' | 'createLogs' {
  return signal === 'traces' ? 'createTraces' : signal === 'metrics' ? 'createMetrics' : 'createLogs';
}

export function agentResource(host: HostInfo, extra: Record<string, string>): Resource {
  return resourceFromAttributes({
    'service.name': 'sonde',
    'service.version': VERSION,
    'host.name': host.hostname,
    ...(host.machineId ? { 'host.id': host.machineId } : {}),
    'host.arch': host.arch,
    'os.type': 'linux',
    'os.version': host.kernelRelease,
    ...extra,
  });
}

/**
 * The running pipeline graph. Builds one instance per (exporter id, signal), one processor chain per
 * pipeline, one instance per (receiver id, signal) fanning out to every pipeline that lists it. Starts
 * extensions → exporters → processors (downstream first) → receivers; shuts down in the reverse order so
 * upstream components flush into still-running downstream ones, within `service.shutdown_timeout`.
 */
export class Service {
  readonly telemetry: SelfTelemetry;
  readonly host: HostInfo;
  readonly resource: Resource;
  readonly #cfg: ServiceConfig;
  readonly #logger: Logger;
  readonly #onFatal?: (err: Error) => void;
  readonly #levels: Record<Kind, Node[]> = { extension: [], exporter: [], processor: [], receiver: [] };
  #server?: TelemetryServer;
  readonly #scheduling: ProcessScheduling;
  #loopDelay?: IntervalHistogram;
  #starting?: Promise<void>;
  #stopRequested = false;
  #running = false;
  #shutdown?: Promise<void>;
  #fatal = false;
  readonly #startedAt = Date.now();

  constructor(cfg: ServiceConfig, opts: ServiceOptions) {
    this.#cfg = cfg;
    this.#logger = opts.logger;
    this.#onFatal = opts.onFatal;
    this.telemetry = opts.telemetry ?? new SelfTelemetry();
    this.host = opts.host ?? readHostInfo();
    this.resource = agentResource(this.host, cfg.telemetry.resource);
    this.#scheduling = new ProcessScheduling(cfg.scheduling, opts.scheduling);
    this.#build();
  }

  #settings(rc: ResolvedComponent, kind: Kind): Settings {
    return {
      id: rc.id,
      kind,
      logger: this.#logger.child({ [kind]: rc.id.toString() }),
      telemetry: this.telemetry,
      host: this.host,
      resource: this.resource,
    };
  }

  #add(kind: Node['kind'], label: string, component: Component): void {
    this.#levels[kind].push({ label, kind, component, status: 'starting' });
  }

  #build(): void {
    const { components } = this.#cfg;
    const exporters = new Map<string, AnyConsumer>();
    const entries = new Map<string, AnyConsumer[]>(); // "receiverId|signal" → pipeline entry consumers
    const t = this.telemetry;
    const procIn = t.counter('sonde_processor_incoming_items_total', 'Items a processor received.', ['processor', 'pipeline', 'otel_signal']);
    const procOut = t.counter('sonde_processor_outgoing_items_total', 'Items a processor passed on.', ['processor', 'pipeline', 'otel_signal']);

    for (const p of this.#cfg.pipelines) {
      const sig = p.signal;
      const exps: AnyConsumer[] = p.exporters.map((eid) => {
        const key = `${eid}|${sig}`;
        let e = exporters.get(key);
        if (!e) {
          const rc = components.exporters.get(eid)!;
          const f = rc.factory as ExporterFactory;
          const inst = f[createFor(sig)]!(this.#settings(rc, 'exporter'), rc.config);
          this.#add('exporter', `exporter ${eid} (${sig})`, inst);
          e = inst;
          exporters.set(key, e);
        }
        return e;
      });
      let next = fanout(sig, exps);
      for (let i = p.processors.length - 1; i >= 0; i--) {
        const pid = p.processors[i];
        const rc = components.processors.get(pid)!;
        const f = rc.factory as ProcessorFactory;
        const outC = procOut.labels(pid, p.id, sig);
        const downstream = observe(sig, next, (d) => countItems(sig, d), (n, err) => { if (!err) outC.inc(n); });
        const create = f[createFor(sig)] as (s: Settings, c: unknown, n: AnyConsumer) => Component & AnyConsumer;
        const inst = create.call(f, this.#settings(rc, 'processor'), rc.config, downstream);
        this.#add('processor', `processor ${pid} (pipeline ${p.id})`, inst);
        const inC = procIn.labels(pid, p.id, sig);
        next = observe(sig, inst, (d) => countItems(sig, d), (n) => inC.inc(n));
      }
      for (const rid of p.receivers) {
        const key = `${rid}|${sig}`;
        const list = entries.get(key) ?? [];
        list.push(next);
        entries.set(key, list);
      }
    }

    for (const [key, list] of entries) {
      const [rid, sig] = key.split('|') as [string, Signal];
      const rc = components.receivers.get(rid)!;
      const f = rc.factory as ReceiverFactory;
      const noun = ITEM_NOUN[sig];
      const accepted = t.counter(`sonde_receiver_accepted_${noun}_total`, `${noun} a receiver pushed into the pipeline.`, ['receiver']).labels(rid);
      const refused = t.counter(`sonde_receiver_refused_${noun}_total`, `${noun} the pipeline refused (errors downstream).`, ['receiver']).labels(rid);
      const next = observe(sig, fanout(sig, list), (d) => countItems(sig, d), (n, err) => (err ? refused.inc(n) : accepted.inc(n)));
      const create = f[createFor(sig)] as (s: Settings, c: unknown, n: TracesConsumer | MetricsConsumer | LogsConsumer) => Component;
      const inst = create.call(f, this.#settings(rc, 'receiver'), rc.config, next as never);
      this.#add('receiver', `receiver ${rid} (${sig})`, inst);
    }

    for (const eid of this.#cfg.extensions) {
      const rc = components.extensions.get(eid)!;
      const f = rc.factory;
      if (f.kind !== 'extension') continue;
      this.#add('extension', `extension ${eid}`, f.create(this.#settings(rc, 'extension'), rc.config));
    }
  }

  #hostFor(node: Node): Host {
    return {
      logger: this.#logger,
      reportStatus: (ev: StatusEvent) => {
        node.status = ev.status;
        node.error = ev.error;
        if (ev.status === 'fatal_error' && !this.#fatal) {
          this.#fatal = true;
          const err = ev.error ?? new Error(`${node.label} reported a fatal error`);
          this.#logger.error('fatal component error: shutting down', { component: node.label, error: err.message });
          this.#onFatal?.(err);
        } else if (ev.status === 'recoverable_error' || ev.status === 'permanent_error') {
          this.#logger.warn('component reported an error', { component: node.label, status: ev.status, error: ev.error?.message });
        }
      },
    };
  }

  /** All nodes in start order. */
  #startOrder(): Node[] {
    // Processors were built downstream-first within each pipeline, which is their start order.
    return [...this.#levels.extension, ...this.#levels.exporter, ...this.#levels.processor, ...this.#levels.receiver];
  }

  #registerProcessMetrics(): void {
    const t = this.telemetry;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    this.#loopDelay = loop;
    t.gaugeFn('sonde_build_info', 'Sonde version.', ['version'], () => [[[VERSION], 1]]);
    t.gaugeFn('sonde_process_uptime_seconds', 'Seconds since the agent started.', [], () => [[[], (Date.now() - this.#startedAt) / 1000]]);
    t.gaugeFn('sonde_process_memory_rss_bytes', 'Resident set size of the agent.', [], () => [[[], process.memoryUsage.rss()]]);
    t.gaugeFn('sonde_process_runtime_heap_used_bytes', 'V8 heap in use.', [], () => [[[], process.memoryUsage().heapUsed]]);
    t.gaugeFn('sonde_process_cpu_seconds_total', 'CPU time of the agent (user+system).', ['mode'], () => {
      const u = process.cpuUsage();
      return [[['user'], u.user / 1e6], [['system'], u.system / 1e6]];
    });
    t.gaugeFn('sonde_process_event_loop_lag_seconds', 'Event-loop delay since the previous scrape.', ['quantile'], () => {
      const r: Array<readonly [string[], number]> = [
        [['0.5'], loop.percentile(50) / 1e9], [['0.99'], loop.percentile(99) / 1e9], [['1'], loop.max / 1e9],
      ];
      loop.reset();
      return r;
    });
    t.gaugeFn('sonde_component_status', '1 for the status each component is in.', ['component', 'status'], () =>
      this.#startOrder().map((n) => [[n.label, n.status], 1] as const));
  }

  get ready(): boolean {
    return this.#running && !this.#fatal && this.#startOrder().every((n) => n.status === 'ok');
  }

  /** Starts the telemetry endpoint and every component in order. On failure, stops what started and throws. */
  async start(): Promise<void> {
    if (this.#starting) throw new Error('service already started');
    this.#starting = this.#doStart();
    try {
      await this.#starting;
    } catch (e) {
      await this.shutdown().catch(() => undefined);
      throw e;
    }
  }

  async #doStart(): Promise<void> {
    // first: threads the components start (libuv's pool, workers) inherit it from this one
    this.#scheduling.apply(this.#logger);
    this.#registerProcessMetrics();
    const tcfg = this.#cfg.telemetry.metrics;
    if (tcfg.level !== 'none') {
      this.#server = new TelemetryServer(tcfg.address, this.telemetry, () => this.health());
      await this.#server.start();
      this.#logger.info('self-telemetry listening', { address: this.#server.address });
    }
    for (const node of this.#startOrder()) {
      if (this.#stopRequested) return;
      try {
        await node.component.start(this.#hostFor(node));
        if (node.status === 'starting') node.status = 'ok';
      } catch (e) {
        node.status = 'permanent_error';
        node.error = e as Error;
        throw new StartError(node.label, e);
      }
    }
    this.#running = true;
    this.#logger.info('sonde started', { pipelines: this.#cfg.pipelines.map((p) => p.id).join(','), version: VERSION });
  }

  health(): { live: boolean; ready: boolean; components: Array<{ component: string; status: string; error?: string }> } {
    return {
      live: !this.#fatal,
      ready: this.ready,
      components: this.#startOrder().map((n) => ({ component: n.label, status: n.status, ...(n.error ? { error: n.error.message } : {}) })),
    };
  }

  /**
   * The bound `host:port` of a listening component (those that expose an `address` getter), by its label,
   * e.g. "exporter prometheus (metrics)". Useful when a config asks for port 0.
   */
  componentAddress(label: string): string | undefined {
    const node = this.#startOrder().find((n) => n.label === label);
    const addr = (node?.component as { address?: unknown } | undefined)?.address;
    return typeof addr === 'string' ? addr : undefined;
  }

  get telemetryAddress(): string | undefined {
    return this.#server?.address;
  }

  /**
   * Idempotent, safe without start(). Receivers first, then processors upstream→downstream, exporters,
   * extensions; each gets an AbortSignal that fires at the deadline. Errors are logged, the sweep goes on.
   */
  shutdown(): Promise<void> {
    this.#stopRequested = true;
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  async #doShutdown(): Promise<void> {
    // A start in progress finishes its current component first, so nothing starts after the sweep.
    await this.#starting?.catch(() => undefined);
    this.#running = false;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error('shutdown deadline passed')), this.#cfg.shutdownTimeoutMs);
    timer.unref();
    const order = this.#startOrder().reverse();
    const errors: unknown[] = [];
    for (const node of order) {
      node.status = 'stopping';
      try {
        await node.component.shutdown(ac.signal);
      } catch (e) {
        errors.push(e);
        this.#logger.error('component shutdown failed', { component: node.label, error: (e as Error).message });
      }
      node.status = 'stopped';
    }
    clearTimeout(timer);
    this.#loopDelay?.disable();
    await this.#server?.stop();
    this.#scheduling.restore();
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} component(s) failed to shut down`);
  }
}

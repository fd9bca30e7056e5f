// The ebpf receiver: one instance per component id, shared by its metrics and logs pipelines.
// It owns the BPF lifecycle and the event plumbing; probes (probe.ts) own the meaning.
//
//   start:    native binding → environment checks (typed errors with remedies) → feature probes →
//             per enabled probe, in dependency order: open → common tunables → probe.configure →
//             load → attach → probe.started (discovery, kernel table seeding) → ring readers
//   events:   ring reader batch → per record: u32 type at the probe's offset → Map<type, handler>
//   interval: probes write cumulative per-cgroup metrics → one ResourceMetrics per cgroup
//   shutdown: readers stopped, last drain and collection, every object destroyed (links detached);
//             the same on process exit (and the addon's env cleanup hook as the last resort)
import type { Attributes, HrTime } from '@opentelemetry/api';
import { join } from 'node:path';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, LogsConsumer, MetricsConsumer, TracesConsumer } from '../../consumer/consumer.js';
import type { NativeBinding } from '../../native/binding.js';
import { BpfObject } from '../../native/bpf-object.js';
import { BpfError, NotSupportedError } from '../../native/errors.js';
import { assertEnvironment } from '../../native/env.js';
import { FakeNative } from '../../native/fake.js';
import { defaultObjectDir, loadNative } from '../../native/load.js';
import type { RingReader } from '../../native/ring-reader.js';
import { forEachRecord } from '../../native/ring-records.js';
import { gaugeMetric, resourceMetrics, sumMetric } from '../../pdata/metrics.js';
import type { SpanRecord } from '../../pdata/traces.js';
import { nowHrTime } from '../../pdata/time.js';
import type { Counter, HistogramFamily } from '../../service/telemetry.js';
import { VERSION } from '../../version.js';
import { CgroupIndex } from './cgroups.js';
import type { CgroupEntry } from './cgroups.js';
import type { EbpfConfig } from './config.js';
import { Conntrack } from './net/conntrack.js';
import type { Discovery } from './net/discovery.js';
import { discover } from './net/discovery.js';
import type { EventHandler, KernelFeatures, MetricsWriter, Probe, ProbeContext, ProbeRegistry } from './probe.js';

export const SCOPE = { name: 'sonde/receiver/ebpf', version: VERSION };

export interface EbpfReceiverOptions {
  readonly registry: ProbeRegistry;
  /** A binding object (tests: FakeNative) instead of `native_binding` from the config. */
  readonly native?: NativeBinding;
  /** Where `<object>.bpf.o` files are; default: build/bpf of this package. */
  readonly objectDir?: string;
}

const LOST_REASONS = ['ringbuf_full', 'table_full', 'untracked'] as const;
const BATCH_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536];
const MAX_PENDING_LOGS = 16_384;

interface TypeEntry {
  handler: EventHandler;
  counter: Counter;
}

interface Running {
  readonly name: string;
  readonly probe: Probe;
  readonly obj: BpfObject;
  reader?: RingReader;
  readonly types: Map<number, TypeEntry>;
  readonly onRecord: (view: DataView, offset: number, length: number) => void;
  readonly unknownType: Counter;
  readonly kernelLost: Counter[];
  readonly oversize: Counter;
}

class Writer implements MetricsWriter {
  readonly byCgroup = new Map<CgroupEntry, Map<string, MetricData>>();
  readonly start: HrTime;
  readonly now: HrTime;
  constructor(start: HrTime, now: HrTime) {
    this.start = start;
    this.now = now;
  }
  #metric(cg: CgroupEntry, name: string, make: () => MetricData): MetricData {
    let m = this.byCgroup.get(cg);
    if (!m) this.byCgroup.set(cg, (m = new Map()));
    let md = m.get(name);
    if (!md) m.set(name, (md = make()));
    return md;
  }
  #point(value: number, attributes: Attributes): DataPoint<number> {
    return { startTime: this.start, endTime: this.now, attributes, value };
  }
  sum(cg: CgroupEntry, name: string, description: string, unit: string, attributes: Attributes, value: number): void {
    (this.#metric(cg, name, () => sumMetric(name, description, unit, [])).dataPoints as DataPoint<number>[]).push(this.#point(value, attributes));
  }
  gauge(cg: CgroupEntry, name: string, description: string, unit: string, attributes: Attributes, value: number): void {
    (this.#metric(cg, name, () => gaugeMetric(name, description, unit, [])).dataPoints as DataPoint<number>[]).push(this.#point(value, attributes));
  }
  result(): ResourceMetrics[] {
    const out: ResourceMetrics[] = [];
    for (const [cg, metrics] of this.byCgroup) out.push(resourceMetrics(cg.resource, SCOPE, [...metrics.values()]));
    return out;
  }
}

export class EbpfReceiver implements Component {
  readonly #set: Settings;
  readonly #cfg: EbpfConfig;
  readonly #opts: EbpfReceiverOptions;
  #metrics?: MetricsConsumer;
  #logs?: LogsConsumer;
  #traces?: TracesConsumer;
  #native?: NativeBinding;
  #running: Running[] = [];
  #cgroups?: CgroupIndex;
  #conntrack?: Conntrack;
  #timer?: NodeJS.Timeout;
  #startTime: HrTime = nowHrTime();
  #pendingLogs: Logs = [];
  #inFlight = new Set<Promise<void>>();
  #discovery?: Discovery | null;
  #exitHook?: () => void;
  #stopped = false;
  #started = false;
  readonly #batchHist: HistogramFamily;
  readonly #logsDropped: Counter;
  readonly #rid: string;

  constructor(set: Settings, cfg: EbpfConfig, opts: EbpfReceiverOptions) {
    this.#set = set;
    this.#cfg = cfg;
    this.#opts = opts;
    this.#rid = set.id.toString();
    this.#batchHist = set.telemetry.histogram('sonde_ebpf_drain_batch_records', 'Records per ring-buffer drain delivered to the receiver.', ['receiver', 'probe'], BATCH_BOUNDS);
    this.#logsDropped = set.telemetry.counter('sonde_ebpf_logs_dropped_total', 'Process log records dropped because the logs pipeline fell behind.', ['receiver']).labels(this.#rid);
  }

  setMetricsConsumer(next: MetricsConsumer): void {
    this.#metrics = next;
  }

  setLogsConsumer(next: LogsConsumer): void {
    this.#logs = next;
  }

  setTracesConsumer(next: TracesConsumer): void {
    this.#traces = next;
  }

  /** The probes that are running (after start). */
  get probes(): string[] {
    return this.#running.map((r) => r.name);
  }

  #binding(): { native: NativeBinding; real: boolean } {
    if (this.#opts.native) return { native: loadNative(this.#opts.native), real: false };
    const b = this.#cfg.native_binding;
    if (b.startsWith('fake:')) return { native: loadNative(FakeNative.fromFixtures(b.slice(5))), real: false };
    const logger = this.#set.logger;
    return {
      native: loadNative(b === '' ? undefined : b, { logger: { debug: (m) => logger.debug(m), info: (m) => logger.info(m), warn: (m) => logger.warn(m) } }),
      real: true,
    };
  }

  async start(_host: Host): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#startTime = nowHrTime();
    const { native, real } = this.#binding();
    this.#native = native;
    const cfg = this.#cfg;
    const registry = this.#opts.registry;
    const enabled = registry.names().filter((n) => cfg.probes[n]?.enabled);
    const order = registry.loadOrder(enabled);
    if (real) {
      const needTracefs = order.some((n) => registry.get(n)?.needsTracefs === true);
      const checks = assertEnvironment({
        native, btfPath: cfg.btf_custom_path || undefined, needTracefs, fix: cfg.mount_tracefs,
        procRoot: '/proc',
      });
      for (const c of checks) if (c.fixed) this.#set.logger.info(`environment: ${c.detail}`);
    }
    const features = this.#features(native);
    if (real) {
      // conclusive "not supported" answers only: a probe that throws counts as supported (the load will tell)
      // (libbpf cannot probe tracing programs without an attach target: tp_btf support shows at load)
      if (!features.ringbuf) {
        throw new NotSupportedError('this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF)', {
          code: 'ENOTSUP', errno: 0, op: 'feature-probe', feature: 'ringbuf',
          remedy: 'Sonde\'s probes need Linux ≥ 5.8 (ring buffer) and ≥ 5.12 overall (see bpf/README.md): run on a newer kernel',
        });
      }
    }
    this.#cgroups = new CgroupIndex({ procRoot: cfg.proc_root, cgroupRoot: cfg.cgroup_root, base: this.#set.resource });
    this.#conntrack = new Conntrack(native, {
      enabled: true, cacheTtlMs: 60_000, procRoot: cfg.proc_root, logger: this.#set.logger,
    });
    this.#installExitHook();
    try {
      for (const name of order) await this.#startProbe(name, native, features);
      for (const r of this.#running) this.#startReader(r);
    } catch (e) {
      this.#destroyAll();
      throw e;
    }
    this.#registerTelemetry();
    this.#timer = setInterval(() => this.#collect(), cfg.collection_interval);
    this.#timer.unref();
    this.#set.logger.info('ebpf receiver started', { probes: order.join(','), binding: real ? 'native' : 'injected' });
  }

  #features(native: NativeBinding): KernelFeatures {
    const probe = (f: () => boolean): boolean => {
      try {
        return f();
      } catch {
        return true; // inconclusive (e.g. the probe itself was refused): let the load decide
      }
    };
    return {
      ringbuf: probe(() => native.probeMapType('ringbuf')),
      kprobe: probe(() => native.probeProgType('kprobe')),
    };
  }

  #context(native: NativeBinding, features: KernelFeatures, probeName: string): ProbeContext {
    const hasLogs = (): boolean => this.#logs !== undefined;
    const hasTraces = (): boolean => this.#traces !== undefined;
    return {
      logger: this.#set.logger.child({ probe: probeName }),
      telemetry: this.#set.telemetry,
      receiverId: this.#rid,
      native,
      procRoot: this.#cfg.proc_root,
      selfPid: process.pid,
      cgroups: this.#cgroups!,
      conntrack: this.#conntrack!,
      features,
      idleTimeoutMs: this.#cfg.idle_timeout,
      objectOf: (p) => this.#running.find((r) => r.name === p)?.obj,
      get logsEnabled() {
        return hasLogs();
      },
      emitLogs: (records) => this.#queueLogs(records),
      get tracesEnabled() {
        return hasTraces();
      },
      emitSpans: (spans) => this.#emitSpans(spans),
      host: this.#set.host,
      logRecord: (resource, time, eventName, body, attributes, severity = 'INFO') => ({
        hrTime: time,
        hrTimeObserved: time,
        severityText: severity,
        severityNumber: severity === 'WARN' ? 13 : 9,
        body,
        eventName,
        resource,
        instrumentationScope: SCOPE,
        attributes: { 'event.name': eventName, ...attributes },
        droppedAttributesCount: 0,
      }),
      discovery: () => this.#discover(native),
    };
  }

  #discover(native: NativeBinding): Discovery | undefined {
    if (!this.#cfg.discovery) return undefined;
    if (this.#discovery === undefined) {
      try {
        this.#discovery = discover({ procRoot: this.#cfg.proc_root, native });
      } catch (e) {
        this.#set.logger.warn('discovery from /proc failed', { error: (e as Error).message });
        this.#discovery = null;
      }
    }
    return this.#discovery ?? undefined;
  }

  async #startProbe(name: string, native: NativeBinding, features: KernelFeatures): Promise<void> {
    const factory = this.#opts.registry.get(name)!;
    const probe = factory.create(this.#context(native, features, name), this.#cfg.probes[name]);
    const path = join(this.#opts.objectDir ?? (this.#cfg.object_dir || defaultObjectDir()), `${factory.object}.bpf.o`);
    let obj: BpfObject;
    try {
      obj = BpfObject.open(native, path, this.#cfg.btf_custom_path ? { btfCustomPath: this.#cfg.btf_custom_path } : {});
    } catch (e) {
      if (e instanceof BpfError && e.remedy === undefined) {
        throw new BpfError(`probe ${name}: ${e.message}`, {
          code: e.code, errno: e.errno, op: e.op, object: e.object, cause: e,
          remedy: `${path} is not a usable BPF object: rebuild the objects (npm run build:bpf) or point object_dir at the package's build/bpf`,
        });
      }
      throw e;
    }
    const t = this.#set.telemetry;
    const typesFam = t.counter('sonde_ebpf_events_total', 'Events received from the kernel, by probe and event type.', ['receiver', 'probe', 'type']);
    const lostFam = t.counter('sonde_ebpf_kernel_events_lost_total', 'Events the kernel could not deliver (BPF lost counters), by probe and reason.', ['receiver', 'probe', 'reason']);
    const userLost = t.counter('sonde_ebpf_user_events_lost_total', 'Events dropped in user space (oversize for the read buffer, unknown type, malformed), by probe and reason.', ['receiver', 'probe', 'reason']);
    const types = new Map<number, TypeEntry>();
    for (const [type, handler] of probe.handlers) {
      types.set(type, { handler, counter: typesFam.labels(this.#rid, name, probe.eventTypeNames.get(type) ?? String(type)) });
    }
    const unknownType = userLost.labels(this.#rid, name, 'unknown_type');
    const typeOff = probe.eventTypeOffset;
    const r: Running = {
      name, probe, obj, types, unknownType,
      kernelLost: LOST_REASONS.map((reason) => lostFam.labels(this.#rid, name, reason)),
      oversize: userLost.labels(this.#rid, name, 'oversize'),
      onRecord: (view, offset, length) => {
        if (length < typeOff + 4) {
          unknownType.inc();
          return;
        }
        const e = types.get(view.getUint32(offset + typeOff, true));
        if (e === undefined) {
          unknownType.inc();
          return;
        }
        e.counter.value++;
        e.handler(view, offset, length);
      },
    };
    this.#running.push(r); // destroyed with the rest if anything below fails
    obj.setMaxEntries('events', this.#cfg.ring_buffer.size);
    const rodata = new Set(obj.rodataNames());
    if (rodata.has('targ_self_tgid')) obj.setRodata('targ_self_tgid', process.pid);
    if (rodata.has('targ_wakeup_bytes')) obj.setRodata('targ_wakeup_bytes', this.#cfg.ring_buffer.wakeup_threshold);
    probe.configure(obj);
    obj.load();
    obj.attachAll();
    await probe.started?.(obj);
  }

  #startReader(r: Running): void {
    const reader = r.obj.ringReader('events', { bufferBytes: Math.min(this.#cfg.ring_buffer.read_buffer, this.#cfg.ring_buffer.size) });
    r.reader = reader;
    const hist = this.#batchHist.labels(this.#rid, r.name);
    reader.start((buf, records, bytes) => {
      hist.observe(records);
      forEachRecord(buf, bytes, r.onRecord);
      if (this.#pendingLogs.length > 0) this.#flushLogs();
    }, { intervalMs: this.#cfg.ring_buffer.drain_interval, watchFd: this.#cfg.ring_buffer.wakeup_threshold > 0 });
  }

  #queueLogs(records: Logs): void {
    if (!this.#logs) return;
    for (const rec of records) {
      if (this.#pendingLogs.length >= MAX_PENDING_LOGS) {
        this.#logsDropped.inc();
        continue;
      }
      this.#pendingLogs.push(rec);
    }
  }

  #flushLogs(): void {
    const next = this.#logs;
    const batch = this.#pendingLogs;
    this.#pendingLogs = [];
    if (!next || batch.length === 0) return;
    this.#track(next.consumeLogs(batch).catch((e: unknown) => {
      this.#set.logger.warnOnce('consume-logs', 'process log records refused downstream', { error: (e as Error).message });
    }));
  }

  #emitSpans(spans: SpanRecord[]): void {
    const next = this.#traces;
    if (!next || spans.length === 0) return;
    this.#track(next.consumeTraces(spans).catch((e: unknown) => {
      this.#set.logger.warnOnce('consume-traces', 'spans refused downstream', { error: (e as Error).message });
    }));
  }

  #track(p: Promise<void>): void {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }

  #sampleKernelCounters(): void {
    for (const r of this.#running) {
      try {
        const lost = r.obj.lostCounters();
        for (let i = 0; i < r.kernelLost.length && i < lost.length; i++) r.kernelLost[i].value = Number(lost[i]);
      } catch {
        // an object without the shared `lost` map
      }
      if (r.reader) {
        try {
          r.oversize.value = r.reader.stats().oversize;
        } catch {
          // closed
        }
      }
    }
  }

  #registerTelemetry(): void {
    const t = this.#set.telemetry;
    t.gaugeFn('sonde_ebpf_map_entries', 'Entries in the probes\' hash maps (sampled at scrape).', ['receiver', 'probe', 'map'], () => this.#mapFill('entries'), this.#rid);
    t.gaugeFn('sonde_ebpf_map_max_entries', 'Capacity (max_entries) of the probes\' hash maps.', ['receiver', 'probe', 'map'], () => this.#mapFill('max'), this.#rid);
    t.gaugeFn('sonde_ebpf_ring_pending_bytes', 'Bytes waiting in each probe\'s ring buffer (sampled at scrape).', ['receiver', 'probe'], () => {
      const out: Array<readonly [string[], number]> = [];
      for (const r of this.#running) {
        try {
          if (r.reader) out.push([[this.#rid, r.name], r.reader.stats().pending]);
        } catch {
          // closed
        }
      }
      return out;
    }, this.#rid);
    t.gaugeFn('sonde_ebpf_cgroups', 'Cgroups the receiver holds state for.', ['receiver'], () => [[[this.#rid], this.#cgroups?.size ?? 0]], this.#rid);
    const ct = t.counter('sonde_ebpf_conntrack_lookups_total', 'NAT lookups for new outbound connections, by result.', ['receiver', 'result']);
    const attrib = t.counter('sonde_ebpf_cgroup_attributions_total', 'Events attributed to a cgroup, by how it was found (pid, cgroup_id, unknown = root).', ['receiver', 'by']);
    this.#telemetryRefresh = () => {
      const s = this.#conntrack?.stats;
      if (s) {
        ct.labels(this.#rid, 'cached').value = s.cached;
        ct.labels(this.#rid, 'nat').value = s.nat;
        ct.labels(this.#rid, 'not_nat').value = s.notNat;
        ct.labels(this.#rid, 'not_found').value = s.notFound;
        ct.labels(this.#rid, 'error').value = s.errors;
      }
      const a = this.#cgroups?.stats;
      if (a) {
        attrib.labels(this.#rid, 'pid').value = a.byPid;
        attrib.labels(this.#rid, 'cgroup_id').value = a.byId;
        attrib.labels(this.#rid, 'unknown').value = a.unknown;
      }
    };
  }

  #telemetryRefresh?: () => void;
  #fillCache?: { at: number; rows: Array<{ probe: string; map: string; entries: number; max: number }> };

  #mapFill(which: 'entries' | 'max'): Array<readonly [string[], number]> {
    const now = Date.now();
    if (!this.#fillCache || now - this.#fillCache.at > 1000) {
      const rows: Array<{ probe: string; map: string; entries: number; max: number }> = [];
      for (const r of this.#running) {
        try {
          for (const m of r.obj.maps()) {
            if (!m.type.includes('hash')) continue;
            rows.push({ probe: r.name, map: m.name, entries: r.obj.map(m.name).entries().count, max: m.maxEntries });
          }
        } catch {
          // destroyed
        }
      }
      this.#fillCache = { at: now, rows };
    }
    return this.#fillCache.rows.map((x) => [[this.#rid, x.probe, x.map], which === 'entries' ? x.entries : x.max] as const);
  }

  /** Builds one collection (cumulative per cgroup) without sending it. */
  collectNow(): ResourceMetrics[] {
    const w = new Writer(this.#startTime, nowHrTime());
    for (const r of this.#running) r.probe.collect?.(w);
    this.#sampleKernelCounters();
    this.#telemetryRefresh?.();
    this.#cgroups?.sweep();
    const out = w.result();
    for (const r of this.#running) {
      const own = r.probe.collectResourceMetrics?.();
      if (own) for (const rm of own) out.push(rm);
    }
    return out;
  }

  #collect(): void {
    const md = this.collectNow();
    if (!this.#metrics || md.length === 0) return;
    this.#track(this.#metrics.consumeMetrics(md).catch((e: unknown) => {
      this.#set.logger.warnOnce('consume-metrics', 'ebpf metrics refused downstream', { error: (e as Error).message });
    }));
  }

  #installExitHook(): void {
    // On process exit (however the event loop ends) destroy every object so no link outlives the agent
    // even where the kernel would drop them late. The addon's env cleanup hook does the same natively.
    this.#exitHook = () => this.#destroyAll();
    process.once('exit', this.#exitHook);
  }

  #destroyAll(): void {
    for (const r of this.#running) {
      try {
        r.reader?.stop();
      } catch {
        // already closed
      }
    }
    for (const r of this.#running.splice(0).reverse()) {
      try {
        r.obj.destroy();
      } catch (e) {
        this.#set.logger.warn('destroying a BPF object failed', { probe: r.name, error: (e as Error).message });
      }
      try {
        r.probe.shutdown?.();
      } catch {
        // best effort
      }
    }
    this.#conntrack?.close();
    if (this.#exitHook) process.off('exit', this.#exitHook);
    this.#exitHook = undefined;
  }

  async shutdown(signal?: AbortSignal): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#started) {
      // what the kernel already produced, then one last collection
      for (const r of this.#running) {
        try {
          r.reader?.stop();
          if (r.reader) while (r.reader.drain((buf, records, bytes) => { this.#batchHist.labels(this.#rid, r.name).observe(records); forEachRecord(buf, bytes, r.onRecord); }) > 0) { /* drain */ }
        } catch {
          // closed
        }
      }
      for (const r of this.#running) {
        try {
          r.probe.flush?.();
        } catch (e) {
          this.#set.logger.warn('probe flush failed', { probe: r.name, error: (e as Error).message });
        }
      }
      this.#flushLogs();
      if (this.#running.length > 0) this.#collect();
    }
    this.#destroyAll();
    this.#cgroups?.clear();
    if (this.#inFlight.size > 0) {
      const all = Promise.allSettled([...this.#inFlight]);
      if (signal) await Promise.race([all, new Promise((r) => signal.addEventListener('abort', r, { once: true }))]);
      else await all;
    }
  }
}

export type { Resource };

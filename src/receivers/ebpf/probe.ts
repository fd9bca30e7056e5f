// The sub-component inside the ebpf receiver (hostmetrics' scrapers): one probe = one BPF object,
// registered by name, configured under `receivers.ebpf.probes.<name>`. The receiver owns the
// lifecycle (open → configure → load → attach → ring readers → shutdown) and the event plumbing;
// a probe only says how to configure its object and what to do with each event type.
//
// Adding a probe (e.g. the L7 payload probe):
//   1. bpf/probes/<name>.bpf.c + <name>.h; the event struct has a u32 `type` field;
//   2. src/receivers/ebpf/probes/<name>/probe.ts exporting a ProbeFactory;
//   3. add it to defaultProbeRegistry() (probes/index.ts). Nothing else switches on probe names.
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Schema } from '../../config/schema.js';
import type { Logs } from '../../consumer/consumer.js';
import type { HostInfo } from '../../internal/host-info.js';
import type { BpfObject, NativeBinding } from '../../native/index.js';
import type { SpanRecord } from '../../pdata/traces.js';
import type { Logger } from '../../service/logger.js';
import type { SelfTelemetry } from '../../service/telemetry.js';
import type { CgroupIndex, CgroupEntry } from './cgroups.js';
import type { Conntrack } from './net/conntrack.js';
import type { Discovery } from './net/discovery.js';

/**
 * Handles one ring-buffer record of one event type. `view`/`offset` address the record's data inside the
 * batch Buffer, which is reused by the next drain: read what you need synchronously, allocate nothing on
 * the common path (reuse a decoder view such as TcpEventView).
 */
export type EventHandler = (view: DataView, offset: number, length: number) => void;

/**
 * Kernel facts gathered once at start, before any object is configured (libbpf feature probes; an
 * inconclusive probe counts as supported and the load decides). Tracing programs (tp_btf, fentry) cannot
 * be probed without an attach target: a probe with an fentry variant tries it and falls back.
 */
export interface KernelFeatures {
  /** BPF_MAP_TYPE_RINGBUF exists */
  readonly ringbuf: boolean;
  /** kprobes can be created (kprobe-based optional variants) */
  readonly kprobe: boolean;
}

/** What the receiver gives each probe it creates. */
export interface ProbeContext {
  readonly logger: Logger;
  readonly telemetry: SelfTelemetry;
  /** `receiver` label value of this receiver's self-telemetry */
  readonly receiverId: string;
  readonly native: NativeBinding;
  /** host /proc (proc_root), e.g. /host/proc in a container */
  readonly procRoot: string;
  /** the agent's own tgid (dropped in the kernel) */
  readonly selfPid: number;
  /** pid / cgroup id → cgroup entry (path, resource, per-probe state slots) */
  readonly cgroups: CgroupIndex;
  /** NAT lookups (actual destination), shared by every probe that needs it */
  readonly conntrack: Conntrack;
  readonly features: KernelFeatures;
  /** Drop per-cgroup state with no events and nothing live for this long (config `idle_timeout`). */
  readonly idleTimeoutMs: number;
  /**
   * What existed before attach (processes, listeners, connections), scanned once on first call;
   * undefined when `discovery` is off.
   */
  discovery(): Discovery | undefined;
  /** The loaded object of another probe (for map sharing: `obj.reuseMap('sonde_conns', ctx.objectOf('tcp')!)`). */
  objectOf(probe: string): BpfObject | undefined;
  /** True when a logs pipeline uses this receiver (emitLogs is a no-op otherwise). */
  readonly logsEnabled: boolean;
  /** Queues log records for the logs pipeline; flushed after each drained batch. */
  emitLogs(records: Logs): void;
  /** True when a traces pipeline uses this receiver (emitSpans is a no-op otherwise). */
  readonly tracesEnabled: boolean;
  /** Hands finished spans to the traces pipeline (ownership passes). */
  emitSpans(spans: SpanRecord[]): void;
  /** The node the agent runs on (for probes that build their own resources). */
  readonly host: HostInfo;
  /** A log record with this receiver's scope, ready to emit. */
  logRecord(resource: Resource, time: HrTime, eventName: string, body: string, attributes: Attributes, severity?: 'INFO' | 'WARN'): Logs[number];
}

/** Where probes write their metrics at each collection: per cgroup, cumulative. */
export interface MetricsWriter {
  /** A monotonic cumulative sum point of cgroup `cg`. */
  sum(cg: CgroupEntry, name: string, description: string, unit: string, attributes: Attributes, value: number): void;
  gauge(cg: CgroupEntry, name: string, description: string, unit: string, attributes: Attributes, value: number): void;
}

/** One running probe (created per receiver start). */
export interface Probe {
  /** Before load: rodata (`targ_*`), autoload of optional programs, map sizes, map reuse. */
  configure(obj: BpfObject): void;
  /**
   * Event type (the u32 at `eventTypeOffset` of each record) → handler. The receiver dispatches through
   * this map: no switch over event types anywhere.
   */
  readonly handlers: ReadonlyMap<number, EventHandler>;
  /** Byte offset of the u32 event type in this probe's records. */
  readonly eventTypeOffset: number;
  /** Event type → name, for self-telemetry (`sonde_ebpf_events_total{probe,type}`). */
  readonly eventTypeNames: ReadonlyMap<number, string>;
  /** After load and attach, before the ring readers start: seed kernel maps and state (e.g. from /proc). */
  started?(obj: BpfObject): void | Promise<void>;
  /** Each collection interval: write this probe's metrics. */
  collect?(out: MetricsWriter): void;
  /**
   * Each collection interval: metrics the probe builds itself (e.g. histograms of the l7 probe), one
   * ResourceMetrics per resource, sent with the receiver's own.
   */
  collectResourceMetrics?(): ResourceMetrics[];
  /** At shutdown, after the last drain and before the last collection: emit what is still held. */
  flush?(): void;
  /** Called once after the readers are stopped and the object destroyed. */
  shutdown?(): void;
}

export interface ProbeFactory<C = unknown> {
  /** key under `receivers.ebpf.probes` */
  readonly name: string;
  readonly description: string;
  /** BPF object file name without `.bpf.o` (build/bpf/<object>.bpf.o) */
  readonly object: string;
  /** probes whose objects must be loaded first (map sharing), e.g. l7 → ['tcp'] */
  readonly requires?: readonly string[];
  /** The object uses classic tracepoints (tracefs): checked at start, mounted when `mount_tracefs` allows. */
  readonly needsTracefs?: boolean;
  readonly configSchema: Schema<C>;
  /** Includes `enabled`; no side effects. */
  createDefaultConfig(): C;
  create(ctx: ProbeContext, cfg: C): Probe;
}

/** Every probe config has these keys. */
export interface ProbeConfigBase {
  enabled: boolean;
}

/** `Map<name, ProbeFactory>` with duplicate detection (the component registry, one level down). */
export class ProbeRegistry {
  readonly #byName = new Map<string, ProbeFactory>();

  register<C>(f: ProbeFactory<C>): this {
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(f.name)) throw new TypeError(`invalid probe name "${f.name}"`);
    if (this.#byName.has(f.name)) throw new TypeError(`duplicate probe "${f.name}"`);
    this.#byName.set(f.name, f as ProbeFactory);
    return this;
  }

  get(name: string): ProbeFactory | undefined {
    return this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  values(): ProbeFactory[] {
    return [...this.#byName.values()];
  }

  /** Enabled names ordered so that every probe comes after the probes it requires. */
  loadOrder(enabled: readonly string[]): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (n: string, stack: string[]): void => {
      if (seen.has(n)) return;
      if (stack.includes(n)) throw new TypeError(`probe dependency cycle: ${[...stack, n].join(' → ')}`);
      for (const r of this.#byName.get(n)?.requires ?? []) visit(r, [...stack, n]);
      seen.add(n);
      out.push(n);
    };
    for (const n of enabled) visit(n, []);
    return out;
  }
}

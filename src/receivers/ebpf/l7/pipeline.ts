import type { InstrumentationScope } from '@opentelemetry/core';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { HostInfo } from '../../../internal/host-info.js';
import type { SpanRecord } from '../../../pdata/traces.js';
import { VERSION } from '../../../version.js';
import type { WallClock } from './clock.js';
import { ClockOffset } from './clock.js';
import type { ConnInfo, L7Event, L7EventFactory, TrackerStats } from './conn.js';
import { ConnTracker } from './conn.js';
import type { LinkOptions, LinkStats, LinkedSpan } from './linking.js';
import { Linker } from './linking.js';
import type { L7MetricsNaming, ProtocolMetricSpec } from './metrics.js';
import { L7Metrics } from './metrics.js';
import { protocolParsers } from './protocols/index.js';
import { ParserRegistry } from './registry.js';
import { ResourceCache } from './resources.js';
import { RouteTemplater } from './routes.js';
import { SpanFactory } from './spans.js';
import type { ParserOptions } from './types.js';
import { DEFAULT_PARSER_OPTIONS } from './types.js';

/** Every built-in protocol parser, in detection order (protocols/index.ts). */
export function defaultRegistry(): ParserRegistry {
  const r = new ParserRegistry();
  for (const p of protocolParsers) r.register(p);
  return r;
}

/** How often the monotonic → wall clock offset is measured again (NTP slews the wall clock). */
const CLOCK_REFRESH_NS = 60e9;

export const L7_SCOPE: InstrumentationScope = { name: 'sonde/receiver/ebpf/l7', version: VERSION };

export interface L7PipelineOptions {
  readonly host: Pick<HostInfo, 'hostname' | 'machineId' | 'arch'>;
  /** Parsers by protocol; default: every built-in parser (defaultRegistry()). */
  readonly registry?: ParserRegistry;
  readonly parser?: Partial<ParserOptions>;
  readonly link?: Partial<LinkOptions>;
  readonly metrics?: { readonly naming?: L7MetricsNaming; readonly protocols?: ReadonlyMap<string, ProtocolMetricSpec> };
  /** Distinct URL templates per service (cgroup) before `{overflow}`. */
  readonly routeCap?: number;
  readonly maxConnections?: number;
  /** Kernel-monotonic → wall clock (default: measured in this process). */
  readonly clock?: WallClock;
  /** Emit spans (false: metrics only, nothing is buffered for linking). */
  readonly spans?: boolean;
}

export interface L7PipelineStats {
  readonly tracker: TrackerStats;
  readonly link: LinkStats;
  readonly connections: number;
  readonly pendingSpans: number;
  readonly bufferedBytes: number;
  /** Keys in the tracker's and linker's per-tuple/per-process maps (should follow live connections). */
  readonly indexKeys: number;
}

/**
 * The user-space L7 machinery behind the ebpf receiver: the receiver forwards the kernel's connection
 * events and payload chunks here, calls `tick()` on an interval for spans and `collectMetrics()` on the
 * metrics collection interval. Single-threaded and synchronous; nothing here does I/O.
 *
 *   open(conn)  → chunk(…)* → close(id, ts)      per connection, in kernel order
 *   tick(now)   → SpanRecord[]                   every ~100 ms–1 s (expires requests, emits linked spans)
 *   collectMetrics() → ResourceMetrics[]         every collection interval (cumulative)
 */
export class L7Pipeline {
  readonly #tracker: ConnTracker;
  readonly #linker: Linker | null;
  readonly #metrics: L7Metrics;
  readonly #spans: SpanFactory;
  readonly #clock: WallClock;
  readonly #resources: ResourceCache;
  readonly #linked: LinkedSpan[] = [];
  #lastExpire = 0;

  constructor(opts: L7PipelineOptions) {
    const registry = opts.registry ?? defaultRegistry();
    const resources = new ResourceCache(opts.host);
    this.#resources = resources;
    const routes = new RouteTemplater(opts.routeCap ?? 200);
    this.#clock = opts.clock ?? new ClockOffset();
    this.#metrics = new L7Metrics({ naming: opts.metrics?.naming ?? 'coroot', protocols: opts.metrics?.protocols }, resources, routes, L7_SCOPE);
    this.#linker = opts.spans === false ? null : new Linker(opts.link);
    this.#spans = new SpanFactory(this.#clock, resources, L7_SCOPE, routes);
    const linker = this.#linker;
    const metrics = this.#metrics;
    const sink = linker !== null
      ? (ev: L7Event): void => {
        metrics.record(ev);
        linker.push(ev);
      }
      : (ev: L7Event): void => metrics.record(ev);
    // with linking, the linker makes each exchange's event: it becomes its entry and then its LinkedSpan
    const newEvent: L7EventFactory | undefined = linker !== null
      ? (record, conn, keys, reqTid, respTid, ordinal, inboundInFlight, peerLocal) => linker.event(record, conn, keys, reqTid, respTid, ordinal, inboundInFlight, peerLocal)
      : undefined;
    this.#tracker = new ConnTracker(registry, { ...DEFAULT_PARSER_OPTIONS, ...opts.parser }, sink, opts.maxConnections, newEvent);
  }

  open(conn: ConnInfo, tsNs = 0): void {
    this.#tracker.open(conn, tsNs);
  }

  /** See ConnTracker.chunk: `egress` = written by the connection's process; `tid` 0 when unknown. */
  chunk(connId: number, egress: boolean, tsNs: number, tid: number, data: Uint8Array, length: number): void {
    this.#tracker.chunk(connId, egress, tsNs, tid, data, length);
  }

  /** chunk() with the captured bytes at `buf[start, end)` (nothing of `buf` is kept: a view into the ring batch). */
  chunkRange(connId: number, egress: boolean, tsNs: number, tid: number, buf: Uint8Array, start: number, end: number, length: number): void {
    this.#tracker.chunkRange(connId, egress, tsNs, tid, buf, start, end, length);
  }

  /** A process exited (the process probe's exit event): its span Resource is forgotten (pids get reused). */
  processExit(pid: number): void {
    this.#resources.dropProcess(pid);
  }

  /** The kernel dropped bytes of this connection and cannot say how many (see ConnTracker.lost). */
  lost(connId: number, tsNs: number): void {
    this.#tracker.lost(connId, tsNs);
  }

  close(connId: number, tsNs: number): void {
    this.#tracker.close(connId, tsNs);
  }

  /**
   * Expires timed-out requests (at most once a second) and returns the spans whose linking window ended.
   * `force` (shutdown) emits everything still held.
   */
  tick(nowNs: number = this.#clock.nowMonoNs(), force = false): SpanRecord[] {
    const clock = this.#clock;
    if (clock instanceof ClockOffset && nowNs - clock.measuredAtMonoNs() >= CLOCK_REFRESH_NS) clock.refresh();
    if (force || nowNs - this.#lastExpire >= 1e9) {
      this.#tracker.expire(nowNs);
      this.#lastExpire = nowNs;
    }
    if (this.#linker === null) return [];
    const linked = this.#linked;
    this.#linker.flush(nowNs, linked, force);
    const out = new Array<SpanRecord>(linked.length);
    for (let i = 0; i < linked.length; i++) out[i] = this.#spans.build(linked[i]);
    while (linked.length > 0) linked.pop(); // keeps the backing store (length = 0 drops it)
    return out;
  }

  collectMetrics(): ResourceMetrics[] {
    return this.#metrics.collect();
  }

  stats(): L7PipelineStats {
    return {
      tracker: { ...this.#tracker.stats },
      link: this.#linker !== null ? { ...this.#linker.stats } : { traceparent: 0, thread: 0, peer: 0, derived: 0, root: 0, ambiguous: 0, timedOut: 0, forced: 0 },
      connections: this.#tracker.size,
      pendingSpans: this.#linker?.pending ?? 0,
      bufferedBytes: this.#tracker.bufferedBytes(),
      indexKeys: this.#tracker.mapSizes() + (this.#linker?.indexSizes() ?? 0),
    };
  }
}

// The l7 probe (bpf/probes/l7.bpf.c): TCP payload of L7 connections → L7Pipeline → spans (traces
// pipeline) and request metrics (metrics pipeline). Needs the tcp probe (its connection table,
// `sonde_conns`, is shared: same socket cookies, the owner and tuple of each connection).
//
//   receivers:
//     ebpf:
//       probes:
//         tcp: { enabled: true }
//         l7:  { enabled: true, capture_bytes: 1KiB, keep_query_string: false, metrics_naming: coroot }
import { s } from '../../../../config/schema.js';
import type { Infer } from '../../../../config/schema.js';
import { ENUMS } from '../../../../native/layouts.generated.js';
import type { BpfObject } from '../../../../native/bpf-object.js';
import { createDefaultL7Config, l7ConfigSchema, l7PipelineOptions } from '../../l7/config.js';
import { L7Pipeline } from '../../l7/pipeline.js';
import { ParserRegistry } from '../../l7/registry.js';
import type { ProtocolParser } from '../../l7/types.js';
import { protocolParsers } from '../../l7/protocols/index.js';
import type { EventHandler, Probe, ProbeContext, ProbeFactory } from '../../probe.js';
import { L7Adapter } from './adapter.js';
import { attachL7Object, cgroup2Root, configureL7Object, hasSendmsgTracepoint, L7_PROGRAMS, readL7KernelStats } from './capture.js';
import { L7_TYPE_OFFSET, L7EventType } from './decode.js';
import type { DetectorTable } from './detectors.js';

/** Every protocol parser Sonde ships, in detection order (src/receivers/ebpf/l7/protocols/index.ts). */
export const L7_PARSERS: readonly ProtocolParser[] = protocolParsers;

export const l7ProbeConfigSchema = s.object({
  enabled: s.bool().describe('Load the L7 probe (needs the tcp probe): request spans and request metrics from TCP payload.'),
  protocols: s.array(s.enum(L7_PARSERS.map((p) => p.name))).describe(`Protocols to trace (default: all of ${L7_PARSERS.map((p) => p.name).join(', ')}). Only their detector rows are loaded into the kernel.`),
  capture_bytes: s.size().describe(`Payload bytes copied to user space per TCP segment that may start a message (the first after a change of direction, or one whose first bytes match the protocol's detector rows), 1 .. ${ENUMS.L7_CAPTURE_MAX}; the rest of the segment is only counted.`),
  continuation_bytes: s.size().describe('Payload bytes copied per continuation segment (same direction, no message start: bulk bodies), 0 .. capture_bytes. 0: only its length and time cross (chunked bodies then lose their framing after the first segment; Content-Length bodies are unaffected).'),
  detect_tries: s.int({ min: 1, max: 255 }).describe('Payload segments of a connection the kernel tries to recognise before ignoring it.'),
  span_interval: s.duration(10).describe('How often finished spans are handed to the traces pipeline.'),
  ...l7ConfigSchema.shape,
});
export type L7ProbeConfig = Infer<typeof l7ProbeConfigSchema>;

export function createDefaultL7ProbeConfig(): L7ProbeConfig {
  return {
    enabled: false,
    protocols: L7_PARSERS.map((p) => p.name),
    capture_bytes: 1024,
    continuation_bytes: 0,
    detect_tries: 4,
    span_interval: 100,
    ...createDefaultL7Config(),
  };
}

class L7Probe implements Probe {
  readonly eventTypeOffset = L7_TYPE_OFFSET;
  readonly eventTypeNames = new Map<number, string>([
    [L7EventType.OPEN, 'open'], [L7EventType.DATA, 'data'], [L7EventType.CLOSE, 'close'], [L7EventType.OWNER, 'owner'],
  ]);
  readonly handlers: ReadonlyMap<number, EventHandler>;
  readonly #ctx: ProbeContext;
  readonly #cfg: L7ProbeConfig;
  readonly #registry: ParserRegistry;
  readonly #pipeline: L7Pipeline;
  #adapter?: L7Adapter;
  #obj?: BpfObject;
  #timer?: NodeJS.Timeout;
  #table?: DetectorTable;

  constructor(ctx: ProbeContext, cfg: L7ProbeConfig) {
    this.#ctx = ctx;
    this.#cfg = cfg;
    this.#registry = new ParserRegistry();
    for (const p of L7_PARSERS) if (cfg.protocols.includes(p.name)) this.#registry.register(p);
    const opts = l7PipelineOptions(cfg, ctx.host);
    this.#pipeline = new L7Pipeline({ ...opts, registry: this.#registry, spans: cfg.spans && ctx.tracesEnabled });
    const onRecord: EventHandler = (v, o, l) => this.#adapter?.record(v, o, l);
    this.handlers = new Map<number, EventHandler>([...this.eventTypeNames.keys()].map((t) => [t, onRecord]));
  }

  configure(obj: BpfObject): void {
    const tcp = this.#ctx.objectOf('tcp');
    if (tcp === undefined) throw new Error('the l7 probe needs the tcp probe (its connection table)');
    this.#table = configureL7Object(obj, tcp, {
      captureBytes: this.#cfg.capture_bytes,
      continuationBytes: Math.min(this.#cfg.continuation_bytes, this.#cfg.capture_bytes),
      detectTries: this.#cfg.detect_tries,
      selfPid: this.#ctx.selfPid,
      protocols: this.#registry.names(),
      // the receiver sets the ring size and wakeup threshold of every object (ring_buffer.*)
    }, { sendmsgTracepoint: hasSendmsgTracepoint() });
    this.#obj = obj;
    this.#adapter = new L7Adapter(this.#pipeline, {
      protocols: this.#table.names,
      registry: this.#registry,
      selfPid: this.#ctx.selfPid,
      cgroupPath: (pid, id) => this.#ctx.cgroups.of(pid, id).path,
    });
    if (!hasSendmsgTracepoint()) this.#ctx.logger.info(`kernel without tcp_sendmsg_locked tracepoint: ${L7_PROGRAMS.send} not loaded, segments carry no writer thread`);
  }

  started(obj: BpfObject): void {
    // attachAll() (by the receiver) attached the tracing programs; the cgroup_skb pair goes on the v2 root
    const root = this.#cgroupRoot();
    try {
      attachL7Object(obj, root ?? '/sys/fs/cgroup', { tracing: false });
    } catch (e) {
      throw new Error(`the l7 probe attaches cgroup_skb programs to the cgroup v2 root (${root ?? 'none found under cgroup_root or in /proc/self/mounts'}): ${(e as Error).message}`, { cause: e });
    }
    this.#registerTelemetry();
    this.#timer = setInterval(() => this.#emit(false), this.#cfg.span_interval);
    this.#timer.unref();
  }

  /** The cgroup v2 mount (cgroup_root, or its `unified` child on hybrid hosts), else this process's view of it. */
  #cgroupRoot(): string | undefined {
    return this.#ctx.cgroups.fs.unified ?? cgroup2Root();
  }

  #emit(force: boolean): void {
    if (force) this.#adapter?.flush();
    const spans = this.#pipeline.tick(undefined, force);
    if (spans.length > 0) this.#ctx.emitSpans(spans);
  }

  flush(): void {
    this.#emit(true);
  }

  collectResourceMetrics(): ReturnType<L7Pipeline['collectMetrics']> {
    return this.#pipeline.collectMetrics();
  }

  #registerTelemetry(): void {
    const t = this.#ctx.telemetry;
    const rid = this.#ctx.receiverId;
    const rows = (pairs: Array<[string, number]>): Array<readonly [string[], number]> => pairs.map(([k, v]) => [[rid, k], v] as const);
    const kernel = (): ReturnType<typeof readL7KernelStats> | undefined => {
      try {
        return this.#obj ? readL7KernelStats(this.#obj) : undefined;
      } catch {
        return undefined; // destroyed
      }
    };
    t.gaugeFn('sonde_l7_kernel_connections', 'L7 connection decisions in the kernel since start: detected (OPEN sent), undetected (given up), self (the agent\'s own, ignored).', ['receiver', 'result'], () => {
      const k = kernel();
      return k ? rows([['detected', k.detected], ['undetected', k.undetected], ['self', k.self]]) : [];
    }, rid);
    t.gaugeFn('sonde_l7_kernel_segments', 'TCP segments of traced connections the kernel did not pass on as data since start: duplicate (retransmitted, skipped), gap (a hole before a segment: loss or reordering), not_linear (headers not parsed).', ['receiver', 'result'], () => {
      const k = kernel();
      return k ? rows([['duplicate', k.duplicate], ['gap', k.gap], ['not_linear', k.notLinear]]) : [];
    }, rid);
    t.gaugeFn('sonde_l7_user', 'The l7 probe in user space since start: records, connections waiting for their owner resolved, drops (malformed, unknown_connection, self), gap bytes fed as uncaptured.', ['receiver', 'what'], () => {
      const a = this.#adapter?.stats;
      return a ? rows([['records', a.records], ['malformed', a.malformed], ['unknown_connection', a.unknownConnection], ['self', a.self],
        ['owner_changed', a.ownerChanged], ['owner_unknown', a.ownerUnknown], ['protocol_unconfirmed', a.unconfirmed], ['gap_bytes', a.gapBytes]]) : [];
    }, rid);
    t.gaugeFn('sonde_l7_pipeline', 'The L7 pipeline: exchanges parsed, parser errors, connections tracked, spans waiting for linking, bytes buffered, links by rule.', ['receiver', 'what'], () => {
      const st = this.#pipeline.stats();
      return rows([['exchanges', st.tracker.records], ['parser_errors', st.tracker.parserErrors], ['unknown_connection', st.tracker.unknownConnection],
        ['connections', st.connections], ['pending_spans', st.pendingSpans], ['buffered_bytes', st.bufferedBytes],
        ...Object.entries(st.link).map(([k, v]) => [`link_${k}`, v] as [string, number])]);
    }, rid);
  }

  shutdown(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#obj = undefined;
  }
}

export const l7ProbeFactory: ProbeFactory<L7ProbeConfig> = {
  name: 'l7',
  description: 'L7 payload capture (HTTP/1, PostgreSQL, MySQL, Redis, memcached): a span per request on both ends of each connection and request metrics. cgroup_skb programs on the cgroup v2 root + tp_btf; needs the tcp probe.',
  object: 'l7',
  requires: ['tcp'],
  configSchema: l7ProbeConfigSchema,
  createDefaultConfig: createDefaultL7ProbeConfig,
  create: (ctx, cfg) => new L7Probe(ctx, cfg),
};

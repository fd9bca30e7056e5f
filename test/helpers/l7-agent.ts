// e2e helper: the l7 probe on the real kernel driving an L7Pipeline directly (the tcp probe owns the
// connection table; this process is the "agent" and is ignored in the kernel). Spans and metrics are
// collected here for assertions; tests filter them by their own ports and pids.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { NativeBinding } from '../../src/native/binding.js';
import { BpfObject } from '../../src/native/bpf-object.js';
import type { BpfLink } from '../../src/native/bpf-object.js';
import type { RingReader } from '../../src/native/ring-reader.js';
import type { SpanRecord } from '../../src/pdata/traces.js';
import type { L7PipelineOptions } from '../../src/receivers/ebpf/l7/pipeline.js';
import { L7Pipeline } from '../../src/receivers/ebpf/l7/pipeline.js';
import { ParserRegistry } from '../../src/receivers/ebpf/l7/registry.js';
import { http1Parser } from '../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import { L7Adapter } from '../../src/receivers/ebpf/probes/l7/adapter.js';
import type { L7KernelStats } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { attachL7Object, cgroup2Root, configureL7Object, hasSendmsgTracepoint, readL7KernelStats } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { bpfObjectPath } from './paths.js';

export interface L7AgentOptions {
  captureBytes?: number;
  pipeline?: Partial<L7PipelineOptions>;
  registry?: ParserRegistry;
  /** Keep every raw batch (fixture recording). */
  keepBatches?: boolean;
}

export class L7TestAgent {
  readonly tcp: BpfObject;
  readonly l7: BpfObject;
  readonly pipeline: L7Pipeline;
  readonly adapter: L7Adapter;
  readonly spans: SpanRecord[] = [];
  readonly batches: Buffer[] = [];
  readonly #reader: RingReader;
  readonly #links: BpfLink[];
  readonly #keep: boolean;

  private constructor(native: NativeBinding, opts: L7AgentOptions) {
    const registry = opts.registry ?? new ParserRegistry().register(http1Parser);
    this.#keep = opts.keepBatches ?? false;
    this.tcp = BpfObject.open(native, bpfObjectPath('tcp'));
    this.tcp.setRodata('targ_self_tgid', process.pid);
    this.tcp.load();
    this.l7 = BpfObject.open(native, bpfObjectPath('l7'));
    const table = configureL7Object(this.l7, this.tcp, {
      captureBytes: opts.captureBytes ?? 1024, detectTries: 4, maxConnections: 65536, ringBytes: 16 << 20,
      wakeupBytes: 256 << 10, selfPid: process.pid, protocols: registry.names(),
    }, { sendmsgTracepoint: hasSendmsgTracepoint() });
    this.l7.load();
    // short link window: tests wait for spans, not for the production default
    this.pipeline = new L7Pipeline({ host: { hostname: 'test', machineId: 'm', arch: 'x64' }, registry, link: { windowNs: 300e6 }, ...opts.pipeline });
    this.adapter = new L7Adapter(this.pipeline, { protocols: table.names, registry, selfPid: process.pid });
    this.#reader = this.l7.ringReader('events', { bufferBytes: 4 << 20 });
    const root = cgroup2Root();
    if (root === undefined) throw new Error('no cgroup v2 mount');
    this.#links = [...this.tcp.attachAll(), ...attachL7Object(this.l7, root)];
    // drained continuously, like the agent: the machine is shared and other traffic fills the ring
    this.#reader.start((buf, n, bytes) => this.#onBatch(buf, n, bytes), { intervalMs: 10 });
  }

  #onBatch(buf: Buffer, n: number, bytes: number): void {
    if (this.#keep) this.batches.push(Buffer.from(buf.subarray(0, bytes)));
    this.adapter.onBatch(buf, n, bytes);
  }

  static start(native: NativeBinding, opts: L7AgentOptions = {}): L7TestAgent {
    return new L7TestAgent(native, opts);
  }

  /** Drains the ring into the pipeline and collects the spans that are ready. */
  drain(force = false): void {
    while (this.#reader.drain((buf, n, bytes) => this.#onBatch(buf, n, bytes)) > 0);
    if (force) this.adapter.flush();
    for (const s of this.pipeline.tick(undefined, force)) this.spans.push(s);
  }

  /** Drains until `cond` holds over the spans (or the deadline), then once more after the link window. */
  async waitFor(cond: (spans: SpanRecord[]) => boolean, ms = 10_000): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      this.drain();
      if (cond(this.spans)) break;
      if (Date.now() > end) return false;
      await sleep(50);
    }
    return true;
  }

  /** Drains for `ms`, then forces every held span out. */
  async settle(ms = 500): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      this.drain();
      await sleep(50);
    }
    this.drain(true);
  }

  metrics(): ResourceMetrics[] {
    return this.pipeline.collectMetrics();
  }

  kernelStats(): L7KernelStats {
    return readL7KernelStats(this.l7);
  }

  stop(): void {
    this.#reader.stop();
    for (const l of this.#links) l.destroy();
    this.l7.destroy();
    this.tcp.destroy();
  }
}

/** A fresh cgroup v2 group for the test's servers (so per-cgroup metrics are theirs alone). */
export class TestCgroup {
  readonly path: string;
  readonly rel: string;
  constructor(tag: string) {
    const root = cgroup2Root();
    if (root === undefined) throw new Error('no cgroup v2 mount');
    this.rel = `/sonde-l7-${tag}-${process.pid}`;
    this.path = join(root, this.rel);
    mkdirSync(this.path, { recursive: true });
  }
  /** Moves processes (and, for each, its children: nginx workers) into the group. */
  add(...pids: number[]): void {
    for (const pid of pids) {
      writeFileSync(join(this.path, 'cgroup.procs'), String(pid));
      for (const c of childrenOf(pid)) writeFileSync(join(this.path, 'cgroup.procs'), String(c));
    }
  }
  destroy(): void {
    try { rmdirSync(this.path); } catch { /* processes still inside: left for the next run */ }
  }
}

/** Direct children of a pid (from /proc/<pid>/task/<pid>/children). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

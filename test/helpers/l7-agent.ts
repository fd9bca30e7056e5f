// e2e helper: the l7 probe on the real kernel driving an L7Pipeline directly (the tcp probe owns the
// connection table; this process is the "agent" and is ignored in the kernel). Spans and metrics are
// collected here for assertions; tests filter them by their own ports and pids.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Histogram, HistogramMetricData, ResourceMetrics, SumMetricData } from '@opentelemetry/sdk-metrics';
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
import { L7_CONN_EVENT_SIZE, L7_TYPE_OFFSET, L7ConnEventView, L7EventType } from '../../src/receivers/ebpf/probes/l7/decode.js';
import { forEachRecord } from '../../src/native/ring-records.js';
import type { L7KernelStats } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { attachL7Object, cgroup2Root, configureL7Object, hasSendmsgTracepoint, readL7KernelStats } from '../../src/receivers/ebpf/probes/l7/capture.js';
import type { NginxPeer } from '../peers/index.js';
import { startChild } from './e2e.js';
import { bpfObjectPath } from './paths.js';

export interface L7AgentOptions {
  captureBytes?: number;
  pipeline?: Partial<L7PipelineOptions>;
  registry?: ParserRegistry;
  /** Keep every raw batch (fixture recording). */
  keepBatches?: boolean;
}

export class L7TestAgent {
  /**
   * OPEN records that crossed to user space, by local and by remote port (both ends of a loopback
   * connection count under the server's port): tests on a shared machine filter by their own ports.
   */
  readonly opensByPort = new Map<number, number>();
  readonly #openView = new L7ConnEventView();
  readonly #countOpen = (view: DataView, off: number, len: number): void => {
    if (len < L7_CONN_EVENT_SIZE || view.getUint32(off + L7_TYPE_OFFSET, true) !== L7EventType.OPEN) return;
    const v = this.#openView.reset(view, off);
    for (const port of new Set([v.sport, v.dport])) this.opensByPort.set(port, (this.opensByPort.get(port) ?? 0) + 1);
  };
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
      captureBytes: opts.captureBytes ?? 1024, detectTries: 4, ringBytes: 16 << 20,
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
    forEachRecord(buf, bytes, this.#countOpen);
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

/** Sum of a counter's points matching `attrs`, in the cgroup `cg` (coroot naming). */
export function counter(rms: ResourceMetrics[], cg: string, name: string, attrs: Record<string, string>): number {
  let n = 0;
  for (const rm of rms) {
    if (rm.resource.attributes['sonde.cgroup.path'] !== cg) continue;
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.descriptor.name !== name) continue;
        for (const p of (m as SumMetricData | HistogramMetricData).dataPoints) {
          if (!Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) continue;
          n += typeof p.value === 'number' ? p.value : (p.value as Histogram).count;
        }
      }
    }
  }
  return n;
}

export function accessLines(nginx: NginxPeer): number {
  return readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter(Boolean).length;
}

export function run(cmd: string, args: string[]): Promise<{ pid: number; stdout: string; code: number | null }> {
  const c = startChild(cmd, args);
  return c.exited.then((r) => ({ pid: c.pid, stdout: r.stdout, code: r.code }));
}

export function wrkScript(name: string, lua: string): string {
  const script = join(process.env.TMPDIR ?? '/tmp', `sonde-l7-${process.pid}-${name}.lua`);
  spawnSync('sh', ['-c', `cat > ${script}`], { input: lua });
  return script;
}

/** wrk that sends exactly `n` requests over `conns` keep-alive connections, then idles until -d ends. */
export function wrkExactly(url: string, n: number, conns: number): Promise<{ pid: number; stdout: string; code: number | null }> {
  // request() is called once at start-up (to learn the pipeline depth): hence n + 1
  const script = wrkScript(`n${n}`, `local n = 0
request = function()
  n = n + 1
  if n > ${n + 1} then return "" end
  return wrk.format(nil, "/ok")
end`);
  return run('wrk', ['-t1', `-c${conns}`, '-d2s', '-s', script, url]);
}

/** wrk on one connection, `depth` requests per write (pipelining), stopping after exactly `n` responses. */
export function wrkPipelined(url: string, n: number, depth: number): Promise<{ pid: number; stdout: string; code: number | null }> {
  const script = wrkScript(`p${n}x${depth}`, `init = function(args)
  local r = {}
  for i = 1, ${depth} do r[i] = wrk.format(nil, "/ok") end
  req = table.concat(r)
end
request = function() return req end
local got = 0
response = function(status, headers, body)
  got = got + 1
  if got >= ${n} then wrk.thread:stop() end
end`);
  return run('wrk', ['-t1', '-c1', '-d2s', '-s', script, url]);
}

/** What a list of spans holds, for failure messages. */
export function summary(spans: SpanRecord[]): string {
  const m = new Map<string, number>();
  for (const s of spans) {
    const k = `${s.kind} ${String(s.attributes['url.path'])} ${String(s.attributes['http.response.status_code'])}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return JSON.stringify([...m]);
}


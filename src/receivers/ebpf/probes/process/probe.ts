// The process probe (bpf/probes/process.bpf.c): exec, exit, OOM kill (and fork, optional).
// Metrics: container_oom_kills_total per cgroup. Logs (when a logs pipeline uses the receiver):
// process.exec / process.exit / process.oom_kill records. Exec and exit also keep the pid → cgroup
// cache right for every other probe (a process moved between fork and exec; pids reused).
import { s } from '../../../../config/schema.js';
import type { Infer } from '../../../../config/schema.js';
import { nsToHrTime } from '../../../../pdata/time.js';
import type { BpfObject } from '../../../../native/bpf-object.js';
import type { CgroupEntry } from '../../cgroups.js';
import type { EventHandler, MetricsWriter, Probe, ProbeContext, ProbeFactory } from '../../probe.js';
import { PROCESS_EVENT_OFFSETS, ProcessEventType, ProcessEventView } from './decode.js';

export const processProbeConfigSchema = s.object({
  enabled: s.bool().describe('Load the process probe.'),
  fork_events: s.bool().describe('Also attach sched_process_fork (new processes before exec; one more event per process).'),
});
export type ProcessProbeConfig = Infer<typeof processProbeConfigSchema>;

/** CLOCK_MONOTONIC ns → wall-clock HrTime (offset taken once per probe start). */
export function monoToWall(): (ns: number) => ReturnType<typeof nsToHrTime> {
  const offsetNs = Date.now() * 1e6 - Number(process.hrtime.bigint());
  return (ns) => nsToHrTime(ns + offsetNs);
}

class ProcessProbe implements Probe {
  readonly eventTypeOffset = PROCESS_EVENT_OFFSETS.type;
  readonly eventTypeNames = new Map<number, string>([
    [ProcessEventType.EXEC, 'exec'], [ProcessEventType.EXIT, 'exit'],
    [ProcessEventType.OOM_KILL, 'oom_kill'], [ProcessEventType.FORK, 'fork'],
  ]);
  readonly handlers: ReadonlyMap<number, EventHandler>;
  readonly #ctx: ProbeContext;
  readonly #cfg: ProcessProbeConfig;
  readonly #ev = new ProcessEventView();
  readonly #oom = new Map<CgroupEntry, number>();
  readonly #wall = monoToWall();

  constructor(ctx: ProbeContext, cfg: ProcessProbeConfig) {
    this.#ctx = ctx;
    this.#cfg = cfg;
    this.handlers = new Map<number, EventHandler>([
      [ProcessEventType.EXEC, (v, o) => this.#exec(this.#ev.reset(v, o))],
      [ProcessEventType.EXIT, (v, o) => this.#exit(this.#ev.reset(v, o))],
      [ProcessEventType.OOM_KILL, (v, o) => this.#oomKill(this.#ev.reset(v, o))],
      [ProcessEventType.FORK, () => undefined], // counted by the receiver; nothing derived yet
    ]);
  }

  configure(obj: BpfObject): void {
    if (obj.programs().some((p) => p.name === 'sonde_fork')) obj.setAutoload('sonde_fork', this.#cfg.fork_events);
  }

  started(): void {
    // warm the pid → cgroup cache with what runs now (OOM victims and exits of old processes)
    const d = this.#ctx.discovery();
    if (d) for (const pid of d.pids) this.#ctx.cgroups.of(pid, 0);
  }

  #exec(ev: ProcessEventView): void {
    const pid = ev.pid;
    this.#ctx.cgroups.refresh(pid);
    if (!this.#ctx.logsEnabled) return;
    const cg = this.#ctx.cgroups.of(pid, ev.cgroupId);
    const comm = ev.comm;
    this.#ctx.emitLogs([this.#ctx.logRecord(cg.resource, this.#wall(ev.tsNs), 'process.exec', `exec ${comm} (pid ${pid})`, {
      'process.pid': pid, 'process.parent_pid': ev.ppid, 'process.executable.name': comm,
    })]);
  }

  #exit(ev: ProcessEventView): void {
    const pid = ev.pid;
    if (this.#ctx.logsEnabled) {
      const cg = this.#ctx.cgroups.of(pid, ev.cgroupId);
      const code = ev.exitCode;
      const sig = ev.signal;
      const comm = ev.comm;
      const attrs: Record<string, string | number | boolean> = { 'process.pid': pid, 'process.parent_pid': ev.ppid, 'process.executable.name': comm };
      if (code !== null) attrs['process.exit.code'] = code;
      if (sig !== 0) attrs['process.exit.signal'] = sig;
      if (ev.oomKilled) attrs['process.oom_killed'] = true;
      this.#ctx.emitLogs([this.#ctx.logRecord(cg.resource, this.#wall(ev.tsNs), 'process.exit',
        code !== null ? `exit ${comm} (pid ${pid}) code ${code}` : `exit ${comm} (pid ${pid}) signal ${sig}`, attrs)]);
    }
    this.#ctx.cgroups.processExited(pid);
  }

  #oomKill(ev: ProcessEventView): void {
    const pid = ev.pid;
    const cg = this.#ctx.cgroups.of(pid, ev.cgroupId);
    cg.lastSeen = Date.now();
    this.#oom.set(cg, (this.#oom.get(cg) ?? 0) + 1);
    if (this.#ctx.logsEnabled) {
      const comm = ev.comm;
      this.#ctx.emitLogs([this.#ctx.logRecord(cg.resource, this.#wall(ev.tsNs), 'process.oom_kill', `OOM killer chose ${comm} (pid ${pid})`, {
        'process.pid': pid, 'process.executable.name': comm,
      }, 'WARN')]);
    }
  }

  collect(out: MetricsWriter): void {
    for (const [cg, n] of this.#oom) out.sum(cg, 'container_oom_kills_total', 'Processes of the container killed by the OOM killer', '', {}, n);
  }
}

export const processProbeFactory: ProbeFactory<ProcessProbeConfig> = {
  name: 'process',
  description: 'Process lifecycle (tp_btf sched_process_exec/exit/fork, mark_victim): OOM kills per container; exec/exit/OOM log records.',
  object: 'process',
  configSchema: processProbeConfigSchema,
  createDefaultConfig: () => ({ enabled: true, fork_events: false }),
  create: (ctx, cfg) => new ProcessProbe(ctx, cfg),
};

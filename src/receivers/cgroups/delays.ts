// container_resources_cpu_delay_seconds_total and container_resources_disk_delay_seconds_total: the time
// a container's processes spent waiting for a CPU and for synchronous block I/O, summed from the
// kernel's per-process taskstats (taskstats.ts) over the processes in the container's cgroup, as
// coroot-node-agent does.
//
// What the kernel reports (kernel/delayacct.c, delayacct_add_tsk; checked on 6.18):
// - CPU delay is the scheduler's run_delay (sched_info). Since Linux 5.14 taskstats reports it whatever
//   kernel.task_delayacct says ("taskstats is changed to still report the regular sched and sched_info
//   and only skip the missing task_delay_info fields", commit e4042ad49235 "delayacct: Default
//   disabled"). Before 5.14 (no sysctl) everything is zero when booted with `nodelayacct`.
// - Block I/O delay is accounted only while kernel.task_delayacct is 1 (off by default since 5.14), and
//   only for processes forked while it was on (the per-task record is allocated at fork): turning it on
//   at run time covers the processes started from then on.
// So: CPU delay is reported when the kernel fills the delay fields at all (probed on the agent's own
// process: a process that has run has a non-zero cpu_count), disk delay only when kernel.task_delayacct
// is 1 (or the kernel predates the sysctl); otherwise the series is not emitted, never a made-up zero.
//
// The counters are per cgroup and monotonic although processes come and go: each process's growth since
// the previous collection is added to its cgroup's total (its whole value when it is new), a process
// that exits keeps its contribution, and a pid reused by a new process (another start time, field 22 of
// /proc/<pid>/stat) starts from its own zero.
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../service/logger.js';
import type { TaskstatsResult, TaskstatsSource } from './taskstats.js';
import { TaskstatsUnavailableError } from './taskstats.js';

export type DelayAccountingMode = 'auto' | 'enable' | 'off';

/** One process of a cgroup in one collection. */
export interface ProcessDelays {
  pid: number;
  /** Start time (clock ticks after boot): tells a reused pid from the process seen before. */
  start: number;
  cpuNs: number;
  blkioNs: number;
}

interface PidState {
  start: number;
  cpuNs: number;
  blkioNs: number;
}

interface CgroupState {
  cpuNs: number;
  blkioNs: number;
  sinceMs: number;
  pids: Map<number, PidState>;
}

export interface DelayTotals {
  cpuNs: number;
  blkioNs: number;
  /** When this cgroup's totals started (its first collection). */
  sinceMs: number;
}

/**
 * Per-cgroup monotonic totals from per-process cumulative values. The per-pid state of a cgroup is exactly
 * the processes listed in its last collection (plus those whose query failed transiently), so it is
 * bounded by the live processes of the reported cgroups; cgroups not updated in a collection are forgotten
 * by `sweep()`.
 */
export class DelayAccumulator {
  readonly #cgroups = new Map<string, CgroupState>();
  readonly #touched = new Set<string>();

  /**
   * Folds one collection of cgroup `key` into its totals. `samples`: its processes' current values;
   * `kept`: processes listed in it whose values could not be read this time (their last values are kept,
   * so the next reading adds only what they grew). Processes of the previous collection in neither have
   * exited (or left): forgotten, their contribution stays in the totals.
   */
  update(key: string, samples: readonly ProcessDelays[], kept: readonly number[] = [], nowMs = Date.now()): DelayTotals {
    let c = this.#cgroups.get(key);
    if (!c) this.#cgroups.set(key, (c = { cpuNs: 0, blkioNs: 0, sinceMs: nowMs, pids: new Map() }));
    const next = new Map<number, PidState>();
    for (const s of samples) {
      const prev = c.pids.get(s.pid);
      if (prev && prev.start === s.start) {
        // A value that went down (a kernel that lost an exited thread's share) adds nothing and is the new base.
        c.cpuNs += Math.max(0, s.cpuNs - prev.cpuNs);
        c.blkioNs += Math.max(0, s.blkioNs - prev.blkioNs);
      } else {
        // A process not seen before in this cgroup, or a new process behind a reused pid: all of its delay so far.
        c.cpuNs += s.cpuNs;
        c.blkioNs += s.blkioNs;
      }
      next.set(s.pid, { start: s.start, cpuNs: s.cpuNs, blkioNs: s.blkioNs });
    }
    for (const pid of kept) {
      const prev = c.pids.get(pid);
      if (prev && !next.has(pid)) next.set(pid, prev);
    }
    c.pids = next;
    this.#touched.add(key);
    return { cpuNs: c.cpuNs, blkioNs: c.blkioNs, sinceMs: c.sinceMs };
  }

  /** Ends a collection: forgets the cgroups `update` was not called for since the previous sweep. */
  sweep(): void {
    for (const k of this.#cgroups.keys()) if (!this.#touched.has(k)) this.#cgroups.delete(k);
    this.#touched.clear();
  }

  /** Tracked cgroups and processes (for tests and bounds). */
  get size(): { cgroups: number; pids: number } {
    let pids = 0;
    for (const c of this.#cgroups.values()) pids += c.pids.size;
    return { cgroups: this.#cgroups.size, pids };
  }
}

/** Field 22 (starttime, clock ticks after boot) of a /proc/<pid>/stat line; undefined if malformed. */
export function parseStatStartTime(line: string): number | undefined {
  // comm (field 2) may hold spaces and parentheses: count fields after the last ')'
  const close = line.lastIndexOf(')');
  if (close < 0) return undefined;
  let pos = close + 2; // field 3 (state)
  for (let field = 3; field < 22; field++) {
    const sp = line.indexOf(' ', pos);
    if (sp < 0) return undefined;
    pos = sp + 1;
  }
  const end = line.indexOf(' ', pos);
  const v = Number(line.slice(pos, end < 0 ? undefined : end));
  return Number.isInteger(v) ? v : undefined;
}

const statBuf = Buffer.alloc(2048);

/** A process's start time from `<procRoot>/<pid>/stat`; undefined when it is gone. */
export function readStartTime(procRoot: string, pid: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(join(procRoot, String(pid), 'stat'), 'r');
  } catch {
    return undefined;
  }
  try {
    const n = readSync(fd, statBuf, 0, statBuf.length, 0);
    return parseStatStartTime(statBuf.toString('latin1', 0, n));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `<procRoot>/<selfPid>` is this very process (same start time as /proc/<ownPid>): the agent then
 * sees the host's processes under procRoot (root_path holds the host's /proc, and it shares the host PID
 * namespace), as taskstats and the mount tables must. Otherwise every per-pid lookup would miss or hit
 * another process.
 */
export function seesHostProcesses(procRoot: string, selfPid: number, ownPid = process.pid): boolean {
  const start = readStartTime(procRoot, selfPid);
  return start !== undefined && start === readStartTime('/proc', ownPid);
}

/**
 * The processes of a cgroup and of its descendants (on cgroup v2 a populated parent has its processes in
 * child cgroups), from `cgroup.procs`, bounded in depth and count.
 */
export function cgroupPids(dir: string, maxDepth = 8, maxPids = 100_000): number[] {
  const out: number[] = [];
  const walk = (d: string, depth: number): void => {
    let text = '';
    try {
      text = readFileSync(join(d, 'cgroup.procs'), 'latin1');
    } catch {
      // gone mid-scrape (then the walk below finds nothing either)
    }
    for (const l of text.split('\n')) {
      if (out.length >= maxPids) return;
      const pid = Number(l);
      if (l !== '' && Number.isInteger(pid) && pid > 0) out.push(pid);
    }
    if (depth >= maxDepth) return;
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(d, e.name), depth + 1);
  };
  walk(dir, 0);
  return out;
}

/** One cgroup's delays for this collection; a field is absent when the kernel does not account it. */
export interface CgroupDelays {
  cpuSeconds?: number;
  diskSeconds?: number;
  sinceMs: number;
}

export interface DelayCollectorOptions {
  readonly mode: DelayAccountingMode;
  /** Host root: `<root>/proc/<pid>/stat` and `<root>/proc/sys/kernel/task_delayacct` are read under it. */
  readonly rootPath: string;
  readonly logger: Logger;
  /** Opens taskstats; throws (TaskstatsUnavailableError) when it cannot be used here. */
  readonly open: () => TaskstatsSource;
  /** Counts a per-process query error other than "the process exited" (errno name). */
  readonly onError?: (errno: string) => void;
  /** The agent's pid as the host (taskstats, `<root>/proc`) sees it; default: process.pid. */
  readonly selfPid?: number;
}

const { ESRCH, EPERM, ENOENT } = constants.errno;
const errnoName = (n: number): string => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
const METRICS = 'container_resources_cpu_delay_seconds_total and container_resources_disk_delay_seconds_total';
const TURN_ON = 'turn it on with `sysctl -w kernel.task_delayacct=1` on the host (covers processes started afterwards; the `delayacct` boot parameter covers all), or set `delay_accounting: enable` on the cgroups receiver';

/**
 * The policy around taskstats for the cgroups receiver: the `delay_accounting` mode, what the kernel
 * accounts (probed every collection, so turning kernel.task_delayacct on or off is followed), clean
 * degradation (no taskstats, no CAP_NET_ADMIN: one warning, the rest of the receiver keeps working),
 * and the per-cgroup totals.
 */
export class DelayCollector {
  readonly #opts: DelayCollectorOptions;
  readonly #acc = new DelayAccumulator();
  readonly #selfPid: number;
  /** This process's pid in its own /proc (differs from selfPid only in tests). */
  readonly #ownPid = process.pid;
  readonly #sysctl: string;
  #source?: TaskstatsSource;
  /** Permanently off: mode off, or taskstats unusable here. */
  #disabled: boolean;
  /** What the last collection found the kernel accounting ('none' | 'cpu' | 'all'), for logging changes. */
  #accounted?: 'none' | 'cpu' | 'all';

  constructor(opts: DelayCollectorOptions) {
    this.#opts = opts;
    this.#selfPid = opts.selfPid ?? process.pid;
    this.#sysctl = join(opts.rootPath, 'proc/sys/kernel/task_delayacct');
    this.#disabled = opts.mode === 'off';
  }

  /** kernel.task_delayacct: 0, 1, or undefined when the kernel has no such sysctl (< 5.14, or no delay accounting). */
  #readSysctl(): number | undefined {
    try {
      return Number(readFileSync(this.#sysctl, 'latin1').trim()) === 0 ? 0 : 1;
    } catch {
      return undefined;
    }
  }

  /** `enable`: turns kernel.task_delayacct on when it is off (once, at start), and says so. */
  start(): void {
    if (this.#opts.mode !== 'enable') return;
    const before = this.#readSysctl();
    if (before !== 0) return; // on already, or a kernel without the switch (accounting on unless booted with nodelayacct)
    try {
      writeFileSync(this.#sysctl, '1');
      this.#opts.logger.info('cgroups receiver: set kernel.task_delayacct=1 (was 0) for container_resources_disk_delay_seconds_total (delay_accounting: enable); block I/O delays are accounted for processes started from now on; the setting stays after Sonde stops (`sysctl -w kernel.task_delayacct=0` turns it off)', { path: this.#sysctl });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      this.#opts.logger.warn(`cgroups receiver: cannot set kernel.task_delayacct=1 (${code}; writing it needs CAP_SYS_ADMIN and a writable /proc/sys, which containers do not have): container_resources_disk_delay_seconds_total is not reported until it is on; set it on the host with \`sysctl -w kernel.task_delayacct=1\``, { path: this.#sysctl });
    }
  }

  #open(): TaskstatsSource | undefined {
    if (this.#source) return this.#source;
    try {
      this.#source = this.#opts.open();
      return this.#source;
    } catch (e) {
      this.#disabled = true;
      const errno = e instanceof TaskstatsUnavailableError ? e.errno : 0;
      const why = errno === ENOENT
        ? 'the kernel has no taskstats family here (built without CONFIG_TASKSTATS, or an older kernel that registers it only in the host network namespace: use hostNetwork)'
        : `taskstats cannot be used: ${(e as Error).message}`;
      this.#opts.logger.warn(`cgroups receiver: ${why}; ${METRICS} are not reported, the rest of the receiver works`);
      return undefined;
    }
  }

  #logAccounted(now: 'none' | 'cpu' | 'all'): void {
    const was = this.#accounted;
    this.#accounted = now;
    if (was === now) return;
    const log = this.#opts.logger;
    if (now === 'none') {
      log.warn(`cgroups receiver: the kernel reports no delay accounting (built without CONFIG_TASK_DELAY_ACCT, or a kernel < 5.14 booted with nodelayacct): ${METRICS} are not reported`);
    } else if (now === 'cpu') {
      log.warn(`cgroups receiver: kernel.task_delayacct is 0, so the kernel does not account block I/O delays: container_resources_disk_delay_seconds_total is not reported (container_resources_cpu_delay_seconds_total is: the scheduler keeps it regardless); ${TURN_ON}`);
    } else if (was !== undefined) {
      log.info('cgroups receiver: kernel.task_delayacct is 1: container_resources_disk_delay_seconds_total is reported (block I/O delays of processes started while it was off are not accounted)');
    }
  }

  /**
   * One collection: the delays of every cgroup in `cgroups` (key: the cgroup's incarnation; dir: its
   * directory, whose and whose descendants' cgroup.procs are read). Never throws.
   */
  collect(cgroups: ReadonlyArray<{ key: string; dir: string }>, nowMs = Date.now()): Map<string, CgroupDelays> {
    const out = new Map<string, CgroupDelays>();
    if (this.#disabled) return out;
    const src = this.#open();
    if (!src) return out;

    // What does the kernel account? Our own process has run: a zero cpu_count means nothing is filled in.
    const self = src.query([this.#selfPid]).get(this.#selfPid);
    if (typeof self !== 'object') {
      if (self === EPERM) {
        this.#disabled = true;
        this.#close();
        this.#opts.logger.warn(`cgroups receiver: taskstats needs CAP_NET_ADMIN (the kernel answered EPERM): ${METRICS} are not reported, the rest of the receiver works`);
      } else {
        this.#opts.onError?.(errnoName(self ?? constants.errno.EPROTO));
        this.#opts.logger.warnOnce('taskstats-probe', 'cgroups receiver: a taskstats query failed; delays are skipped for this collection (logged once)', { errno: errnoName(self ?? constants.errno.EPROTO) });
      }
      return out;
    }
    // The processes must be the host's as taskstats sees them: our own pid under <root>/proc is us (the
    // agent shares the host PID namespace and <root>/proc is the host's). Otherwise every lookup would miss
    // and the totals would be made-up zeros.
    const procRoot = join(this.#opts.rootPath, 'proc');
    if (!seesHostProcesses(procRoot, this.#selfPid, this.#ownPid)) {
      this.#opts.logger.warnOnce('taskstats-pidns', `cgroups receiver: ${procRoot}/${this.#selfPid}/stat is not this process: the host's processes are not visible as taskstats sees them (root_path must hold the host's /proc and the agent must share the host PID namespace: hostPID); ${METRICS} are not reported`);
      return out;
    }
    const cpuOn = self.cpuCount > 0;
    const diskOn = cpuOn && this.#readSysctl() !== 0;
    this.#logAccounted(!cpuOn ? 'none' : diskOn ? 'all' : 'cpu');
    if (!cpuOn) return out;

    const lists = cgroups.map((c) => cgroupPids(c.dir));
    const starts = new Map<number, number | undefined>();
    for (const pids of lists) for (const pid of pids) if (!starts.has(pid)) starts.set(pid, readStartTime(procRoot, pid));
    const alive = [...starts].filter(([, s]) => s !== undefined).map(([pid]) => pid);
    const results: Map<number, TaskstatsResult> = alive.length > 0 ? src.query(alive) : new Map();

    cgroups.forEach((c, i) => {
      const samples: ProcessDelays[] = [];
      const kept: number[] = [];
      for (const pid of lists[i]) {
        const start = starts.get(pid);
        const r = results.get(pid);
        if (start === undefined || r === undefined) continue; // exited before we looked
        if (typeof r === 'number') {
          if (r === ESRCH) continue; // exited between the listing and the query: normal
          kept.push(pid);
          this.#opts.onError?.(errnoName(r));
          this.#opts.logger.warnOnce('taskstats-query', 'cgroups receiver: taskstats queries failed for some processes; they are retried next collection (logged once, counted in sonde_receiver_cgroups_taskstats_errors_total)', { errno: errnoName(r) });
          continue;
        }
        samples.push({ pid, start, cpuNs: r.cpuDelayNs, blkioNs: r.blkioDelayNs });
      }
      const t = this.#acc.update(c.key, samples, kept, nowMs);
      out.set(c.key, { cpuSeconds: t.cpuNs / 1e9, diskSeconds: diskOn ? t.blkioNs / 1e9 : undefined, sinceMs: t.sinceMs });
    });
    this.#acc.sweep();
    return out;
  }

  #close(): void {
    this.#source?.close();
    this.#source = undefined;
  }

  /** Idempotent. */
  close(): void {
    this.#close();
  }
}

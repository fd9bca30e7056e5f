import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupFs } from './fs.js';
import { walkCgroups } from './fs.js';
import { parseProcCgroup, selectCgroupPath } from './path.js';
import type { ProcCgroup } from './path.js';
import type { CgroupInfo, RecognizeOptions } from './recognize.js';
import { recognizeCgroup } from './recognize.js';

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot (what tells a reused pid apart). */
export function parseStatStartTime(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = stat.slice(close + 2).split(' ');
  const v = Number(f[19]);
  return Number.isFinite(v) ? v : undefined;
}

export function readProcStartTime(procRoot: string, pid: number): number | undefined {
  try {
    return parseStatStartTime(readFileSync(join(procRoot, String(pid), 'stat'), 'utf8'));
  } catch {
    return undefined;
  }
}

export function readProcCgroup(procRoot: string, pid: number): ProcCgroup | undefined {
  try {
    return parseProcCgroup(readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8'));
  } catch {
    return undefined;
  }
}

export interface PidCgroup {
  readonly pid: number;
  /** Clock ticks since boot (field 22 of /proc/<pid>/stat). */
  readonly startTime: number;
  /** THE cgroup path (see path.ts). */
  readonly path: string;
  readonly info: CgroupInfo;
  /** True once the process is known to have exited (the entry serves late data until the grace period ends). */
  readonly exited: boolean;
}

export interface PidCgroupResolverOptions {
  /** /proc of the host (default `/proc`; `/host/proc` in a container with hostPID and the host's /proc mounted). */
  readonly procRoot?: string;
  /** Cache bound; the least recently used entry is evicted beyond it. Default 16384. */
  readonly maxEntries?: number;
  /** A cached entry is trusted this long before /proc is read again (migration, pid reuse). Default 10 s. */
  readonly revalidateMs?: number;
  /** How long an exited process's entry keeps answering, for data still in the pipeline. Default 60 s. */
  readonly exitedGraceMs?: number;
  readonly recognize?: RecognizeOptions;
  /** Clock (tests). */
  readonly now?: () => number;
}

interface Entry {
  value: PidCgroup;
  checkedAt: number;
  exitedAt?: number;
}

export interface ResolverStats {
  hits: number;
  misses: number;
  /** /proc/<pid>/cgroup reads. */
  reads: number;
  evictions: number;
  /** Lookups of pids that were not running and not cached. */
  unknown: number;
}

/**
 * pid → cgroup path and what it belongs to, with a bounded LRU cache.
 *
 * - A hit younger than `revalidateMs` costs a Map lookup. An older one re-reads /proc/<pid>/stat: a different
 *   start time means the pid was reused (the entry is replaced); the same start time re-reads
 *   /proc/<pid>/cgroup (a process can be moved, e.g. runc's init joining the container's cgroup).
 * - `processExited(pid)` (the eBPF receiver calls it on its exit event) marks the entry: it keeps answering
 *   for `exitedGraceMs` so data still queued in the pipeline is attributed, but every lookup in that time
 *   re-checks /proc/<pid>/stat, so a process that reuses the pid is never given the dead one's cgroup.
 * - A pid that is gone from /proc without an exit event is treated the same way once noticed.
 * Synchronous: each miss is two small reads of /proc (≈10–20 µs).
 */
export class PidCgroupResolver {
  readonly procRoot: string;
  readonly #max: number;
  readonly #revalidateMs: number;
  readonly #graceMs: number;
  readonly #recognize: RecognizeOptions;
  readonly #now: () => number;
  readonly #cache = new Map<number, Entry>();
  readonly stats: ResolverStats = { hits: 0, misses: 0, reads: 0, evictions: 0, unknown: 0 };

  constructor(opts: PidCgroupResolverOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.#max = opts.maxEntries ?? 16_384;
    this.#revalidateMs = opts.revalidateMs ?? 10_000;
    this.#graceMs = opts.exitedGraceMs ?? 60_000;
    this.#recognize = opts.recognize ?? {};
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#cache.size;
  }

  lookup(pid: number): PidCgroup | undefined {
    const now = this.#now();
    const e = this.#cache.get(pid);
    if (e && e.exitedAt === undefined && now - e.checkedAt < this.#revalidateMs) {
      this.stats.hits++;
      this.#touch(pid, e);
      return e.value;
    }
    const start = readProcStartTime(this.procRoot, pid);
    if (start === undefined) {
      // Not running now: answer from the cache during the grace period.
      if (e) {
        e.exitedAt ??= now;
        if (!e.value.exited) e.value = { ...e.value, exited: true };
        if (now - e.exitedAt <= this.#graceMs) {
          this.stats.hits++;
          return e.value;
        }
        this.#cache.delete(pid);
      }
      this.stats.unknown++;
      return undefined;
    }
    if (e && e.value.startTime === start && e.exitedAt === undefined) {
      // Same process: re-read its cgroup (it may have moved).
      const pc = this.#read(pid);
      if (pc) {
        const path = selectCgroupPath(pc);
        if (path !== e.value.path) e.value = { ...e.value, path, info: recognizeCgroup(path, this.#recognize) };
      }
      e.checkedAt = now;
      this.stats.hits++;
      this.#touch(pid, e);
      return e.value;
    }
    // New process (or a reused pid): read from scratch.
    this.stats.misses++;
    const pc = this.#read(pid);
    if (!pc) {
      this.#cache.delete(pid);
      this.stats.unknown++;
      return undefined;
    }
    const path = selectCgroupPath(pc);
    const value: PidCgroup = { pid, startTime: start, path, info: recognizeCgroup(path, this.#recognize), exited: false };
    this.#cache.delete(pid);
    this.#cache.set(pid, { value, checkedAt: now });
    while (this.#cache.size > this.#max) {
      const oldest = this.#cache.keys().next().value as number;
      this.#cache.delete(oldest);
      this.stats.evictions++;
    }
    return value;
  }

  /** Called on a process-exit event: keep the entry for late data, but re-verify the pid on every lookup. */
  processExited(pid: number): void {
    const e = this.#cache.get(pid);
    if (e && e.exitedAt === undefined) {
      e.exitedAt = this.#now();
      e.value = { ...e.value, exited: true };
    }
  }

  /** Drops entries of exited processes past their grace period (call now and then; lookups also do it). */
  sweep(): number {
    const now = this.#now();
    let n = 0;
    for (const [pid, e] of this.#cache) {
      if (e.exitedAt !== undefined && now - e.exitedAt > this.#graceMs) {
        this.#cache.delete(pid);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.#cache.clear();
  }

  #read(pid: number): ProcCgroup | undefined {
    this.stats.reads++;
    return readProcCgroup(this.procRoot, pid);
  }

  #touch(pid: number, e: Entry): void {
    // Map iteration order is insertion order: re-inserting makes this the most recently used.
    this.#cache.delete(pid);
    this.#cache.set(pid, e);
  }
}

/**
 * cgroup v2 id → cgroup path, for events that carry `bpf_get_current_cgroup_id()`. The id is the inode
 * number of the cgroup's directory in the unified hierarchy; the map is filled by walking that hierarchy,
 * again on a miss (at most once per `minRescanMs`). On hybrid hosts only processes their runtime placed in
 * the unified hierarchy have a useful id (the rest report the root's id, i.e. `/`).
 */
export class CgroupIdResolver {
  readonly #fs: CgroupFs;
  readonly #minRescanMs: number;
  readonly #now: () => number;
  #byId = new Map<bigint, string>();
  #lastScan = -Infinity;

  constructor(fs: CgroupFs, opts: { minRescanMs?: number; now?: () => number } = {}) {
    this.#fs = fs;
    this.#minRescanMs = opts.minRescanMs ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  pathOf(id: bigint | number): string | undefined {
    const key = BigInt(id);
    const hit = this.#byId.get(key);
    if (hit !== undefined) return hit;
    if (this.#now() - this.#lastScan < this.#minRescanMs) return undefined;
    this.rescan();
    return this.#byId.get(key);
  }

  /** Rebuilds the id map from the unified hierarchy (drops removed cgroups). */
  rescan(): void {
    this.#lastScan = this.#now();
    const map = new Map<bigint, string>();
    if (this.#fs.unified) {
      for (const path of walkCgroups(this.#fs.unified, () => true)) {
        const id = this.#fs.cgroupId(path);
        if (id !== undefined) map.set(id, path);
      }
    }
    this.#byId = map;
  }
}

/** Pids in a cgroup (`cgroup.procs` of `dir`); empty when unreadable. */
export function cgroupPids(dir: string): number[] {
  try {
    const text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
    const out: number[] = [];
    for (const l of text.split('\n')) if (l) out.push(Number(l));
    return out;
  } catch {
    return [];
  }
}

/** Every pid in /proc (numeric entries). */
export function listPids(procRoot: string): number[] {
  try {
    return readdirSync(procRoot).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

// pid / cgroup id → the cgroup (container) events are aggregated under. Built on the shared
// resolvers of src/internal/cgroup (pid → path with pid-reuse handling; v2 id → path). Each cgroup
// gets one CgroupEntry with its Resource (the agent's resource + `sonde.cgroup.path`), created once:
// the hot path does Map lookups only.
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { CGROUP_PATH_ATTR } from '../../internal/coroot.js';
import { CgroupFs, CgroupIdResolver, PidCgroupResolver } from '../../internal/cgroup/index.js';

export class CgroupEntry {
  readonly path: string;
  readonly resource: Resource;
  /** Date.now() of the last event attributed here (idle entries without live state are dropped). */
  lastSeen = 0;
  constructor(path: string, resource: Resource) {
    this.path = path;
    this.resource = resource;
  }
}

export interface CgroupIndexOptions {
  procRoot: string;
  /** where the cgroup hierarchies are mounted (default /sys/fs/cgroup) */
  cgroupRoot: string;
  /** the agent's resource (host.*, service.*): every cgroup resource extends it */
  base: Resource;
  maxPids?: number;
}

export interface CgroupIndexStats {
  /** attributions by how the cgroup was found */
  byPid: number;
  byId: number;
  unknown: number;
}

/**
 * Attribution order for an event of process `pid` whose kernel cgroup v2 id is `cgroupId`:
 * 1. the v2 id → path map, when the id names a cgroup other than the root (exact at event time, also for
 *    processes that exited or moved before their events were drained);
 * 2. the pid's cgroup path from /proc/<pid>/cgroup (cached; covers v1-only placement on hybrid hosts, where
 *    the v2 id is the root's);
 * 3. `/` (the root cgroup: host processes, or nothing known).
 */
export class CgroupIndex {
  readonly pids: PidCgroupResolver;
  readonly ids: CgroupIdResolver;
  readonly fs: CgroupFs;
  readonly stats: CgroupIndexStats = { byPid: 0, byId: 0, unknown: 0 };
  readonly #base: Resource;
  readonly #entries = new Map<string, CgroupEntry>();
  readonly #idPaths = new Map<number, string>();
  readonly #idMiss = new Map<number, number>();
  #lastWalk = 0;
  /** pid → entry, in front of the resolver (whose hits cost a clock read and an LRU touch): dropped at
   * each sweep (collection interval) and on the pid's exec/exit, so a reused pid is re-resolved. */
  readonly #pidEntries = new Map<number, CgroupEntry>();
  readonly root: CgroupEntry;

  constructor(opts: CgroupIndexOptions) {
    this.pids = new PidCgroupResolver({ procRoot: opts.procRoot, maxEntries: opts.maxPids ?? 65_536 });
    this.fs = CgroupFs.detect(opts.cgroupRoot);
    // walks only when pathOfId asks (the first lookup walks once by itself)
    this.ids = new CgroupIdResolver(this.fs, { minRescanMs: Infinity });
    this.#base = opts.base;
    this.root = this.entry('/');
  }

  /** The entry of a cgroup path (created on first use). */
  entry(path: string): CgroupEntry {
    let e = this.#entries.get(path);
    if (!e) {
      e = new CgroupEntry(path, this.#base.merge(resourceFromAttributes({ [CGROUP_PATH_ATTR]: path })));
      this.#entries.set(path, e);
    }
    return e;
  }

  /**
   * v2 cgroup id → path. Hits are cached (until the next sweep). An unknown id (usually a cgroup created
   * since the last walk) triggers a walk of the unified hierarchy, at most one per 100 ms; an id a walk did
   * not find is not looked for again for 30 s (deleted cgroups must not cause a walk per event).
   */
  pathOfId(id: number): string | undefined {
    if (id === 0) return undefined;
    const hit = this.#idPaths.get(id);
    if (hit !== undefined) return hit;
    const known = this.ids.pathOf(id);
    if (known !== undefined) {
      this.#idPaths.set(id, known);
      return known;
    }
    const now = Date.now();
    const missUntil = this.#idMiss.get(id);
    if (missUntil !== undefined && now < missUntil) return undefined;
    if (now - this.#lastWalk < 100) return undefined;
    this.#lastWalk = now;
    this.ids.rescan();
    const p = this.ids.pathOf(id);
    if (p !== undefined) {
      this.#idMiss.delete(id);
      this.#idPaths.set(id, p);
      return p;
    }
    if (this.#idMiss.size > 10_000) this.#idMiss.clear();
    this.#idMiss.set(id, now + 30_000);
    return undefined;
  }

  /** The cgroup of an event (see the class comment for the order). */
  of(pid: number, cgroupId: number): CgroupEntry {
    // the kernel's v2 id at event time: when it names a cgroup other than the root, that path IS the
    // process's cgroup path (rule 1 of internal/cgroup/path.ts) and needs no /proc read
    const byId = this.pathOfId(cgroupId);
    if (byId !== undefined && byId !== '/') {
      this.stats.byId++;
      return this.entry(byId);
    }
    if (pid > 0) {
      const hit = this.#pidEntries.get(pid);
      if (hit !== undefined) {
        this.stats.byPid++;
        return hit;
      }
      const r = this.pids.lookup(pid);
      if (r) {
        this.stats.byPid++;
        const e = this.entry(r.path);
        if (!r.exited) this.#pidEntries.set(pid, e);
        return e;
      }
    }
    if (byId !== undefined) {
      this.stats.byId++;
      return this.entry(byId);
    }
    this.stats.unknown++;
    return this.root;
  }

  /** A process image changed (exec): re-read its cgroup now (it may have been moved since fork). */
  refresh(pid: number): void {
    this.#pidEntries.delete(pid);
    this.pids.processExited(pid); // forces the next lookup to re-verify and re-read /proc
    this.pids.lookup(pid);
  }

  processExited(pid: number): void {
    this.#pidEntries.delete(pid);
    this.pids.processExited(pid);
  }

  /** Entries (for collection). */
  entries(): IterableIterator<CgroupEntry> {
    return this.#entries.values();
  }

  /** Drops an entry no probe holds state for any more. */
  forget(e: CgroupEntry): void {
    if (e !== this.root) this.#entries.delete(e.path);
  }

  get size(): number {
    return this.#entries.size;
  }

  sweep(): void {
    this.pids.sweep();
    this.#idPaths.clear();
    this.#pidEntries.clear();
  }

  clear(): void {
    this.pids.clear();
    this.#idPaths.clear();
    this.#pidEntries.clear();
  }
}

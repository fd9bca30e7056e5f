import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The cgroup filesystem layout under a root (default `/sys/fs/cgroup`; `/host/sys/fs/cgroup` when the agent
 * runs in a container with the host's /sys mounted):
 * - `v2`: cgroup2 mounted at the root (`<root>/cgroup.controllers` exists);
 * - `hybrid`: v1 controller hierarchies under `<root>/<controllers>` plus cgroup2 at `<root>/unified`;
 * - `v1`: v1 hierarchies only;
 * - `none`: nothing mounted there.
 * Detection reads directory entries, not /proc/mounts, so it works on bind-mounted host trees.
 */
export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';

/** v1 controllers Sonde reads, plus `systemd` for the name=systemd hierarchy. */
export type V1Controller = 'cpu' | 'cpuacct' | 'memory' | 'blkio' | 'pids' | 'systemd';

export class CgroupFs {
  readonly root: string;
  readonly mode: CgroupMode;
  /** Mount directory of the cgroup2 hierarchy, when there is one. */
  readonly unified?: string;
  /** v1 controller → mount directory of its hierarchy. */
  readonly v1: ReadonlyMap<V1Controller, string>;

  private constructor(root: string, mode: CgroupMode, unified: string | undefined, v1: Map<V1Controller, string>) {
    this.root = root;
    this.mode = mode;
    this.unified = unified;
    this.v1 = v1;
  }

  static detect(root = '/sys/fs/cgroup'): CgroupFs {
    if (existsSync(join(root, 'cgroup.controllers'))) return new CgroupFs(root, 'v2', root, new Map());
    const v1 = new Map<V1Controller, string>();
    let unified: string | undefined;
    let entries: string[] = [];
    try {
      entries = readdirSync(root);
    } catch {
      return new CgroupFs(root, 'none', undefined, v1);
    }
    const wanted: V1Controller[] = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'];
    for (const name of entries.sort()) {
      const dir = join(root, name);
      if (name === 'unified') {
        if (existsSync(join(dir, 'cgroup.controllers'))) unified = dir;
        continue;
      }
      if (!existsSync(join(dir, 'cgroup.procs'))) continue; // not a mounted hierarchy
      if (name === 'systemd') {
        v1.set('systemd', dir);
        continue;
      }
      for (const c of name.split(',')) {
        if ((wanted as string[]).includes(c) && !v1.has(c as V1Controller)) v1.set(c as V1Controller, dir);
      }
    }
    const mode: CgroupMode = v1.size > 0 ? (unified ? 'hybrid' : 'v1') : unified ? 'v2' : 'none';
    return new CgroupFs(root, mode, unified, v1);
  }

  /** The directory of cgroup `path` in the hierarchy of `controller` (`unified` for cgroup2). */
  dir(controller: V1Controller | 'unified', path: string): string | undefined {
    const base = controller === 'unified' ? this.unified : this.v1.get(controller);
    return base === undefined ? undefined : path === '/' ? base : join(base, path);
  }

  /** Reads a file of cgroup `path`; undefined when the hierarchy, the cgroup or the file is missing. */
  read(controller: V1Controller | 'unified', path: string, file: string): string | undefined {
    const d = this.dir(controller, path);
    if (d === undefined) return undefined;
    try {
      return readFileSync(join(d, file), 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * The hierarchies to walk to find cgroups, most authoritative first: cgroup2 (pure v2 or hybrid), then the
   * v1 hierarchies that carry the per-container paths (name=systemd, cpu, memory).
   */
  discoveryRoots(): Array<{ controller: V1Controller | 'unified'; dir: string }> {
    const out: Array<{ controller: V1Controller | 'unified'; dir: string }> = [];
    if (this.unified) out.push({ controller: 'unified', dir: this.unified });
    for (const c of ['systemd', 'cpu', 'memory'] as const) {
      const d = this.v1.get(c);
      if (d) out.push({ controller: c, dir: d });
    }
    return out;
  }

  /** cgroup v2 id (the directory's inode number) of `path` in the unified hierarchy. */
  cgroupId(path: string): bigint | undefined {
    const d = this.dir('unified', path);
    if (d === undefined) return undefined;
    try {
      return statSync(d, { bigint: true }).ino;
    } catch {
      return undefined;
    }
  }
}

/**
 * Walks a hierarchy depth-first from `dir`, yielding cgroup paths (relative, starting with `/`). `descend`
 * decides whether to go below a path (Sonde stops at containers and systemd units). Bounded by `maxDepth`
 * and `maxCgroups` so a pathological tree cannot stall a scrape.
 */
export function* walkCgroups(dir: string, descend: (path: string) => boolean, maxDepth = 12, maxCgroups = 100_000): Generator<string> {
  const stack: Array<{ rel: string; depth: number }> = [{ rel: '/', depth: 0 }];
  let n = 0;
  while (stack.length > 0) {
    const { rel, depth } = stack.pop()!;
    yield rel;
    if (++n >= maxCgroups) return;
    if (depth >= maxDepth || !descend(rel)) continue;
    let entries;
    try {
      entries = readdirSync(rel === '/' ? dir : join(dir, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e.isDirectory()) stack.push({ rel: rel === '/' ? `/${e.name}` : `${rel}/${e.name}`, depth: depth + 1 });
    }
  }
}

/**
 * /proc/<pid>/cgroup parsing and Sonde's definition of "the cgroup path" of a process.
 *
 * The file has one line per hierarchy: `<hierarchy-id>:<controllers>:<path>`. cgroup v1 hierarchies have
 * a non-zero id and a controller list (`4:memory:/docker/<id>`, `9:name=systemd:/...`); the cgroup v2
 * (unified) hierarchy is `0::<path>`. Pure v1 hosts have no `0::` line; pure v2 hosts have only it;
 * hybrid hosts (systemd's "hybrid" mode, or this machine: v1 controllers plus cgroup2 at
 * /sys/fs/cgroup/unified) have both.
 *
 * THE cgroup path (what `sonde.cgroup.path` holds, what the recognizer reads, what the cgroups receiver
 * keys containers by) is:
 *  1. the v2 path (`0::`), when the line exists and is not `/`;
 *  2. otherwise the first v1 path that is not `/`, taking hierarchies in the order
 *     name=systemd, cpu, cpuacct, memory, pids, blkio, then any other in file order;
 *  3. otherwise `/` (the root cgroup: a host process).
 * It is a path relative to the hierarchy's root, starting with `/`, no trailing slash.
 *
 * Why v2 first: the kernel's cgroup id of an event (`bpf_get_current_cgroup_id()`) is the id of the task's
 * cgroup in the v2 hierarchy, so the eBPF side can only ever map ids to v2 paths; on hybrid hosts the
 * runtimes (runc ≥ 1.0, systemd) place every container in the unified hierarchy at the same path they use
 * in the v1 hierarchies, so rule 1 gives the same string as the v1 lines. Rule 2 covers v1-only hosts and
 * hybrid hosts whose runtime left the unified hierarchy alone (the v2 line is then `/` for every process).
 * Container runtimes use the same relative path in every hierarchy, so one path addresses the container's
 * files in each mounted controller (see CgroupFs).
 *
 * Cgroup namespaces: paths are rendered relative to the READER's cgroup namespace. An agent in a container
 * with a private cgroup namespace sees `/../../kubepods/...` for other containers; the leading `/..`
 * segments are dropped (the recognizer matches on what follows). Run the agent with the host's cgroup
 * namespace (`cgroupns: host`, hostPID) for exact paths.
 */

export interface ProcCgroup {
  /** The `0::` path, when the line exists. */
  readonly v2?: string;
  /** v1 controller (`cpu`, `memory`, `name=systemd`, …) → path. Controllers mounted together share a path. */
  readonly v1: ReadonlyMap<string, string>;
  /** v1 hierarchies in file order, each with its controller list. */
  readonly v1Order: readonly string[];
}

const V1_PREFERENCE = ['name=systemd', 'cpu', 'cpuacct', 'memory', 'pids', 'blkio'];

/** Drops `/..` segments (cgroup namespaces) and a trailing slash; always starts with `/`. */
export function normalizeCgroupPath(path: string): string {
  let p = path.trim();
  if (p === '') return '/';
  if (!p.startsWith('/')) p = `/${p}`;
  while (p === '/..' || p.startsWith('/../')) p = p.slice(3) || '/';
  if (p.length > 1 && p.endsWith('/')) p = p.replace(/\/+$/, '') || '/';
  // systemd's deleted-cgroup marker (cgroup removed while the task still runs on some kernels)
  if (p.endsWith(' (deleted)')) p = p.slice(0, -' (deleted)'.length);
  return p;
}

/** Parses the text of /proc/<pid>/cgroup. Malformed lines are skipped. */
export function parseProcCgroup(text: string): ProcCgroup {
  let v2: string | undefined;
  const v1 = new Map<string, string>();
  const v1Order: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const id = line.slice(0, a);
    const ctrls = line.slice(a + 1, b);
    const path = normalizeCgroupPath(line.slice(b + 1));
    if (id === '0' && ctrls === '') {
      v2 = path;
      continue;
    }
    v1Order.push(ctrls);
    for (const c of ctrls.split(',')) if (c) v1.set(c, path);
  }
  return { v2, v1, v1Order };
}

/** THE cgroup path of a process (see the module comment for the rule). */
export function selectCgroupPath(pc: ProcCgroup): string {
  if (pc.v2 !== undefined && pc.v2 !== '/') return pc.v2;
  for (const c of V1_PREFERENCE) {
    const p = pc.v1.get(c);
    if (p !== undefined && p !== '/') return p;
  }
  for (const ctrls of pc.v1Order) {
    const p = pc.v1.get(ctrls.split(',')[0]);
    if (p !== undefined && p !== '/') return p;
  }
  return '/';
}

/** Convenience: the cgroup path from the text of /proc/<pid>/cgroup. */
export function cgroupPathFromProcFile(text: string): string {
  return selectCgroupPath(parseProcCgroup(text));
}

// Real cgroups for e2e tests (root): one directory per test under a unique top-level name in every
// mounted hierarchy the receiver reads, processes started inside them, and a teardown that kills only
// those processes and removes only those directories.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupFs } from '../../src/internal/cgroup/index.js';
import type { V1Controller } from '../../src/internal/cgroup/index.js';

export type Hierarchy = V1Controller | 'unified';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A cgroup created in every hierarchy (v1 controllers + unified) at the same relative path. */
export class TestCgroup {
  readonly fs: CgroupFs;
  readonly path: string;
  readonly dirs: Map<Hierarchy, string>;
  readonly #procs: ChildProcess[] = [];

  constructor(fs: CgroupFs, path: string) {
    this.fs = fs;
    this.path = path;
    this.dirs = new Map();
    const hs: Hierarchy[] = [...fs.v1.keys(), ...(fs.unified ? ['unified' as const] : [])];
    for (const h of hs) {
      const d = fs.dir(h, path)!;
      if ([...this.dirs.values()].includes(d)) continue; // co-mounted controllers share a directory
      mkdirSync(d, { recursive: true });
      this.dirs.set(h, d);
    }
  }

  write(h: Hierarchy, file: string, value: string): void {
    writeFileSync(join(this.dirs.get(h)!, file), value);
  }

  read(h: Hierarchy, file: string): string {
    return readFileSync(join(this.dirs.get(h)!, file), 'utf8');
  }

  /** Starts `cmd args` inside this cgroup: a shell joins every hierarchy, then execs the command. */
  spawn(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const procsFiles = [...this.dirs.values()].map((d) => join(d, 'cgroup.procs'));
    const script = 'for f in $SONDE_CG_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@"';
    const child = spawn('/bin/sh', ['-c', script, 'sh', cmd, ...args], {
      env: { ...process.env, ...opts.env, SONDE_CG_PROCS: procsFiles.join(' ') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#procs.push(child);
    return child;
  }

  pids(): number[] {
    const any = [...this.dirs.values()][0];
    return readFileSync(join(any, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }

  /** Kills the processes this helper started, waits until the cgroup is empty, removes the directories. */
  async destroy(): Promise<void> {
    for (const p of this.#procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (let i = 0; i < 100 && this.#alive(); i++) await sleep(20);
    for (const d of [...this.dirs.values()].reverse()) removeTree(d);
  }

  #alive(): boolean {
    try {
      return this.pids().length > 0;
    } catch {
      return false;
    }
  }
}

/** rmdir a cgroup directory bottom-up (cgroupfs directories are removed with rmdir, never rm -r). */
export function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch { /* busy: a process we do not own is inside, leave it */ }
}

/**
 * Removes `top` (created by a test) from every mounted hierarchy, including those Sonde does not read
 * (runc creates the path in cpuset, devices, freezer, … too).
 */
export function removeTopLevel(fs: CgroupFs, top: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(fs.root);
  } catch { /* no cgroupfs */ }
  const dirs = fs.mode === 'v2' ? [fs.root] : entries.map((e) => join(fs.root, e));
  for (const d of dirs) removeTree(join(d, top));
}

/** "major:minor" of the whole disk holding `path` (blk-throttle rules take whole disks). */
export function diskOf(path: string): string {
  const dev = statSync(path).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & ~0xff);
  let mm = `${major}:${minor}`;
  const sys = `/sys/dev/block/${mm}`;
  if (existsSync(join(sys, 'partition'))) mm = readFileSync(join(dirname(realpathSync(sys)), 'dev'), 'utf8').trim();
  return mm;
}

/** utime+stime of a process in seconds (/proc/<pid>/stat, USER_HZ = 100). */
export function procCpuSeconds(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, RssAnon, …). */
export function procStatusBytes(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A field of /proc/<pid>/io. */
export function procIo(pid: number, field: string): number {
  const m = new RegExp(`^${field}: (\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Resolves with the first line a child prints on stdout that matches. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} (stdout: ${buf.slice(-300)} stderr: ${err.slice(-300)})`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => re.test(l));
      if (line !== undefined) {
        clearTimeout(t);
        resolve(line);
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`exited (${code ?? sig}) before printing ${re}; stderr: ${err.slice(-500)}`));
    });
  });
}

import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CgroupFs } from '../../internal/cgroup/index.js';

/**
 * Pure parsers for cgroup files (tested on fixtures) and `readCgroupStats`, which reads one cgroup's files
 * from whichever hierarchy carries each controller: v1 controllers on v1/hybrid hosts, the unified
 * hierarchy on v2 hosts, and PSI from the unified hierarchy on hybrid hosts too.
 */

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of text.split('\n')) {
    const sp = l.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(l.slice(sp + 1).trim());
    if (Number.isFinite(v)) out[l.slice(0, sp)] = v;
  }
  return out;
}

/** v2 `cpu.max`: `max 100000` or `<quota> <period>` (µs). Undefined when unlimited. */
export function parseCpuMax(text: string): { quotaUs: number; periodUs: number } | undefined {
  const [q, p] = text.trim().split(/\s+/);
  if (q === undefined || q === 'max') return undefined;
  const quotaUs = Number(q);
  const periodUs = Number(p ?? 100000);
  return quotaUs > 0 && periodUs > 0 ? { quotaUs, periodUs } : undefined;
}

/** PSI (`cpu.pressure` …): the `total=` of the `some` and `full` lines, in microseconds. */
export function parsePressure(text: string): { some?: number; full?: number } {
  const out: { some?: number; full?: number } = {};
  for (const l of text.split('\n')) {
    const m = /^(some|full)\s.*\btotal=(\d+)/.exec(l);
    if (m) out[m[1] as 'some' | 'full'] = Number(m[2]);
  }
  return out;
}

export interface DeviceIo {
  reads: number;
  writes: number;
  readBytes: number;
  writtenBytes: number;
}

/** v1 `blkio.*io_serviced*` + `blkio.*io_service_bytes*` (`8:0 Read 123` lines) → per device. */
export function parseBlkioV1(serviced: string, bytes: string): Map<string, DeviceIo> {
  const out = new Map<string, DeviceIo>();
  const get = (dev: string): DeviceIo => {
    let d = out.get(dev);
    if (!d) out.set(dev, (d = { reads: 0, writes: 0, readBytes: 0, writtenBytes: 0 }));
    return d;
  };
  for (const [text, isBytes] of [[serviced, false], [bytes, true]] as const) {
    for (const l of text.split('\n')) {
      const f = l.trim().split(/\s+/);
      if (f.length !== 3 || !/^\d+:\d+$/.test(f[0])) continue;
      const v = Number(f[2]);
      if (f[1] === 'Read') get(f[0])[isBytes ? 'readBytes' : 'reads'] = v;
      else if (f[1] === 'Write') get(f[0])[isBytes ? 'writtenBytes' : 'writes'] = v;
    }
  }
  return out;
}

/** v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` → per device. */
export function parseIoStatV2(text: string): Map<string, DeviceIo> {
  const out = new Map<string, DeviceIo>();
  for (const l of text.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 2 || !/^\d+:\d+$/.test(f[0])) continue;
    const kv: Record<string, number> = {};
    for (const p of f.slice(1)) {
      const i = p.indexOf('=');
      if (i > 0) kv[p.slice(0, i)] = Number(p.slice(i + 1));
    }
    out.set(f[0], { reads: kv.rios ?? 0, writes: kv.wios ?? 0, readBytes: kv.rbytes ?? 0, writtenBytes: kv.wbytes ?? 0 });
  }
  return out;
}

/** Values at or above this are "no limit" (v1 writes PAGE_COUNTER_MAX * PAGE_SIZE, ~2^63). */
const UNLIMITED = 2 ** 60;

export interface CgroupStats {
  cpuUsageSeconds?: number;
  cpuThrottledSeconds?: number;
  cpuLimitCores?: number;
  memoryRss?: number;
  memoryCache?: number;
  memoryLimit?: number;
  oomKills?: number;
  pressure: Partial<Record<'cpu' | 'memory' | 'io', { some?: number; full?: number }>>;
  /** Per device "major:minor". */
  disks: Map<string, DeviceIo>;
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== '/' && p !== '.' && p !== '') {
    out.push(p);
    p = dirname(p);
  }
  return out;
}

/**
 * One cgroup's resource counters. Missing files (controller not mounted, cgroup gone mid-scrape, older
 * kernel) leave the field undefined: the metric is simply not emitted for it.
 * Definitions follow coroot-node-agent: RSS = anon (v1 total_rss) + mapped file pages; cache = file pages;
 * the memory limit is the effective one (v1 hierarchical_memory_limit; v2 the smallest memory.max on the
 * way up); the CPU limit is quota/period.
 */
export function readCgroupStats(fs: CgroupFs, path: string): CgroupStats {
  const st: CgroupStats = { pressure: {}, disks: new Map() };
  const v1 = (c: 'cpu' | 'cpuacct' | 'memory' | 'blkio'): boolean => fs.v1.has(c);
  const u = fs.unified !== undefined;

  // CPU usage: v1 cpuacct, else the unified cpu.stat (present even without the cpu controller enabled).
  if (v1('cpuacct')) {
    const usage = fs.read('cpuacct', path, 'cpuacct.usage');
    if (usage !== undefined && usage.trim() !== '') st.cpuUsageSeconds = Number(usage) / 1e9;
  }
  const ucs = u ? fs.read('unified', path, 'cpu.stat') : undefined;
  const ukv = ucs !== undefined ? parseFlatKeyed(ucs) : {};
  if (st.cpuUsageSeconds === undefined && ukv.usage_usec !== undefined) st.cpuUsageSeconds = ukv.usage_usec / 1e6;
  // Throttling and the limit: v1 cpu, else unified cpu.stat/cpu.max (cpu controller enabled there).
  if (v1('cpu')) {
    const cs = fs.read('cpu', path, 'cpu.stat');
    if (cs !== undefined) {
      const kv = parseFlatKeyed(cs);
      if (kv.throttled_time !== undefined) st.cpuThrottledSeconds = kv.throttled_time / 1e9;
      else if (kv.throttled_usec !== undefined) st.cpuThrottledSeconds = kv.throttled_usec / 1e6;
    }
    const quota = Number(fs.read('cpu', path, 'cpu.cfs_quota_us') ?? -1);
    const period = Number(fs.read('cpu', path, 'cpu.cfs_period_us') ?? 0);
    if (quota > 0 && period > 0) st.cpuLimitCores = quota / period;
  } else if (u) {
    if (ukv.throttled_usec !== undefined) st.cpuThrottledSeconds = ukv.throttled_usec / 1e6;
    const max = fs.read('unified', path, 'cpu.max');
    const lim = max !== undefined ? parseCpuMax(max) : undefined;
    if (lim) st.cpuLimitCores = lim.quotaUs / lim.periodUs;
  }

  if (v1('memory')) {
    const ms = fs.read('memory', path, 'memory.stat');
    if (ms !== undefined) {
      const kv = parseFlatKeyed(ms);
      st.memoryRss = (kv.total_rss ?? kv.rss ?? 0) + (kv.total_mapped_file ?? kv.mapped_file ?? 0);
      st.memoryCache = kv.total_cache ?? kv.cache;
      const lim = kv.hierarchical_memory_limit;
      if (lim !== undefined && lim < UNLIMITED) st.memoryLimit = lim;
    }
    const oom = fs.read('memory', path, 'memory.oom_control');
    if (oom !== undefined) {
      const kv = parseFlatKeyed(oom);
      if (kv.oom_kill !== undefined) st.oomKills = kv.oom_kill;
    }
  } else if (u) {
    const ms = fs.read('unified', path, 'memory.stat');
    if (ms !== undefined) {
      const kv = parseFlatKeyed(ms);
      st.memoryRss = (kv.anon ?? 0) + (kv.file_mapped ?? 0);
      st.memoryCache = kv.file;
      for (const p of ancestors(path)) {
        const m = fs.read('unified', p, 'memory.max')?.trim();
        if (m !== undefined && m !== 'max' && m !== '') {
          const v = Number(m);
          if (Number.isFinite(v) && (st.memoryLimit === undefined || v < st.memoryLimit)) st.memoryLimit = v;
        }
      }
      const ev = fs.read('unified', path, 'memory.events');
      if (ev !== undefined) {
        const kv = parseFlatKeyed(ev);
        if (kv.oom_kill !== undefined) st.oomKills = kv.oom_kill;
      }
    }
  }

  // Disk I/O. On v1 the kernel fills blkio.throttle.* only once blk-throttle is active on the device
  // (some cgroup has a throttle rule for it): otherwise the files read "Total 0".
  if (v1('blkio')) {
    const serviced = fs.read('blkio', path, 'blkio.throttle.io_serviced_recursive') ?? fs.read('blkio', path, 'blkio.throttle.io_serviced');
    const bytes = fs.read('blkio', path, 'blkio.throttle.io_service_bytes_recursive') ?? fs.read('blkio', path, 'blkio.throttle.io_service_bytes');
    if (serviced !== undefined && bytes !== undefined) st.disks = parseBlkioV1(serviced, bytes);
  } else if (u) {
    const io = fs.read('unified', path, 'io.stat');
    if (io !== undefined) st.disks = parseIoStatV2(io);
  }

  // PSI lives only in the unified hierarchy (hybrid hosts have it too, at the same path).
  if (u) {
    for (const r of ['cpu', 'memory', 'io'] as const) {
      const text = fs.read('unified', path, `${r}.pressure`);
      if (text !== undefined) st.pressure[r] = parsePressure(text);
    }
  }
  return st;
}

/** A block device's whole disk: its "major:minor" (io.stat and blkio key disks) and kernel name. */
export interface BlockDisk {
  readonly majMin: string;
  readonly name: string;
}

/**
 * "major:minor" → kernel device name via /sys/dev/block, cached (devices rarely change); `disk()` also
 * maps a partition to the disk holding it (`sda1` → `sda`, `nvme0n1p2` → `nvme0n1`), which is what the
 * cgroup I/O files count against.
 */
export class DeviceNames {
  readonly #sys: string;
  readonly #cache = new Map<string, string>();
  readonly #disks = new Map<string, BlockDisk>();
  constructor(sysRoot: string) {
    this.#sys = sysRoot;
  }
  name(majMin: string): string {
    let n = this.#cache.get(majMin);
    if (n === undefined) {
      try {
        n = basename(readlinkSync(join(this.#sys, 'dev/block', majMin)));
      } catch {
        n = majMin;
      }
      this.#cache.set(majMin, n);
    }
    return n;
  }
  /**
   * The whole disk of a block device: itself, or for a partition (its sysfs directory has a `partition`
   * file) the parent directory's device. A device unknown to sysfs is its own disk, named by `name()`.
   */
  disk(majMin: string): BlockDisk {
    let d = this.#disks.get(majMin);
    if (!d) {
      d = { majMin, name: this.name(majMin) };
      try {
        const dir = realpathSync(join(this.#sys, 'dev/block', majMin));
        if (existsSync(join(dir, 'partition'))) {
          const parent = dirname(dir);
          d = { majMin: readFileSync(join(parent, 'dev'), 'latin1').trim(), name: basename(parent) };
        }
      } catch { /* not in sysfs (gone, or a fake tree): the device itself */ }
      this.#disks.set(majMin, d);
    }
    return d;
  }
  /** A block device by its kernel name (`/sys/class/block/<name>/dev`), e.g. from a mount source `/dev/sda2`. */
  byName(name: string): string | undefined {
    if (!/^[\w.-]+$/.test(name)) return undefined;
    try {
      return readFileSync(join(this.#sys, 'class/block', name, 'dev'), 'latin1').trim();
    } catch {
      return undefined;
    }
  }
}

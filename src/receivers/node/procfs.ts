import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Parsers for the /proc and /sys files the node receiver reads. Pure functions over text, tested on fixtures. */

export const USER_HZ = 100;
const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** The aggregate `cpu` line of /proc/stat → seconds per mode (guest time is already inside user/nice). */
export function parseProcStatCpu(text: string): Record<string, number> {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const out: Record<string, number> = {};
  if (!line) return out;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  CPU_MODES.forEach((m, i) => {
    if (Number.isFinite(f[i])) out[m] = f[i] / USER_HZ;
  });
  return out;
}

export function parseLogicalCores(text: string): number {
  return text.split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
}

/** /proc/meminfo → bytes. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?/.exec(l);
    if (m) out[m[1]] = Number(m[2]) * (l.includes('kB') ? 1024 : 1);
  }
  return out;
}

export interface DiskStat {
  device: string;
  reads: number;
  readBytes: number;
  readTimeS: number;
  writes: number;
  writtenBytes: number;
  writeTimeS: number;
  ioTimeS: number;
}

/** Whole block devices only: partitions and loop/ram/optical devices are skipped. */
export function isReportedDisk(name: string): boolean {
  if (/^(loop|ram|zram|fd|sr)\d*/.test(name)) return false;
  if (/^(sd|vd|xvd|hd)[a-z]+\d+$/.test(name)) return false; // partition of sdX/vdX
  if (/^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name)) return false;
  return true;
}

/** /proc/diskstats (sectors are 512 bytes, times in ms). */
export function parseDiskstats(text: string): DiskStat[] {
  const out: DiskStat[] = [];
  for (const l of text.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 14) continue;
    const device = f[2];
    if (!isReportedDisk(device)) continue;
    const n = f.map(Number);
    out.push({
      device,
      reads: n[3], readBytes: n[5] * 512, readTimeS: n[6] / 1000,
      writes: n[7], writtenBytes: n[9] * 512, writeTimeS: n[10] / 1000,
      ioTimeS: n[12] / 1000,
    });
  }
  return out;
}

export interface NetDevStat {
  iface: string;
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** /proc/net/dev. */
export function parseNetDev(text: string): NetDevStat[] {
  const out: NetDevStat[] = [];
  for (const l of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(l);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out.push({ iface: m[1].trim(), rxBytes: f[0], rxPackets: f[1], txBytes: f[8], txPackets: f[9] });
  }
  return out;
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Interfaces that are virtual (lo, veth, bridges…) live under /sys/devices/virtual/net, as coroot checks. */
export function virtualInterfaces(sysRoot: string): Set<string> {
  try {
    return new Set(readdirSync(join(sysRoot, 'devices/virtual/net')));
  } catch {
    return new Set();
  }
}

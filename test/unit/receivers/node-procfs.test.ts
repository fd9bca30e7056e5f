import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isReportedDisk, parseDiskstats, parseLogicalCores, parseMeminfo, parseNetDev, parseProcStatCpu } from '../../../src/receivers/node/procfs.js';

const fx = (n: string) => readFileSync(new URL(`../../../../test/fixtures/proc/${n}`, import.meta.url), 'utf8');

test('/proc/stat: CPU seconds per mode (USER_HZ=100) and logical cores', () => {
  const cpu = parseProcStatCpu(fx('stat'));
  assert.equal(cpu.user, 101321.53);
  assert.equal(cpu.idle, 468284.83);
  assert.equal(cpu.steal, 0);
  assert.equal(Object.keys(cpu).length, 8);
  assert.equal(parseLogicalCores(fx('stat')), 2);
});

test('/proc/meminfo in bytes', () => {
  const m = parseMeminfo(fx('meminfo'));
  assert.equal(m.MemTotal, 24607612 * 1024);
  assert.equal(m.MemAvailable, 22310520 * 1024);
  assert.equal(m.Cached, 3822564 * 1024);
  assert.equal(m.HugePages_Total, 0);
});

test('/proc/diskstats: whole disks only, sectors → bytes, ms → s', () => {
  const d = parseDiskstats(fx('diskstats'));
  assert.deepEqual(d.map((x) => x.device), ['vda', 'nvme0n1']);
  assert.deepEqual(d[0], { device: 'vda', reads: 43123, readBytes: 3254170 * 512, readTimeS: 21.036, writes: 114221, writtenBytes: 5125160 * 512, writeTimeS: 168.428, ioTimeS: 101.24 });
  assert.ok(isReportedDisk('dm-0'));
  assert.ok(!isReportedDisk('sda1'));
  assert.ok(!isReportedDisk('mmcblk0p2'));
});

test('/proc/net/dev', () => {
  const n = parseNetDev(fx('net-dev'));
  assert.deepEqual(n[1], { iface: 'eth0', rxBytes: 98765432, rxPackets: 65432, txBytes: 12345678, txPackets: 23456 });
  assert.equal(n.length, 2);
});

// Container disks on the real kernel (root): an ext4 filesystem on a loop device (a file this test
// creates), mounted only inside a new mount namespace of a process the test places in its own cgroup. The
// cgroups receiver must report that cgroup's disk_size_bytes ≈ the filesystem's size and used_bytes growing
// by ≈ what a writer in the cgroup (entering the namespace) wrote, labelled with the mount point and the
// loop device; the disk I/O counters of the loop device get the same mount_point; a cgroup in the host's
// mount namespace does not see the mount. Then the cost per container of a collection.
// Everything is undone afterwards, on failure too: processes killed (their namespaces, and with them the
// mount, go), the loop device detached, cgroups removed, the blk-throttle rule (cgroup v1) dropped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import type { StatsFs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../src/internal/coroot.js';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import type { CgroupsConfig } from '../../src/receivers/cgroups/config.js';
import { cgroupPids } from '../../src/receivers/cgroups/delays.js';
import { DiskCollector } from '../../src/receivers/cgroups/disks.js';
import { cgroupsReceiverFactory } from '../../src/receivers/cgroups/factory.js';
import { DeviceNames } from '../../src/receivers/cgroups/stats.js';
import { createLogger } from '../../src/service/logger.js';
import { isRoot, removeTopLevel, TestCgroup, waitForLine } from '../helpers/cgroups.js';
import { medianMicros } from '../helpers/cost.js';
import { Sink } from '../helpers/sinks.js';
import { testSettings, TestHost } from '../helpers/settings.js';

const has = (cmd: string, arg = '--version'): boolean => spawnSync(cmd, [arg]).status === 0;
const skip = !isRoot() ? 'needs root (creates cgroups, a loop device, mount namespaces)'
  : CgroupFs.detect().mode === 'none' ? 'no cgroup filesystem'
    : !has('mkfs.ext4', '-V') ? 'needs mkfs.ext4 (e2fsprogs)'
      : !has('losetup') || !has('unshare') || !has('nsenter') ? 'needs losetup, unshare and nsenter (util-linux)' : false;
if (skip) console.log(`# SKIP container disks e2e: ${skip}`);

const TOP = `/sonde-e2e-disks-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const tmp = mkdtempSync(join(tmpdir(), 'sonde-disks-e2e-'));
const fs = CgroupFs.detect();
const groups: TestCgroup[] = [];
const IMAGE_MIB = 64;
const WRITE_MIB = 24;
const MiB = 1 << 20;
let loop: string | undefined;
let loopDev = '';
let loopName = '';
const mnt = join(tmp, 'mnt');

function cgroup(name: string): TestCgroup {
  const g = new TestCgroup(fs, `${TOP}/${name}`);
  groups.push(g);
  return g;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

const hostSees = (dir: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

after(async () => {
  for (const g of groups) await g.destroy();
  if (skip === false) removeTopLevel(fs, TOP);
  // The mount lived only in the killed processes' namespace; should it have leaked into ours, unmount it.
  for (let i = 0; i < 5 && hostSees(mnt); i++) spawnSync('umount', ['-l', mnt]);
  if (loop) {
    // Detach; busy (the namespace not torn down yet): the kernel sets autoclear, retried to be sure.
    for (let i = 0; i < 50; i++) {
      spawnSync('losetup', ['-d', loop]);
      if (!spawnSync('losetup', ['-l', '-n', '-O', 'BACK-FILE', loop], { encoding: 'utf8' }).stdout.includes(tmp)) break;
      await sleep(100);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

function config(over: Partial<CgroupsConfig> = {}): CgroupsConfig {
  const d = cgroupsReceiverFactory.createDefaultConfig();
  const none = [join(tmp, 'none.sock')];
  return {
    ...d, collection_interval: 500, metadata: false, systemd_services: false, delay_accounting: 'off', include_paths: [`^${TOP}/`],
    runtimes: { ...d.runtimes, docker: { enabled: false, endpoints: none }, containerd: { ...d.runtimes.containerd, enabled: false }, crio: { enabled: false, endpoints: none } },
    ...over,
  };
}

type Scrape = Map<string, Map<string, MetricData>>;

/** Runs the receiver until `until` holds for the last scrape. */
async function scrapeUntil(until: (m: Scrape) => boolean, what: string): Promise<Scrape> {
  const sink = new Sink();
  const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/disks-e2e', 'receiver'), config(), sink) as Component;
  await r.start(new TestHost());
  try {
    let last: Scrape = new Map();
    await sink.waitFor(() => {
      if (sink.metrics.length === 0) return false;
      last = new Map(sink.metrics.at(-1)!.map((rm) => [String(rm.resource.attributes[CGROUP_PATH_ATTR]), new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]))]));
      return until(last);
    }, 20_000, what);
    return last;
  } finally {
    await r.shutdown();
  }
}

function point(m: Map<string, MetricData> | undefined, name: string, attrs: Record<string, string>): { value: number; attributes: Record<string, unknown> } | undefined {
  const p = m?.get(name)?.dataPoints.find((d) => Object.entries(attrs).every(([k, v]) => d.attributes[k] === v));
  return p ? { value: p.value as number, attributes: p.attributes } : undefined;
}

describe('container disks on the real kernel', { skip, concurrency: false }, () => {
  before(() => {
    const image = join(tmp, 'disk.img');
    run('truncate', ['-s', `${IMAGE_MIB}M`, image]);
    run('mkfs.ext4', ['-q', '-F', '-m', '5', image]); // 5 % reserved for root: reserved_bytes > 0
    loop = run('losetup', ['--find', '--show', image]);
    loopName = loop.replace('/dev/', '');
    loopDev = readFileSync(`/sys/class/block/${loopName}/dev`, 'utf8').trim();
    mkdirSync(mnt);
    console.log(`# ${loop} (${loopDev}) holds a ${IMAGE_MIB} MiB ext4 image; mounted at ${mnt} in a private mount namespace; cgroups under ${TOP} (${fs.mode})`);
  });

  test('size, used and reserved of a filesystem mounted only in the container\'s namespace; used grows by what was written', async (t) => {
    const g = cgroup('ctr');
    const neighbour = cgroup('host-ns');
    neighbour.spawn('sleep', ['600']);
    if (fs.v1.has('blkio')) g.write('blkio', 'blkio.throttle.write_bps_device', `${loopDev} 1099511627776`); // v1 counts only with blk-throttle active on the device
    const holder = g.spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t ext4 ${loop} ${mnt} && echo mounted && exec sleep 600`]);
    await waitForLine(holder, /^mounted$/);
    assert.equal(hostSees(mnt), false, 'the mount is private to the holder\'s namespace');
    const fsOf = (): StatsFs => statfsSync(`/proc/${holder.pid}/root${mnt}`);
    const size = (s: StatsFs) => s.blocks * s.bsize;
    const used = (s: StatsFs) => (s.blocks - s.bfree) * s.bsize;
    const labels = { mount_point: mnt, device: loopName, volume: '' };

    const m0 = await scrapeUntil((x) => point(x.get(g.path), 'container_resources_disk_size_bytes', labels) !== undefined, `disk_size_bytes{mount_point=${mnt}}`);
    const s0 = fsOf();
    const c0 = m0.get(g.path);
    const size0 = point(c0, 'container_resources_disk_size_bytes', labels)!.value;
    const used0 = point(c0, 'container_resources_disk_used_bytes', labels)!.value;
    const reserved0 = point(c0, 'container_resources_disk_reserved_bytes', labels)!.value;
    t.diagnostic(`reported size ${(size0 / MiB).toFixed(1)} MiB (image ${IMAGE_MIB} MiB), used ${(used0 / MiB).toFixed(1)} MiB, reserved ${(reserved0 / MiB).toFixed(1)} MiB`);
    assert.equal(size0, size(s0), 'the filesystem\'s size as statfs gives it');
    assert.ok(size0 > 0.8 * IMAGE_MIB * MiB && size0 <= IMAGE_MIB * MiB, `≈ the image size less ext4's metadata: ${size0}`);
    assert.ok(Math.abs(used0 - used(s0)) <= MiB, `used ${used0} vs statfs ${used(s0)}`);
    assert.equal(reserved0, (s0.bfree - s0.bavail) * s0.bsize);
    assert.ok(reserved0 > 0.03 * size0 && reserved0 < 0.15 * size0, `-m 5 (plus ext4's own reserve, up to 2 %): about 5-7 % reserved, got ${reserved0}`);
    // The neighbour in the host's namespace has its own disks, not this one.
    const n0 = m0.get(neighbour.path);
    assert.ok(n0, 'the neighbour is reported');
    assert.ok(!(n0.get('container_resources_disk_size_bytes')?.dataPoints ?? []).some((p) => p.attributes.mount_point === mnt), 'the neighbour does not see the private mount');

    // A writer in the cgroup, inside the namespace: WRITE_MIB of direct, synced writes.
    const writer = g.spawn('nsenter', ['-t', String(holder.pid), '-m', 'dd', 'if=/dev/zero', `of=${mnt}/data`, 'bs=1M', `count=${WRITE_MIB}`, 'oflag=direct', 'conv=fsync', 'status=none']);
    const code = await new Promise<number | null>((r) => (writer.exitCode !== null ? r(writer.exitCode) : writer.once('exit', (c) => r(c))));
    assert.equal(code, 0, 'dd wrote');
    const m1 = await scrapeUntil((x) => (point(x.get(g.path), 'container_resources_disk_used_bytes', labels)?.value ?? 0) >= used0 + 0.9 * WRITE_MIB * MiB, `used_bytes + ${WRITE_MIB} MiB`);
    const c1 = m1.get(g.path);
    const grown = point(c1, 'container_resources_disk_used_bytes', labels)!.value - used0;
    t.diagnostic(`used grew by ${(grown / MiB).toFixed(2)} MiB for ${WRITE_MIB} MiB written`);
    assert.ok(grown <= (WRITE_MIB + 2) * MiB, `at most what was written plus metadata: ${grown}`);
    assert.equal(point(c1, 'container_resources_disk_size_bytes', labels)!.value, size0);
    // The loop device's I/O counters carry the same mount point.
    const written = point(c1, 'container_resources_disk_written_bytes_total', { device: loopName });
    t.diagnostic(`written_bytes_total{device=${loopName}}: ${written?.value} ${JSON.stringify(written?.attributes)}`);
    assert.ok(written, 'the loop device\'s write counter');
    assert.deepEqual(written.attributes, labels);
    assert.ok(written.value >= WRITE_MIB * MiB, `counted ${written.value}`);
    if (fs.v1.has('blkio')) g.write('blkio', 'blkio.throttle.write_bps_device', `${loopDev} 0`);
  });

  test('cost per container of a collection: own mount namespaces vs one shared namespace', async (t) => {
    const N = 100;
    const own: TestCgroup[] = [];
    const shared: TestCgroup[] = [];
    for (let i = 0; i < N; i++) {
      const a = cgroup(`own/c${i}`);
      a.spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '600']);
      own.push(a);
      const b = cgroup(`shared/c${i}`);
      b.spawn('sleep', ['600']);
      shared.push(b);
    }
    const dirOf = (g: TestCgroup) => fs.dir('unified', g.path) ?? [...g.dirs.values()][0];
    for (let i = 0; i < 200 && [...own, ...shared].some((g) => cgroupPids(dirOf(g)).length === 0); i++) await sleep(20);
    // unshare(1) has exec'd sleep once /proc/<pid>/ns/mnt differs from ours
    const ours = spawnSync('readlink', ['/proc/self/ns/mnt'], { encoding: 'utf8' }).stdout.trim();
    for (let i = 0; i < 200 && own.some((g) => spawnSync('readlink', [`/proc/${cgroupPids(dirOf(g))[0]}/ns/mnt`], { encoding: 'utf8' }).stdout.trim() === ours); i++) await sleep(20);
    const c = new DiskCollector({ rootPath: '/', devices: new DeviceNames('/sys'), logger: createLogger({ write: () => {} }) });
    const cgs = (gs: TestCgroup[]) => gs.map((g) => ({ key: g.path, dir: dirOf(g) }));
    const ownUs = medianMicros(() => c.collect(cgs(own)));
    const ownStats = c.lastStats;
    const sharedUs = medianMicros(() => c.collect(cgs(shared)));
    const sharedStats = c.lastStats;
    const mounts = c.collect(cgs(own)).get(own[0].path)?.length ?? 0;
    t.diagnostic(`${N} containers with their own mount namespace (${mounts} disk mounts each): ${(ownUs / 1000).toFixed(2)} ms per collection = ${(ownUs / N).toFixed(1)} µs per container (${JSON.stringify(ownStats)})`);
    t.diagnostic(`${N} containers sharing the host's namespace: ${(sharedUs / 1000).toFixed(2)} ms = ${(sharedUs / N).toFixed(1)} µs per container (${JSON.stringify(sharedStats)})`);
    assert.equal(ownStats.namespaces, N);
    assert.equal(sharedStats.namespaces, 1, 'one mount table for the shared namespace');
    assert.ok(ownUs / N < 2000, 'well under 2 ms per container');
  });
});

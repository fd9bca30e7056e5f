// PidCgroupResolver on a fake /proc tree (procRoot option): cache hits, revalidation, migration, pid reuse,
// exit grace period, LRU bound. CgroupFs layout detection on fake v1 / v2 / hybrid trees and on this host.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CgroupFs, CgroupIdResolver, PidCgroupResolver, parseStatStartTime, walkCgroups } from '../../../src/internal/cgroup/index.js';

const root = mkdtempSync(join(tmpdir(), 'sonde-cgroup-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ID = '93f8b0fa47d5a3de979f0f7c3a88868788c47f6a00927571cea8bc95096e7568';

function stat(pid: number, start: number, comm = 'my (weird) proc'): string {
  // 52 fields; comm may contain spaces and parentheses: parse from the last ')'.
  const rest = ['S', '1', String(pid), String(pid), '0', '-1', '4194560', '0', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', String(start)];
  return `${pid} (${comm}) ${rest.join(' ')} 1000 200 18446744073709551615\n`;
}

function writeProc(proc: string, pid: number, start: number, cgroup: string): void {
  mkdirSync(join(proc, String(pid)), { recursive: true });
  writeFileSync(join(proc, String(pid), 'stat'), stat(pid, start));
  writeFileSync(join(proc, String(pid), 'cgroup'), cgroup);
}

describe('PidCgroupResolver', () => {
  test('parseStatStartTime survives spaces and parentheses in comm', () => {
    assert.equal(parseStatStartTime(stat(42, 123456)), 123456);
  });

  test('hit, revalidation with migration, pid reuse, exit grace, unknown pid', () => {
    const proc = join(root, 'proc1');
    let now = 1000;
    const r = new PidCgroupResolver({ procRoot: proc, revalidateMs: 100, exitedGraceMs: 500, now: () => now });
    writeProc(proc, 10, 500, `0::/kubepods/besteffort/podx/${ID}\n`);
    const a = r.lookup(10)!;
    assert.equal(a.path, `/kubepods/besteffort/podx/${ID}`);
    assert.equal(a.info.containerId, undefined, 'podx is not a pod uid pattern');
    writeProc(proc, 11, 600, `0::/docker/${ID}\n`);
    const b = r.lookup(11)!;
    assert.equal(b.info.runtime, 'docker');
    assert.equal(b.info.containerId, ID);
    assert.equal(r.stats.misses, 2);

    // Within revalidateMs: served from the cache even if /proc changed.
    writeFileSync(join(proc, '11', 'cgroup'), '0::/system.slice/nginx.service\n');
    assert.equal(r.lookup(11)!.info.runtime, 'docker');
    assert.equal(r.stats.hits, 1);

    // After revalidateMs: same start time → re-read the cgroup (it moved).
    now += 200;
    assert.equal(r.lookup(11)!.info.systemdUnit, 'nginx.service');

    // pid reuse: a new start time replaces the entry.
    now += 200;
    writeProc(proc, 11, 999, `0::/docker/${ID}\n`);
    const c = r.lookup(11)!;
    assert.equal(c.startTime, 999);
    assert.equal(c.info.runtime, 'docker');

    // Exit event: the entry answers during the grace period while the pid is gone...
    r.processExited(11);
    rmSync(join(proc, '11'), { recursive: true });
    now += 100;
    const d = r.lookup(11)!;
    assert.equal(d.exited, true);
    assert.equal(d.info.runtime, 'docker');
    // ...but a new process with the pid is never given the dead one's cgroup.
    writeProc(proc, 11, 1234, '0::/user.slice/user-0.slice/session-1.scope\n');
    assert.equal(r.lookup(11)!.info.kind, 'user');
    // A pid that disappears without an exit event: grace period, then unknown.
    rmSync(join(proc, '10'), { recursive: true });
    now += 1000;
    assert.equal(r.lookup(10)!.exited, true);
    now += 600;
    assert.equal(r.lookup(10), undefined);
    assert.equal(r.lookup(77), undefined);
    assert.ok(r.stats.unknown >= 2);
  });

  test('LRU bound', () => {
    const proc = join(root, 'proc2');
    for (let pid = 1; pid <= 20; pid++) writeProc(proc, pid, pid, `0::/docker/${ID}\n`);
    const r = new PidCgroupResolver({ procRoot: proc, maxEntries: 8 });
    for (let pid = 1; pid <= 20; pid++) r.lookup(pid);
    assert.equal(r.size, 8);
    assert.equal(r.stats.evictions, 12);
    r.lookup(20);
    assert.equal(r.stats.hits, 1);
  });

  test('the real /proc: this process', () => {
    const r = new PidCgroupResolver();
    const me = r.lookup(process.pid)!;
    assert.ok(me.path.startsWith('/'));
    assert.ok(me.startTime > 0);
  });
});

describe('CgroupFs', () => {
  function touch(dir: string, ...files: string[]): void {
    mkdirSync(dir, { recursive: true });
    for (const f of files) writeFileSync(join(dir, f), '');
  }

  test('v2', () => {
    const d = join(root, 'fs-v2');
    touch(d, 'cgroup.controllers', 'cgroup.procs');
    touch(join(d, 'docker', ID), 'cgroup.procs');
    const fs = CgroupFs.detect(d);
    assert.equal(fs.mode, 'v2');
    assert.equal(fs.dir('unified', `/docker/${ID}`), join(d, 'docker', ID));
    assert.equal(fs.dir('memory', '/'), undefined);
    assert.deepEqual([...walkCgroups(d, () => true)], ['/', '/docker', `/docker/${ID}`]);
    const ids = new CgroupIdResolver(fs);
    assert.equal(ids.pathOf(fs.cgroupId(`/docker/${ID}`)!), `/docker/${ID}`);
    assert.equal(ids.pathOf(1n), undefined);
  });

  test('hybrid with cpu,cpuacct co-mounted and name=systemd', () => {
    const d = join(root, 'fs-hybrid');
    touch(join(d, 'cpu,cpuacct'), 'cgroup.procs');
    touch(join(d, 'memory'), 'cgroup.procs');
    touch(join(d, 'systemd'), 'cgroup.procs');
    touch(join(d, 'unified'), 'cgroup.controllers', 'cgroup.procs');
    touch(join(d, 'not-mounted'));
    const fs = CgroupFs.detect(d);
    assert.equal(fs.mode, 'hybrid');
    assert.equal(fs.v1.get('cpu'), join(d, 'cpu,cpuacct'));
    assert.equal(fs.v1.get('cpuacct'), join(d, 'cpu,cpuacct'));
    assert.equal(fs.v1.get('blkio'), undefined);
    assert.deepEqual(fs.discoveryRoots().map((r) => r.controller), ['unified', 'systemd', 'cpu', 'memory']);
  });

  test('v1 only; none', () => {
    const d = join(root, 'fs-v1');
    touch(join(d, 'memory'), 'cgroup.procs');
    assert.equal(CgroupFs.detect(d).mode, 'v1');
    assert.equal(CgroupFs.detect(join(root, 'missing')).mode, 'none');
  });

  test('this host', () => {
    const fs = CgroupFs.detect();
    assert.notEqual(fs.mode, 'none');
  });
});

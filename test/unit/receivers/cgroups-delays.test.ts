// container_resources_{cpu,disk}_delay_seconds_total without a kernel: the monotonic accumulation
// (processes that exit, pids reused by new processes, values that go down), the policy of the
// `delay_accounting` modes against what the kernel accounts (a fake taskstats source and a fake host
// root with /proc/<pid>/stat and the kernel.task_delayacct sysctl), clean degradation, and the metrics
// through the receiver's factory. The real kernel is in test/e2e/cgroups-delays.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../../src/internal/coroot.js';
import type { CgroupsConfig } from '../../../src/receivers/cgroups/config.js';
import type { DelayAccountingMode } from '../../../src/receivers/cgroups/delays.js';
import { cgroupPids, DelayAccumulator, DelayCollector, parseStatStartTime, readStartTime } from '../../../src/receivers/cgroups/delays.js';
import { createCgroupsReceiverFactory } from '../../../src/receivers/cgroups/factory.js';
import type { TaskDelays, TaskstatsResult, TaskstatsSource } from '../../../src/receivers/cgroups/taskstats.js';
import { TaskstatsUnavailableError } from '../../../src/receivers/cgroups/taskstats.js';
import { createLogger } from '../../../src/service/logger.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const tmp = mkdtempSync(join(tmpdir(), 'sonde-delays-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const S = 1e9;

describe('DelayAccumulator: monotonic per-cgroup totals from per-process cumulative values', () => {
  test('growth is added; a process that exits keeps its contribution', () => {
    const a = new DelayAccumulator();
    assert.deepEqual(a.update('c', [{ pid: 1, start: 100, cpuNs: 5, blkioNs: 1 }, { pid: 2, start: 200, cpuNs: 10, blkioNs: 0 }], [], 1000), { cpuNs: 15, blkioNs: 1, sinceMs: 1000 });
    assert.deepEqual(a.update('c', [{ pid: 1, start: 100, cpuNs: 7, blkioNs: 4 }, { pid: 2, start: 200, cpuNs: 30, blkioNs: 0 }], [], 2000), { cpuNs: 37, blkioNs: 4, sinceMs: 1000 });
    // pid 2 exited: the total keeps its 30, pid 1 grows by 1
    assert.deepEqual(a.update('c', [{ pid: 1, start: 100, cpuNs: 8, blkioNs: 4 }]).cpuNs, 38);
    assert.equal(a.size.pids, 1, 'the exited pid is forgotten');
    // a new process joins: all of its delay so far
    assert.equal(a.update('c', [{ pid: 1, start: 100, cpuNs: 8, blkioNs: 4 }, { pid: 3, start: 300, cpuNs: 50, blkioNs: 6 }]).cpuNs, 88);
  });

  test('a pid reused by a new process (another start time) starts from zero, not from the old value', () => {
    const a = new DelayAccumulator();
    a.update('c', [{ pid: 7, start: 100, cpuNs: 1000, blkioNs: 500 }], [], 1);
    // the old process exited and a new one got pid 7 before the next collection: its own 40 are added
    // (a delta against the old 1000 would add nothing)
    assert.deepEqual(a.update('c', [{ pid: 7, start: 900, cpuNs: 40, blkioNs: 2 }], [], 2), { cpuNs: 1040, blkioNs: 502, sinceMs: 1 });
    // and it grows from there
    assert.equal(a.update('c', [{ pid: 7, start: 900, cpuNs: 45, blkioNs: 2 }]).cpuNs, 1045);
  });

  test('a value that goes down adds nothing and becomes the base; the total never decreases', () => {
    const a = new DelayAccumulator();
    a.update('c', [{ pid: 1, start: 1, cpuNs: 100, blkioNs: 100 }]);
    assert.equal(a.update('c', [{ pid: 1, start: 1, cpuNs: 60, blkioNs: 100 }]).cpuNs, 100);
    assert.equal(a.update('c', [{ pid: 1, start: 1, cpuNs: 70, blkioNs: 100 }]).cpuNs, 110);
  });

  test('a process whose query failed keeps its state: no double counting when it answers again', () => {
    const a = new DelayAccumulator();
    a.update('c', [{ pid: 1, start: 1, cpuNs: 100, blkioNs: 0 }]);
    assert.equal(a.update('c', [], [1]).cpuNs, 100);
    assert.equal(a.update('c', [{ pid: 1, start: 1, cpuNs: 120, blkioNs: 0 }]).cpuNs, 120);
  });

  test('cgroups are separate (nested cgroups both count a process); a cgroup not updated in a collection is forgotten', () => {
    const a = new DelayAccumulator();
    a.update('parent', [{ pid: 1, start: 1, cpuNs: 10, blkioNs: 0 }], [], 1);
    a.update('child', [{ pid: 1, start: 1, cpuNs: 10, blkioNs: 0 }], [], 1);
    a.sweep();
    assert.deepEqual(a.size, { cgroups: 2, pids: 2 });
    a.update('child', [{ pid: 1, start: 1, cpuNs: 15, blkioNs: 0 }], [], 2);
    a.sweep();
    assert.deepEqual(a.size, { cgroups: 1, pids: 1 });
    // parent comes back: a new counter (new start time), from the processes' whole values
    assert.deepEqual(a.update('parent', [{ pid: 1, start: 1, cpuNs: 15, blkioNs: 0 }], [], 3), { cpuNs: 15, blkioNs: 0, sinceMs: 3 });
  });

  test('state stays bounded by the live processes under churn', () => {
    const a = new DelayAccumulator();
    let pid = 1;
    for (let round = 0; round < 200; round++) {
      const live = Array.from({ length: 50 }, () => ({ pid: pid++, start: round, cpuNs: 1, blkioNs: 0 }));
      a.update('c', live);
      a.sweep();
    }
    assert.deepEqual(a.size, { cgroups: 1, pids: 50 });
  });
});

test('/proc/<pid>/stat start time (field 22), with a command name holding spaces and parentheses', () => {
  const rest = Array.from({ length: 50 }, (_, i) => String(i + 3)); // field n holds the value n
  assert.equal(parseStatStartTime(`42 (a) b (c) ${rest.join(' ')}`), 22);
  assert.equal(parseStatStartTime(`42 (x) ${rest.slice(0, 19).join(' ')}`), undefined, 'too few fields');
  assert.equal(parseStatStartTime('garbage'), undefined);
  const own = readStartTime('/proc', process.pid);
  assert.ok(own !== undefined && own > 0, `own start time ${own}`);
  assert.equal(readStartTime('/proc', 0x7ffffffe), undefined);
});

// ---- the collector against a fake kernel ----

interface FakeProc { start: number; cpu: number; blkio: number; err?: number }

class FakeTaskstats implements TaskstatsSource {
  readonly procs = new Map<number, FakeProc>();
  selfCpuCount = 5;
  selfErr?: number;
  queries = 0;
  closed = 0;
  query(pids: readonly number[]): Map<number, TaskstatsResult> {
    this.queries++;
    const out = new Map<number, TaskstatsResult>();
    for (const pid of pids) {
      if (pid === process.pid) {
        out.set(pid, this.selfErr ?? { tgid: pid, version: 16, cpuDelayNs: 0, cpuCount: this.selfCpuCount, blkioDelayNs: 0, blkioCount: 0 });
        continue;
      }
      const p = this.procs.get(pid);
      const d: TaskDelays | number = !p ? constants.errno.ESRCH : p.err ?? { tgid: pid, version: 16, cpuDelayNs: p.cpu, cpuCount: 1, blkioDelayNs: p.blkio, blkioCount: 1 };
      out.set(pid, d);
    }
    return out;
  }
  close(): void {
    this.closed++;
  }
}

/** A host root with /proc/<pid>/stat for the fake processes, the sysctl, and one cgroup directory. */
class FakeHost {
  readonly root: string;
  readonly cg: string;
  readonly kernel = new FakeTaskstats();
  constructor(name: string, sysctl: '0' | '1' | undefined) {
    this.root = join(tmp, name);
    this.cg = join(this.root, 'sys/fs/cgroup/unified/app');
    mkdirSync(this.cg, { recursive: true });
    mkdirSync(join(this.root, 'proc/sys/kernel'), { recursive: true });
    if (sysctl !== undefined) writeFileSync(join(this.root, 'proc/sys/kernel/task_delayacct'), `${sysctl}\n`);
    this.setProcs([]);
    this.shareHostPids(true);
  }
  /** Whether <root>/proc/<our pid> is us (the agent in the host PID namespace). */
  shareHostPids(yes: boolean): void {
    mkdirSync(join(this.root, 'proc', String(process.pid)), { recursive: true });
    const own = readFileSync('/proc/self/stat', 'latin1');
    writeFileSync(join(this.root, 'proc', String(process.pid), 'stat'), yes ? own : own.replace(/\) (\S+ (?:\S+ ){18})\d+/, ') $1999999999'));
  }
  sysctl(): string {
    return readFileSync(join(this.root, 'proc/sys/kernel/task_delayacct'), 'utf8');
  }
  /** The processes of the cgroup (and their /proc/<pid>/stat); `cpu`/`blkio` in seconds. */
  setProcs(procs: Array<{ pid: number; start: number; cpu: number; blkio?: number; err?: number; inProc?: boolean }>): void {
    writeFileSync(join(this.cg, 'cgroup.procs'), procs.map((p) => `${p.pid}\n`).join(''));
    this.kernel.procs.clear();
    for (const p of procs) {
      this.kernel.procs.set(p.pid, { start: p.start, cpu: p.cpu * S, blkio: (p.blkio ?? 0) * S, err: p.err });
      const dir = join(this.root, 'proc', String(p.pid));
      if (p.inProc === false) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      mkdirSync(dir, { recursive: true });
      const fields = Array.from({ length: 50 }, (_, i) => (i === 19 ? String(p.start) : '0'));
      writeFileSync(join(dir, 'stat'), `${p.pid} (app) ${fields.join(' ')}\n`);
    }
  }
}

function collector(h: FakeHost, mode: DelayAccountingMode, lines: string[] = [], errors: string[] = []): DelayCollector {
  return new DelayCollector({
    mode,
    rootPath: h.root,
    logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
    open: () => h.kernel,
    onError: (e) => errors.push(e),
  });
}

describe('DelayCollector: what is reported, by mode and by what the kernel accounts', () => {
  test('auto, kernel.task_delayacct=0: CPU delay only, one warning saying how to turn disk delay on; the sysctl is left alone', () => {
    const h = new FakeHost('auto-off', '0');
    h.setProcs([{ pid: 1001, start: 5, cpu: 1.5, blkio: 0 }]);
    const lines: string[] = [];
    const c = collector(h, 'auto', lines);
    c.start();
    const r = c.collect([{ key: 'app', dir: h.cg }]).get('app')!;
    assert.equal(r.cpuSeconds, 1.5);
    assert.equal(r.diskSeconds, undefined, 'no made-up zero');
    c.collect([{ key: 'app', dir: h.cg }]);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /WARN .*task_delayacct is 0.*container_resources_disk_delay_seconds_total is not reported.*sysctl -w kernel\.task_delayacct=1.*delay_accounting: enable/);
    assert.equal(h.sysctl(), '0\n');
  });

  test('auto, kernel.task_delayacct=1: both; turning it off later drops disk delay again (and says so once)', () => {
    const h = new FakeHost('auto-on', '1');
    h.setProcs([{ pid: 1001, start: 5, cpu: 1, blkio: 0.25 }]);
    const lines: string[] = [];
    const c = collector(h, 'auto', lines);
    assert.deepEqual(c.collect([{ key: 'app', dir: h.cg }], 1234).get('app'), { cpuSeconds: 1, diskSeconds: 0.25, sinceMs: 1234 });
    assert.equal(lines.length, 0);
    writeFileSync(join(h.root, 'proc/sys/kernel/task_delayacct'), '0\n');
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.diskSeconds, undefined);
    writeFileSync(join(h.root, 'proc/sys/kernel/task_delayacct'), '1\n');
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.diskSeconds, 0.25);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[1], /INFO .*task_delayacct is 1/);
  });

  test('a kernel that fills in nothing (cpu_count 0 for our own process): neither metric, no per-process queries', () => {
    const h = new FakeHost('gated', undefined); // < 5.14: no sysctl; booted with nodelayacct
    h.kernel.selfCpuCount = 0;
    h.setProcs([{ pid: 1001, start: 5, cpu: 0 }]);
    const lines: string[] = [];
    const c = collector(h, 'auto', lines);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).size, 0);
    assert.equal(h.kernel.queries, 1, 'only the probe');
    assert.match(lines.join('\n'), /reports no delay accounting/);
  });

  test('a kernel without the sysctl (< 5.14) that accounts: both metrics', () => {
    const h = new FakeHost('old-kernel', undefined);
    h.setProcs([{ pid: 1001, start: 5, cpu: 2, blkio: 1 }]);
    assert.deepEqual(Object.keys(collector(h, 'auto').collect([{ key: 'app', dir: h.cg }]).get('app')!).sort(), ['cpuSeconds', 'diskSeconds', 'sinceMs']);
  });

  test('off: nothing is opened or queried, nothing reported', () => {
    const h = new FakeHost('off', '1');
    h.setProcs([{ pid: 1001, start: 5, cpu: 2 }]);
    const c = new DelayCollector({ mode: 'off', rootPath: h.root, logger: createLogger({ write: () => {} }), open: () => assert.fail('opened') });
    c.start();
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).size, 0);
  });

  test('enable: sets kernel.task_delayacct=1 once at start and logs it; a sysctl already on is not touched', () => {
    const h = new FakeHost('enable', '0');
    h.setProcs([{ pid: 1001, start: 5, cpu: 2, blkio: 0.5 }]);
    const lines: string[] = [];
    const c = collector(h, 'enable', lines);
    c.start();
    assert.equal(h.sysctl(), '1');
    assert.match(lines.join('\n'), /INFO .*set kernel\.task_delayacct=1 \(was 0\).*stays after Sonde stops/);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.diskSeconds, 0.5);
    const h2 = new FakeHost('enable-on', '1');
    const lines2: string[] = [];
    collector(h2, 'enable', lines2).start();
    assert.deepEqual(lines2, []);
  });

  test('enable without a writable sysctl: one warning with the remedy, then as auto', (t) => {
    const h = new FakeHost('enable-ro', '0');
    h.setProcs([{ pid: 1001, start: 5, cpu: 2, blkio: 0.5 }]);
    const path = join(h.root, 'proc/sys/kernel/task_delayacct');
    // an immutable file reads 0 and refuses writes even to root (like /proc/sys mounted read-only in a container)
    if (spawnSync('chattr', ['+i', path]).status !== 0) {
      t.skip('needs chattr +i (root, a filesystem with inode flags)');
      return;
    }
    try {
      const lines: string[] = [];
      const c = collector(h, 'enable', lines);
      c.start();
      assert.equal(h.sysctl(), '0\n');
      assert.equal(lines.length, 1);
      assert.match(lines[0], /WARN .*cannot set kernel\.task_delayacct=1 \(EPERM.*sysctl -w kernel\.task_delayacct=1/);
      const r = c.collect([{ key: 'app', dir: h.cg }]).get('app')!;
      assert.equal(r.cpuSeconds, 2);
      assert.equal(r.diskSeconds, undefined);
    } finally {
      spawnSync('chattr', ['-i', path]);
    }
  });

  test('taskstats unusable: EPERM (no CAP_NET_ADMIN) or no family — one warning, then no more queries; the source is closed', () => {
    const h = new FakeHost('eperm', '1');
    h.setProcs([{ pid: 1001, start: 5, cpu: 2 }]);
    h.kernel.selfErr = constants.errno.EPERM;
    const lines: string[] = [];
    const c = collector(h, 'auto', lines);
    for (let i = 0; i < 3; i++) assert.equal(c.collect([{ key: 'app', dir: h.cg }]).size, 0);
    assert.equal(h.kernel.queries, 1);
    assert.equal(h.kernel.closed, 1);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /WARN .*taskstats needs CAP_NET_ADMIN.*the rest of the receiver works/);

    const lines2: string[] = [];
    let opens = 0;
    const d = new DelayCollector({ mode: 'auto', rootPath: h.root, logger: createLogger({ write: (l) => lines2.push(l) }), open: () => { opens++; throw new TaskstatsUnavailableError('no family', constants.errno.ENOENT); } });
    for (let i = 0; i < 3; i++) assert.equal(d.collect([{ key: 'app', dir: h.cg }]).size, 0);
    assert.equal(opens, 1);
    assert.equal(lines2.length, 1);
    assert.match(lines2[0], /CONFIG_TASKSTATS.*host network namespace/);
  });

  test('processes that exit between the listing and the query are silent; other errors are counted and logged once, and the process is retried', () => {
    const h = new FakeHost('errors', '1');
    const lines: string[] = [];
    const errors: string[] = [];
    const c = collector(h, 'auto', lines, errors);
    h.setProcs([{ pid: 1001, start: 5, cpu: 1 }, { pid: 1002, start: 6, cpu: 2 }, { pid: 1003, start: 7, cpu: 4 }]);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.cpuSeconds, 7);
    // 1002 exits after the listing (taskstats: ESRCH), 1003 fails with EINVAL twice, 1004 is gone from /proc already
    h.setProcs([{ pid: 1001, start: 5, cpu: 1.5 }, { pid: 1003, start: 7, cpu: 5, err: constants.errno.EINVAL }, { pid: 1004, start: 8, cpu: 9, inProc: false }]);
    writeFileSync(join(h.cg, 'cgroup.procs'), '1001\n1002\n1003\n1004\n');
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.cpuSeconds, 7.5);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.cpuSeconds, 7.5);
    assert.deepEqual(errors, ['EINVAL', 'EINVAL']);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /failed for some processes.*errno=EINVAL/);
    // 1003 answers again: only its growth since its last good answer (4 → 6)
    h.setProcs([{ pid: 1001, start: 5, cpu: 1.5 }, { pid: 1003, start: 7, cpu: 6 }]);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.cpuSeconds, 9.5);
  });

  test('host processes not visible (no hostPID, or root_path without the host\'s /proc): nothing reported, rather than zeros', () => {
    const h = new FakeHost('no-hostpid', '1');
    h.setProcs([{ pid: 1001, start: 5, cpu: 2 }]);
    h.shareHostPids(false);
    const lines: string[] = [];
    const c = collector(h, 'auto', lines);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).size, 0);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).size, 0);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /is not this process.*hostPID/);
    h.shareHostPids(true);
    assert.equal(c.collect([{ key: 'app', dir: h.cg }]).get('app')!.cpuSeconds, 2);
  });

  test('cgroup.procs of descendants count too (cgroup v2 keeps processes in leaves)', () => {
    const h = new FakeHost('nested', '1');
    mkdirSync(join(h.cg, 'sub/leaf'), { recursive: true });
    writeFileSync(join(h.cg, 'sub/leaf/cgroup.procs'), '2001\n');
    writeFileSync(join(h.cg, 'cgroup.procs'), '2002\n');
    assert.deepEqual(cgroupPids(h.cg).sort(), [2001, 2002]);
    assert.deepEqual(cgroupPids(join(h.cg, 'no-such')), []);
  });
});

// ---- through the receiver's factory ----

function hybridRoot(name: string, sysctl: '0' | '1'): FakeHost {
  const h = new FakeHost(name, sysctl);
  const cg = join(h.root, 'sys/fs/cgroup');
  for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'systemd']) mkdirSync(join(cg, c), { recursive: true });
  for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'systemd']) writeFileSync(join(cg, c, 'cgroup.procs'), '');
  writeFileSync(join(cg, 'unified', 'cgroup.procs'), '');
  writeFileSync(join(cg, 'unified', 'cgroup.controllers'), '');
  return h;
}

const ID = 'dd'.repeat(32);

async function scrape(h: FakeHost, path: string, mode: DelayAccountingMode): Promise<Map<string, MetricData>> {
  const d = createCgroupsReceiverFactory().createDefaultConfig();
  const cfg: CgroupsConfig = { ...d, root_path: h.root, collection_interval: 3_600_000, metadata: false, delay_accounting: mode };
  const sink = new Sink();
  const r = createCgroupsReceiverFactory({ taskstats: () => h.kernel }).createMetrics!(testSettings('cgroups/delays', 'receiver'), cfg, sink) as Component;
  await r.start(new TestHost());
  try {
    await sink.waitFor(() => sink.metrics.length > 0, 5000, 'a scrape');
  } finally {
    await r.shutdown();
    await r.shutdown();
  }
  const rm = sink.metrics[0].find((x) => x.resource.attributes[CGROUP_PATH_ATTR] === path);
  assert.ok(rm, `${path} reported`);
  return new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]));
}

describe('cgroups receiver: the delay metrics', () => {
  const path = `/docker/${ID}`;
  const setup = (name: string, sysctl: '0' | '1'): FakeHost => {
    const h = hybridRoot(name, sysctl);
    // the container in the unified hierarchy (found there first: its cgroup.procs is the one read)
    mkdirSync(join(h.root, 'sys/fs/cgroup/unified', path), { recursive: true });
    h.setProcs([]);
    (h as { cg: string }).cg = join(h.root, 'sys/fs/cgroup/unified', path);
    writeFileSync(join(h.cg, 'cgroup.procs'), '3001\n3002\n');
    h.setProcs([{ pid: 3001, start: 10, cpu: 0.75, blkio: 0.5 }, { pid: 3002, start: 11, cpu: 0.25, blkio: 0.125 }]);
    return h;
  };

  test('sums per container, as counters with coroot\'s names and no labels', async () => {
    const m = await scrape(setup('recv-on', '1'), path, 'auto');
    const cpu = m.get('container_resources_cpu_delay_seconds_total')!;
    const disk = m.get('container_resources_disk_delay_seconds_total')!;
    assert.equal(cpu.dataPoints[0].value, 1);
    assert.equal(disk.dataPoints[0].value, 0.625);
    for (const x of [cpu, disk]) {
      assert.equal(x.dataPoints.length, 1);
      assert.deepEqual(x.dataPoints[0].attributes, {});
      assert.equal((x as { isMonotonic?: boolean }).isMonotonic, true);
    }
    assert.ok(m.has('container_info'), 'the rest of the receiver is there');
  });

  test('kernel.task_delayacct=0 with auto: only the CPU delay; off: neither', async () => {
    const m = await scrape(setup('recv-off', '0'), path, 'auto');
    assert.equal(m.get('container_resources_cpu_delay_seconds_total')?.dataPoints[0].value, 1);
    assert.equal(m.has('container_resources_disk_delay_seconds_total'), false);
    const o = await scrape(setup('recv-mode-off', '1'), path, 'off');
    assert.equal(o.has('container_resources_cpu_delay_seconds_total'), false);
    assert.equal(o.has('container_resources_disk_delay_seconds_total'), false);
    assert.ok(o.has('container_info'));
  });

  test('no CAP_NET_ADMIN: the container is still reported, without the delay metrics', async () => {
    const h = setup('recv-eperm', '1');
    h.kernel.selfErr = constants.errno.EPERM;
    const m = await scrape(h, path, 'auto');
    assert.equal(m.has('container_resources_cpu_delay_seconds_total'), false);
    assert.ok(m.has('container_info'));
  });
});

// container_resources_{cpu,disk}_delay_seconds_total on the real kernel (root): cgroups this test
// creates, CPU contention (two busy loops pinned to one CPU for 1 s), synchronous block I/O (O_DIRECT
// reads from a loop device on a file this test creates), with kernel.task_delayacct off and on (the test
// sets it and puts the original value back), the `off` and `enable` modes, and the cost per process.
// Plausibility, not timing: two loops sharing a CPU for 1 s wait ~1 s together (each ~0.5 s), and a
// process never waits longer than it lives.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../src/internal/coroot.js';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { loadNative } from '../../src/native/load.js';
import type { CgroupsConfig } from '../../src/receivers/cgroups/config.js';
import { cgroupPids, DelayCollector, readStartTime } from '../../src/receivers/cgroups/delays.js';
import { cgroupsReceiverFactory } from '../../src/receivers/cgroups/factory.js';
import { TaskstatsClient } from '../../src/receivers/cgroups/taskstats.js';
import { createLogger } from '../../src/service/logger.js';
import { isRoot, removeTopLevel, TestCgroup } from '../helpers/cgroups.js';
import { medianMicros } from '../helpers/cost.js';
import { Sink } from '../helpers/sinks.js';
import { testSettings, TestHost } from '../helpers/settings.js';

const SYSCTL = '/proc/sys/kernel/task_delayacct';
const skip = !isRoot() ? 'needs root (creates cgroups; taskstats needs CAP_NET_ADMIN; sets kernel.task_delayacct)'
  : CgroupFs.detect().mode === 'none' ? 'no cgroup filesystem'
    : !existsSync(SYSCTL) ? 'no kernel.task_delayacct (kernel < 5.14 or without CONFIG_TASK_DELAY_ACCT)'
      : spawnSync('taskset', ['--version']).status !== 0 ? 'needs taskset (util-linux)' : false;
if (skip) console.log(`# SKIP delay metrics e2e: ${skip}`);

const TOP = `/sonde-e2e-delay-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const tmp = mkdtempSync(join(tmpdir(), 'sonde-delays-e2e-'));
const fs = CgroupFs.detect();
const groups: TestCgroup[] = [];
const saved = skip === false ? readFileSync(SYSCTL, 'utf8').trim() : undefined;
let loop: string | undefined;
const CPU = String(cpus().length - 1);
const CPU_DELAY = 'container_resources_cpu_delay_seconds_total';
const DISK_DELAY = 'container_resources_disk_delay_seconds_total';

function cgroup(name: string): TestCgroup {
  const g = new TestCgroup(fs, `${TOP}/${name}`);
  groups.push(g);
  return g;
}

function setDelayacct(v: '0' | '1'): void {
  writeFileSync(SYSCTL, v);
  assert.equal(readFileSync(SYSCTL, 'utf8').trim(), v);
}

after(async () => {
  for (const g of groups) await g.destroy();
  if (skip === false) removeTopLevel(fs, TOP);
  if (loop) spawnSync('losetup', ['-d', loop]);
  if (saved !== undefined) writeFileSync(SYSCTL, saved);
  rmSync(tmp, { recursive: true, force: true });
});

function config(over: Partial<CgroupsConfig> = {}): CgroupsConfig {
  const d = cgroupsReceiverFactory.createDefaultConfig();
  const none = [join(tmp, 'none.sock')];
  return {
    ...d, collection_interval: 500, metadata: false, systemd_services: false, include_paths: [`^${TOP}/`],
    runtimes: { ...d.runtimes, docker: { enabled: false, endpoints: none }, containerd: { ...d.runtimes.containerd, enabled: false }, crio: { enabled: false, endpoints: none } },
    ...over,
  };
}

/** A running receiver and its scrapes. */
class Run {
  readonly sink = new Sink();
  readonly #r: Component;
  readonly lines: string[] = [];
  constructor(cfg: CgroupsConfig) {
    const set = { ...testSettings('cgroups/delays-e2e', 'receiver'), logger: createLogger({ level: 'debug', write: (l) => this.lines.push(l) }) };
    this.#r = cgroupsReceiverFactory.createMetrics!(set, cfg, this.sink) as Component;
  }
  async start(): Promise<void> {
    await this.#r.start(new TestHost());
  }
  async stop(): Promise<void> {
    await this.#r.shutdown();
  }
  /** The metrics of `path` in a scrape that started after this call. */
  async next(path: string): Promise<Map<string, MetricData>> {
    const n = this.sink.metrics.length;
    await this.sink.waitFor(() => this.sink.metrics.length >= n + 2, 10_000, 'two more scrapes');
    const rm = this.sink.metrics.at(-1)!.find((x) => x.resource.attributes[CGROUP_PATH_ATTR] === path);
    assert.ok(rm, `${path} reported`);
    return new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]));
  }
}

const value = (m: Map<string, MetricData>, name: string): number | undefined => m.get(name)?.dataPoints[0]?.value as number | undefined;
const exited = (p: ChildProcess): Promise<void> => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

/** Two busy loops pinned to one CPU for 1 s (timeout(1) and the loops live in the cgroup, then exit). */
async function contend(g: TestCgroup): Promise<number> {
  const t0 = performance.now();
  const loops = [0, 1].map(() => g.spawn('taskset', ['-c', CPU, 'timeout', '1', 'sh', '-c', 'while :; do :; done']));
  await Promise.all(loops.map(exited));
  return (performance.now() - t0) / 1000;
}

describe('delay metrics from taskstats on the real kernel', { skip, concurrency: false }, () => {
  before(() => console.log(`# kernel.task_delayacct was ${saved}; loops pinned to CPU ${CPU}; cgroups under ${TOP} (${fs.mode})`));

  test('kernel.task_delayacct=0, auto: CPU delay is reported and rises under contention (the scheduler keeps it); disk delay is absent', async (t) => {
    setDelayacct('0');
    const g = cgroup('cpu-off');
    g.spawn('sleep', ['60']);
    const run = new Run(config());
    await run.start();
    try {
      const m0 = await run.next(g.path);
      const v0 = value(m0, CPU_DELAY);
      assert.ok(v0 !== undefined, 'the CPU delay series exists with delay accounting off');
      assert.equal(m0.has(DISK_DELAY), false, 'no disk delay series: the kernel does not account it');
      const wall = await contend(g);
      const m1 = await run.next(g.path);
      const rise = value(m1, CPU_DELAY)! - v0;
      t.diagnostic(`CPU delay rose by ${rise.toFixed(3)} s for two loops sharing CPU ${CPU} for ${wall.toFixed(2)} s (they have exited)`);
      assert.ok(rise > 0.1, `rise ${rise}`);
      assert.ok(rise < 2 * wall + 0.5, `two processes cannot wait longer than they live: ${rise} s in ${wall} s`);
      assert.equal(m1.has(DISK_DELAY), false);
      assert.equal(run.lines.filter((l) => /task_delayacct is 0/.test(l)).length, 1, run.lines.join('\n'));
      assert.match(run.lines.join('\n'), /sysctl -w kernel\.task_delayacct=1/);
    } finally {
      await run.stop();
    }
  });

  test('kernel.task_delayacct=1: CPU delay rises under contention, disk delay rises with O_DIRECT reads from a loop device', async (t) => {
    setDelayacct('1'); // before the processes start: the kernel accounts block I/O only for tasks forked while it is on
    const g = cgroup('on');
    g.spawn('sleep', ['60']);
    const img = join(tmp, 'loop.img');
    writeFileSync(img, '');
    spawnSync('truncate', ['-s', '64M', img]);
    const lo = spawnSync('losetup', ['--find', '--show', img], { encoding: 'utf8' });
    loop = lo.status === 0 ? lo.stdout.trim() : undefined;
    const run = new Run(config());
    await run.start();
    try {
      const m0 = await run.next(g.path);
      const cpu0 = value(m0, CPU_DELAY)!;
      const disk0 = value(m0, DISK_DELAY);
      assert.ok(disk0 !== undefined, 'the disk delay series exists with delay accounting on');

      const wall = await contend(g);
      const m1 = await run.next(g.path);
      const cpuRise = value(m1, CPU_DELAY)! - cpu0;
      t.diagnostic(`CPU delay rose by ${cpuRise.toFixed(3)} s (loops for ${wall.toFixed(2)} s)`);
      assert.ok(cpuRise > 0.1 && cpuRise < 2 * wall + 0.5, `CPU delay rise ${cpuRise}`);

      if (!loop) {
        t.diagnostic(`no loop device (${lo.stderr.trim()}): disk delay only checked to exist`);
        return;
      }
      const disk1 = value(m1, DISK_DELAY)!;
      // 131072 O_DIRECT reads of 512 B: seconds of reading, sampled while it runs. (taskstats is polled:
      // what a process waits after its last sample before it exits is not seen, so a reader that came and
      // went between two collections would not count; see the README.)
      const t0 = performance.now();
      const dd = g.spawn('dd', [`if=${loop}`, 'of=/dev/null', 'iflag=direct', 'bs=512', 'count=131072']);
      let diskRise = 0;
      let alive = false;
      try {
        for (let i = 0; i < 20 && dd.exitCode === null; i++) {
          const m = await run.next(g.path);
          diskRise = value(m, DISK_DELAY)! - disk1;
          alive = dd.exitCode === null;
          if (diskRise > 0.05 && alive) break;
        }
      } finally {
        if (dd.exitCode === null) dd.kill('SIGKILL');
        await exited(dd);
      }
      const elapsed = (performance.now() - t0) / 1000;
      t.diagnostic(`disk delay rose by ${diskRise.toFixed(3)} s while dd read ${loop} with O_DIRECT for ${elapsed.toFixed(2)} s (still running at that scrape: ${alive})`);
      assert.ok(diskRise > 0.005, `disk delay rise ${diskRise}`);
      assert.ok(diskRise <= elapsed + 0.05, `a single-threaded reader cannot wait longer than it lives: ${diskRise} s in ${elapsed} s`);
    } finally {
      await run.stop();
      if (loop) spawnSync('losetup', ['-d', loop]);
      loop = undefined;
    }
  });

  test('delay_accounting: off reports neither series; enable turns kernel.task_delayacct on and reports both', async () => {
    const g = cgroup('modes');
    g.spawn('sleep', ['60']);
    setDelayacct('1');
    const off = new Run(config({ delay_accounting: 'off' }));
    await off.start();
    try {
      const m = await off.next(g.path);
      assert.equal(m.has(CPU_DELAY), false);
      assert.equal(m.has(DISK_DELAY), false);
      assert.ok(m.has('container_resources_cpu_usage_seconds_total'), 'the rest is reported');
    } finally {
      await off.stop();
    }
    setDelayacct('0');
    const en = new Run(config({ delay_accounting: 'enable' }));
    await en.start();
    try {
      const m = await en.next(g.path);
      assert.equal(readFileSync(SYSCTL, 'utf8').trim(), '1', 'enable set the sysctl');
      assert.ok(m.has(CPU_DELAY) && m.has(DISK_DELAY));
      assert.match(en.lines.join('\n'), /set kernel\.task_delayacct=1 \(was 0\)/);
    } finally {
      await en.stop();
      setDelayacct(saved === '1' ? '1' : '0');
    }
  });

  test('cost per process of a collection (200 processes in one cgroup)', async (t) => {
    const g = cgroup('many');
    for (let i = 0; i < 200; i++) g.spawn('sleep', ['120']);
    for (let i = 0; i < 100 && cgroupPids(g.dirs.values().next().value!).length < 200; i++) await sleep(20);
    const dir = fs.dir('unified', g.path) ?? [...g.dirs.values()][0];
    const c = new DelayCollector({ mode: 'auto', rootPath: '/', logger: createLogger({ write: () => {} }), open: () => TaskstatsClient.open(loadNative()) });
    const cg = [{ key: 'many', dir }];
    c.collect(cg); // warm: socket, family, JIT
    const time = (f: () => void): number => medianMicros(f, 20);
    const pids = cgroupPids(dir);
    const whole = time(() => c.collect(cg));
    const listing = time(() => cgroupPids(dir));
    const starts = time(() => pids.forEach((p) => readStartTime('/proc', p)));
    const client = TaskstatsClient.open(loadNative());
    const batched = time(() => client.query(pids));
    const single = time(() => pids.forEach((p) => client.query([p])));
    client.close();
    c.close();
    const per = (us: number): string => `${(us / pids.length).toFixed(2)} µs`;
    t.diagnostic(`${pids.length} processes: a collection ${(whole / 1000).toFixed(2)} ms = ${per(whole)}/process (cgroup.procs ${per(listing)}, /proc/<pid>/stat start time ${per(starts)}, taskstats in batches ${per(batched)}; one round trip per process would be ${per(single)})`);
    assert.equal(pids.length, 200);
    assert.ok(whole / pids.length < 1000, 'well under a millisecond per process');
  });
});

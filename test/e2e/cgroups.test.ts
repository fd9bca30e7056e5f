// The cgroups receiver against real cgroups this test creates (needs root): a CPU burn under a 0.5-core
// quota, a memory fill to an OOM kill under a memory limit, disk writes, a recreated cgroup (restart), and
// the scrape cost for many cgroups. Values are checked against /proc and the cgroup files themselves.
// Everything lives under /sonde-e2e-<pid>-<rand> in each hierarchy and is removed afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../src/internal/coroot.js';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { cgroupsReceiverFactory } from '../../src/receivers/cgroups/factory.js';
import type { CgroupsConfig } from '../../src/receivers/cgroups/config.js';
import { parseBlkioV1, parseFlatKeyed } from '../../src/receivers/cgroups/stats.js';
import { SelfTelemetry } from '../../src/service/telemetry.js';
import { diskOf, isRoot, procCpuSeconds, procIo, procStatusBytes, removeTopLevel, TestCgroup, waitForLine } from '../helpers/cgroups.js';
import { Sink } from '../helpers/sinks.js';
import { testSettings, TestHost } from '../helpers/settings.js';

const skip = !isRoot() ? 'needs root (creates cgroups)' : CgroupFs.detect().mode === 'none' ? 'no cgroup filesystem' : false;
const TOP = `/sonde-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const tmp = mkdtempSync(join(tmpdir(), 'sonde-cgroups-e2e-'));
const fs = CgroupFs.detect();
const groups: TestCgroup[] = [];
let throttleRule: { cg: TestCgroup; dev: string } | undefined;

function cgroup(name: string): TestCgroup {
  const g = new TestCgroup(fs, `${TOP}/${name}`);
  groups.push(g);
  return g;
}

after(async () => {
  for (const g of groups) await g.destroy();
  if (skip === false) removeTopLevel(fs, TOP);
  rmSync(tmp, { recursive: true, force: true });
});

function config(over: Partial<CgroupsConfig> = {}): CgroupsConfig {
  const d = cgroupsReceiverFactory.createDefaultConfig();
  const none = [join(tmp, 'none.sock')];
  return {
    ...d, collection_interval: 1000, metadata: false, systemd_services: false, oom_kills: true,
    include_paths: [`^${TOP}/`],
    runtimes: { ...d.runtimes, docker: { enabled: false, endpoints: none }, containerd: { ...d.runtimes.containerd, enabled: false }, crio: { enabled: false, endpoints: none } },
    ...over,
  };
}

/** Runs the receiver until `until` holds for the metrics of the last scrape. */
async function scrapeUntil(cfg: CgroupsConfig, until: (m: Map<string, Map<string, MetricData>>) => boolean, what: string, telemetry = new SelfTelemetry()): Promise<Map<string, Map<string, MetricData>>> {
  const sink = new Sink();
  const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/e2e', 'receiver', telemetry), cfg, sink) as Component;
  await r.start(new TestHost());
  try {
    let last = new Map<string, Map<string, MetricData>>();
    await sink.waitFor(() => {
      if (sink.metrics.length === 0) return false;
      last = byPath(sink.metrics[sink.metrics.length - 1]);
      return until(last);
    }, 20_000, what);
    return last;
  } finally {
    await r.shutdown();
  }
}

function byPath(md: ResourceMetrics[]): Map<string, Map<string, MetricData>> {
  const out = new Map<string, Map<string, MetricData>>();
  for (const rm of md) out.set(String(rm.resource.attributes[CGROUP_PATH_ATTR]), new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m])));
  return out;
}

function value(m: Map<string, MetricData> | undefined, name: string, attrs: Record<string, string> = {}): number | undefined {
  const p = m?.get(name)?.dataPoints.find((d) => Object.entries(attrs).every(([k, v]) => d.attributes[k] === v));
  return p?.value as number | undefined;
}

const NODE = process.execPath;

describe('cgroups receiver on real cgroups', { skip, concurrency: false }, () => {
  before(() => {
    // Log where things are, for the record.
    console.log(`# cgroup mode ${fs.mode}; test cgroups under ${TOP}`);
  });

  test('CPU burn under a 0.5-core quota: usage matches /proc and cpuacct, throttling is reported', async () => {
    const g = cgroup('burn');
    const v1cpu = fs.v1.has('cpu');
    if (v1cpu) {
      g.write('cpu', 'cpu.cfs_period_us', '100000');
      g.write('cpu', 'cpu.cfs_quota_us', '50000');
    }
    const burner = g.spawn(NODE, ['-e', 'const e=Date.now()+2000; while(Date.now()<e){} console.log("done"); setInterval(()=>{}, 1000)']);
    await waitForLine(burner, /^done$/);
    const procCpu = procCpuSeconds(burner.pid!);
    const m = await scrapeUntil(config(), (x) => x.has(g.path), 'the burn cgroup');
    const c = m.get(g.path)!;
    const usage = value(c, 'container_resources_cpu_usage_seconds_total')!;
    // The cgroup also holds the short-lived shell that exec'd node (same pid): /proc covers it all.
    assert.ok(Math.abs(usage - procCpu) < 0.05 + 0.1 * procCpu, `cgroup usage ${usage}s vs /proc utime+stime ${procCpu}s`);
    if (fs.v1.has('cpuacct')) assert.ok(Math.abs(usage - Number(g.read('cpuacct', 'cpuacct.usage')) / 1e9) < 0.02);
    if (v1cpu) {
      assert.equal(value(c, 'container_resources_cpu_limit_cores'), 0.5);
      // The quota caps 2 s of burning at ≈1 s of CPU (less when other programs keep the cores busy).
      assert.ok(usage > 0.2 && usage < 1.15, `2 s of burning at 0.5 core ≤ 1 s of CPU, got ${usage}`);
      const throttled = value(c, 'container_resources_cpu_throttled_seconds_total')!;
      const stat = parseFlatKeyed(g.read('cpu', 'cpu.stat'));
      const fileThrottled = stat.throttled_time / 1e9;
      assert.ok(throttled > 0 && stat.nr_throttled > 0, `throttled ${throttled}s in ${stat.nr_throttled} periods`);
      assert.ok(Math.abs(throttled - fileThrottled) < 0.01);
    }
    if (fs.unified) assert.notEqual(value(c, 'container_resources_cpu_pressure_waiting_seconds_total', { kind: 'some' }), undefined);
    assert.equal(value(c, 'container_info'), 1);
  });

  test('memory: RSS against /proc, the limit, and an OOM kill counted', async () => {
    const g = cgroup('mem');
    const LIMIT = 256 << 20;
    if (fs.v1.has('memory')) {
      g.write('memory', 'memory.limit_in_bytes', String(LIMIT));
      try { g.write('memory', 'memory.memsw.limit_in_bytes', String(LIMIT)); } catch { /* no swap accounting */ }
    } else {
      g.write('unified', 'memory.max', String(LIMIT));
      try { g.write('unified', 'memory.swap.max', '0'); } catch { /* no swap controller */ }
    }
    const holder = g.spawn(NODE, ['-e', 'const b=[]; for(let i=0;i<64;i++) b.push(Buffer.alloc(1<<20, 1)); console.log("held"); setInterval(()=>b.length, 1000)']);
    await waitForLine(holder, /^held$/);
    const anon = procStatusBytes(holder.pid!, 'RssAnon');
    const vmrss = procStatusBytes(holder.pid!, 'VmRSS');
    const m1 = await scrapeUntil(config(), (x) => x.has(g.path), 'the mem cgroup');
    const rss = value(m1.get(g.path), 'container_resources_memory_rss_bytes')!;
    assert.ok(rss >= 0.9 * anon && rss <= vmrss * 1.1 + (4 << 20), `cgroup RSS ${rss} vs /proc RssAnon ${anon}, VmRSS ${vmrss}`);
    assert.ok(rss > 64 << 20, 'the 64 MiB held are in RSS');
    assert.equal(value(m1.get(g.path), 'container_resources_memory_limit_bytes'), LIMIT);
    assert.equal(value(m1.get(g.path), 'container_oom_kills_total'), 0);

    // A filler grows past the limit: the kernel's OOM killer picks it (the largest task in the cgroup).
    const filler = g.spawn(NODE, ['-e', 'const b=[]; setInterval(()=>{ for(let i=0;i<16;i++) b.push(Buffer.alloc(1<<20, 2)); }, 10)']);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => filler.once('exit', (code, signal) => resolve({ code, signal })));
    assert.equal(exit.signal, 'SIGKILL', `the filler was OOM-killed (exit ${JSON.stringify(exit)})`);
    const fileOom = fs.v1.has('memory') ? parseFlatKeyed(g.read('memory', 'memory.oom_control')).oom_kill : parseFlatKeyed(g.read('unified', 'memory.events')).oom_kill;
    assert.equal(fileOom, 1);
    const m2 = await scrapeUntil(config(), (x) => value(x.get(g.path), 'container_oom_kills_total') === 1, 'oom_kills_total = 1');
    assert.equal(value(m2.get(g.path), 'container_oom_kills_total'), 1);
    assert.equal(holder.exitCode, null, 'the holder survived');
    // Without the option the series is not emitted (the ebpf receiver owns it by default).
    const m3 = await scrapeUntil(config({ oom_kills: false }), (x) => x.has(g.path), 'the mem cgroup');
    assert.equal(value(m3.get(g.path), 'container_oom_kills_total'), undefined);
  });

  test('disk writes: bytes written match /proc/<pid>/io and the blkio files', async (t) => {
    const g = cgroup('disk');
    const dev = diskOf(tmp);
    if (fs.v1.has('blkio')) {
      // cgroup v1 counts blkio.throttle.* only once blk-throttle is active on the device: a rule with an
      // unreachable limit (1 TiB/s) activates it without slowing anything.
      g.write('blkio', 'blkio.throttle.write_bps_device', `${dev} 1099511627776`);
      throttleRule = { cg: g, dev };
    }
    const file = join(tmp, 'disk.dat');
    const writer = g.spawn(NODE, ['-e', `const fs=require('fs'); const fd=fs.openSync(${JSON.stringify(file)}, 'w'); const b=Buffer.alloc(1<<20, 7); for(let i=0;i<16;i++){ fs.writeSync(fd, b); } fs.fsyncSync(fd); fs.closeSync(fd); console.log("written"); setInterval(()=>{}, 1000)`]);
    await waitForLine(writer, /^written$/);
    const procWritten = procIo(writer.pid!, 'write_bytes');
    const m = await scrapeUntil(config(), (x) => (value(x.get(g.path), 'container_resources_disk_written_bytes_total', { device: devName(dev) }) ?? 0) >= 16 << 20, 'written bytes ≥ 16 MiB');
    const written = value(m.get(g.path), 'container_resources_disk_written_bytes_total', { device: devName(dev) })!;
    t.diagnostic(`device ${devName(dev)} (${dev}): cgroup written ${written} B, /proc/<pid>/io write_bytes ${procWritten} B`);
    assert.ok(written >= 0.95 * procWritten, `cgroup ${written} vs /proc ${procWritten}`);
    assert.ok(written <= procWritten + (4 << 20), 'no more than the process wrote, plus journal/metadata');
    assert.ok((value(m.get(g.path), 'container_resources_disk_writes_total', { device: devName(dev) }) ?? 0) > 0);
    if (fs.v1.has('blkio')) {
      const files = parseBlkioV1(g.read('blkio', 'blkio.throttle.io_serviced_recursive'), g.read('blkio', 'blkio.throttle.io_service_bytes_recursive'));
      assert.equal(files.get(dev)!.writtenBytes, written);
    }
    if (throttleRule) {
      throttleRule.cg.write('blkio', 'blkio.throttle.write_bps_device', `${throttleRule.dev} 0`);
      throttleRule = undefined;
    }
  });

  test('a recreated cgroup is a restart; an emptied one disappears', async () => {
    let g = cgroup('svc');
    g.spawn('/bin/sleep', ['60']);
    const sink = new Sink();
    const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/restart', 'receiver'), config(), sink) as Component;
    await r.start(new TestHost());
    try {
      await sink.waitFor(() => sink.metrics.length > 0 && byPath(sink.metrics.at(-1)!).has(g.path), 10_000, 'svc seen');
      await g.destroy();
      groups.splice(groups.indexOf(g), 1);
      await sink.waitFor(() => !byPath(sink.metrics.at(-1)!).has(`${TOP}/svc`), 10_000, 'svc gone');
      g = cgroup('svc');
      g.spawn('/bin/sleep', ['60']);
      await sink.waitFor(() => value(byPath(sink.metrics.at(-1)!).get(g.path), 'container_restarts_total') === 1, 10_000, 'restart counted');
    } finally {
      await r.shutdown();
    }
  });

  test('scrape cost for 200 cgroups', async (t) => {
    const many: TestCgroup[] = [];
    for (let i = 0; i < 200; i++) many.push(cgroup(`many/c${i}`));
    for (const g of many) g.spawn('/bin/sleep', ['120']);
    await sleep(300);
    const telemetry = new SelfTelemetry();
    const costs: number[] = [];
    await scrapeUntil(config({ collection_interval: 1000 }), (x) => {
      const n = [...x.keys()].filter((p) => p.startsWith(`${TOP}/many/`)).length;
      if (n === 200) costs.push(1);
      return costs.length >= 3;
    }, '3 scrapes of 200 cgroups', telemetry);
    const fam = telemetry.family('sonde_receiver_cgroups_scrape_seconds') as unknown as { children: Map<string, { child: { value: number } }> };
    const last = [...fam.children.values()][0].child.value;
    t.diagnostic(`scrape of ${200}+ cgroups (${fs.mode}, ${fs.v1.size} v1 hierarchies + unified): ${(last * 1000).toFixed(1)} ms`);
    assert.ok(last < 2, `scrape took ${last}s`);
    for (const g of many) {
      await g.destroy();
      groups.splice(groups.indexOf(g), 1);
    }
  });
});

function devName(majMin: string): string {
  try {
    return basename(readlinkSync(`/sys/dev/block/${majMin}`));
  } catch {
    return majMin;
  }
}

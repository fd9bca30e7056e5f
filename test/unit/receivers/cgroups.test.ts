// The cgroups receiver through its factory on fake cgroupfs trees (root_path): hybrid (v1 controllers +
// unified for PSI) and pure v2; metric names, values and labels; systemd services; include_paths;
// sandboxes skipped; restarts (recreated cgroup; same Kubernetes identity with a new container id);
// the OOM option. The same receiver runs against real cgroups in test/e2e/cgroups.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../../src/internal/coroot.js';
import { cgroupsReceiverFactory } from '../../../src/receivers/cgroups/factory.js';
import type { CgroupsConfig } from '../../../src/receivers/cgroups/config.js';
import { parseBlkioV1, parseCpuMax, parseFlatKeyed, parseIoStatV2, parsePressure } from '../../../src/receivers/cgroups/stats.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';
import { fakeHttpRuntime } from '../../helpers/fake-runtimes.js';

const tmp = mkdtempSync(join(tmpdir(), 'sonde-cgroups-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ID = 'aa'.repeat(32);
const ID2 = 'bb'.repeat(32);
const ID3 = 'cc'.repeat(32);
const UID = 'e58ae396-abeb-4e00-97b1-8fb0b93228c1';

function write(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
}

const PSI = 'some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n';

/** A hybrid host tree with one container at `path` in every hierarchy. */
function hybridContainer(root: string, path: string, opts: { procs?: string } = {}): void {
  const cg = join(root, 'sys/fs/cgroup');
  const procs = opts.procs ?? '1234\n';
  write(join(cg, 'cpuacct', path), { 'cgroup.procs': procs, 'cpuacct.usage': '2500000000\n' });
  write(join(cg, 'cpu', path), { 'cgroup.procs': procs, 'cpu.stat': 'nr_periods 10\nnr_throttled 2\nthrottled_time 300000000\n', 'cpu.cfs_quota_us': '50000\n', 'cpu.cfs_period_us': '100000\n' });
  write(join(cg, 'memory', path), {
    'cgroup.procs': procs,
    'memory.stat': 'cache 100\nrss 200\ntotal_cache 4096\ntotal_rss 8192\ntotal_mapped_file 1024\nhierarchical_memory_limit 67108864\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
  });
  write(join(cg, 'blkio', path), {
    'cgroup.procs': procs,
    'blkio.throttle.io_serviced_recursive': '254:0 Read 5\n254:0 Write 7\n254:0 Total 12\nTotal 12\n',
    'blkio.throttle.io_service_bytes_recursive': '254:0 Read 4096\n254:0 Write 65536\n254:0 Total 69632\nTotal 69632\n',
  });
  write(join(cg, 'unified', path), { 'cgroup.procs': procs, 'cpu.pressure': PSI, 'memory.pressure': PSI, 'io.pressure': PSI });
}

function hybridRoot(name: string): string {
  const root = join(tmp, name);
  const cg = join(root, 'sys/fs/cgroup');
  for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'systemd']) write(join(cg, c), { 'cgroup.procs': '' });
  write(join(cg, 'unified'), { 'cgroup.procs': '', 'cgroup.controllers': '' });
  mkdirSync(join(root, 'sys/dev/block'), { recursive: true });
  return root;
}

function config(root: string, over: Partial<CgroupsConfig> = {}): CgroupsConfig {
  const d = cgroupsReceiverFactory.createDefaultConfig();
  const none = join(tmp, 'no-such.sock');
  return {
    ...d, root_path: root, collection_interval: 3_600_000, metadata: false,
    runtimes: { ...d.runtimes, docker: { enabled: true, endpoints: [none] }, containerd: { ...d.runtimes.containerd, endpoints: [none] }, crio: { enabled: true, endpoints: [none] } },
    ...over,
  };
}

async function scrapeOnce(cfg: CgroupsConfig): Promise<ResourceMetrics[]> {
  const sink = new Sink();
  const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/t', 'receiver'), cfg, sink) as Component;
  await r.start(new TestHost());
  try {
    await sink.waitFor(() => sink.metrics.length > 0, 5000, 'a scrape');
  } finally {
    await r.shutdown();
  }
  return sink.metrics[0];
}

function byPath(md: ResourceMetrics[]): Map<string, Map<string, MetricData>> {
  const out = new Map<string, Map<string, MetricData>>();
  for (const rm of md) {
    const p = String(rm.resource.attributes[CGROUP_PATH_ATTR]);
    out.set(p, new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m])));
  }
  return out;
}

function value(m: Map<string, MetricData> | undefined, name: string, attrs: Record<string, string> = {}): number | undefined {
  const md = m?.get(name);
  const p = md?.dataPoints.find((d) => Object.entries(attrs).every(([k, v]) => d.attributes[k] === v));
  return p?.value as number | undefined;
}

describe('cgroup file parsers', () => {
  test('flat keyed, cpu.max, pressure, blkio v1, io.stat v2', () => {
    assert.deepEqual(parseFlatKeyed('a 1\nb 2\nbad\n'), { a: 1, b: 2 });
    assert.equal(parseCpuMax('max 100000\n'), undefined);
    assert.deepEqual(parseCpuMax('150000 100000\n'), { quotaUs: 150000, periodUs: 100000 });
    assert.deepEqual(parsePressure(PSI), { some: 2500000, full: 500000 });
    assert.deepEqual(parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00 total=7\n'), { some: 7 });
    const v1 = parseBlkioV1('8:0 Read 1\n8:0 Write 2\nTotal 3\n', '8:0 Read 512\n8:0 Write 1024\n8:0 Sync 1\nTotal 1536\n');
    assert.deepEqual(v1.get('8:0'), { reads: 1, writes: 2, readBytes: 512, writtenBytes: 1024 });
    const v2 = parseIoStatV2('8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n');
    assert.deepEqual(v2.get('8:0'), { reads: 1, writes: 2, readBytes: 10, writtenBytes: 20 });
  });
});

describe('cgroups receiver on a hybrid tree', () => {
  const root = hybridRoot('hybrid');
  const docker = `/docker/${ID}`;
  const k8s = `/kubepods/burstable/pod${UID}/${ID2}`;
  hybridContainer(root, docker);
  hybridContainer(root, k8s);
  hybridContainer(root, '/system.slice/nginx.service');
  hybridContainer(root, '/system.slice/session-1.scope');
  hybridContainer(root, '/my/batch-job');
  hybridContainer(root, `/docker/${ID3}`, { procs: '' }); // empty: not reported
  write(join(root, 'sys/fs/cgroup/systemd/user.slice/user-0.slice/session-2.scope'), { 'cgroup.procs': '77\n' });

  test('reports containers and services with coroot names and values', async () => {
    const md = await scrapeOnce(config(root));
    const m = byPath(md);
    assert.deepEqual([...m.keys()].sort(), [docker, k8s, '/system.slice/nginx.service'].sort());
    const c = m.get(docker);
    assert.equal(value(c, 'container_info'), 1);
    assert.equal(value(c, 'container_restarts_total'), 0);
    assert.equal(value(c, 'container_resources_cpu_usage_seconds_total'), 2.5);
    assert.equal(value(c, 'container_resources_cpu_throttled_seconds_total'), 0.3);
    assert.equal(value(c, 'container_resources_cpu_limit_cores'), 0.5);
    assert.equal(value(c, 'container_resources_memory_rss_bytes'), 8192 + 1024);
    assert.equal(value(c, 'container_resources_memory_cache_bytes'), 4096);
    assert.equal(value(c, 'container_resources_memory_limit_bytes'), 64 << 20);
    assert.equal(value(c, 'container_oom_kills_total'), undefined, 'off by default: the ebpf receiver owns it');
    assert.equal(value(c, 'container_resources_cpu_pressure_waiting_seconds_total', { kind: 'some' }), 2.5);
    assert.equal(value(c, 'container_resources_io_pressure_waiting_seconds_total', { kind: 'full' }), 0.5);
    assert.equal(value(c, 'container_resources_disk_written_bytes_total', { device: '254:0' }), 65536);
    assert.equal(value(c, 'container_resources_disk_reads_total', { device: '254:0' }), 5);
    // Data points carry only the metric's own labels; the resource only the cgroup path.
    const rm = md.find((x) => x.resource.attributes[CGROUP_PATH_ATTR] === docker)!;
    assert.deepEqual(Object.keys(rm.resource.attributes), [CGROUP_PATH_ATTR]);
    assert.deepEqual(c!.get('container_resources_cpu_usage_seconds_total')!.dataPoints[0].attributes, {});
  });

  test('include_paths, systemd_services off, oom_kills on', async () => {
    const m = byPath(await scrapeOnce(config(root, { include_paths: ['^/my/'], systemd_services: false, oom_kills: true })));
    assert.deepEqual([...m.keys()].sort(), [docker, k8s, '/my/batch-job'].sort());
    assert.equal(value(m.get(docker), 'container_oom_kills_total'), 3);
  });

  test('restarts: a recreated cgroup of the same identity counts once', async () => {
    const sink = new Sink();
    const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/r', 'receiver'), config(root, { collection_interval: 1000 }), sink) as Component;
    await r.start(new TestHost());
    try {
      await sink.waitFor(() => sink.metrics.length >= 1, 5000);
      // systemd restarts nginx: the unit's cgroup is removed and created again (a new inode; cgroupfs never
      // reuses one, ext4 may: the old directory is moved away until the new one exists).
      for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'unified']) renameSync(join(root, 'sys/fs/cgroup', c, 'system.slice/nginx.service'), join(tmp, `old-${c}`));
      hybridContainer(root, '/system.slice/nginx.service');
      for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'unified']) rmSync(join(tmp, `old-${c}`), { recursive: true });
      await sink.waitFor(() => sink.metrics.length >= 2, 5000);
      await sink.waitFor(() => sink.metrics.length >= 3, 5000);
    } finally {
      await r.shutdown();
    }
    const last = byPath(sink.metrics[sink.metrics.length - 1]);
    assert.equal(value(last.get('/system.slice/nginx.service'), 'container_restarts_total'), 1);
    assert.equal(value(last.get(docker), 'container_restarts_total'), 0);
  });
});

describe('cgroups receiver with runtime metadata (fake Docker API)', () => {
  test('image in container_info, sandboxes skipped, a new container id of the same k8s container is a restart', async () => {
    const root = hybridRoot('meta');
    const sock = join(tmp, 'docker.sock');
    const labels = (ctr: string) => ({ 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.pod.namespace': 'demo', 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': ctr });
    const containers = new Map<string, unknown>([
      [ID, { Id: ID, Name: '/k8s_app_web-0', Config: { Image: 'nginx:1.25', Labels: labels('app') } }],
      [ID2, { Id: ID2, Name: '/k8s_POD_web-0', Config: { Image: 'pause:3.9', Labels: { ...labels('POD'), 'io.kubernetes.docker.type': 'podsandbox' } } }],
      [ID3, { Id: ID3, Name: '/k8s_app_web-0_1', Config: { Image: 'nginx:1.26', Labels: labels('app') } }],
    ]);
    const fake = await fakeHttpRuntime(sock, 'docker', containers);
    const pod = `/kubepods/besteffort/pod${UID}`;
    hybridContainer(root, `${pod}/${ID}`);
    hybridContainer(root, `${pod}/${ID2}`);
    const d = cgroupsReceiverFactory.createDefaultConfig();
    const cfg = config(root, { metadata: true, collection_interval: 1000 });
    cfg.runtimes = { ...cfg.runtimes, docker: { enabled: true, endpoints: [sock] } };
    assert.ok(d.metadata);
    const sink = new Sink();
    const r = cgroupsReceiverFactory.createMetrics!(testSettings('cgroups/m', 'receiver'), cfg, sink) as Component;
    await r.start(new TestHost());
    try {
      await sink.waitFor(() => sink.metrics.length >= 1, 5000);
      const first = byPath(sink.metrics[0]);
      assert.deepEqual([...first.keys()], [`${pod}/${ID}`], 'the pause sandbox is skipped');
      assert.equal(first.get(`${pod}/${ID}`)!.get('container_info')!.dataPoints[0].attributes.image, 'nginx:1.25');
      // The kubelet restarts the container: the old cgroup goes, a new id appears in the same pod.
      for (const c of ['cpu', 'cpuacct', 'memory', 'blkio', 'unified']) rmSync(join(root, 'sys/fs/cgroup', c, pod, ID), { recursive: true });
      hybridContainer(root, `${pod}/${ID3}`);
      await sink.waitFor(() => sink.metrics.length >= 3, 5000);
    } finally {
      await r.shutdown();
      await fake.close();
    }
    const last = byPath(sink.metrics[sink.metrics.length - 1]);
    assert.deepEqual([...last.keys()], [`${pod}/${ID3}`]);
    assert.equal(value(last.get(`${pod}/${ID3}`), 'container_restarts_total'), 1);
    assert.equal(last.get(`${pod}/${ID3}`)!.get('container_info')!.dataPoints[0].attributes.image, 'nginx:1.26');
  });
});

describe('cgroups receiver on a pure v2 tree', () => {
  test('reads cpu.stat, cpu.max, memory.stat, the smallest memory.max up the tree, memory.events, io.stat', async () => {
    const root = join(tmp, 'v2');
    const cg = join(root, 'sys/fs/cgroup');
    write(cg, { 'cgroup.controllers': 'cpu memory io', 'cgroup.procs': '' });
    const slice = join(cg, 'kubepods.slice');
    write(slice, { 'memory.max': '1073741824\n', 'cgroup.procs': '' });
    const pod = join(slice, `kubepods-pod${UID.replace(/-/g, '_')}.slice`);
    write(pod, { 'memory.max': '268435456\n', 'cgroup.procs': '' });
    const ctr = join(pod, `cri-containerd-${ID}.scope`);
    write(ctr, {
      'cgroup.events': 'populated 1\nfrozen 0\n',
      'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 250000\n',
      'cpu.max': '200000 100000\n',
      'memory.stat': 'anon 10000\nfile 5000\nfile_mapped 300\n',
      'memory.max': 'max\n',
      'memory.events': 'low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n',
      'io.stat': '8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n',
      'cpu.pressure': PSI,
    });
    const m = byPath(await scrapeOnce(config(root, { oom_kills: true })));
    const path = `/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`;
    const c = m.get(path);
    assert.ok(c, `found ${[...m.keys()]}`);
    assert.equal(value(c, 'container_resources_cpu_usage_seconds_total'), 1.5);
    assert.equal(value(c, 'container_resources_cpu_throttled_seconds_total'), 0.25);
    assert.equal(value(c, 'container_resources_cpu_limit_cores'), 2);
    assert.equal(value(c, 'container_resources_memory_rss_bytes'), 10300);
    assert.equal(value(c, 'container_resources_memory_cache_bytes'), 5000);
    assert.equal(value(c, 'container_resources_memory_limit_bytes'), 268435456);
    assert.equal(value(c, 'container_oom_kills_total'), 1);
    assert.equal(value(c, 'container_resources_disk_written_bytes_total', { device: '8:0' }), 2000);
    assert.equal(value(c, 'container_resources_cpu_pressure_waiting_seconds_total', { kind: 'full' }), 0.5);
  });
});

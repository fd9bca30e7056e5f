// Costs of container attribution: pid → cgroup lookups (cold and cached), cgroup path recognition, and
// the per-batch enrichment cost of the cgroup + container processors (Resource → Resource cache, fake
// Docker API on a unix socket for the runtime answers).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const { PidCgroupResolver, listPids, recognizeCgroup } = await import(`${root}dist/src/internal/cgroup/index.js`);
const { cgroupProcessorFactory } = await import(`${root}dist/src/processors/cgroup/factory.js`);
const { containerProcessorFactory } = await import(`${root}dist/src/processors/container/factory.js`);
const { resourceFromAttributes } = await import('@opentelemetry/resources');
const { makeSpans } = await import(`${root}dist/test/helpers/data.js`);
const { testSettings, TestHost } = await import(`${root}dist/test/helpers/settings.js`);
const { Sink } = await import(`${root}dist/test/helpers/sinks.js`);
const { fakeHttpRuntime } = await import(`${root}dist/test/helpers/fake-runtimes.js`);

const rows = [];
const pids = listPids('/proc');

// pid → cgroup: every pid on the machine, cold (2 reads of /proc each), then cached.
{
  const r = new PidCgroupResolver({ revalidateMs: 60_000 });
  let t = performance.now();
  for (const p of pids) r.lookup(p);
  const cold = (performance.now() - t) / pids.length;
  t = performance.now();
  const N = 20;
  for (let i = 0; i < N; i++) for (const p of pids) r.lookup(p);
  const warm = (performance.now() - t) / (pids.length * N);
  rows.push([`pid → cgroup lookup, cold (${pids.length} live pids)`, `${(cold * 1000).toFixed(1)} µs`]);
  rows.push(['pid → cgroup lookup, cached', `${(warm * 1e6).toFixed(0)} ns`]);
}

// Path recognition.
{
  const paths = [
    '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pode58ae396_abeb_4e00_97b1_8fb0b93228c1.slice/cri-containerd-93f8b0fa47d5a3de979f0f7c3a88868788c47f6a00927571cea8bc95096e7568.scope',
    '/system.slice/nginx.service', '/docker/93f8b0fa47d5a3de979f0f7c3a88868788c47f6a00927571cea8bc95096e7568', '/user.slice/user-0.slice/session-1.scope',
  ];
  const N = 200_000;
  const t = performance.now();
  for (let i = 0; i < N; i++) recognizeCgroup(paths[i & 3]);
  rows.push(['recognizeCgroup (mixed paths)', `${(((performance.now() - t) / N) * 1e6).toFixed(0)} ns`]);
}

// Enrichment: 10,000 spans over 100 resources (100 container ids known to a fake Docker API) through
// cgroup → container. The first batch asks Docker 100 times; later batches hit the Resource cache.
{
  const dir = mkdtempSync(join(tmpdir(), 'sonde-bench-containers-'));
  const sock = join(dir, 'docker.sock');
  const ids = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(64, 'a'));
  const fake = await fakeHttpRuntime(sock, 'docker', new Map(ids.map((id, i) => [id, { Id: id, Name: `/web-${i}`, Config: { Image: 'nginx:1.25', Labels: { 'io.kubernetes.pod.name': `web-${i}`, 'io.kubernetes.pod.namespace': 'demo', 'io.kubernetes.container.name': 'app' } } }])));
  const none = [join(dir, 'none.sock')];
  const ccfg = containerProcessorFactory.createDefaultConfig();
  const set = testSettings('bench/p', 'processor');
  const sink = new Sink();
  const container = containerProcessorFactory.createTraces(set, { ...ccfg, runtimes: { ...ccfg.runtimes, docker: { enabled: true, endpoints: [sock] }, containerd: { ...ccfg.runtimes.containerd, endpoints: none }, crio: { enabled: true, endpoints: none } } }, sink);
  const cgroup = cgroupProcessorFactory.createTraces(set, cgroupProcessorFactory.createDefaultConfig(), container);
  await container.start(new TestHost());
  await cgroup.start(new TestHost());
  const resources = ids.map((id) => resourceFromAttributes({ 'sonde.cgroup.path': `/docker/${id}`, 'service.name': 'x' }));
  const batch = () => resources.flatMap((r) => makeSpans(100, r));
  let b = batch();
  let t = performance.now();
  await cgroup.consumeTraces(b);
  rows.push(['cgroup + container processors, first batch (10,000 spans, 100 new containers: 100 Docker API calls)', `${(performance.now() - t).toFixed(1)} ms`]);
  const N = 50;
  let total = 0;
  for (let i = 0; i < N; i++) {
    b = batch();
    t = performance.now();
    await cgroup.consumeTraces(b);
    total += performance.now() - t;
    sink.traces.length = 0;
  }
  rows.push(['cgroup + container processors, cached batch (10,000 spans over 100 resources)', `${(total / N).toFixed(2)} ms (${((total / N / 10_000) * 1e6).toFixed(0)} ns/span)`]);
  await cgroup.shutdown();
  await container.shutdown();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log('| What | Result |\n|---|---|');
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);

// The cgroup and container processors through their factories: pid → cgroup (fake /proc via root_path),
// cgroup path → container id, runtime metadata from fake Docker / containerd / CRI-O sockets, the
// never-clobber rule, one lookup per distinct resource, a missing runtime logged once, and the hand-written
// containerd proto checked against the one Debian ships.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import protobuf from 'protobufjs';
import type { Component } from '../../../src/component/component.js';
import type { LogsConsumer, MetricsConsumer, TracesConsumer } from '../../../src/consumer/consumer.js';
import { CGROUP_PATH_ATTR } from '../../../src/internal/coroot.js';
import { CONTAINERD_PROTO, parseImageRef } from '../../../src/internal/runtime/index.js';
import type { ContainerdContainer } from '../../../src/internal/runtime/index.js';
import { cgroupProcessorFactory } from '../../../src/processors/cgroup/factory.js';
import { containerProcessorFactory } from '../../../src/processors/container/factory.js';
import type { ContainerProcessorConfig } from '../../../src/processors/container/config.js';
import { createLogger } from '../../../src/service/logger.js';
import { SelfTelemetry } from '../../../src/service/telemetry.js';
import { makeLogs, makeMetrics, makeSpans } from '../../helpers/data.js';
import { fakeContainerd, fakeHttpRuntime } from '../../helpers/fake-runtimes.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const tmp = mkdtempSync(join(tmpdir(), 'sonde-proc-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ID = '93f8b0fa47d5a3de979f0f7c3a88868788c47f6a00927571cea8bc95096e7568';
const ID2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = 'e58ae396-abeb-4e00-97b1-8fb0b93228c1';

function fakeProc(root: string, pid: number, cgroup: string): void {
  const d = join(root, 'proc', String(pid));
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'stat'), `${pid} (app) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${1000 + pid} 1000 200\n`);
  writeFileSync(join(d, 'cgroup'), cgroup);
}

function res(a: Attributes) {
  return resourceFromAttributes(a);
}

describe('cgroup processor', () => {
  const root = join(tmp, 'host');
  fakeProc(root, 100, `12:memory:/kubepods/besteffort/pod${UID}/${ID}\n0::/kubepods/besteffort/pod${UID}/${ID}\n`);
  fakeProc(root, 200, '1:name=systemd:/system.slice/nginx.service\n0::/system.slice/nginx.service\n');
  fakeProc(root, 300, `0::/system.slice/docker-${ID2}.scope\n`);

  test('spans and logs by process.pid; metrics by sonde.cgroup.path; one lookup per distinct resource', async () => {
    const telemetry = new SelfTelemetry();
    const set = testSettings('cgroup/t', 'processor', telemetry);
    const cfg = { ...cgroupProcessorFactory.createDefaultConfig(), root_path: root };
    const sink = new Sink();
    const pt = cgroupProcessorFactory.createTraces!(set, cfg, sink);
    const pm = cgroupProcessorFactory.createMetrics!(set, cfg, sink);
    const pl = cgroupProcessorFactory.createLogs!(set, cfg, sink);
    assert.equal(pt.capabilities.mutatesData, true);
    await pt.start(new TestHost());
    await pm.start(new TestHost());
    await pl.start(new TestHost());
    try {
      const rk8s = res({ 'process.pid': 100, 'service.name': 'checkout' });
      const rsvc = res({ 'process.pid': 200 });
      const rgone = res({ 'process.pid': 999 });
      await (pt as TracesConsumer).consumeTraces([...makeSpans(50, rk8s), ...makeSpans(50, rsvc), ...makeSpans(3, rgone)]);
      const spans = sink.allSpans();
      const a = spans[0].resource.attributes;
      assert.equal(a[CGROUP_PATH_ATTR], `/kubepods/besteffort/pod${UID}/${ID}`);
      assert.equal(a['container.id'], ID);
      assert.equal(a['k8s.pod.uid'], UID);
      assert.equal(a['container.runtime'], undefined, 'a bare id under kubepods does not name its runtime');
      assert.equal(a['service.name'], 'checkout');
      assert.equal(spans[0].resource, spans[49].resource, 'spans of one resource still share one Resource');
      assert.equal(spans[50].resource.attributes[CGROUP_PATH_ATTR], '/system.slice/nginx.service');
      assert.equal(spans[50].resource.attributes['container.id'], undefined);
      assert.equal(spans[100].resource.attributes[CGROUP_PATH_ATTR], undefined, 'unknown pid: left alone');
      assert.equal(telemetry.counterValue('sonde_processor_cgroup_pid_lookups_total'), 3, 'one lookup per distinct resource');
      // The same Resource objects in a second batch: answered from the cache.
      await (pt as TracesConsumer).consumeTraces(makeSpans(10, rk8s));
      assert.equal(telemetry.counterValue('sonde_processor_cgroup_pid_lookups_total'), 3);

      await (pl as LogsConsumer).consumeLogs(makeLogs(2, res({ 'process.pid': 300 })));
      const log = sink.logs[0][0];
      assert.equal(log.resource.attributes['container.runtime'], 'docker');
      assert.equal(log.resource.attributes['container.id'], ID2);

      await (pm as MetricsConsumer).consumeMetrics(makeMetrics(res({ [CGROUP_PATH_ATTR]: `/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`, 'container.id': 'already-set' })));
      const m = sink.metrics[0][0].resource.attributes;
      assert.equal(m['container.id'], 'already-set', 'never clobbers');
      assert.equal(m['container.runtime'], 'containerd');
      assert.equal(m['k8s.pod.uid'], UID);
    } finally {
      await pt.shutdown();
      await pm.shutdown();
      await pl.shutdown();
    }
  });
});

describe('runtime metadata', () => {
  test('parseImageRef', () => {
    assert.deepEqual(parseImageRef('nginx'), { name: 'nginx', tag: 'latest' });
    assert.deepEqual(parseImageRef('docker.io/library/nginx:1.25'), { name: 'docker.io/library/nginx', tag: '1.25' });
    assert.deepEqual(parseImageRef('reg:5000/ns/app:1.2@sha256:abcd'), { name: 'reg:5000/ns/app', tag: '1.2' });
    assert.deepEqual(parseImageRef('reg:5000/ns/app@sha256:abcd'), { name: 'reg:5000/ns/app' });
    assert.deepEqual(parseImageRef('sha256:0123abcd'), { name: 'sha256:0123abcd' });
  });

  const DEBIAN_PROTO = '/usr/share/gocode/src/github.com/containerd/containerd/api/services/containers/v1/containers.proto';
  test('the hand-written containerd proto matches the one Debian ships (field numbers and types)', { skip: existsSync(DEBIAN_PROTO) ? false : 'golang-github-containerd-containerd-dev not installed' }, async () => {
    const official = protobuf.parse(
      // Strip gogoproto options and imports: only field numbers and types matter here.
      (await import('node:fs')).readFileSync(DEBIAN_PROTO, 'utf8')
        .replace(/^import .*$/gm, '').replace(/\[\(gogoproto[^\]]*\]/g, '')
        .replace(/google\.protobuf\.(Any|Timestamp|Empty|FieldMask)/g, 'G$1')
        + '\nmessage GAny { string type_url = 1; bytes value = 2; }\nmessage GTimestamp { int64 seconds = 1; int32 nanos = 2; }\nmessage GEmpty {}\nmessage GFieldMask { repeated string paths = 1; }\n',
      { keepCase: true }).root;
    const mine = protobuf.parse(CONTAINERD_PROTO, { keepCase: true }).root;
    const norm = (t: string) => t.replace(/^G/, '');
    for (const name of ['Container', 'Container.Runtime', 'GetContainerRequest', 'GetContainerResponse', 'ListContainersRequest', 'ListContainersResponse']) {
      const o = official.lookupType(`containerd.services.containers.v1.${name}`);
      const m = mine.lookupType(`containerd.services.containers.v1.${name}`);
      for (const f of m.fieldsArray) {
        const of = o.fields[f.name];
        assert.ok(of, `${name}.${f.name} exists upstream`);
        assert.equal(of.id, f.id, `${name}.${f.name} number`);
        assert.equal(norm(of.type), f.type, `${name}.${f.name} type`);
        assert.equal(of.repeated, f.repeated, `${name}.${f.name} repeated`);
        assert.equal((of as unknown as { keyType?: string }).keyType, (f as unknown as { keyType?: string }).keyType, `${name}.${f.name} map key`);
      }
    }
    const svc = mine.lookupService('containerd.services.containers.v1.Containers');
    const osvc = official.lookupService('containerd.services.containers.v1.Containers');
    for (const m of svc.methodsArray) assert.ok(osvc.methods[m.name], `rpc ${m.name} exists upstream`);
  });
});

describe('container processor', () => {
  const labels = { 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.pod.namespace': 'demo', 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': 'app' };

  function config(over: Partial<ContainerProcessorConfig['runtimes']>): ContainerProcessorConfig {
    const d = containerProcessorFactory.createDefaultConfig();
    const none = [join(tmp, 'none.sock')];
    return { ...d, runtimes: { ...d.runtimes, docker: { enabled: true, endpoints: none }, containerd: { ...d.runtimes.containerd, endpoints: none }, crio: { enabled: true, endpoints: none }, ...over } };
  }

  async function run(cfg: ContainerProcessorConfig, resources: Attributes[], lines: string[] = []) {
    const set = { ...testSettings('container/t', 'processor'), logger: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
    const sink = new Sink();
    const p = containerProcessorFactory.createMetrics!(set, cfg, sink) as Component & MetricsConsumer;
    await p.start(new TestHost());
    try {
      for (const a of resources) await p.consumeMetrics(makeMetrics(res(a)));
    } finally {
      await p.shutdown();
    }
    return sink.metrics.map((m) => m[0].resource.attributes);
  }

  test('Docker: name, image, kubelet labels, swarm labels; an unknown id left alone', async () => {
    const sock = join(tmp, 'docker.sock');
    const fake = await fakeHttpRuntime(sock, 'docker', new Map<string, unknown>([
      [ID, { Id: ID, Name: '/k8s_app_web-0_demo', Config: { Image: 'nginx:1.25', Labels: labels, Env: ['PATH=/bin'] } }],
      [ID2, { Id: ID2, Name: '/web.1.xyz', Config: { Image: 'registry:5000/shop/web:2.0@sha256:00', Labels: { 'com.docker.stack.namespace': 'shop', 'com.docker.swarm.service.name': 'shop_web', 'com.docker.swarm.task.name': 'shop_web.1.xyz' } } }],
    ]));
    try {
      const out = await run(config({ docker: { enabled: true, endpoints: [sock] } }), [
        { 'container.id': ID, 'container.runtime': 'docker' },
        { [CGROUP_PATH_ATTR]: `/system.slice/docker-${ID2}.scope` },
        { 'container.id': 'f'.repeat(64) },
        { 'container.id': ID, 'k8s.pod.name': 'from-the-receiver' },
      ]);
      assert.equal(out[0]['container.name'], 'k8s_app_web-0_demo');
      assert.equal(out[0]['container.image.name'], 'nginx');
      assert.equal(out[0]['container.image.tag'], '1.25');
      assert.equal(out[0]['k8s.pod.name'], 'web-0');
      assert.equal(out[0]['k8s.namespace.name'], 'demo');
      assert.equal(out[0]['k8s.pod.uid'], UID);
      assert.equal(out[0]['k8s.container.name'], 'app');
      assert.equal(out[1]['container.id'], ID2);
      assert.equal(out[1]['container.image.name'], 'registry:5000/shop/web');
      assert.equal(out[1]['container.label.com.docker.swarm.service.name'], 'shop_web');
      assert.equal(out[2]['container.name'], undefined);
      assert.equal(out[3]['k8s.pod.name'], 'from-the-receiver', 'never clobbers');
      assert.equal(fake.requests.filter((r) => r.includes(ID)).length, 1, 'metadata cached per id');
    } finally {
      await fake.close();
    }
  });

  test('containerd: namespace from the path, k8s.io search, CRI annotations from the OCI spec, sandbox flag', async () => {
    const sock = join(tmp, 'containerd.sock');
    const spec = (ann: Record<string, string>) => ({ type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(JSON.stringify({ annotations: ann, process: { env: ['PATH=/bin'] } })) });
    const rec = (id: string, l: Record<string, string>, image: string, ann: Record<string, string> = {}): ContainerdContainer =>
      ({ id, labels: l, image, spec: spec(ann) });
    const fake = await fakeContainerd(sock, new Map([
      ['k8s.io', new Map([
        [ID, rec(ID, { ...labels, 'io.cri-containerd.kind': 'container' }, 'localhost/busybox:local')],
        [ID2, rec(ID2, { 'io.cri-containerd.kind': 'sandbox' }, 'localhost/pause:local', { 'io.kubernetes.cri.sandbox-name': 'web-0', 'io.kubernetes.cri.sandbox-namespace': 'demo', 'io.kubernetes.cri.sandbox-uid': UID, 'io.kubernetes.cri.container-type': 'sandbox' })],
      ])],
      ['default', new Map([['ctr-test1', rec('ctr-test1', { 'nerdctl/name': 'web' }, 'docker.io/library/nginx:latest')]])],
    ]));
    try {
      const out = await run(config({ containerd: { enabled: true, endpoints: [sock], namespaces: ['k8s.io', 'default'] } }), [
        { [CGROUP_PATH_ATTR]: `/kubepods/besteffort/pod${UID}/${ID}`, 'container.id': ID },
        { [CGROUP_PATH_ATTR]: '/default/ctr-test1' },
        { 'container.id': ID2 },
      ]);
      assert.equal(out[0]['container.runtime'], 'containerd');
      assert.equal(out[0]['container.name'], 'app');
      assert.equal(out[0]['container.image.name'], 'localhost/busybox');
      assert.equal(out[0]['k8s.pod.name'], 'web-0');
      assert.equal(out[1]['container.name'], 'web');
      assert.equal(out[1]['container.id'], 'ctr-test1');
      assert.equal(out[2]['sonde.container.sandbox'], true);
      assert.equal(out[2]['k8s.pod.name'], 'web-0', 'from the CRI annotations');
      assert.deepEqual(fake.calls.find((c) => c.id === 'ctr-test1'), { namespace: 'default', id: 'ctr-test1' }, 'the path\'s namespace is asked first');
    } finally {
      await fake.close();
    }
  });

  test('CRI-O inspect API', async () => {
    const sock = join(tmp, 'crio.sock');
    const fake = await fakeHttpRuntime(sock, 'crio', new Map<string, unknown>([
      [ID, { name: 'k8s_app_web-0_demo_x_0', image: 'quay.io/app/web:3', labels, annotations: { 'io.kubernetes.container.restartCount': '2' } }],
    ]));
    try {
      const [a] = await run(config({ crio: { enabled: true, endpoints: [sock] } }), [{ [CGROUP_PATH_ATTR]: `/kubepods/burstable/pod${UID}/crio-${ID}` }]);
      assert.equal(a['container.runtime'], 'cri-o');
      assert.equal(a['container.name'], 'app');
      assert.equal(a['container.image.name'], 'quay.io/app/web');
      assert.equal(a['k8s.container.restart_count'], 2);
    } finally {
      await fake.close();
    }
  });

  test('no runtime socket: data passes unchanged, each missing runtime logged once', async () => {
    const lines: string[] = [];
    const out = await run(config({}), [{ 'container.id': ID }, { 'container.id': ID2 }, { 'container.id': ID }], lines);
    assert.equal(out.length, 3);
    assert.equal(out[0]['container.name'], undefined);
    const missing = lines.filter((l) => l.includes('socket not found'));
    assert.equal(missing.length, 3, `one line per runtime: ${missing.join('\n')}`);
    assert.ok(missing.some((l) => l.includes('containerd')));
  });

  test('a runtime that stops answering: logged once, the batch is not held past the timeout', async () => {
    const sock = join(tmp, 'dead.sock');
    writeFileSync(sock, ''); // exists but nobody listens: connection refused
    const lines: string[] = [];
    const t0 = Date.now();
    const out = await run(config({ docker: { enabled: true, endpoints: [sock] }, timeout: 500 }), [{ 'container.id': ID }, { 'container.id': ID2 }], lines);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(out.length, 2);
    assert.equal(lines.filter((l) => l.includes('did not answer')).length, 1);
  });
});

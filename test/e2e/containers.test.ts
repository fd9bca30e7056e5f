// Container → pod attribution end to end, on a real containerd 1.6 + runc with the CRI plugin (needs root).
// A pod is started through CRI the way the kubelet does it (kubelet labels, cgroupfs driver under a unique
// cgroup parent, host network, locally built busybox and pause images). A process inside it (busybox nc)
// makes HTTP requests to a server on the host; the server finds the client's pid from /proc (what the eBPF
// receiver will get from the kernel) and the test turns each request into a span with only `process.pid`
// on its resource. Those spans go through cgroup → container → k8sattributes, and the real Service runs
// cgroups receiver → the same processors → prometheus exporter; both must carry the container and pod
// attributes and coroot's container_id/app_id. The Kubernetes API is the replay server with pod objects
// that hold the real pod UID and container ids. Then the kubelet-style restart (a new container for the
// same pod container) must show in container_restarts_total.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { Component } from '../../src/component/component.js';
import { builtinComponents } from '../../src/components.js';
import { loadServiceConfig } from '../../src/cli.js';
import type { TracesConsumer } from '../../src/consumer/consumer.js';
import { CGROUP_PATH_ATTR, corootContainerLabels } from '../../src/internal/coroot.js';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { cgroupProcessorFactory } from '../../src/processors/cgroup/factory.js';
import { containerProcessorFactory } from '../../src/processors/container/factory.js';
import { k8sAttributesProcessorFactory } from '../../src/processors/k8sattributes/factory.js';
import { nopLogger } from '../../src/service/logger.js';
import { Service } from '../../src/service/service.js';
import { makeSpans } from '../helpers/data.js';
import { removeTopLevel } from '../helpers/cgroups.js';
import type { FakeApiServer } from '../helpers/fake-apiserver.js';
import { startFakeApiServer } from '../helpers/fake-apiserver.js';
import { TEST_HOST, testSettings, TestHost } from '../helpers/settings.js';
import { Sink } from '../helpers/sinks.js';
import { pidOfTcpSocket } from '../helpers/tcp-owner.js';
import type { ContainerdPeer } from '../peers/containerd.js';
import { containerdUnavailable, startContainerd } from '../peers/containerd.js';
import { pollUntil } from '../peers/proc.js';

const skip = containerdUnavailable() ?? false;
const TOP = `/sonde-e2e-ctr-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
const UID = `5eed0000-aaaa-4bbb-8ccc-${String(process.pid).padStart(12, '0')}`;
const NS = 'demo';
const POD = 'web-7d4b9c6f5-x2k8p';
const NODE = 'e2e-node';
const tmp = mkdtempSync(join(tmpdir(), 'sonde-containers-e2e-'));

let ctrd: ContainerdPeer | undefined;
let api: FakeApiServer | undefined;
let http: Server | undefined;
let httpPort = 0;
const requests: Array<{ pid?: number; path: string }> = [];
let sandboxId = '';
const containerIds: string[] = [];

const kubeletLabels = (container: string) => ({
  'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': NS, 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': container,
});
const nsOpts = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };
const sandboxConfig = () => ({
  metadata: { name: POD, uid: UID, namespace: NS, attempt: 0 }, hostname: '', log_directory: join(tmp, 'pod-logs'),
  labels: { ...kubeletLabels('POD'), app: 'web', 'pod-template-hash': '7d4b9c6f5' }, annotations: {},
  linux: { cgroup_parent: `${TOP}/kubepods/besteffort/pod${UID}`, security_context: { namespace_options: nsOpts } },
});

async function startApp(attempt: number): Promise<string> {
  // busybox nc keeps one connection and sends a request every 0.3 s: one long-lived process making HTTP requests.
  const script = `while true; do printf 'GET /ping/${attempt} HTTP/1.1\\r\\nHost: host\\r\\n\\r\\n'; sleep 0.3; done | nc 127.0.0.1 ${httpPort}`;
  const cc = await ctrd!.call<{ container_id: string }>('runtime', 'CreateContainer', {
    pod_sandbox_id: sandboxId, sandbox_config: sandboxConfig(),
    config: {
      metadata: { name: 'app', attempt }, image: { image: ctrd!.busyboxImage }, command: ['/bin/sh', '-c', script],
      labels: kubeletLabels('app'), annotations: { 'io.kubernetes.container.restartCount': String(attempt) },
      log_path: `app_${attempt}.log`, linux: { security_context: { namespace_options: nsOpts } },
    },
  });
  await ctrd!.call('runtime', 'StartContainer', { container_id: cc.container_id });
  containerIds.push(cc.container_id);
  return cc.container_id;
}

function podObject(): unknown {
  const statuses = [{
    name: 'app', image: ctrd!.busyboxImage, imageID: 'sha256:00', containerID: `containerd://${containerIds.at(-1)}`,
    ready: true, restartCount: containerIds.length - 1, started: true, state: { running: { startedAt: new Date().toISOString() } },
    ...(containerIds.length > 1 ? { lastState: { terminated: { exitCode: 137, containerID: `containerd://${containerIds.at(-2)}` } } } : {}),
  }];
  return {
    metadata: {
      name: POD, namespace: NS, uid: UID, resourceVersion: String(100 + containerIds.length),
      labels: { app: 'web', 'pod-template-hash': '7d4b9c6f5' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c6f5', uid: '00000000-0000-0000-0000-0000000000aa', controller: true }],
    },
    spec: { nodeName: NODE, containers: [{ name: 'app', image: ctrd!.busyboxImage }] },
    status: { phase: 'Running', containerStatuses: statuses },
  };
}

function kubeconfig(): string {
  const kc = join(tmp, 'kubeconfig');
  writeFileSync(kc, `apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: e2e
  cluster:
    server: ${api!.url}
    certificate-authority: ${api!.caFile}
contexts:
- name: e2e
  context: { cluster: e2e, user: agent }
users:
- name: agent
  user: { token: e2e-token }
`);
  return kc;
}

function runtimesYaml(indent: string): string {
  return [
    'runtimes:',
    `  containerd: { endpoints: [${ctrd!.socket}], namespaces: [k8s.io] }`,
    `  docker: { endpoints: [${join(tmp, 'no-docker.sock')}] }`,
    `  crio: { endpoints: [${join(tmp, 'no-crio.sock')}] }`,
  ].map((l) => indent + l).join('\n');
}

before(async () => {
  if (skip) return;
  http = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const sock = req.socket;
    // The client is still connected and blocked on our answer: its socket, hence its pid, is in /proc.
    const pid = pidOfTcpSocket(sock.remotePort!, sock.localPort!);
    requests.push({ pid, path: req.url ?? '' });
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' }).end('ok\n');
  });
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as { port: number }).port;
  api = await startFakeApiServer(tmp, 'e2e-token');
  ctrd = await startContainerd();
  const sb = await ctrd.call<{ pod_sandbox_id: string }>('runtime', 'RunPodSandbox', { config: sandboxConfig() });
  sandboxId = sb.pod_sandbox_id;
  await startApp(0);
  api.script.push({ kind: 'list', body: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: [podObject()] } });
});

after(async () => {
  if (ctrd) {
    for (const id of containerIds) {
      await ctrd.call('runtime', 'StopContainer', { container_id: id, timeout: 1 }).catch(() => undefined);
      await ctrd.call('runtime', 'RemoveContainer', { container_id: id }).catch(() => undefined);
    }
    if (sandboxId) {
      await ctrd.call('runtime', 'StopPodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
      await ctrd.call('runtime', 'RemovePodSandbox', { pod_sandbox_id: sandboxId }).catch(() => undefined);
    }
    await ctrd.stop();
  }
  if (!skip) removeTopLevel(CgroupFs.detect(), TOP);
  await api?.close();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
  http?.closeAllConnections();
  rmSync(tmp, { recursive: true, force: true });
});

describe('containers and pods on a real containerd (CRI)', { skip, concurrency: false }, () => {
  test('spans from a real container process carry container and pod attributes', async (t) => {
    await pollUntil('requests from the container', () => requests.filter((r) => r.pid).length >= 3 || undefined, 20_000, 100);
    const pid = requests.find((r) => r.pid)!.pid!;
    const cgroupLine = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!;
    t.diagnostic(`client pid ${pid}: ${cgroupLine}`);
    assert.ok(cgroupLine.endsWith(`${TOP}/kubepods/besteffort/pod${UID}/${containerIds[0]}`), cgroupLine);

    const set = testSettings('e2e/traces', 'processor');
    const sink = new Sink();
    const k8s = k8sAttributesProcessorFactory.createTraces!(set, { ...k8sAttributesProcessorFactory.createDefaultConfig(), auth_type: 'kubeConfig', kubeconfig_path: kubeconfig(), node_name: NODE, wait_for_metadata: true }, sink);
    const ccfg = containerProcessorFactory.createDefaultConfig();
    const container = containerProcessorFactory.createTraces!(set, { ...ccfg, runtimes: { ...ccfg.runtimes, containerd: { enabled: true, endpoints: [ctrd!.socket], namespaces: ['k8s.io'] }, docker: { enabled: false, endpoints: [] }, crio: { enabled: false, endpoints: [] } } }, k8s);
    const cgroup = cgroupProcessorFactory.createTraces!(set, cgroupProcessorFactory.createDefaultConfig(), container);
    const chain: Component[] = [k8s, container, cgroup];
    for (const c of chain) await c.start(new TestHost());
    try {
      // One Resource per process, as a receiver keeps it; one span per observed request.
      const resources = new Map<number, Resource>();
      const spans = requests.filter((r) => r.pid).flatMap((r) => {
        let res = resources.get(r.pid!);
        if (!res) resources.set(r.pid!, (res = resourceFromAttributes({ 'process.pid': r.pid! })));
        return makeSpans(1, res, { 'url.path': r.path });
      });
      const t0 = performance.now();
      await (cgroup as unknown as TracesConsumer).consumeTraces(spans);
      t.diagnostic(`first batch (${spans.length} spans, cold caches: /proc, containerd, informer): ${(performance.now() - t0).toFixed(1)} ms`);
      const a: Attributes = sink.allSpans()[0].resource.attributes;
      assert.equal(a['process.pid'], pid);
      assert.equal(a[CGROUP_PATH_ATTR], `${TOP}/kubepods/besteffort/pod${UID}/${containerIds[0]}`);
      assert.equal(a['container.id'], containerIds[0]);
      assert.equal(a['container.runtime'], 'containerd');
      assert.equal(a['container.name'], 'app');
      assert.equal(a['container.image.name'], 'localhost/busybox');
      assert.equal(a['container.image.tag'], 'local');
      assert.equal(a['k8s.pod.name'], POD);
      assert.equal(a['k8s.namespace.name'], NS);
      assert.equal(a['k8s.pod.uid'], UID);
      assert.equal(a['k8s.container.name'], 'app');
      assert.equal(a['k8s.node.name'], NODE);
      assert.equal(a['k8s.replicaset.name'], 'web-7d4b9c6f5');
      assert.equal(a['k8s.deployment.name'], 'web');
      assert.equal(a['service.name'], 'web');
      assert.deepEqual(corootContainerLabels(a), { container_id: `/k8s/${NS}/${POD}/app`, app_id: `/k8s/${NS}/web` });
      // A second batch with the same resources costs no lookups: measure it.
      const again = requests.filter((r) => r.pid).flatMap((r) => makeSpans(100, resources.get(r.pid!)!));
      const t1 = performance.now();
      await (cgroup as unknown as TracesConsumer).consumeTraces(again);
      const ms = performance.now() - t1;
      t.diagnostic(`warm batch of ${again.length} spans over ${resources.size} resource(s) through 3 processors: ${ms.toFixed(2)} ms`);
      assert.equal(sink.allSpans().at(-1)!.resource.attributes['k8s.deployment.name'], 'web');
    } finally {
      for (const c of chain) await c.shutdown();
    }
  });

  test('the Service: cgroups receiver → cgroup/container/k8sattributes → prometheus, with coroot labels; a restart counted', async (t) => {
    const file = join(tmp, 'sonde.yaml');
    writeFileSync(file, `
receivers:
  cgroups:
    collection_interval: 1s
    systemd_services: false
${runtimesYaml('    ')}
processors:
  cgroup: {}
  container:
${runtimesYaml('    ')}
  k8sattributes:
    auth_type: kubeConfig
    kubeconfig_path: ${kubeconfig()}
    node_name: ${NODE}
    wait_for_metadata: true
exporters:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    metrics:
      receivers: [cgroups]
      processors: [cgroup, container, k8sattributes]
      exporters: [prometheus]
`);
    const { config } = loadServiceConfig(file, builtinComponents());
    const svc = new Service(config, { logger: nopLogger(), host: TEST_HOST });
    await svc.start();
    try {
      const url = `http://${svc.componentAddress('exporter prometheus (metrics)')}/metrics`;
      const scrape = async () => (await fetch(url)).text();
      const cid = `container_id="/k8s/${NS}/${POD}/app"`;
      const body = await pollUntil('the pod\'s container metrics', async () => {
        const b = await scrape();
        return b.includes(`container_resources_cpu_usage_seconds_total{app_id="/k8s/${NS}/web",${cid}`) ? b : undefined;
      }, 20_000, 200);
      const lines = body.split('\n').filter((l) => l.includes(cid));
      t.diagnostic(lines.slice(0, 6).join('\n'));
      assert.ok(lines.some((l) => l.startsWith('container_info{') && l.includes('image="localhost/busybox:local"')), 'container_info with the image');
      assert.ok(lines.some((l) => l.startsWith('container_resources_memory_rss_bytes{')));
      assert.ok(lines.some((l) => /^container_restarts_total\{[^}]*\} 0$/.test(l)));
      assert.ok(!body.includes(`/k8s/${NS}/${POD}/POD`) && !body.includes(sandboxId), 'the pause sandbox is not reported');

      // The kubelet restarts the container: the old one exits, a new one (attempt 1) starts in the pod.
      await ctrd!.call('runtime', 'StopContainer', { container_id: containerIds[0], timeout: 1 });
      await ctrd!.call('runtime', 'RemoveContainer', { container_id: containerIds[0] });
      await startApp(1);
      api!.script.push({ kind: 'list', body: { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '200' }, items: [podObject()] } });
      const after = await pollUntil('restart counted', async () => {
        const b = await scrape();
        return b.split('\n').find((l) => l.startsWith('container_restarts_total{') && l.includes(cid) && l.endsWith(' 1')) ? b : undefined;
      }, 20_000, 200);
      assert.ok(after.includes(`sonde.cgroup.path`) === false, 'internal attributes are not labels');
    } finally {
      await svc.shutdown();
    }
  });
});

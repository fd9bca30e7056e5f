// The image's entrypoint contract on this host (root): the DaemonSet the chart renders with default
// values, run the way the kubelet would run it (test/helpers/pod-emulation.ts) with the runtime tree the
// image's build stage produces (deploy/docker/build.sh, run here) — the image's ENTRYPOINT + the
// container's args, the ConfigMap's config at /etc/sonde/config.yaml, the host mounted read-only under
// /host, the capability set and nothing else, a private cgroup namespace, K8S_NODE_NAME from the
// downward API and the service account. Around it: a real containerd (CRI) running a pod whose
// container makes TCP connections, and the API server replay holding that pod. The agent's scrape
// endpoint must show node metrics, the container's resource metrics and its eBPF TCP metrics, each
// attributed to the right container and pod (coroot's container_id/app_id, machine_id of the node).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { TestCgroup, removeTopLevel } from '../helpers/cgroups.js';
import { imageContract, parseDockerfile, finalStage } from '../helpers/dockerfile.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import type { FakeApiServer } from '../helpers/fake-apiserver.js';
import { startFakeApiServer } from '../helpers/fake-apiserver.js';
import type { ImageTree } from '../helpers/image-build.js';
import { buildImageTree, cargoBinary, treeBytes } from '../helpers/image-build.js';
import { buildK8sTools, helmTemplate, objects } from '../helpers/k8s-tools.js';
import type { EmulatedPod } from '../helpers/pod-emulation.js';
import { execInPod, startPod } from '../helpers/pod-emulation.js';
import { ROOT } from '../helpers/paths.js';
import type { ContainerdPeer } from '../peers/containerd.js';
import { containerdUnavailable, startContainerd } from '../peers/containerd.js';
import { freePort, pollUntil } from '../peers/proc.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered Kubernetes objects

process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
function unavailable(): string | undefined {
  const e2e = e2eSkipReason() ?? containerdUnavailable();
  if (e2e) return e2e;
  if (process.getuid?.() !== 0) return 'needs root (mount and cgroup namespaces, chroot)';
  if (spawnSync('go', ['version']).status !== 0) return 'needs Go (helm renders the chart)';
  if (!cargoBinary()) return 'needs cargo (the image build fetches libbpf with it)';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'needs setpriv (util-linux)';
  return undefined;
}
const skip = unavailable() ?? false;
if (skip) console.log(`# SKIP pod contract: ${skip}`);

const TOP = `/sonde-e2e-pod-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
const NS = 'shop';
const POD = 'checkout-5c9d8f7b6-q4w2e';
const UID = `c0ffee00-aaaa-4bbb-8ccc-${String(process.pid).padStart(12, '0')}`;
const AGENT_UID = `5e7de000-aaaa-4bbb-8ccc-${String(process.pid).padStart(12, '0')}`;
const NODE = 'worker-e2e-1';
const tmp = mkdtempSync(join(tmpdir(), 'sonde-pod-e2e-'));

let tree: ImageTree;
let ctrd: ContainerdPeer | undefined;
let api: FakeApiServer | undefined;
let http: Server | undefined;
let httpPort = 0;
let sandboxId = '';
let containerId = '';
let agentCgroup: TestCgroup | undefined;
let pod: EmulatedPod | undefined;
let objs: Obj[] = [];
let metricsPort = 0;
let telemetryPort = 0;

const kubeletLabels = (container: string) => ({
  'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': NS, 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': container,
});
const nsOpts = { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' };
const sandboxConfig = () => ({
  metadata: { name: POD, uid: UID, namespace: NS, attempt: 0 }, hostname: '', log_directory: join(tmp, 'pod-logs'),
  labels: { ...kubeletLabels('POD'), app: 'checkout', 'pod-template-hash': '5c9d8f7b6' }, annotations: {},
  linux: { cgroup_parent: `${TOP}/kubepods/besteffort/pod${UID}`, security_context: { namespace_options: nsOpts } },
});

const one = (kind: string): Obj => objs.find((o) => o.kind === kind)!;
const scrape = async (port: number, path = '/metrics') => (await fetch(`http://127.0.0.1:${port}${path}`)).text();

before(async () => {
  if (skip) return;
  // 1. the image's build stage, for real, in a copy of the build context
  tree = buildImageTree();
  console.log(`# runtime tree ${tree.out}: ${(treeBytes(tree.out) / 1048576).toFixed(1)} MiB (${tree.built ? `built in ${tree.ms} ms` : 'cached'})`);

  // 2. the chart with default values (only the two node ports moved off 8888/8889: this machine is shared)
  metricsPort = await freePort();
  telemetryPort = await freePort();
  objs = objects(helmTemplate(buildK8sTools(), { args: ['--namespace', 'sonde', '--set', `ports.metrics=${metricsPort}`, '--set', `ports.telemetry=${telemetryPort}`] }));

  // 3. the node: an HTTP server on the host, the API server, containerd with one pod making requests
  http = createServer((_req, res) => res.writeHead(200, { 'content-length': '3' }).end('ok\n'));
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as { port: number }).port;
  api = await startFakeApiServer(tmp, 'pod-e2e-token');
  ctrd = await startContainerd();
  sandboxId = (await ctrd.call<{ pod_sandbox_id: string }>('runtime', 'RunPodSandbox', { config: sandboxConfig() })).pod_sandbox_id;
  const script = `while true; do printf 'GET /cart HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 ${httpPort} >/dev/null; sleep 0.3; done`;
  const cc = await ctrd.call<{ container_id: string }>('runtime', 'CreateContainer', {
    pod_sandbox_id: sandboxId, sandbox_config: sandboxConfig(),
    config: {
      metadata: { name: 'app', attempt: 0 }, image: { image: ctrd.busyboxImage }, command: ['/bin/sh', '-c', script],
      labels: kubeletLabels('app'), annotations: {}, log_path: 'app.log', linux: { security_context: { namespace_options: nsOpts } },
    },
  });
  containerId = cc.container_id;
  await ctrd.call('runtime', 'StartContainer', { container_id: containerId });
  api.script.push({
    kind: 'list', body: {
      kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: [{
        metadata: {
          name: POD, namespace: NS, uid: UID, resourceVersion: '100', labels: { app: 'checkout', 'pod-template-hash': '5c9d8f7b6' },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-5c9d8f7b6', uid: '00000000-0000-0000-0000-0000000000bb', controller: true }],
        },
        spec: { nodeName: NODE, containers: [{ name: 'app', image: ctrd.busyboxImage }] },
        status: { phase: 'Running', containerStatuses: [{ name: 'app', image: ctrd.busyboxImage, imageID: 'sha256:00', containerID: `containerd://${containerId}`, ready: true, restartCount: 0, started: true, state: { running: { startedAt: new Date().toISOString() } } }] },
      }],
    },
  });

  // 4. the agent's pod
  const df = parseDockerfile(readFileSync(join(ROOT, 'deploy', 'docker', 'Dockerfile'), 'utf8'));
  agentCgroup = new TestCgroup(CgroupFs.detect(), `${TOP}/kubepods/burstable/pod${AGENT_UID}/${'a'.repeat(64)}`);
  const hostRun = join(tmp, 'host-run');
  pod = startPod({
    daemonSet: one('DaemonSet'),
    configMaps: new Map([[one('ConfigMap').metadata.name as string, one('ConfigMap')]]),
    stage: finalStage(df), contract: imageContract(df), contextDir: tree.contextDir,
    stageOutputs: { 'build:/opt/sonde': tree.out },
    workDir: join(tmp, 'pod'), nodeName: NODE, cgroup: agentCgroup,
    // the node's /run, reduced to the test containerd's socket at the standard path
    hostPathOverrides: { '/run': hostRun },
    preBinds: [{ src: ctrd.socket, dst: join(hostRun, 'containerd', 'containerd.sock') }],
    serviceAccount: { token: api.token, caCrt: api.caPem, namespace: 'sonde' },
    apiServer: { host: '127.0.0.1', port: api.port },
  });
  await pollUntil('the agent is ready (/readyz)', async () => {
    if (pod!.proc.exitCode !== null) throw new Error(`the agent exited ${pod!.proc.exitCode}:\n${pod!.output().stderr}`);
    try {
      return (await fetch(`http://127.0.0.1:${telemetryPort}/readyz`)).ok;
    } catch {
      return false;
    }
  }, 60_000, 200);
});

after(async () => {
  if (pod && pod.proc.exitCode === null && pod.proc.signalCode === null) {
    pod.proc.kill('SIGKILL');
    await pod.exited;
  }
  await agentCgroup?.destroy();
  if (ctrd) {
    if (containerId) {
      await ctrd.call('runtime', 'StopContainer', { container_id: containerId, timeout: 1 }).catch(() => undefined);
      await ctrd.call('runtime', 'RemoveContainer', { container_id: containerId }).catch(() => undefined);
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

describe('the DaemonSet\'s container on this host (image entrypoint contract)', { skip, concurrency: false }, () => {
  test('it runs the image ENTRYPOINT with the chart\'s args, as uid 0 with exactly the chart\'s capabilities', () => {
    assert.deepEqual(pod!.command, ['node', '/opt/sonde/bin/sonde.js', 'run', '--config', '/etc/sonde/config.yaml']);
    const status = readFileSync(`/proc/${pod!.pid}/status`, 'utf8');
    const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(status)![1];
    assert.match(field('Uid'), /^0$/);
    // CAP_NET_ADMIN 12, CAP_SYS_PTRACE 19, CAP_DAC_READ_SEARCH 2, CAP_PERFMON 38, CAP_BPF 39
    const want = [2, 12, 19, 38, 39].reduce((a, b) => a | (1n << BigInt(b)), 0n);
    assert.equal(BigInt(`0x${field('CapEff')}`), want);
    assert.equal(BigInt(`0x${field('CapBnd')}`), want);
    assert.equal(field('NoNewPrivs'), '1');
    // a private cgroup namespace: the agent sees its own cgroup as the root
    assert.match(readFileSync(`/proc/${pod!.pid}/cgroup`, 'utf8'), /:\/sonde-e2e-pod-/, 'host view: the container cgroup');
    const inside = execInPod(pod!, ['cat', `/proc/${pod!.pid}/cgroup`]);
    assert.ok(inside.out.split('\n').filter(Boolean).every((l) => l.endsWith(':/')), `container view: ${inside.out}`);
    // the root filesystem is read-only, /tmp is not
    assert.notEqual(execInPod(pod!, ['touch', '/opt/sonde/x']).status, 0);
    assert.equal(execInPod(pod!, ['touch', '/tmp/x']).status, 0);
    assert.notEqual(execInPod(pod!, ['touch', '/host/proc/x']).status, 0);
  });

  test('node metrics describe this node; every series carries the node\'s machine_id', async (t) => {
    const body = await pollUntil('node metrics', async () => {
      const b = await scrape(metricsPort);
      return b.includes('node_resources_cpu_usage_seconds_total') && b.includes('node_net_received_bytes_total') ? b : undefined;
    }, 40_000, 500);
    const machineId = readFileSync('/etc/machine-id', 'utf8').trim();
    const nodeLines = body.split('\n').filter((l) => l.startsWith('node_'));
    t.diagnostic(nodeLines.slice(0, 5).join('\n'));
    assert.ok(nodeLines.length > 10);
    for (const l of nodeLines) assert.ok(l.includes(`machine_id="${machineId}"`), `machine_id on ${l}`);
    // hostNetwork: the node's interfaces (/host/proc/net/dev is the host namespace's)
    const hostIfs = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter((x) => x !== '' && x !== 'lo');
    assert.ok(hostIfs.some((i) => body.includes(`interface="${i}"`)), `one of ${hostIfs.join(',')} reported`);
    assert.ok(body.includes('node_info{') && body.includes(`hostname="${NODE}"`), 'node_info names the node (K8S_NODE_NAME)');
  });

  test('the pod\'s container: resource metrics from cgroups and runtime metadata, attributed to the pod', async (t) => {
    const cid = `container_id="/k8s/${NS}/${POD}/app"`;
    const body = await pollUntil('container metrics', async () => {
      const b = await scrape(metricsPort);
      return b.split('\n').some((l) => l.startsWith('container_resources_cpu_usage_seconds_total{') && l.includes(cid)) ? b : undefined;
    }, 60_000, 500);
    const lines = body.split('\n').filter((l) => l.includes(cid));
    t.diagnostic(lines.slice(0, 6).join('\n'));
    assert.ok(lines.every((l) => l.includes(`app_id="/k8s/${NS}/checkout"`)), `app_id from the owner (k8sattributes through the service account):\n${lines.join('\n')}`);
    assert.ok(lines.some((l) => l.startsWith('container_info{') && l.includes('image="localhost/busybox:local"')), 'image from containerd through /host/run');
    assert.ok(lines.some((l) => l.startsWith('container_resources_memory_rss_bytes{')));
    assert.ok(!body.includes(sandboxId), 'the pause sandbox is not reported');
  });

  test('the pod\'s container: eBPF TCP metrics (connects to the host server) attributed to it', async (t) => {
    const cid = `container_id="/k8s/${NS}/${POD}/app"`;
    const dest = `destination="127.0.0.1:${httpPort}"`;
    const line = await pollUntil('eBPF connect metrics', async () => {
      const b = await scrape(metricsPort);
      return b.split('\n').find((l) => l.startsWith('container_net_tcp_successful_connects_total{') && l.includes(cid) && l.includes(dest));
    }, 60_000, 500);
    t.diagnostic(line);
    assert.ok(Number(line.split(' ').at(-1)) >= 1);
    const telemetry = await scrape(telemetryPort);
    assert.match(telemetry, /sonde_ebpf_events_total\{[^}]*probe="tcp"[^}]*\} [1-9]/);
  });

  test('the pod\'s container: L7 request metrics (the l7 probe\'s cgroup_skb programs on the host\'s cgroup v2 root)', async (t) => {
    const cid = `container_id="/k8s/${NS}/${POD}/app"`;
    const line = await pollUntil('HTTP request metrics', async () => {
      const b = await scrape(metricsPort);
      return b.split('\n').find((l) => l.startsWith('container_http_requests_total{') && l.includes(cid) && l.includes(`destination="127.0.0.1:${httpPort}"`));
    }, 60_000, 500);
    t.diagnostic(line);
    assert.match(line, /status="2xx"/);
    assert.ok(Number(line.split(' ').at(-1)) >= 1);
  });

  test('liveness and readiness (the chart\'s probes) and the image HEALTHCHECK answer', async () => {
    const c = one('DaemonSet').spec.template.spec.containers[0] as Obj;
    const port = (name: string) => (c.ports as Obj[]).find((p) => p.name === name)!.containerPort as number;
    for (const probe of [c.livenessProbe, c.readinessProbe] as Obj[]) {
      const res = await fetch(`http://127.0.0.1:${port(probe.httpGet.port as string)}${probe.httpGet.path as string}`);
      assert.equal(res.status, 200, probe.httpGet.path as string);
    }
    const df = parseDockerfile(readFileSync(join(ROOT, 'deploy', 'docker', 'Dockerfile'), 'utf8'));
    const hc = finalStage(df).instructions.find((i) => i.cmd === 'HEALTHCHECK')!.json!;
    const r = execInPod(pod!, hc);
    assert.equal(r.status, 0, r.out);
  });

  test('the API server saw only what the ClusterRole allows: list/watch of this node\'s pods, with the service account token', () => {
    const rules = one('ClusterRole').rules as Obj[];
    assert.ok(api!.requests.length >= 2);
    for (const r of api!.requests) {
      assert.equal(r.auth, `Bearer ${api!.token}`);
      assert.equal(r.path, '/api/v1/pods');
      const verb = r.kind === 'watch' ? 'watch' : 'list';
      assert.ok(rules.some((x) => (x.apiGroups as string[]).includes('') && (x.resources as string[]).includes('pods') && (x.verbs as string[]).includes(verb)), `${verb} pods allowed`);
      assert.equal(r.query.get('fieldSelector'), `spec.nodeName=${NODE}`, 'K8S_NODE_NAME from the downward API');
    }
  });

  test('the container\'s memory (BPF maps included) fits the chart\'s limit', () => {
    const limit = parse(`x: ${(one('DaemonSet').spec.template.spec.containers[0] as Obj).resources.limits.memory as string}`) as { x: string };
    const mib = Number(/^(\d+)Mi$/.exec(limit.x)![1]);
    const usage = agentCgroup!.dirs.has('memory')
      ? Number(agentCgroup!.read('memory', 'memory.usage_in_bytes'))
      : Number(agentCgroup!.read('unified', 'memory.current'));
    console.log(`# agent container memory: ${(usage / 1048576).toFixed(1)} MiB (limit ${mib} MiB)`);
    assert.ok(usage > 0 && usage < mib * 1048576 * 0.8, `${usage} bytes under 80% of ${mib} MiB`);
  });

  test('SIGTERM (the kubelet stopping the pod): a clean exit within terminationGracePeriodSeconds', async () => {
    const grace = one('DaemonSet').spec.template.spec.terminationGracePeriodSeconds as number;
    const t0 = Date.now();
    pod!.proc.kill('SIGTERM');
    const r = await pod!.exited;
    assert.equal(r.code, 0, pod!.output().stderr.slice(-2000));
    assert.ok(Date.now() - t0 < grace * 1000);
  });
});

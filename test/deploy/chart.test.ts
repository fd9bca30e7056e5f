// The Helm chart (deploy/helm/sonde) and the plain manifest rendered from it: helm lint, rendering with
// default, full and privileged values, every object against the Kubernetes schemas (kubeconform,
// offline schemas from the k8s.io/kubernetes and prometheus-operator Go modules), the DaemonSet's
// least-privilege shape, and the ConfigMap's config through the real `sonde validate` with the
// environment the DaemonSet gives it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ROOT } from '../helpers/paths.js';
import type { K8sTools } from '../helpers/k8s-tools.js';
import { chartCapabilities } from '../helpers/capabilities.js';
import { MANIFEST, buildK8sTools, helmLint, helmTemplate, k8sSchemaDir, kubeconform, manifestText, objects } from '../helpers/k8s-tools.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- walking rendered YAML

function goMissing(): string | undefined {
  const r = spawnSync(process.env.GO ?? 'go', ['version'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` } });
  return r.status === 0 ? undefined : 'needs Go (builds helm and kubeconform from their modules; /usr/local/go/bin or $GO)';
}
const skip = goMissing() ?? false;
if (skip) console.log(`# SKIP chart tests: ${skip}`);

const FULL = join(ROOT, 'test', 'fixtures', 'deploy', 'values-full.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'sonde-chart-'));
let tools: K8sTools;
let schemas: string;

before(() => {
  if (skip) return;
  process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
  tools = buildK8sTools();
  schemas = k8sSchemaDir();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const kinds = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
const one = (objs: Obj[], kind: string): Obj => {
  const found = objs.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
};
const agent = (objs: Obj[]): Obj => one(objs, 'DaemonSet').spec.template.spec.containers[0];
const configOf = (objs: Obj[]): Obj => parse(one(objs, 'ConfigMap').data['config.yaml']) as Obj;

/** The container's environment as the kubelet resolves it (downward API, Secret keys from the chart). */
function podEnv(objs: Obj[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of agent(objs).env as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'node-1';
  }
  const secret = objs.find((o) => o.kind === 'Secret');
  for (const [k, v] of Object.entries((secret?.stringData ?? {}) as Record<string, string>)) env[k] = v;
  return env;
}

/** `sonde validate --config <the ConfigMap's config.yaml>` through the real CLI, in the pod's environment. */
function validate(objs: Obj[], name: string): { status: number | null; out: string } {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, one(objs, 'ConfigMap').data['config.yaml']);
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'sonde.js'), 'validate', '--config', file], {
    encoding: 'utf8', env: { PATH: process.env.PATH, ...podEnv(objs) },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const HOST_PATHS = ['/proc', '/sys', '/sys/fs/cgroup', '/run', '/etc/machine-id', '/sys/kernel/btf', '/sys/kernel/tracing'];
// the union of what the verified matrix's default features need (test/e2e/deploy-capabilities.test.ts)
const CAPS = chartCapabilities();

describe('Helm chart deploy/helm/sonde', { skip, concurrency: false }, () => {
  test('helm lint --strict passes with default and with full values', () => {
    for (const args of [[], ['-f', FULL], ['--set', 'securityContext.privileged=true']]) {
      const r = helmLint(tools, args);
      assert.ok(r.ok, `helm lint ${args.join(' ')}:\n${r.output}`);
    }
  });

  test('default values: the objects, and each validates against the Kubernetes schemas', () => {
    const m = helmTemplate(tools, { args: ['--namespace', 'sonde'] });
    const objs = objects(m);
    assert.deepEqual(kinds(objs), ['ClusterRole/sonde', 'ClusterRoleBinding/sonde', 'ConfigMap/sonde', 'DaemonSet/sonde', 'ServiceAccount/sonde']);
    const r = kubeconform(tools, schemas, m);
    assert.ok(r.ok, r.problems.join('\n') || r.raw);
    assert.equal(r.valid, objs.length);
  });

  test('default values: a least-privilege DaemonSet on every node', () => {
    const objs = objects(helmTemplate(tools, { args: ['--namespace', 'sonde'] }));
    const ds = one(objs, 'DaemonSet');
    const pod = ds.spec.template.spec;
    const c = agent(objs);
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
    assert.equal(pod.containers.length, 1, 'no sidecars');
    assert.equal(pod.initContainers, undefined);
    // capabilities, not privileged
    const sc = c.securityContext;
    assert.equal(sc.privileged, false);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.runAsUser, 0);
    assert.deepEqual(CAPS, ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH']);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: CAPS });
    assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
    assert.deepEqual(sc.appArmorProfile, { type: 'Unconfined' });
    // the image's CMD
    assert.equal(c.command, undefined, 'the image ENTRYPOINT');
    assert.deepEqual(c.args, ['run', '--config', '/etc/sonde/config.yaml']);
    // host paths: every hostPath volume is mounted read-only
    const volumes = new Map<string, Obj>((pod.volumes as Obj[]).map((v) => [v.name, v]));
    const hostMounts = (c.volumeMounts as Obj[]).filter((m) => volumes.get(m.name)?.hostPath);
    assert.deepEqual(hostMounts.map((m) => volumes.get(m.name)!.hostPath.path).sort(), [...HOST_PATHS].sort());
    for (const m of hostMounts) assert.equal(m.readOnly, true, `${m.mountPath} read-only`);
    const at = (hostPath: string) => hostMounts.find((m) => volumes.get(m.name)!.hostPath.path === hostPath)!.mountPath;
    assert.equal(at('/proc'), '/host/proc');
    assert.equal(at('/sys/fs/cgroup'), '/host/sys/fs/cgroup');
    assert.equal(at('/sys/kernel/btf'), '/sys/kernel/btf');
    assert.equal(at('/sys/kernel/tracing'), '/sys/kernel/tracing');
    assert.equal(at('/run'), '/host/run');
    assert.equal(at('/etc/machine-id'), '/etc/machine-id');
    assert.ok((c.volumeMounts as Obj[]).some((m) => m.mountPath === '/etc/sonde' && volumes.get(m.name)?.configMap?.name === 'sonde'));
    // K8S_NODE_NAME from the downward API; endpoints on the ports the probes use
    const env = new Map<string, Obj>((c.env as Obj[]).map((e) => [e.name, e]));
    assert.deepEqual(env.get('K8S_NODE_NAME')!.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.equal(env.get('SONDE_TELEMETRY_ENDPOINT')!.value, '0.0.0.0:8888');
    assert.equal(env.get('SONDE_PROMETHEUS_ENDPOINT')!.value, '0.0.0.0:8889');
    const ports = new Map<string, number>((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    assert.deepEqual([...ports], [['metrics', 8889], ['telemetry', 8888]]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'telemetry' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'telemetry' });
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    assert.ok(ds.spec.template.metadata.annotations['checksum/config'].length === 64);
  });

  test('default values: RBAC is get/list/watch on pods only, bound to the agent\'s ServiceAccount', () => {
    const objs = objects(helmTemplate(tools, { args: ['--namespace', 'sonde'] }));
    const role = one(objs, 'ClusterRole');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const binding = one(objs, 'ClusterRoleBinding');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'sonde', namespace: 'sonde' }]);
    assert.equal(one(objs, 'DaemonSet').spec.template.spec.serviceAccountName, 'sonde');
  });

  test('default values: the ConfigMap holds a Collector-style config with the host paths filled in, and it validates', () => {
    const objs = objects(helmTemplate(tools, { args: ['--namespace', 'sonde'] }));
    const cfg = configOf(objs);
    // same layout and component types as otel-config.yaml
    const defaults = parse(readFileSync(join(ROOT, 'otel-config.yaml'), 'utf8')) as Obj;
    assert.deepEqual(Object.keys(cfg), ['receivers', 'processors', 'exporters', 'service']);
    for (const r of Object.keys(defaults.receivers)) assert.ok(r in cfg.receivers, `receiver ${r} as in otel-config.yaml`);
    for (const p of Object.keys(defaults.processors)) assert.ok(p in cfg.processors, `processor ${p} as in otel-config.yaml`);
    assert.deepEqual(Object.keys(cfg.service.pipelines).sort(), Object.keys(defaults.service.pipelines).sort());
    // host paths where the DaemonSet mounts them
    assert.equal(cfg.receivers.node.root_path, '/host');
    assert.equal(cfg.receivers.cgroups.root_path, '/host');
    assert.equal(cfg.processors.cgroup.root_path, '/host');
    assert.equal(cfg.receivers.ebpf.proc_root, '/host/proc');
    assert.equal(cfg.receivers.ebpf.cgroup_root, '/host/sys/fs/cgroup');
    assert.equal(cfg.receivers.ebpf.mount_tracefs, false, 'tracefs comes from the host; mounting would need CAP_SYS_ADMIN');
    assert.deepEqual(cfg.receivers.ebpf.probes, defaults.receivers.ebpf.probes, 'the probes of otel-config.yaml');
    for (const runtimes of [cfg.receivers.cgroups.runtimes, cfg.processors.container.runtimes]) {
      assert.ok(runtimes.containerd.endpoints.includes('/host/run/containerd/containerd.sock'));
      assert.ok(runtimes.containerd.endpoints.includes('/host/run/k3s/containerd/containerd.sock'));
      assert.deepEqual(runtimes.crio.endpoints, ['/host/run/crio/crio.sock']);
      assert.deepEqual(runtimes.docker.endpoints, ['/host/run/docker.sock']);
    }
    assert.equal(cfg.processors.k8sattributes.auth_type, 'serviceAccount');
    const v = validate(objs, 'default');
    assert.equal(v.status, 0, v.out);
    assert.match(v.out, /valid \(3 pipeline\(s\)/);
  });

  test('values the user sets win over the host paths; applyToConfig off leaves the config as written', () => {
    let cfg = configOf(objects(helmTemplate(tools, { args: ['--set', 'config.receivers.node.root_path=/custom', '--set', 'config.receivers.ebpf.mount_tracefs=true'] })));
    assert.equal(cfg.receivers.node.root_path, '/custom');
    assert.equal(cfg.receivers.ebpf.mount_tracefs, true);
    assert.equal(cfg.receivers.ebpf.proc_root, '/host/proc');
    cfg = configOf(objects(helmTemplate(tools, { args: ['--set', 'host.applyToConfig=false'] })));
    assert.equal(cfg.receivers.node.root_path, undefined);
    assert.equal(cfg.processors.container.runtimes, undefined);
    // a named instance of a type gets the same treatment
    cfg = configOf(objects(helmTemplate(tools, { args: ['--set', 'config.receivers.node/fast.collection_interval=5s'] })));
    assert.equal(cfg.receivers['node/fast'].root_path, '/host');
  });

  test('full values: every optional object, backends wired into the pipelines, secrets from the Secret', () => {
    const m = helmTemplate(tools, { args: ['--namespace', 'observability', '-f', FULL] });
    const objs = objects(m);
    assert.deepEqual(kinds(objs), [
      'ClusterRole/sonde-agent', 'ClusterRoleBinding/sonde-agent', 'ConfigMap/sonde-agent', 'DaemonSet/sonde-agent',
      'Namespace/observability', 'PodMonitor/sonde-agent', 'Secret/sonde-agent-env', 'Service/sonde-agent', 'ServiceAccount/sonde-agent',
    ]);
    const r = kubeconform(tools, schemas, m);
    assert.ok(r.ok, r.problems.join('\n') || r.raw);
    assert.equal(r.valid, objs.length);

    const c = agent(objs);
    assert.equal(c.image, 'registry.example.com/observability/sonde@sha256:0000000000000000000000000000000000000000000000000000000000000000');
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'sonde-agent-env' } }]);
    assert.deepEqual(c.securityContext.capabilities.add, [...CAPS, 'SYS_RESOURCE', 'SYS_ADMIN']);
    assert.equal(c.securityContext.allowPrivilegeEscalation, undefined, 'SYS_ADMIN cannot be combined with allowPrivilegeEscalation: false');
    assert.deepEqual(c.securityContext.seccompProfile, { type: 'Unconfined' });
    assert.ok((c.volumeMounts as Obj[]).some((v) => v.mountPath === '/host/var/snap/microk8s/common/run' && v.readOnly === true));
    assert.equal(one(objs, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');

    const cfg = configOf(objs);
    assert.deepEqual(Object.keys(cfg.exporters).sort(), ['clickhouse', 'debug', 'otlp', 'prometheus', 'prometheusremotewrite']);
    assert.deepEqual(cfg.service.pipelines.traces.exporters, ['debug', 'otlp', 'clickhouse']);
    assert.equal(cfg.exporters.otlp.headers.authorization, 'Bearer ${env:OTLP_TOKEN}');
    assert.deepEqual(cfg.exporters.otlp.tls, { insecure: true });
    assert.equal(cfg.exporters.prometheusremotewrite.bearer_token, '${env:REMOTE_WRITE_TOKEN}');
    assert.equal(cfg.exporters.clickhouse.password, '${env:CLICKHOUSE_PASSWORD:-}');
    assert.deepEqual(cfg.service.pipelines.metrics.exporters, ['prometheus', 'otlp', 'prometheusremotewrite', 'clickhouse']);
    assert.deepEqual(cfg.service.pipelines.logs.exporters, ['otlp', 'clickhouse'], 'remote-write is metrics only');
    assert.equal(cfg.service.pipelines['metrics/containers'], undefined, 'a default pipeline set to null is gone');
    const secret = one(objs, 'Secret');
    assert.deepEqual(Object.keys(secret.stringData).sort(), ['CLICKHOUSE_PASSWORD', 'OTLP_TOKEN', 'REMOTE_WRITE_TOKEN']);

    const pm = one(objs, 'PodMonitor');
    assert.deepEqual(pm.spec.selector.matchLabels, one(objs, 'DaemonSet').spec.selector.matchLabels);
    assert.deepEqual((pm.spec.podMetricsEndpoints as Obj[]).map((e) => e.port), ['metrics', 'telemetry']);
    const svc = one(objs, 'Service');
    assert.equal(svc.spec.clusterIP, 'None');
    assert.deepEqual((svc.spec.ports as Obj[]).map((p) => [p.name, p.port]), [['metrics', 9889], ['telemetry', 9888]]);
    assert.equal(one(objs, 'ClusterRole').rules.length, 2);

    const v = validate(objs, 'full');
    assert.equal(v.status, 0, v.out);
  });

  test('privileged: true for kernels without CAP_BPF: no capability list, still schema-valid', () => {
    const m = helmTemplate(tools, { args: ['--set', 'securityContext.privileged=true'] });
    const r = kubeconform(tools, schemas, m);
    assert.ok(r.ok, r.problems.join('\n') || r.raw);
    const sc = agent(objects(m)).securityContext;
    assert.deepEqual(sc, { privileged: true, readOnlyRootFilesystem: true });
  });

  test('values.schema.json: typos in values are errors, not silently ignored', () => {
    for (const [set, where] of [['backends.otlp.enable=true', "'/backends/otlp'"], ['config.recievers.node.x=1', "'/config'"], ['ports.metrics=70000', "'/ports/metrics'"], ['securityContext.seccompProfile=runtime/default', "'/securityContext/seccompProfile'"]]) {
      assert.throws(() => helmTemplate(tools, { args: ['--set', set] }), (e: Error) => e.message.includes(where), set);
    }
  });

  test('kubeconform rejects what the API server would (the schemas are strict)', () => {
    const m = helmTemplate(tools);
    for (const [from, to, why] of [
      ['hostPID: true', 'hostPID: true\n      hostPIDs: true', 'unknown field'],
      ['containerPort: 8889', 'containerPort: "8889x"', 'wrong type'],
      ['kind: DaemonSet', 'kind: DaemonSets', 'unknown kind'],
      ['              drop: [ALL]\n', '', 'nothing'],
    ] as const) {
      const r = kubeconform(tools, schemas, m.replace(from, to));
      if (why === 'nothing') assert.ok(r.ok, 'dropping a list is still valid');
      else assert.ok(!r.ok, `${why} is reported`);
    }
  });

  test('deploy/kubernetes/sonde.yaml is the chart rendered with default values (npm run deploy:manifest) and validates', () => {
    const want = manifestText(tools);
    assert.equal(readFileSync(MANIFEST, 'utf8'), want, 'out of date: run `npm run deploy:manifest`');
    const r = kubeconform(tools, schemas, want);
    assert.ok(r.ok, r.problems.join('\n') || r.raw);
    const objs = objects(want);
    assert.deepEqual(kinds(objs), ['ClusterRole/sonde', 'ClusterRoleBinding/sonde', 'ConfigMap/sonde', 'DaemonSet/sonde', 'Namespace/sonde', 'ServiceAccount/sonde']);
    const v = validate(objs, 'manifest');
    assert.equal(v.status, 0, v.out);
  });
});

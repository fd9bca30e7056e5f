// k8sattributes against a small HTTPS API server replaying recorded list/watch responses
// (test/fixtures/k8s): in-cluster config (env + service-account token and CA) and kubeconfig; LIST then
// WATCH with this node's field selector; a pod that moves owner (new ReplicaSet of another Deployment); a
// watch that ends with an ERROR 410 Gone event and one refused with HTTP 410 (both relist); a deleted pod
// answering during its grace period; association by pod uid, container id (current and previous instance)
// and namespace/name; service.name rules; never clobbering; kubectl listing through the same server.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Component } from '../../../src/component/component.js';
import type { MetricsConsumer } from '../../../src/consumer/consumer.js';
import { k8sAttributesProcessorFactory } from '../../../src/processors/k8sattributes/factory.js';
import type { K8sAttributesConfig } from '../../../src/processors/k8sattributes/config.js';
import { makeMetrics } from '../../helpers/data.js';
import type { FakeApiServer } from '../../helpers/fake-apiserver.js';
import { startFakeApiServer } from '../../helpers/fake-apiserver.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const FIX = new URL('../../../../test/fixtures/k8s/', import.meta.url).pathname;
const fixture = (n: string) => readFileSync(join(FIX, n), 'utf8');
const json = (n: string) => JSON.parse(fixture(n)) as unknown;

const ID_WEB = '3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a10';
const ID_WEB_PREV = '0f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a10';
const ID_DB = '7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b';
const ID_BACKUP = '1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef';
const UID_WEB = '11111111-aaaa-4bbb-8ccc-000000000001';
const UID_AGENT = '11111111-aaaa-4bbb-8ccc-000000000004';

const tmp = mkdtempSync(join(tmpdir(), 'sonde-k8s-unit-'));
let api: FakeApiServer;
before(async () => {
  api = await startFakeApiServer(tmp, 'replay-token');
});
after(async () => {
  await api.close();
  rmSync(tmp, { recursive: true, force: true });
});

function config(over: Partial<K8sAttributesConfig>): K8sAttributesConfig {
  return { ...k8sAttributesProcessorFactory.createDefaultConfig(), node_name: 'node-1', extract: { labels: ['team'], annotations: ['owner'] }, ...over };
}

async function withProcessor(cfg: K8sAttributesConfig, fn: (enrich: (a: Attributes) => Promise<Attributes>) => Promise<void>): Promise<void> {
  const sink = new Sink();
  const p = k8sAttributesProcessorFactory.createMetrics!(testSettings('k8sattributes/t', 'processor'), cfg, sink) as Component & MetricsConsumer;
  await p.start(new TestHost());
  try {
    await fn(async (a) => {
      await p.consumeMetrics(makeMetrics(resourceFromAttributes(a)));
      return sink.metrics.at(-1)![0].resource.attributes;
    });
  } finally {
    await p.shutdown();
  }
}

async function until(fn: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('k8sattributes with a replayed API server', () => {
  test('in-cluster: list, watch (owner move, new pod, bookmark, ERROR 410), HTTP 410, relists', async () => {
    const sa = join(tmp, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'replay-token\n');
    writeFileSync(join(sa, 'ca.crt'), api.caPem);
    api.requests.length = 0;
    api.script.push(
      { kind: 'list', body: json('pods-list-1.json') },
      { kind: 'watch', lines: fixture('pods-watch-1.jsonl').trim().split('\n'), end: 'close', delayMs: 150 },
      { kind: 'list', body: json('pods-list-2.json') },
      { kind: 'status', code: 410, body: json('status-410.json') },
      { kind: 'list', body: json('pods-list-2.json') },
    );
    const env = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(api.port);
    try {
      await withProcessor(config({ auth_type: 'serviceAccount', service_account_dir: sa, wait_for_metadata: true }), async (enrich) => {
        // Before any event: the first list. Association by pod uid (what the cgroup processor sets).
        const web = await enrich({ 'k8s.pod.uid': UID_WEB, 'container.id': ID_WEB });
        assert.equal(web['k8s.pod.name'], 'web-7d4b9c6f5-x2k8p');
        assert.equal(web['k8s.namespace.name'], 'demo');
        assert.equal(web['k8s.node.name'], 'node-1');
        assert.equal(web['k8s.container.name'], 'app');
        assert.equal(web['k8s.container.restart_count'], 1);
        assert.equal(web['k8s.replicaset.name'], 'web-7d4b9c6f5');
        assert.equal(web['k8s.deployment.name'], 'web');
        assert.equal(web['service.name'], 'web', 'the workload name');
        assert.equal(web['container.image.name'], 'registry.local:5000/shop/web');
        assert.equal(web['container.image.tag'], '1.4.2');
        // By container id only; the previous (OOM-killed) instance's id still names the container.
        assert.equal((await enrich({ 'container.id': ID_WEB_PREV }))['k8s.container.name'], 'app');
        const db = await enrich({ 'container.id': ID_DB, 'service.name': 'unknown_service:postgres' });
        assert.equal(db['k8s.statefulset.name'], 'db');
        assert.equal(db['service.name'], 'orders-db', 'the annotation wins; unknown_service counts as unset');
        const backup = await enrich({ 'container.id': ID_BACKUP });
        assert.equal(backup['k8s.job.name'], 'backup-29412345');
        assert.equal(backup['k8s.cronjob.name'], 'backup');
        assert.equal(backup['service.name'], 'backup');
        // By namespace/name (what the container processor sets from kubelet labels); never clobbers.
        const byName = await enrich({ 'k8s.namespace.name': 'demo', 'k8s.pod.name': 'db-0', 'service.name': 'mine' });
        assert.equal(byName['k8s.statefulset.name'], 'db');
        assert.equal(byName['service.name'], 'mine');

        // The watch: a DaemonSet pod arrives, then the web pod moves to another Deployment's ReplicaSet.
        const moved = { 'k8s.pod.uid': UID_WEB };
        await until(async () => (await enrich(moved))['k8s.deployment.name'] === 'web-v2', 'owner move seen');
        const agent = await enrich({ 'k8s.pod.uid': UID_AGENT });
        assert.equal(agent['k8s.daemonset.name'], 'sonde-agent');
        assert.equal(agent['service.name'], 'sonde', 'app.kubernetes.io/name label');
        assert.equal(agent['k8s.pod.label.team'], 'observability');
        assert.equal(agent['k8s.pod.annotation.owner'], 'sre');
        // ERROR 410 → relist (list 2: backup gone), then HTTP 410 on the next watch → relist again.
        await until(() => api.requests.filter((r) => r.kind === 'list').length >= 3, 'three lists');
        const backupAfter = await enrich({ 'container.id': ID_BACKUP });
        assert.equal(backupAfter['k8s.cronjob.name'], 'backup', 'a deleted pod answers during its grace period');
      });
    } finally {
      if (env.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST; else process.env.KUBERNETES_SERVICE_HOST = env.host;
      if (env.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT; else process.env.KUBERNETES_SERVICE_PORT = env.port;
    }
    const pods = api.requests.filter((r) => r.kind !== 'other');
    assert.deepEqual(pods.slice(0, 5).map((r) => r.kind), ['list', 'watch', 'list', 'watch', 'list']);
    for (const r of pods) {
      assert.equal(r.query.get('fieldSelector'), 'spec.nodeName=node-1');
      assert.equal(r.auth, 'Bearer replay-token');
    }
    assert.equal(pods[1].query.get('resourceVersion'), '1000', 'watch from the list\'s resourceVersion');
    assert.equal(pods[1].query.get('allowWatchBookmarks'), 'true');
    assert.equal(pods[3].query.get('resourceVersion'), '2000');
    api.script.length = 0;
  });

  test('kubeconfig (CA data + token, a non-current context); a watch that ends is resumed from the last resourceVersion', async () => {
    const kc = join(tmp, 'kubeconfig');
    writeFileSync(kc, [
      'apiVersion: v1', 'kind: Config', 'current-context: other',
      'clusters:',
      `- name: replay\n  cluster:\n    server: ${api.url}\n    certificate-authority-data: ${Buffer.from(api.caPem).toString('base64')}`,
      '- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1',
      'contexts:', '- name: replay\n  context:\n    cluster: replay\n    user: sonde', '- name: other\n  context:\n    cluster: nowhere\n    user: sonde',
      'users:', '- name: sonde\n  user:\n    token: replay-token', '',
    ].join('\n'));
    api.requests.length = 0;
    const events = fixture('pods-watch-1.jsonl').trim().split('\n').slice(0, 2);
    api.script.push({ kind: 'list', body: json('pods-list-1.json') }, { kind: 'watch', lines: events, end: 'close' });
    await withProcessor(config({ auth_type: 'kubeConfig', kubeconfig_path: kc, context: 'replay', wait_for_metadata: true }), async (enrich) => {
      assert.equal((await enrich({ 'container.id': ID_DB }))['k8s.statefulset.name'], 'db');
      await until(() => api.requests.filter((r) => r.kind === 'watch').length >= 2, 'second watch');
      assert.equal((await enrich({ 'k8s.pod.uid': UID_WEB }))['k8s.deployment.name'], 'web-v2');
    });
    // A request the previous test's informer sent just before it stopped can reach the server after the
    // reset under load: look only at what this processor sent, from its list on.
    const mine = api.requests.slice(api.requests.findIndex((r) => r.kind === 'list'));
    const watches = mine.filter((r) => r.kind === 'watch');
    assert.equal(watches[1].query.get('resourceVersion'), '1007', `resumed after the last event, no relist: ${JSON.stringify(mine.map((r) => [r.kind, r.query.get('resourceVersion')]))}`);
    assert.equal(mine.filter((r) => r.kind === 'list').length, 1);
    api.script.length = 0;
  });

  test('no API access: data passes through untouched, start reports a recoverable error', async () => {
    const sink = new Sink();
    const host = new TestHost();
    const p = k8sAttributesProcessorFactory.createMetrics!(testSettings('k8sattributes/none', 'processor'), config({ auth_type: 'serviceAccount', service_account_dir: join(tmp, 'missing') }), sink) as Component & MetricsConsumer;
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      await p.start(host);
      await p.consumeMetrics(makeMetrics(resourceFromAttributes({ 'k8s.pod.name': 'x', 'k8s.namespace.name': 'y' })));
    } finally {
      await p.shutdown();
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
    assert.equal(sink.metrics[0][0].resource.attributes['k8s.pod.name'], 'x');
    assert.equal(host.events[0]?.status, 'recoverable_error');
  });

  test('fixture realism: kubectl lists pods through the replay server', async (t) => {
    let kubectl = '';
    try {
      kubectl = execFileSync('which', ['kubectl'], { encoding: 'utf8' }).trim();
    } catch {
      t.skip('kubectl not installed');
      return;
    }
    api.script.push({ kind: 'list', body: json('pods-list-1.json') });
    // Asynchronously: the replay server runs in this process's event loop.
    const { stdout: out } = await promisify(execFile)(kubectl, ['--server', api.url, '--certificate-authority', api.caFile, '--token', 'replay-token', 'get', 'pods', '-A', '-o', 'name', '--request-timeout', '5s'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null', HOME: tmp } });
    assert.deepEqual(out.trim().split('\n').sort(), ['pod/backup-29412345-q7w2e', 'pod/db-0', 'pod/web-7d4b9c6f5-x2k8p']);
  });
});

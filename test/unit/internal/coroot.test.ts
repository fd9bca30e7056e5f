// coroot's container_id / app_id from resource attributes (src/internal/coroot.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CGROUP_PATH_ATTR, corootContainerLabels, workloadFromPodName } from '../../../src/internal/coroot.js';

const k8s = { 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'api-7d9f8c6b5-x2k8p', 'k8s.container.name': 'api' };

test('Kubernetes: owner attributes, else the pod name with controller suffixes stripped', () => {
  assert.deepEqual(corootContainerLabels({ ...k8s, 'k8s.deployment.name': 'api' }), { container_id: '/k8s/shop/api-7d9f8c6b5-x2k8p/api', app_id: '/k8s/shop/api' });
  assert.deepEqual(corootContainerLabels(k8s), { container_id: '/k8s/shop/api-7d9f8c6b5-x2k8p/api', app_id: '/k8s/shop/api' });
  assert.equal(corootContainerLabels({ ...k8s, 'k8s.pod.name': 'db-0' }).app_id, '/k8s/shop/db');
  assert.equal(corootContainerLabels({ ...k8s, 'k8s.pod.name': 'node-exporter-x7k2p' }).app_id, '/k8s/shop/node-exporter');
  assert.equal(workloadFromPodName('standalone'), 'standalone');
});

test('CronJob pods are named after the CronJob', () => {
  assert.deepEqual(corootContainerLabels({ ...k8s, 'k8s.pod.name': 'backup-29412345-q7w2e', 'k8s.container.name': 'backup', 'k8s.job.name': 'backup-29412345', 'k8s.cronjob.name': 'backup' }),
    { container_id: '/k8s-cronjob/shop/backup/backup', app_id: '/k8s-cronjob/shop/backup' });
});

test('pause sandboxes have no identity', () => {
  assert.deepEqual(corootContainerLabels({ ...k8s, 'sonde.container.sandbox': true }), { container_id: '', app_id: '' });
  assert.equal(corootContainerLabels({ ...k8s, 'k8s.container.name': 'POD' }).container_id, '');
});

test('Docker Swarm and Nomad', () => {
  assert.deepEqual(corootContainerLabels({
    'container.name': 'shop_web.1.abc', 'container.runtime': 'docker',
    'container.label.com.docker.stack.namespace': 'shop', 'container.label.com.docker.swarm.service.name': 'shop_web', 'container.label.com.docker.swarm.task.name': 'shop_web.1.abcdef',
  }), { container_id: '/swarm/shop/web/1', app_id: '/swarm/shop/web' });
  assert.deepEqual(corootContainerLabels({
    'container.name': 'api-task', 'container.runtime': 'docker',
    'sonde.nomad.namespace': 'default', 'sonde.nomad.job': 'api', 'sonde.nomad.group': 'web', 'sonde.nomad.alloc_id': '5b3f', 'sonde.nomad.task': 'server',
  }), { container_id: '/nomad/default/api/web/5b3f/server', app_id: '/nomad/default/api/web' });
});

test('plain containers, systemd units, anything else', () => {
  assert.deepEqual(corootContainerLabels({ 'container.name': '/web-1', 'container.runtime': 'docker' }), { container_id: '/docker/web-1', app_id: '/docker/web-1' });
  assert.equal(corootContainerLabels({ 'container.name': 'web', 'container.runtime': 'containerd' }).container_id, '/containerd/web');
  assert.equal(corootContainerLabels({ [CGROUP_PATH_ATTR]: '/system.slice/nginx.service' }).container_id, '/system.slice/nginx.service');
  assert.equal(corootContainerLabels({}).container_id, '');
  assert.equal(corootContainerLabels({ [CGROUP_PATH_ATTR]: '/' }).container_id, '', 'host processes');
});

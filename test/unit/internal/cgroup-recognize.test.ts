// Path recognition on a table of real-world cgroup lines: both cgroup drivers, v1, v2 and hybrid
// /proc/<pid>/cgroup files, each runtime, systemd units, LXC, user sessions and host processes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CgroupInfo } from '../../../src/internal/cgroup/index.js';
import { cgroupPathFromProcFile, normalizeCgroupPath, parseProcCgroup, recognizeCgroup, selectCgroupPath } from '../../../src/internal/cgroup/index.js';

const ID = '93f8b0fa47d5a3de979f0f7c3a88868788c47f6a00927571cea8bc95096e7568';
const ID2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = 'e58ae396-abeb-4e00-97b1-8fb0b93228c1';
const UID_ = UID.replace(/-/g, '_');

type Expect = Omit<CgroupInfo, 'path'>;
const TABLE: Array<[string, string, Expect]> = [
  // --- Kubernetes, cgroupfs driver (kubelet --cgroup-driver=cgroupfs; this machine's CRI test layout)
  ['k8s cgroupfs containerd/docker (bare id), besteffort', `/kubepods/besteffort/pod${UID}/${ID}`,
    { kind: 'container', containerId: ID, podUid: UID, qos: 'besteffort' }],
  ['k8s cgroupfs, burstable', `/kubepods/burstable/pod${UID}/${ID}`, { kind: 'container', containerId: ID, podUid: UID, qos: 'burstable' }],
  ['k8s cgroupfs, guaranteed (no qos level)', `/kubepods/pod${UID}/${ID}`, { kind: 'container', containerId: ID, podUid: UID, qos: 'guaranteed' }],
  ['k8s cgroupfs, CRI-O', `/kubepods/burstable/pod${UID}/crio-${ID}`, { kind: 'container', runtime: 'cri-o', containerId: ID, podUid: UID, qos: 'burstable' }],
  ['k8s cgroupfs, the pod cgroup itself', `/kubepods/besteffort/pod${UID}`, { kind: 'pod', podUid: UID, qos: 'besteffort' }],
  ['k8s qos-level cgroup', '/kubepods/burstable', { kind: 'other' }],
  ['k8s static pod (hash uid)', `/kubepods/burstable/pod6d1b5b8e0c6a1ab7a55aa4cd5df1e63d/${ID}`,
    { kind: 'container', containerId: ID, podUid: '6d1b5b8e0c6a1ab7a55aa4cd5df1e63d', qos: 'burstable' }],
  ['kind/k3d node: kubepods below a docker container', `/docker/${ID2}/kubepods/besteffort/pod${UID}/${ID}`,
    { kind: 'container', containerId: ID, podUid: UID, qos: 'besteffort' }],
  ['k8s with a custom --cgroup-root prefix', `/sonde-e2e-1/kubepods/besteffort/pod${UID}/${ID}`,
    { kind: 'container', containerId: ID, podUid: UID, qos: 'besteffort' }],
  // --- Kubernetes, systemd driver (kubeadm default)
  ['k8s systemd containerd', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { kind: 'container', runtime: 'containerd', containerId: ID, containerdNamespace: 'k8s.io', podUid: UID, qos: 'besteffort', systemdUnit: `cri-containerd-${ID}.scope` }],
  ['k8s systemd CRI-O', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
    { kind: 'container', runtime: 'cri-o', containerId: ID, podUid: UID, qos: 'burstable', systemdUnit: `crio-${ID}.scope` }],
  ['k8s systemd CRI-O conmon', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    { kind: 'other', podUid: UID, qos: 'burstable' }],
  ['k8s systemd docker (cri-dockerd)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope`,
    { kind: 'container', runtime: 'docker', containerId: ID, podUid: UID, qos: 'burstable', systemdUnit: `docker-${ID}.scope` }],
  ['k8s systemd guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { kind: 'container', runtime: 'containerd', containerId: ID, containerdNamespace: 'k8s.io', podUid: UID, qos: 'guaranteed', systemdUnit: `cri-containerd-${ID}.scope` }],
  ['k8s systemd pod slice', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, { kind: 'pod', podUid: UID, qos: 'burstable' }],
  ['containerd v1 systemd form (slice:prefix:id)', `/system.slice/containerd.service/kubepods-burstable-pod${UID_}.slice:cri-containerd:${ID}`,
    { kind: 'container', runtime: 'containerd', containerId: ID, containerdNamespace: 'k8s.io', podUid: UID, qos: 'burstable' }],
  // --- Docker
  ['docker cgroupfs', `/docker/${ID}`, { kind: 'container', runtime: 'docker', containerId: ID }],
  ['docker systemd', `/system.slice/docker-${ID}.scope`, { kind: 'container', runtime: 'docker', containerId: ID, systemdUnit: `docker-${ID}.scope` }],
  ['docker daemon itself', '/system.slice/docker.service', { kind: 'systemd', systemdUnit: 'docker.service' }],
  // --- containerd outside Kubernetes
  ['ctr run, namespace default', '/default/ctr-test1', { kind: 'container', runtime: 'containerd', containerId: 'ctr-test1', containerdNamespace: 'default' }],
  ['nerdctl cgroupfs', `/default/${ID}`, { kind: 'container', runtime: 'containerd', containerId: ID, containerdNamespace: 'default' }],
  ['nerdctl systemd', `/system.slice/nerdctl-${ID}.scope`, { kind: 'container', runtime: 'containerd', containerId: ID, containerdNamespace: 'default', systemdUnit: `nerdctl-${ID}.scope` }],
  ['unknown two-level path is not a containerd container', '/process_api/eefde66c5577d9a8bfc49cd8eaad059d', { kind: 'other' }],
  // --- Podman
  ['podman rootful systemd', `/machine.slice/libpod-${ID}.scope`, { kind: 'container', runtime: 'podman', containerId: ID, systemdUnit: `libpod-${ID}.scope` }],
  ['podman rootless', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`,
    { kind: 'container', runtime: 'podman', containerId: ID, systemdUnit: `libpod-${ID}.scope` }],
  ['podman conmon', `/machine.slice/libpod-conmon-${ID}.scope`, { kind: 'other' }],
  ['podman cgroupfs', `/libpod_parent/libpod-${ID}`, { kind: 'container', runtime: 'podman', containerId: ID }],
  // --- LXC / LXD
  ['lxc 1-3', '/lxc/web01', { kind: 'container', runtime: 'lxc', containerId: 'web01' }],
  ['lxc 4 payload dir', '/lxc.payload/web01', { kind: 'container', runtime: 'lxc', containerId: 'web01' }],
  ['lxc 4+/lxd payload', '/lxc.payload.web01', { kind: 'container', runtime: 'lxc', containerId: 'web01' }],
  ['lxc payload sub-cgroup (init.scope inside)', '/lxc.payload.web01/init.scope', { kind: 'container', runtime: 'lxc', containerId: 'web01' }],
  ['lxc monitor', '/lxc.monitor.web01', { kind: 'other' }],
  // --- systemd units
  ['system service', '/system.slice/nginx.service', { kind: 'systemd', systemdUnit: 'nginx.service' }],
  ['escaped unit name', '/system.slice/system-getty.slice/getty@tty1.service', { kind: 'systemd', systemdUnit: 'getty@tty1.service' }],
  ['\\x2d escape', '/system.slice/systemd-fsck@dev-disk-by\\x2duuid-1234.service', { kind: 'systemd', systemdUnit: 'systemd-fsck@dev-disk-by-uuid-1234.service' }],
  ['delegated sub-cgroup of a unit', '/system.slice/containerd.service/sub', { kind: 'systemd', systemdUnit: 'containerd.service' }],
  ['runtime.slice (kubelet on some distros)', '/runtime.slice/kubelet.service', { kind: 'systemd', systemdUnit: 'kubelet.service' }],
  ['azure.slice', '/azure.slice/walinuxagent.service', { kind: 'systemd', systemdUnit: 'walinuxagent.service' }],
  ['a bare slice', '/system.slice', { kind: 'other' }],
  // --- sessions and the host
  ['user session', '/user.slice/user-1000.slice/session-3.scope', { kind: 'user', systemdUnit: 'session-3.scope' }],
  ['systemd user manager', '/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service', { kind: 'user', systemdUnit: 'user@1000.service' }],
  ['host root', '/', { kind: 'host' }],
  ['systemd PID 1', '/init.scope', { kind: 'host' }],
  ['something else', '/my/custom/group', { kind: 'other' }],
];

describe('recognizeCgroup: real-world paths', () => {
  for (const [name, path, want] of TABLE) {
    test(name, () => {
      assert.deepEqual(recognizeCgroup(path), { path, ...want });
    });
  }
  test('containerd namespaces are configurable', () => {
    assert.equal(recognizeCgroup('/sonde-e2e/ctr1').kind, 'other');
    assert.deepEqual(recognizeCgroup('/sonde-e2e/ctr1', { containerdNamespaces: ['sonde-e2e'] }),
      { path: '/sonde-e2e/ctr1', kind: 'container', runtime: 'containerd', containerId: 'ctr1', containerdNamespace: 'sonde-e2e' });
  });
});

// Full /proc/<pid>/cgroup files → the path Sonde keys by.
const FILES: Array<[string, string, string]> = [
  ['pure v2 (systemd driver)', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`],
  ['pure v1 (docker, cgroupfs, cpu,cpuacct co-mounted)', [
    '12:pids:/docker/' + ID, '11:hugetlb:/docker/' + ID, '10:net_cls,net_prio:/docker/' + ID, '9:cpu,cpuacct:/docker/' + ID,
    '8:blkio:/docker/' + ID, '7:memory:/docker/' + ID, '1:name=systemd:/docker/' + ID, ''].join('\n'), `/docker/${ID}`],
  ['hybrid, CRI container (this machine, test-peers §4)', [
    `9:name=systemd:/kubepods/besteffort/pod${UID}/${ID}`, `8:pids:/kubepods/besteffort/pod${UID}/${ID}`, `4:memory:/kubepods/besteffort/pod${UID}/${ID}`,
    `1:cpu:/kubepods/besteffort/pod${UID}/${ID}`, `0::/kubepods/besteffort/pod${UID}/${ID}`, ''].join('\n'), `/kubepods/besteffort/pod${UID}/${ID}`],
  ['hybrid, runtime left unified alone: v1 wins', ['9:name=systemd:/docker/' + ID, '4:memory:/docker/' + ID, '0::/', ''].join('\n'), `/docker/${ID}`],
  ['hybrid, only one v1 controller moved (this sandbox)', ['9:name=systemd:/', '4:memory:/process_api/eefde66c', '1:cpu:/', '0::/', ''].join('\n'), '/process_api/eefde66c'],
  ['host process on hybrid systemd', ['12:cpu,cpuacct:/', '1:name=systemd:/init.scope', '0::/init.scope', ''].join('\n'), '/init.scope'],
  ['host process in the root', ['1:cpu:/', '0::/', ''].join('\n'), '/'],
  ['agent in a private cgroup namespace', `0::/../../kubepods/burstable/pod${UID}/${ID}\n`, `/kubepods/burstable/pod${UID}/${ID}`],
  ['empty file', '', '/'],
];

describe('the cgroup path of a process (/proc/<pid>/cgroup)', () => {
  for (const [name, text, want] of FILES) {
    test(name, () => assert.equal(cgroupPathFromProcFile(text), want));
  }
  test('parseProcCgroup keeps every controller of co-mounted hierarchies', () => {
    const pc = parseProcCgroup(`9:cpu,cpuacct:/docker/${ID}\n0::/\n`);
    assert.equal(pc.v1.get('cpu'), `/docker/${ID}`);
    assert.equal(pc.v1.get('cpuacct'), `/docker/${ID}`);
    assert.equal(pc.v2, '/');
    assert.equal(selectCgroupPath(pc), `/docker/${ID}`);
  });
  test('normalizeCgroupPath', () => {
    assert.equal(normalizeCgroupPath('/../..'), '/');
    assert.equal(normalizeCgroupPath('/a/b/'), '/a/b');
    assert.equal(normalizeCgroupPath(''), '/');
    assert.equal(normalizeCgroupPath('/docker/x (deleted)'), '/docker/x');
  });
});

// Container disks (src/receivers/cgroups/disks.ts): mountinfo parsing and filtering on fixtures
// (test/fixtures/mountinfo: a Docker container with a named volume, a bind mount with a space, file
// mounts, a read-only bind, a tmpfs hiding a volume, fuseblk and sshfs; a Kubernetes pod with a PVC, a
// PVC subPath, an emptyDir, an emptyDir subPath, a configMap, a local-path PVC and NFS; the node it runs
// on; a plain host with LVM, btrfs, zfs, snaps, CIFS and FUSE), volume names from the kubelet's layout,
// the join of the disk I/O counters with the mounts, the collector on a fake /proc (one mount table per
// mount namespace, failures counted, never thrown), and the receiver end to end on a fake root.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { Component } from '../../../src/component/component.js';
import { CGROUP_PATH_ATTR } from '../../../src/internal/coroot.js';
import type { DiskMount, StatFsLike } from '../../../src/receivers/cgroups/disks.js';
import { DiskCollector, diskMounts, HostMounts, joinDiskIo, kubernetesVolume, parseMountinfo, skipReason, unescapeMountinfo } from '../../../src/receivers/cgroups/disks.js';
import type { CgroupsConfig } from '../../../src/receivers/cgroups/config.js';
import { createCgroupsReceiverFactory } from '../../../src/receivers/cgroups/factory.js';
import { DeviceNames } from '../../../src/receivers/cgroups/stats.js';
import { createLogger } from '../../../src/service/logger.js';
import { SelfTelemetry } from '../../../src/service/telemetry.js';
import { fixturesDir } from '../../helpers/paths.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const tmp = mkdtempSync(join(tmpdir(), 'sonde-disks-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const fixture = (name: string): string => readFileSync(fixturesDir('mountinfo', name), 'utf8');
const POD_UID = 'e58ae396-abeb-4e00-97b1-8fb0b93228c1';
const PVC = 'pvc-90af9c02-ec70-446a-a16a-3ce17d4f42b4';
const LOCAL_PVC = 'pvc-d0c0cc92-ef36-4b4f-90c0-5c5ed489df0b';
const points = (text: string): string[] => diskMounts(parseMountinfo(text)).map((e) => e.mountPoint);

describe('mountinfo', () => {
  test('fields, optional fields, octal escapes; malformed lines are skipped', () => {
    const [e, f] = parseMountinfo([
      '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue',
      '37 35 8:1 /a\\040b /c\\011d\\134e rw - ext4 /dev/sda\\0401 rw',
      'garbage',
      '38 35 8:1 / /x rw - ext4', // no source
      '',
    ].join('\n'));
    assert.deepEqual(e, { id: 36, parent: 35, majMin: '98:0', root: '/mnt1', mountPoint: '/mnt2', options: ['rw', 'noatime'], fstype: 'ext3', source: '/dev/root' });
    assert.deepEqual([f.root, f.mountPoint, f.source], ['/a b', '/c\td\\e', '/dev/sda 1']);
    assert.equal(parseMountinfo(fixture('k8s-pod')).length, 22);
    assert.equal(unescapeMountinfo('plain'), 'plain');
  });

  test('a Docker container: volume and bind mounts (file mounts too: the collector\'s stat drops them); not read-only, hidden, pseudo or FUSE ones', () => {
    const entries = parseMountinfo(fixture('docker'));
    assert.deepEqual(points(fixture('docker')), ['/var/lib/postgresql/data', '/srv/app files', '/etc/resolv.conf', '/etc/hostname', '/etc/hosts']);
    const reason = (mp: string) => skipReason(entries.find((e) => e.mountPoint === mp)!);
    assert.equal(reason('/'), 'pseudo', 'overlay root');
    assert.equal(reason('/mnt/backup'), 'read-only');
    assert.equal(reason('/media/usb'), 'remote', 'fuseblk has a block device but statfs goes to a daemon');
    assert.equal(reason('/mnt/remote'), 'remote');
    assert.equal(reason('/run/cache'), 'pseudo');
    // /hidden: the volume is covered by a tmpfs mounted on top of it (parent = the volume's mount)
    assert.equal(entries.filter((e) => e.mountPoint === '/hidden').length, 2);
    assert.ok(!points(fixture('docker')).includes('/hidden'));
  });

  test('a Kubernetes pod: PVC, PVC subPath, emptyDir, emptyDir subPath, local-path PVC; configMap (read-only), secrets (tmpfs), NFS skipped', () => {
    assert.deepEqual(points(fixture('k8s-pod')), [
      '/var/lib/postgresql/data', '/var/lib/postgresql/pgdata', '/cache', '/scratch',
      '/etc/hosts', '/dev/termination-log', '/etc/hostname', '/etc/resolv.conf', '/var/lib/mysql',
    ]);
  });

  test('the node: the kubelet\'s mounts of pods\' volumes and CSI staging are the pods\' business', () => {
    const entries = parseMountinfo(fixture('k8s-node'));
    assert.deepEqual(points(fixture('k8s-node')), ['/', '/boot/efi']);
    for (const e of entries.filter((x) => x.mountPoint.startsWith('/var/lib/kubelet/') && !x.majMin.startsWith('0:'))) assert.equal(skipReason(e), 'kubelet', e.mountPoint);
  });

  test('a host: LVM, btrfs and zfs (anonymous devices) count; snaps, CIFS, FUSE do not', () => {
    assert.deepEqual(points(fixture('host')), ['/', '/home', '/boot', '/srv', '/tank/data', '/var/lib/docker']);
  });
});

describe('volume names', () => {
  test('from the kubelet\'s directory layout (coroot\'s rules: persistent volumes named, ephemeral ones not)', () => {
    const pods = `/var/lib/kubelet/pods/${POD_UID}`;
    assert.deepEqual(kubernetesVolume(`${pods}/volumes/kubernetes.io~csi/${PVC}/mount`), { plugin: 'kubernetes.io~csi', name: PVC });
    assert.deepEqual(kubernetesVolume(`${pods}/volumes/kubernetes.io~csi/static-pv-1/mount/sub/dir`), { plugin: 'kubernetes.io~csi', name: 'static-pv-1' });
    assert.deepEqual(kubernetesVolume(`${pods}/volumes/kubernetes.io~local-volume/local-pv-7c1e`), { plugin: 'kubernetes.io~local-volume', name: 'local-pv-7c1e' });
    assert.deepEqual(kubernetesVolume(`${pods}/volume-subpaths/${PVC}/db/0`), { name: PVC });
    for (const p of ['empty-dir', 'configmap', 'secret', 'projected', 'downward-api']) assert.equal(kubernetesVolume(`${pods}/volumes/kubernetes.io~${p}/data`)?.name, '', p);
    assert.equal(kubernetesVolume(`/var/lib/rancher/k3s/storage/${LOCAL_PVC}_default_data`)?.name, LOCAL_PVC);
    assert.equal(kubernetesVolume(`/var/snap/microk8s/common/default-storage/coroot-data-${LOCAL_PVC}`)?.name, LOCAL_PVC);
    assert.equal(kubernetesVolume(`${pods}/etc-hosts`), undefined);
    assert.equal(kubernetesVolume('/var/lib/docker/volumes/pgdata/_data'), undefined, 'Docker volumes are not Kubernetes volumes');
    assert.equal(kubernetesVolume('/data/pods/x/volumes/notaplugin/y'), undefined, 'plugin directories are escaped vendor~name');
  });

  test('a pod\'s mounts resolved through the node\'s mount table', () => {
    const host = new HostMounts(parseMountinfo(fixture('k8s-node')));
    const pod = new Map(diskMounts(parseMountinfo(fixture('k8s-pod'))).map((e) => [e.mountPoint, e]));
    const vol = (mp: string) => host.volume(pod.get(mp)!);
    // The PVC is mounted from its own disk (root "/"): only the node knows the kubelet path.
    assert.equal(vol('/var/lib/postgresql/data'), PVC);
    // Its subPath: the subPath's own bind mount and the volume's mount both lead there; the volumes/ path names the plugin.
    assert.deepEqual(host.sourcePaths(pod.get('/var/lib/postgresql/pgdata')!), [
      `/var/lib/kubelet/pods/${POD_UID}/volume-subpaths/${PVC}/db/2`,
      `/var/lib/kubelet/plugins/kubernetes.io/csi/ebs.csi.aws.com/5b1e0c2f3d4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c/globalmount/pg`,
      `/var/lib/kubelet/pods/${POD_UID}/volumes/kubernetes.io~csi/${PVC}/mount/pg`,
    ]);
    assert.equal(vol('/var/lib/postgresql/pgdata'), PVC);
    assert.equal(vol('/cache'), '', 'emptyDir');
    // An emptyDir's subPath: the subPath mount says "cache", the volumes/ path says it is an emptyDir.
    assert.equal(vol('/scratch'), '');
    assert.equal(vol('/var/lib/mysql'), LOCAL_PVC, 'k3s local-path storage');
    assert.equal(vol('/etc/hosts'), '');
    // Without the node's table (unreadable), a mount whose own root is a kubelet path still resolves.
    assert.equal(new HostMounts([]).volume(pod.get('/cache')!), '');
    assert.equal(new HostMounts([]).volume(pod.get('/var/lib/postgresql/data')!), '');
  });
});

describe('disk I/O counters joined with the mounts', () => {
  const io = (n: number) => ({ reads: n, writes: n, readBytes: n, writtenBytes: n });
  const m = (mountPoint: string, disk: string | undefined, volume = ''): DiskMount => ({ mountPoint, disk, device: disk ?? '', volume });

  test('one mount point per disk (the shortest, then the first), unmounted disks with empty labels', () => {
    const rows = joinDiskIo(new Map([['259:0', io(1)], ['259:3', io(2)], ['8:0', io(3)]]), [
      m('/scratch', '259:0'), m('/cache', '259:0'), m('/var/lib/mysql', '259:0', LOCAL_PVC),
      m('/var/lib/postgresql/pgdata', '259:3', PVC), m('/var/lib/postgresql/data', '259:3', PVC),
      m('/tank', undefined), m('/aaaa', '259:9'),
    ]);
    assert.deepEqual(rows.map((r) => [r.majMin, r.mountPoint, r.volume, r.io.reads]), [
      ['259:0', '/cache', '', 1],
      ['259:3', '/var/lib/postgresql/data', PVC, 2],
      ['8:0', '', '', 3],
    ]);
    // Equal lengths: the first in mount-table order.
    assert.equal(joinDiskIo(new Map([['8:0', io(1)]]), [m('/b', '8:0'), m('/a', '8:0')])[0].mountPoint, '/b');
    assert.deepEqual(joinDiskIo(new Map(), [m('/a', '8:0')]), []);
  });
});

/** A fake `<root>/proc` and `<root>/sys`: processes with a mount table, a namespace link and a root directory. */
class FakeProc {
  readonly root: string;
  constructor(name: string) {
    this.root = join(tmp, name);
    // the agent's own stat: the collector checks that <root>/proc/<its pid> is itself
    mkdirSync(join(this.root, 'proc', String(process.pid)), { recursive: true });
    writeFileSync(join(this.root, 'proc', String(process.pid), 'stat'), readFileSync('/proc/self/stat')); // (procfs sizes are 0: no copyFile)
    // devices: nvme0n1 (259:0) with partition nvme0n1p2 (259:2); nvme1n1 (259:3), a whole disk
    this.#device('259:0', 'nvme0n1', '259:0');
    this.#device('259:2', 'nvme0n1/nvme0n1p2', '259:2', true);
    this.#device('259:3', 'nvme1n1', '259:3');
  }

  #device(majMin: string, rel: string, dev: string, partition = false): void {
    const dir = join(this.root, 'sys/devices/pci0000:00/nvme', rel);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'dev'), `${dev}\n`);
    if (partition) writeFileSync(join(dir, 'partition'), '2\n');
    mkdirSync(join(this.root, 'sys/dev/block'), { recursive: true });
    symlinkSync(join('../../devices/pci0000:00/nvme', rel), join(this.root, 'sys/dev/block', majMin));
  }

  /** pid with `mountinfo` in namespace `ns`; its root holds a directory per mount point, files for `files`. */
  process(pid: number, mountinfo: string, ns: string, files: string[] = []): void {
    const d = join(this.root, 'proc', String(pid));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'mountinfo'), mountinfo);
    mkdirSync(join(d, 'ns'), { recursive: true });
    symlinkSync(`mnt:[${ns}]`, join(d, 'ns', 'mnt'));
    const fsRoot = join(this.root, 'fs', String(pid));
    for (const e of parseMountinfo(mountinfo)) {
      const p = join(fsRoot, e.mountPoint);
      if (files.includes(e.mountPoint)) {
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, '');
      } else {
        mkdirSync(p, { recursive: true });
      }
    }
    symlinkSync(fsRoot, join(d, 'root'));
  }

  hostTable(mountinfo: string): void {
    mkdirSync(join(this.root, 'proc', '1'), { recursive: true });
    writeFileSync(join(this.root, 'proc', '1', 'mountinfo'), mountinfo);
  }

  cgroup(name: string, pids: number[]): string {
    const d = join(this.root, 'cg', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
    return d;
  }
}

const POD_FILES = ['/etc/hosts', '/dev/termination-log', '/etc/hostname', '/etc/resolv.conf'];

/** statfs by mount point: 4 KiB blocks, 1000 per GiB; the PVC 10 GiB, the rest 100 GiB. */
function fakeStatfs(calls: string[] = []): (p: string) => StatFsLike {
  return (p) => {
    calls.push(p);
    if (p.endsWith('/broken')) throw Object.assign(new Error('EIO'), { code: 'EIO' });
    const gib = p.includes('/var/lib/postgresql/') ? 10 : 100;
    return { bsize: 4096, blocks: gib * 262144, bfree: gib * 262144 * 0.75, bavail: gib * 262144 * 0.70 };
  };
}

describe('DiskCollector on a fake /proc', () => {
  test('one mount table per mount namespace; file mounts dropped; usage from statfs; a gone process is skipped', () => {
    const f = new FakeProc('collector');
    f.hostTable(fixture('k8s-node'));
    f.process(4242, fixture('k8s-pod'), '4026532100', POD_FILES);
    f.process(4243, fixture('k8s-pod'), '4026532100', POD_FILES); // a second container of the same namespace
    f.process(5000, fixture('k8s-node'), '4026531841');
    const calls: string[] = [];
    const c = new DiskCollector({ rootPath: f.root, devices: new DeviceNames(join(f.root, 'sys')), logger: createLogger({ write: () => {} }), statfs: fakeStatfs(calls) });
    const out = c.collect([
      { key: 'pod', dir: f.cgroup('pod', [99999, 4242]) }, // 99999 exited: its mount table is unreadable
      { key: 'sidecar', dir: f.cgroup('sidecar', [4243]) },
      { key: 'host', dir: f.cgroup('host', [5000]) },
      { key: 'empty', dir: f.cgroup('empty', []) },
    ]);
    assert.deepEqual(c.lastStats, { namespaces: 2, mountinfoReads: 3, statfs: 5 + 2 }, 'pod namespace once, host namespace once, the node table once');
    const pod = out.get('pod')!;
    assert.equal(out.get('sidecar'), pod, 'shared');
    assert.deepEqual(pod.map((m) => [m.mountPoint, m.disk, m.device, m.volume]), [
      ['/var/lib/postgresql/data', '259:3', 'nvme1n1', PVC],
      ['/var/lib/postgresql/pgdata', '259:3', 'nvme1n1', PVC],
      ['/cache', '259:0', 'nvme0n1', ''],
      ['/scratch', '259:0', 'nvme0n1', ''],
      ['/var/lib/mysql', '259:0', 'nvme0n1', LOCAL_PVC],
    ]);
    const data = pod[0];
    assert.deepEqual([data.size, data.used, data.reserved], [10 * 2 ** 30, 2.5 * 2 ** 30, 0.5 * 2 ** 30]);
    assert.deepEqual(out.get('host')!.map((m) => [m.mountPoint, m.device]), [['/', 'nvme0n1'], ['/boot/efi', '259:1']], 'a device unknown to sysfs keeps its number');
    assert.equal(out.has('empty'), false);
    assert.ok(calls.every((p) => p.startsWith(join(f.root, 'proc'))), 'statfs through /proc/<pid>/root');
    assert.ok(calls.some((p) => p === join(f.root, 'proc/4242/root/var/lib/postgresql/data')));
  });

  test('a failing statfs is counted and logged once, its mount kept without usage; nothing throws', () => {
    const f = new FakeProc('errors');
    f.process(4300, '10 1 8:1 / / rw - ext4 /dev/sda1 rw\n11 10 8:1 /x /broken rw - ext4 /dev/sda1 rw\n', '4026532200');
    const lines: string[] = [];
    const errors: string[] = [];
    const c = new DiskCollector({ rootPath: f.root, devices: new DeviceNames(join(f.root, 'sys')), logger: createLogger({ write: (l) => lines.push(l) }), onError: (e) => errors.push(e), statfs: fakeStatfs() });
    const dir = f.cgroup('c', [4300]);
    for (let i = 0; i < 3; i++) {
      const m = c.collect([{ key: 'c', dir }]).get('c')!;
      assert.deepEqual(m.map((x) => [x.mountPoint, x.size !== undefined]), [['/', true], ['/broken', false]]);
    }
    assert.deepEqual(errors, ['EIO', 'EIO', 'EIO']);
    assert.equal(lines.filter((l) => /could not be examined/.test(l)).length, 1);
  });

  test('zfs and btrfs (anonymous device numbers): btrfs is named after its source disk, zfs has none', () => {
    const f = new FakeProc('anon');
    mkdirSync(join(f.root, 'sys/class/block/nvme1n1'), { recursive: true });
    writeFileSync(join(f.root, 'sys/class/block/nvme1n1/dev'), '259:3\n');
    f.process(4500, '10 1 0:45 / / rw - btrfs /dev/nvme1n1 rw,subvol=/@\n11 10 0:50 / /tank rw - zfs tank/data rw\n12 10 0:46 / /mnt rw - btrfs /dev/mapper/gone rw\n', '4026532400');
    const c = new DiskCollector({ rootPath: f.root, devices: new DeviceNames(join(f.root, 'sys')), logger: createLogger({ write: () => {} }), statfs: fakeStatfs() });
    const m = c.collect([{ key: 'c', dir: f.cgroup('c', [4500]) }]).get('c')!;
    assert.deepEqual(m.map((x) => [x.mountPoint, x.disk, x.device, x.size !== undefined]), [['/', '259:3', 'nvme1n1', true], ['/tank', undefined, '', true], ['/mnt', undefined, '', true]]);
  });

  test('pids of another PID namespace: nothing is read, one warning', () => {
    const f = new FakeProc('pidns');
    f.process(4400, fixture('docker'), '4026532300');
    const lines: string[] = [];
    const c = new DiskCollector({ rootPath: f.root, devices: new DeviceNames(join(f.root, 'sys')), logger: createLogger({ write: (l) => lines.push(l) }), selfPid: 1, statfs: fakeStatfs() });
    const dir = f.cgroup('c', [4400]);
    assert.equal(c.collect([{ key: 'c', dir }]).size, 0);
    assert.equal(c.collect([{ key: 'c', dir }]).size, 0);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /not this process.*hostPID/);
  });
});

describe('cgroups receiver with container disks (fake root, cgroup v2)', () => {
  const f = new FakeProc('receiver');
  f.hostTable(fixture('k8s-node'));
  f.process(4242, fixture('k8s-pod'), '4026532100', POD_FILES);
  const cg = join(f.root, 'sys/fs/cgroup');
  mkdirSync(cg, { recursive: true });
  writeFileSync(join(cg, 'cgroup.controllers'), 'cpu memory io');
  writeFileSync(join(cg, 'cgroup.procs'), '');
  const ID = 'ab'.repeat(32);
  const path = `/kubepods.slice/kubepods-pod${POD_UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`;
  const dir = join(cg, path);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.procs'), '4242\n');
  writeFileSync(join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
  writeFileSync(join(dir, 'io.stat'), '259:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n259:3 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=1 rios=1 wios=1 dbytes=0 dios=0\n');

  async function scrape(over: Partial<CgroupsConfig> = {}): Promise<Map<string, MetricData>> {
    const factory = createCgroupsReceiverFactory({ statfs: fakeStatfs(), taskstats: () => { throw new Error('no taskstats in this test'); } });
    const d = factory.createDefaultConfig();
    const none = [join(tmp, 'none.sock')];
    const cfg: CgroupsConfig = { ...d, root_path: f.root, collection_interval: 3_600_000, metadata: false, delay_accounting: 'off', runtimes: { ...d.runtimes, docker: { enabled: false, endpoints: none }, containerd: { ...d.runtimes.containerd, enabled: false }, crio: { enabled: false, endpoints: none } }, ...over };
    const sink = new Sink();
    const r = factory.createMetrics!(testSettings('cgroups/disks', 'receiver', new SelfTelemetry()), cfg, sink) as Component;
    await r.start(new TestHost());
    try {
      await sink.waitFor(() => sink.metrics.length > 0, 5000, 'a scrape');
    } finally {
      await r.shutdown();
    }
    const rm = sink.metrics[0].find((x) => x.resource.attributes[CGROUP_PATH_ATTR] === path);
    assert.ok(rm, `${path} reported`);
    return new Map(rm.scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m]));
  }
  const series = (m: Map<string, MetricData>, name: string): Array<Record<string, string | number>> => (m.get(name)?.dataPoints ?? []).map((p) => ({ ...(p.attributes as Record<string, string>), value: p.value as number }));

  test('size/used/reserved per mount point; the I/O counters carry mount_point and volume', async () => {
    const m = await scrape();
    const GiB = 2 ** 30;
    assert.deepEqual(series(m, 'container_resources_disk_size_bytes'), [
      { mount_point: '/var/lib/postgresql/data', device: 'nvme1n1', volume: PVC, value: 10 * GiB },
      { mount_point: '/var/lib/postgresql/pgdata', device: 'nvme1n1', volume: PVC, value: 10 * GiB },
      { mount_point: '/cache', device: 'nvme0n1', volume: '', value: 100 * GiB },
      { mount_point: '/scratch', device: 'nvme0n1', volume: '', value: 100 * GiB },
      { mount_point: '/var/lib/mysql', device: 'nvme0n1', volume: LOCAL_PVC, value: 100 * GiB },
    ]);
    assert.equal(series(m, 'container_resources_disk_used_bytes')[0].value, 2.5 * GiB);
    assert.equal(series(m, 'container_resources_disk_reserved_bytes')[0].value, 0.5 * GiB);
    assert.equal(m.get('container_resources_disk_size_bytes')!.descriptor.description, 'Total capacity of the volume');
    assert.deepEqual(series(m, 'container_resources_disk_written_bytes_total'), [
      { mount_point: '/cache', device: 'nvme0n1', volume: '', value: 8192 },
      { mount_point: '/var/lib/postgresql/data', device: 'nvme1n1', volume: PVC, value: 200 },
      { mount_point: '', device: '8:0', volume: '', value: 1 },
    ]);
    // One label set per metric: every point has the same keys.
    for (const name of ['container_resources_disk_reads_total', 'container_resources_disk_read_bytes_total', 'container_resources_disk_writes_total', 'container_resources_disk_written_bytes_total', 'container_resources_disk_size_bytes', 'container_resources_disk_used_bytes', 'container_resources_disk_reserved_bytes']) {
      const keys = new Set(m.get(name)!.dataPoints.map((p) => Object.keys(p.attributes).sort().join(',')));
      assert.deepEqual([...keys], ['device,mount_point,volume'], name);
    }
  });

  test('disk_usage: false: no gauges, the counters keep their labels with empty mount_point and volume', async () => {
    const m = await scrape({ disk_usage: false });
    assert.equal(m.has('container_resources_disk_size_bytes'), false);
    assert.deepEqual(series(m, 'container_resources_disk_reads_total').map((p) => [p.mount_point, p.device, p.volume]), [['', 'nvme0n1', ''], ['', 'nvme1n1', ''], ['', '8:0', '']]);
  });
});

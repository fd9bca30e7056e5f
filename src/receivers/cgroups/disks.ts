// container_resources_disk_{size,used,reserved}_bytes{mount_point, device, volume}, and the mount_point and
// volume labels of the disk I/O counters, from the mount table of one of a container's processes, as
// coroot-node-agent reports them (compat.md §3.1).
//
// Per collection and container: the first readable process of its cgroup; its mount namespace
// (/proc/<pid>/ns/mnt) is the cache key, so containers sharing a namespace (every process of the host,
// systemd services without private mounts) cost one mountinfo read and one statfs per mount between them.
// For each mount that is disk-backed, writable, a directory and not the kubelet's copy of a pod's volume:
// statfs through /proc/<pid>/root/<mount point> (the mount as that process sees it, in its own
// namespace): size = blocks × bsize, used = (blocks − bfree) × bsize, reserved = (bfree − bavail) × bsize,
// coroot's definitions.
//
// What coroot does (read in coroot-node-agent, not copied): it learns a container's mounts from the files
// its processes open for writing (eBPF open events → /proc/<pid>/fdinfo mnt_id → /proc/<pid>/mountinfo),
// keeps mounts with a non-zero major (and zfs), statfs's them through /proc/<pid>/root, names the device
// after the parent disk in /proc/diskstats (a whitelist regexp: sdX, vdX, xvdX, hdX, nvmeXnY, dm-N, mdN;
// anything else, e.g. loop, gets device=""), takes `volume` from the container runtime's mount source
// (`…/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`, `…/volume-subpaths/<name>/…`: the name of a
// persistent volume, "" for emptyDir, configMap, secret and projected volumes), and emits the disk I/O
// counters only for mounted devices, once per mount point of the device (the same counter repeated).
// Sonde's choices where it differs are in README.md ("Disks").
import { readFileSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../service/logger.js';
import { cgroupPids, seesHostProcesses } from './delays.js';
import type { DeviceIo } from './stats.js';
import type { DeviceNames } from './stats.js';

/** One line of /proc/<pid>/mountinfo (proc_pid_mountinfo(5)). */
export interface MountinfoEntry {
  readonly id: number;
  readonly parent: number;
  /** st_dev of the filesystem: a block device's, or an anonymous 0:N (tmpfs, overlay, nfs, btrfs…). */
  readonly majMin: string;
  /** The directory of the filesystem mounted here (a bind mount's source, relative to its filesystem). */
  readonly root: string;
  /** Where it is mounted, relative to the process's root. */
  readonly mountPoint: string;
  /** Per-mount options (`rw`/`ro`, `nosuid`, …). */
  readonly options: readonly string[];
  readonly fstype: string;
  /** The filesystem's source (`/dev/sda1`, `server:/export`, `overlay`…). */
  readonly source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
export function unescapeMountinfo(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

/** Parses /proc/<pid>/mountinfo; malformed lines are skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 10) continue;
    const sep = f.indexOf('-', 6); // optional fields (shared:N, master:N…) end with a lone "-"
    if (sep < 0 || sep + 2 >= f.length || !/^\d+:\d+$/.test(f[2])) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      majMin: f[2],
      root: unescapeMountinfo(f[3]),
      mountPoint: unescapeMountinfo(f[4]),
      options: f[5].split(','),
      fstype: f[sep + 1],
      source: unescapeMountinfo(f[sep + 2]),
    });
  }
  return out;
}

/**
 * Filesystems never statfs'd: a statfs of a network or FUSE filesystem goes to a server or a user-space
 * daemon and can block for as long as it is unreachable (an NFS hard mount: forever), on the agent's only
 * thread. Most of them have an anonymous device (0:N) and are skipped as not disk-backed anyway;
 * `fuseblk` (ntfs-3g, exfat-fuse) has a real block device, hence the explicit list.
 */
const REMOTE_OR_FUSE = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'ceph', 'glusterfs', 'gfs2', 'ocfs2', '9p', 'afs', 'lustre', 'gpfs', 'beegfs', 'orangefs', 'pvfs2', 'davfs', 'virtiofs', 'fuse', 'fuseblk']);

/** Disk-backed filesystems whose mounts have an anonymous device number (coroot keeps zfs; btrfs likewise). */
const ANON_DEV_DISK_FS = new Set(['zfs', 'btrfs']);

/** Where the kubelet mounts pods' volumes on the host (plugin directories are escaped `vendor~name`). */
const KUBELET_VOLUME_MOUNT = /\/pods\/[^/]+\/(volumes\/[^/]+~[^/]+|volume-subpaths)\/|\/plugins\/kubernetes\.io\//;

export type SkipReason = 'remote' | 'pseudo' | 'read-only' | 'kubelet';

/**
 * Why a mount is not a container disk, or undefined when it is one: remote and FUSE filesystems (never
 * statfs'd), pseudo filesystems (an anonymous device: proc, tmpfs, overlay, cgroup…; zfs and btrfs
 * excepted), read-only mounts (nothing can be written there: coroot only reports mounts written to),
 * and the kubelet's mounts of pods' volumes (seen by the kubelet, CSI node plugins and host services,
 * reported for the pods that mount them).
 */
export function skipReason(e: MountinfoEntry): SkipReason | undefined {
  if (REMOTE_OR_FUSE.has(e.fstype) || e.fstype.startsWith('fuse.') || e.fstype.startsWith('nfs')) return 'remote';
  if (e.majMin.startsWith('0:') && !ANON_DEV_DISK_FS.has(e.fstype)) return 'pseudo';
  if (e.options.includes('ro')) return 'read-only';
  if (KUBELET_VOLUME_MOUNT.test(e.mountPoint)) return 'kubelet';
  return undefined;
}

/**
 * The candidate disk mounts of a mount table, one per mount point: of the mounts stacked on one point the
 * top one (no other mount at that point has it as parent) is what a path reaches, so a disk hidden under
 * a tmpfs is not reported, nor a tmpfs hiding nothing.
 */
export function diskMounts(entries: readonly MountinfoEntry[]): MountinfoEntry[] {
  const byPoint = new Map<string, MountinfoEntry[]>();
  for (const e of entries) {
    const l = byPoint.get(e.mountPoint);
    if (l) l.push(e);
    else byPoint.set(e.mountPoint, [e]);
  }
  const out: MountinfoEntry[] = [];
  for (const stack of byPoint.values()) {
    const covered = new Set(stack.map((e) => e.parent));
    const top = stack.filter((e) => !covered.has(e.id)).at(-1) ?? stack[stack.length - 1];
    if (skipReason(top) === undefined) out.push(top);
  }
  return out;
}

const POD_VOLUME = /\/pods\/[^/]+\/volumes\/([^/]+~[^/]+)\/([^/]+)/;
const POD_SUBPATH = /\/pods\/[^/]+\/volume-subpaths\/([^/]+)\//;
const PVC_NAME = /pvc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** Volume plugins whose content lives and dies with the pod: no volume name, as coroot does. */
const EPHEMERAL_PLUGINS = new Set(['kubernetes.io~empty-dir', 'kubernetes.io~configmap', 'kubernetes.io~secret', 'kubernetes.io~projected', 'kubernetes.io~downward-api', 'kubernetes.io~git-repo']);

/**
 * The Kubernetes volume behind a host path, from the kubelet's layout:
 * - `…/pods/<uid>/volumes/<plugin>/<name>[/…]`: `<name>` is the persistent volume's name for a PVC
 *   (`pvc-<uuid>` when provisioned dynamically) or the pod's volume name for an inline volume. Ephemeral
 *   plugins (emptyDir, configMap, secret, projected, downwardAPI, gitRepo) give '' (coroot's rule).
 * - `…/pods/<uid>/volume-subpaths/<name>/<container>/<index>` (a subPath mount): `<name>`, same naming;
 *   the plugin is not in the path, so the caller prefers a `volumes/` path of the same mount.
 * - a `pvc-<uuid>` anywhere (k3s and microk8s local-path storage: `/var/lib/rancher/k3s/storage/pvc-…_ns_claim`).
 * undefined: the path says nothing (not a Kubernetes volume).
 */
export function kubernetesVolume(path: string): { name: string; plugin?: string } | undefined {
  const v = POD_VOLUME.exec(path);
  if (v) return { plugin: v[1], name: EPHEMERAL_PLUGINS.has(v[1]) ? '' : v[2] };
  const s = POD_SUBPATH.exec(path);
  if (s) return { name: s[1] };
  const p = PVC_NAME.exec(path);
  if (p) return { name: p[0] };
  return undefined;
}

/** Host mounts indexed by device, to find where a container's mount comes from on the host. */
export class HostMounts {
  readonly #byDev = new Map<string, MountinfoEntry[]>();
  constructor(entries: readonly MountinfoEntry[]) {
    for (const e of entries) {
      let l = this.#byDev.get(e.majMin);
      if (!l) this.#byDev.set(e.majMin, (l = []));
      l.push(e);
    }
  }

  /**
   * The host paths of a container's mount (findmnt's bind-mount source): for every host mount of the same
   * filesystem whose root contains the container mount's root, that host mount's point plus the rest.
   * Most specific first (the longest host root: a subPath's own bind mount before the whole volume).
   */
  sourcePaths(m: Pick<MountinfoEntry, 'majMin' | 'root'>): string[] {
    const hosts = (this.#byDev.get(m.majMin) ?? []).filter((h) => h.root === '/' || m.root === h.root || m.root.startsWith(`${h.root}/`));
    hosts.sort((a, b) => b.root.length - a.root.length);
    return hosts.map((h) => {
      const rest = h.root === '/' ? m.root : m.root.slice(h.root.length);
      return rest === '/' || rest === '' ? h.mountPoint : join(h.mountPoint, rest);
    });
  }

  /**
   * The `volume` label of a container mount: from its host paths, a `volumes/<plugin>/<name>` path first
   * (it names the plugin, so an emptyDir's subPath is recognised as ephemeral), then a subPath or
   * `pvc-<uuid>` path; '' when none is a Kubernetes volume.
   */
  volume(m: Pick<MountinfoEntry, 'majMin' | 'root'>): string {
    const found = this.sourcePaths(m).map(kubernetesVolume).filter((v) => v !== undefined);
    return (found.find((v) => v.plugin !== undefined) ?? found[0])?.name ?? '';
  }
}

/** One disk mount of a container, with its filesystem's usage (absent when statfs failed). */
export interface DiskMount {
  readonly mountPoint: string;
  /** The device's whole disk "major:minor" (what io.stat/blkio count against); undefined: no block device (zfs). */
  readonly disk?: string;
  /** Kernel name of that disk (`vda`, `nvme0n1`, `dm-0`, `loop3`); '' without one. */
  readonly device: string;
  readonly volume: string;
  readonly size?: number;
  readonly used?: number;
  readonly reserved?: number;
}

/** The per-point labels of the disk I/O counters of one device. */
export interface DiskIoRow {
  readonly majMin: string;
  readonly mountPoint: string;
  readonly volume: string;
  readonly io: DeviceIo;
}

/**
 * Joins the cgroup's per-disk I/O counters with its mounts: a disk mounted in the container gets the
 * mount_point and volume of one of its mounts, the shortest mount point (then the first in the mount
 * table): the counters are per device, so repeating them under every mount point (as coroot does) would
 * count them twice in any sum. A disk not mounted there (I/O by the container's overlay root, swap, a raw
 * device) keeps mount_point="" and volume="".
 */
export function joinDiskIo(io: ReadonlyMap<string, DeviceIo>, mounts: readonly DiskMount[]): DiskIoRow[] {
  const best = new Map<string, DiskMount>();
  for (const m of mounts) {
    if (m.disk === undefined) continue;
    const b = best.get(m.disk);
    if (!b || m.mountPoint.length < b.mountPoint.length) best.set(m.disk, m);
  }
  return [...io].map(([majMin, d]) => {
    const m = best.get(majMin);
    return { majMin, mountPoint: m?.mountPoint ?? '', volume: m?.volume ?? '', io: d };
  });
}

export interface StatFsLike {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

export interface DiskCollectorOptions {
  /** Host root: `<root>/proc/<pid>/{mountinfo,ns/mnt,root}` and `<root>/proc/1/mountinfo` are read under it. */
  readonly rootPath: string;
  readonly devices: DeviceNames;
  readonly logger: Logger;
  /** Counts a mount that could not be examined (errno name): statfs or stat failed. */
  readonly onError?: (errno: string) => void;
  /** The agent's pid as `<root>/proc` numbers it; default process.pid. */
  readonly selfPid?: number;
  /** Test seam (default fs.statfsSync). */
  readonly statfs?: (path: string) => StatFsLike;
}

interface NamespaceDisks {
  mounts: DiskMount[];
}

/**
 * Reads the disk mounts of containers: one mount table per mount namespace per collection, statfs per
 * candidate mount. Never throws out of `collect`.
 */
export class DiskCollector {
  readonly #opts: DiskCollectorOptions;
  readonly #proc: string;
  readonly #selfPid: number;
  readonly #statfs: (path: string) => StatFsLike;
  #last = { namespaces: 0, mountinfoReads: 0, statfs: 0 };

  constructor(opts: DiskCollectorOptions) {
    this.#opts = opts;
    this.#proc = join(opts.rootPath, 'proc');
    this.#selfPid = opts.selfPid ?? process.pid;
    this.#statfs = opts.statfs ?? ((p) => statfsSync(p));
  }

  /**
   * One collection: each cgroup's disk mounts (key: the cgroup's incarnation; dir: its directory, whose
   * cgroup.procs, or a descendant's, names a process). A cgroup whose processes cannot be read has none.
   */
  collect(cgroups: ReadonlyArray<{ key: string; dir: string }>): Map<string, DiskMount[]> {
    const out = new Map<string, DiskMount[]>();
    this.#last = { namespaces: 0, mountinfoReads: 0, statfs: 0 };
    if (cgroups.length === 0 || !this.#sameProcessView()) return out;
    const byNs = new Map<string, NamespaceDisks>();
    let host: HostMounts | undefined;
    const hostMounts = (): HostMounts => {
      if (!host) {
        let text = '';
        try {
          text = readFileSync(join(this.#proc, '1', 'mountinfo'), 'latin1');
          this.#last.mountinfoReads++;
        } catch { /* no volume names without the host's table */ }
        host = new HostMounts(parseMountinfo(text));
      }
      return host;
    };
    for (const c of cgroups) {
      for (const pid of cgroupPids(c.dir, 8, 8)) {
        const ns = this.#namespaceOf(pid);
        const cached = ns !== undefined ? byNs.get(ns) : undefined;
        if (cached) {
          out.set(c.key, cached.mounts);
          break;
        }
        let text: string;
        try {
          text = readFileSync(join(this.#proc, String(pid), 'mountinfo'), 'latin1');
        } catch {
          continue; // exited since the listing: the next process
        }
        if (text === '') continue; // a zombie has no mount namespace left
        this.#last.mountinfoReads++;
        this.#last.namespaces++;
        const nd = { mounts: this.#examine(pid, parseMountinfo(text), hostMounts) };
        if (ns !== undefined) byNs.set(ns, nd);
        out.set(c.key, nd.mounts);
        break;
      }
    }
    return out;
  }

  /** What the last collection did: mount namespaces examined, mountinfo files read, statfs calls. */
  get lastStats(): { readonly namespaces: number; readonly mountinfoReads: number; readonly statfs: number } {
    return this.#last;
  }

  /** `mnt:[4026531841]`; undefined when unreadable (then the table is read per container, never shared). */
  #namespaceOf(pid: number): string | undefined {
    try {
      return readlinkSync(join(this.#proc, String(pid), 'ns', 'mnt'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') this.#warnAccess(code);
      return undefined;
    }
  }

  #examine(pid: number, entries: MountinfoEntry[], hostMounts: () => HostMounts): DiskMount[] {
    const root = join(this.#proc, String(pid), 'root');
    const out: DiskMount[] = [];
    for (const e of diskMounts(entries)) {
      const path = join(root, e.mountPoint);
      let size: number | undefined;
      let used: number | undefined;
      let reserved: number | undefined;
      try {
        // A file bind mount (/etc/hosts, /etc/resolv.conf, /dev/termination-log) is not a volume.
        if (!statSync(path).isDirectory()) continue;
        this.#last.statfs++;
        const s = this.#statfs(path);
        size = s.blocks * s.bsize;
        used = (s.blocks - s.bfree) * s.bsize;
        reserved = (s.bfree - s.bavail) * s.bsize;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        if (code === 'ENOENT' || code === 'ESRCH') continue; // the process exited, or the mount point went away
        this.#opts.onError?.(code);
        if (code === 'EACCES' || code === 'EPERM') this.#warnAccess(code);
        else this.#opts.logger.warnOnce(`disk-statfs-${code}`, 'cgroups receiver: a container mount could not be examined; its disk size/usage is not reported (logged once per error, counted in sonde_receiver_cgroups_disk_errors_total)', { error: code, mount: e.mountPoint, fstype: e.fstype });
        // Its I/O counters still get the mount point: the mount exists, only its usage is unknown.
      }
      const dev = this.#disk(e);
      out.push({ mountPoint: e.mountPoint, disk: dev?.majMin, device: dev?.name ?? '', volume: hostMounts().volume(e), size, used, reserved });
    }
    return out;
  }

  /** The whole disk behind a mount: its own device, or for zfs/btrfs (anonymous 0:N) the source `/dev/<name>`. */
  #disk(e: MountinfoEntry): { majMin: string; name: string } | undefined {
    const d = this.#opts.devices;
    if (!e.majMin.startsWith('0:')) return d.disk(e.majMin);
    const mm = e.source.startsWith('/dev/') ? d.byName(e.source.slice(5)) : undefined;
    return mm !== undefined ? d.disk(mm) : undefined;
  }

  #warnAccess(code: string): void {
    this.#opts.logger.warnOnce('disk-access', `cgroups receiver: ${code} on another process's /proc/<pid>/ns/mnt or a mount under /proc/<pid>/root: container disk sizes need CAP_SYS_PTRACE (and CAP_DAC_READ_SEARCH for mounts under other users' private directories; the chart grants both); those not readable are not reported (counted in sonde_receiver_cgroups_disk_errors_total)`);
  }

  /**
   * The pids of cgroup.procs must be those of `<root>/proc`: our own pid there is us (the agent shares the
   * host PID namespace and `<root>/proc` is the host's). Otherwise the mount tables would be other
   * processes' (or none).
   */
  #sameProcessView(): boolean {
    if (seesHostProcesses(this.#proc, this.#selfPid)) return true;
    this.#opts.logger.warnOnce('disk-pidns', `cgroups receiver: ${this.#proc}/${this.#selfPid}/stat is not this process: the host's processes are not visible under root_path (it must hold the host's /proc and the agent must share the host PID namespace: hostPID); container_resources_disk_{size,used,reserved}_bytes are not reported`);
    return false;
  }
}

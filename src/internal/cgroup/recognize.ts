/**
 * Cgroup path → what lives there: a container of some runtime, a Kubernetes pod (its parent cgroup), a
 * systemd unit, a user session, the host root, or something unknown. Pure string work, no I/O; tested on a
 * table of real-world paths (test/unit/internal/cgroup-recognize.test.ts).
 *
 * Layouts recognised (both cgroup drivers, v1 and v2 paths look the same):
 * - Kubernetes, cgroupfs driver: `/kubepods[/<qos>]/pod<uid>/<id>` where the last element is the bare
 *   64-hex id (containerd, docker/cri-dockerd) or `crio-<id>` (CRI-O); the pod's own cgroup is kind `pod`.
 * - Kubernetes, systemd driver: `/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_with_underscores>.slice/`
 *   followed by `cri-containerd-<id>.scope`, `crio-<id>.scope` or `docker-<id>.scope`; also containerd's
 *   v1 form `/system.slice/containerd.service/kubepods-…-pod<uid>.slice:cri-containerd:<id>`.
 *   `kubepods` may sit below a prefix (kind/k3d nodes, `--cgroup-root`), so it is searched anywhere.
 * - Docker: `/docker/<id>` (cgroupfs) and `/system.slice/docker-<id>.scope` (systemd).
 * - containerd outside Kubernetes: `/<namespace>/<id>` (ctr, nerdctl with cgroupfs) for the configured
 *   namespace names, and nerdctl's `/system.slice/nerdctl-<id>.scope`.
 * - Podman: `libpod-<id>.scope` (machine.slice, user slices for rootless) and `/libpod_parent/libpod-<id>`.
 * - LXC/LXD: `/lxc/<name>`, `/lxc.payload/<name>`, `/lxc.payload.<name>` (monitors are not containers).
 * - systemd units under system.slice and the other service slices coroot knows (runtime, reserved, kube,
 *   azure, podruntime): the unit is the first element below the slices (`nginx.service`), unescaped.
 * - `/user.slice/...`: user sessions; `/` and `/init.scope`: the host.
 * Conmon cgroups (`crio-conmon-<id>`, `libpod-conmon-<id>`) are kind `other`: they hold the runtime's
 * monitor process, not the container.
 */

export type CgroupKind = 'container' | 'pod' | 'systemd' | 'user' | 'host' | 'other';

/** Values of the semconv `container.runtime` attribute Sonde sets. */
export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'lxc';

export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupInfo {
  /** The normalized cgroup path. */
  readonly path: string;
  readonly kind: CgroupKind;
  /** Set only when the path names the runtime unambiguously (a bare 64-hex id under kubepods does not). */
  readonly runtime?: ContainerRuntime;
  /** The runtime's container id (64 hex for docker/CRI, any string for ctr/LXC). */
  readonly containerId?: string;
  /** containerd namespace, for `/<namespace>/<id>` paths (and `k8s.io` implied for CRI containerd). */
  readonly containerdNamespace?: string;
  /** Kubernetes pod UID with dashes (the systemd driver writes underscores). */
  readonly podUid?: string;
  readonly qos?: QosClass;
  /** systemd unit name, unescaped (`\x2d` → `-`), e.g. `nginx.service`, `docker-<id>.scope`. */
  readonly systemdUnit?: string;
}

export interface RecognizeOptions {
  /** containerd namespaces whose `/<namespace>/<id>` paths are containers (ctr, nerdctl). */
  readonly containerdNamespaces?: readonly string[];
}

export const DEFAULT_CONTAINERD_NAMESPACES: readonly string[] = ['default', 'k8s.io', 'moby', 'buildkit'];

/** Slices whose units coroot reports as systemd services. */
export const SYSTEMD_SERVICE_SLICES: readonly string[] = ['system.slice', 'runtime.slice', 'reserved.slice', 'kube.slice', 'azure.slice', 'podruntime.slice'];

const HEX64 = '[0-9a-f]{64}';
const RE_HEX64 = new RegExp(`^${HEX64}$`);
const RE_K8S_CONTAINER_SEG = new RegExp(`^(?:(crio|cri-containerd|docker)-)?(${HEX64})(?:\\.scope)?$`);
const RE_CONTAINERD_V1_SYSTEMD = new RegExp(`^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_-]+)\\.slice:cri-containerd:(${HEX64})$`);
const RE_POD_CGROUPFS = /^pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f-]{16,})$/;
const RE_POD_SYSTEMD = /^kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]+)\.slice$/;
const RE_DOCKER_SCOPE = new RegExp(`^docker-(${HEX64})\\.scope$`);
const RE_NERDCTL_SCOPE = new RegExp(`^nerdctl-(${HEX64})\\.scope$`);
const RE_LIBPOD = new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`);
const RE_CONMON = /^(?:crio-conmon|libpod-conmon)-/;
const RE_UNIT = /\.(service|scope|socket|mount|swap|timer|path|target|device|automount)$/;
const RE_CONTAINERD_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,75}$/;

/** systemd's unit-name escaping: `\x2d` → `-` (and any other `\xNN`). */
export function unescapeSystemd(s: string): string {
  return s.includes('\\x') ? s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : s;
}

function qosOf(s: string | undefined): QosClass | undefined {
  return s === 'burstable' || s === 'besteffort' ? s : undefined;
}

function runtimeOfPrefix(p: string | undefined): ContainerRuntime | undefined {
  if (p === 'crio') return 'cri-o';
  if (p === 'cri-containerd') return 'containerd';
  if (p === 'docker') return 'docker';
  return undefined;
}

function kubepods(path: string, segs: string[], at: number): CgroupInfo {
  let qos: QosClass | undefined;
  let podUid: string | undefined;
  let podIdx = -1;
  for (let i = at; i < segs.length; i++) {
    const s = segs[i];
    const v1sd = RE_CONTAINERD_V1_SYSTEMD.exec(s);
    if (v1sd) {
      return { path, kind: 'container', runtime: 'containerd', containerId: v1sd[3], containerdNamespace: 'k8s.io', podUid: v1sd[2].replace(/_/g, '-'), qos: qosOf(v1sd[1]) ?? 'guaranteed' };
    }
    const cgfs = RE_POD_CGROUPFS.exec(s);
    const sd = cgfs ? undefined : RE_POD_SYSTEMD.exec(s);
    if (cgfs || sd) {
      podUid = cgfs ? cgfs[1] : sd![2].replace(/_/g, '-');
      if (sd) qos = qosOf(sd[1]) ?? qos;
      podIdx = i;
      break;
    }
    if (i === at || s === 'burstable' || s === 'besteffort' || /^kubepods-(burstable|besteffort)\.slice$/.test(s)) {
      qos = qosOf(s) ?? qosOf(/^kubepods-(\w+)\.slice$/.exec(s)?.[1]) ?? qos;
      continue;
    }
    return { path, kind: 'other' };
  }
  if (podUid === undefined) return { path, kind: 'other' };
  qos ??= 'guaranteed';
  const next = segs[podIdx + 1];
  if (next === undefined) return { path, kind: 'pod', podUid, qos };
  if (RE_CONMON.test(next)) return { path, kind: 'other', podUid, qos };
  const m = RE_K8S_CONTAINER_SEG.exec(next);
  if (!m) return { path, kind: 'other', podUid, qos };
  const runtime = runtimeOfPrefix(m[1]);
  return {
    path, kind: 'container', containerId: m[2], podUid, qos,
    ...(runtime ? { runtime } : {}),
    ...(runtime === 'containerd' ? { containerdNamespace: 'k8s.io' } : {}),
    ...(next.endsWith('.scope') ? { systemdUnit: next } : {}),
  };
}

function systemdUnitIn(segs: string[], from: number): string | undefined {
  for (let i = from; i < segs.length; i++) {
    const s = segs[i];
    if (s.endsWith('.slice')) continue;
    return RE_UNIT.test(s) ? unescapeSystemd(s) : undefined;
  }
  return undefined;
}

/** Recognises what a cgroup path belongs to. Never throws; unknown layouts are kind `other`. */
export function recognizeCgroup(rawPath: string, opts: RecognizeOptions = {}): CgroupInfo {
  const path = rawPath === '' ? '/' : rawPath;
  if (path === '/' || path === '/init.scope' || path === '/init') return { path, kind: 'host' };
  const segs = path.split('/').filter((s) => s !== '');

  const kp = segs.findIndex((s) => s === 'kubepods' || s.startsWith('kubepods.') || s.startsWith('kubepods-'));
  if (kp >= 0) return kubepods(path, segs, kp);

  const first = segs[0];
  if (first === 'docker' && segs.length >= 2 && RE_HEX64.test(segs[1])) {
    return { path, kind: 'container', runtime: 'docker', containerId: segs[1] };
  }
  for (const s of segs) {
    const d = RE_DOCKER_SCOPE.exec(s);
    if (d) return { path, kind: 'container', runtime: 'docker', containerId: d[1], systemdUnit: s };
    const n = RE_NERDCTL_SCOPE.exec(s);
    if (n) return { path, kind: 'container', runtime: 'containerd', containerId: n[1], containerdNamespace: 'default', systemdUnit: s };
    if (RE_CONMON.test(s)) return { path, kind: 'other' };
    const p = RE_LIBPOD.exec(s);
    if (p) return { path, kind: 'container', runtime: 'podman', containerId: p[1], ...(s.endsWith('.scope') ? { systemdUnit: s } : {}) };
  }

  if (first === 'lxc' || first === 'lxc.payload') {
    return segs.length >= 2 ? { path, kind: 'container', runtime: 'lxc', containerId: segs[1] } : { path, kind: 'other' };
  }
  if (first.startsWith('lxc.payload.')) return { path, kind: 'container', runtime: 'lxc', containerId: first.slice('lxc.payload.'.length) };
  if (first.startsWith('lxc.monitor')) return { path, kind: 'other' };

  if (SYSTEMD_SERVICE_SLICES.includes(first)) {
    const unit = systemdUnitIn(segs, 1);
    return unit ? { path, kind: 'systemd', systemdUnit: unit } : { path, kind: 'other' };
  }
  if (first === 'user.slice') {
    const unit = systemdUnitIn(segs, 1);
    return { path, kind: 'user', ...(unit ? { systemdUnit: unit } : {}) };
  }

  const namespaces = opts.containerdNamespaces ?? DEFAULT_CONTAINERD_NAMESPACES;
  if (segs.length === 2 && namespaces.includes(first) && RE_CONTAINERD_ID.test(segs[1])) {
    return { path, kind: 'container', runtime: 'containerd', containerId: segs[1], containerdNamespace: first };
  }
  return { path, kind: 'other' };
}

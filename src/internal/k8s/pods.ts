/** The parts of a v1.Pod Sonde keeps (everything else is dropped on receipt to bound memory). */
export interface PodInfo {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly nodeName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The controlling owner (ownerReferences[controller=true]). */
  readonly owner?: { readonly kind: string; readonly name: string };
  /** Container id (without the `containerd://` scheme) → container name, image, restarts. */
  readonly containers: ReadonlyMap<string, { readonly name: string; readonly image?: string; readonly restartCount?: number }>;
  readonly resourceVersion?: string;
}

interface RawPod {
  metadata?: {
    uid?: string; name?: string; namespace?: string; resourceVersion?: string;
    labels?: Record<string, string>; annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>;
  };
  spec?: { nodeName?: string };
  status?: {
    containerStatuses?: RawStatus[];
    initContainerStatuses?: RawStatus[];
    ephemeralContainerStatuses?: RawStatus[];
  };
}
interface RawStatus { name: string; containerID?: string; image?: string; restartCount?: number; lastState?: { terminated?: { containerID?: string } } }

/** Trims a v1.Pod to PodInfo. Returns undefined for objects without uid/name/namespace. */
export function podInfo(raw: unknown): PodInfo | undefined {
  const p = raw as RawPod;
  const m = p?.metadata;
  if (!m?.uid || !m.name || !m.namespace) return undefined;
  const owner = m.ownerReferences?.find((o) => o.controller) ?? m.ownerReferences?.[0];
  const containers = new Map<string, { name: string; image?: string; restartCount?: number }>();
  for (const s of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? []), ...(p.status?.ephemeralContainerStatuses ?? [])]) {
    const info = { name: s.name, ...(s.image ? { image: s.image } : {}), ...(typeof s.restartCount === 'number' ? { restartCount: s.restartCount } : {}) };
    const id = stripScheme(s.containerID);
    if (id) containers.set(id, info);
    // The previous instance's id still names this container (data from before the restart).
    const prev = stripScheme(s.lastState?.terminated?.containerID);
    if (prev && !containers.has(prev)) containers.set(prev, info);
  }
  return {
    uid: m.uid, name: m.name, namespace: m.namespace,
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
    labels: m.labels ?? {}, annotations: m.annotations ?? {},
    ...(owner ? { owner: { kind: owner.kind, name: owner.name } } : {}),
    containers,
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
  };
}

function stripScheme(id: string | undefined): string | undefined {
  if (!id) return undefined;
  const i = id.indexOf('://');
  return i >= 0 ? id.slice(i + 3) : id;
}

export interface Workload {
  replicaset?: string;
  deployment?: string;
  statefulset?: string;
  daemonset?: string;
  job?: string;
  cronjob?: string;
}

/**
 * The owning workload from the controlling owner reference, without extra API calls: a ReplicaSet is a
 * Deployment's when the pod carries the deployment controller's `pod-template-hash` label and the
 * ReplicaSet's name is `<deployment>-<hash>`; a Job is a CronJob's when its name is `<cronjob>-<digits>`
 * (the CronJob controller names jobs after the scheduled time).
 */
export function workloadOf(pod: PodInfo): Workload {
  const o = pod.owner;
  if (!o) return {};
  switch (o.kind) {
    case 'ReplicaSet': {
      const hash = pod.labels['pod-template-hash'];
      const w: Workload = { replicaset: o.name };
      if (hash && o.name.endsWith(`-${hash}`)) w.deployment = o.name.slice(0, -hash.length - 1);
      return w;
    }
    case 'StatefulSet':
      return { statefulset: o.name };
    case 'DaemonSet':
      return { daemonset: o.name };
    case 'Job': {
      const m = /^(.+)-\d{8,}$/.exec(o.name);
      return m ? { job: o.name, cronjob: m[1] } : { job: o.name };
    }
    default:
      return {};
  }
}

/**
 * service.name for a pod, by OpenTelemetry's Kubernetes rule: the `resource.opentelemetry.io/service.name`
 * annotation, then the `app.kubernetes.io/name` label, then the workload (deployment, statefulset,
 * daemonset, cronjob, job, replicaset), then the pod name, then the container name.
 */
export function serviceNameOf(pod: PodInfo, w: Workload, containerName?: string): string {
  return pod.annotations['resource.opentelemetry.io/service.name']
    || pod.labels['app.kubernetes.io/name']
    || w.deployment || w.statefulset || w.daemonset || w.cronjob || w.job || w.replicaset
    || pod.name || containerName || '';
}

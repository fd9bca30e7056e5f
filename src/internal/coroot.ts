import type { Attributes } from '@opentelemetry/api';

/**
 * coroot-node-agent's container identity, derived from resource attributes so Coroot's UI can read Sonde's
 * metrics: `/k8s/<ns>/<pod>/<container>` (or `/k8s-cronjob/<ns>/<cronjob>/<container>`),
 * `/docker/<name>`, `/<runtime>/<name>` for other runtimes outside Kubernetes, the cgroup path for systemd
 * units (`/system.slice/<unit>`) and anything else. `app_id` groups a workload's pods: `/k8s/<ns>/<workload>`.
 */
export const CGROUP_PATH_ATTR = 'sonde.cgroup.path';

function str(a: Attributes, k: string): string {
  const v = a[k];
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

export function corootContainerId(a: Attributes): string {
  const ns = str(a, 'k8s.namespace.name');
  const pod = str(a, 'k8s.pod.name');
  const ctr = str(a, 'k8s.container.name');
  if (ns && pod && ctr) {
    const cron = str(a, 'k8s.cronjob.name');
    return cron ? `/k8s-cronjob/${ns}/${cron}/${ctr}` : `/k8s/${ns}/${pod}/${ctr}`;
  }
  const name = str(a, 'container.name');
  const runtime = str(a, 'container.runtime');
  if (name && runtime) return `/${runtime === 'docker' ? 'docker' : runtime}/${name.replace(/^\//, '')}`;
  return str(a, CGROUP_PATH_ATTR);
}

const WORKLOAD_KEYS = ['k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name', 'k8s.replicaset.name'];

export function corootAppId(a: Attributes): string {
  const ns = str(a, 'k8s.namespace.name');
  if (ns) {
    for (const k of WORKLOAD_KEYS) {
      const w = str(a, k);
      if (w) return `/k8s/${ns}/${w}`;
    }
  }
  return corootContainerId(a);
}

export function corootContainerLabels(a: Attributes): { container_id: string; app_id: string } {
  return { container_id: corootContainerId(a), app_id: corootAppId(a) };
}

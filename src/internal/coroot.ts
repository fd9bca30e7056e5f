import type { Attributes } from '@opentelemetry/api';

/**
 * coroot-node-agent's container identity, derived from resource attributes so Coroot's UI can read Sonde's
 * metrics (coroot `containers/registry.go: calcId`, compat.md appendix 2.2). `container_id`:
 * - `/k8s/<ns>/<pod>/<container>` for Kubernetes containers, `/k8s-cronjob/<ns>/<cronjob>/<container>` for
 *   pods of a CronJob's jobs (their pod names change every run);
 * - `/swarm/<stack namespace or _>/<service>/<task slot>` for Docker Swarm tasks;
 * - `/nomad/<ns>/<job>/<group>/<alloc id>/<task>` for Nomad tasks;
 * - `/docker/<name>` for Docker containers outside those, `/<runtime>/<name>` for other runtimes;
 * - the cgroup path (`sonde.cgroup.path`) for systemd units (`/system.slice/<unit>`) and anything else
 *   except the root cgroup `/` (host processes have no container identity);
 * - '' for pod sandboxes ("pause" containers), which coroot does not report.
 * `app_id` groups a workload's instances: `/k8s/<ns>/<workload>` (from the owner attributes, else from the
 * pod name with the controller's suffixes stripped, as coroot does), `/k8s-cronjob/<ns>/<cronjob>`,
 * `/swarm/<ns>/<service>`, `/nomad/<ns>/<job>/<group>`, else the container_id.
 * This file is the single place that logic lives.
 */
export const CGROUP_PATH_ATTR = 'sonde.cgroup.path';

/** Set by the container processor on pod sandbox ("pause") containers. */
export const SANDBOX_ATTR = 'sonde.container.sandbox';

function str(a: Attributes, k: string): string {
  const v = a[k];
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function swarm(a: Attributes): { ns: string; service: string; slot: string } | undefined {
  const task = str(a, 'container.label.com.docker.swarm.task.name').split('.');
  if (task.length !== 3) return undefined;
  const ns = str(a, 'container.label.com.docker.stack.namespace');
  let service = str(a, 'container.label.com.docker.swarm.service.name');
  if (ns && service.startsWith(`${ns}_`)) service = service.slice(ns.length + 1);
  return { ns: ns || '_', service, slot: task[1] };
}

function nomad(a: Attributes): string[] | undefined {
  const job = str(a, 'sonde.nomad.job');
  const alloc = str(a, 'sonde.nomad.alloc_id');
  if (!job || !alloc) return undefined;
  return [str(a, 'sonde.nomad.namespace') || 'default', job, str(a, 'sonde.nomad.group'), alloc, str(a, 'sonde.nomad.task')];
}

export function corootContainerId(a: Attributes): string {
  if (a[SANDBOX_ATTR] === true || a[SANDBOX_ATTR] === 'true') return '';
  const ns = str(a, 'k8s.namespace.name');
  const pod = str(a, 'k8s.pod.name');
  const ctr = str(a, 'k8s.container.name');
  if (ns && pod && ctr) {
    if (ctr === 'POD') return '';
    const cron = str(a, 'k8s.cronjob.name');
    return cron ? `/k8s-cronjob/${ns}/${cron}/${ctr}` : `/k8s/${ns}/${pod}/${ctr}`;
  }
  const sw = swarm(a);
  if (sw) return `/swarm/${sw.ns}/${sw.service}/${sw.slot}`;
  const nm = nomad(a);
  if (nm) return `/nomad/${nm.join('/')}`;
  const name = str(a, 'container.name');
  const runtime = str(a, 'container.runtime');
  if (name && runtime) return `/${runtime}/${name.replace(/^\//, '')}`;
  const path = str(a, CGROUP_PATH_ATTR);
  // The root cgroup is the host itself, not a container.
  return path === '/' ? '' : path;
}

const WORKLOAD_KEYS = ['k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name', 'k8s.replicaset.name'];

/** coroot's pod-name rules when the owner is unknown: ReplicaSet pods `<deploy>-<hash>-<5>`, StatefulSet `<sts>-<n>`, DaemonSet `<ds>-<5>`. */
export function workloadFromPodName(pod: string): string {
  let m = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/.exec(pod);
  if (m) return m[1];
  m = /^(.+)-\d+$/.exec(pod);
  if (m) return m[1];
  m = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{5}$/.exec(pod);
  if (m) return m[1];
  return pod;
}

export function corootAppId(a: Attributes): string {
  const id = corootContainerId(a);
  if (id === '') return '';
  const ns = str(a, 'k8s.namespace.name');
  if (ns) {
    const cron = str(a, 'k8s.cronjob.name');
    if (cron) return `/k8s-cronjob/${ns}/${cron}`;
    for (const k of WORKLOAD_KEYS) {
      const w = str(a, k);
      if (w) return `/k8s/${ns}/${w}`;
    }
    const pod = str(a, 'k8s.pod.name');
    if (pod) return `/k8s/${ns}/${workloadFromPodName(pod)}`;
  }
  const sw = swarm(a);
  if (sw) return `/swarm/${sw.ns}/${sw.service}`;
  const nm = nomad(a);
  if (nm) return `/nomad/${nm.slice(0, 3).join('/')}`;
  return id;
}

export function corootContainerLabels(a: Attributes): { container_id: string; app_id: string } {
  return { container_id: corootContainerId(a), app_id: corootAppId(a) };
}

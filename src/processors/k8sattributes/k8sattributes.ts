import type { Attributes } from '@opentelemetry/api';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Enrichment } from '../../helpers/resource-processor.js';
import { ResourceEnricher } from '../../helpers/resource-processor.js';
import type { ClusterConfig, PodInfo } from '../../internal/k8s/index.js';
import { defaultKubeconfigPath, inClusterConfig, KubeClient, kubeconfigConfig, PodInformer, serviceNameOf, workloadOf } from '../../internal/k8s/index.js';
import { parseImageRef } from '../../internal/runtime/index.js';
import type { K8sAttributesConfig } from './config.js';

function str(a: Attributes, k: string): string | undefined {
  const v = a[k];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Attributes for a resource from its pod object (and, when known, its container id / name). */
export function podAttributes(pod: PodInfo, containerId: string | undefined, containerName: string | undefined, cfg: Pick<K8sAttributesConfig, 'service_name' | 'extract'>): Attributes {
  const a: Attributes = { 'k8s.pod.name': pod.name, 'k8s.pod.uid': pod.uid, 'k8s.namespace.name': pod.namespace };
  if (pod.nodeName) a['k8s.node.name'] = pod.nodeName;
  const c = containerId ? pod.containers.get(containerId) : undefined;
  const cname = c?.name ?? containerName;
  if (cname) a['k8s.container.name'] = cname;
  if (c?.restartCount !== undefined) a['k8s.container.restart_count'] = c.restartCount;
  if (c?.image) {
    const img = parseImageRef(c.image);
    a['container.image.name'] = img.name;
    if (img.tag) a['container.image.tag'] = img.tag;
  }
  const w = workloadOf(pod);
  if (w.replicaset) a['k8s.replicaset.name'] = w.replicaset;
  if (w.deployment) a['k8s.deployment.name'] = w.deployment;
  if (w.statefulset) a['k8s.statefulset.name'] = w.statefulset;
  if (w.daemonset) a['k8s.daemonset.name'] = w.daemonset;
  if (w.job) a['k8s.job.name'] = w.job;
  if (w.cronjob) a['k8s.cronjob.name'] = w.cronjob;
  for (const k of cfg.extract.labels) if (pod.labels[k] !== undefined) a[`k8s.pod.label.${k}`] = pod.labels[k];
  for (const k of cfg.extract.annotations) if (pod.annotations[k] !== undefined) a[`k8s.pod.annotation.${k}`] = pod.annotations[k];
  if (cfg.service_name) {
    const sn = serviceNameOf(pod, w, cname);
    if (sn) a['service.name'] = sn;
  }
  return a;
}

/**
 * The state of one `k8sattributes` processor id, shared by its signals: the API client and the pod
 * informer (this node's pods), behind a Resource → Resource cache.
 *
 * Association, in order: `k8s.pod.uid` (set by the cgroup processor from the cgroup path, or by the
 * container processor from the kubelet's labels), then `container.id` (pod status container ids), then
 * `k8s.namespace.name` + `k8s.pod.name`. Without the API (auth_type none, or before the first list) the
 * runtime's labels, which the container processor has already added, are all there is.
 */
export class K8sAttributesCore implements Component {
  readonly enricher: ResourceEnricher;
  readonly #set: Settings;
  readonly #cfg: K8sAttributesConfig;
  #client?: KubeClient;
  #informer?: PodInformer;

  constructor(set: Settings, cfg: K8sAttributesConfig) {
    this.#set = set;
    this.#cfg = cfg;
    this.enricher = new ResourceEnricher((a) => this.#enrich(a), { version: () => this.#informer?.version ?? 0 });
  }

  /** The pod informer (tests read its stats; undefined with auth_type none or before start). */
  get informer(): PodInformer | undefined {
    return this.#informer;
  }

  #clusterConfig(): ClusterConfig | undefined {
    if (this.#cfg.auth_type === 'none') return undefined;
    if (this.#cfg.auth_type === 'kubeConfig') return kubeconfigConfig(this.#cfg.kubeconfig_path || defaultKubeconfigPath(), this.#cfg.context || undefined);
    return inClusterConfig(process.env, this.#cfg.service_account_dir);
  }

  async start(host: Host): Promise<void> {
    let cc: ClusterConfig | undefined;
    try {
      cc = this.#clusterConfig();
    } catch (e) {
      // No API: keep running on runtime labels only (as the issue asks), and say why once.
      host.reportStatus({ status: 'recoverable_error', error: e as Error });
      this.#set.logger.warn('k8sattributes: no Kubernetes API access; only the container runtime\'s labels will be used', { error: (e as Error).message });
      return;
    }
    if (!cc) return;
    const node = this.#cfg.node_name === '*' ? '' : this.#cfg.node_name || this.#set.host.hostname;
    this.#client = new KubeClient(cc);
    this.#informer = new PodInformer(this.#client, {
      nodeName: node,
      resyncMs: this.#cfg.resync_period,
      watchTimeoutSeconds: Math.max(1, Math.round(this.#cfg.watch_timeout / 1000)),
      deleteGraceMs: this.#cfg.pod_delete_grace_period,
      logger: this.#set.logger,
    });
    this.#informer.start();
    const id = this.#set.id.toString();
    const inf = this.#informer;
    this.#set.telemetry.gaugeFn(`sonde_processor_k8sattributes_pods`, 'Pods in the k8sattributes informer', ['processor'], () => [[[id], inf.size]]);
    if (this.#cfg.wait_for_metadata) await this.#informer.waitForSync(this.#cfg.wait_for_metadata_timeout);
  }

  #enrich(a: Attributes): Enrichment | Promise<Enrichment> {
    const inf = this.#informer;
    if (!inf) return { add: {}, ttlMs: 3_600_000 };
    if (!inf.synced && this.#cfg.wait_for_metadata) {
      return inf.waitForSync(this.#cfg.wait_for_metadata_timeout).then(() => this.#lookup(inf, a));
    }
    return this.#lookup(inf, a);
  }

  #lookup(inf: PodInformer, a: Attributes): Enrichment {
    const uid = str(a, 'k8s.pod.uid');
    const cid = str(a, 'container.id');
    const ns = str(a, 'k8s.namespace.name');
    const name = str(a, 'k8s.pod.name');
    const pod = (uid && inf.byUid(uid)) || (cid && inf.byContainerId(cid)) || (ns && name && inf.byName(ns, name)) || undefined;
    // Answers are recomputed when the informer's store changes (a pod moved owner, a new pod arrived).
    if (!pod) return { add: {}, ttlMs: inf.synced ? 60_000 : 1_000 };
    return { add: podAttributes(pod, cid, str(a, 'k8s.container.name'), this.#cfg), ttlMs: 300_000 };
  }

  async shutdown(): Promise<void> {
    await this.#informer?.stop();
    this.#informer = undefined;
    this.#client?.close();
    this.#client = undefined;
  }
}

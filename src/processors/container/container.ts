import type { Attributes } from '@opentelemetry/api';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Enrichment } from '../../helpers/resource-processor.js';
import { ResourceEnricher } from '../../helpers/resource-processor.js';
import { CGROUP_PATH_ATTR } from '../../internal/coroot.js';
import type { ContainerRuntime } from '../../internal/cgroup/index.js';
import { recognizeCgroup } from '../../internal/cgroup/index.js';
import type { ContainerMetadata } from '../../internal/runtime/index.js';
import { ContainerMetadataService } from '../../internal/runtime/index.js';
import type { Counter } from '../../service/telemetry.js';
import type { ContainerProcessorConfig } from './config.js';

/** Attributes for a container from its runtime metadata. */
export function containerAttributes(md: ContainerMetadata, cfg: Pick<ContainerProcessorConfig, 'labels' | 'kubernetes_labels'>): Attributes {
  const a: Attributes = { 'container.id': md.id, 'container.runtime': md.runtime };
  if (md.name) a['container.name'] = md.name;
  if (md.imageName) a['container.image.name'] = md.imageName;
  if (md.imageTag) a['container.image.tag'] = md.imageTag;
  for (const k of cfg.labels) if (md.labels[k] !== undefined && md.labels[k] !== '') a[`container.label.${k}`] = md.labels[k];
  if (cfg.kubernetes_labels && md.k8s) {
    if (md.k8s.podName) a['k8s.pod.name'] = md.k8s.podName;
    if (md.k8s.podNamespace) a['k8s.namespace.name'] = md.k8s.podNamespace;
    if (md.k8s.podUid) a['k8s.pod.uid'] = md.k8s.podUid;
    if (md.k8s.containerName) a['k8s.container.name'] = md.k8s.containerName;
    if (md.k8s.restartCount !== undefined) a['k8s.container.restart_count'] = md.k8s.restartCount;
  }
  if (md.sandbox) a['sonde.container.sandbox'] = true;
  const env = md.env ?? {};
  if (env.NOMAD_JOB_NAME) {
    // Nomad's docker/containerd tasks: coroot names them /nomad/<ns>/<job>/<group>/<alloc>/<task>.
    a['sonde.nomad.namespace'] = env.NOMAD_NAMESPACE ?? 'default';
    a['sonde.nomad.job'] = env.NOMAD_JOB_NAME;
    if (env.NOMAD_GROUP_NAME) a['sonde.nomad.group'] = env.NOMAD_GROUP_NAME;
    if (env.NOMAD_ALLOC_ID) a['sonde.nomad.alloc_id'] = env.NOMAD_ALLOC_ID;
    if (env.NOMAD_TASK_NAME) a['sonde.nomad.task'] = env.NOMAD_TASK_NAME;
  }
  return a;
}

const RUNTIMES: readonly string[] = ['docker', 'containerd', 'cri-o', 'podman', 'lxc'];

/**
 * The state of one `container` processor id shared by its signals: the runtime clients and metadata cache
 * (src/internal/runtime) behind a Resource → Resource cache. A resource with `container.id` (or only a
 * `sonde.cgroup.path` that names a container) gets the runtime's name, image, Kubernetes labels and
 * selected container labels. Ids no runtime knows are remembered for `negative_cache_ttl`; a missing runtime
 * socket is logged once (at start, and when it appears later).
 */
export class ContainerProcessorCore implements Component {
  readonly enricher: ResourceEnricher;
  readonly #cfg: ContainerProcessorConfig;
  readonly #set: Settings;
  #meta?: ContainerMetadataService;
  readonly #found: Counter;
  readonly #unknown: Counter;

  constructor(set: Settings, cfg: ContainerProcessorConfig) {
    this.#set = set;
    this.#cfg = cfg;
    this.enricher = new ResourceEnricher((a) => this.#enrich(a));
    const fam = set.telemetry.counter('sonde_processor_container_lookups_total', 'container metadata lookups (one per distinct resource and cache period) by result', ['processor', 'result']);
    this.#found = fam.labels(set.id.toString(), 'found');
    this.#unknown = fam.labels(set.id.toString(), 'unknown');
  }

  #service(): ContainerMetadataService {
    this.#meta ??= new ContainerMetadataService(this.#cfg.runtimes, this.#set.logger);
    return this.#meta;
  }

  async #enrich(attrs: Attributes): Promise<Enrichment> {
    let id = typeof attrs['container.id'] === 'string' ? attrs['container.id'] : undefined;
    let runtime = typeof attrs['container.runtime'] === 'string' && RUNTIMES.includes(attrs['container.runtime']) ? attrs['container.runtime'] as ContainerRuntime : undefined;
    let namespace: string | undefined;
    const path = attrs[CGROUP_PATH_ATTR];
    if (typeof path === 'string' && path !== '') {
      const info = recognizeCgroup(path, { containerdNamespaces: this.#cfg.containerd_namespaces });
      if (info.kind === 'container' && (id === undefined || id === info.containerId)) {
        id ??= info.containerId;
        runtime ??= info.runtime;
        namespace = info.containerdNamespace;
      }
    }
    if (!id) return { add: {}, ttlMs: 3_600_000 };
    const svc = this.#service();
    const lookup = svc.get(id, { runtime, namespace });
    let md: ContainerMetadata | null | undefined;
    if (this.#cfg.wait_for_metadata) md = await lookup;
    else {
      md = svc.peek(id);
      lookup.catch(() => undefined);
    }
    if (!md) {
      this.#unknown.inc();
      return { add: {}, ttlMs: md === null ? this.#cfg.runtimes.negative_cache_ttl : 1000 };
    }
    this.#found.inc();
    return { add: containerAttributes(md, this.#cfg), ttlMs: this.#cfg.runtimes.cache_ttl };
  }

  async start(_host: Host): Promise<void> {
    // Finds the sockets now, so a missing runtime is reported at start (once), not at the first batch.
    this.#service().availableRuntimes();
  }

  async shutdown(): Promise<void> {
    this.#meta?.close();
    this.#meta = undefined;
  }
}

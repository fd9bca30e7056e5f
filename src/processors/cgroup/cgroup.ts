import { join } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Counter } from '../../service/telemetry.js';
import { CGROUP_PATH_ATTR } from '../../internal/coroot.js';
import type { CgroupInfo } from '../../internal/cgroup/index.js';
import { PidCgroupResolver, recognizeCgroup } from '../../internal/cgroup/index.js';
import type { Enrichment } from '../../helpers/resource-processor.js';
import { ResourceEnricher } from '../../helpers/resource-processor.js';
import type { CgroupProcessorConfig } from './config.js';

export const PID_ATTR = 'process.pid';

/** The attributes a recognised cgroup path gives a resource. */
export function cgroupAttributes(info: CgroupInfo): Attributes {
  const a: Attributes = { [CGROUP_PATH_ATTR]: info.path };
  if (info.kind === 'container' && info.containerId) a['container.id'] = info.containerId;
  if (info.kind === 'container' && info.runtime) a['container.runtime'] = info.runtime;
  if (info.podUid) a['k8s.pod.uid'] = info.podUid;
  return a;
}

/**
 * The state of one `cgroup` processor id, shared by its traces/metrics/logs instances: the pid resolver
 * (reads /proc/<pid>/cgroup under root_path) and the Resource → Resource cache.
 *
 * Per resource:
 * - `process.pid` (spans, logs of a process) → the process's cgroup path (`sonde.cgroup.path`), and from the
 *   path `container.id`, `container.runtime` (when the path names it) and `k8s.pod.uid`;
 * - `sonde.cgroup.path` (metrics aggregated per cgroup) → the same, from the path alone.
 * Attributes already set are never replaced. Enriched resources are reused for `revalidate_interval`.
 */
export class CgroupProcessorCore implements Component {
  readonly enricher: ResourceEnricher;
  readonly resolver: PidCgroupResolver;
  readonly #cfg: CgroupProcessorConfig;
  readonly #sweep: { timer?: NodeJS.Timeout } = {};

  constructor(set: Settings, cfg: CgroupProcessorConfig) {
    this.#cfg = cfg;
    const recognize = { containerdNamespaces: cfg.containerd_namespaces };
    this.resolver = new PidCgroupResolver({
      procRoot: join(cfg.root_path, 'proc'),
      maxEntries: cfg.max_pids,
      revalidateMs: cfg.revalidate_interval,
      exitedGraceMs: cfg.exited_grace_period,
      recognize,
    });
    const ttl = Math.max(cfg.revalidate_interval, 1000);
    this.enricher = new ResourceEnricher((attrs) => this.#enrich(attrs, recognize, ttl));
    const id = set.id.toString();
    const fam = set.telemetry.counter('sonde_processor_cgroup_pid_lookups_total', 'pid → cgroup lookups (one per distinct resource and cache period) by result', ['processor', 'result']);
    this.#found = fam.labels(id, 'found');
    this.#unknown = fam.labels(id, 'unknown');
  }

  readonly #found: Counter;
  readonly #unknown: Counter;

  #enrich(attrs: Attributes, recognize: { containerdNamespaces: readonly string[] }, ttl: number): Enrichment {
    const path = attrs[CGROUP_PATH_ATTR];
    if (typeof path === 'string' && path !== '') return { add: cgroupAttributes(recognizeCgroup(path, recognize)), ttlMs: 3_600_000 };
    const pid = attrs[PID_ATTR];
    const n = typeof pid === 'number' ? pid : typeof pid === 'string' && /^\d+$/.test(pid) ? Number(pid) : undefined;
    if (n === undefined || n <= 0) return { add: {}, ttlMs: 3_600_000 };
    const r = this.resolver.lookup(n);
    // An unknown pid may be a process that has not been seen yet: ask again soon.
    if (!r) {
      this.#unknown.inc();
      return { add: {}, ttlMs: Math.min(ttl, 1000) };
    }
    this.#found.inc();
    return { add: cgroupAttributes(r.info), ttlMs: ttl };
  }

  async start(_host: Host): Promise<void> {
    this.#sweep.timer = setInterval(() => this.resolver.sweep(), Math.max(this.#cfg.exited_grace_period, 1000));
    this.#sweep.timer.unref();
  }

  async shutdown(): Promise<void> {
    if (this.#sweep.timer) clearInterval(this.#sweep.timer);
    this.#sweep.timer = undefined;
    this.resolver.clear();
  }
}

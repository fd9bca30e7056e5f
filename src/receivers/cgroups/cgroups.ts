import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Metrics, MetricsConsumer } from '../../consumer/consumer.js';
import { CGROUP_PATH_ATTR, corootContainerId } from '../../internal/coroot.js';
import type { CgroupInfo } from '../../internal/cgroup/index.js';
import { CgroupFs, recognizeCgroup, walkCgroups } from '../../internal/cgroup/index.js';
import type { ContainerMetadata } from '../../internal/runtime/index.js';
import { ContainerMetadataService } from '../../internal/runtime/index.js';
import { loadNative } from '../../native/load.js';
import { gaugeMetric, resourceMetrics, sumMetric } from '../../pdata/metrics.js';
import { msToHrTime, nowHrTime } from '../../pdata/time.js';
import type { CounterFamily, GaugeFamily } from '../../service/telemetry.js';
import { VERSION } from '../../version.js';
import type { CgroupsConfig } from './config.js';
import type { CgroupDelays } from './delays.js';
import { DelayCollector } from './delays.js';
import type { DiskMount, StatFsLike } from './disks.js';
import { DiskCollector, joinDiskIo } from './disks.js';
import type { CgroupStats } from './stats.js';
import { DeviceNames, readCgroupStats } from './stats.js';
import type { TaskstatsSource } from './taskstats.js';
import { TaskstatsClient } from './taskstats.js';

const SCOPE = { name: 'sonde/receiver/cgroups', version: VERSION };

/** One reported cgroup found by a scrape. */
export interface DiscoveredCgroup {
  readonly path: string;
  readonly info: CgroupInfo;
  /** Its directory in the hierarchy it was found in (whose cgroup.procs lists its processes). */
  readonly dir: string;
  /**
   * Tells incarnations apart: the path plus the inode of its directory. cgroupfs (kernfs) never reuses an
   * inode number within a boot, so a recreated cgroup always gets a new one.
   */
  readonly incarnation: string;
  /** When the directory was created (ctime), used as the start time of its counters. */
  readonly createdMs: number;
}

export interface CgroupsReceiverOptions {
  /** Test seam: opens the taskstats source (default: a generic netlink socket through the native addon). */
  readonly taskstats?: () => TaskstatsSource;
  /** Test seam: statfs of a container mount (default fs.statfsSync). */
  readonly statfs?: (path: string) => StatFsLike;
}

interface IdentityState {
  incarnation: string;
  restarts: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

/**
 * The `cgroups` receiver: every container's resource usage, read from its cgroup files, with
 * coroot-node-agent's metric names (compat.md §3.1). Each container is one ResourceMetrics whose resource
 * has only `sonde.cgroup.path`; the `cgroup`, `container` and `k8sattributes` processors add the rest, and
 * the prometheus exporter derives `container_id`/`app_id` from it. Data-point attributes are only the
 * metrics' own labels (kind; mount_point, device, volume).
 *
 * Restarts: a restart is the same container identity (coroot's container_id computed from the runtime's
 * metadata: `/k8s/<ns>/<pod>/<container>`, `/docker/<name>`, or the cgroup path of a systemd unit)
 * reappearing backed by a different cgroup directory (a new inode) after the previous one went away. That
 * covers Kubernetes restarts (new container id, new cgroup), `docker restart` (same id, cgroup recreated)
 * and systemd service restarts (unit cgroup recreated). Only restarts seen while the agent runs count.
 */
export class CgroupsReceiver implements Component {
  readonly #set: Settings;
  readonly #cfg: CgroupsConfig;
  readonly #next: MetricsConsumer;
  readonly #include: RegExp[];
  readonly #devices: DeviceNames;
  #fs?: CgroupFs;
  #meta?: ContainerMetadataService;
  #timer?: NodeJS.Timeout;
  #inFlight?: Promise<void>;
  readonly #resources = new Map<string, Resource>();
  readonly #identities = new Map<string, IdentityState>();
  readonly #scrapes: CounterFamily;
  readonly #dropped: CounterFamily;
  readonly #containers: GaugeFamily;
  readonly #scrapeSeconds: GaugeFamily;
  readonly #taskstatsErrors: CounterFamily;
  readonly #delays: DelayCollector;
  readonly #disks: DiskCollector;
  readonly #diskErrors: CounterFamily;
  readonly #id: string;

  constructor(set: Settings, cfg: CgroupsConfig, next: MetricsConsumer, opts: CgroupsReceiverOptions = {}) {
    this.#set = set;
    this.#cfg = cfg;
    this.#next = next;
    this.#include = cfg.include_paths.map((p) => new RegExp(p));
    this.#devices = new DeviceNames(join(cfg.root_path, 'sys'));
    this.#id = set.id.toString();
    this.#scrapes = set.telemetry.counter('sonde_receiver_cgroups_scrapes_total', 'cgroups receiver scrapes', ['receiver']);
    this.#dropped = set.telemetry.counter('sonde_receiver_cgroups_dropped_total', 'cgroups not reported because of max_containers', ['receiver']);
    this.#containers = set.telemetry.gauge('sonde_receiver_cgroups_containers', 'cgroups reported by the last scrape', ['receiver']);
    this.#scrapeSeconds = set.telemetry.gauge('sonde_receiver_cgroups_scrape_seconds', 'Duration of the last scrape', ['receiver']);
    this.#taskstatsErrors = set.telemetry.counter('sonde_receiver_cgroups_taskstats_errors_total', 'taskstats queries that failed for a reason other than the process having exited', ['receiver', 'errno']);
    this.#delays = new DelayCollector({
      mode: cfg.delay_accounting,
      rootPath: cfg.root_path,
      logger: set.logger,
      open: opts.taskstats ?? (() => TaskstatsClient.open(loadNative())),
      onError: (errno) => this.#taskstatsErrors.labels(this.#id, errno).inc(),
    });
    this.#diskErrors = set.telemetry.counter('sonde_receiver_cgroups_disk_errors_total', 'container mounts whose statfs (or stat) failed, by errno; their disk size/usage is not reported', ['receiver', 'errno']);
    this.#disks = new DiskCollector({
      rootPath: cfg.root_path,
      devices: this.#devices,
      logger: set.logger,
      onError: (errno) => this.#diskErrors.labels(this.#id, errno).inc(),
      statfs: opts.statfs,
    });
  }

  async start(_host: Host): Promise<void> {
    this.#fs = CgroupFs.detect(join(this.#cfg.root_path, 'sys/fs/cgroup'));
    if (this.#fs.mode === 'none') {
      this.#set.logger.warn('cgroups receiver: no cgroup filesystem found; no container metrics will be reported', { root: this.#fs.root });
    }
    if (this.#cfg.metadata) this.#meta = new ContainerMetadataService(this.#cfg.runtimes, this.#set.logger);
    this.#delays.start();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#cfg.collection_interval);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#inFlight) return;
    this.#inFlight = this.collect()
      .then((md) => (md.length > 0 ? this.#next.consumeMetrics(md) : undefined))
      .catch((e: unknown) => this.#set.logger.warnOnce('scrape', 'cgroups scrape failed or was refused downstream', { error: (e as Error).message }))
      .finally(() => (this.#inFlight = undefined));
  }

  /** Finds the cgroups to report: containers, systemd services (optional) and include_paths matches. */
  discover(): DiscoveredCgroup[] {
    const fs = this.#fs;
    if (!fs) return [];
    const seen = new Map<string, DiscoveredCgroup>();
    const recognize = { containerdNamespaces: this.#cfg.containerd_namespaces };
    for (const { dir } of fs.discoveryRoots()) {
      const descend = (path: string): boolean => {
        const k = recognizeCgroup(path, recognize).kind;
        return k !== 'container' && k !== 'systemd';
      };
      for (const path of walkCgroups(dir, descend)) {
        if (path === '/' || seen.has(path)) continue;
        const info = recognizeCgroup(path, recognize);
        if (!this.#wanted(info)) continue;
        const d = path === '/' ? dir : join(dir, path);
        let st;
        try {
          st = statSync(d);
        } catch {
          continue;
        }
        if (!hasProcesses(d)) continue;
        seen.set(path, { path, info, dir: d, incarnation: `${path}|${st.ino}`, createdMs: st.ctimeMs });
      }
    }
    return [...seen.values()];
  }

  #wanted(info: CgroupInfo): boolean {
    if (info.kind === 'container') return true;
    if (info.kind === 'systemd' && this.#cfg.systemd_services && info.systemdUnit?.endsWith('.service')) return true;
    return this.#include.some((re) => re.test(info.path));
  }

  /** One scrape: discovery, runtime metadata (cached), cgroup files, restart bookkeeping → metrics. */
  async collect(): Promise<Metrics> {
    const t0 = performance.now();
    this.#scrapes.labels(this.#id).inc();
    let found = this.discover();
    if (found.length > this.#cfg.max_containers) {
      this.#dropped.labels(this.#id).inc(found.length - this.#cfg.max_containers);
      this.#set.logger.warnOnce('max-containers', 'more cgroups than max_containers; the rest are not reported (logged once)', { max: this.#cfg.max_containers, found: found.length });
      found = found.slice(0, this.#cfg.max_containers);
    }
    const metas = await Promise.all(found.map((c) => this.#metadata(c.info)));
    const nowMs = Date.now();
    const now = nowHrTime();

    // Identity → live incarnations, for restart counting.
    const rows: Array<{ c: DiscoveredCgroup; md: ContainerMetadata | null; identity: string }> = [];
    const live = new Map<string, Set<string>>();
    found.forEach((c, i) => {
      const md = metas[i];
      if (md?.sandbox) return; // pause containers: nothing of the workload runs there (coroot skips them too)
      const identity = identityOf(c, md);
      rows.push({ c, md, identity });
      let s = live.get(identity);
      if (!s) live.set(identity, (s = new Set()));
      s.add(c.incarnation);
    });
    for (const [identity, incarnations] of live) {
      const st = this.#identities.get(identity);
      if (!st) {
        this.#identities.set(identity, { incarnation: [...incarnations][0], restarts: 0, firstSeenMs: nowMs, lastSeenMs: nowMs });
        continue;
      }
      // Counted only once the previous incarnation is gone: two live cgroups with one identity are not a restart.
      if (!incarnations.has(st.incarnation)) {
        st.restarts++;
        st.incarnation = [...incarnations][0];
      }
      st.lastSeenMs = nowMs;
    }
    for (const [identity, st] of this.#identities) if (nowMs - st.lastSeenMs > this.#cfg.identity_ttl) this.#identities.delete(identity);

    // CPU and disk delays from taskstats, per cgroup incarnation (a recreated cgroup starts from zero).
    const delays = this.#delays.collect(rows.map(({ c }) => ({ key: c.incarnation, dir: c.dir })), nowMs);
    // Disk mounts (one mount table per mount namespace), for the disk gauges and the I/O counters' labels.
    const disks = this.#cfg.disk_usage ? this.#disks.collect(rows.map(({ c }) => ({ key: c.incarnation, dir: c.dir }))) : new Map<string, DiskMount[]>();

    const out: Metrics = [];
    const keep = new Set<string>();
    for (const { c, md, identity } of rows) {
      keep.add(c.path);
      const stats = readCgroupStats(this.#fs!, c.path);
      const ident = this.#identities.get(identity)!;
      out.push(resourceMetrics(this.#resource(c.path), SCOPE, this.#metrics(c, md, stats, ident, now, delays.get(c.incarnation), disks.get(c.incarnation) ?? [])));
    }
    for (const p of this.#resources.keys()) if (!keep.has(p)) this.#resources.delete(p);
    this.#containers.labels(this.#id).set(out.length);
    this.#scrapeSeconds.labels(this.#id).set((performance.now() - t0) / 1000);
    return out;
  }

  async #metadata(info: CgroupInfo): Promise<ContainerMetadata | null> {
    if (!this.#meta || info.kind !== 'container' || !info.containerId) return null;
    try {
      return await this.#meta.get(info.containerId, { runtime: info.runtime, namespace: info.containerdNamespace });
    } catch {
      return null;
    }
  }

  /** One Resource object per cgroup path, reused across scrapes (processors cache by Resource identity). */
  #resource(path: string): Resource {
    let r = this.#resources.get(path);
    if (!r) {
      r = resourceFromAttributes({ [CGROUP_PATH_ATTR]: path });
      this.#resources.set(path, r);
    }
    return r;
  }

  #metrics(c: DiscoveredCgroup, md: ContainerMetadata | null, st: CgroupStats, ident: IdentityState, now: HrTime, delays: CgroupDelays | undefined, mounts: readonly DiskMount[]): MetricData[] {
    const start = msToHrTime(c.createdMs);
    const pt = (value: number, attributes: Attributes = {}, startTime: HrTime = start): DataPoint<number> => ({ startTime, endTime: now, attributes, value });
    const out: MetricData[] = [];
    const info: Attributes = {};
    if (md?.image) info.image = md.image;
    out.push(gaugeMetric('container_info', 'Meta information about the container', '', [pt(1, info)]));
    out.push(sumMetric('container_restarts_total', 'Number of times the container was restarted', '', [pt(ident.restarts, {}, msToHrTime(ident.firstSeenMs))]));
    if (st.cpuLimitCores !== undefined) out.push(gaugeMetric('container_resources_cpu_limit_cores', 'CPU limit of the container', '', [pt(st.cpuLimitCores)]));
    if (st.cpuUsageSeconds !== undefined) out.push(sumMetric('container_resources_cpu_usage_seconds_total', 'Total CPU time consumed by the container', '', [pt(st.cpuUsageSeconds)]));
    if (st.cpuThrottledSeconds !== undefined) out.push(sumMetric('container_resources_cpu_throttled_seconds_total', 'Total time duration the container has been throttled', '', [pt(st.cpuThrottledSeconds)]));
    if (delays?.cpuSeconds !== undefined) out.push(sumMetric('container_resources_cpu_delay_seconds_total', 'Total time duration processes of the container have been waiting for a CPU (while being runnable)', '', [pt(delays.cpuSeconds, {}, msToHrTime(delays.sinceMs))]));
    if (delays?.diskSeconds !== undefined) out.push(sumMetric('container_resources_disk_delay_seconds_total', 'Total time duration processes of the container have been waiting for I/Os to complete', '', [pt(delays.diskSeconds, {}, msToHrTime(delays.sinceMs))]));
    if (st.memoryLimit !== undefined) out.push(gaugeMetric('container_resources_memory_limit_bytes', 'Memory limit of the container', '', [pt(st.memoryLimit)]));
    if (st.memoryRss !== undefined) out.push(gaugeMetric('container_resources_memory_rss_bytes', 'Amount of physical memory used by the container (doesn\'t include page cache)', '', [pt(st.memoryRss)]));
    if (st.memoryCache !== undefined) out.push(gaugeMetric('container_resources_memory_cache_bytes', 'Amount of page cache memory allocated by the container', '', [pt(st.memoryCache)]));
    if (this.#cfg.oom_kills && st.oomKills !== undefined) out.push(sumMetric('container_oom_kills_total', 'Total number of times the container was terminated by the OOM killer', '', [pt(st.oomKills)]));
    const psi = (name: string, help: string, p: { some?: number; full?: number } | undefined) => {
      if (!p) return;
      const pts: DataPoint<number>[] = [];
      if (p.some !== undefined) pts.push(pt(p.some / 1e6, { kind: 'some' }));
      if (p.full !== undefined) pts.push(pt(p.full / 1e6, { kind: 'full' }));
      if (pts.length > 0) out.push(sumMetric(name, help, '', pts));
    };
    psi('container_resources_cpu_pressure_waiting_seconds_total', 'Total time spent by the container waiting for the CPU (PSI)', st.pressure.cpu);
    psi('container_resources_memory_pressure_waiting_seconds_total', 'Total time spent by the container waiting for memory (PSI)', st.pressure.memory);
    psi('container_resources_io_pressure_waiting_seconds_total', 'Total time spent by the container waiting for I/O (PSI)', st.pressure.io);
    // Disk gauges: one series per mount point (mount_point, device, volume), for mounts whose statfs succeeded.
    const sized = mounts.filter((m) => m.size !== undefined);
    const g3 = (name: string, help: string, f: (m: DiskMount) => number) => {
      if (sized.length > 0) out.push(gaugeMetric(name, help, '', sized.map((m) => pt(f(m), { mount_point: m.mountPoint, device: m.device, volume: m.volume }))));
    };
    g3('container_resources_disk_size_bytes', 'Total capacity of the volume', (m) => m.size!);
    g3('container_resources_disk_used_bytes', 'Used capacity of the volume', (m) => m.used!);
    g3('container_resources_disk_reserved_bytes', 'Reserved capacity of the volume', (m) => m.reserved!);
    // Disk I/O counters: per disk; mount_point/volume of one of its mounts in the container ('' if none).
    if (st.disks.size > 0) {
      const active = new Map([...st.disks].filter(([, d]) => d.reads + d.writes + d.readBytes + d.writtenBytes > 0));
      const rows = joinDiskIo(active, mounts).map((r) => ({ attrs: { mount_point: r.mountPoint, device: this.#devices.name(r.majMin), volume: r.volume }, d: r.io }));
      const c4 = (name: string, help: string, f: (d: (typeof rows)[number]['d']) => number) => {
        if (rows.length > 0) out.push(sumMetric(name, help, '', rows.map((x) => pt(f(x.d), x.attrs))));
      };
      c4('container_resources_disk_reads_total', 'Total number of reads completed successfully by the container', (d) => d.reads);
      c4('container_resources_disk_read_bytes_total', 'Total number of bytes read from the disk by the container', (d) => d.readBytes);
      c4('container_resources_disk_writes_total', 'Total number of writes completed successfully by the container', (d) => d.writes);
      c4('container_resources_disk_written_bytes_total', 'Total number of bytes written to the disk by the container', (d) => d.writtenBytes);
    }
    return out;
  }

  async shutdown(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    this.#meta?.close();
    this.#meta = undefined;
    this.#delays.close();
  }
}

/** coroot's container identity from what the runtime says (see src/internal/coroot.ts), else the path. */
export function identityOf(c: { path: string }, md: ContainerMetadata | null): string {
  const a: Attributes = { [CGROUP_PATH_ATTR]: c.path };
  if (md) {
    if (md.k8s?.podNamespace) a['k8s.namespace.name'] = md.k8s.podNamespace;
    if (md.k8s?.podName) a['k8s.pod.name'] = md.k8s.podName;
    if (md.k8s?.containerName) a['k8s.container.name'] = md.k8s.containerName;
    if (md.name) a['container.name'] = md.name;
    a['container.runtime'] = md.runtime;
  }
  return corootContainerId(a);
}

/** Whether a cgroup (or, on v2, any descendant) has processes: `cgroup.events` populated, else `cgroup.procs`. */
function hasProcesses(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().length > 0;
    } catch {
      return false;
    }
  }
}

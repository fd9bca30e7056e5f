import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { MetricsConsumer } from '../../consumer/consumer.js';
import type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';
import { gaugeMetric, resourceMetrics, sumMetric } from '../../pdata/metrics.js';
import { nowHrTime } from '../../pdata/time.js';
import { VERSION } from '../../version.js';
import type { NodeConfig } from './config.js';
import { parseDiskstats, parseLogicalCores, parseMeminfo, parseNetDev, parseProcStatCpu, readText, virtualInterfaces } from './procfs.js';

const SCOPE = { name: 'sonde/receiver/node', version: VERSION };

/**
 * The `node` receiver: coroot-node-agent's node metrics (node_resources_*, node_net_*, node_info,
 * node_uptime_seconds, node_agent_info) read from /proc and /sys under `root_path` every interval.
 */
export class NodeReceiver implements Component {
  readonly #set: Settings;
  readonly #cfg: NodeConfig;
  readonly #next: MetricsConsumer;
  readonly #proc: string;
  readonly #sys: string;
  #timer?: NodeJS.Timeout;
  #bootTime: HrTime = nowHrTime();
  #inFlight?: Promise<void>;

  constructor(set: Settings, cfg: NodeConfig, next: MetricsConsumer) {
    this.#set = set;
    this.#cfg = cfg;
    this.#next = next;
    this.#proc = join(cfg.root_path, 'proc');
    this.#sys = join(cfg.root_path, 'sys');
  }

  async start(_host: Host): Promise<void> {
    const stat = readText(join(this.#proc, 'stat'));
    if (stat === undefined) throw new Error(`node receiver: cannot read ${join(this.#proc, 'stat')} (check root_path)`);
    const btime = /^btime (\d+)$/m.exec(stat);
    if (btime) this.#bootTime = [Number(btime[1]), 0];
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#cfg.collection_interval);
    this.#timer.unref();
  }

  #tick(): void {
    if (this.#inFlight) return; // the previous batch is still being consumed
    this.#inFlight = this.#next.consumeMetrics([resourceMetrics(this.#set.resource, SCOPE, this.collect())])
      .catch((e: unknown) => this.#set.logger.warnOnce('consume', 'node metrics refused downstream', { error: (e as Error).message }))
      .finally(() => (this.#inFlight = undefined));
  }

  /** Reads every source once; sources that cannot be read are skipped. */
  collect(): MetricData[] {
    const now = nowHrTime();
    const start = this.#bootTime;
    const pt = (value: number, attributes: Attributes = {}): DataPoint<number> => ({ startTime: start, endTime: now, attributes, value });
    const out: MetricData[] = [
      gaugeMetric('node_agent_info', 'Sonde agent version', '', [pt(1, { version: VERSION })]),
      gaugeMetric('node_info', 'Node facts', '', [pt(1, { hostname: this.#set.host.hostname, kernel_version: this.#set.host.kernelRelease })]),
    ];
    const uptime = readText(join(this.#proc, 'uptime'));
    if (uptime) out.push(gaugeMetric('node_uptime_seconds', 'Seconds since the node booted', '', [pt(Number(uptime.split(' ')[0]))]));

    const stat = readText(join(this.#proc, 'stat'));
    if (stat) {
      const cpu = parseProcStatCpu(stat);
      out.push(sumMetric('node_resources_cpu_usage_seconds_total', 'CPU time by mode', '', Object.entries(cpu).map(([mode, v]) => pt(v, { mode }))));
      out.push(gaugeMetric('node_resources_cpu_logical_cores', 'Logical CPU cores', '', [pt(parseLogicalCores(stat))]));
    }

    const mem = readText(join(this.#proc, 'meminfo'));
    if (mem) {
      const m = parseMeminfo(mem);
      const g = (name: string, key: string, help: string) => {
        if (m[key] !== undefined) out.push(gaugeMetric(name, help, '', [pt(m[key])]));
      };
      g('node_resources_memory_total_bytes', 'MemTotal', 'Total memory');
      g('node_resources_memory_free_bytes', 'MemFree', 'Free memory');
      g('node_resources_memory_available_bytes', 'MemAvailable', 'Available memory');
      g('node_resources_memory_cached_bytes', 'Cached', 'Page cache');
    }

    const disks = readText(join(this.#proc, 'diskstats'));
    if (disks) {
      const d = parseDiskstats(disks);
      const c = (name: string, help: string, f: (x: (typeof d)[number]) => number) =>
        out.push(sumMetric(name, help, '', d.map((x) => pt(f(x), { device: x.device }))));
      c('node_resources_disk_reads_total', 'Completed reads', (x) => x.reads);
      c('node_resources_disk_writes_total', 'Completed writes', (x) => x.writes);
      c('node_resources_disk_read_bytes_total', 'Bytes read', (x) => x.readBytes);
      c('node_resources_disk_written_bytes_total', 'Bytes written', (x) => x.writtenBytes);
      c('node_resources_disk_read_time_seconds_total', 'Time spent reading', (x) => x.readTimeS);
      c('node_resources_disk_write_time_seconds_total', 'Time spent writing', (x) => x.writeTimeS);
      c('node_resources_disk_io_time_seconds_total', 'Time spent doing I/O', (x) => x.ioTimeS);
    }

    const netdev = readText(join(this.#proc, 'net/dev'));
    if (netdev) {
      const virtual = virtualInterfaces(this.#sys);
      const nets = parseNetDev(netdev).filter((n) => !virtual.has(n.iface));
      const c = (name: string, help: string, f: (x: (typeof nets)[number]) => number) =>
        out.push(sumMetric(name, help, '', nets.map((x) => pt(f(x), { interface: x.iface }))));
      c('node_net_received_bytes_total', 'Bytes received', (x) => x.rxBytes);
      c('node_net_transmitted_bytes_total', 'Bytes sent', (x) => x.txBytes);
      c('node_net_received_packets_total', 'Packets received', (x) => x.rxPackets);
      c('node_net_transmitted_packets_total', 'Packets sent', (x) => x.txPackets);
      out.push(gaugeMetric('node_net_interface_up', '1 when the interface is up', '', nets.map((x) => {
        const state = readText(join(this.#sys, 'class/net', x.iface, 'operstate'))?.trim();
        return pt(state === 'up' || state === 'unknown' ? 1 : 0, { interface: x.iface });
      })));
      const ifs = networkInterfaces();
      const ips: DataPoint<number>[] = [];
      for (const n of nets) for (const a of ifs[n.iface] ?? []) if (!a.internal) ips.push(pt(1, { interface: n.iface, ip: a.address }));
      out.push(gaugeMetric('node_net_interface_ip', 'Addresses of each interface', '', ips));
    }
    return out.filter((m) => m.dataPoints.length > 0);
  }

  async shutdown(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
  }
}


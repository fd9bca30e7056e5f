import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { countPoints } from '../../pdata/metrics.js';
import type { Counter } from '../../service/telemetry.js';
import type { DebugConfig } from './config.js';
import { logLine, metricLines, spanDetailed, spanLine } from './format.js';

/**
 * The `debug` exporter. `basic` prints one summary line per interval (items/s per signal and drops counted
 * anywhere in the agent); `normal` one line per item; `detailed` every field. One instance per id serves
 * all signals so the summary covers them together.
 */
export class DebugExporter implements Component {
  readonly #cfg: DebugConfig;
  readonly #set: Settings;
  readonly #write: (s: string) => void;
  #timer?: NodeJS.Timeout;
  #spans = 0;
  #points = 0;
  #logs = 0;
  #lastDrops = 0;
  #lastAt = Date.now();
  readonly #sent: Record<'traces' | 'metrics' | 'logs', Counter>;

  constructor(set: Settings, cfg: DebugConfig) {
    this.#set = set;
    this.#cfg = cfg;
    const stream = cfg.output === 'stderr' ? process.stderr : process.stdout;
    this.#write = (s) => void stream.write(s.endsWith('\n') ? s : `${s}\n`);
    const id = set.id.toString();
    this.#sent = {
      traces: set.telemetry.counter('sonde_exporter_sent_spans_total', 'spans successfully sent.', ['exporter']).labels(id),
      metrics: set.telemetry.counter('sonde_exporter_sent_metric_points_total', 'metric_points successfully sent.', ['exporter']).labels(id),
      logs: set.telemetry.counter('sonde_exporter_sent_log_records_total', 'log_records successfully sent.', ['exporter']).labels(id),
    };
  }

  async start(_host: Host): Promise<void> {
    this.#lastDrops = this.#set.telemetry.totalDrops();
    this.#lastAt = Date.now();
    if (this.#cfg.verbosity === 'basic') {
      this.#timer = setInterval(() => this.#summary(), this.#cfg.summary_interval);
      this.#timer.unref();
    }
  }

  #summary(): void {
    const now = Date.now();
    const secs = Math.max((now - this.#lastAt) / 1000, 0.001);
    const drops = this.#set.telemetry.totalDrops();
    const rate = (n: number) => (n / secs).toFixed(1);
    this.#write(`sonde ${this.#set.id.toString()}: ${this.#spans} spans (${rate(this.#spans)}/s), ${this.#points} metric points (${rate(this.#points)}/s), ${this.#logs} log records (${rate(this.#logs)}/s), ${drops - this.#lastDrops} drops in the last ${secs.toFixed(0)}s`);
    this.#spans = 0;
    this.#points = 0;
    this.#logs = 0;
    this.#lastDrops = drops;
    this.#lastAt = now;
  }

  async consumeTraces(td: Traces): Promise<void> {
    this.#spans += td.length;
    if (this.#cfg.verbosity === 'normal') for (const s of td) this.#write(spanLine(s));
    else if (this.#cfg.verbosity === 'detailed') for (const s of td) this.#write(spanDetailed(s));
    this.#sent.traces.inc(td.length);
  }

  async consumeMetrics(md: Metrics): Promise<void> {
    const n = countPoints(md);
    this.#points += n;
    if (this.#cfg.verbosity !== 'basic') for (const rm of md) for (const l of metricLines(rm, this.#cfg.verbosity === 'detailed')) this.#write(l);
    this.#sent.metrics.inc(n);
  }

  async consumeLogs(ld: Logs): Promise<void> {
    this.#logs += ld.length;
    if (this.#cfg.verbosity !== 'basic') for (const r of ld) this.#write(logLine(r, this.#cfg.verbosity === 'detailed'));
    this.#sent.logs.inc(ld.length);
  }

  async shutdown(): Promise<void> {
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#summary();
    }
  }
}

import type { Component, Host, Signal } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { ExporterTelemetry } from '../../helpers/exporter-telemetry.js';
import { countPoints } from '../../pdata/metrics.js';
import type { FileConfig } from './config.js';
import { logsToOtlpJson, metricsToOtlpJson, tracesToOtlpJson } from './otlp-json.js';
import { RotatingWriter } from './writer.js';

const NEWLINE = Buffer.from('\n');

/**
 * The `file` exporter: one OTLP-JSON Export*ServiceRequest per line, as the Collector's file exporter
 * writes them; size-based rotation with a cap on kept files. One instance per id serves all signals
 * (their lines interleave in one file). A batch is refused and counted when more than
 * `max_pending_megabytes` wait for the disk.
 */
export class FileExporter implements Component {
  readonly #cfg: FileConfig;
  readonly #set: Settings;
  readonly #writer: RotatingWriter;
  readonly #tel: Record<Signal, ExporterTelemetry>;
  #closed = false;

  constructor(set: Settings, cfg: FileConfig) {
    this.#set = set;
    this.#cfg = cfg;
    this.#writer = new RotatingWriter(cfg.path, {
      maxBytes: Math.round(cfg.rotation.max_megabytes * 1024 * 1024),
      maxBackups: cfg.rotation.max_backups,
      maxAgeDays: cfg.rotation.max_days,
    });
    this.#tel = { traces: new ExporterTelemetry(set, 'traces'), metrics: new ExporterTelemetry(set, 'metrics'), logs: new ExporterTelemetry(set, 'logs') };
  }

  async start(_host: Host): Promise<void> {
    try {
      await this.#writer.open();
    } catch (e) {
      throw new Error(`file exporter cannot open ${this.#cfg.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #write(signal: Signal, items: number, encode: () => Buffer): Promise<void> {
    const tel = this.#tel[signal];
    if (this.#closed) {
      tel.dropped('shutdown', items);
      return;
    }
    if (this.#writer.pendingBytes > this.#cfg.max_pending_megabytes * 1024 * 1024) {
      tel.dropped('queue_full', items);
      this.#set.logger.warnOnce('pending', 'disk too slow: batches dropped (counted in sonde_exporter_dropped_items_total)');
      return;
    }
    const line = Buffer.concat([encode(), NEWLINE]);
    try {
      await this.#writer.write(line);
      tel.sent.inc(items);
    } catch (e) {
      tel.failed.inc(items);
      tel.dropped('permanent_error', items);
      this.#set.logger.warnOnce('write', 'file write failed', { path: this.#cfg.path, error: (e as Error).message });
    }
  }

  consumeTraces(td: Traces): Promise<void> {
    return this.#write('traces', td.length, () => tracesToOtlpJson(td));
  }

  consumeMetrics(md: Metrics): Promise<void> {
    return this.#write('metrics', countPoints(md), () => metricsToOtlpJson(md));
  }

  consumeLogs(ld: Logs): Promise<void> {
    return this.#write('logs', ld.length, () => logsToOtlpJson(ld));
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close();
  }
}

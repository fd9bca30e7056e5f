import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzip } from 'node:zlib';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import { splitHostPort } from '../../config/schema.js';
import type { Metrics, MetricsConsumer } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { ExporterTelemetry } from '../../helpers/exporter-telemetry.js';
import { countPoints } from '../../pdata/metrics.js';
import type { PrometheusConfig } from './config.js';
import { SeriesStore } from './store.js';

const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * The `prometheus` exporter: keeps the latest value of every series and serves them on
 * `http://<endpoint>/metrics` in the text exposition format, or OpenMetrics 1.0 when enabled and the
 * scraper asks for it; gzip when the scraper accepts it.
 */
export class PrometheusExporter implements Component, MetricsConsumer {
  readonly capabilities = READ_ONLY;
  readonly #cfg: PrometheusConfig;
  readonly #set: Settings;
  readonly #store: SeriesStore;
  readonly #tel: ExporterTelemetry;
  #server?: Server;
  #stopped?: Promise<void>;

  constructor(set: Settings, cfg: PrometheusConfig) {
    this.#set = set;
    this.#cfg = cfg;
    this.#tel = new ExporterTelemetry(set, 'metrics');
    this.#store = new SeriesStore({
      namespace: cfg.namespace,
      addSuffixes: cfg.add_metric_suffixes,
      constLabels: cfg.const_labels,
      resourceToTelemetry: cfg.resource_to_telemetry_conversion.enabled,
      coroot: cfg.coroot_compat,
      host: set.host,
      expirationMs: cfg.metric_expiration,
      maxSeries: cfg.max_series,
    });
    const id = set.id.toString();
    set.telemetry.gaugeFn('sonde_exporter_prometheus_series', 'Series currently exposed by a prometheus exporter.', ['exporter'], () => [[[id], this.#store.seriesCount]]);
  }

  /** The address actually bound (useful with port 0). */
  get address(): string | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    return a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : undefined;
  }

  async start(_host: Host): Promise<void> {
    const { host, port } = splitHostPort(this.#cfg.endpoint);
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`prometheus exporter cannot listen on ${this.#cfg.endpoint}: ${e.code ?? e.message}`)));
      server.listen(port, host || undefined, () => resolve());
    });
    this.#server = server;
    this.#set.logger.info('prometheus scrape endpoint ready', { url: `http://${this.address}/metrics` });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    const accept = req.headers.accept ?? '';
    const om = this.#cfg.enable_open_metrics && accept.includes('application/openmetrics-text');
    const body = this.#store.render(om, this.#cfg.send_timestamps);
    const headers = { 'content-type': om ? OPENMETRICS : TEXT };
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && body.length > 1024) {
      gzip(body, (err, buf) => {
        if (err) res.writeHead(200, headers).end(body);
        else res.writeHead(200, { ...headers, 'content-encoding': 'gzip' }).end(buf);
      });
      return;
    }
    res.writeHead(200, headers).end(body);
  }

  async consumeMetrics(md: Metrics): Promise<void> {
    const before = this.#store.droppedSeries + this.#store.conflicts;
    const stored = this.#store.ingest(md);
    this.#tel.sent.inc(stored);
    const dropped = this.#store.droppedSeries + this.#store.conflicts - before;
    if (dropped > 0) {
      this.#tel.dropped('series_limit', dropped);
      this.#set.logger.warnOnce('max-series', 'series dropped: max_series reached or a name is used with two metric types', { max_series: this.#cfg.max_series });
    }
    const expected = countPoints(md);
    if (stored + dropped < expected) this.#tel.failed.inc(expected - stored - dropped);
  }

  shutdown(): Promise<void> {
    this.#stopped ??= (async () => {
      const s = this.#server;
      if (!s) return;
      this.#server = undefined;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    })();
    return this.#stopped;
  }
}

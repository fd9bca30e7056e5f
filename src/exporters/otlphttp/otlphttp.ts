import type { Component, Host, Signal } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { PermanentError, RetryableError, ThrottleError } from '../../consumer/errors.js';
import { ExporterHelper } from '../../helpers/exporter-helper.js';
import type { PushResult, Request } from '../../helpers/exporter-helper.js';
import { bodyExcerpt, HttpSender, parseRetryAfter } from '../../internal/http-sender.js';
import { decodePartialSuccess, encodeLogs, encodeMetrics, encodeTraces, HTTP_PATH } from '../../internal/otlp/proto.js';
import { countPoints } from '../../pdata/metrics.js';
import { VERSION } from '../../version.js';
import type { OtlpHttpConfig } from './config.js';

/** The Collector's otlphttp rule: only these statuses are worth retrying. */
const RETRYABLE = new Set([429, 502, 503, 504]);

export function signalUrl(cfg: OtlpHttpConfig, signal: Signal): string {
  const override = signal === 'traces' ? cfg.traces_endpoint : signal === 'metrics' ? cfg.metrics_endpoint : cfg.logs_endpoint;
  return override ?? `${cfg.endpoint.replace(/\/+$/, '')}${HTTP_PATH[signal]}`;
}

/**
 * The `otlphttp` exporter for one signal: OTLP/protobuf POSTed over HTTP(S). 2xx → sent (partial
 * success counted), 429/502/503/504 → retried (honouring Retry-After), other statuses → permanent.
 */
export class OtlpHttpExporter implements Component {
  readonly capabilities = READ_ONLY;
  readonly #cfg: OtlpHttpConfig;
  readonly #signal: Signal;
  readonly #url: string;
  readonly #helper: ExporterHelper;
  readonly #sender: HttpSender;

  constructor(set: Settings, cfg: OtlpHttpConfig, signal: Signal) {
    this.#cfg = cfg;
    this.#signal = signal;
    this.#url = signalUrl(cfg, signal);
    this.#sender = new HttpSender({ tls: cfg.tls, maxSockets: cfg.sending_queue.num_consumers, userAgent: `sonde/${VERSION}` });
    this.#helper = new ExporterHelper(set, {
      signal, timeoutMs: cfg.timeout, queue: cfg.sending_queue, retry: cfg.retry_on_failure,
      push: (req, sig) => this.#push(req, sig),
    });
  }

  async start(_host: Host): Promise<void> {
    try {
      await this.#sender.init(this.#url);
    } catch (e) {
      throw new Error(`otlphttp exporter: ${(e as Error).message}`);
    }
    await this.#helper.start();
  }

  async #push(req: Request, signal: AbortSignal): Promise<PushResult> {
    const res = await this.#sender.post(this.#url, req.data, { ...this.#cfg.headers, 'content-type': 'application/x-protobuf' }, signal, this.#cfg.compression === 'gzip');
    if (res.status >= 200 && res.status < 300) {
      const ct = String(res.headers['content-type'] ?? '');
      return ct.includes('protobuf') ? decodePartialSuccess(this.#signal, res.body) : {};
    }
    const msg = `OTLP/HTTP ${this.#url} answered ${res.status}: ${bodyExcerpt(res.body)}`;
    if (!RETRYABLE.has(res.status)) throw new PermanentError(msg);
    const after = parseRetryAfter(res.headers['retry-after']);
    throw after !== undefined ? new ThrottleError(msg, after) : new RetryableError(msg);
  }

  consumeTraces = (td: Traces): Promise<void> => this.#helper.enqueue([{ items: td.length, data: encodeTraces(td), key: '', partition: 0 }]);
  consumeMetrics = (md: Metrics): Promise<void> => this.#helper.enqueue([{ items: countPoints(md), data: encodeMetrics(md), key: '', partition: 0 }]);
  consumeLogs = (ld: Logs): Promise<void> => this.#helper.enqueue([{ items: ld.length, data: encodeLogs(ld), key: '', partition: 0 }]);

  async shutdown(signal?: AbortSignal): Promise<void> {
    try {
      await this.#helper.shutdown(signal);
    } finally {
      this.#sender.close();
    }
  }
}

import SnappyJS from 'snappyjs';
import type { Component, Host } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Metrics } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { PermanentError, RetryableError, ThrottleError } from '../../consumer/errors.js';
import { ExporterHelper } from '../../helpers/exporter-helper.js';
import type { PushResult, Request } from '../../helpers/exporter-helper.js';
import { bodyExcerpt, HttpSender, parseRetryAfter } from '../../internal/http-sender.js';
import type { HttpResponse } from '../../internal/http-sender.js';
import type { Logger } from '../../service/logger.js';
import type { Counter } from '../../service/telemetry.js';
import { VERSION } from '../../version.js';
import type { PrometheusRemoteWriteConfig } from './config.js';
import { RemoteWriteEncoder } from './encode.js';
import { stripMetadata, toV2 } from './rw2.js';

const V1_HEADERS = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' };
const V2_HEADERS = { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' };
const WRITTEN_HEADERS = ['x-prometheus-remote-write-samples-written', 'x-prometheus-remote-write-histograms-written', 'x-prometheus-remote-write-exemplars-written'];

function snappy(b: Buffer): Buffer {
  const out = SnappyJS.compress(b);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The `prometheusremotewrite` exporter. consume → series encoded into per-shard WriteRequest fragments
 * (encode.ts) → one ordered lane per shard in the exporter helper → snappy-compressed POSTs. Status
 * handling follows the spec: 2xx sent; 5xx and 429 retried (Retry-After honoured); any other 4xx
 * (400 "out of bounds", invalid labels…) is permanent: dropped and counted, never retried.
 */
export class PrometheusRemoteWriteExporter implements Component {
  readonly capabilities = READ_ONLY;
  readonly #cfg: PrometheusRemoteWriteConfig;
  readonly #log: Logger;
  readonly #encoder: RemoteWriteEncoder;
  readonly #helper: ExporterHelper;
  readonly #sender: HttpSender;
  readonly #headers: Record<string, string>;
  readonly #samplesSent: Counter;
  /** 'unknown' until a 2.0 request was confirmed; 'no' after a fallback (for the exporter's life). */
  #v2: 'unknown' | 'yes' | 'no';

  constructor(set: Settings, cfg: PrometheusRemoteWriteConfig) {
    this.#cfg = cfg;
    this.#log = set.logger;
    this.#v2 = cfg.remote_write_version === '2.0' ? 'unknown' : 'no';
    this.#encoder = new RemoteWriteEncoder({
      namespace: cfg.namespace,
      addSuffixes: cfg.add_metric_suffixes,
      resourceToTelemetry: cfg.resource_to_telemetry_conversion.enabled,
      coroot: cfg.coroot_compat,
      host: set.host,
      externalLabels: cfg.external_labels,
      targetInfo: cfg.target_info.enabled,
      shards: cfg.sending_queue.num_consumers,
      metadata: cfg.remote_write_version === '2.0' || cfg.send_metadata,
    });
    this.#sender = new HttpSender({ tls: cfg.tls, maxSockets: cfg.sending_queue.num_consumers, userAgent: `sonde/${VERSION}` });
    const auth: Record<string, string> = {};
    if (cfg.bearer_token) auth.authorization = `Bearer ${cfg.bearer_token}`;
    else if (cfg.basic_auth.username) auth.authorization = `Basic ${Buffer.from(`${cfg.basic_auth.username}:${cfg.basic_auth.password}`).toString('base64')}`;
    this.#headers = { ...cfg.headers, ...auth };
    this.#helper = new ExporterHelper(set, {
      signal: 'metrics', timeoutMs: cfg.timeout, queue: cfg.sending_queue, retry: cfg.retry_on_failure, ordered: true,
      push: (req, sig) => this.#push(req, sig),
    });
    this.#samplesSent = set.telemetry.counter('sonde_exporter_prometheusremotewrite_samples_sent_total', 'Samples (series values, incl. histogram buckets) a remote-write exporter delivered.', ['exporter']).labels(set.id.toString());
  }

  async start(_host: Host): Promise<void> {
    try {
      await this.#sender.init(this.#cfg.endpoint);
    } catch (e) {
      throw new Error(`prometheusremotewrite exporter: ${(e as Error).message}`);
    }
    await this.#helper.start();
  }

  async consumeMetrics(md: Metrics): Promise<void> {
    const { shards, unsupported } = this.#encoder.encode(md);
    if (unsupported > 0) {
      this.#helper.tel.dropped('unsupported', unsupported);
      this.#log.warnOnce('unsupported', 'metrics remote-write cannot carry were dropped (delta temporality, exponential histograms); counted in sonde_exporter_dropped_items_total{reason="unsupported"}');
    }
    if (shards.length === 0) return;
    await this.#helper.enqueue(shards.map((s) => ({ items: s.items, data: s.data, key: '', partition: s.shard })));
  }

  #post(body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    // Reserved headers last: users cannot override them (config validation refuses them too).
    return this.#sender.post(this.#cfg.endpoint, snappy(body), { ...this.#headers, ...headers }, signal);
  }

  async #push(req: Request, signal: AbortSignal): Promise<PushResult> {
    if (this.#v2 !== 'no') {
      const v2 = toV2(req.data);
      const res = await this.#post(v2.data, V2_HEADERS, signal);
      const written = WRITTEN_HEADERS.some((h) => res.headers[h] !== undefined);
      const isOk = res.status >= 200 && res.status < 300;
      if (isOk && written) {
        this.#v2 = 'yes';
        this.#samplesSent.inc(v2.samples);
        return {};
      }
      const looksV1 = res.status === 415 || (isOk && !written) || (this.#v2 === 'unknown' && res.status >= 400 && res.status < 500 && res.status !== 429);
      if (!looksV1) return this.#classify(res, 'RW 2.0');
      this.#v2 = 'no';
      this.#log.info('remote-write receiver does not speak 2.0: falling back to 1.0 (the request is resent as 1.0)', { status: res.status, endpoint: this.#cfg.endpoint });
    }
    const body = this.#cfg.send_metadata ? req.data : stripMetadata(req.data);
    const res = await this.#post(body, V1_HEADERS, signal);
    if (res.status >= 200 && res.status < 300) {
      this.#samplesSent.inc(countSamples(body));
      return {};
    }
    return this.#classify(res, 'RW 1.0');
  }

  #classify(res: HttpResponse, proto: string): never {
    const msg = `remote-write (${proto}) ${this.#cfg.endpoint} answered ${res.status}: ${bodyExcerpt(res.body)}`;
    if (res.status >= 500 || res.status === 429) {
      const after = parseRetryAfter(res.headers['retry-after']);
      throw after !== undefined ? new ThrottleError(msg, after) : new RetryableError(msg);
    }
    throw new PermanentError(msg);
  }

  async shutdown(signal?: AbortSignal): Promise<void> {
    try {
      await this.#helper.shutdown(signal);
    } finally {
      this.#sender.close();
    }
  }
}

/** Samples in RW 1.0 bytes: one per TimeSeries (the encoder writes one sample per series). */
function countSamples(v1: Buffer): number {
  let n = 0;
  let o = 0;
  while (o < v1.length) {
    const tag = v1[o++];
    let len = 0;
    let mul = 1;
    for (;;) {
      const b = v1[o++];
      len += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    if (tag === 0x0a) n++;
    o += len;
  }
  return n;
}

import { readFile } from 'node:fs/promises';
import { checkServerIdentity } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { credentials as grpcCredentials, Metadata } from '@grpc/grpc-js';
// The official client constructor (a unary Export client that passes bytes through untouched). Its
// GrpcExporterTransport is not used: it cannot set channel options (reconnect backoff, TLS authority
// override) nor cancel an in-flight call, which shutdown deadlines need.
import { createServiceClientConstructor } from '@opentelemetry/otlp-grpc-exporter-base/build/src/create-service-client-constructor.js';
import type { Component, Host, Signal } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { ExporterHelper } from '../../helpers/exporter-helper.js';
import type { PushResult, Request } from '../../helpers/exporter-helper.js';
import { parseGrpcEndpoint } from '../../helpers/exporter-config.js';
import { classifyGrpcError } from '../../internal/otlp/grpc-status.js';
import { decodePartialSuccess, encodeLogs, encodeMetrics, encodeTraces, GRPC_SERVICE } from '../../internal/otlp/proto.js';
import { countPoints } from '../../pdata/metrics.js';
import { VERSION } from '../../version.js';
import type { OtlpConfig } from './config.js';

interface ExportClient {
  export(data: Buffer, metadata: Metadata, options: { deadline: number }, cb: (err: Error | null, response?: Buffer) => void): { cancel(): void };
  close(): void;
}

/** gRPC channel options: a lost backend is retried by the exporter helper, so keep reconnects prompt. */
const MAX_RECONNECT_BACKOFF_MS = 5000;

/** Builds grpc-js channel credentials from the `tls` section (files are read by the caller). */
export function channelCredentials(insecure: boolean, tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; skipVerify: boolean; serverName: string }): ChannelCredentials {
  if (insecure) return grpcCredentials.createInsecure();
  const verify: { rejectUnauthorized?: boolean; checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined } = {};
  if (tls.skipVerify) {
    verify.rejectUnauthorized = false;
    verify.checkServerIdentity = () => undefined;
  } else if (tls.serverName) {
    verify.checkServerIdentity = (_host, cert) => checkServerIdentity(tls.serverName, cert);
  }
  return grpcCredentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null, verify);
}

/**
 * The `otlp` exporter for one signal: OTLP/protobuf over gRPC with @grpc/grpc-js and the official
 * @opentelemetry/otlp-grpc-exporter-base client constructor. Batches are encoded with the official serializers
 * on the caller's path, queued as bytes by the exporter helper and sent by its consumers; merged
 * requests are concatenations of Export*ServiceRequest messages (one request, many resources).
 */
export class OtlpGrpcExporter implements Component {
  readonly capabilities = READ_ONLY;
  readonly #set: Settings;
  readonly #cfg: OtlpConfig;
  readonly #signal: Signal;
  readonly #helper: ExporterHelper;
  #client?: ExportClient;
  #metadata?: Metadata;

  constructor(set: Settings, cfg: OtlpConfig, signal: Signal) {
    this.#set = set;
    this.#cfg = cfg;
    this.#signal = signal;
    this.#helper = new ExporterHelper(set, {
      signal, timeoutMs: cfg.timeout, queue: cfg.sending_queue, retry: cfg.retry_on_failure,
      push: (req, sig) => this.#push(req, sig),
    });
  }

  async start(_host: Host): Promise<void> {
    const { address, tlsFromScheme } = parseGrpcEndpoint(this.#cfg.endpoint);
    const tls = this.#cfg.tls;
    const insecure = tls.insecure || tlsFromScheme === false;
    const read = async (what: string, f: string) => {
      if (!f) return undefined;
      try {
        return await readFile(f);
      } catch (e) {
        throw new Error(`otlp exporter: cannot read tls.${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    const files = { ca: await read('ca_file', tls.ca_file), cert: await read('cert_file', tls.cert_file), key: await read('key_file', tls.key_file) };
    const creds = channelCredentials(insecure, { ...files, skipVerify: tls.insecure_skip_verify, serverName: tls.server_name_override });
    const service = GRPC_SERVICE[this.#signal];
    const Client = createServiceClientConstructor(service.path, service.name) as unknown as new (address: string, creds: ChannelCredentials, options: ChannelOptions) => ExportClient;
    this.#client = new Client(address, creds, {
      'grpc.default_compression_algorithm': this.#cfg.compression === 'gzip' ? 2 : 0,
      'grpc.primary_user_agent': `sonde/${VERSION}`,
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
      ...(tls.server_name_override && !insecure ? { 'grpc.ssl_target_name_override': tls.server_name_override, 'grpc.default_authority': tls.server_name_override } : {}),
    });
    this.#metadata = new Metadata();
    for (const [k, v] of Object.entries(this.#cfg.headers)) this.#metadata.set(k.toLowerCase(), v);
    await this.#helper.start();
  }

  #push(req: Request, signal: AbortSignal): Promise<PushResult> {
    const client = this.#client;
    const metadata = this.#metadata;
    if (!client || !metadata) return Promise.reject(new Error('otlp exporter not started'));
    return new Promise<PushResult>((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = client.export(req.data, metadata, { deadline: Date.now() + this.#cfg.timeout }, (err, response) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(classifyGrpcError(err));
        else resolve(decodePartialSuccess(this.#signal, response));
      });
      if (signal.aborted) call.cancel();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  consumeTraces = (td: Traces): Promise<void> => this.#helper.enqueue([{ items: td.length, data: encodeTraces(td), key: '', partition: 0 }]);
  consumeMetrics = (md: Metrics): Promise<void> => this.#helper.enqueue([{ items: countPoints(md), data: encodeMetrics(md), key: '', partition: 0 }]);
  consumeLogs = (ld: Logs): Promise<void> => this.#helper.enqueue([{ items: ld.length, data: encodeLogs(ld), key: '', partition: 0 }]);

  async shutdown(signal?: AbortSignal): Promise<void> {
    try {
      await this.#helper.shutdown(signal);
    } finally {
      this.#client?.close();
      this.#client = undefined;
    }
  }
}

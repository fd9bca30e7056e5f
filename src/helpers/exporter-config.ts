/**
 * Config sections shared by the network exporters, named after the Collector's exporterhelper and
 * configtls/confighttp: `timeout`, `sending_queue`, `retry_on_failure`, `tls`. Each exporter embeds them
 * in its own schema and takes the defaults from the functions below (with its own queue size if needed).
 */
import type { Infer, Issue } from '../config/schema.js';
import { INVALID, Schema, isHostPort, s } from '../config/schema.js';

export const queueSchema = s.refine(s.object({
  enabled: s.bool().describe('Queue data and send it from background consumers. When false, consume waits for the send (and its retries).'),
  num_consumers: s.int({ min: 1, max: 256 }).describe('Requests sent in parallel. Exporters that must keep per-series order (prometheusremotewrite) use one ordered shard per consumer.'),
  queue_size: s.int({ min: 1 }).describe('Capacity in items (spans, metric data points, log records). Data that does not fit is dropped and counted (reason `queue_full`) unless `block_on_overflow`.'),
  queue_bytes: s.size().describe('Capacity in bytes of encoded data held in memory (in-memory queue only). Both limits apply.'),
  block_on_overflow: s.bool().describe('When the queue is full, make the caller wait for room instead of dropping.'),
  storage: s.string().describe('Directory for a persistent queue (empty: in memory). Data is written there before it is accepted, replayed after a restart and removed once the backend acknowledged it.'),
  storage_size: s.size().describe('Upper bound on the persistent queue\'s disk usage; data beyond it is dropped and counted (reason `storage_full`).'),
  batch: s.object({
    min_size: s.int({ min: 0 }).describe('A consumer waits until this many items are queued (or `flush_timeout` passed) before sending; 0 sends at once.'),
    max_size: s.int({ min: 1 }).describe('Queued requests are merged into one send up to this many items.'),
    max_bytes: s.size().describe('…and up to this many encoded bytes.'),
    flush_timeout: s.duration().describe('Longest wait for `min_size`.'),
  }),
}), (q) => (q.batch.max_size < q.batch.min_size ? [{ path: ['batch', 'max_size'], message: `must be ≥ batch.min_size (${q.batch.min_size}), got ${q.batch.max_size}` }] : []))
  .describe('The sending queue (Collector `sending_queue`).');

export type QueueConfig = Infer<typeof queueSchema>;

export function defaultQueueConfig(overrides: Partial<Omit<QueueConfig, 'batch'>> & { batch?: Partial<QueueConfig['batch']> } = {}): QueueConfig {
  const { batch, ...rest } = overrides;
  return {
    enabled: true,
    num_consumers: 10,
    queue_size: 200_000,
    queue_bytes: 64 * 1024 * 1024,
    block_on_overflow: false,
    storage: '',
    storage_size: 1024 * 1024 * 1024,
    ...rest,
    batch: { min_size: 0, max_size: 8192, max_bytes: 4 * 1024 * 1024, flush_timeout: 200, ...batch },
  };
}

export const retrySchema = s.object({
  enabled: s.bool().describe('Retry failed sends that may succeed later (connection errors, 5xx/UNAVAILABLE, throttling).'),
  initial_interval: s.duration(1).describe('Wait after the first failure.'),
  max_interval: s.duration(1).describe('Upper bound on the wait between attempts.'),
  max_elapsed_time: s.duration().describe('Give up (drop and count, reason `retries_exhausted`) after retrying this long; 0 = never give up.'),
  multiplier: s.number({ min: 1 }).describe('Factor applied to the wait after each failure.'),
  randomization_factor: s.number({ min: 0, max: 1 }).describe('Jitter: each wait is drawn from interval × [1 − f, 1 + f].'),
}).describe('Retries with exponential backoff and jitter (Collector `retry_on_failure`). A server\'s retry-after (HTTP Retry-After, gRPC RetryInfo) overrides a shorter backoff.');

export type RetryConfig = Infer<typeof retrySchema>;

export function defaultRetryConfig(): RetryConfig {
  return { enabled: true, initial_interval: 5000, max_interval: 30_000, max_elapsed_time: 300_000, multiplier: 1.5, randomization_factor: 0.5 };
}

export const tlsSchema = s.object({
  insecure: s.bool().describe('gRPC only: plaintext (no TLS). For HTTP endpoints the URL scheme decides.'),
  ca_file: s.string().describe('PEM file with the CA(s) that sign the server certificate (default: the system roots).'),
  cert_file: s.string().describe('Client certificate (PEM) for mutual TLS; needs `key_file`.'),
  key_file: s.string().describe('Client private key (PEM) for mutual TLS; needs `cert_file`.'),
  insecure_skip_verify: s.bool().describe('Do not verify the server certificate (testing only).'),
  server_name_override: s.string().describe('Server name expected in the certificate (SNI) instead of the endpoint host.'),
}).describe('TLS client settings (Collector configtls).');

export type TlsConfig = Infer<typeof tlsSchema>;

export function defaultTlsConfig(insecure = false): TlsConfig {
  return { insecure, ca_file: '', cert_file: '', key_file: '', insecure_skip_verify: false, server_name_override: '' };
}

/** Cross-field TLS rules, for an exporter's `s.refine`. */
export function tlsIssues(tls: TlsConfig): Array<{ path: readonly string[]; message: string }> {
  if ((tls.cert_file === '') !== (tls.key_file === '')) {
    return [{ path: ['tls', tls.cert_file === '' ? 'cert_file' : 'key_file'], message: 'cert_file and key_file must be set together' }];
  }
  return [];
}

/** host:port, or http(s)://host:port (the scheme only says whether TLS is expected, as in the Collector). */
const GRPC_URL_RE = /^(https?):\/\/([^/?#]+)\/?$/;

class GrpcEndpointSchema extends Schema<string> {
  readonly typeName = 'host:port or http(s)://host:port';
  parse(value: unknown, path: readonly string[], issues: Issue[]): string | typeof INVALID {
    if (typeof value === 'string') {
      const m = GRPC_URL_RE.exec(value);
      const hostPort = m ? m[2] : value;
      if (isHostPort(hostPort) && !hostPort.startsWith(':')) return value;
    }
    issues.push({ path, message: `must be host:port or http(s)://host:port, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}` });
    return INVALID;
  }
}

export function grpcEndpoint(): Schema<string> {
  return new GrpcEndpointSchema();
}

/** Splits a gRPC endpoint into the address grpc-js dials and whether its scheme asked for TLS (undefined: no scheme). */
export function parseGrpcEndpoint(endpoint: string): { address: string; tlsFromScheme?: boolean } {
  const m = GRPC_URL_RE.exec(endpoint);
  if (!m) return { address: endpoint };
  return { address: m[2], tlsFromScheme: m[1] === 'https' };
}

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { defaultQueueConfig, defaultRetryConfig, defaultTlsConfig, queueSchema, retrySchema, tlsIssues, tlsSchema } from '../../helpers/exporter-config.js';

/** Headers the remote-write spec reserves: users must not override them. */
export const RESERVED_HEADERS = ['content-encoding', 'content-type', 'x-prometheus-remote-write-version', 'user-agent'];

export const prometheusRemoteWriteConfigSchema = s.refine(s.object({
  endpoint: s.url().describe('Remote-write URL, e.g. `http://prometheus:9090/api/v1/write`. Required.'),
  remote_write_version: s.enum(['2.0', '1.0']).describe('Protocol to try first. With 2.0 the exporter falls back to 1.0 for good when the receiver answers 415 or shows it is a 1.0 receiver (2xx without the `X-Prometheus-Remote-Write-*-Written` headers, or 4xx before any 2.0 request succeeded), and resends the request as 1.0.'),
  headers: s.map(s.string()).describe('Extra HTTP headers (e.g. `X-Scope-OrgID`). The spec\'s reserved headers cannot be set.'),
  basic_auth: s.object({
    username: s.string().describe('Basic-auth user (empty: no basic auth).'),
    password: s.string().describe('Basic-auth password; use `${env:VAR}`.'),
  }),
  bearer_token: s.string().describe('Sent as `Authorization: Bearer …` (empty: none); use `${env:VAR}`.'),
  tls: tlsSchema,
  timeout: s.duration(1).describe('Deadline of one HTTP request.'),
  namespace: s.string().describe('Prefix for every metric name (joined with `_`).'),
  external_labels: s.map(s.string()).describe('Labels added to every series that does not already have them.'),
  add_metric_suffixes: s.bool().describe('Add unit and `_total` suffixes to names, as the Collector does.'),
  resource_to_telemetry_conversion: s.object({
    enabled: s.bool().describe('Copy every resource attribute onto each series as a label.'),
  }),
  target_info: s.object({
    enabled: s.bool().describe('Send a `target_info` series per resource carrying its attributes (besides `job`/`instance`).'),
  }),
  coroot_compat: s.bool().describe('Add coroot-node-agent labels: `container_id`, `app_id` (from resource attributes), `machine_id`, `system_uuid`.'),
  send_metadata: s.bool().describe('RW 1.0 only: also send MetricMetadata (type, help, unit) in field 3, which Prometheus accepts although the 1.0 spec reserves it. RW 2.0 always carries metadata.'),
  sending_queue: queueSchema,
  retry_on_failure: retrySchema,
}), (c) => {
  const issues: Array<{ path: readonly string[]; message: string }> = [...tlsIssues(c.tls)];
  if (c.endpoint === '') issues.push({ path: ['endpoint'], message: 'is required: the remote-write URL, e.g. http://prometheus:9090/api/v1/write' });
  for (const k of Object.keys(c.headers)) {
    if (RESERVED_HEADERS.includes(k.toLowerCase())) issues.push({ path: ['headers', k], message: `is reserved by the remote-write protocol and set by the exporter` });
    if (k.toLowerCase() === 'authorization' && (c.bearer_token || c.basic_auth.username)) issues.push({ path: ['headers', k], message: 'conflicts with basic_auth/bearer_token' });
  }
  if (c.bearer_token && c.basic_auth.username) issues.push({ path: ['bearer_token'], message: 'cannot be used together with basic_auth' });
  return issues;
}).describe('Prometheus remote-write (1.0, and 2.0 with fallback).');

export type PrometheusRemoteWriteConfig = Infer<typeof prometheusRemoteWriteConfigSchema>;

export function createDefaultPrometheusRemoteWriteConfig(): PrometheusRemoteWriteConfig {
  return {
    endpoint: '',
    remote_write_version: '2.0',
    headers: {},
    basic_auth: { username: '', password: '' },
    bearer_token: '',
    tls: defaultTlsConfig(),
    timeout: 5000,
    namespace: '',
    external_labels: {},
    add_metric_suffixes: true,
    resource_to_telemetry_conversion: { enabled: false },
    target_info: { enabled: true },
    coroot_compat: true,
    send_metadata: false,
    // One ordered shard per consumer (the Collector's remote_write_queue.num_consumers default is 5);
    // ~3 MB uncompressed per request like the Collector's max_batch_size_bytes.
    sending_queue: defaultQueueConfig({ num_consumers: 5, batch: { max_size: 50_000, max_bytes: 3_000_000 } }),
    retry_on_failure: defaultRetryConfig(),
  };
}

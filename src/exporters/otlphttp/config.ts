import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { defaultQueueConfig, defaultRetryConfig, defaultTlsConfig, queueSchema, retrySchema, tlsIssues, tlsSchema } from '../../helpers/exporter-config.js';

export const otlpHttpConfigSchema = s.refine(s.object({
  endpoint: s.url().describe('Base URL of the OTLP/HTTP receiver; `/v1/traces`, `/v1/metrics` or `/v1/logs` is appended.'),
  traces_endpoint: s.url().optional().describe('Full URL for traces (overrides `endpoint`).'),
  metrics_endpoint: s.url().optional().describe('Full URL for metrics (overrides `endpoint`).'),
  logs_endpoint: s.url().optional().describe('Full URL for logs (overrides `endpoint`).'),
  tls: tlsSchema,
  headers: s.map(s.string()).describe('HTTP headers sent with every request, e.g. `authorization: "Bearer ${env:OTLP_TOKEN}"`.'),
  compression: s.enum(['gzip', 'none']).describe('Request body compression.'),
  timeout: s.duration(1).describe('Deadline of one export attempt.'),
  sending_queue: queueSchema,
  retry_on_failure: retrySchema,
}), (c) => tlsIssues(c.tls)).describe('OTLP/HTTP with protobuf bodies.');

export type OtlpHttpConfig = Infer<typeof otlpHttpConfigSchema>;

export function createDefaultOtlpHttpConfig(): OtlpHttpConfig {
  return {
    endpoint: 'http://localhost:4318',
    tls: defaultTlsConfig(),
    headers: {},
    compression: 'gzip',
    timeout: 5000,
    sending_queue: defaultQueueConfig(),
    retry_on_failure: defaultRetryConfig(),
  };
}

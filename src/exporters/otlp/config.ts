import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { defaultQueueConfig, defaultRetryConfig, defaultTlsConfig, grpcEndpoint, queueSchema, retrySchema, tlsIssues, tlsSchema } from '../../helpers/exporter-config.js';

export const otlpConfigSchema = s.refine(s.object({
  endpoint: grpcEndpoint().describe('gRPC endpoint of the OTLP receiver: host:port, or http(s)://host:port (http:// implies `tls.insecure`).'),
  tls: tlsSchema,
  headers: s.map(s.string()).describe('gRPC metadata sent with every request, e.g. `authorization: "Bearer ${env:OTLP_TOKEN}"`.'),
  compression: s.enum(['gzip', 'none']).describe('Request compression.'),
  timeout: s.duration(1).describe('Deadline of one export attempt.'),
  sending_queue: queueSchema,
  retry_on_failure: retrySchema,
}), (c) => tlsIssues(c.tls)).describe('OTLP over gRPC.');

export type OtlpConfig = Infer<typeof otlpConfigSchema>;

export function createDefaultOtlpConfig(): OtlpConfig {
  return {
    endpoint: 'localhost:4317',
    tls: defaultTlsConfig(),
    headers: {},
    compression: 'gzip',
    timeout: 5000,
    sending_queue: defaultQueueConfig(),
    retry_on_failure: defaultRetryConfig(),
  };
}

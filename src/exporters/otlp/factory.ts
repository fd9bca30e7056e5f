import type { ExporterFactory } from '../../component/factory.js';
import type { OtlpConfig } from './config.js';
import { createDefaultOtlpConfig, otlpConfigSchema } from './config.js';
import { OtlpGrpcExporter } from './otlp.js';

export const otlpExporterFactory: ExporterFactory<OtlpConfig> = {
  kind: 'exporter',
  type: 'otlp',
  description: 'Sends traces, metrics and logs over OTLP/gRPC (queue, retries, optional persistent queue).',
  stability: { traces: 'beta', metrics: 'beta', logs: 'alpha' },
  configSchema: otlpConfigSchema,
  createDefaultConfig: createDefaultOtlpConfig,
  createTraces: (set, cfg) => new OtlpGrpcExporter(set, cfg, 'traces'),
  createMetrics: (set, cfg) => new OtlpGrpcExporter(set, cfg, 'metrics'),
  createLogs: (set, cfg) => new OtlpGrpcExporter(set, cfg, 'logs'),
};

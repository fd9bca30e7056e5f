import type { ExporterFactory } from '../../component/factory.js';
import type { OtlpHttpConfig } from './config.js';
import { createDefaultOtlpHttpConfig, otlpHttpConfigSchema } from './config.js';
import { OtlpHttpExporter } from './otlphttp.js';

export const otlpHttpExporterFactory: ExporterFactory<OtlpHttpConfig> = {
  kind: 'exporter',
  type: 'otlphttp',
  description: 'Sends traces, metrics and logs over OTLP/HTTP with protobuf bodies (queue, retries, optional persistent queue).',
  stability: { traces: 'beta', metrics: 'beta', logs: 'alpha' },
  configSchema: otlpHttpConfigSchema,
  createDefaultConfig: createDefaultOtlpHttpConfig,
  createTraces: (set, cfg) => new OtlpHttpExporter(set, cfg, 'traces'),
  createMetrics: (set, cfg) => new OtlpHttpExporter(set, cfg, 'metrics'),
  createLogs: (set, cfg) => new OtlpHttpExporter(set, cfg, 'logs'),
};

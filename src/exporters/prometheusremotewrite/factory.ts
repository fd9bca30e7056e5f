import type { ExporterFactory } from '../../component/factory.js';
import type { PrometheusRemoteWriteConfig } from './config.js';
import { createDefaultPrometheusRemoteWriteConfig, prometheusRemoteWriteConfigSchema } from './config.js';
import { PrometheusRemoteWriteExporter } from './prometheusremotewrite.js';

export const prometheusRemoteWriteExporterFactory: ExporterFactory<PrometheusRemoteWriteConfig> = {
  kind: 'exporter',
  type: 'prometheusremotewrite',
  description: 'Sends metrics with the Prometheus remote-write protocol (1.0; 2.0 with fallback), sharded by series.',
  stability: { metrics: 'beta' },
  configSchema: prometheusRemoteWriteConfigSchema,
  createDefaultConfig: createDefaultPrometheusRemoteWriteConfig,
  createMetrics: (set, cfg) => new PrometheusRemoteWriteExporter(set, cfg),
};

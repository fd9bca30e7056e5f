import type { ExporterFactory } from '../../component/factory.js';
import type { PrometheusConfig } from './config.js';
import { createDefaultPrometheusConfig, prometheusConfigSchema } from './config.js';
import { PrometheusExporter } from './prometheus.js';

export const prometheusExporterFactory: ExporterFactory<PrometheusConfig> = {
  kind: 'exporter',
  type: 'prometheus',
  description: 'Serves metrics on a Prometheus scrape endpoint (text format and OpenMetrics).',
  stability: { metrics: 'beta' },
  configSchema: prometheusConfigSchema,
  createDefaultConfig: createDefaultPrometheusConfig,
  createMetrics: (set, cfg) => new PrometheusExporter(set, cfg),
};

import type { ExporterFactory } from '../../component/factory.js';
import { ClickhouseExporter } from './clickhouse.js';
import type { ClickhouseConfig } from './config.js';
import { clickhouseConfigSchema, createDefaultClickhouseConfig } from './config.js';

export const clickhouseExporterFactory: ExporterFactory<ClickhouseConfig> = {
  kind: 'exporter',
  type: 'clickhouse',
  description: 'Inserts traces, metrics and logs into ClickHouse using the OpenTelemetry Collector clickhouseexporter schema.',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  configSchema: clickhouseConfigSchema,
  createDefaultConfig: createDefaultClickhouseConfig,
  createTraces: (set, cfg) => new ClickhouseExporter(set, cfg, 'traces'),
  createMetrics: (set, cfg) => new ClickhouseExporter(set, cfg, 'metrics'),
  createLogs: (set, cfg) => new ClickhouseExporter(set, cfg, 'logs'),
};

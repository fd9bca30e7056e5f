import type { ProcessorFactory } from '../../component/factory.js';
import { BatchProcessor } from './batch.js';
import type { BatchConfig } from './config.js';
import { batchConfigSchema, createDefaultBatchConfig } from './config.js';

export const batchProcessorFactory: ProcessorFactory<BatchConfig> = {
  kind: 'processor',
  type: 'batch',
  description: 'Groups spans, metric points and log records into batches by size and time.',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  configSchema: batchConfigSchema,
  createDefaultConfig: createDefaultBatchConfig,
  createTraces: (set, cfg, next) => new BatchProcessor(set, cfg, 'traces', next),
  createMetrics: (set, cfg, next) => new BatchProcessor(set, cfg, 'metrics', next),
  createLogs: (set, cfg, next) => new BatchProcessor(set, cfg, 'logs', next),
};

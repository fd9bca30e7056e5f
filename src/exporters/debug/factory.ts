import type { ExporterFactory } from '../../component/factory.js';
import { sharedExporterMethods } from '../../helpers/shared-exporter.js';
import type { DebugConfig } from './config.js';
import { createDefaultDebugConfig, debugConfigSchema } from './config.js';
import { DebugExporter } from './debug.js';

export const debugExporterFactory: ExporterFactory<DebugConfig> = {
  kind: 'exporter',
  type: 'debug',
  description: 'Prints a summary line per interval, or every item, to the console.',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  configSchema: debugConfigSchema,
  createDefaultConfig: createDefaultDebugConfig,
  ...sharedExporterMethods((set, cfg: DebugConfig) => new DebugExporter(set, cfg)),
};

import type { ExporterFactory } from '../../component/factory.js';
import { sharedExporterMethods } from '../../helpers/shared-exporter.js';
import type { FileConfig } from './config.js';
import { createDefaultFileConfig, fileConfigSchema } from './config.js';
import { FileExporter } from './file.js';

export const fileExporterFactory: ExporterFactory<FileConfig> = {
  kind: 'exporter',
  type: 'file',
  description: 'Writes OTLP-JSON lines to a file with size-based rotation.',
  stability: { traces: 'beta', metrics: 'beta', logs: 'beta' },
  configSchema: fileConfigSchema,
  createDefaultConfig: createDefaultFileConfig,
  ...sharedExporterMethods((set, cfg: FileConfig) => new FileExporter(set, cfg)),
};

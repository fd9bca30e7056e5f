import { debugExporterFactory } from './exporters/debug/factory.js';
import { fileExporterFactory } from './exporters/file/factory.js';
import { prometheusExporterFactory } from './exporters/prometheus/factory.js';
import { batchProcessorFactory } from './processors/batch/factory.js';
import { cgroupsReceiverFactory } from './receivers/cgroups/factory.js';
import { nodeReceiverFactory } from './receivers/node/factory.js';
import type { Components } from './service/registry.js';
import { defineComponents } from './service/registry.js';

/** Every component Sonde ships, keyed by YAML type. Add a factory here to make a component available. */
export function builtinComponents(): Components {
  return defineComponents({
    receivers: [nodeReceiverFactory, cgroupsReceiverFactory],
    processors: [batchProcessorFactory],
    exporters: [debugExporterFactory, fileExporterFactory, prometheusExporterFactory],
    extensions: [],
  });
}

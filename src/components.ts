import { clickhouseExporterFactory } from './exporters/clickhouse/factory.js';
import { debugExporterFactory } from './exporters/debug/factory.js';
import { fileExporterFactory } from './exporters/file/factory.js';
import { otlpExporterFactory } from './exporters/otlp/factory.js';
import { otlpHttpExporterFactory } from './exporters/otlphttp/factory.js';
import { prometheusExporterFactory } from './exporters/prometheus/factory.js';
import { prometheusRemoteWriteExporterFactory } from './exporters/prometheusremotewrite/factory.js';
import { batchProcessorFactory } from './processors/batch/factory.js';
import { cgroupProcessorFactory } from './processors/cgroup/factory.js';
import { containerProcessorFactory } from './processors/container/factory.js';
import { k8sAttributesProcessorFactory } from './processors/k8sattributes/factory.js';
import { cgroupsReceiverFactory } from './receivers/cgroups/factory.js';
import { ebpfReceiverFactory } from './receivers/ebpf/factory.js';
import { nodeReceiverFactory } from './receivers/node/factory.js';
import type { Components } from './service/registry.js';
import { defineComponents } from './service/registry.js';

/** Every component Sonde ships, keyed by YAML type. Add a factory here to make a component available. */
export function builtinComponents(): Components {
  return defineComponents({
    receivers: [nodeReceiverFactory, cgroupsReceiverFactory, ebpfReceiverFactory],
    processors: [batchProcessorFactory, cgroupProcessorFactory, containerProcessorFactory, k8sAttributesProcessorFactory],
    exporters: [debugExporterFactory, fileExporterFactory, prometheusExporterFactory, otlpExporterFactory, otlpHttpExporterFactory, prometheusRemoteWriteExporterFactory, clickhouseExporterFactory],
    extensions: [],
  });
}

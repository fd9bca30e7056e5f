import type { ProcessorFactory, Settings } from '../../component/factory.js';
import { SharedComponents } from '../../component/shared.js';
import { newResourceProcessor } from '../../helpers/resource-processor.js';
import type { ContainerProcessorConfig } from './config.js';
import { containerProcessorConfigSchema, createDefaultContainerProcessorConfig } from './config.js';
import { ContainerProcessorCore } from './container.js';

const shared = new SharedComponents<ContainerProcessorConfig, ContainerProcessorCore>();

function core(set: Settings, cfg: ContainerProcessorConfig) {
  const s = shared.getOrCreate(cfg, () => new ContainerProcessorCore(set, cfg));
  const h = s.handle();
  return { enricher: s.instance.enricher, lifecycle: { start: h.start, shutdown: h.shutdown } };
}

export const containerProcessorFactory: ProcessorFactory<ContainerProcessorConfig> = {
  kind: 'processor',
  type: 'container',
  description: 'container.id → container.name, container.image.*, runtime and the kubelet\'s k8s.* labels, from Docker, containerd or CRI-O.',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: containerProcessorConfigSchema,
  createDefaultConfig: createDefaultContainerProcessorConfig,
  createTraces(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('traces', next, c.enricher, c.lifecycle);
  },
  createMetrics(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('metrics', next, c.enricher, c.lifecycle);
  },
  createLogs(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('logs', next, c.enricher, c.lifecycle);
  },
};

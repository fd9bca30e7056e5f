import type { ProcessorFactory } from '../../component/factory.js';
import { sharedResourceProcessorMethods } from '../../helpers/resource-processor.js';
import type { ContainerProcessorConfig } from './config.js';
import { containerProcessorConfigSchema, createDefaultContainerProcessorConfig } from './config.js';
import { ContainerProcessorCore } from './container.js';

export const containerProcessorFactory: ProcessorFactory<ContainerProcessorConfig> = {
  kind: 'processor',
  type: 'container',
  description: 'container.id → container.name, container.image.*, runtime and the kubelet\'s k8s.* labels, from Docker, containerd or CRI-O.',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: containerProcessorConfigSchema,
  createDefaultConfig: createDefaultContainerProcessorConfig,
  ...sharedResourceProcessorMethods((set, cfg: ContainerProcessorConfig) => new ContainerProcessorCore(set, cfg)),
};

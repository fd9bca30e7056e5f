import type { ProcessorFactory } from '../../component/factory.js';
import { sharedResourceProcessorMethods } from '../../helpers/resource-processor.js';
import { CgroupProcessorCore } from './cgroup.js';
import type { CgroupProcessorConfig } from './config.js';
import { cgroupProcessorConfigSchema, createDefaultCgroupProcessorConfig } from './config.js';

export const cgroupProcessorFactory: ProcessorFactory<CgroupProcessorConfig> = {
  kind: 'processor',
  type: 'cgroup',
  description: 'process.pid / sonde.cgroup.path → cgroup path, container.id, container.runtime, k8s.pod.uid (v1, v2, hybrid).',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: cgroupProcessorConfigSchema,
  createDefaultConfig: createDefaultCgroupProcessorConfig,
  ...sharedResourceProcessorMethods((set, cfg: CgroupProcessorConfig) => new CgroupProcessorCore(set, cfg)),
};

import type { ReceiverFactory } from '../../component/factory.js';
import type { CgroupsConfig } from './config.js';
import { cgroupsConfigSchema, createDefaultCgroupsConfig } from './config.js';
import { CgroupsReceiver } from './cgroups.js';

export const cgroupsReceiverFactory: ReceiverFactory<CgroupsConfig> = {
  kind: 'receiver',
  type: 'cgroups',
  description: 'Container resource metrics from cgroups (CPU, memory, disk, PSI, restarts, container_info) with coroot-node-agent names.',
  stability: { metrics: 'alpha' },
  configSchema: cgroupsConfigSchema,
  createDefaultConfig: createDefaultCgroupsConfig,
  createMetrics: (set, cfg, next) => new CgroupsReceiver(set, cfg, next),
};

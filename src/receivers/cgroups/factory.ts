import type { ReceiverFactory } from '../../component/factory.js';
import type { CgroupsConfig } from './config.js';
import { cgroupsConfigSchema, createDefaultCgroupsConfig } from './config.js';
import type { CgroupsReceiverOptions } from './cgroups.js';
import { CgroupsReceiver } from './cgroups.js';

/** The `cgroups` receiver factory; `opts` are test seams (a fake taskstats source, statfs). */
export function createCgroupsReceiverFactory(opts: CgroupsReceiverOptions = {}): ReceiverFactory<CgroupsConfig> {
  return {
    kind: 'receiver',
    type: 'cgroups',
    description: 'Container resource metrics from cgroups (CPU, memory, disk I/O, PSI, restarts, container_info), mount tables (disk size and usage per mount point) and taskstats (CPU and disk delays) with coroot-node-agent names.',
    stability: { metrics: 'alpha' },
    configSchema: cgroupsConfigSchema,
    createDefaultConfig: createDefaultCgroupsConfig,
    createMetrics: (set, cfg, next) => new CgroupsReceiver(set, cfg, next, opts),
  };
}

export const cgroupsReceiverFactory: ReceiverFactory<CgroupsConfig> = createCgroupsReceiverFactory();

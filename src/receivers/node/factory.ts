import type { ReceiverFactory } from '../../component/factory.js';
import type { NodeConfig } from './config.js';
import { createDefaultNodeConfig, nodeConfigSchema } from './config.js';
import { NodeReceiver } from './node.js';

export const nodeReceiverFactory: ReceiverFactory<NodeConfig> = {
  kind: 'receiver',
  type: 'node',
  description: 'Node metrics from /proc and /sys with coroot-node-agent names (CPU, memory, disks, network).',
  stability: { metrics: 'beta' },
  configSchema: nodeConfigSchema,
  createDefaultConfig: createDefaultNodeConfig,
  createMetrics: (set, cfg, next) => new NodeReceiver(set, cfg, next),
};

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

export const nodeConfigSchema = s.object({
  collection_interval: s.duration(1000).describe('How often node metrics are read and emitted.'),
  root_path: s.string({ nonEmpty: true }).describe('Host root (e.g. `/host` in a container with the host mounted): /proc and /sys are read under it.'),
});

export type NodeConfig = Infer<typeof nodeConfigSchema>;

export function createDefaultNodeConfig(): NodeConfig {
  return { collection_interval: 15_000, root_path: '/' };
}

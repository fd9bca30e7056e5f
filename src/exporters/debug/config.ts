import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

export const debugConfigSchema = s.object({
  verbosity: s.enum(['basic', 'normal', 'detailed']).describe('`basic`: one summary line per interval; `normal`: one line per item; `detailed`: every field of every item.'),
  summary_interval: s.duration(100).describe('How often `basic` prints its summary line.'),
  output: s.enum(['stdout', 'stderr']).describe('Where lines are written.'),
});

export type DebugConfig = Infer<typeof debugConfigSchema>;

export function createDefaultDebugConfig(): DebugConfig {
  return { verbosity: 'basic', summary_interval: 10_000, output: 'stdout' };
}

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

export const batchConfigSchema = s.refine(
  s.object({
    timeout: s.duration().describe('Send a partial batch after this long (0 = only by size).'),
    send_batch_size: s.int({ min: 0 }).describe('Send as soon as this many items (spans, metric points, log records) are buffered.'),
    send_batch_max_size: s.int({ min: 0 }).describe('Split batches larger than this (0 = no upper limit).'),
    max_in_flight: s.int({ min: 1 }).describe('Batches being sent downstream at once before intake waits (back-pressure).'),
  }),
  (c) => (c.send_batch_max_size > 0 && c.send_batch_max_size < c.send_batch_size
    ? [{ path: ['send_batch_max_size'], message: `must be 0 or ≥ send_batch_size (${c.send_batch_size})` }]
    : c.timeout === 0 && c.send_batch_size === 0 ? [{ path: ['timeout'], message: 'timeout and send_batch_size cannot both be 0' }] : []),
);

export type BatchConfig = Infer<typeof batchConfigSchema>;

export function createDefaultBatchConfig(): BatchConfig {
  return { timeout: 200, send_batch_size: 8192, send_batch_max_size: 0, max_in_flight: 8 };
}

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

export const fileConfigSchema = s.object({
  path: s.string({ nonEmpty: true }).describe('File to append OTLP-JSON lines to (one Export*ServiceRequest per line). Its folder is created.'),
  format: s.enum(['json']).describe('Line format: OTLP JSON, as the Collector\'s file exporter writes it.'),
  rotation: s.object({
    max_megabytes: s.number({ min: 0 }).describe('Rotate when the file would grow past this size (0 = never).'),
    max_backups: s.int({ min: 0 }).describe('Rotated files kept (oldest removed first; 0 = keep all).'),
    max_days: s.int({ min: 0 }).describe('Remove rotated files older than this many days (0 = no age limit).'),
  }),
  max_pending_megabytes: s.number({ min: 0.001 }).describe('Bytes waiting for the disk before new batches are dropped (counted).'),
});

export type FileConfig = Infer<typeof fileConfigSchema>;

export function createDefaultFileConfig(): FileConfig {
  return { path: '', format: 'json', rotation: { max_megabytes: 100, max_backups: 10, max_days: 0 }, max_pending_megabytes: 64 };
}

// Repository paths for tests compiled into dist/test/...
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bpf'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const ROOT = findRoot();
export const bpfObjectPath = (name: string): string => join(ROOT, 'build', 'bpf', `${name}.bpf.o`);
export const fixturesDir = (...p: string[]): string => join(ROOT, 'test', 'fixtures', ...p);
/** A compiled module under dist/src as a file URL (for child processes). */
export const distModule = (rel: string): string => `file://${join(ROOT, 'dist', 'src', rel)}`;

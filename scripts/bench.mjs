#!/usr/bin/env node
// npm run bench: builds, then runs every bench/*.mjs in turn (or those whose name contains an argument).
// Each benchmark prints its own results, measured side by side in one run where it compares with/without
// the agent. Results go into BENCHMARKS.md together with the command that produced them.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// Helper modules that are not benchmarks themselves: bench/sink.mjs (a discard peer), files starting with _.
const benches = readdirSync(join(root, 'bench')).filter((f) => f.endsWith('.mjs') && f !== 'sink.mjs' && !f.startsWith('_')).sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
let failed = 0;
for (const b of benches) {
  console.log(`\n## ${b}\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'bench', b)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

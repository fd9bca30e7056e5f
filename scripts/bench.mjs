#!/usr/bin/env node
// npm run bench: builds, then runs every bench/*.mjs benchmark (except helpers such as bench/sink.mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const only = process.argv.slice(2);
for (const f of readdirSync(join(root, 'bench')).filter((n) => n.endsWith('.mjs') && n !== 'sink.mjs').sort()) {
  if (only.length && !only.some((o) => f.includes(o))) continue;
  const r = spawnSync(process.execPath, [join(root, 'bench', f)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

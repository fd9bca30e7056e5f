#!/usr/bin/env node
// Runs the whole test suite with node's built-in test runner.
//   node scripts/run-tests.mjs            build, then unit + component + e2e tests
//   node scripts/run-tests.mjs --unit     only tests that need no root and no servers
//   node scripts/run-tests.mjs <filter>   only test files whose path contains <filter>
// Unit/component tests (test/unit, test/component, test/conformance) run in parallel;
// end-to-end tests (test/e2e) load real BPF programs and start real servers, so they run one file at a time.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

function walk(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const all = walk(join(root, 'dist', 'test')).map((p) => relative(root, p));
const selected = all.filter((p) => filters.length === 0 || filters.some((f) => p.includes(f)));
const isE2e = (p) => p.includes('/e2e/');
const groups = [
  { name: 'unit', files: selected.filter((p) => !isE2e(p)), concurrency: String(Math.max(2, (await import('node:os')).cpus().length)) },
  { name: 'e2e', files: unitOnly ? [] : selected.filter(isE2e), concurrency: '1' },
];

let failed = false;
for (const g of groups) {
  if (g.files.length === 0) continue;
  console.log(`\n# ${g.name}: ${g.files.length} file(s)`);
  const r = spawnSync(process.execPath, [
    // --test-force-exit: a test file whose failure left a handle open (a server, a timer) ends with
    // its tests instead of hanging the run
    '--enable-source-maps', '--test', '--test-force-exit', `--test-concurrency=${g.concurrency}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    ...g.files,
  ], { cwd: root, stdio: 'inherit', env: { ...process.env, SONDE_TEST: '1' } });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// Re-records test/fixtures/l7/<protocol>/<scenario>.json from real servers and real clients.
//   node scripts/record-l7-fixtures.mjs [filter...]     (builds first; needs the Debian servers and clients)
// See test/fixtures/l7/README.md and test/helpers/l7-scenarios.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const { SCENARIOS, recordScenario, startScenarioPeers, targetPort } = await import(`${root}dist/test/helpers/l7-scenarios.js`);
const { encodeFixture } = await import(`${root}dist/test/helpers/l7-fixtures.js`);

const peers = await startScenarioPeers();
let failed = 0;
try {
  for (const s of SCENARIOS) {
    const id = `${s.protocol}/${s.name}`;
    if (filters.length > 0 && !filters.some((f) => id.includes(f))) continue;
    try {
      const f = await recordScenario(s, targetPort(s, peers), peers);
      const dir = join(root, 'test', 'fixtures', 'l7', s.protocol);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${s.name}.json`), encodeFixture(f));
      const chunks = f.connections.reduce((n, c) => n + c.chunks.length, 0);
      console.log(`${id}: ${f.connections.length} connection(s), ${chunks} chunks`);
    } catch (e) {
      failed++;
      console.error(`${id}: FAILED ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
} finally {
  await peers.stop();
}
process.exit(failed ? 1 : 0);

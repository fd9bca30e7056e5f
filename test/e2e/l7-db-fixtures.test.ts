// Re-records every database fixture from the real servers and real clients (test/helpers/l7-scenarios.ts)
// and checks that the parsers see the same records as in the committed fixtures: proof that the fixtures
// still match what psql/pgbench/mariadb/mysql2/redis-cli/redis-benchmark/memjs and the servers do today.
// Sizes and row counts may differ (random pgbench values, server ids); names, statuses, errors,
// operations, collections, query texts and namespaces may not.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { protocolParsers } from '../../src/receivers/ebpf/l7/protocols/index.js';
import type { L7Record } from '../../src/receivers/ebpf/l7/types.js';
import { loadFixture, replayFixture } from '../helpers/l7-fixtures.js';
import { SCENARIOS, recordScenario, startScenarioPeers, targetPort } from '../helpers/l7-scenarios.js';

const stable = (r: L7Record): string => JSON.stringify([r.name, r.status, r.errorType ?? null, r.incomplete ?? false,
  r.attributes['db.system.name'], r.attributes['db.operation.name'] ?? null, r.attributes['db.collection.name'] ?? null,
  r.attributes['db.query.text'] ?? null, r.attributes['db.namespace'] ?? null, r.attributes['db.response.status_code'] ?? null]);

test('database fixtures re-recorded from real servers give the same records', { timeout: 600_000 }, async (t) => {
  const peers = await startScenarioPeers();
  try {
    for (const s of SCENARIOS) {
      const parser = protocolParsers.find((p) => p.name === s.protocol);
      assert.ok(parser);
      const fresh = await recordScenario(s, targetPort(s, peers), peers);
      const want = replayFixture(parser, loadFixture(s.protocol, s.name), { recordKeys: true }).map(stable);
      const got = replayFixture(parser, fresh, { recordKeys: true }).map(stable);
      assert.deepEqual(got, want, `${s.protocol}/${s.name}`);
      t.diagnostic(`${s.protocol}/${s.name}: ${got.length} records`);
    }
  } finally {
    await peers.stop();
  }
});

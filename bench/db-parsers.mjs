// Database parser throughput on one core: records/s and MB/s replaying recorded conversations
// (test/fixtures/l7) through fresh sessions, as the receiver would per connection.
//   node bench/db-parsers.mjs            (after `npx tsc -p tsconfig.json`; `npm run bench -- db-parsers` builds first)
import { performance } from 'node:perf_hooks';

const root = new URL('..', import.meta.url).pathname;
const { protocolParsers } = await import(`${root}dist/src/receivers/ebpf/l7/protocols/index.js`);
const { loadFixture } = await import(`${root}dist/test/helpers/l7-fixtures.js`);
const { DEFAULT_PARSER_OPTIONS } = await import(`${root}dist/src/receivers/ebpf/l7/types.js`);

const cases = [
  ['postgresql', 'pgbench-simple', 1],
  ['postgresql', 'pgbench-extended', 1],
  ['postgresql', 'pgbench-prepared', 1],
  ['mysql', 'mysql2-prepared', 0],
  ['mysql', 'mariadb-cli', 0],
  ['redis', 'redis-benchmark-pipeline', 1],
  ['redis', 'redis-cli', 0],
  ['memcached', 'text', 0],
  ['memcached', 'memjs-binary', 0],
];

function run(parser, conv, ms) {
  const out = [];
  let records = 0;
  let bytes = 0;
  let convs = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 50; k++) {
      const s = parser.newSession(DEFAULT_PARSER_OPTIONS);
      let ts = 1e9;
      for (const c of conv.chunks) { ts += 1000; s.feed(c.dir, c.bytes, c.length, ts, out); bytes += c.length; }
      s.close(ts + 1, out);
      records += out.length;
      out.length = 0;
      convs++;
    }
    t = performance.now();
  }
  const sec = (t - t0) / 1000;
  return { records: records / sec, mb: bytes / sec / 1e6, convs };
}

console.log('| parser | conversation | records/s | MB/s | ns/record |');
console.log('|---|---|---|---|---|');
for (const [proto, scenario, conn] of cases) {
  const parser = protocolParsers.find((p) => p.name === proto);
  const conv = loadFixture(proto, scenario).connections[conn];
  run(parser, conv, 300); // warm up
  globalThis.gc?.();
  const r = run(parser, conv, 1500);
  console.log(`| ${proto} | ${scenario} | ${Math.round(r.records).toLocaleString('en')} | ${r.mb.toFixed(1)} | ${Math.round(1e9 / r.records)} |`);
}

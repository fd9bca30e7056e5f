import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Issue } from '../../../src/config/schema.js';
import { describeSchema, INVALID, isHostPort, parseDuration, parseSize, s, splitHostPort } from '../../../src/config/schema.js';

test('durations are Go-style strings parsed to milliseconds', () => {
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('100us'), 0.1);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('5'), undefined);
  assert.equal(parseDuration('5 s'), undefined);
  assert.equal(parseDuration('s'), undefined);
});

test('sizes accept bytes and binary/decimal units', () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseSize('1KB'), 1000);
  assert.equal(parseSize('2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('-1'), undefined);
  assert.equal(parseSize('lots'), undefined);
});

test('host:port endpoints', () => {
  for (const ok of ['127.0.0.1:4317', 'localhost:0', ':8888', '[::1]:9090', 'otel-collector.observability.svc:4317']) assert.ok(isHostPort(ok), ok);
  for (const bad of ['localhost', '127.0.0.1:', 'http://x:1', '1.2.3.4:70000', 'a b:1']) assert.ok(!isHostPort(bad), bad);
  assert.deepEqual(splitHostPort('[::1]:9090'), { host: '::1', port: 9090 });
  assert.deepEqual(splitHostPort(':8888'), { host: '', port: 8888 });
});

const schema = s.refine(s.object({
  endpoint: s.endpoint().describe('where'),
  timeout: s.duration(),
  retries: s.int({ min: 0, max: 10 }),
  mode: s.enum(['a', 'b']),
  tags: s.map(s.string()),
  list: s.array(s.string(), { minItems: 1 }),
  nested: s.object({ on: s.bool(), name: s.string().optional() }),
  opt: s.url().optional(),
}), (c) => (c.mode === 'b' && c.retries === 0 ? [{ path: ['retries'], message: 'mode b needs retries' }] : []));

const base = { endpoint: '127.0.0.1:1', timeout: 1000, retries: 3, mode: 'a' as const, tags: { x: '1' }, list: ['l'], nested: { on: false } };

test('user values are parsed over the typed default; untouched keys keep the default', () => {
  const issues: Issue[] = [];
  const r = schema.parse({ timeout: '2s', tags: { y: '2' }, nested: { on: true } }, ['c'], issues, base);
  assert.deepEqual(issues, []);
  assert.deepEqual(r, { ...base, timeout: 2000, tags: { x: '1', y: '2' }, nested: { on: true } });
});

test('every problem is reported with its path', () => {
  const issues: Issue[] = [];
  const r = schema.parse({ endpoint: 'nope', timeout: 3, retries: 11, mode: 'c', list: [], nested: { on: 'yes', extra: 1 }, opt: 'ftp://x', bogus: 1 }, ['c'], issues, base);
  assert.equal(r, INVALID);
  const byPath = Object.fromEntries(issues.map((i) => [i.path.join('::'), i.message]));
  assert.match(byPath['c::bogus'], /unknown key "bogus"/);
  assert.match(byPath['c::endpoint'], /must be host:port/);
  assert.match(byPath['c::timeout'], /must be a duration/);
  assert.match(byPath['c::retries'], /must be ≤ 10, got 11/);
  assert.match(byPath['c::mode'], /must be one of "a", "b"/);
  assert.match(byPath['c::list'], /at least 1 item/);
  assert.match(byPath['c::nested::on'], /must be true or false/);
  assert.match(byPath['c::nested::extra'], /unknown key/);
  assert.match(byPath['c::opt'], /must be a URL with scheme http or https/);
  assert.equal(issues.length, 9);
});

test('missing required keys and cross-field rules', () => {
  const issues: Issue[] = [];
  assert.equal(s.object({ path: s.string() }).parse({}, ['x'], issues, {} as never), INVALID);
  assert.deepEqual(issues, [{ path: ['x', 'path'], message: 'is required' }]);
  const issues2: Issue[] = [];
  assert.equal(schema.parse({ mode: 'b', retries: 0 }, ['c'], issues2, base), INVALID);
  assert.deepEqual(issues2, [{ path: ['c', 'retries'], message: 'mode b needs retries' }]);
});

test('an empty YAML section (null) means all defaults', () => {
  const issues: Issue[] = [];
  assert.deepEqual(schema.parse(null, ['c'], issues, base), base);
  assert.deepEqual(issues, []);
});

test('describeSchema lists every option with its type and description', () => {
  const rows = describeSchema(schema);
  const ep = rows.find((r) => r.path === 'endpoint');
  assert.deepEqual({ ...ep, schema: undefined }, { path: 'endpoint', type: 'host:port', description: 'where', required: true, schema: undefined });
  assert.ok(rows.find((r) => r.path === 'nested.on'));
  assert.equal(rows.find((r) => r.path === 'opt')?.required, false);
});

// The l7 config section: defaults validate, user values overlay them, bad values are reported with paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Issue } from '../../../src/config/schema.js';
import { INVALID } from '../../../src/config/schema.js';
import { createDefaultL7Config, l7ConfigSchema, l7PipelineOptions } from '../../../src/receivers/ebpf/l7/config.js';
import { HOST } from './helpers.js';

test('defaults validate and map onto pipeline options (query strings dropped, coroot naming)', () => {
  const issues: Issue[] = [];
  const d = createDefaultL7Config();
  const cfg = l7ConfigSchema.parse({}, ['receivers', 'ebpf', 'l7'], issues, d);
  assert.deepEqual(issues, []);
  assert.deepEqual(cfg, d);
  const o = l7PipelineOptions(d, HOST);
  assert.equal(o.parser?.keepQueryString, false);
  assert.equal(o.parser?.requestTimeoutNs, 60e9);
  assert.equal(o.link?.windowNs, 2e9);
  assert.equal(o.metrics?.naming, 'coroot');
});

test('user values overlay the defaults; bad ones are reported with their path', () => {
  const issues: Issue[] = [];
  const cfg = l7ConfigSchema.parse({ metrics_naming: 'otel', keep_query_string: true, link_window: '500ms' }, ['l7'], issues, createDefaultL7Config());
  assert.deepEqual(issues, []);
  assert.notEqual(cfg, INVALID);
  if (cfg === INVALID) return;
  assert.equal(cfg.metrics_naming, 'otel');
  assert.equal(cfg.link_window, 500);
  assert.equal(cfg.route_cap, 200);
  const bad: Issue[] = [];
  l7ConfigSchema.parse({ metrics_naming: 'statsd', route_cap: 0, nope: 1 }, ['l7'], bad, createDefaultL7Config());
  assert.deepEqual(bad.map((i) => i.path.join('::')).sort(), ['l7::metrics_naming', 'l7::nope', 'l7::route_cap']);
});

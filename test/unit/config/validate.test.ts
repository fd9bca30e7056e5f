// Config validation through the real CLI entry point: every invalid fixture prints its expected,
// path-qualified messages and exits 1; the shipped otel-config.yaml validates.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../src/cli.js';
import { componentsWithTestReceiver } from '../../helpers/components.js';

const root = new URL('../../../../', import.meta.url).pathname;
const dir = join(root, 'test/fixtures/config');

async function validate(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['validate', '--config', file], { out: (s) => (out += s), err: (s) => (err += s), env }, componentsWithTestReceiver());
  return { code, out, err };
}

const fixtures = readdirSync(dir).filter((f) => f.startsWith('invalid-') && f.endsWith('.yaml')).sort();

test('there are at least 15 invalid config fixtures', () => {
  assert.ok(fixtures.length >= 15, `only ${fixtures.length} fixtures`);
});

for (const f of fixtures) {
  test(`sonde validate rejects ${f} with the expected messages`, async () => {
    const text = readFileSync(join(dir, f), 'utf8');
    const expects = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]);
    const env: NodeJS.ProcessEnv = {};
    for (const m of text.matchAll(/^# env: (\w+)=(.*)$/gm)) env[m[1]] = m[2];
    assert.ok(expects.length > 0, `${f} has no "# expect:" line`);
    const r = await validate(join(dir, f), env);
    assert.equal(r.code, 1, `exit code for ${f}; stderr: ${r.err}`);
    for (const e of expects) assert.ok(r.err.includes(e), `${f}: expected\n  ${e}\nin:\n${r.err}`);
  });
}

test('a missing config file is reported clearly', async () => {
  const r = await validate('/nonexistent/sonde.yaml');
  assert.equal(r.code, 1);
  assert.match(r.err, /config file \/nonexistent\/sonde.yaml does not exist/);
});

test('the shipped otel-config.yaml validates', async () => {
  const r = await validate(join(root, 'otel-config.yaml'), process.env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /valid/);
});

test('${env:VAR:-default} expands, and a whole-value reference is re-typed', async () => {
  const { parseYamlConfig } = await import('../../../src/config/load.js');
  const loaded = parseYamlConfig('a: ${env:NOPE:-5}\nb: "x-${env:SONDE_X}-y"\nc: $${env:LITERAL}\nd: ${MISSING}\n', 't.yaml', { SONDE_X: 'mid' });
  assert.deepEqual(loaded.value, { a: 5, b: 'x-mid-y', c: '${env:LITERAL}', d: '' });
  assert.equal(loaded.warnings.length, 1);
  assert.match(loaded.warnings[0].message, /MISSING is not set/);
});

test('the components shown commented out in otel-config.yaml validate once uncommented', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const shown = ['k8sattributes', 'otlp', 'prometheusremotewrite', 'clickhouse'];
  // Uncomment each `  # <type>:` block and the `  #   ` lines that follow it.
  let inBlock = false;
  const text = readFileSync(join(root, 'otel-config.yaml'), 'utf8').split('\n').map((line) => {
    const start = /^ {2}# (\w+):/.exec(line);
    if (start && shown.includes(start[1])) {
      inBlock = true;
      return line.replace(/^ {2}# /, '  ');
    }
    if (inBlock && /^ {2}# {3}/.test(line)) return line.replace(/^ {2}# {3}/, '    ');
    inBlock = false;
    return line;
  }).join('\n');
  for (const t of shown) assert.match(text, new RegExp(`^  ${t}:`, 'm'));
  const file = join(mkdtempSync(join(tmpdir(), 'sonde-cfg-')), 'uncommented.yaml');
  writeFileSync(file, text);
  const r = await validate(file, { OTLP_TOKEN: 't' });
  assert.equal(r.code, 0, r.err);
});

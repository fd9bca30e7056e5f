import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { builtinComponents } from '../../../src/components.js';
import { renderConfigReference, spliceReference } from '../../../src/config/reference.js';

test('the README configuration reference matches the component schemas (run `npm run docs` to update)', () => {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  const expected = spliceReference(readme, renderConfigReference(builtinComponents()));
  assert.equal(readme, expected);
});

test('every option of every component has a description', () => {
  const ref = renderConfigReference(builtinComponents());
  const undocumented = ref.split('\n').filter((l) => /^\| `/.test(l) && / \|\s*\|$/.test(l));
  assert.deepEqual(undocumented, []);
});

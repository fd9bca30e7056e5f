#!/usr/bin/env node
// Regenerates the README's configuration reference from the component schemas (npm run docs).
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const { renderConfigReference, spliceReference } = await import(`${root}dist/src/config/reference.js`);
const { builtinComponents } = await import(`${root}dist/src/components.js`);
const path = `${root}README.md`;
const before = readFileSync(path, 'utf8');
const after = spliceReference(before, renderConfigReference(builtinComponents()));
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'README config reference is up to date' : 'README config reference regenerated');

#!/usr/bin/env node
// Drops from a production node_modules what Node never loads: source maps, TypeScript declarations, and
// alternative builds that a package's `main`/`exports` give only to bundlers (the `module`/`esnext`
// conditions, e.g. @opentelemetry's build/esm and build/esnext). A build directory is removed only when no
// condition Node resolves (node, import, require, default) and no `main` points into it.
// Usage: node deploy/docker/prune.mjs <node_modules>
import { readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { join, normalize } from 'node:path';

const root = process.argv[2];
if (!root || !existsSync(root)) {
  console.error('usage: prune.mjs <node_modules>');
  process.exit(2);
}
const NODE_CONDITIONS = new Set(['node', 'import', 'require', 'default']);
const DROP_FILE = /\.(map|d\.ts|d\.mts|d\.cts)$/;
let files = 0;
let bytes = 0;
const dirs = [];

/** Targets Node may resolve: `main` plus exports values reachable through Node's conditions. */
function nodeTargets(pkg) {
  const out = [];
  if (typeof pkg.main === 'string') out.push(pkg.main);
  const walk = (v) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (k.startsWith('.') || NODE_CONDITIONS.has(k)) walk(x);
    }
  };
  walk(pkg.exports);
  return out.map((t) => normalize(t).replace(/^\.\//, ''));
}

function prunePackage(dir) {
  let pkg;
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch {
    return;
  }
  const targets = nodeTargets(pkg);
  for (const alt of ['build/esm', 'build/esnext']) {
    const p = join(dir, alt);
    if (existsSync(p) && targets.length > 0 && !targets.some((t) => t === alt || t.startsWith(`${alt}/`))) dirs.push(p);
  }
}

function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (existsSync(join(p, 'package.json'))) prunePackage(p);
      walk(p);
    } else if (e.isFile() && DROP_FILE.test(e.name)) {
      bytes += statSync(p).size;
      files++;
      rmSync(p);
    }
  }
}

walk(root);
for (const d of dirs) rmSync(d, { recursive: true, force: true });
console.log(`prune: ${files} map/declaration files (${(bytes / 1048576).toFixed(1)} MiB) and ${dirs.length} bundler-only build directories removed`);

#!/usr/bin/env node
// Entry point of the `sonde` command: runs the compiled CLI (npm ci / npm run build produce dist/).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('sonde: dist/ is missing; build first with `npm run build` (npm ci does it too).\n');
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { backupName, RotatingWriter } from '../../../src/exporters/file/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'sonde-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('backup names follow lumberjack', () => {
  assert.equal(backupName('/d/out.jsonl', new Date('2026-11-24T10:11:12.345Z')), '/d/out-2026-11-24T10-11-12.345.jsonl');
});

test('rotates by size, keeps at most max_backups, never splits a line', async () => {
  const path = join(dir, 'sub', 'out.jsonl');
  const w = new RotatingWriter(path, { maxBytes: 100, maxBackups: 2, maxAgeDays: 0 });
  await w.open();
  const line = (i: number) => Buffer.from(`${JSON.stringify({ i, pad: 'x'.repeat(20) })}\n`);
  for (let i = 0; i < 20; i++) {
    await w.write(line(i));
    await new Promise((r) => setTimeout(r, 2)); // distinct backup timestamps
  }
  await w.close();
  const files = readdirSync(join(dir, 'sub')).sort();
  assert.equal(files.length, 3, files.join(','));
  assert.ok(files.includes('out.jsonl'));
  const all = files.flatMap((f) => readFileSync(join(dir, 'sub', f), 'utf8').trim().split('\n'));
  for (const l of all) JSON.parse(l); // every line whole
  for (const f of files) assert.ok(readFileSync(join(dir, 'sub', f)).length <= 100);
  // The newest lines survive in the current file.
  assert.match(readFileSync(path, 'utf8'), /"i":19/);
});

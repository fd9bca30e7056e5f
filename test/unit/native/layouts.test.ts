// The layout contract: the TS side uses exactly the C headers' sizeof/offsetof and enum values.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadNative } from '../../../src/native/load.js';
import { ENUMS, STRUCTS } from '../../../src/native/layouts.generated.js';
import { PROCESS_EVENT_OFFSETS } from '../../../src/receivers/ebpf/probes/process/decode.js';
import { TCP_EVENT_OFFSETS } from '../../../src/receivers/ebpf/probes/tcp/decode.js';
import { L7_CONN_EVENT_OFFSETS, L7_EVENT_OFFSETS, L7_TYPE_OFFSET } from '../../../src/receivers/ebpf/probes/l7/decode.js';
import { ROOT } from '../../helpers/paths.js';

const native = loadNative();
const layouts = native.layouts();

void test('generated layouts equal the native layouts (from the C headers)', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(STRUCTS)), layouts.structs);
  assert.deepEqual({ ...ENUMS }, layouts.enums);
});

void test('the committed generated file is up to date', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-layouts.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

void test('the decoders read exactly the header offsets', () => {
  const check = (struct: string, offsets: Record<string, number>) => {
    const s = layouts.structs[struct];
    for (const [field, off] of Object.entries(offsets)) {
      if (field === 'size') assert.equal(off, s.size, `${struct} size`);
      else assert.equal(off, s.fields[field]?.offset, `${struct}.${field}`);
    }
  };
  check('process_event', PROCESS_EVENT_OFFSETS);
  check('tcp_event', TCP_EVENT_OFFSETS);
  check('l7_event', L7_EVENT_OFFSETS);
  check('l7_conn_event', L7_CONN_EVENT_OFFSETS);
  // the l7 ring carries two record kinds: the decoder dispatches on `type` at one offset in both
  assert.equal(layouts.structs.l7_event.fields.type.offset, L7_TYPE_OFFSET);
  assert.equal(layouts.structs.l7_conn_event.fields.type.offset, L7_TYPE_OFFSET);
});

void test('shared structs have no implicit padding and 8-byte multiple sizes', () => {
  for (const [name, s] of Object.entries(layouts.structs)) {
    const top = Object.entries(s.fields).filter(([f]) => !f.includes('.'));
    const sum = top.reduce((a, [, f]) => a + f.size, 0);
    assert.equal(sum, s.size, `${name}: fields cover the struct`);
    let end = 0;
    for (const [f, d] of top.sort((a, b) => a[1].offset - b[1].offset)) {
      assert.equal(d.offset, end, `${name}.${f} follows the previous field`);
      end = d.offset + d.size;
    }
  }
  assert.equal(layouts.structs.tcp_event.size % 8, 0);
  assert.equal(layouts.structs.process_event.size % 8, 0);
  for (const n of ['l7_event', 'l7_conn_event', 'l7_detector', 'l7_conn', 'l7_endpoint']) assert.equal(layouts.structs[n].size % 8, 0, n);
});

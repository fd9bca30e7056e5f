import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { encodeRecords, forEachRecord } from '../../../src/native/ring-records.js';
import { ENUMS } from '../../../src/native/layouts.generated.js';

void test('records round-trip through the ring format, 8-byte aligned', () => {
  const recs = [Buffer.from([1, 2, 3]), Buffer.alloc(8, 9), Buffer.alloc(0), Buffer.alloc(13, 4)];
  const batch = encodeRecords(recs);
  assert.equal(batch.length, 16 + 16 + 8 + 24);
  const seen: Buffer[] = [];
  const n = forEachRecord(batch, batch.length, (view, off, len) => {
    assert.equal((off - batch.byteOffset - ENUMS.BPF_RINGBUF_HDR_SZ) % 8, 0);
    seen.push(Buffer.from(view.buffer, off, len));
  });
  assert.equal(n, 4);
  assert.deepEqual(seen, recs);
});

void test('discarded records are skipped; only `bytes` are read', () => {
  const batch = encodeRecords([Buffer.alloc(4, 1), Buffer.alloc(4, 2), Buffer.alloc(4, 3)]);
  batch.writeUInt32LE((4 | ENUMS.BPF_RINGBUF_DISCARD_BIT) >>> 0, 16);
  const seen: number[] = [];
  assert.equal(forEachRecord(batch, batch.length, (v, off) => seen.push(v.getUint8(off))), 2);
  assert.deepEqual(seen, [1, 3]);
  assert.equal(forEachRecord(batch, 16, () => {}), 1);
});

void test('truncated batches are errors, not silent garbage', () => {
  const batch = encodeRecords([Buffer.alloc(32)]);
  assert.throws(() => forEachRecord(batch, 20, () => {}), RangeError);
  assert.throws(() => forEachRecord(batch, batch.length + 8, () => {}), RangeError);
});

void test('a batch inside a larger Buffer (byteOffset != 0) decodes', () => {
  const inner = encodeRecords([Buffer.from('abcdefgh')]);
  const big = Buffer.concat([Buffer.alloc(64), inner]).subarray(64);
  forEachRecord(big, big.length, (v, off, len) => assert.equal(Buffer.from(v.buffer, off, len).toString(), 'abcdefgh'));
});

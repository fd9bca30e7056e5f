// FakeNative replays recorded ring-buffer fixtures through the real TS wrappers.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { FakeNative } from '../../../src/native/fake.js';
import { ENUMS } from '../../../src/native/layouts.generated.js';
import { loadNative } from '../../../src/native/load.js';
import { BpfObject } from '../../../src/native/bpf-object.js';
import { decodeTcpBatch, TcpEventType } from '../../../src/receivers/ebpf/probes/tcp/decode.js';
import { fixturesDir } from '../../helpers/paths.js';

void test('FakeNative: open/configure/load/attach and replay batches via start()', async () => {
  const fake = FakeNative.fromFixtures(fixturesDir('ringbuf'), { objects: { tcp: { programs: ['sonde_tcp_state', 'sonde_tcp_retx'] } } });
  const native = loadNative(fake);
  const o = BpfObject.open(native, '/nowhere/tcp.bpf.o');
  o.setRodata('targ_self_tgid', 77);
  o.setAutoload('sonde_tcp_retx', false);
  o.load();
  assert.equal(o.attachAll().length, 1);
  const reader = o.ringReader();
  const manifest = JSON.parse(readFileSync(fixturesDir('ringbuf', 'tcp', 'manifest.json'), 'utf8')) as { records: number };
  let records = 0;
  let batches = 0;
  const done = new Promise<void>((resolve) => {
    reader.start((buf, n, bytes) => {
      batches++;
      records += decodeTcpBatch(buf, bytes, () => {}).records;
      assert.equal(n, decodeTcpBatch(buf, bytes, () => {}).records);
      if (records === manifest.records) resolve();
    }, { intervalMs: 1 });
  });
  await done;
  assert.equal(batches, 2);
  reader.stop();
  assert.deepEqual(o.lostCounters(), new Array(ENUMS.SONDE_LOST__MAX).fill(0n));
  o.destroy();
  assert.throws(() => reader.stats(), /EBADF/);
});

void test('FakeNative: synchronous drain and pushed batches', () => {
  const fake = new FakeNative();
  const o = BpfObject.open(loadNative(fake), 'tcp.bpf.o');
  o.load();
  const reader = o.ringReader();
  assert.equal(reader.drain(() => assert.fail('nothing queued')), 0);
  fake.pushBatch('tcp', readFileSync(fixturesDir('ringbuf', 'tcp', '001-workload.bin')));
  let types: number[] = [];
  const n = reader.drain((buf, _n, bytes) => { decodeTcpBatch(buf, bytes, (ev) => { types.push(ev.type); }); });
  assert.equal(n, types.length);
  assert.ok(types.includes(TcpEventType.LISTEN_OPEN));
  types = [];
  o.destroy();
});

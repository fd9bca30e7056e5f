// The native addon without a kernel: loading, argument TypeErrors, error shape, wrappers.
// Opening an object only parses the ELF, so none of this needs root.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { loadNative } from '../../../src/native/load.js';
import { BpfObject } from '../../../src/native/bpf-object.js';
import { BpfError, NativeError } from '../../../src/native/errors.js';
import type { NativeBinding, ObjectHandle } from '../../../src/native/binding.js';
import { bpfObjectPath } from '../../helpers/paths.js';

const native = loadNative();

void test('the addon loads and reports libbpf and CPUs', () => {
  assert.match(native.libbpfVersion(), /^v1\.\d+/);
  assert.ok(native.numPossibleCpus() >= 1);
  const lim = native.getMemlockLimit();
  assert.ok(lim.soft > 0 && lim.hard >= lim.soft);
});

void test('loadNative accepts a path or an object, rejects anything else', () => {
  assert.throws(() => loadNative(42 as unknown as string), TypeError);
  assert.throws(() => loadNative('/nonexistent/sonde.node'), /npm run build:native/);
  const fake = { ...native, init: () => {}, setLogLevel: () => {} } as NativeBinding;
  assert.equal(loadNative(fake), fake);
});

void test('raw functions throw TypeError on bad arguments', () => {
  const n = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  assert.throws(() => n.objectOpen(123), TypeError);
  assert.throws(() => n.objectOpen(Buffer.alloc(0)), TypeError);
  assert.throws(() => n.objectOpen('/x', 'opts'), TypeError);
  assert.throws(() => n.objectName({}), TypeError);
  assert.throws(() => n.objectName(null), TypeError);
  assert.throws(() => n.setLogLevel(7), TypeError);
  assert.throws(() => n.ringDrain({}), TypeError);
  assert.throws(() => n.linkDestroy({}), TypeError);
  assert.throws(() => n.probeMapType('no_such_map_type'), TypeError);
  const h = native.objectOpen(bpfObjectPath('process'));
  try {
    // an object handle is not a link or ring handle
    assert.throws(() => n.linkInfo(h), TypeError);
    assert.throws(() => n.ringStats(h), TypeError);
    assert.throws(() => n.objectSetAutoload(h, 'sonde_exec', 'yes'), TypeError);
    assert.throws(() => n.objectSetMaxEntries(h, 'events', -1), TypeError);
    assert.throws(() => n.objectSetRodata(h, 'targ_self_tgid', 5), TypeError);
    assert.throws(() => n.objectSetRodata(h, 'targ_self_tgid', Buffer.alloc(8)), TypeError);
  } finally {
    native.objectDestroy(h);
  }
});

void test('native errors carry code, errno, op, object', () => {
  try {
    native.objectOpen('/nonexistent/x.bpf.o');
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(e instanceof NativeError);
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.errno, 2);
    assert.equal(e.op, 'bpf_object__open_file');
    assert.equal(e.object, '/nonexistent/x.bpf.o');
  }
  const h = native.objectOpen(bpfObjectPath('process'));
  try {
    assert.throws(() => native.objectSetAutoload(h, 'no_such_prog', true), (e: NativeError) => e.code === 'ENOENT' && e.program === 'no_such_prog');
    assert.throws(() => native.objectAttach(h, 'sonde_exec'), (e: NativeError) => e.code === 'EBADF' && e.op === 'bpf_program__attach');
    assert.throws(() => native.mapLookup(h, 'lost', Buffer.alloc(4)), (e: NativeError) => e.code === 'EBADF');
  } finally {
    native.objectDestroy(h);
  }
  assert.throws(() => native.objectName(h), (e: NativeError) => e.code === 'EBADF');
  native.objectDestroy(h as ObjectHandle); // idempotent
});

void test('a corrupt object is a BpfError from open', () => {
  assert.throws(() => BpfObject.open(native, Buffer.from('not an ELF file at all, just bytes')), (e: unknown) => {
    assert.ok(e instanceof BpfError);
    assert.equal(e.op, 'bpf_object__open_mem');
    assert.match(e.code, /^(LIBBPF_ERRNO__|E)/);
    return true;
  });
  const truncated = readFileSync(bpfObjectPath('tcp')).subarray(0, 2000);
  assert.throws(() => BpfObject.open(native, truncated), BpfError);
});

void test('BpfObject validates arguments before calling native', () => {
  assert.throws(() => BpfObject.open(native, ''), TypeError);
  assert.throws(() => BpfObject.open(native, bpfObjectPath('tcp'), { name: 3 as unknown as string }), TypeError);
  const o = BpfObject.open(native, bpfObjectPath('tcp'));
  try {
    assert.equal(o.name, 'tcp');
    assert.throws(() => o.setRodata('targ_nope', 1), /has no const volatile variable targ_nope/);
    assert.throws(() => o.setRodata('targ_self_tgid', 2 ** 32), /does not fit/);
    assert.throws(() => o.setRodata('targ_self_tgid', 1.5), TypeError);
    assert.throws(() => o.setAutoload('', true), TypeError);
    assert.throws(() => o.setMaxEntries('events', 0), TypeError);
    assert.throws(() => o.attach(undefined as unknown as string), TypeError);
    assert.throws(() => o.map('nope'), /has no map nope/);
    assert.throws(() => o.ringReader('events', { bufferBytes: 10 }), TypeError);
    assert.throws(() => o.reuseMap('sonde_conns', {} as BpfObject), TypeError);
    o.setRodata('targ_self_tgid', 1234);
    o.setRodata('targ_wakeup_bytes', 1n << 20n);
    o.setAutoload('sonde_tcp_retx', false);
    o.setMaxEntries('events', 1 << 22);
    const progs = o.programs();
    assert.deepEqual(progs.map((p) => p.name).sort(), ['sonde_tcp_retx', 'sonde_tcp_state']);
    assert.equal(progs.find((p) => p.name === 'sonde_tcp_retx')!.autoload, false);
    assert.equal(o.maps().find((m) => m.name === 'events')!.maxEntries, 1 << 22);
    const key = o.map('sonde_conns');
    assert.throws(() => key.lookup(Buffer.alloc(4)), /key must be 8 bytes/);
  } finally {
    o.destroy();
    o.destroy();
  }
});

void test('libbpf messages reach the logger', () => {
  const seen: string[] = [];
  const logger = { debug: (m: string) => seen.push(m), info: (m: string) => seen.push(m), warn: (m: string) => seen.push(m) };
  const n = loadNative(undefined, { logger, verbose: true });
  const h = n.objectOpen(bpfObjectPath('process'));
  n.objectDestroy(h);
  loadNative(); // back to quiet
  assert.ok(seen.some((m) => m.startsWith('libbpf: ')), 'libbpf debug output forwarded');
});

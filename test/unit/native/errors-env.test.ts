// Error mapping and environment checks, without a kernel (injected /proc trees).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  BpfError, NativeError, NotSupportedError, PermissionError, toBpfError, VerifierError,
} from '../../../src/native/errors.js';
import { assertEnvironment, checkEnvironment, checkMemlock, checkPrivileges, checkTracefs } from '../../../src/native/env.js';
import { FakeNative } from '../../../src/native/fake.js';
import { fixturesDir } from '../../helpers/paths.js';

function nativeError(fields: Partial<NativeError>): NativeError {
  return Object.assign(new NativeError('boom'), fields);
}

void test('toBpfError maps native failures to typed errors', () => {
  const cases: [Partial<NativeError>, object, (new (...a: never[]) => BpfError)][] = [
    [{ code: 'EPERM', errno: 1, op: 'bpf_object__load' }, {}, PermissionError],
    [{ code: 'EACCES', errno: 13, op: 'bpf_object__load', verifierLog: 'R1 invalid mem access', program: 'p' }, {}, VerifierError],
    [{ code: 'ENOENT', errno: 2, op: 'bpf_object__load' }, { btfCustomPath: '/x' }, NotSupportedError],
    [{ code: 'ENOENT', errno: 2, op: 'bpf_program__attach', program: 'tp' }, {}, NotSupportedError],
    [{ code: 'EBADF', errno: 9, op: 'sonde_object' }, {}, BpfError],
  ];
  for (const [fields, ctx, cls] of cases) {
    const e = toBpfError(nativeError(fields), ctx);
    assert.ok(e instanceof cls, `${fields.code}/${fields.op} -> ${cls.name}, got ${String(e)}`);
    assert.equal((e as BpfError).code, fields.code);
    assert.equal((e as BpfError).op, fields.op);
    assert.ok((e as BpfError).cause instanceof NativeError);
  }
  const perm = toBpfError(nativeError({ code: 'EPERM', errno: 1, op: 'bpf_object__load' })) as PermissionError;
  assert.match(perm.message, /CAP_BPF\+CAP_PERFMON/);
  const ver = toBpfError(nativeError({ code: 'EACCES', errno: 13, op: 'bpf_object__load', verifierLog: 'log', program: 'p' })) as VerifierError;
  assert.equal(ver.verifierLog, 'log');
  assert.equal(ver.program, 'p');
  const btf = toBpfError(nativeError({ code: 'ENOENT', errno: 2, op: 'bpf_object__load' }), { btfCustomPath: '/x' }) as NotSupportedError;
  assert.equal(btf.feature, 'BTF');
  const other = new RangeError('x');
  assert.equal(toBpfError(other), other);
});

void test('privileges: CapEff decides (CAP_SYS_ADMIN, or CAP_BPF+CAP_PERFMON)', () => {
  assert.equal(checkPrivileges(fixturesDir('proc', 'nonroot')).ok, false);
  assert.match(checkPrivileges(fixturesDir('proc', 'nonroot')).remedy!, /setcap/);
  assert.equal(checkPrivileges(fixturesDir('proc', 'root-no-tracefs')).ok, true);
  assert.equal(checkPrivileges(fixturesDir('proc', 'caps-bpf')).ok, true);
  assert.equal(checkPrivileges('/nonexistent').ok, false);
});

void test('tracefs: detected from mounts, with a remedy', () => {
  assert.equal(checkTracefs({ procRoot: fixturesDir('proc', 'caps-bpf') }).ok, true);
  const c = checkTracefs({ procRoot: fixturesDir('proc', 'root-no-tracefs') });
  assert.equal(c.ok, false);
  assert.match(c.remedy!, /mount -t tracefs nodev \/sys\/kernel\/tracing/);
});

void test('memlock: irrelevant from 5.11, checked and raised before', () => {
  assert.equal(checkMemlock({ kernelRelease: '6.1.0' }).ok, true);
  const low = new FakeNative();
  low.getMemlockLimit = () => ({ soft: 65536, hard: 65536 });
  let raised = 0;
  low.setMemlockLimit = (b: number) => { raised = b; };
  assert.equal(checkMemlock({ native: low, kernelRelease: '5.4.0' }).ok, false);
  const fixed = checkMemlock({ native: low, kernelRelease: '5.4.0', fix: true });
  assert.equal(fixed.ok, true);
  assert.equal(fixed.fixed, true);
  assert.equal(raised, Infinity);
  low.setMemlockLimit = () => { throw new Error('EPERM'); };
  const failed = checkMemlock({ native: low, kernelRelease: '5.4.0', fix: true });
  assert.equal(failed.ok, false);
  assert.match(failed.remedy!, /ulimit -l unlimited/);
});

void test('assertEnvironment throws the typed error of the first failing check', () => {
  assert.throws(() => assertEnvironment({ procRoot: fixturesDir('proc', 'nonroot'), kernelRelease: '6.1.0' }), PermissionError);
  assert.throws(() => assertEnvironment({ procRoot: fixturesDir('proc', 'caps-bpf'), btfPath: '/nonexistent/btf', kernelRelease: '6.1.0' }),
    (e: unknown) => e instanceof NotSupportedError && e.feature === 'BTF' && /CONFIG_DEBUG_INFO_BTF/.test(e.message));
  assert.throws(() => assertEnvironment({ procRoot: fixturesDir('proc', 'root-no-tracefs'), btfPath: '/', needTracefs: true, kernelRelease: '6.1.0' }),
    (e: unknown) => e instanceof NotSupportedError && e.feature === 'tracefs');
  const ok = checkEnvironment({ procRoot: fixturesDir('proc', 'caps-bpf'), btfPath: '/', needTracefs: true, kernelRelease: '6.1.0' });
  assert.ok(ok.every((c) => c.ok), JSON.stringify(ok));
});

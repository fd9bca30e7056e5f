// e2e (root): object lifecycle and failure modes on the real kernel: nothing stays attached
// after destroy or process exit, typed errors for a bad environment, map sharing between
// objects, and the asynchronous ring-reader path.
import { describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { loadNative } from '../../src/native/load.js';
import { BpfObject } from '../../src/native/bpf-object.js';
import { BpfError, NotSupportedError, VerifierError } from '../../src/native/errors.js';
import { decodeProcessBatch, ProcessEventType } from '../../src/receivers/ebpf/probes/process/decode.js';
import { decodeTcpBatch, TcpEventType } from '../../src/receivers/ebpf/probes/tcp/decode.js';
import { bpfObjectPath, distModule } from '../helpers/paths.js';
import { e2eSkipReason, startChild, waitFor } from '../helpers/e2e.js';

const skip = e2eSkipReason();
if (skip) console.log(`# SKIP lifecycle e2e: ${skip}`);

interface BpftoolItem { id: number; name?: string }
function bpftoolIds(kind: 'prog' | 'link'): Set<number> {
  const r = spawnSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Set((JSON.parse(r.stdout || '[]') as BpftoolItem[]).map((p) => p.id));
}

const LOAD_AND_EXIT = `
import { loadNative } from '${distModule('native/load.js')}';
import { BpfObject } from '${distModule('native/bpf-object.js')}';
const native = loadNative();
const out = { progs: [], links: [] };
for (const name of ['process', 'tcp']) {
  const o = BpfObject.open(native, '${bpfObjectPath('')}'.replace('.bpf.o', name + '.bpf.o'));
  o.load();
  for (const l of o.attachAll()) out.links.push(l.id);
  for (const p of o.programs()) out.progs.push({ id: p.id, name: p.name });
}
console.log(JSON.stringify(out));
process.exit(0); // no destroy(): the kernel must still drop everything
`;

void describe('BPF object lifecycle (e2e, root)', { skip, timeout: 180_000 }, () => {
  void test('after the process exits, none of its programs or links remain', async () => {
    const child = startChild(process.execPath, ['--input-type=module', '-e', LOAD_AND_EXIT]);
    const out = JSON.parse(await child.line()) as { progs: { id: number; name: string }[]; links: number[] };
    const r = await child.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(out.progs.length >= 6 && out.links.length >= 6);
    for (const p of out.progs) assert.match(p.name, /^sonde_/);
    // the kernel frees programs asynchronously (RCU) once the last reference is gone: poll.
    // ids are never reused while the kernel runs, so this is exact
    const gone = () => {
      const progs = bpftoolIds('prog');
      const links = bpftoolIds('link');
      return out.progs.every((p) => !progs.has(p.id)) && out.links.every((id) => !links.has(id));
    };
    await waitFor(gone, 15_000);
    const progs = bpftoolIds('prog');
    for (const p of out.progs) assert.ok(!progs.has(p.id), `program ${p.name} (id ${p.id}) still loaded`);
    const links = bpftoolIds('link');
    for (const id of out.links) assert.ok(!links.has(id), `link ${id} still present`);
  });

  void test('destroy() detaches and unloads in-process', async () => {
    const o = BpfObject.open(loadNative(), bpfObjectPath('tcp'));
    o.load();
    const links = o.attachAll();
    const linkIds = links.map((l) => l.id);
    const progIds = o.programs().map((p) => p.id);
    assert.ok(linkIds.every((id) => bpftoolIds('link').has(id)));
    o.destroy();
    o.destroy(); // idempotent
    assert.equal(links[0].id, 0);
    const linksNow = bpftoolIds('link');
    for (const id of linkIds) assert.ok(!linksNow.has(id), `link ${id} still present`);
    await waitFor(() => progIds.every((id) => !bpftoolIds('prog').has(id)), 15_000);
    const progs = bpftoolIds('prog');
    for (const id of progIds) assert.ok(!progs.has(id), `program ${id} still loaded`);
  });

  void test('a worker that exits takes its programs with it (environment cleanup hook)', async () => {
    // the process lives on, so only the addon's cleanup hook can release the worker's objects
    const code = `
const { parentPort } = require('node:worker_threads');
(async () => {
  const { loadNative } = await import('${distModule('native/load.js')}');
  const { BpfObject } = await import('${distModule('native/bpf-object.js')}');
  const o = BpfObject.open(loadNative(), '${bpfObjectPath('process')}');
  o.load();
  const links = o.attachAll().map((l) => l.id);
  parentPort.postMessage({ links, progs: o.programs().map((p) => p.id) });
  setInterval(() => {}, 1000); // stay alive until terminate()
})();`;
    const w = new Worker(code, { eval: true });
    const ids = await new Promise<{ links: number[]; progs: number[] }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.ok(ids.links.length === 4 && ids.links.every((id) => bpftoolIds('link').has(id)));
    await w.terminate();
    await waitFor(() => ids.progs.every((id) => !bpftoolIds('prog').has(id)), 15_000);
    const links = bpftoolIds('link');
    for (const id of ids.links) assert.ok(!links.has(id), `link ${id} still attached after the worker ended`);
    const progs = bpftoolIds('prog');
    for (const id of ids.progs) assert.ok(!progs.has(id), `program ${id} still loaded after the worker ended`);
    // the main environment's addon state is intact
    const o = BpfObject.open(loadNative(), bpfObjectPath('process'));
    assert.throws(() => o.attach('sonde_exec'), BpfError);
    o.destroy();
  });

  void test('cgroup_skb attach by cgroup path; its socket cookies are the connection-table keys', { skip: existsSync('/sys/fs/cgroup/unified/cgroup.procs') || existsSync('/sys/fs/cgroup/cgroup.procs') ? undefined : 'no cgroup v2 hierarchy' }, async () => {
    const cg2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
    const dir = `${cg2}/sonde-test-${process.pid}`;
    mkdirSync(dir);
    const native = loadNative();
    const cg = BpfObject.open(native, bpfObjectPath('test_cgroup_count'));
    const tcp = BpfObject.open(native, bpfObjectPath('tcp'));
    try {
      cg.load();
      const link = cg.attachCgroup('sonde_test_egress', dir);
      assert.ok(link.id > 0);
      tcp.setRodata('targ_self_tgid', process.pid);
      tcp.load();
      tcp.attachAll();
      // a client inside the cgroup connects to a listener outside it and sends 5000 bytes
      const srv = startChild('python3', ['-c', 'import socket,sys\nl=socket.socket(); l.bind(("127.0.0.1",0)); l.listen(); print(l.getsockname()[1], flush=True)\nc,_=l.accept()\nwhile c.recv(65536): pass']);
      const port = Number(await srv.line());
      const cli = startChild('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec python3 -c 'import socket; s=socket.create_connection(("127.0.0.1", ${port})); s.sendall(b"x"*5000); s.close()'`]);
      await cli.exited;
      await srv.exited;
      let cookie: bigint | undefined;
      const reader = tcp.ringReader('events', { bufferBytes: 65536 });
      await waitFor(() => {
        reader.drain((buf, _n, bytes) => {
          decodeTcpBatch(buf, bytes, (e) => { if (e.type === TcpEventType.CONNECT && e.pid === cli.pid) cookie = e.cookie; });
        });
        return cookie !== undefined;
      });
      assert.ok(cookie !== undefined, 'CONNECT from the cgroup seen by the tcp probe');
      const pk = cg.map('packets');
      assert.ok(pk.perCpu);
      const perCpu = pk.lookup(Buffer.alloc(4))!;
      assert.equal(perCpu.length, 8 * native.numPossibleCpus());
      assert.ok(pk.sumPerCpuU64()[0] >= 3n, 'SYN, data and FIN left the cgroup');
      const all = cg.map('bytes_by_cookie').entries();
      const cookies = Array.from({ length: all.count }, (_, i) => all.keys.readBigUInt64LE(i * 8));
      const i = cookies.indexOf(cookie);
      assert.ok(i >= 0, 'the cgroup_skb program saw the same socket cookie');
      assert.ok(all.values.readBigUInt64LE(i * 8) >= 5000n);
      link.destroy();
      assert.equal(link.id, 0);
    } finally {
      tcp.destroy();
      cg.destroy();
      rmdirSync(dir);
    }
  });

  void test('non-root: PermissionError with a remedy', () => {
    const code = `
import { loadNative } from '${distModule('native/load.js')}';
import { BpfObject } from '${distModule('native/bpf-object.js')}';
import { PermissionError } from '${distModule('native/errors.js')}';
import { checkPrivileges } from '${distModule('native/env.js')}';
try {
  const o = BpfObject.open(loadNative(), '${bpfObjectPath('tcp')}');
  o.load();
  console.log(JSON.stringify({ loaded: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, perm: e instanceof PermissionError, code: e.code, op: e.op, remedy: e.remedy, env: checkPrivileges().ok }));
}`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { name: string; perm: boolean; code: string; op: string; remedy: string; env: boolean };
    assert.equal(res.perm, true, JSON.stringify(res));
    assert.equal(res.name, 'PermissionError');
    assert.equal(res.code, 'EPERM');
    assert.match(res.remedy, /CAP_BPF/);
    assert.equal(res.env, false);
  });

  void test('a program the verifier rejects: VerifierError with the log and the program', () => {
    const o = BpfObject.open(loadNative(), bpfObjectPath('test_verifier_reject'));
    try {
      assert.throws(() => o.load(), (e: unknown) => {
        assert.ok(e instanceof VerifierError, String(e));
        assert.equal(e.program, 'sonde_test_reject');
        assert.equal(e.op, 'bpf_object__load');
        assert.match(e.verifierLog, /stack|invalid/);
        return true;
      });
    } finally {
      o.destroy();
    }
  });

  void test('a BTF path that does not exist: NotSupportedError(BTF)', () => {
    const o = BpfObject.open(loadNative(), bpfObjectPath('tcp'), { btfCustomPath: '/nonexistent/vmlinux.btf' });
    try {
      assert.throws(() => o.load(), (e: unknown) => {
        assert.ok(e instanceof NotSupportedError, String(e));
        assert.equal(e.feature, 'BTF');
        assert.match(e.message, /btfCustomPath/);
        return true;
      });
    } finally {
      o.destroy();
    }
  });

  void test('two objects share the connection table through map reuse', () => {
    const native = loadNative();
    const a = BpfObject.open(native, bpfObjectPath('tcp'));
    const b = BpfObject.open(native, bpfObjectPath('tcp'));
    try {
      a.load();
      b.reuseMap('sonde_conns', a);
      b.load();
      const id = (o: BpfObject) => o.maps().find((m) => m.name === 'sonde_conns')!.id;
      assert.equal(id(a), id(b));
      const other = (o: BpfObject) => o.maps().find((m) => m.name === 'events')!.id;
      assert.notEqual(other(a), other(b));
      // an entry written through one is visible through the other
      const key = Buffer.alloc(8, 7);
      a.map('sonde_conns').update(key, Buffer.alloc(a.map('sonde_conns').valueBytes, 1));
      assert.deepEqual(b.map('sonde_conns').lookup(key), Buffer.alloc(80, 1));
    } finally {
      b.destroy();
      a.destroy();
    }
  });

  void test('RingReader.start delivers batches from the loop (timer + fd watch)', async () => {
    const o = BpfObject.open(loadNative(), bpfObjectPath('process'));
    o.setRodata('targ_self_tgid', process.pid);
    o.setRodata('targ_wakeup_bytes', 1); // wake on every record: exercises the uv_poll path too
    o.load();
    o.attachAll();
    const reader = o.ringReader('events', { bufferBytes: 64 * 1024 });
    const pids: number[] = [];
    let batches = 0;
    try {
      reader.start((buf, records, bytes) => {
        batches++;
        const r = decodeProcessBatch(buf, bytes, (ev) => { if (ev.type === ProcessEventType.EXEC) pids.push(ev.pid); });
        assert.equal(r.records, records);
      }, { intervalMs: 5 });
      assert.throws(() => reader.start(() => {}), /already started/);
      const child = startChild('/bin/true', []);
      await child.exited;
      assert.ok(await waitFor(() => pids.includes(child.pid), 5000), 'exec of the child delivered');
      assert.ok(batches >= 1);
      reader.stop();
      const st = reader.stats();
      assert.ok(st.records >= 1 && st.drains >= 1 && st.oversize === 0);
    } finally {
      o.destroy();
    }
    assert.throws(() => reader.stats(), /EBADF/);
  });
});

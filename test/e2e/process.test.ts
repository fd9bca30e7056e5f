// e2e (root): the process probe on the real kernel: exec/exit of known children, exit
// codes and signals, an OOM kill in a test memory cgroup. Filtered by the test's own pids.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { loadNative } from '../../src/native/load.js';
import { BpfObject } from '../../src/native/bpf-object.js';
import type { RingReader } from '../../src/native/ring-reader.js';
import { decodeProcessBatch, ProcessEventType, type ProcessEvent } from '../../src/receivers/ebpf/probes/process/decode.js';
import { bpfObjectPath } from '../helpers/paths.js';
import { e2eSkipReason, startChild, waitFor } from '../helpers/e2e.js';

const skip = e2eSkipReason();
if (skip) console.log(`# SKIP process e2e: ${skip}`);

void describe('process probe (e2e, root)', { skip, timeout: 120_000 }, () => {
  let obj: BpfObject;
  let reader: RingReader;
  const events: ProcessEvent[] = [];
  const of = (pred: (e: ProcessEvent) => boolean): ProcessEvent[] => {
    while (reader.drain((buf, _n, bytes) => { decodeProcessBatch(buf, bytes, (ev) => { events.push(ev.toJSON()); }); }) > 0) { /* all */ }
    return events.filter(pred);
  };

  before(() => {
    const native = loadNative();
    obj = BpfObject.open(native, bpfObjectPath('process'));
    obj.setRodata('targ_self_tgid', process.pid);
    obj.load();
    obj.attachAll();
    reader = obj.ringReader();
  });
  after(() => obj?.destroy());

  void test('exec and exit of a child with its pid and exit code', async () => {
    const child = startChild('/bin/sh', ['-c', 'exit 7']);
    const r = await child.exited;
    assert.equal(r.code, 7);
    await waitFor(() => of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT).length === 1);
    const execs = of((e) => e.pid === child.pid && e.type === ProcessEventType.EXEC);
    assert.equal(execs.length, 1);
    assert.equal(execs[0].comm, 'sh');
    assert.equal(execs[0].ppid, process.pid);
    assert.ok(execs[0].cgroupId > 0);
    const exits = of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT);
    assert.equal(exits.length, 1);
    assert.equal(exits[0].exitCode, 7);
    assert.equal(exits[0].signal, 0);
    assert.equal(exits[0].oomKilled, false);
  });

  void test('exit by signal', async () => {
    const child = startChild('/bin/sleep', ['30']);
    await waitFor(() => of((e) => e.pid === child.pid && e.type === ProcessEventType.EXEC).length === 1);
    child.proc.kill('SIGTERM');
    await child.exited;
    await waitFor(() => of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT).length === 1);
    const exit = of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT)[0];
    assert.equal(exit.exitCode, null);
    assert.equal(exit.signal, 15);
    assert.equal(exit.comm, 'sleep');
  });

  void test('threads do not produce exits; forks of other processes are seen', async () => {
    // sh forks a subshell (a process) that exits 3; python starts and joins 4 threads
    const child = startChild('/bin/sh', ['-c', '(exit 3); python3 -c "import threading; [t.start() or t.join() for t in [threading.Thread(target=lambda: None) for _ in range(4)]]"']);
    await child.exited;
    await waitFor(() => of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT).length === 1);
    const forks = of((e) => e.type === ProcessEventType.FORK && e.ppid === child.pid);
    assert.ok(forks.length >= 1, 'the subshell fork is reported');
    const sub = forks.map((f) => f.pid);
    const subExits = of((e) => e.type === ProcessEventType.EXIT && sub.includes(e.pid));
    assert.ok(subExits.some((e) => e.exitCode === 3));
    // every exit event is a process: no two exits for one pid
    const pids = of((e) => e.type === ProcessEventType.EXIT && (sub.includes(e.pid) || e.pid === child.pid)).map((e) => e.pid);
    assert.equal(new Set(pids).size, pids.length);
  });

  void test('no events about the agent itself', () => {
    assert.equal(of((e) => e.pid === process.pid).length, 0);
  });

  const memcg = '/sys/fs/cgroup/memory';
  void test('OOM kill in a memory cgroup: exactly one OOM event, exit marked oom-killed', { skip: existsSync(`${memcg}/memory.limit_in_bytes`) ? undefined : 'no cgroup v1 memory controller at /sys/fs/cgroup/memory' }, async () => {
    const dir = `${memcg}/sonde-oom-${process.pid}`;
    mkdirSync(dir);
    try {
      writeFileSync(`${dir}/memory.limit_in_bytes`, String(32 * 1024 * 1024));
      // the child moves itself into the cgroup, then execs python, which touches 256 MiB
      const child = startChild('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec python3 -c "b = bytearray(b'x') * (256 << 20)"`]);
      const r = await child.exited;
      assert.equal(r.signal, 'SIGKILL');
      await waitFor(() => of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT).length === 1);
      const ooms = of((e) => e.pid === child.pid && e.type === ProcessEventType.OOM_KILL);
      assert.equal(ooms.length, 1);
      assert.equal(ooms[0].comm, 'python3');
      const exit = of((e) => e.pid === child.pid && e.type === ProcessEventType.EXIT)[0];
      assert.equal(exit.oomKilled, true);
      assert.equal(exit.signal, 9);
    } finally {
      rmdirSync(dir);
    }
  });
});

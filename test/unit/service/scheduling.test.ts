// service.scheduling: the config (defaults, errors with their path and line), ProcessScheduling over the
// process's real threads (nice through the OS, the policy through a fake and through the real addon),
// and a real Service started with it. Each test file runs in its own process: changing this process's
// threads touches no other test. Putting a lower nice back needs root (CAP_SYS_NICE): those checks say so.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { parseYamlConfig } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { defaultBindingPath } from '../../../src/native/load.js';
import { FakeNative } from '../../../src/native/fake.js';
import { ProcessScheduling, SchedulingError } from '../../../src/service/scheduling.js';
import { componentsWithTestReceiver } from '../../helpers/components.js';
import { startService } from '../../helpers/service.js';

const isRoot = process.getuid?.() === 0;
const haveAddon = existsSync(defaultBindingPath());

const PIPELINE = `
receivers: { testgen: {} }
exporters: { debug: { verbosity: basic } }
service:
  pipelines: { traces: { receivers: [testgen], exporters: [debug] } }
`;

function resolve(extra: string) {
  return resolveConfig(parseYamlConfig(PIPELINE + extra, 'sched.yaml', {}), componentsWithTestReceiver());
}

/** policy (field 41) and nice (field 19) of every thread of this process, from /proc. */
function threads(): Array<{ tid: number; policy: number; nice: number }> {
  const out = [];
  for (const t of readdirSync('/proc/self/task')) {
    let stat: string;
    try { stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8'); } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    out.push({ tid: Number(t), nice: Number(f[19 - 3]), policy: Number(f[41 - 3]) });
  }
  return out;
}

test('config: normal / nice 0 by default; a bad policy and nice with idle are errors at their path and line', () => {
  const ok = resolve('');
  assert.deepEqual(ok.config?.scheduling, { policy: 'normal', nice: 0 });
  const set = resolve('  scheduling: { policy: batch, nice: 10 }\n');
  assert.deepEqual(set.config?.scheduling, { policy: 'batch', nice: 10 });

  const bad = resolve('  scheduling:\n    policy: fifo\n');
  assert.equal(bad.config, undefined);
  assert.equal(bad.issues[0]?.path.join('.'), 'service.scheduling.policy');
  assert.match(bad.issues[0]!.message, /"normal", "batch", "idle"/);
  assert.equal(bad.issues[0]?.line, 7); // the line of `policy: fifo`

  const idleNice = resolve('  scheduling:\n    policy: idle\n    nice: 5\n');
  assert.equal(idleNice.issues[0]?.path.join('.'), 'service.scheduling.nice');
  assert.match(idleNice.issues[0]!.message, /no effect with policy idle/);

  const range = resolve('  scheduling: { nice: 30 }\n');
  assert.equal(range.issues[0]?.path.join('.'), 'service.scheduling.nice');
});

test('nice: every thread gets it, threads started later inherit it; the default touches nothing', async () => {
  const fake = new FakeNative();
  const none = new ProcessScheduling({ policy: 'normal', nice: 0 }, { native: fake });
  assert.equal(none.active, false);
  assert.equal(none.apply(), 0);

  const s = new ProcessScheduling({ policy: 'normal', nice: 7 }, { native: fake });
  const n = s.apply();
  assert.ok(n >= 2, `${n} threads`); // the JS thread and V8's platform threads at least
  assert.ok(threads().every((t) => t.nice === 7), JSON.stringify(threads()));
  assert.equal(fake.schedPolicies.size, 0, 'SCHED_OTHER with a nice value needs no policy change');

  // a worker thread created now inherits the creating thread's nice
  const w = new Worker('require("node:worker_threads").parentPort.postMessage(require("node:os").getPriority())', { eval: true });
  const workerNice = await new Promise<number>((res, rej) => { w.once('message', res); w.once('error', rej); });
  await w.terminate();
  assert.equal(workerNice, 7);

  s.restore();
  if (isRoot) assert.ok(threads().every((t) => t.nice === 0), 'nice put back (needs CAP_SYS_NICE)');
  assert.equal(getPriority(), isRoot ? 0 : 7);
});

test('policy through the binding: set on every thread, put back on restore', { skip: !isRoot && 'a lower nice back needs root' }, () => {
  const fake = new FakeNative();
  const s = new ProcessScheduling({ policy: 'batch', nice: 2 }, { native: fake });
  const n = s.apply();
  assert.equal(fake.schedPolicies.size, n);
  assert.ok([...fake.schedPolicies.values()].every((p) => p === 3));
  assert.ok(threads().every((t) => t.nice === 2));
  s.restore();
  assert.ok([...fake.schedPolicies.values()].every((p) => p === 0));
  assert.ok(threads().every((t) => t.nice === 0));
});

test('a failure names the setting and leaves the threads as they were', () => {
  const fake = new FakeNative();
  let calls = 0;
  fake.setSchedPolicy = (tid: number, policy: number) => {
    if (++calls === 2) throw Object.assign(new Error('Operation not permitted'), { code: 'EPERM' });
    fake.schedPolicies.set(tid, policy);
  };
  const s = new ProcessScheduling({ policy: 'idle', nice: 0 }, { native: fake });
  assert.throws(() => s.apply(), (e: unknown) => e instanceof SchedulingError && /service\.scheduling: cannot set policy idle/.test(e.message));
  assert.ok([...fake.schedPolicies.values()].every((p) => p === 0), 'the thread already set was put back');
});

test('real addon (root): SCHED_IDLE on every thread, inherited by a new worker, back to SCHED_OTHER', { skip: (!isRoot && 'needs root to put SCHED_OTHER back') || (!haveAddon && 'native addon not built') }, async () => {
  const s = new ProcessScheduling({ policy: 'idle', nice: 0 });
  s.apply();
  assert.ok(threads().every((t) => t.policy === 5), JSON.stringify(threads()));
  const w = new Worker('setTimeout(() => {}, 10000); require("node:worker_threads").parentPort.postMessage(0)', { eval: true });
  await new Promise((res) => w.once('message', res));
  assert.ok(threads().every((t) => t.policy === 5), 'the worker\'s threads inherit SCHED_IDLE');
  await w.terminate();
  s.restore();
  assert.ok(threads().every((t) => t.policy === 0 && t.nice === 0), JSON.stringify(threads()));
});

test('a Service with service.scheduling applies it at start and puts it back at shutdown (root, addon)', { skip: (!isRoot && 'needs root') || (!haveAddon && 'native addon not built') }, async () => {
  const svc = await startService(PIPELINE + '  scheduling: { policy: batch, nice: 4 }\n');
  try {
    assert.ok(threads().every((t) => t.policy === 3 && t.nice === 4), JSON.stringify(threads()));
  } finally {
    await svc.stop();
  }
  assert.ok(threads().every((t) => t.policy === 0 && t.nice === 0), JSON.stringify(threads()));
});

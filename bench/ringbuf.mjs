#!/usr/bin/env node
// Ring-buffer delivery benchmark (root; after npm run build:bpf, build:native, build).
//   node bench/ringbuf.mjs [--seconds 3] [--ring-mib 16] [--quick]
// A producer process (dd, pinned to CPU 1) makes syscalls as fast as it can; a tp_btf on
// sys_enter emits K struct process_event records per syscall of that process only
// (bpf/bench/ringbench.bpf.c), through the same reserve/submit + wakeup policy as the probes.
// This process (pinned to CPU 0) drains with RingReader and decodes every record.
// Reports offered/delivered events/s, drops, consumer CPU per event, for K = 1..64 and
// for the delivery alternatives (timer only / timer + fd watch with high watermark /
// kernel wakeup on every record).
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { decodeProcessBatch, ProcessEventView } = await import(`${root}dist/src/receivers/ebpf/probes/process/decode.js`);
const { STRUCTS } = await import(`${root}dist/src/native/layouts.generated.js`);

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const SECONDS = arg('seconds', 3);
const RING_MIB = arg('ring-mib', 16);
const QUICK = process.argv.includes('--quick');
if (process.getuid() !== 0) { console.error('needs root'); process.exit(1); }
spawnSync('taskset', ['-pc', '0', String(process.pid)]);

const native = loadNative();

async function run({ k, wakeupBytes, watchFd, intervalMs, decode = true, allFields = false, ringMib = RING_MIB }) {
  const o = BpfObject.open(native, `${root}build/bpf/ringbench.bpf.o`);
  o.setMaxEntries('events', ringMib << 20);
  o.setRodata('targ_wakeup_bytes', wakeupBytes);
  o.load();
  o.attachAll();
  const reader = o.ringReader('events', { bufferBytes: 4 << 20 });
  const view = new ProcessEventView();
  let delivered = 0, sum = 0;
  const onEvent = allFields
    ? (ev) => { sum += ev.type + ev.tsNs + ev.pid + ev.ppid + ev.cgroupId + ev.exitStatus + (ev.oomKilled ? 1 : 0); }
    : (ev) => { sum += ev.pid; };
  // the producer waits on stdin until its pid is configured, then execs dd
  const child = spawn('taskset', ['-c', '1', 'sh', '-c', 'read x; exec dd if=/dev/zero of=/dev/null bs=1 count=2000000000'], { stdio: ['pipe', 'ignore', 'ignore'] });
  await sleep(50);
  const cfg = Buffer.alloc(STRUCTS.ringbench_cfg.size);
  cfg.writeUInt32LE(child.pid, STRUCTS.ringbench_cfg.fields.target_tgid.offset);
  cfg.writeUInt32LE(k, STRUCTS.ringbench_cfg.fields.events_per_call.offset);
  o.map('bench_cfg').update(Buffer.alloc(4), cfg);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  reader.start((buf, n, bytes) => {
    if (decode) decodeProcessBatch(buf, bytes, onEvent, view);
    delivered += n;
  }, { intervalMs, watchFd, maxBatches: 64 });
  child.stdin.write('\n');
  await sleep(SECONDS * 1000);
  o.map('bench_cfg').update(Buffer.alloc(4), Buffer.alloc(STRUCTS.ringbench_cfg.size)); // stop producing
  child.kill('SIGKILL');
  await sleep(Math.max(50, intervalMs * 3));
  while (reader.drain((buf, n, bytes) => { if (decode) decodeProcessBatch(buf, bytes, onEvent, view); delivered += n; }) > 0);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const lost = Number(o.lostCounters()[0]);
  reader.stop();
  o.destroy();
  const offered = delivered + lost;
  return {
    k, delivery: watchFd ? (wakeupBytes ? `timer ${intervalMs}ms + fd (wake at ${wakeupBytes >> 10} KiB)` : 'fd, wake every record') : `timer ${intervalMs}ms only`,
    ringMib, decode: decode ? (allFields ? 'all numeric fields' : 'pid') : 'none',
    offeredPerSec: Math.round(offered / secs), deliveredPerSec: Math.round(delivered / secs),
    lostPct: offered ? +(100 * lost / offered).toFixed(3) : 0,
    consumerCpuPct: +(100 * (cpu.user + cpu.system) / 1e6 / secs).toFixed(1),
    nsPerEvent: delivered ? +(((cpu.user + cpu.system) * 1000) / delivered).toFixed(1) : 0,
    checksum: sum > 0,
  };
}

const rows = [];
const show = (r) => { rows.push(r); console.log(JSON.stringify(r)); };
const ks = QUICK ? [1, 16] : [1, 4, 16, 32, 64];
console.log(`# ringbuf bench: ${SECONDS}s per run, record ${STRUCTS.process_event.size + 8} bytes, consumer CPU 0, producer CPU 1`);
for (const k of ks) show(await run({ k, wakeupBytes: 1 << 20, watchFd: true, intervalMs: 10 }));
// delivery alternatives at a fixed offered rate
const kAlt = 16;
show(await run({ k: kAlt, wakeupBytes: 1 << 20, watchFd: false, intervalMs: 10 }));
show(await run({ k: kAlt, wakeupBytes: 1 << 20, watchFd: false, intervalMs: 5 }));
show(await run({ k: kAlt, wakeupBytes: 0, watchFd: true, intervalMs: 0 }));
show(await run({ k: kAlt, wakeupBytes: 1 << 20, watchFd: true, intervalMs: 10, decode: false }));
show(await run({ k: kAlt, wakeupBytes: 1 << 20, watchFd: true, intervalMs: 10, allFields: true }));
if (!QUICK) show(await run({ k: 64, wakeupBytes: 4 << 20, watchFd: true, intervalMs: 10, ringMib: 64 }));
const lossFree = rows.filter((r) => r.lostPct === 0).reduce((a, r) => Math.max(a, r.deliveredPerSec), 0);
console.log(`# max loss-free delivered+decoded rate: ${lossFree} events/s`);

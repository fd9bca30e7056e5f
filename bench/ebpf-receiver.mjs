#!/usr/bin/env node
// The ebpf receiver end to end (after npm run build:bpf, build:native, build):
//   1. aggregation: synthetic tcp_event batches (CONNECT/CLOSE over 1000 destinations) through the real
//      receiver and tcp probe handlers (FakeNative delivers them): events/s on one core, ns/event, heap
//      growth per event after warm-up (allocation-free hot path). No root needed.
//   2. kernel → receiver (root): a bench producer (bpf/bench/ringbench: K process_event records per
//      syscall of a dd pinned to CPU 1) registered as a probe, so records go through the receiver's ring
//      readers, dispatch and a handler that attributes each event to a cgroup and counts it, like the
//      probes do. Delivered/lost per K: the loss-free maximum.
//   3. wrk → nginx on loopback (root) with and without the whole receiver (process + tcp probes, the
//      default config) attached, alternating rounds; requests/s ranges, BPF ns per request
//      (kernel.bpf_stats_enabled) and the receiver's own CPU per request (process.cpuUsage).
//   node bench/ebpf-receiver.mjs [--seconds 2] [--rounds 6] [--parts 1,2,3] [--port 18090]
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('..', import.meta.url).pathname;
const { createEbpfReceiverFactory } = await import(`${root}dist/src/receivers/ebpf/factory.js`);
const { defaultProbeRegistry } = await import(`${root}dist/src/receivers/ebpf/probes/index.js`);
const { ProbeRegistry } = await import(`${root}dist/src/receivers/ebpf/probe.js`);
const { FakeNative } = await import(`${root}dist/src/native/fake.js`);
const { encodeRecords } = await import(`${root}dist/src/native/ring-records.js`);
const { ENUMS, STRUCTS } = await import(`${root}dist/src/native/layouts.generated.js`);
const { SelfTelemetry } = await import(`${root}dist/src/service/telemetry.js`);
const { ComponentId } = await import(`${root}dist/src/component/id.js`);
const { nopLogger } = await import(`${root}dist/src/service/logger.js`);
const { resourceFromAttributes } = await import('@opentelemetry/resources');
const { s } = await import(`${root}dist/src/config/schema.js`);
const { freePort } = await import('./lib/loopback.mjs');

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
const SECONDS = Number(arg('seconds', 2));
const ROUNDS = Number(arg('rounds', 6));
const PORT = Number(arg('port', 0)) || await freePort();
const PARTS = arg('parts', '1,2,3').split(',').map(Number);
const isRoot = process.getuid() === 0;
spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

const nop = { capabilities: { mutatesData: false }, consumeMetrics: async () => {}, consumeLogs: async () => {} };
const settings = (telemetry) => ({
  id: ComponentId.parse('ebpf'), kind: 'receiver', logger: nopLogger(), telemetry,
  host: { hostname: 'bench', machineId: '', systemUuid: '', kernelRelease: '', arch: 'x64' },
  resource: resourceFromAttributes({ 'service.name': 'sonde' }),
});
function config(factory, over) {
  const issues = [];
  const cfg = factory.configSchema.parse(over, ['ebpf'], issues, factory.createDefaultConfig());
  if (issues.length) throw new Error(JSON.stringify(issues));
  return cfg;
}
const empty = mkdtempSync(join(tmpdir(), 'sonde-bench-ebpf-'));
process.on('exit', () => rmSync(empty, { recursive: true, force: true }));
const out = {};

// ---------------------------------------------------------------------------------------------- 1
if (PARTS.includes(1)) {
  const L = STRUCTS.tcp_event;
  const F = L.fields;
  const rec = (type, cookie, dest) => {
    const b = Buffer.alloc(L.size);
    b.writeUInt32LE(type, F.type.offset);
    b.writeBigUInt64LE(BigInt(cookie), F.cookie.offset);
    b.writeUInt32LE(process.pid, F.pid.offset); // a live pid: attribution through the pid cache
    b.writeUInt16LE(2, F['tuple.family'].offset);
    b.writeUInt32BE(0x0a000000 + (dest % 250), F['tuple.daddr'].offset);
    b.writeUInt16LE(5000 + Math.floor(dest / 250), F['tuple.dport'].offset);
    b.writeUInt32BE(0x7f000001, F['tuple.saddr'].offset);
    b.writeUInt16LE(40000 + (cookie % 20000), F['tuple.sport'].offset);
    b.writeUInt8(ENUMS.SONDE_ROLE_CLIENT, F.role.offset);
    b.writeBigUInt64LE(123456n, F.duration_ns.offset);
    b.writeBigUInt64LE(1000n, F.bytes_sent.offset);
    b.writeBigUInt64LE(2000n, F.bytes_received.offset);
    return b;
  };
  const PER_BATCH = 16384; // 128 bytes per record in the ring: 2 MiB batches
  const batches = [];
  let cookie = 1;
  for (let bi = 0; bi < 4; bi++) {
    const recs = [];
    while (recs.length < PER_BATCH) {
      const c = cookie++;
      const d = c % 1000;
      recs.push(rec(ENUMS.TCP_EVENT_CONNECT, c, d), rec(c % 7 === 0 ? ENUMS.TCP_EVENT_RETRANSMIT : ENUMS.TCP_EVENT_CLOSE, c, d));
    }
    batches.push(encodeRecords(recs));
  }
  const fake = new FakeNative();
  const telemetry = new SelfTelemetry();
  const f = createEbpfReceiverFactory({ native: fake });
  const cfg = config(f, { discovery: false, cgroup_root: empty, ring_buffer: { drain_interval: '1ms', read_buffer: 4 << 20 }, probes: { process: { enabled: false } } });
  const r = f.createMetrics(settings(telemetry), cfg, nop);
  await r.start({ logger: nopLogger(), reportStatus: () => {} });
  const events = () => telemetry.counterValue('sonde_ebpf_events_total', { probe: 'tcp' });
  const feed = async (n) => {
    const target = events() + n * PER_BATCH;
    for (let i = 0; i < n; i++) fake.pushBatch('tcp', batches[i % batches.length]);
    while (events() < target) await sleep(1);
  };
  await feed(64); // warm-up: every destination and label interned, JIT warm
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const N = 400;
  await feed(N);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  global.gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  const n = N * PER_BATCH;
  await r.shutdown();
  out.aggregation = {
    events: n, eventsPerSec: Math.round(n / secs), cpuNsPerEvent: +(((cpu.user + cpu.system) * 1000) / n).toFixed(1),
    heapBytesPerEvent: +((heap1 - heap0) / n).toFixed(4), gcExposed: typeof global.gc === 'function',
  };
  console.log(JSON.stringify({ part: 1, ...out.aggregation }));
}

// ---------------------------------------------------------------------------------------------- 2
if (PARTS.includes(2) && isRoot) {
  const rows = [];
  for (const k of [1, 4, 16, 64]) {
    let obj;
    const counts = new Map();
    const bench = {
      name: 'ringbench', description: 'bench producer', object: 'ringbench',
      configSchema: s.object({ enabled: s.bool().describe('on') }), createDefaultConfig: () => ({ enabled: true }),
      create: (ctx) => ({
        eventTypeOffset: STRUCTS.process_event.fields.type.offset,
        eventTypeNames: new Map([[ENUMS.PROCESS_EVENT_EXEC, 'exec']]),
        handlers: new Map([[ENUMS.PROCESS_EVENT_EXEC, (v, o) => {
          // what the probes do per event: attribute to a cgroup, count
          const cg = ctx.cgroups.of(v.getUint32(o + STRUCTS.process_event.fields.pid.offset, true), 0);
          counts.set(cg, (counts.get(cg) ?? 0) + 1);
        }]]),
        configure: (o) => { obj = o; },
      }),
    };
    const registry = new ProbeRegistry().register(bench);
    const telemetry = new SelfTelemetry();
    const f = createEbpfReceiverFactory({ registry });
    const cfg = config(f, { discovery: false, ring_buffer: { size: 16 << 20, read_buffer: 4 << 20, drain_interval: '10ms', wakeup_threshold: 1 << 20 } });
    const r = f.createMetrics(settings(telemetry), cfg, nop);
    await r.start({ logger: nopLogger(), reportStatus: () => {} });
    const child = spawn('taskset', ['-c', '1', 'sh', '-c', 'read x; exec dd if=/dev/zero of=/dev/null bs=1 count=2000000000'], { stdio: ['pipe', 'ignore', 'ignore'] });
    await sleep(50);
    const c = Buffer.alloc(STRUCTS.ringbench_cfg.size);
    c.writeUInt32LE(child.pid, STRUCTS.ringbench_cfg.fields.target_tgid.offset);
    c.writeUInt32LE(k, STRUCTS.ringbench_cfg.fields.events_per_call.offset);
    const delivered = () => telemetry.counterValue('sonde_ebpf_events_total', { probe: 'ringbench' });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    obj.map('bench_cfg').update(Buffer.alloc(4), c);
    child.stdin.write('\n');
    await sleep(SECONDS * 1000);
    obj.map('bench_cfg').update(Buffer.alloc(4), Buffer.alloc(STRUCTS.ringbench_cfg.size));
    child.kill('SIGKILL');
    await sleep(100);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const lost = Number(obj.lostCounters()[0]);
    const got = delivered();
    await r.shutdown();
    const offered = got + lost;
    const row = {
      part: 2, k, offeredPerSec: Math.round(offered / secs), deliveredPerSec: Math.round(got / secs),
      lostPct: offered ? +(100 * lost / offered).toFixed(3) : 0,
      receiverCpuPct: +(100 * (cpu.user + cpu.system) / 1e6 / secs).toFixed(1),
      nsPerEvent: got ? +(((cpu.user + cpu.system) * 1000) / got).toFixed(1) : 0,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  out.kernel = { rows, lossFreeMaxPerSec: rows.filter((r) => r.lostPct === 0).reduce((a, r) => Math.max(a, r.deliveredPerSec), 0) };
  console.log(JSON.stringify({ part: 2, lossFreeMaxPerSec: out.kernel.lossFreeMaxPerSec }));
} else if (PARTS.includes(2)) console.log('# part 2 skipped: needs root');

// ---------------------------------------------------------------------------------------------- 3
if (PARTS.includes(3) && isRoot) {
  const dir = mkdtempSync(join(tmpdir(), 'sonde-bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:${PORT} backlog=4096 reuseport; location / { return 200 "ok\\n"; } }
}
`);
  const nginx = spawn('taskset', ['-c', '1', 'nginx', '-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  let stopped = false;
  const stopNginx = () => { if (!stopped) { stopped = true; try { process.kill(nginx.pid, 'SIGQUIT'); } catch { /* gone */ } } };
  process.on('exit', () => { stopNginx(); rmSync(dir, { recursive: true, force: true }); });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${PORT}`]).status === 0) break;
    await sleep(50);
  }
  const wrk = (close) => new Promise((resolve, reject) => {
    const p = spawn('taskset', ['-c', '0', 'wrk', '-t1', '-c32', `-d${SECONDS}s`, ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${PORT}/`]);
    let o = '';
    p.stdout.on('data', (d) => { o += d; });
    p.on('exit', () => { const m = /Requests\/sec:\s+([\d.]+)/.exec(o); if (!m) reject(new Error(`wrk: ${o}`)); else resolve(Number(m[1])); });
  });
  const statsPath = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(statsPath, 'utf8').trim();
  writeFileSync(statsPath, '1');
  process.on('exit', () => { try { writeFileSync(statsPath, statsBefore); } catch { /* ignore */ } });
  const ownProgIds = () => {
    const ids = new Set();
    for (const fd of readdirSync('/proc/self/fdinfo')) {
      try { const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')); if (m) ids.add(Number(m[1])); } catch { /* closed */ }
    }
    return ids;
  };
  const bpfNs = (ids) => {
    let ns = 0;
    for (const p of JSON.parse(spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }).stdout)) if (ids.has(p.id)) ns += p.run_time_ns ?? 0;
    return ns;
  };
  const median = (a) => { const b = [...a].sort((x, y) => x - y); return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2; };
  const res = {};
  for (const mode of ['keepalive', 'close']) {
    const rows = { off: [], receiver: [] };
    const cost = { bpfNs: 0, cpuUs: 0, requests: 0 };
    await wrk(mode === 'close');
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of round % 2 === 0 ? ['off', 'receiver'] : ['receiver', 'off']) {
        let r;
        let ids = new Set();
        if (v === 'receiver') {
          const f = createEbpfReceiverFactory({ registry: defaultProbeRegistry() });
          r = f.createMetrics(settings(new SelfTelemetry()), config(f, { collection_interval: '1s' }), nop);
          await r.start({ logger: nopLogger(), reportStatus: () => {} });
          ids = ownProgIds();
        }
        const ns0 = bpfNs(ids);
        const cpu0 = process.cpuUsage();
        const rps = await wrk(mode === 'close');
        await sleep(30);
        const cpu = process.cpuUsage(cpu0);
        if (r) {
          cost.bpfNs += bpfNs(ids) - ns0;
          cost.cpuUs += cpu.user + cpu.system;
          cost.requests += rps * SECONDS;
          await r.shutdown();
        }
        rows[v].push(rps);
        console.log(JSON.stringify({ part: 3, mode, round, variant: v, rps: Math.round(rps) }));
      }
    }
    const ratios = rows.receiver.map((x, i) => x / rows.off[i]);
    res[mode] = {
      offRps: Math.round(median(rows.off)), offRange: [Math.round(Math.min(...rows.off)), Math.round(Math.max(...rows.off))],
      receiverRps: Math.round(median(rows.receiver)), receiverRange: [Math.round(Math.min(...rows.receiver)), Math.round(Math.max(...rows.receiver))],
      ratio: +median(ratios).toFixed(3), ratioRange: [+Math.min(...ratios).toFixed(3), +Math.max(...ratios).toFixed(3)],
      bpfNsPerRequest: Math.round(cost.bpfNs / cost.requests), receiverCpuNsPerRequest: Math.round((cost.cpuUs * 1000) / cost.requests),
    };
    console.log(JSON.stringify({ part: 3, mode, ...res[mode] }));
  }
  out.nginx = res;
  stopNginx();
} else if (PARTS.includes(3)) console.log('# part 3 skipped: needs root');

console.log(JSON.stringify({ summary: out }));
process.exit(0);

#!/usr/bin/env node
// What the copy policy costs on bulk responses (root; after the builds). A Node server returns a
// 1 MiB body (Content-Length) K times over one keep-alive connection, on two paths:
//   loopback   64 KiB GSO segments (egress and ingress see a few big skbs per response)
//   veth       a network namespace: the client's ingress sees MSS-sized segments (no GRO on veth),
//              as a pod's traffic does on a Kubernetes node
// and two policies: continuation_bytes = 0 (the default: bulk segments send only their length) and
// continuation_bytes = capture_bytes = 1024 (every segment's first KiB). Per response: ring records and
// bytes, BPF run time, and the span's body size (must be exact), live; the agent's CPU (adapter +
// L7Pipeline + spans) by replaying the captured batches 20 times in this process afterwards (steady
// state, no other work in the process: the live process also spawns the clients).
//   node bench/l7-bulk.mjs [--responses 50]
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { bpfStats, diffStats, num } from './lib/loopback.mjs';

const root = new URL('..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { L7Pipeline } = await import(`${root}dist/src/receivers/ebpf/l7/pipeline.js`);
const { ParserRegistry } = await import(`${root}dist/src/receivers/ebpf/l7/registry.js`);
const { http1Parser } = await import(`${root}dist/src/receivers/ebpf/l7/protocols/http1/parser.js`);
const { L7Adapter } = await import(`${root}dist/src/receivers/ebpf/probes/l7/adapter.js`);
const cap = await import(`${root}dist/src/receivers/ebpf/probes/l7/capture.js`);

if (process.getuid() !== 0) { console.log('# l7-bulk: needs root (skipped)'); process.exit(0); }
const K = num('responses', 50);
const BODY = 1 << 20;
const native = loadNative();
const tcp = BpfObject.open(native, `${root}build/bpf/tcp.bpf.o`);
tcp.setRodata('targ_self_tgid', process.pid);
tcp.load();
const registry = new ParserRegistry().register(http1Parser);
const objs = {};
for (const cont of [0, 1024]) {
  const o = BpfObject.open(native, `${root}build/bpf/l7.bpf.o`);
  const table = cap.configureL7Object(o, tcp, { captureBytes: 1024, continuationBytes: cont, detectTries: 4, ringBytes: 64 << 20, wakeupBytes: 1 << 20, selfPid: process.pid, protocols: ['http'] }, { sendmsgTracepoint: cap.hasSendmsgTracepoint() });
  o.load();
  objs[cont] = { o, table, reader: o.ringReader('events', { bufferBytes: 8 << 20 }) };
}
const stats = bpfStats();
const sh = (cmd, args) => { const r = spawnSync(cmd, args, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`); return r.stdout; };
const NS = `sonde-bulk${process.pid % 10000}`;
const SUB = 150 + (process.pid % 50);
const nsCleanup = () => { spawnSync('ip', ['link', 'del', `sb${process.pid % 10000}`]); spawnSync('ip', ['netns', 'del', NS]); };
nsCleanup();
sh('ip', ['netns', 'add', NS]);
sh('ip', ['link', 'add', `sb${process.pid % 10000}`, 'type', 'veth', 'peer', 'name', `sn${process.pid % 10000}`]);
sh('ip', ['link', 'set', `sn${process.pid % 10000}`, 'netns', NS]);
sh('ip', ['addr', 'add', `10.232.${SUB}.1/30`, 'dev', `sb${process.pid % 10000}`]);
sh('ip', ['link', 'set', `sb${process.pid % 10000}`, 'up']);
sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `10.232.${SUB}.2/30`, 'dev', `sn${process.pid % 10000}`]);
sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', `sn${process.pid % 10000}`, 'up']);
process.on('exit', nsCleanup);

// the server on the host (loopback and the veth address); clients: in this process's netns or in NS
const server = spawn(process.execPath, ['--input-type=module', '-e', `
import http from 'node:http';
const body = Buffer.alloc(${BODY}, 0x62);
const s = http.createServer((q, r) => { r.setHeader('content-length', body.length); r.end(body); }).listen(0, '0.0.0.0', () => console.log(s.address().port));
process.stdin.on('data', () => process.exit(0));`], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise((r) => server.stdout.once('data', (d) => r(Number(String(d).trim()))));
const client = (host, prefix) => new Promise((resolve) => {
  const p = spawn(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), '--input-type=module', '-e', `
import http from 'node:http';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let n = 0;
const one = () => http.get({ host: '${host}', port: ${port}, path: '/f', agent }, (r) => { r.resume(); r.on('end', () => { if (++n < ${K}) one(); else { agent.destroy(); process.exit(0); } }); });
one();`], { stdio: 'inherit' });
  p.on('exit', resolve);
});

const rows = [];
for (const path of ['loopback', 'veth']) {
  for (const cont of [0, 1024]) {
    const { o, table, reader } = objs[cont];
    const pipeline = new L7Pipeline({ host: { hostname: 'b', machineId: 'm', arch: 'x64' }, registry, link: { windowNs: 1e6 } });
    const adapter = new L7Adapter(pipeline, { protocols: table.names, registry, selfPid: process.pid });
    let records = 0, bytes = 0;
    const batches = [];
    const onBatch = (buf, n, b) => { records += n; bytes += b; batches.push(Buffer.from(buf.subarray(0, b))); adapter.onBatch(buf, n, b); };
    const links = [...tcp.attachAll(), ...cap.attachL7Object(o, cap.cgroup2Root())];
    const s0 = stats([tcp, o]);
    reader.start(onBatch, { intervalMs: 10 });
    await client(path === 'loopback' ? '127.0.0.1' : `10.232.${SUB}.1`, path === 'loopback' ? [] : ['ip', 'netns', 'exec', NS]);
    await sleep(200);
    reader.stop();
    while (reader.drain(onBatch) > 0);
    for (const l of links) l.destroy();
    const spans = pipeline.tick(Number.MAX_SAFE_INTEGER / 2, true).filter((s) => s.attributes['url.path'] === '/f');
    // the agent's CPU on the same records, replayed (fixed clock: no offset measurement per pipeline)
    const clock = { toHrTime: (ns) => [Math.floor(ns / 1e9), ns % 1e9], nowMonoNs: () => 0 };
    const replay = () => {
      const p = new L7Pipeline({ host: { hostname: 'b', machineId: 'm', arch: 'x64' }, registry, link: { windowNs: 1e6 }, clock });
      const a = new L7Adapter(p, { protocols: table.names, registry, selfPid: process.pid, cgroupPath: () => '/bench' });
      for (const b of batches) a.onBatch(b, 0, b.length);
      p.tick(Number.MAX_SAFE_INTEGER / 2, true);
    };
    for (let i = 0; i < 5; i++) replay();
    const t0 = process.cpuUsage();
    for (let i = 0; i < 20; i++) replay();
    const u0 = process.cpuUsage(t0);
    const busyMs = (u0.user + u0.system) / 1e3 / 20;
    const d = diffStats(s0, stats([tcp, o]));
    const bpfNs = Object.values(d).reduce((a, x) => a + x.ns, 0);
    const sizes = new Set(spans.map((s) => s.attributes['http.response.body.size']));
    const row = { path, continuation_bytes: cont, spans: spans.length, exactSizes: sizes.size === 1 && sizes.has(BODY), recordsPerResponse: +(records / K).toFixed(1), ringKiBPerResponse: +(bytes / K / 1024).toFixed(1), bpfUsPerResponse: +(bpfNs / K / 1e3).toFixed(1), agentUsPerResponse: +(busyMs * 1e3 / K).toFixed(1), progs: Object.fromEntries(Object.entries(d).filter(([, x]) => x.cnt > 0).map(([k, x]) => [k, { perResp: +(x.cnt / K).toFixed(1), ns: Math.round(x.ns / x.cnt) }])) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.log(`\n# ${K} x 1 MiB responses on one keep-alive connection, both ends traced (CLIENT + SERVER spans)`);
console.log('path      continuation_bytes  spans  exact sizes  records/resp  ring KiB/resp  BPF us/resp  agent us/resp');
for (const r of rows) console.log(`${r.path.padEnd(9)} ${String(r.continuation_bytes).padStart(18)}  ${String(r.spans).padStart(5)}  ${String(r.exactSizes).padStart(11)}  ${String(r.recordsPerResponse).padStart(12)}  ${String(r.ringKiBPerResponse).padStart(13)}  ${String(r.bpfUsPerResponse).padStart(11)}  ${String(r.agentUsPerResponse).padStart(13)}`);
server.stdin.write('x');
for (const { o } of Object.values(objs)) o.destroy();
tcp.destroy();
process.exit(0);

#!/usr/bin/env node
// Where to hook an L7 payload probe: the candidates side by side on wrk -> nginx (loopback,
// keep-alive; root, after npm run build:bpf, build:native, build). Each round runs every variant
// once next to an "off" run (ABBA order: this VM's throughput drifts 2-3x within seconds), and
// reports the ratio to off, the BPF run time per request (kernel.bpf_stats_enabled) and the CPU
// of wrk + nginx per request (their utime+stime, which includes softirq work done in their context).
//   l7        the probe as shipped: cgroup_skb egress+ingress (1 KiB copies into the ring) + tp_btf
//             tcp_sendmsg_locked + inet_sock_set_state, with the tcp probe (connection table);
//             the ring is drained (records discarded: kernel cost only)
//   msg       sock_ops puts established sockets in a sockhash + sk_msg (sendmsg payload)
//   verdict   the same sockhash + sk_skb stream_verdict (received payload; changes the rx path)
//   sendrecv  tp_btf sock_send_length + sock_recv_length (lengths only, no payload)
//   syscalls  tracepoints on read/write/writev (8-byte user copies): the syscall slow path
//   node bench/l7-attach.mjs [--rounds 4] [--seconds 2] [--variants l7,msg,verdict,sendrecv,syscalls]
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { arg, bpfStats, CLK_TCK, diffStats, freePort, median, num, procTicks, startNginx, wrk } from './lib/loopback.mjs';

const root = new URL('..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { checkTracefs } = await import(`${root}dist/src/native/env.js`);
const cap = await import(`${root}dist/src/receivers/ebpf/probes/l7/capture.js`);

if (process.getuid() !== 0) { console.log('# l7-attach: needs root (skipped)'); process.exit(0); }
const ROUNDS = num('rounds', 4);
const SECONDS = num('seconds', 2);
const PORT = num('port', 0) || await freePort();
const ONLY = arg('variants', 'l7,msg,verdict,sendrecv,syscalls').split(',');

const native = loadNative();
const cg2 = cap.cgroup2Root();
const nginx = await startNginx({ port: PORT });

const tcp = BpfObject.open(native, `${root}build/bpf/tcp.bpf.o`);
tcp.setRodata('targ_self_tgid', process.pid);
tcp.load();
const l7 = BpfObject.open(native, `${root}build/bpf/l7.bpf.o`);
cap.configureL7Object(l7, tcp, { captureBytes: 1024, detectTries: 4, ringBytes: 16 << 20, wakeupBytes: 256 << 10, selfPid: process.pid, protocols: ['http'] }, { sendmsgTracepoint: cap.hasSendmsgTracepoint() });
l7.load();
let records = 0;
const reader = l7.ringReader('events', { bufferBytes: 4 << 20 });
reader.start((_b, n) => { records += n; }, { intervalMs: 10 });

const cand = BpfObject.open(native, `${root}build/bpf/l7cand.bpf.o`);
for (const p of ['sonde_cand_write', 'sonde_cand_writev', 'sonde_cand_read_in', 'sonde_cand_read_out']) cand.setAutoload(p, false);
const tracefs0 = checkTracefs();
const tracefs = tracefs0.ok ? tracefs0 : checkTracefs({ fix: true });
const sys = tracefs.ok ? BpfObject.open(native, `${root}build/bpf/l7cand.bpf.o`, { name: 'l7cand_sys' }) : null;
cand.load();
if (sys) {
  for (const p of sys.programs()) if (!p.name.startsWith('sonde_cand_write') && !p.name.startsWith('sonde_cand_read')) sys.setAutoload(p.name, false);
  sys.load();
}
const progId = (o, name) => o.programs().find((p) => p.name === name).id;
const mapId = (o, name) => o.map(name).info.id;
const bpftool = (...a) => { const r = spawnSync('bpftool', a, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(`bpftool ${a.join(' ')}: ${r.stderr}`); };
const sockmapAttach = (prog, type) => {
  const links = [cand.attachCgroup('sonde_cand_sockops', cg2)];
  bpftool('prog', 'attach', 'id', String(progId(cand, prog)), type, 'id', String(mapId(cand, 'socks')));
  return [...links, { destroy: () => bpftool('prog', 'detach', 'id', String(progId(cand, prog)), type, 'id', String(mapId(cand, 'socks'))) }];
};

const variants = {
  off: { attach: () => [], objs: [] },
  l7: { attach: () => [...tcp.attachAll(), ...cap.attachL7Object(l7, cg2)], objs: [tcp, l7] },
  msg: { attach: () => sockmapAttach('sonde_cand_msg', 'msg_verdict'), objs: [cand] },
  verdict: { attach: () => sockmapAttach('sonde_cand_verdict', 'stream_verdict'), objs: [cand] },
  sendrecv: { attach: () => [cand.attach('sonde_cand_send'), cand.attach('sonde_cand_recv')], objs: [cand] },
  ...(sys ? { syscalls: { attach: () => sys.attachAll(), objs: [sys] } } : {}),
};
const names = ['off', ...ONLY.filter((v) => variants[v])];
if (!sys && ONLY.includes('syscalls')) console.log(`# syscalls variant skipped: ${tracefs.detail}`);
const stats = bpfStats();
const res = Object.fromEntries(names.map((n) => [n, { rps: [], cpu: [], bpf: [] }]));
await wrk({ port: PORT, seconds: 1 }); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? names : [...names].reverse();
  for (const v of order) {
    const links = variants[v].attach();
    await sleep(50);
    const s0 = stats(variants[v].objs);
    const workers = nginx.workerPids();
    const n0 = workers.reduce((a, p) => a + procTicks(p), 0);
    const r = await wrk({ port: PORT, seconds: SECONDS });
    const n1 = workers.reduce((a, p) => a + procTicks(p), 0);
    const d = diffStats(s0, stats(variants[v].objs));
    for (const l of links) l.destroy();
    const bpfNs = Object.values(d).reduce((a, x) => a + x.ns, 0);
    const cpuUs = ((n1 - n0 + r.cpuTicks) / CLK_TCK) * 1e6 / r.requests;
    res[v].rps.push(r.rps);
    res[v].cpu.push(cpuUs);
    res[v].bpf.push(bpfNs / r.requests);
    console.log(JSON.stringify({ round, variant: v, rps: Math.round(r.rps), cpuUsPerReq: +cpuUs.toFixed(2), bpfNsPerReq: Math.round(bpfNs / r.requests), progs: Object.fromEntries(Object.entries(d).map(([k, x]) => [k, { perReq: +(x.cnt / r.requests).toFixed(2), ns: x.cnt ? Math.round(x.ns / x.cnt) : 0 }])) }));
  }
}
reader.stop();
console.log('\n# wrk -> nginx keep-alive, per variant: throughput ratio to the adjacent off run (median [min..max]),');
console.log('# wrk+nginx CPU per request (median), BPF run time per request (median)');
for (const v of names) {
  const ratios = res[v].rps.map((x, i) => x / res.off.rps[i]);
  console.log(`${v.padEnd(9)} ratio ${median(ratios).toFixed(3)} [${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)}]  ${median(res[v].rps).toFixed(0).padStart(7)} req/s  cpu ${median(res[v].cpu).toFixed(2)} us/req  bpf ${median(res[v].bpf).toFixed(0)} ns/req`);
}
console.log(`# l7 records drained: ${records}; lost: ${l7.lostCounters().join('/')}`);
for (const o of [l7, tcp, cand, sys]) o?.destroy();
nginx.stop();
if (tracefs.fixed) spawnSync('umount', ['/sys/kernel/tracing']);

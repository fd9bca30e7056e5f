#!/usr/bin/env node
// Kernel-side A/B of the l7 probe: "off" and the tcp + l7 objects of several checkouts, alternating in one
// run (ABBA order: this VM drifts 2-3x within seconds, so separate runs do not compare). Each root is a
// checkout with its own dist/ and build/ (e.g. main in a second worktree); its bench/lib/l7-agent.mjs
// loads them in 'kernel' mode (ring drained and discarded). wrk -> nginx on loopback, both ends traced.
// Per variant: throughput ratio to the adjacent off run, wrk+nginx CPU per request, BPF ns per request and
// each l7 program's ns per run as median/min over the rounds (the min is the steadiest figure when other
// load comes and goes).
//   node bench/l7-kernel-ab.mjs --roots base=/work/wt/main-base,new=. [--rounds 12] [--seconds 1] [--port N] [--no-bpf-stats]
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { arg, bpfStats, CLK_TCK, diffStats, freePort, median, num, procTicks, startNginx, wrk } from './lib/loopback.mjs';

if (process.getuid() !== 0) { console.log('# l7-kernel-ab: needs root (skipped)'); process.exit(0); }
const ROUNDS = num('rounds', 12);
const SECONDS = num('seconds', 1);
const PORT = num('port', 0) || await freePort();
const CONNS = num('conns', 32);
const roots = Object.fromEntries(arg('roots', `new=${new URL('..', import.meta.url).pathname}`).split(',').map((kv) => {
  const [name, dir] = kv.split('=');
  return [name, resolve(dir)];
}));
const agents = {};
for (const [name, root] of Object.entries(roots)) {
  const { BenchL7Agent } = await import(`${root}/bench/lib/l7-agent.mjs`);
  agents[name] = new BenchL7Agent({ mode: 'kernel' });
}
const nginx = await startNginx({ port: PORT });
const stats = process.argv.includes('--no-bpf-stats') ? () => ({}) : bpfStats();
const names = ['off', ...Object.keys(agents)];
const res = Object.fromEntries(names.map((n) => [n, { rps: [], cpu: [], bpf: [], progs: {} }]));
await wrk({ port: PORT, seconds: 1, conns: CONNS });
for (let round = 0; round < ROUNDS; round++) {
  for (const v of round % 2 === 0 ? names : [...names].reverse()) {
    const a = agents[v];
    if (a) a.attach();
    await sleep(50);
    const objs = a ? a.objects() : [];
    const s0 = stats(objs);
    const workers = nginx.workerPids();
    const n0 = workers.reduce((x, p) => x + procTicks(p), 0);
    const r = await wrk({ port: PORT, seconds: SECONDS, conns: CONNS });
    if (a) a.detach();
    const n1 = workers.reduce((x, p) => x + procTicks(p), 0);
    const d = diffStats(s0, stats(objs));
    res[v].rps.push(r.rps);
    res[v].cpu.push(((n1 - n0 + r.cpuTicks) / CLK_TCK) * 1e6 / r.requests);
    res[v].bpf.push(Object.values(d).reduce((x, y) => x + y.ns, 0) / r.requests);
    for (const [k, x] of Object.entries(d)) if (x.cnt > 0 && k.includes('l7')) (res[v].progs[k] ??= []).push(x.ns / x.cnt);
    await sleep(100);
  }
}
for (const [name, a] of Object.entries(agents)) {
  console.log(`# ${name} (${roots[name]}): ring lost ${a.lost().ringbufFull}`);
  a.destroy();
}
nginx.stop();
const range = (a, d = 0) => `${median(a).toFixed(d)} [${Math.min(...a).toFixed(d)}..${Math.max(...a).toFixed(d)}]`;
console.log(`# wrk -> nginx keep-alive (${CONNS} conns), ${ROUNDS} rounds x ${SECONDS} s; ratio = throughput / the adjacent off run; ns per run median/min`);
for (const v of names) {
  const ratios = res[v].rps.map((x, i) => x / res.off.rps[i]);
  const progs = Object.entries(res[v].progs).map(([k, a]) => `${k.replace('sonde_l7_', '')} ${Math.round(median(a))}/${Math.round(Math.min(...a))}`).join(', ');
  console.log(`${v.padEnd(8)} ratio ${range(ratios, 3)}  req/s ${Math.round(median(res[v].rps))}  wrk+nginx us/req ${range(res[v].cpu, 2)}  BPF ns/req ${range(res[v].bpf)}  ${progs}`);
}

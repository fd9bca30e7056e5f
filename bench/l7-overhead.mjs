#!/usr/bin/env node
// wrk -> nginx on loopback at saturation (keep-alive), agent off vs tracing (root; after npm run
// build:bpf, build:native, build). Both ends of every request are traced (wrk's CLIENT, nginx's SERVER):
// 2 spans per request. Variants, alternating with "off" in adjacent pairs (ABBA: this VM drifts 2-3x):
//   off      nothing attached
//   kernel   tcp + l7 programs attached, the ring drained and discarded (the kernel's share alone)
//   adapter  + records decoded by the l7 adapter (owner wait, copies) into a no-op pipeline input
//   tracing  the whole path: ring → adapter → L7Pipeline → spans every 100 ms encoded as OTLP protobuf,
//            request metrics encoded every 10 s
//   idle     tracing with every thread of the agent at SCHED_IDLE (set after wrk is spawned): the load
//            first; what the agent then cannot keep up with is lost in the kernel and counted
//   nice     the same at nice 10; batch: at SCHED_BATCH
// Per run: requests/s, BPF run time per request (kernel.bpf_stats_enabled), wrk+nginx CPU per request
// (their utime+stime, which includes softirq work in their context), the agent's CPU per request.
//   node bench/l7-overhead.mjs [--rounds 4] [--seconds 2] [--capture 1024] [--conns 32] [--path /] [--no-bpf-stats]
// --no-bpf-stats leaves kernel.bpf_stats_enabled as it is (BPF ns/req then reads 0): bpf_stats itself costs
// ~0.4-0.5 us per request here (two clock reads and a counter update per program run), which the
// throughput and wrk+nginx CPU of the traced variants otherwise include.
import { setTimeout as sleep } from 'node:timers/promises';
import { arg, bpfStats, CLK_TCK, diffStats, freePort, median, num, procTicks, schedule, selfCpuNs, startNginx, wrk } from './lib/loopback.mjs';
import { BenchL7Agent } from './lib/l7-agent.mjs';

if (process.getuid() !== 0) { console.log('# l7-overhead: needs root (skipped)'); process.exit(0); }
const ROUNDS = num('rounds', 4);
const SECONDS = num('seconds', 2);
const PORT = num('port', 0) || await freePort();
const CONNS = num('conns', 32);
const PATH = arg('path', '/');
const agent = new BenchL7Agent({ captureBytes: num('capture', 1024) });
const nginx = await startNginx({ port: PORT });
const stats = process.argv.includes('--no-bpf-stats') ? () => ({}) : bpfStats();
const names = arg('variants', 'off,kernel,adapter,tracing').split(',');
const res = Object.fromEntries(names.map((n) => [n, { rps: [], cpu: [], agent: [], bpf: [], spansPerReq: [], lost: [] }]));
await wrk({ port: PORT, seconds: 1, conns: CONNS, path: PATH });
for (let round = 0; round < ROUNDS; round++) {
  for (const v of round % 2 === 0 ? names : [...names].reverse()) {
    if (v !== 'off') { agent.mode = ['tracing', 'idle', 'batch', 'nice'].includes(v) ? 'full' : v; agent.attach(); }
    await sleep(50);
    const s0 = stats(agent.objects());
    const workers = nginx.workerPids();
    const n0 = workers.reduce((a, p) => a + procTicks(p), 0);
    const a0 = selfCpuNs();
    const sp0 = agent.spans;
    const l0 = agent.lost().ringbufFull;
    const running = wrk({ port: PORT, seconds: SECONDS, conns: CONNS, path: PATH });
    if (v === 'idle' || v === 'batch' || v === 'nice') await schedule(v);
    const r = await running;
    agent.detach();
    if (v === 'idle' || v === 'batch' || v === 'nice') await schedule('normal');
    await sleep(300); // the last spans leave the linking window
    agent.flush();
    const a1 = selfCpuNs();
    const n1 = workers.reduce((a, p) => a + procTicks(p), 0);
    const d = diffStats(s0, stats(agent.objects()));
    const bpfNs = Object.values(d).reduce((a, x) => a + x.ns, 0);
    const cpuUs = ((n1 - n0 + r.cpuTicks) / CLK_TCK) * 1e6 / r.requests;
    const agentUs = v === 'off' ? 0 : (a1 - a0) / 1e3 / r.requests;
    const spansPerReq = (agent.spans - sp0) / r.requests;
    const lostRecords = agent.lost().ringbufFull - l0;
    res[v].lost.push(lostRecords);
    res[v].rps.push(r.rps); res[v].cpu.push(cpuUs); res[v].agent.push(agentUs); res[v].bpf.push(bpfNs / r.requests); res[v].spansPerReq.push(spansPerReq);
    console.log(JSON.stringify({ round, variant: v, rps: Math.round(r.rps), wrkNginxUsPerReq: +cpuUs.toFixed(2), agentUsPerReq: +agentUs.toFixed(2), bpfNsPerReq: Math.round(bpfNs / r.requests), spansPerReq: +spansPerReq.toFixed(3), ringLost: lostRecords,
      progs: Object.fromEntries(Object.entries(d).filter(([, x]) => x.cnt > 0).map(([k, x]) => [k, { perReq: +(x.cnt / r.requests).toFixed(2), ns: Math.round(x.ns / x.cnt) }])) }));
  }
}
const lost = agent.lost();
agent.destroy();
nginx.stop();
const f = (a, d = 2) => median(a).toFixed(d);
console.log(`\n# wrk -> nginx keep-alive (${CONNS} conns, ${PATH}), ${ROUNDS} rounds x ${SECONDS} s; ratio = throughput / the adjacent "off" run`);
console.log('variant   ratio median [min..max]   req/s     wrk+nginx us/req   BPF ns/req   agent us/req   agent us/span   spans/req   ring lost');
for (const v of names) {
  const ratios = res[v].rps.map((x, i) => x / res.off.rps[i]);
  const perSpan = median(res[v].spansPerReq) > 0 ? median(res[v].agent) / median(res[v].spansPerReq) : 0;
  console.log(`${v.padEnd(9)} ${f(ratios, 3)} [${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)}]   ${f(res[v].rps, 0).padStart(7)}   ${f(res[v].cpu).padStart(8)}           ${f(res[v].bpf, 0).padStart(6)}       ${f(res[v].agent).padStart(6)}         ${perSpan.toFixed(2)}          ${f(res[v].spansPerReq, 3)}       ${res[v].lost.reduce((a, b) => a + b, 0)}`);
}
console.log(`# lost: ring ${lost.ringbufFull}, table ${lost.tableFull}; adapter unknown ${lost.adapter.unknownConnection}, malformed ${lost.adapter.malformed}; parser errors ${lost.tracker.parserErrors}`);
console.log(JSON.stringify({ summary: Object.fromEntries(names.map((v) => [v, { ratio: +median(res[v].rps.map((x, i) => x / res.off.rps[i])).toFixed(3), rps: Math.round(median(res[v].rps)), bpfNsPerReq: Math.round(median(res[v].bpf)), agentUsPerReq: +median(res[v].agent).toFixed(2), wrkNginxUsPerReq: +median(res[v].cpu).toFixed(2) }])) }));

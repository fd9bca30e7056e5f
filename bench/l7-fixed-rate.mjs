#!/usr/bin/env node
// wrk -> nginx on loopback at a fixed rate (root; after the builds). wrk2 is not in Debian: wrk's Lua
// `delay()` paces each connection (think time between a response and the next request), which gives a
// steady rate a little under the target (reported as measured). Two parts:
//   1. p99 latency at ~10k req/s, agent off vs tracing (the whole path, both ends traced), adjacent pairs
//   2. ~20k req/s sustained for --sustain seconds with tracing: ring-buffer losses, records the adapter
//      could not place, and SERVER spans vs requests nginx logged (every request must become a span)
//   node bench/l7-fixed-rate.mjs [--rounds 4] [--seconds 5] [--rate 10000] [--sustain 20] [--rate2 20000]
//     [--variants off,off2,kernel,tracing,nice,batch,idle]  (nice: tracing with every thread of the agent at nice 10;
//     idle, batch: at SCHED_IDLE, SCHED_BATCH — applied after wrk is spawned, so wrk keeps the default policy; off2: a second
//     off run per round, the A/A noise floor of the ratio)
//     [--sustain-as tracing|nice|batch|idle]  the agent's scheduling in part 2
//     [--tick-ms 100] [--drain-ms 10]  how often spans are taken and encoded (the probe's span_interval),
//     how often the ring is drained (ring_buffer.drain_interval)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { arg, freePort, median, num, schedule, startNginx, wrk } from './lib/loopback.mjs';
import { BenchL7Agent } from './lib/l7-agent.mjs';

if (process.getuid() !== 0) { console.log('# l7-fixed-rate: needs root (skipped)'); process.exit(0); }
const ROUNDS = num('rounds', 4);
const SECONDS = num('seconds', 5);
const RATE = num('rate', 10_000);
// wrk's think-time pacing lands ~20 % under the nominal rate (the round trip adds to it): 27k nominal ≈ 20-21k
const RATE2 = num('rate2', 27_000);
const SUSTAIN = num('sustain', 20);
const PORT = num('port', 0) || await freePort();
/** Connections for a rate: each waits about 2 ms between a response and its next request. */
const connsFor = (rate) => Math.max(10, Math.round(rate / 500));

/** Think time per connection for `rate` req/s (wrk's delay() takes ms); the round trip comes on top. */
const paced = (rate) => `local d = ${(connsFor(rate) / rate) * 1000}\ndelay = function() return d end\n`;

const nginx = await startNginx({ port: PORT, access: true });
const agent = new BenchL7Agent({ port: PORT, tickMs: num('tick-ms', 100), drainMs: num('drain-ms', 10) });
/** 5th and 95th percentiles of median(a*)/median(b*) over rounds resampled with replacement (pairs kept). */
function bootstrapRatio(a, b, n = 2000) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const ia = a.map(() => Math.floor(Math.random() * a.length));
    out.push(median(ia.map((i) => a[i])) / median(ia.map((i) => b[i])));
  }
  out.sort((x, y) => x - y);
  return [out[Math.floor(n * 0.05)], out[Math.floor(n * 0.95)]];
}
const run = (rate, seconds) => wrk({ port: PORT, seconds, threads: 2, conns: connsFor(rate), cpu: '0-1', lua: paced(rate), latency: true });
await run(RATE, 1);

// 1. p99 at the fixed rate: off, kernel only (ring drained, records discarded), tracing (everything)
const variants = arg('variants', 'off,kernel,tracing').split(',');
const res = Object.fromEntries(variants.map((v) => [v, { rps: [], p99: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    agent.mode = v === 'kernel' ? 'kernel' : 'full';
    if (!v.startsWith('off')) agent.attach();
    const running = run(RATE, SECONDS);
    // after the spawn: a child forked from a niced / SCHED_IDLE thread would inherit it
    if (v === 'nice' || v === 'idle' || v === 'batch') await schedule(v);
    const r = await running;
    agent.detach();
    if (v === 'nice' || v === 'idle' || v === 'batch') await schedule('normal');
    res[v].rps.push(r.rps);
    res[v].p99.push(r.p99ms);
    console.log(JSON.stringify({ part: 'p99', round, variant: v, rps: Math.round(r.rps), p99ms: r.p99ms }));
  }
}
await sleep(300);
agent.flush();
const ratios = (res.tracing?.p99 ?? []).map((x, i) => x / res.off.p99[i]);
console.log(`\n# p99 at ~${RATE} req/s (${connsFor(RATE)} conns, paced): per-round ratio to the same round's off run, median [min..max];`);
console.log('# median p99 over rounds / off\'s median p99, with a 90 % bootstrap interval over rounds');
for (const v of variants) {
  const r = res[v].p99.map((x, i) => x / res.off.p99[i]);
  const [lo, hi] = bootstrapRatio(res[v].p99, res.off.p99);
  console.log(`${v.padEnd(8)} p99 ${median(res[v].p99).toFixed(3)} ms   per-round ratio ${median(r).toFixed(3)} [${Math.min(...r).toFixed(3)}..${Math.max(...r).toFixed(3)}]   ratio of medians ${(median(res[v].p99) / median(res.off.p99)).toFixed(3)} [${lo.toFixed(3)}..${hi.toFixed(3)}]   ${Math.round(median(res[v].rps))} req/s`);
}

// 2. sustained rate with tracing: nothing lost
const logFile = join(nginx.dir, 'access.log');
const lines = () => { try { return readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length; } catch { return 0; } };
const l0 = lines();
const lost0 = agent.lost();
const spans0 = agent.portSpans;
const SUSTAIN_AS = arg('sustain-as', 'tracing'); // or nice / batch / idle: the agent's scheduling in part 2
agent.mode = 'full';
agent.attach();
const running2 = run(RATE2, SUSTAIN);
if (SUSTAIN_AS !== 'tracing') await schedule(SUSTAIN_AS);
const r2 = await running2;
await sleep(200);
agent.detach();
await schedule('normal');
await sleep(500);
agent.flush();
const served = lines() - l0;
const lost1 = agent.lost();
const spans = agent.portSpans - spans0;
console.log(`\n# ${RATE2} req/s nominal for ${SUSTAIN} s with tracing${SUSTAIN_AS === 'tracing' ? '' : ` (${SUSTAIN_AS})`}: ${Math.round(r2.rps)} req/s achieved, ${served} requests served (nginx log), ${spans} spans (expected ${2 * served}: CLIENT + SERVER)`);
console.log(`# lost: ring buffer ${lost1.ringbufFull - lost0.ringbufFull}, table ${lost1.tableFull - lost0.tableFull}; adapter unknown connection ${lost1.adapter.unknownConnection - lost0.adapter.unknownConnection}, malformed ${lost1.adapter.malformed - lost0.adapter.malformed}; kernel gaps ${lost1.kernel.gap - lost0.kernel.gap}, duplicates ${lost1.kernel.duplicate - lost0.kernel.duplicate}`);
console.log(JSON.stringify({ summary: { p99OffMs: median(res.off.p99), p99TracingMs: res.tracing ? median(res.tracing.p99) : null, p99Ratio: +median(ratios).toFixed(3), sustainedRps: Math.round(r2.rps), served, spans, ringLost: lost1.ringbufFull - lost0.ringbufFull } }));
agent.destroy();
nginx.stop();

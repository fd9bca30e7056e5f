#!/usr/bin/env node
// Database throughput with and without the agent (root; after npm run build:bpf, build:native, build):
// redis-benchmark (plain and -P pipelined) against redis-server and pgbench against PostgreSQL 15, both
// on loopback, with the agent off vs tracing (tcp + l7 programs, every database parser, ring → adapter →
// L7Pipeline → spans every 100 ms encoded as OTLP protobuf, metrics every 10 s). Both ends of every
// command are traced (the client's CLIENT span and the server's SERVER span: 2 spans per operation).
// Variants alternate in adjacent pairs (ABBA: this VM drifts), so each "tracing" run has an "off" run
// next to it; ratios are per pair, reported as median [min..max].
// Per run: operations/s, BPF run time per operation (kernel.bpf_stats_enabled), the agent's CPU per
// operation, spans per operation seen for the server's port, and records the kernel could not deliver
// (ring buffer full: `lost[RINGBUF_FULL]`, the counter behind sonde_ebpf_kernel_events_lost_total).
//   node bench/db-overhead.mjs [--rounds 4] [--seconds 3] [--redis-n 60000] [--pipeline 16] [--clients 8] [--ring 8388608]
// --ring: the kernel ring buffer (default 8 MiB, the receiver's ring_buffer.size default).
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { arg, bpfStats, diffStats, median, num, procTicks, CLK_TCK, selfCpuNs } from './lib/loopback.mjs';
import { BenchL7Agent } from './lib/l7-agent.mjs';

if (process.getuid() !== 0) { console.log('# db-overhead: needs root (skipped)'); process.exit(0); }
const root = new URL('..', import.meta.url).pathname;
const { protocolParsers } = await import(`${root}dist/src/receivers/ebpf/l7/protocols/index.js`);
const { startPostgres, startRedis } = await import(`${root}dist/test/peers/index.js`);

const ROUNDS = num('rounds', 4);
const SECONDS = num('seconds', 3);
const REDIS_N = num('redis-n', 60_000);
const PIPELINE = num('pipeline', 16);
const CLIENTS = num('clients', 8);
const names = arg('variants', 'off,tracing').split(',');

/** Runs a command pinned to CPU 0 (the server gets CPU 1); resolves with stdout and its own CPU ticks. */
function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn('taskset', ['-c', '0', cmd, ...args], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    let ticks = 0;
    const sample = setInterval(() => { const t = procTicks(p.pid); if (t > 0) ticks = t; }, 100);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => {
      clearInterval(sample);
      if (code === 0) resolve({ out, ticks });
      else reject(new Error(`${cmd} exited ${code}: ${err}`));
    });
  });
}

function pin(pid, cpu) {
  return new Promise((resolve) => spawn('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' }).on('exit', resolve));
}

const redis = await startRedis();
const pg = await startPostgres();
await pin(redis.pid, '1');
await pin(pg.pid, '1'); // backends forked later inherit it
const pgEnv = { PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: pg.user, PGSSLMODE: 'disable' };
await run(pg.pgbench, ['-i', '-s', '4', '-q', pg.database], pgEnv); // over the unix socket: not traced

/** Each workload: one run → { ops, opsPerSec }, and the span count expected per run besides 2 per op. */
const workloads = {
  'redis-benchmark': {
    port: redis.port,
    extra: 2, // CONFIG GET save / appendonly
    async once() {
      const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-c', String(CLIENTS), '-n', String(REDIS_N), '-t', 'set,get', '--csv']);
      return redisResult(r, 2 * REDIS_N);
    },
  },
  [`redis-benchmark -P ${PIPELINE}`]: {
    port: redis.port,
    extra: 2,
    async once() {
      const n = REDIS_N * 4;
      const r = await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(redis.port), '-c', String(CLIENTS), '-n', String(n), '-P', String(PIPELINE), '-t', 'set,get', '--csv']);
      return redisResult(r, 2 * n);
    },
  },
  'pgbench -S -M prepared': {
    port: pg.port,
    extra: 2, // its scale and partition checks on the first connection
    async once() {
      const r = await run(pg.pgbench, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.user, '-n', '-S', '-M', 'prepared', '-c', String(CLIENTS), '-j', '1', '-T', String(SECONDS), pg.database], { PGSSLMODE: 'disable' });
      const n = Number(/number of transactions actually processed: (\d+)/.exec(r.out)?.[1]);
      const tps = Number(/tps = ([\d.]+)/.exec(r.out)?.[1]);
      return { ops: n, opsPerSec: tps, ticks: r.ticks }; // -S: one SELECT per transaction
    },
  },
  'pgbench tpcb-like -M extended': {
    port: pg.port,
    extra: 2,
    async once() {
      const r = await run(pg.pgbench, ['-h', '127.0.0.1', '-p', String(pg.port), '-U', pg.user, '-n', '-M', 'extended', '-c', String(CLIENTS), '-j', '1', '-T', String(SECONDS), pg.database], { PGSSLMODE: 'disable' });
      const n = Number(/number of transactions actually processed: (\d+)/.exec(r.out)?.[1]);
      const tps = Number(/tps = ([\d.]+)/.exec(r.out)?.[1]);
      return { ops: 7 * n, opsPerSec: 7 * tps, ticks: r.ticks }; // BEGIN, 3 UPDATE, SELECT, INSERT, END
    },
  },
};

function redisResult(r, ops) {
  // "test","rps",... per test: the run's rate is ops over the sum of each test's time
  let secs = 0;
  for (const line of r.out.split('\n')) {
    const m = /^"(SET|GET)","([\d.]+)"/.exec(line);
    if (m) secs += (ops / 2) / Number(m[2]);
  }
  return { ops, opsPerSec: ops / secs, ticks: r.ticks };
}

const agent = new BenchL7Agent({ parsers: protocolParsers, ringBytes: num('ring', 8 << 20) });
const stats = bpfStats();
const res = {};
for (const w of Object.keys(workloads)) res[w] = Object.fromEntries(names.map((n) => [n, { rate: [], agent: [], bpf: [], spans: [], lost: [], client: [] }]));

for (const [w, spec] of Object.entries(workloads)) await spec.once(); // warm-up (caches, pages)
for (let round = 0; round < ROUNDS; round++) {
  for (const [w, spec] of Object.entries(workloads)) {
    for (const v of round % 2 === 0 ? names : [...names].reverse()) {
      agent.port = spec.port;
      if (v !== 'off') { agent.mode = 'full'; agent.attach(); }
      await sleep(50);
      const s0 = stats(agent.objects());
      const l0 = agent.lost().ringbufFull;
      const a0 = selfCpuNs();
      const p0 = agent.portSpans;
      const r = await spec.once();
      agent.detach();
      await sleep(400); // the last spans leave the linking window
      agent.flush();
      const a1 = selfCpuNs();
      const d = diffStats(s0, stats(agent.objects()));
      const bpfNs = Object.values(d).reduce((a, x) => a + x.ns, 0);
      const x = res[w][v];
      x.rate.push(r.opsPerSec);
      x.agent.push(v === 'off' ? 0 : (a1 - a0) / 1e3 / r.ops);
      x.bpf.push(bpfNs / r.ops);
      x.spans.push(v === 'off' ? 0 : (agent.portSpans - p0 - spec.extra) / r.ops);
      x.lost.push(agent.lost().ringbufFull - l0);
      x.client.push((r.ticks / CLK_TCK) * 1e6 / r.ops);
      console.log(JSON.stringify({ round, workload: w, variant: v, opsPerSec: Math.round(r.opsPerSec), ops: r.ops, agentUsPerOp: +x.agent.at(-1).toFixed(2),
        bpfNsPerOp: Math.round(bpfNs / r.ops), spansPerOp: +x.spans.at(-1).toFixed(3), ringLost: x.lost.at(-1) }));
    }
  }
}

const lost = agent.lost();
agent.destroy();
await redis.stop();
await pg.stop();

const f = (a, dp = 2) => median(a).toFixed(dp);
const range = (a, dp = 3) => `${median(a).toFixed(dp)} [${Math.min(...a).toFixed(dp)}..${Math.max(...a).toFixed(dp)}]`;
console.log(`\n# ${ROUNDS} rounds, ${CLIENTS} client connections, server on CPU 1, client on CPU 0, agent unpinned; ratio = ops/s / the adjacent "off" run`);
console.log('workload                        variant  ratio median [min..max]   ops/s [min..max]             client µs/op  BPF ns/op  agent µs/op  spans/op  ring lost');
for (const w of Object.keys(workloads)) {
  for (const v of names) {
    const x = res[w][v];
    const ratios = x.rate.map((r, i) => r / res[w].off.rate[i]);
    console.log(`${w.padEnd(31)} ${v.padEnd(8)} ${range(ratios).padEnd(25)} ${Math.round(median(x.rate))} [${Math.round(Math.min(...x.rate))}..${Math.round(Math.max(...x.rate))}]`.padEnd(104)
      + `${f(x.client).padStart(8)}  ${f(x.bpf, 0).padStart(9)}  ${f(x.agent).padStart(11)}  ${f(x.spans, 3).padStart(8)}  ${x.lost.reduce((a, b) => a + b, 0)}`);
  }
}
console.log(`# totals: ring lost ${lost.ringbufFull}, table full ${lost.tableFull}; kernel ${JSON.stringify(lost.kernel)}; adapter unknown ${lost.adapter.unknownConnection}, malformed ${lost.adapter.malformed}; parser errors ${lost.tracker.parserErrors}`);
console.log(JSON.stringify({ summary: Object.fromEntries(Object.keys(workloads).map((w) => [w, Object.fromEntries(names.map((v) => {
  const x = res[w][v];
  return [v, { ratio: +median(x.rate.map((r, i) => r / res[w].off.rate[i])).toFixed(3), opsPerSec: Math.round(median(x.rate)), agentUsPerOp: +median(x.agent).toFixed(2), bpfNsPerOp: Math.round(median(x.bpf)), spansPerOp: +median(x.spans).toFixed(3), ringLost: x.lost.reduce((a, b) => a + b, 0) }];
}))])) }));
process.exit(0);

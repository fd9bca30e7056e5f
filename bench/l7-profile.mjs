#!/usr/bin/env node
// Tool (not a benchmark: it prints a profile, not a result): where the agent's CPU goes on the L7 path
// at wrk → nginx saturation. The bench agent (lib/l7-agent.mjs, mode full) loads its BPF objects first
// and only then starts the V8 sampling profiler through the inspector — SIGPROF during BPF_PROG_LOAD
// makes the verifier fail with EAGAIN, so `node --cpu-prof` cannot be used here. Root; after a build.
//   node bench/l7-profile.mjs [--seconds 6] [--conns 32] [--out /tmp/l7.cpuprofile] [--top 30]
// Prints agent µs/request and the top functions by self time (with "(garbage collector)"); the
// .cpuprofile opens in Chrome DevTools or speedscope.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { arg, freePort, num, startNginx, wrk } from './lib/loopback.mjs';
import { BenchL7Agent } from './lib/l7-agent.mjs';

if (process.getuid() !== 0) { console.log('# l7-profile: needs root (skipped)'); process.exit(0); }
const PORT = num('port', 0) || await freePort();
const SECONDS = num('seconds', 6);
const CONNS = num('conns', 32);
const OUT = arg('out', '/tmp/l7.cpuprofile');
const TOP = num('top', 30);

const agent = new BenchL7Agent({ captureBytes: 1024 });
const nginx = await startNginx({ port: PORT });
agent.mode = 'full';
agent.attach();
await wrk({ port: PORT, seconds: 1, conns: CONNS });
const s = new Session();
s.connect();
await s.post('Profiler.enable');
await s.post('Profiler.setSamplingInterval', { interval: 200 });
await s.post('Profiler.start');
const u0 = process.cpuUsage();
const sp0 = agent.spans;
const r = await wrk({ port: PORT, seconds: SECONDS, conns: CONNS });
const u = process.cpuUsage(u0);
const { profile } = await s.post('Profiler.stop');
writeFileSync(OUT, JSON.stringify(profile));
const lost = agent.lost();
console.log(`req/s ${Math.round(r.rps)}, agent ${((u.user + u.system) / r.requests).toFixed(2)} µs/req (user ${(u.user / r.requests).toFixed(2)}), spans/req ${((agent.spans - sp0) / r.requests).toFixed(2)}, ring lost ${lost.ringbufFull}`);

// self time per function (samples × interval), aggregated by name + url:line
const self = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
let total = 0;
for (const [id, c] of counts) {
  const n = byId.get(id);
  const f = n.callFrame;
  const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '')}:${f.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + c);
  total += c;
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, c]) => a + c, 0);
console.log(`samples ${total} (idle ${idle}); self time % of non-idle samples:`);
for (const [k, c] of [...self].filter(([key]) => !key.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(`${((100 * c) / (total - idle)).toFixed(1).padStart(5)} %  ${k}`);
}
agent.detach();
agent.destroy();
nginx.stop();
process.exit(0);

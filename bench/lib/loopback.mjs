// Shared by the l7 benchmarks: nginx on loopback, wrk runs, per-process CPU and per-program BPF cost.
// Not a benchmark itself (scripts/bench.mjs runs bench/*.mjs only).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A loopback port free right now (the kernel's pick for port 0): benches bind no fixed ports. */
export async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : def; };
export const num = (name, def) => Number(arg(name, def));
export const median = (a) => { const b = [...a].sort((x, y) => x - y); return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2; };

/** nginx from a temp prefix, pinned to `cpu`, one worker; `return 200 "ok\n"` at / and a 64 KiB file at /big. */
export async function startNginx({ port, cpu = '1', workers = 1, access = false }) {
  const dir = mkdtempSync(join(tmpdir(), 'sonde-bench-nginx-'));
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'html']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'html', 'big'), Buffer.alloc(64 * 1024, 0x61));
  writeFileSync(join(dir, 'nginx.conf'), `
user root;
worker_processes ${workers};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${access ? `${dir}/access.log` : 'off'};
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} backlog=4096 reuseport;
    location / { return 200 "ok\\n"; }
    location = /notfound { return 404; }
    location = /error { return 500; }
    location /big { root ${dir}/html; }
  }
}
`);
  const proc = spawn('taskset', ['-c', cpu, 'nginx', '-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try { process.kill(proc.pid, 'SIGQUIT'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  for (let i = 0; i < 100; i++) {
    if (spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]).status === 0) break;
    await sleep(50);
  }
  // worker pids: children of the master
  const workerPids = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(proc.pid); } catch { return false; }
  }).map(Number);
  return { pid: proc.pid, dir, stop, workerPids };
}

/**
 * wrk; returns { rps, requests, p99ms, cpuTicks (wrk's own utime+stime) }. `lua` is a script body
 * (e.g. pacing with delay()); `pipeline` sends that many requests per round trip.
 */
export function wrk({ port, seconds = 2, threads = 1, conns = 32, cpu = '0', path = '/', headers = [], lua, latency = false }) {
  const args = ['-c', cpu, 'wrk', `-t${threads}`, `-c${conns}`, `-d${seconds}s`, ...headers.flatMap((h) => ['-H', h])];
  let script;
  if (lua) {
    script = join(mkdtempSync(join(tmpdir(), 'sonde-wrk-')), 's.lua');
    writeFileSync(script, lua);
    args.push('-s', script);
  }
  if (latency) args.push('--latency');
  args.push(`http://127.0.0.1:${port}${path}`);
  return new Promise((resolve, reject) => {
    const p = spawn('taskset', args);
    let out = '';
    let cpuTicks = 0;
    const sample = setInterval(() => { const t = procTicks(p.pid); if (t > 0) cpuTicks = t; }, 100);
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', () => {
      clearInterval(sample);
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const n = /(\d+) requests in/.exec(out);
      const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
      const unit = { us: 1e-3, ms: 1, s: 1e3 };
      if (!m) reject(new Error(`wrk: ${out}`));
      else resolve({ rps: Number(m[1]), requests: Number(n?.[1] ?? 0), p99ms: p99 ? Number(p99[1]) * unit[p99[2]] : NaN, cpuTicks, out });
    });
  });
}

/**
 * Every thread of this process (main, libuv pool, V8's GC helpers) as the agent's `service.scheduling`
 * would set them: 'nice' (nice 10), 'batch' (SCHED_BATCH: no wakeup preemption, normal weight), 'idle'
 * (SCHED_IDLE), or 'normal' (back to what they were). Call it after spawning wrk: a child forked from a
 * niced / SCHED_IDLE thread inherits that.
 */
let scheduled;
export async function schedule(how) {
  const { ProcessScheduling } = await import('../../dist/src/service/scheduling.js');
  scheduled?.restore();
  scheduled = undefined;
  if (how === 'normal') return;
  scheduled = new ProcessScheduling(how === 'nice' ? { policy: 'normal', nice: 10 } : { policy: how, nice: 0 });
  scheduled.apply();
}

export const CLK_TCK = 100;
/** utime+stime (+ children's) of a pid in clock ticks; 0 if gone. */
export function procTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch { return 0; }
}
/** Per-thread CPU of this process in ns (process.cpuUsage). */
export function selfCpuNs() { const u = process.cpuUsage(); return (u.user + u.system) * 1000; }

/** System-wide busy time in ticks (user+nice+system+irq+softirq+steal) and softirq alone. */
export function systemTicks() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = l;
  return { busy: user + nice + system + irq + softirq + steal, softirq };
}

/** kernel.bpf_stats_enabled on, restored at exit; stats(objs) → { name: { cnt, ns } } for the objects' programs. */
export function bpfStats() {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  const before = readFileSync(path, 'utf8').trim();
  writeFileSync(path, '1');
  process.on('exit', () => { try { writeFileSync(path, before); } catch { /* ignore */ } });
  return (objs) => {
    const ids = new Set(objs.flatMap((o) => o.programs().map((p) => p.id)));
    const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
    const out = {};
    for (const p of JSON.parse(r.stdout)) if (ids.has(p.id)) out[p.name] = { cnt: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 };
    return out;
  };
}

export function diffStats(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b)) out[k] = { cnt: v.cnt - (a[k]?.cnt ?? 0), ns: v.ns - (a[k]?.ns ?? 0) };
  return out;
}

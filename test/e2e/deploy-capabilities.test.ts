// The capability matrix (test/helpers/capabilities.ts, shown in the README's "Deploy" section), verified
// on this kernel: each privileged operation of the agent runs in a child process as uid 0 under
// `setpriv` with exactly the capabilities its row lists (no_new_privs, everything else out of the
// bounding set, as a container with `drop: [ALL]` + `add`) and must succeed; with any one of them
// removed it must fail with EPERM/EACCES. Then the agent itself: node + cgroups receivers with no
// capability at all, the ebpf receiver with only BPF+PERFMON (conntrack and discovery degrade, the
// agent runs).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { CAPABILITY_MATRIX } from '../helpers/capabilities.js';
import { TestCgroup, removeTopLevel } from '../helpers/cgroups.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { ROOT } from '../helpers/paths.js';
import { freePort, pollUntil } from '../peers/proc.js';

function unavailable(): string | undefined {
  const e2e = e2eSkipReason();
  if (e2e) return e2e;
  if (process.getuid?.() !== 0) return 'needs root (drops to capability sets with setpriv)';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'needs setpriv (util-linux)';
  return undefined;
}
const skip = unavailable() ?? false;
if (skip) console.log(`# SKIP capability matrix: ${skip}`);

const PROBE = join(ROOT, 'dist', 'test', 'helpers', 'cap-probe.js');
const tmp = mkdtempSync(join(tmpdir(), 'sonde-caps-'));
const NETNS = `sonde-caps-${process.pid}`;
const cg2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
const cgDir = join(cg2, `sonde-e2e-caps-${process.pid}`);
const sock = join(tmp, 'runtime.sock');
let rootProc: ChildProcess | undefined;
let otherProc: ChildProcess | undefined;
let server: Server | undefined;

/** A process holding a listening TCP socket: root with every capability, or uid 65534. */
function holder(asOtherUser: boolean): ChildProcess {
  const code = 'require("net").createServer().listen(0, "127.0.0.1", () => console.log("up")); setInterval(() => {}, 1e6)';
  const args = asOtherUser ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', code] : undefined;
  return args ? spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}
const up = (p: ChildProcess) => new Promise<void>((r) => p.stdout!.once('data', () => r()));

const argFor: Record<string, () => string | undefined> = {
  cgroup_skb: () => cgDir,
  l7: () => cg2,
  proc_fd: () => String(rootProc!.pid),
  proc_fd_other_uid: () => String(otherProc!.pid),
  proc_ns: () => String(rootProc!.pid),
  disk_usage: () => String(rootProc!.pid),
  proc_read: () => String(otherProc!.pid),
  setns: () => `/run/netns/${NETNS}`,
  runtime_socket: () => sock,
  mount_tracefs: () => join(tmp, 'tracefs'),
};

interface ProbeResult { action: string; ok: boolean; code?: string; detail: string }

function probe(action: string, caps: string[]): ProbeResult {
  const bounding = ['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',');
  const prefix: string[] = [];
  if (action === 'memlock') prefix.push('prlimit', '--memlock=65536:65536');
  if (action === 'mount_tracefs') prefix.push('unshare', '--mount', '--propagation', 'private');
  const cmd = [...prefix, 'setpriv', '--reuid=0', '--regid=0', '--clear-groups', '--inh-caps=-all', `--bounding-set=${bounding}`, '--no-new-privs', process.execPath, PROBE, action, ...(argFor[action]?.() !== undefined ? [argFor[action]()!] : [])];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as ProbeResult;
  } catch {
    throw new Error(`${cmd.join(' ')}: no result (${r.status}): ${r.stdout}${r.stderr}`);
  }
}

before(async () => {
  if (skip) return;
  rootProc = holder(false);
  otherProc = holder(true);
  await Promise.all([up(rootProc), up(otherProc)]);
  mkdirSync(cgDir);
  mkdirSync(join(tmp, 'tracefs'));
  spawnSync('ip', ['netns', 'add', NETNS]);
  server = createServer((c) => c.end());
  await new Promise<void>((r) => server!.listen(sock, r));
  chmodSync(sock, 0o660);
});

after(async () => {
  rootProc?.kill('SIGKILL');
  otherProc?.kill('SIGKILL');
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (!skip) {
    spawnSync('ip', ['netns', 'del', NETNS]);
    try { rmdirSync(cgDir); } catch { /* not created */ }
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('capability matrix (README "Deploy"), verified on this kernel', { skip, concurrency: false }, () => {
  test('the probe drops to exactly the requested set', () => {
    const r = probe('caps', ['BPF', 'PERFMON']);
    assert.ok(r.ok);
    assert.match(r.detail, /CapEff:\s*000000c000000000/);
    assert.match(r.detail, /NoNewPrivs:\s*1/);
  });

  for (const row of CAPABILITY_MATRIX) {
    test(`${row.action}: needs ${row.needs.length ? row.needs.join(' + ') : 'no capability'}`, (t) => {
      const ok = probe(row.action, row.needs);
      t.diagnostic(`with ${row.needs.join(',') || 'none'}: ${ok.detail}`);
      assert.ok(ok.ok, `${row.feature} with ${row.needs.join(',') || 'no capabilities'}: ${ok.detail}`);
      for (const missing of row.needs) {
        const without = probe(row.action, row.needs.filter((c) => c !== missing));
        t.diagnostic(`without ${missing}: ${without.code} ${without.detail}`);
        assert.ok(!without.ok, `${row.feature} must fail without ${missing}`);
        assert.match(`${without.code} ${without.detail}`, /EPERM|EACCES|permission denied|not permitted/i, `${row.action} without ${missing}`);
      }
    });
  }

  test('as a non-root user, the runtime socket needs DAC_OVERRIDE (why the container runs as uid 0)', () => {
    const run = (extra: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...extra, process.execPath, PROBE, 'runtime_socket', sock], { encoding: 'utf8' });
    const denied = JSON.parse(run(['--inh-caps=-all', '--bounding-set=-all']).stdout) as ProbeResult;
    assert.ok(!denied.ok && /EACCES/.test(`${denied.code}`));
    const ambient = JSON.parse(run(['--inh-caps=+dac_override', '--ambient-caps=+dac_override', '--bounding-set=-all,+dac_override']).stdout) as ProbeResult;
    assert.ok(ambient.ok, ambient.detail);
  });

  test('sonde run: node and cgroups receivers need no capability at all (the cgroups receiver\'s disk sizes excepted: SYS_PTRACE); ebpf with BPF+PERFMON alone starts and counts events', async () => {
    const port = await freePort();
    const tport = await freePort();
    // a cgroup with a process in it for the cgroups receiver (no container runtime here)
    const top = `/sonde-e2e-capsrun-${process.pid}`;
    const cg = new TestCgroup(CgroupFs.detect(), `${top}/app`);
    cg.spawn('sleep', ['60']);
    const cfg = join(tmp, 'agent.yaml');
    writeFileSync(cfg, `
receivers:
  node: { collection_interval: 1s }
  cgroups: { collection_interval: 1s, metadata: false, include_paths: ['^${top}/'] }
  ebpf: { collection_interval: 1s }
exporters:
  prometheus: { endpoint: 127.0.0.1:${port} }
service:
  telemetry: { metrics: { address: "127.0.0.1:${tport}" } }
  pipelines:
    metrics: { receivers: [node, cgroups], exporters: [prometheus] }
    metrics/ebpf: { receivers: [ebpf], exporters: [prometheus] }
`);
    const runAgent = (caps: string[]) => spawn('setpriv', ['--reuid=0', '--regid=0', '--clear-groups', '--inh-caps=-all', `--bounding-set=${['-all', ...caps.map((c) => `+${c.toLowerCase()}`)].join(',')}`, '--no-new-privs', process.execPath, join(ROOT, 'bin', 'sonde.js'), 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    // no capabilities: the ebpf receiver cannot start, and says what it needs
    const none = runAgent([]);
    let err = '';
    none.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const code = await new Promise<number | null>((r) => none.on('exit', (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /CAP_BPF\+CAP_PERFMON/);
    // BPF + PERFMON: everything runs
    const agent = runAgent(['BPF', 'PERFMON']);
    let out = '';
    agent.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    try {
      const body = await pollUntil('metrics from every receiver', async () => {
        if (agent.exitCode !== null) throw new Error(`agent exited ${agent.exitCode}: ${out}`);
        try {
          const b = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return b.includes('node_resources_cpu_usage_seconds_total') && b.includes('container_resources_cpu_usage_seconds_total') ? b : undefined;
        } catch {
          return undefined;
        }
      }, 30_000, 250);
      assert.ok(body.length > 0);
      // exec events from the kernel (a process started now)
      await pollUntil('process events counted', async () => {
        spawnSync('true');
        const tel = await (await fetch(`http://127.0.0.1:${tport}/metrics`)).text();
        return /sonde_ebpf_events_total\{[^}]*probe="process"[^}]*type="exec"[^}]*\} [1-9]/.test(tel);
      }, 20_000, 250);
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.on('exit', r));
      await cg.destroy();
      removeTopLevel(CgroupFs.detect(), top);
    }
  });
});

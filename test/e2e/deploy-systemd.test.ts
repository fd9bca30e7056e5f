// deploy/systemd/sonde.service: `systemd-analyze verify` and its offline security exposure, then the unit
// run the way systemd would run it, as far as that can be done without systemd as PID 1 (root): the
// runtime tree deploy/docker/build.sh stages (installed at /opt/sonde), otel-config.yaml at
// /etc/sonde/config.yaml, uid 0 with CapabilityBoundingSet as the bounding set and NoNewPrivileges,
// LimitMEMLOCK, Environment, StateDirectory + WorkingDirectory, and the file-system sandbox
// (ProtectSystem=strict, ProtectHome, PrivateTmp, ProtectKernelTunables, ProtectControlGroups) as
// read-only remounts in a private mount namespace. Not emulated: SystemCallFilter, RestrictNamespaces,
// RestrictAddressFamilies, PrivateDevices, ProtectClock/Hostname/KernelLogs/KernelModules (they need
// systemd's own seccomp and namespace setup).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { e2eSkipReason } from '../helpers/e2e.js';
import type { ImageTree } from '../helpers/image-build.js';
import { buildImageTree, cargoBinary } from '../helpers/image-build.js';
import { ROOT } from '../helpers/paths.js';
import { freePort, pollUntil } from '../peers/proc.js';

const UNIT = join(ROOT, 'deploy', 'systemd', 'sonde.service');
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** [Service] (and other sections) of a unit file: key → values in order. */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = '';
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(l);
    if (s) { section = s[1]; out.set(section, out.get(section) ?? new Map()); continue; }
    const i = l.indexOf('=');
    const k = l.slice(0, i).trim();
    const v = l.slice(i + 1).trim();
    const m = out.get(section)!;
    m.set(k, [...(m.get(k) ?? []), v]);
  }
  return out;
}

describe('deploy/systemd/sonde.service (static)', { skip: analyze ? false : 'systemd-analyze not installed' }, () => {
  test('systemd-analyze verify: no errors, no warnings', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', r.stderr);
  });

  test('systemd-analyze security --offline: exposure at most 3.0 ("OK")', (t) => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for sonde\.service: ([\d.]+) (\w+)/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    t.diagnostic(m[0]);
    assert.ok(Number(m[1]) <= 3.0, m[0]);
  });

  test('the capability set is the chart\'s, as CAP_ names', () => {
    const svc = parseUnit(readFileSync(UNIT, 'utf8')).get('Service')!;
    const values = readFileSync(join(ROOT, 'deploy', 'helm', 'sonde', 'values.yaml'), 'utf8');
    const chart = /capabilities:\n((?:\s+- \w+.*\n)+)/.exec(values)![1].split('\n').map((l) => /- (\w+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
    assert.deepEqual(svc.get('CapabilityBoundingSet')![0].split(/\s+/), chart.map((c) => `CAP_${c}`));
    assert.deepEqual(svc.get('NoNewPrivileges'), ['yes']);
    assert.equal(svc.get('User'), undefined, 'root: runtime sockets and /proc of root processes');
  });
});

function unavailable(): string | undefined {
  const e2e = e2eSkipReason();
  if (e2e) return e2e;
  if (process.getuid?.() !== 0) return 'needs root (mount namespace, capability sets)';
  if (!cargoBinary()) return 'needs cargo (the runtime tree build fetches libbpf with it)';
  return undefined;
}
const skip = unavailable() ?? false;
if (skip) console.log(`# SKIP systemd unit run: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), 'sonde-systemd-'));
let tree: ImageTree;
let agent: ChildProcess | undefined;
let stderr = '';
let metricsPort = 0;
let telemetryPort = 0;

describe('deploy/systemd/sonde.service run as systemd would (capabilities, sandbox)', { skip, concurrency: false }, () => {
  before(async () => {
    if (skip) return;
    tree = buildImageTree();
    const svc = parseUnit(readFileSync(UNIT, 'utf8')).get('Service')!;
    const exec = svc.get('ExecStart')![0].split(/\s+/);
    const env = Object.fromEntries(svc.get('Environment')!.join(' ').split(/\s+/).map((kv) => kv.split('=') as [string, string]));
    metricsPort = await freePort();
    telemetryPort = await freePort();
    // this machine is shared: the scrape and telemetry endpoints on free ports (the config reads them from the environment)
    env.SONDE_PROMETHEUS_ENDPOINT = `127.0.0.1:${metricsPort}`;
    env.SONDE_TELEMETRY_ENDPOINT = `127.0.0.1:${telemetryPort}`;
    const state = `/var/lib/${svc.get('StateDirectory')![0]}`;
    const caps = svc.get('CapabilityBoundingSet')![0].split(/\s+/).map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
    const memlock = svc.get('LimitMEMLOCK')![0] === 'infinity' ? 'unlimited' : svc.get('LimitMEMLOCK')![0];
    // systemd (PID 1) raises the limit with CAP_SYS_RESOURCE; a test host without it keeps its own limit
    // (kernels >= 5.11 do not use RLIMIT_MEMLOCK for BPF, the capability matrix shows it)
    const canRaise = (BigInt(`0x${/^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`) >> 24n) & 1n;
    const limit = canRaise ? `prlimit --memlock=${memlock}:${memlock} ` : '';
    if (!canRaise) console.log('# LimitMEMLOCK not applied: this test host\'s root lacks CAP_SYS_RESOURCE');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const upper = (n: string) => { for (const d of ['u', 'w']) mkdirSync(join(tmp, n, d), { recursive: true }); return join(tmp, n); };
    const script = [
      'set -eu',
      // the install: /opt/sonde (the runtime tree), /etc/sonde/config.yaml, the state directory — on overlays
      ...['opt', 'etc', 'var/lib'].map((d) => `mount -t overlay overlay -o lowerdir=/${d},upperdir=${upper(d.replace('/', '-'))}/u,workdir=${upper(d.replace('/', '-'))}/w /${d}`),
      `mkdir -p /opt/sonde /etc/sonde ${state}`,
      `mount --bind ${q(tree.out)} /opt/sonde`,
      `cp ${q(join(ROOT, 'otel-config.yaml'))} /etc/sonde/config.yaml`,
      `mount --bind ${state} ${state}`,
      // PrivateTmp, ProtectHome=yes
      'mount -t tmpfs tmpfs /tmp',
      'for d in /home /root /run/user; do [ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d" || true; done',
      // ProtectSystem=strict: every mount read-only except the API file systems, /tmp and the state directory;
      // ProtectKernelTunables (/proc/sys, /sys) and ProtectControlGroups (/sys/fs/cgroup) read-only too
      `awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do case "$m" in /proc|/proc/*|/dev|/dev/*|/tmp|${state}) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null || true;; esac; done`,
      'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys',
      `cd ${state}`,
      `exec ${limit}setpriv --reuid=0 --regid=0 --clear-groups --inh-caps=-all --bounding-set=-all,${caps.join(',')} ${svc.get('NoNewPrivileges')![0] === 'yes' ? '--no-new-privs' : ''} env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin ${Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ')} ${exec.map(q).join(' ')}`,
    ];
    const file = join(tmp, 'unit.sh');
    writeFileSync(file, `${script.join('\n')}\n`);
    chmodSync(file, 0o755);
    agent = spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    agent.stdout!.resume();
    await pollUntil('the unit\'s agent is ready', async () => {
      if (agent!.exitCode !== null) throw new Error(`exited ${agent!.exitCode}: ${stderr}`);
      try {
        return (await fetch(`http://127.0.0.1:${telemetryPort}/readyz`)).ok;
      } catch {
        return false;
      }
    }, 60_000, 200);
  });

  after(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGKILL');
      await new Promise((r) => agent!.on('exit', r));
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  test('node and eBPF metrics with the unit\'s capability set; the file exporter writes to the state directory only', async (t) => {
    const body = await pollUntil('metrics', async () => {
      const b = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return b.includes('node_resources_cpu_usage_seconds_total') && b.includes('container_net_tcp_') ? b : undefined;
    }, 40_000, 500);
    t.diagnostic(body.split('\n').filter((l) => l.startsWith('container_net_tcp_successful')).slice(0, 2).join('\n'));
    const status = readFileSync(`/proc/${agent!.pid}/status`, 'utf8');
    assert.match(status, /CapEff:\s*000000c000081004/, 'BPF, PERFMON, SYS_PTRACE, NET_ADMIN, DAC_READ_SEARCH only');
    // the agent's view: its state directory has the file exporter's output; the rest of / is read-only
    const inNs = (cmd: string[]) => spawnSync('nsenter', ['-t', String(agent!.pid), '-m', '--', ...cmd], { encoding: 'utf8' });
    await pollUntil('telemetry.jsonl in the state directory', async () => inNs(['test', '-s', '/var/lib/sonde/telemetry.jsonl']).status === 0, 30_000, 500);
    assert.notEqual(inNs(['touch', '/etc/sonde/x']).status, 0, 'ProtectSystem=strict: /etc is read-only');
    assert.notEqual(inNs(['touch', '/opt/sonde/x']).status, 0);
    assert.notEqual(inNs(['ls', '/root/.cache']).status, 0, 'ProtectHome: /root is empty');
  });

  test('SIGTERM (systemctl stop): clean exit within TimeoutStopSec', async () => {
    const svc = parseUnit(readFileSync(UNIT, 'utf8')).get('Service')!;
    const timeout = Number(/^(\d+)s$/.exec(svc.get('TimeoutStopSec')![0])![1]);
    const t0 = Date.now();
    agent!.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => agent!.on('exit', (c) => r(c)));
    assert.equal(code, 0, stderr.slice(-2000));
    assert.ok(Date.now() - t0 < timeout * 1000);
  });
});

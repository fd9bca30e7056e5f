// e2e (root, real kernel): the ebpf receiver through the real Service, asserted on the metrics and
// logs it exports. Workloads run in this test's own cgroups, ports and network namespaces; every
// assertion is filtered by them (other programs share the machine).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DataPoint, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { loadServiceConfig } from '../../src/cli.js';
import type { ExporterFactory } from '../../src/component/factory.js';
import { builtinComponents } from '../../src/components.js';
import { s } from '../../src/config/schema.js';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { nopLogger } from '../../src/service/logger.js';
import { defineComponents } from '../../src/service/registry.js';
import { Service } from '../../src/service/service.js';
import { removeTopLevel, TestCgroup } from '../helpers/cgroups.js';
import { e2eSkipReason, sh, TestNetns, waitFor } from '../helpers/e2e.js';
import { ROOT } from '../helpers/paths.js';
import { TEST_HOST } from '../helpers/settings.js';
import { Sink } from '../helpers/sinks.js';

const skip = e2eSkipReason() ?? (CgroupFs.detect().mode === 'none' ? 'no cgroup filesystem' : undefined);
if (skip) console.log(`# SKIP ebpf receiver e2e: ${skip}`);

const TOP = `/sonde-ebpf-e2e-${process.pid}`;
const tmp = mkdtempSync(join(tmpdir(), 'sonde-ebpf-e2e-'));
const groups: TestCgroup[] = [];
const children: ChildProcess[] = [];
const NODE = process.execPath;
// host-side veth subnets (10.231.<n>.0/30) derived from the pid: concurrent runs on one machine do not collide
const SUBNET = 100 + 2 * (process.pid % 60);

// Replies `reply` bytes once it got `send` bytes; closes after the client (hold) or right away.
const SERVER = `
import net from 'node:net';
const [send, reply, host, hold] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3], process.argv[4] === 'hold'];
const srv = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got >= send && got - d.length < send) { if (hold) s.write(Buffer.alloc(reply, 0x72)); else s.end(Buffer.alloc(reply, 0x72)); } });
  s.on('end', () => s.end());
  s.on('error', () => {});
});
srv.listen(0, host, () => console.log('port', srv.address().port));
process.stdin.on('data', () => srv.close(() => process.exit(0)));
`;

// N connections that send `send` bytes and read the reply, then M connects to a closed port.
const CLIENT = `
import net from 'node:net';
const [host, port, closedPort, n, m, send] = process.argv.slice(1);
const one = (p, payload) => new Promise((resolve) => {
  const s = net.connect({ host, port: Number(p) });
  let got = 0;
  s.on('connect', () => { if (payload) s.write(Buffer.alloc(Number(send), 0x73)); });
  s.on('data', (d) => { got += d.length; });
  s.on('error', (e) => resolve(e.code));
  s.on('close', () => resolve(got));
});
const out = [];
for (let i = 0; i < Number(n); i++) out.push(await one(port, true));
for (let i = 0; i < Number(m); i++) out.push(await one(closedPort, false));
console.log('result', JSON.stringify(out));
`;

// K connections held open (each sends `send`, waits for `reply`), closed when stdin says so.
const HOLDER = `
import net from 'node:net';
const [host, port, k, send, reply] = process.argv.slice(1).map((x, i) => i ? Number(x) : x);
const socks = [];
await Promise.all(Array.from({ length: k }, () => new Promise((resolve) => {
  const s = net.connect({ host, port }, () => s.write(Buffer.alloc(send, 0x61)));
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got >= reply) resolve(); });
  socks.push(s);
})));
console.log('open', socks.length);
process.stdin.on('data', async () => {
  await Promise.all(socks.map((s) => new Promise((r) => { s.on('close', r); s.end(); })));
  console.log('closed');
  process.exit(0);
});
`;

/** Every stdout line of a child, awaitable by pattern. */
class Lines {
  readonly lines: string[] = [];
  #buf = '';
  #err = '';
  readonly child: ChildProcess;
  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.#buf += d;
      let i;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        this.lines.push(this.#buf.slice(0, i));
        this.#buf = this.#buf.slice(i + 1);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#err += d));
  }
  async next(prefix: string, ms = 20_000): Promise<string[]> {
    const ok = await waitFor(() => this.lines.some((l) => l.startsWith(prefix)), ms);
    if (!ok) throw new Error(`no "${prefix}" line from pid ${this.child.pid}; stderr: ${this.#err.slice(-500)}`);
    return this.lines.find((l) => l.startsWith(prefix))!.split(' ').slice(1);
  }
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve({ code: this.child.exitCode, signal: this.child.signalCode });
    return new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
  }
}

function cgroup(name: string): TestCgroup {
  const g = new TestCgroup(CgroupFs.detect(), `${TOP}/${name}`);
  groups.push(g);
  return g;
}

/** Starts `cmd` inside cgroup g (a shell joins every hierarchy, then execs it), stdin piped. */
function spawnIn(g: TestCgroup, cmd: string, args: string[]): Lines {
  const procs = [...g.dirs.values()].map((d) => join(d, 'cgroup.procs')).join(' ');
  const script = 'for f in $SONDE_CG_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@"';
  const c = spawn('/bin/sh', ['-c', script, 'sh', cmd, ...args], { env: { ...process.env, SONDE_CG_PROCS: procs }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(c);
  return new Lines(c);
}

function node(g: TestCgroup, code: string, args: Array<string | number>): Lines {
  return spawnIn(g, NODE, ['--input-type=module', '-e', code, ...args.map(String)]);
}

async function freePort(host: string): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The value of `name` with `attrs` for cgroup `path` (undefined path: any cgroup) in one snapshot. */
function value(md: ResourceMetrics[] | undefined, path: string | undefined, name: string, attrs: Record<string, string> = {}): number | undefined {
  let out: number | undefined;
  for (const rm of md ?? []) {
    if (path !== undefined && rm.resource.attributes['sonde.cgroup.path'] !== path) continue;
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const p of m.dataPoints as DataPoint<number>[]) {
        if (Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)) out = (out ?? 0) + p.value;
      }
    }
  }
  return out;
}

/** A test exporter: hands everything to one Sink (metrics and logs). */
function sinkExporter(sink: Sink): ExporterFactory<Record<string, never>> {
  return {
    kind: 'exporter', type: 'testsink', description: 'test sink', stability: { metrics: 'development', logs: 'development' },
    configSchema: s.object({}) as never, createDefaultConfig: () => ({}),
    createMetrics: () => sink, createLogs: () => sink,
  };
}

function startService(name: string, sink: Sink, extra = ''): { svc: Service; promAddr: () => string | undefined } {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `
receivers:
  ebpf:
    collection_interval: 200ms
    idle_timeout: 1h
${extra}
exporters:
  testsink:
  prometheus:
    endpoint: 127.0.0.1:0
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    metrics:
      receivers: [ebpf]
      exporters: [testsink, prometheus]
    logs:
      receivers: [ebpf]
      exporters: [testsink]
`);
  const b = builtinComponents();
  const comps = defineComponents({
    receivers: [...b.receivers.values()], processors: [...b.processors.values()],
    exporters: [...b.exporters.values(), sinkExporter(sink)], extensions: [],
  });
  const { config } = loadServiceConfig(file, comps);
  const svc = new Service(config, { logger: nopLogger(), host: TEST_HOST });
  return { svc, promAddr: () => svc.componentAddress('exporter prometheus (metrics)') };
}

/** Ids of the BPF programs this process holds (prog_id in /proc/self/fdinfo: bpftool shows no pids here). */
function ownProgramIds(): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return [...ids];
}

/** Sonde programs (by name) the kernel still has, among `ids` (ids are never reused while it runs). */
function loadedSondePrograms(ids: number[]): string[] {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const progs = JSON.parse(r.stdout || '[]') as Array<{ id: number; name?: string }>;
  return progs.filter((p) => ids.includes(p.id) && p.name?.startsWith('sonde_')).map((p) => `${p.name} (${p.id})`);
}

void describe('ebpf receiver (e2e, root): metrics and logs through the Service', { skip, timeout: 300_000 }, () => {
  const sink = new Sink();
  let svc: Service;
  let promAddr: () => string | undefined;
  const latest = (): ResourceMetrics[] | undefined => sink.metrics.at(-1);
  const waitMetric = async (what: string, cond: (md: ResourceMetrics[] | undefined) => boolean, ms = 20_000): Promise<ResourceMetrics[]> => {
    const ok = await waitFor(() => cond(latest()), ms);
    assert.ok(ok, `timed out waiting for ${what}`);
    return latest()!;
  };

  before(async () => {
    ({ svc, promAddr } = startService('main', sink));
    await svc.start();
  });

  after(async () => {
    await svc?.shutdown().catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const g of groups) await g.destroy();
    if (!skip) removeTopLevel(CgroupFs.detect(), TOP);
    rmSync(tmp, { recursive: true, force: true });
  });

  void test('N connects to a listener and M to a closed port: exact counts, bytes, destinations, listen_info, per container', async () => {
    const N = 4, M = 3, SEND = 3000, REPLY = 700;
    const srvG = cgroup('srv');
    const cliG = cgroup('cli');
    const srv = node(srvG, SERVER, [SEND, REPLY, '127.0.0.1']);
    const port = Number((await srv.next('port'))[0]);
    const closed = await freePort('127.0.0.1');
    const dest = `127.0.0.1:${port}`;
    await waitMetric('listen_info', (md) => value(md, srvG.path, 'container_net_tcp_listen_info', { listen_addr: dest, proxy: '' }) === 1);
    const cli = node(cliG, CLIENT, ['127.0.0.1', port, closed, N, M, SEND]);
    assert.deepEqual(JSON.parse((await cli.next('result'))[0]), [...Array(N).fill(REPLY), ...Array(M).fill('ECONNREFUSED')]);
    const pair = { destination: dest, actual_destination: dest };
    const md = await waitMetric('bytes of all N connections', (m) => value(m, cliG.path, 'container_net_tcp_bytes_sent_total', pair) === N * SEND);
    assert.equal(value(md, cliG.path, 'container_net_tcp_successful_connects_total', pair), N);
    assert.equal(value(md, cliG.path, 'container_net_tcp_failed_connects_total', { destination: `127.0.0.1:${closed}` }), M);
    assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_received_total', pair), N * REPLY);
    assert.equal(value(md, cliG.path, 'container_net_tcp_active_connections', pair), 0);
    assert.ok(value(md, cliG.path, 'container_net_tcp_connection_time_seconds_total', pair)! > 0);
    assert.equal(value(md, cliG.path, 'container_net_tcp_retransmits_total', pair), 0);
    assert.equal(value(md, undefined, 'container_net_tcp_successful_connects_total', pair), N, 'only the client cgroup connected there');
    // the exported Prometheus series carry coroot's labels: container_id = the cgroup path
    const text = await (await fetch(`http://${promAddr()}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('container_net_tcp_successful_connects_total{') && l.includes(`destination="${dest}"`));
    assert.ok(line, 'series exported');
    assert.match(line!, new RegExp(`container_id="${cliG.path}"`));
    assert.match(line!, new RegExp(`actual_destination="${dest.replace(/\./g, '\\.')}"`));
    assert.match(line!, new RegExp(` ${N}$`));
    srv.child.stdin!.write('x');
    await srv.exited();
    await waitMetric('listener gone', (m) => value(m, srvG.path, 'container_net_tcp_listen_info', { listen_addr: dest }) === undefined);
  });

  void test('active connections and bytes exact for a known transfer, live while open and after the close', async () => {
    const K = 3, SEND = 12_345, REPLY = 54_321;
    const srvG = cgroup('hold-srv');
    const cliG = cgroup('hold-cli');
    const srv = node(srvG, SERVER, [SEND, REPLY, '127.0.0.1', 'hold']);
    const port = Number((await srv.next('port'))[0]);
    const dest = `127.0.0.1:${port}`;
    const pair = { destination: dest, actual_destination: dest };
    const cli = node(cliG, HOLDER, ['127.0.0.1', port, K, SEND, REPLY]);
    await cli.next('open');
    // while the connections are open: live byte counts (sock_diag) at each collection
    let md = await waitMetric('K active with their bytes', (m) => value(m, cliG.path, 'container_net_tcp_active_connections', pair) === K &&
      value(m, cliG.path, 'container_net_tcp_bytes_received_total', pair) === K * REPLY);
    assert.equal(value(md, cliG.path, 'container_net_tcp_successful_connects_total', pair), K);
    assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_sent_total', pair), K * SEND);
    cli.child.stdin!.write('x');
    await cli.next('closed');
    // after the close: the same totals (the close adds only what live reads had not counted)
    md = await waitMetric('closed', (m) => value(m, cliG.path, 'container_net_tcp_active_connections', pair) === 0);
    await new Promise((r) => setTimeout(r, 500));
    md = latest()!;
    assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_sent_total', pair), K * SEND);
    assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_received_total', pair), K * REPLY);
    srv.child.stdin!.write('x');
    await srv.exited();
  });

  void test('connect into a namespace whose veth drops SYNs: a failed connect (timeout) for that destination', async () => {
    const ns = new TestNetns('rxto', SUBNET);
    try {
      ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
      const g = cgroup('timeout');
      const py = spawnIn(g, 'python3', ['-c', `
import socket
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
try:
    s.connect(("${ns.nsAddr}", 9))
    print("r connected")
except OSError as e:
    print("r", e.errno)
`]);
      assert.equal(Number((await py.next('r'))[0]), constants.errno.ETIMEDOUT);
      const dest = `${ns.nsAddr}:9`;
      const md = await waitMetric('failed connect', (m) => value(m, g.path, 'container_net_tcp_failed_connects_total', { destination: dest }) === 1);
      assert.equal(value(md, g.path, 'container_net_tcp_successful_connects_total', { destination: dest }) ?? 0, 0);
      // the SYN retransmissions before the timeout are retransmits of that destination
      assert.ok(value(md, g.path, 'container_net_tcp_retransmits_total', { destination: dest })! >= 1);
    } finally {
      ns.destroy();
    }
  });

  void test('retransmits on a lossy path (iptables statistic drop) counted for that destination', async () => {
    const ns = new TestNetns('rxrt', SUBNET + 1);
    try {
      const srv = new Lines(spawn('ip', [...ns.prefix.slice(1), NODE, '--input-type=module', '-e', SERVER, '400000', '10', ns.nsAddr], { stdio: ['pipe', 'pipe', 'pipe'] }));
      const port = Number((await srv.next('port'))[0]);
      ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP']);
      const g = cgroup('retx');
      const cli = node(g, CLIENT, [ns.nsAddr, port, 1, 1, 0, 400_000]);
      assert.deepEqual(JSON.parse((await cli.next('result'))[0]), [10]);
      const dest = `${ns.nsAddr}:${port}`;
      const pair = { destination: dest, actual_destination: dest };
      const md = await waitMetric('bytes sent', (m) => value(m, g.path, 'container_net_tcp_bytes_sent_total', pair) === 400_000);
      assert.ok(value(md, g.path, 'container_net_tcp_retransmits_total', pair)! > 0, 'retransmits counted');
      srv.child.stdin!.write('x');
      await srv.exited();
    } finally {
      ns.destroy();
    }
  });

  void test('OOM kill in a memory-limited cgroup counted once for that container, with an oom_kill log', async () => {
    const fs = CgroupFs.detect();
    const g = cgroup('oom');
    const LIMIT = 64 << 20;
    if (fs.v1.has('memory')) {
      g.write('memory', 'memory.limit_in_bytes', String(LIMIT));
      try { g.write('memory', 'memory.memsw.limit_in_bytes', String(LIMIT)); } catch { /* no swap accounting */ }
    } else {
      g.write('unified', 'memory.max', String(LIMIT));
      try { g.write('unified', 'memory.swap.max', '0'); } catch { /* no swap controller */ }
    }
    const filler = spawnIn(g, NODE, ['-e', 'const b=[]; setInterval(()=>{ for(let i=0;i<8;i++) b.push(Buffer.alloc(1<<20, 2)); }, 10)']);
    const exit = await filler.exited();
    assert.equal(exit.signal, 'SIGKILL');
    const md = await waitMetric('oom kill', (m) => value(m, g.path, 'container_oom_kills_total') !== undefined);
    assert.equal(value(md, g.path, 'container_oom_kills_total'), 1);
    await waitFor(() => sink.logs.flat().some((l) => l.eventName === 'process.exit' && l.attributes['process.pid'] === filler.child.pid));
    const logs = sink.logs.flat().filter((l) => l.attributes['process.pid'] === filler.child.pid);
    const oom = logs.filter((l) => l.eventName === 'process.oom_kill');
    assert.equal(oom.length, 1);
    assert.equal(oom[0].resource.attributes['sonde.cgroup.path'], g.path);
    const ex = logs.find((l) => l.eventName === 'process.exit')!;
    assert.equal(ex.attributes['process.oom_killed'], true);
    assert.equal(ex.attributes['process.exit.signal'], 9);
  });

  void test('exec and exit of a known child as log records (pid, exit code, cgroup)', async () => {
    const g = cgroup('exec');
    const child = spawnIn(g, '/bin/sh', ['-c', 'exit 7']);
    const r = await child.exited();
    assert.equal(r.code, 7);
    const pid = child.child.pid!;
    await waitFor(() => sink.logs.flat().some((l) => l.eventName === 'process.exit' && l.attributes['process.pid'] === pid));
    const mine = sink.logs.flat().filter((l) => l.attributes['process.pid'] === pid);
    const execs = mine.filter((l) => l.eventName === 'process.exec');
    assert.ok(execs.length >= 1, 'exec seen');
    assert.ok(execs.some((l) => l.resource.attributes['sonde.cgroup.path'] === g.path), 'the exec inside the test cgroup is attributed to it');
    const exits = mine.filter((l) => l.eventName === 'process.exit');
    assert.equal(exits.length, 1);
    assert.equal(exits[0].attributes['process.exit.code'], 7);
    assert.equal(exits[0].attributes['process.executable.name'], 'sh');
  });

  void test('conntrack: a DNATed Service-like IP shows destination = the VIP, actual_destination = the backend', async () => {
    const NS = `sonde-nat${process.pid % 10000}`;
    const VIP = '10.96.77.10';
    const BACKEND = '10.231.77.2';
    spawnSync('ip', ['netns', 'del', NS]);
    sh('ip', ['netns', 'add', NS]);
    try {
      // an isolated namespace with only lo: nothing can leave it
      sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', NS, 'addr', 'add', `${BACKEND}/32`, 'dev', 'lo']);
      sh('ip', ['-n', NS, 'addr', 'add', `${VIP}/32`, 'dev', 'lo']);
      const srv = new Lines(spawn('ip', ['netns', 'exec', NS, NODE, '--input-type=module', '-e', SERVER, '100', '20', BACKEND], { stdio: ['pipe', 'pipe', 'pipe'] }));
      const port = Number((await srv.next('port'))[0]);
      sh('ip', ['netns', 'exec', NS, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', VIP, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${BACKEND}:${port}`]);
      const cli = new Lines(spawn('ip', ['netns', 'exec', NS, NODE, '--input-type=module', '-e', CLIENT, VIP, '80', '1', '2', '0', '100'], { stdio: ['pipe', 'pipe', 'pipe'] }));
      assert.deepEqual(JSON.parse((await cli.next('result'))[0]), [20, 20]);
      const pair = { destination: `${VIP}:80`, actual_destination: `${BACKEND}:${port}` };
      const md = await waitMetric('NATed connects', (m) => value(m, undefined, 'container_net_tcp_bytes_received_total', pair) === 40);
      assert.equal(value(md, undefined, 'container_net_tcp_successful_connects_total', pair), 2);
      assert.equal(value(md, undefined, 'container_net_tcp_successful_connects_total', { destination: `${VIP}:80`, actual_destination: `${VIP}:80` }), undefined);
      srv.child.stdin!.write('x');
      await srv.exited();
    } finally {
      spawnSync('ip', ['netns', 'del', NS]);
    }
  });

  void test('listeners and connections that existed before start are discovered (and their close is seen)', async () => {
    const SEND = 1111, REPLY = 2222;
    const srvG = cgroup('pre-srv');
    const cliG = cgroup('pre-cli');
    const srv = node(srvG, SERVER, [SEND, REPLY, '127.0.0.1', 'hold']);
    const port = Number((await srv.next('port'))[0]);
    const cli = node(cliG, HOLDER, ['127.0.0.1', port, 1, SEND, REPLY]);
    await cli.next('open');
    const dest = `127.0.0.1:${port}`;
    const pair = { destination: dest, actual_destination: dest };
    const sink2 = new Sink();
    const second = startService('pre', sink2);
    await second.svc.start();
    try {
      await sink2.waitFor(() => sink2.metrics.length > 0, 10_000, 'a first collection');
      const first = sink2.metrics[0];
      assert.equal(value(first, srvG.path, 'container_net_tcp_listen_info', { listen_addr: dest, proxy: '' }), 1, 'listener from the first scrape');
      assert.equal(value(first, cliG.path, 'container_net_tcp_active_connections', pair), 1, 'connection from the first scrape');
      assert.equal(value(first, cliG.path, 'container_net_tcp_successful_connects_total', pair), 0, 'not a new connect');
      cli.child.stdin!.write('x');
      await cli.next('closed');
      await sink2.waitFor(() => value(sink2.metrics.at(-1), cliG.path, 'container_net_tcp_active_connections', pair) === 0, 10_000, 'the close');
      const md = sink2.metrics.at(-1)!;
      assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_sent_total', pair), SEND, 'the seeded connection\'s close reports its bytes');
      assert.equal(value(md, cliG.path, 'container_net_tcp_bytes_received_total', pair), REPLY);
    } finally {
      await second.svc.shutdown();
      srv.child.stdin!.write('x');
      await srv.exited();
    }
  });

  void test('self-telemetry: events per type, kernel/user losses, map fill, batch sizes', async () => {
    const addr = svc.telemetryAddress!;
    const text = await (await fetch(`http://${addr}/metrics`)).text();
    assert.match(text, /sonde_ebpf_events_total\{receiver="ebpf",probe="tcp",type="connect"\} [1-9]/);
    assert.match(text, /sonde_ebpf_kernel_events_lost_total\{receiver="ebpf",probe="tcp",reason="ringbuf_full"\} 0/);
    assert.match(text, /sonde_ebpf_user_events_lost_total\{receiver="ebpf",probe="tcp",reason="unknown_type"\} 0/);
    assert.match(text, /sonde_ebpf_map_max_entries\{receiver="ebpf",probe="tcp",map="sonde_conns"\} 65536/);
    assert.match(text, /sonde_ebpf_map_entries\{receiver="ebpf",probe="tcp",map="sonde_conns"\} \d+/);
    assert.match(text, /sonde_ebpf_drain_batch_records_count\{receiver="ebpf",probe="process"\} [1-9]/);
    assert.match(text, /sonde_ebpf_conntrack_lookups_total\{receiver="ebpf",result="nat"\} [1-9]/);
  });

  void test('after shutdown no Sonde program of this process stays attached (bpftool prog show)', async () => {
    const ids = ownProgramIds();
    assert.ok(loadedSondePrograms(ids).length >= 5, `programs attached while running: ${loadedSondePrograms(ids).join(', ')}`);
    await svc.shutdown();
    assert.deepEqual(ownProgramIds(), [], 'no program fd left open');
    // the kernel frees programs asynchronously (RCU) once the last reference is gone
    await waitFor(() => loadedSondePrograms(ids).length === 0, 15_000);
    assert.deepEqual(loadedSondePrograms(ids), []);
  });
});

void describe('ebpf receiver (e2e): a bad environment fails `sonde run` with the typed, explained error', { skip, timeout: 60_000 }, () => {
  const dir = join(tmp, 'bad');
  const run = (env: Record<string, string>, prefix: string[] = []) => {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `
receivers:
  ebpf:
    btf_custom_path: \${env:BTF:-}
    object_dir: \${env:OBJDIR:-}
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [ebpf]
      exporters: [debug]
`);
    spawnSync('chmod', ['-R', 'a+rX', tmp]);
    const cmd = [...prefix, NODE, join(ROOT, 'bin', 'sonde.js'), 'run', '--config', file];
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: r.status, err: r.stderr };
  };

  void test('not root (setpriv to nobody): PermissionError with the capabilities remedy', () => {
    const r = run({}, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    assert.equal(r.code, 1);
    assert.match(r.err, /sonde: receiver ebpf \(metrics\) failed to start\n {2}PermissionError: missing CAP_BPF\+CAP_PERFMON/);
    assert.match(r.err, /\n {2}remedy: Sonde needs root, or CAP_BPF\+CAP_PERFMON/);
  });

  void test('missing BTF file: NotSupportedError naming the path, with the remedy', () => {
    const r = run({ BTF: join(dir, 'no-such-btf') });
    assert.equal(r.code, 1);
    assert.match(r.err, /NotSupportedError: no kernel BTF at .*no-such-btf/);
    assert.match(r.err, /remedy: CO-RE needs kernel BTF/);
  });

  void test('a corrupt BPF object: BpfError from libbpf with the rebuild remedy', () => {
    const objs = join(dir, 'objs');
    mkdirSync(objs, { recursive: true });
    writeFileSync(join(objs, 'process.bpf.o'), 'not an ELF file');
    const r = run({ OBJDIR: objs });
    assert.equal(r.code, 1);
    assert.match(r.err, /BpfError: probe process: bpf_object__open_file failed .* \(LIBBPF_ERRNO__FORMAT\)/);
    assert.match(r.err, /remedy: .* is not a usable BPF object: rebuild the objects \(npm run build:bpf\)/);
  });
});

// e2e (root): the tcp probe on the real kernel. Every assertion is filtered by this test's
// own pids and ports: other programs share the machine.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as os from 'node:os';
import { loadNative } from '../../src/native/load.js';
import { BpfObject } from '../../src/native/bpf-object.js';
import { ENUMS } from '../../src/native/layouts.generated.js';
import type { RingReader } from '../../src/native/ring-reader.js';
import { connectFailureReason, decodeTcpBatch, TcpEventType, ConnRole, type TcpEvent } from '../../src/receivers/ebpf/probes/tcp/decode.js';
import { bpfObjectPath } from '../helpers/paths.js';
import { e2eSkipReason, startChild, TestNetns, waitFor, type Child } from '../helpers/e2e.js';

const skip = e2eSkipReason();
if (skip) console.log(`# SKIP tcp e2e: ${skip}`);

const SERVER = `
import net from 'node:net';
const [send, reply, host] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
const srv = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => { got += d.length; if (got >= send) s.end(Buffer.alloc(reply, 0x72)); });
  s.on('error', () => {});
});
srv.listen(0, host, () => console.log(srv.address().port));
process.stdin.on('data', () => srv.close(() => process.exit(0)));
`;

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
console.log(JSON.stringify(out));
`;

async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

void describe('tcp probe (e2e, root)', { skip, timeout: 180_000 }, () => {
  let obj: BpfObject;
  let reader: RingReader;
  const events: TcpEvent[] = [];
  const drain = (): void => {
    while (reader.drain((buf, _n, bytes) => { decodeTcpBatch(buf, bytes, (ev) => { events.push(ev.toJSON()); }); }) > 0) { /* all */ }
  };
  const of = (pred: (e: TcpEvent) => boolean): TcpEvent[] => { drain(); return events.filter(pred); };

  before(() => {
    const native = loadNative();
    obj = BpfObject.open(native, bpfObjectPath('tcp'));
    obj.setRodata('targ_self_tgid', process.pid);
    obj.load();
    obj.attachAll();
    reader = obj.ringReader('events', { bufferBytes: 1 << 20 });
  });
  after(() => obj?.destroy());

  async function runServerClient(host: string, n: number, m: number, send: number, reply: number) {
    const srv: Child = startChild(process.execPath, ['--input-type=module', '-e', SERVER, String(send), String(reply), host]);
    const port = Number(await srv.line());
    const closedPort = await freePort(host);
    const client = startChild(process.execPath, ['--input-type=module', '-e', CLIENT, host, String(port), String(closedPort), String(n), String(m), String(send)]);
    const results = JSON.parse(await client.line()) as (number | string)[];
    await client.exited;
    srv.proc.stdin!.write('x');
    await srv.exited;
    return { port, closedPort, serverPid: srv.pid, clientPid: client.pid, results };
  }

  void test('connects, refusals, accepts, closes with byte counts, listen open/close (IPv4)', async () => {
    const N = 5, M = 3, SEND = 3000, REPLY = 700;
    const r = await runServerClient('127.0.0.1', N, M, SEND, REPLY);
    assert.deepEqual(r.results, [...Array(N).fill(REPLY), ...Array(M).fill('ECONNREFUSED')]);
    const mine = (e: TcpEvent) => e.pid === r.clientPid || e.pid === r.serverPid;
    const closes = () => of((e) => mine(e) && e.type === TcpEventType.CLOSE && (e.dport === r.port || e.sport === r.port));
    await waitFor(() => closes().length >= 2 * N && of((e) => e.type === TcpEventType.LISTEN_CLOSE && e.sport === r.port).length >= 1);

    const connects = of((e) => e.type === TcpEventType.CONNECT && e.pid === r.clientPid);
    assert.equal(connects.length, N);
    for (const e of connects) {
      assert.equal(e.daddr, '127.0.0.1');
      assert.equal(e.dport, r.port);
      assert.equal(e.family, 2);
      assert.equal(e.role, ConnRole.CLIENT);
      assert.ok(e.durationNs > 0);
    }
    const failed = of((e) => e.type === TcpEventType.CONNECT_FAILED && e.pid === r.clientPid);
    assert.equal(failed.length, M);
    for (const e of failed) {
      assert.equal(e.daddr, '127.0.0.1');
      assert.equal(e.dport, r.closedPort);
      assert.equal(connectReason(e), 'refused');
    }
    const accepts = of((e) => e.type === TcpEventType.ACCEPT && e.sport === r.port);
    assert.equal(accepts.length, N);
    for (const e of accepts) {
      assert.equal(e.pid, r.serverPid, 'inbound connection attributed to the listening process');
      assert.equal(e.role, ConnRole.SERVER);
      assert.equal(e.daddr, '127.0.0.1');
    }
    const clientCloses = closes().filter((e) => e.role === ConnRole.CLIENT);
    const serverCloses = closes().filter((e) => e.role === ConnRole.SERVER);
    assert.equal(clientCloses.length, N);
    assert.equal(serverCloses.length, N);
    for (const e of clientCloses) {
      assert.equal(e.pid, r.clientPid);
      assert.equal(e.bytesSent, SEND);
      assert.equal(e.bytesReceived, REPLY);
    }
    for (const e of serverCloses) {
      assert.equal(e.pid, r.serverPid);
      assert.equal(e.bytesSent, REPLY);
      assert.equal(e.bytesReceived, SEND);
    }
    // the connection identity (socket cookie) ties connect and close together
    assert.deepEqual(new Set(connects.map((e) => e.cookie)), new Set(clientCloses.map((e) => e.cookie)));
    const listens = of((e) => e.type === TcpEventType.LISTEN_OPEN && e.sport === r.port);
    assert.equal(listens.length, 1);
    assert.equal(listens[0].pid, r.serverPid);
    assert.equal(of((e) => e.type === TcpEventType.LISTEN_CLOSE && e.sport === r.port).length, 1);
  });

  void test('IPv6 connect, accept and close', async () => {
    const r = await runServerClient('::1', 1, 1, 100, 50);
    await waitFor(() => of((e) => e.type === TcpEventType.CLOSE && e.pid === r.clientPid).length >= 1);
    const c = of((e) => e.type === TcpEventType.CONNECT && e.pid === r.clientPid);
    assert.equal(c.length, 1);
    assert.equal(c[0].family, 10);
    assert.equal(c[0].daddr, '::1');
    assert.equal(c[0].dport, r.port);
    const f = of((e) => e.type === TcpEventType.CONNECT_FAILED && e.pid === r.clientPid);
    assert.equal(f.length, 1);
    assert.equal(connectReason(f[0]), 'refused');
    const a = of((e) => e.type === TcpEventType.ACCEPT && e.sport === r.port);
    assert.equal(a.length, 1);
    assert.equal(a[0].pid, r.serverPid);
    const cl = of((e) => e.type === TcpEventType.CLOSE && e.pid === r.clientPid);
    assert.equal(cl[0].bytesSent, 100);
    assert.equal(cl[0].bytesReceived, 50);
  });

  void test("the agent's own connections are ignored in the kernel", async () => {
    const srv = startChild(process.execPath, ['--input-type=module', '-e', SERVER, '10', '10', '127.0.0.1']);
    const port = Number(await srv.line());
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.end(Buffer.alloc(10)));
      s.on('data', () => {}).on('close', () => resolve()).on('error', () => resolve());
    });
    srv.proc.stdin!.write('x');
    await srv.exited;
    await waitFor(() => of((e) => e.type === TcpEventType.LISTEN_CLOSE && e.sport === port).length === 1);
    assert.equal(of((e) => e.pid === process.pid).length, 0);
    // the child's side is still seen
    assert.equal(of((e) => e.type === TcpEventType.ACCEPT && e.sport === port).length, 1);

    // and the other way round: the agent's own listener, a child connecting to it
    const own = net.createServer((sock) => { sock.on('data', () => sock.end()); sock.on('error', () => {}); });
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    const ownPort = (own.address() as net.AddressInfo).port;
    const cli = startChild(process.execPath, ['--input-type=module', '-e', CLIENT, '127.0.0.1', String(ownPort), '1', '1', '0', '10']);
    await cli.exited;
    await new Promise<void>((r) => own.close(() => r()));
    await waitFor(() => of((e) => e.type === TcpEventType.CLOSE && e.pid === cli.pid).length === 1);
    assert.equal(of((e) => e.type === TcpEventType.CONNECT && e.pid === cli.pid && e.dport === ownPort).length, 1);
    assert.equal(of((e) => e.sport === ownPort).length, 0, 'no listen/accept/close events for the agent\'s own listener');
  });

  void test('a listener that predates attach: accepts reported with pid 0 (unknown owner)', async () => {
    const srv = startChild(process.execPath, ['--input-type=module', '-e', SERVER, '10', '10', '127.0.0.1']);
    const port = Number(await srv.line());
    const late = BpfObject.open(loadNative(), bpfObjectPath('tcp'));
    try {
      late.setRodata('targ_self_tgid', process.pid);
      late.load();
      late.attachAll();
      const r = late.ringReader();
      const cli = startChild(process.execPath, ['--input-type=module', '-e', CLIENT, '127.0.0.1', String(port), '1', '1', '0', '10']);
      await cli.exited;
      const evs: TcpEvent[] = [];
      const drainLate = () => { r.drain((buf, _n, bytes) => { decodeTcpBatch(buf, bytes, (e) => { if (e.sport === port || e.dport === port) evs.push(e.toJSON()); }); }); };
      await waitFor(() => { drainLate(); return evs.filter((e) => e.type === TcpEventType.CLOSE).length === 2; });
      const acc = evs.filter((e) => e.type === TcpEventType.ACCEPT);
      assert.equal(acc.length, 1);
      assert.equal(acc[0].pid, 0);
      const serverClose = evs.find((e) => e.type === TcpEventType.CLOSE && e.role === ConnRole.SERVER);
      assert.equal(serverClose?.bytesReceived, 10);
      srv.proc.stdin!.write('x');
      await srv.exited;
      drainLate();
      assert.equal(evs.filter((e) => e.type === TcpEventType.LISTEN_CLOSE).length, 0, 'its open was not seen, so neither is its close');
    } finally {
      late.destroy();
    }
  });

  void test('connect timeout into a namespace that drops SYNs', async () => {
    const ns = new TestNetns('to', 41);
    try {
      ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
      // TCP_SYNCNT=1: one SYN retry, ETIMEDOUT after ~3 s instead of ~2 min
      const py = startChild('python3', ['-c', `
import socket
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
try:
    s.connect(("${ns.nsAddr}", 9))
    print("connected")
except OSError as e:
    print(e.errno)
`]);
      const out = await py.line();
      await py.exited;
      assert.equal(Number(out), os.constants.errno.ETIMEDOUT);
      await waitFor(() => of((e) => e.type === TcpEventType.CONNECT_FAILED && e.pid === py.pid).length >= 1);
      const f = of((e) => e.type === TcpEventType.CONNECT_FAILED && e.pid === py.pid);
      assert.equal(f.length, 1);
      assert.equal(f[0].daddr, ns.nsAddr);
      assert.equal(f[0].dport, 9);
      assert.equal(connectReason(f[0]), 'timeout');
    } finally {
      ns.destroy();
    }
  });

  void test('retransmits on a lossy path are reported for that destination', async () => {
    const ns = new TestNetns('rt', 42);
    try {
      const srv = startChild('ip', ['netns', 'exec', ns.name, process.execPath, '--input-type=module', '-e', SERVER, String(400_000), '10', ns.nsAddr]);
      const port = Number(await srv.line());
      // drop ~30% of the data segments arriving in the namespace
      ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-m', 'statistic', '--mode', 'random', '--probability', '0.3', '-j', 'DROP']);
      const client = startChild(process.execPath, ['--input-type=module', '-e', CLIENT, ns.nsAddr, String(port), '1', '1', '0', String(400_000)]);
      const res = JSON.parse(await client.line()) as unknown[];
      await client.exited;
      srv.proc.stdin!.write('x');
      await srv.exited;
      assert.equal(res[0], 10);
      await waitFor(() => of((e) => e.type === TcpEventType.CLOSE && e.pid === client.pid).length >= 1);
      const retx = of((e) => e.type === TcpEventType.RETRANSMIT && e.pid === client.pid);
      assert.ok(retx.length > 0, 'expected retransmit events');
      for (const e of retx) {
        assert.equal(e.daddr, ns.nsAddr);
        assert.equal(e.dport, port);
        assert.equal(e.role, ConnRole.CLIENT);
      }
      const close = of((e) => e.type === TcpEventType.CLOSE && e.pid === client.pid);
      assert.ok(close[0].retransmits >= 1);
      assert.equal(close[0].bytesSent, 400_000);
    } finally {
      ns.destroy();
    }
  });

  void test('lost-event counters are readable per reason', () => {
    const lost = obj.lostCounters();
    assert.equal(lost.length, ENUMS.SONDE_LOST__MAX);
    assert.equal(lost[0], 0n, 'no ring-buffer drops at this rate');
  });
});

function connectReason(e: TcpEvent): string {
  return connectFailureReason(e.error);
}

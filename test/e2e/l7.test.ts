// e2e (root): the l7 probe on the real kernel with real servers and clients, through the adapter into
// the L7Pipeline: exact span counts, links and metric increments. The machine is shared: every
// assertion is filtered by this test's own servers (ports, a cgroup of their own) and clients (pids).
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { loadNative } from '../../src/native/load.js';
import type { NativeBinding } from '../../src/native/binding.js';
import type { SpanRecord } from '../../src/pdata/traces.js';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { httpGet, startNginx, type NginxPeer } from '../peers/index.js';
import { bpfObjectPath } from '../helpers/paths.js';
import { e2eSkipReason, nodeChild, TestNetns, waitFor, type Child } from '../helpers/e2e.js';
import { accessLines, childrenOf, counter, L7TestAgent, run, summary, TestCgroup, wrkExactly, wrkPipelined } from '../helpers/l7-agent.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy to attach cgroup_skb programs to' : undefined)
  ?? (spawnSync('wrk', ['--version']).error ? 'wrk not installed' : undefined)
  ?? (spawnSync('curl', ['--version']).error ? 'curl not installed' : undefined);
if (skip) console.log(`# SKIP l7 e2e: ${skip}`);

const pidOf = (s: SpanRecord): number => s.resource.attributes['process.pid'] as number;
const BIG = 200_000;

describe('l7 probe: HTTP/1 spans and metrics on the real kernel', { skip, concurrency: false }, () => {
  let native: NativeBinding;
  let agent: L7TestAgent;
  let nginx: NginxPeer;
  let cg: TestCgroup;
  let worker = 0;

  before(async () => {
    native = loadNative();
    nginx = await startNginx({ files: { 'big.bin': Buffer.alloc(BIG, 0x62) } });
    cg = new TestCgroup('nginx');
    cg.add(nginx.pid);
    worker = childrenOf(nginx.pid)[0];
    agent = L7TestAgent.start(native);
  });

  after(async () => {
    agent?.stop();
    await nginx?.stop();
    cg?.destroy();
  });

  /** Spans of this test: those of `pids` (clients) and the SERVER spans on the nginx port. */
  const serverSpans = (port: number): SpanRecord[] => agent.spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes['server.port'] === port);

  test('curl → nginx: one CLIENT and one SERVER span per request, linked; 200/404/500; query strings dropped', async () => {
    agent.spans.length = 0;
    const m0 = agent.metrics();
    const a0 = accessLines(nginx);
    const u = nginx.url;
    // one keep-alive connection with 5 requests, then a second connection with one
    const c1 = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
      `${u}/ok?token=secret`, `${u}/ok`, `${u}/notfound`, `${u}/error`, `${u}/?x=1`]);
    const c2 = await run('curl', ['-s', '-o', '/dev/null', `${u}/ok`]);
    assert.equal(c1.code, 0);
    const pids = new Set([c1.pid, c2.pid]);
    const clientsOf = (): SpanRecord[] => agent.spans.filter((s) => pids.has(pidOf(s)));
    assert.ok(await agent.waitFor(() => clientsOf().length >= 6 && serverSpans(nginx.port).length >= 6), `spans: ${agent.spans.length}`);
    await agent.settle(300);

    const clients = clientsOf().sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    const servers = serverSpans(nginx.port);
    assert.equal(accessLines(nginx) - a0, 6);
    assert.equal(clients.length, 6, 'one CLIENT span per request');
    assert.equal(servers.length, 6, 'one SERVER span per request');
    assert.ok(clients.every((s) => s.kind === SpanKind.CLIENT));
    assert.deepEqual(clients.map((s) => s.attributes['url.path']), ['/ok', '/ok', '/notfound', '/error', '/', '/ok']);
    assert.deepEqual(clients.map((s) => s.attributes['http.response.status_code']), [200, 200, 404, 500, 200, 200]);
    assert.ok(clients.every((s) => s.attributes['http.request.method'] === 'GET' && s.name.startsWith('GET')));
    assert.ok([...clients, ...servers].every((s) => s.attributes['url.query'] === undefined), 'query strings dropped by default');
    assert.ok(clients.every((s) => !String(s.attributes['url.full']).includes('token')));
    assert.deepEqual(clients.map((s) => s.status.code), [SpanStatusCode.UNSET, SpanStatusCode.UNSET, SpanStatusCode.ERROR, SpanStatusCode.ERROR, SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
    for (const c of clients) {
      const s = servers.find((x) => x.parentSpanId === c.spanId);
      assert.ok(s, `the SERVER span of ${String(c.attributes['url.path'])} is the CLIENT span's child`);
      assert.equal(s.traceId, c.traceId);
      assert.equal(s.attributes['url.path'], c.attributes['url.path']);
      assert.equal(pidOf(s), worker, 'the server span belongs to the nginx worker that answered, not the master');
      const code = s.attributes['http.response.status_code'];
      assert.equal(s.status.code, code === 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET, 'SERVER: 5xx is an error, 4xx is not');
      assert.equal(s.resource.attributes['sonde.cgroup.path'], cg.rel);
      assert.ok(c.startTime[0] * 1e9 + c.startTime[1] <= s.startTime[0] * 1e9 + s.startTime[1], 'client starts first');
    }
    assert.equal(new Set(clients.map((s) => s.traceId)).size, 6, 'six traces');

    const m1 = agent.metrics();
    const dest = { destination: `127.0.0.1:${nginx.port}` };
    const me = readFileSync(`/proc/${process.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '';
    const out = (rms: ResourceMetrics[], status: string): number => counter(rms, me, 'container_http_requests_total', { ...dest, status });
    const inb = (rms: ResourceMetrics[], status: string): number => counter(rms, cg.rel, 'container_http_inbound_requests_total', { status });
    assert.deepEqual(['2xx', '4xx', '5xx'].map((st) => out(m1, st) - out(m0, st)), [4, 1, 1], 'outbound requests by status (curl\'s cgroup, this destination)');
    assert.deepEqual(['2xx', '4xx', '5xx'].map((st) => inb(m1, st) - inb(m0, st)), [4, 1, 1], 'inbound requests by status (nginx\'s cgroup)');
    const hist = (rms: ResourceMetrics[]): number => counter(rms, cg.rel, 'container_http_inbound_requests_duration_seconds_total', {});
    assert.equal(hist(m1) - hist(m0), 6, 'one duration observation per request');
  });

  test('wrk → nginx, keep-alive: exactly N spans on each side, every SERVER span linked to its CLIENT span', async () => {
    agent.spans.length = 0;
    const N = 400;
    const a0 = accessLines(nginx);
    const m0 = agent.metrics();
    const w = await wrkExactly(nginx.url, N, 4);
    assert.match(w.stdout, new RegExp(`\\b${N} requests in`));
    assert.equal(accessLines(nginx) - a0, N, 'nginx served N');
    const clientsOf = (): SpanRecord[] => agent.spans.filter((s) => pidOf(s) === w.pid);
    assert.ok(await agent.waitFor(() => clientsOf().length >= N && serverSpans(nginx.port).length >= N), `client ${clientsOf().length}, server ${serverSpans(nginx.port).length}`);
    await agent.settle(300);
    const clients = clientsOf();
    const servers = serverSpans(nginx.port);
    assert.equal(clients.length, N);
    assert.equal(servers.length, N);
    const byId = new Map(clients.map((c) => [c.spanId, c]));
    assert.ok(servers.every((s) => byId.get(s.parentSpanId)?.traceId === s.traceId), 'every SERVER span is the child of a CLIENT span, same trace');
    assert.equal(new Set(servers.map((s) => s.parentSpanId)).size, N, 'one-to-one');
    assert.ok(clients.every((s) => s.attributes['http.response.status_code'] === 200 && s.attributes['url.path'] === '/ok'), summary(clients));
    const m1 = agent.metrics();
    const inb = (rms: ResourceMetrics[]): number => counter(rms, cg.rel, 'container_http_inbound_requests_total', { status: '2xx' });
    assert.equal(inb(m1) - inb(m0), N);
    const st = agent.kernelStats();
    assert.equal(st.lost.ringbufFull, 0, 'nothing lost at this rate');
    assert.equal(agent.pipeline.stats().tracker.parserErrors, 0);
  });

  test('wrk → nginx, pipelined (3 requests per write): exactly N spans on each side, matched in order', async () => {
    agent.spans.length = 0;
    const N = 300;
    const a0 = accessLines(nginx);
    const w = await wrkPipelined(nginx.url, N, 3);
    assert.equal(accessLines(nginx) - a0, N, 'nginx served N');
    const clientsOf = (): SpanRecord[] => agent.spans.filter((s) => pidOf(s) === w.pid);
    assert.ok(await agent.waitFor(() => clientsOf().length >= N && serverSpans(nginx.port).length >= N), `client ${clientsOf().length}, server ${serverSpans(nginx.port).length}`);
    await agent.settle(300);
    const clients = clientsOf();
    const servers = serverSpans(nginx.port);
    assert.equal(clients.length, N);
    assert.equal(servers.length, N);
    assert.ok(clients.every((s) => s.attributes['http.response.status_code'] === 200), summary(clients));
    const byId = new Map(clients.map((c) => [c.spanId, c]));
    const linked = servers.filter((s) => byId.get(s.parentSpanId)?.traceId === s.traceId).length;
    assert.equal(linked, N, 'every SERVER span is the child of a CLIENT span');
  });

  test('a response spanning many segments and a chunked response: one span each, exact body sizes', async () => {
    agent.spans.length = 0;
    const c = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', `${nginx.url}/static/big.bin`, `${nginx.url}/chunked`]);
    const mine = (): SpanRecord[] => agent.spans.filter((s) => pidOf(s) === c.pid);
    assert.ok(await agent.waitFor(() => mine().length >= 2 && serverSpans(nginx.port).length >= 2));
    await agent.settle(300);
    const [big, chunked] = mine().sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    assert.equal(mine().length, 2);
    assert.equal(big.attributes['url.path'], '/static/big.bin');
    assert.equal(big.attributes['http.response.body.size'], BIG, 'body bytes counted across uncaptured segment tails');
    assert.equal(chunked.attributes['url.path'], '/chunked');
    assert.equal(chunked.attributes['http.response.status_code'], 200);
    const s = serverSpans(nginx.port).find((x) => x.attributes['url.path'] === '/static/big.bin');
    assert.equal(s?.attributes['http.response.body.size'], BIG);
    assert.equal(s?.parentSpanId, big.spanId);
  });

  test('the agent\'s own connections are not traced', async () => {
    agent.spans.length = 0;
    const self0 = agent.kernelStats().self;
    const r = await httpGet(`${nginx.url}/ok`);
    assert.equal(r.status, 200);
    await agent.settle(400);
    assert.equal(agent.spans.filter((s) => pidOf(s) === process.pid).length, 0, 'no CLIENT span of this process');
    assert.equal(serverSpans(nginx.port).length, 0, 'and no SERVER span for its request');
    assert.ok(agent.kernelStats().self > self0, 'ignored in the kernel at its first write');
  });

  test('Node server calling a second server while handling each request: CLIENT → SERVER → CLIENT → SERVER in one trace', async () => {
    agent.spans.length = 0;
    const B = nodeChild(`
import http from 'node:http';
const s = http.createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ path: req.url })); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
process.stdin.on('data', () => process.exit(0));`);
    const portB = Number(await B.line());
    const A = nodeChild(`
import http from 'node:http';
const s = http.createServer((req, res) => {
  http.get('http://127.0.0.1:${portB}/users/' + req.url.split('/').pop(), (r) => {
    let body = '';
    r.on('data', (d) => { body += d; });
    r.on('end', () => res.end('A got ' + body));
  });
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
process.stdin.on('data', () => process.exit(0));`);
    const portA = Number(await A.line());
    const cga = new TestCgroup('nodeA');
    try {
      cga.add(A.pid);
      const K = 5;
      const urls = Array.from({ length: K }, (_, i) => `http://127.0.0.1:${portA}/orders/${100 + i}`);
      const c = await run('curl', ['-s', ...urls.flatMap((x) => ['-o', '/dev/null', x])]);
      const all = (): SpanRecord[] => agent.spans.filter((s) => [c.pid, A.pid, B.pid].includes(pidOf(s)));
      assert.ok(await agent.waitFor(() => all().length >= 4 * K), `spans: ${all().length}`);
      await agent.settle(400);
      const spans = all();
      assert.equal(spans.length, 4 * K, 'curl CLIENT, A SERVER, A CLIENT, B SERVER per request');
      const curlSpans = spans.filter((s) => pidOf(s) === c.pid);
      assert.equal(curlSpans.length, K);
      for (const root of curlSpans) {
        const aServer = spans.find((s) => s.parentSpanId === root.spanId);
        assert.ok(aServer, 'A SERVER is the child of curl\'s CLIENT span (same connection, peer rule)');
        assert.equal(aServer.kind, SpanKind.SERVER);
        assert.equal(pidOf(aServer), A.pid);
        const aClient = spans.find((s) => s.parentSpanId === aServer.spanId);
        assert.ok(aClient, 'A\'s outbound call is the child of the request it handles (thread/in-flight rule)');
        assert.equal(aClient.kind, SpanKind.CLIENT);
        assert.equal(pidOf(aClient), A.pid);
        assert.equal(aClient.attributes['url.path'], `/users/${String(root.attributes['url.path']).split('/').pop()}`);
        const bServer = spans.find((s) => s.parentSpanId === aClient.spanId);
        assert.ok(bServer, 'B SERVER is the child of A\'s CLIENT span');
        assert.equal(pidOf(bServer), B.pid);
        assert.equal(new Set([root, aServer, aClient, bServer].map((s) => s.traceId)).size, 1, 'one trace');
      }
      assert.equal(new Set(spans.map((s) => s.traceId)).size, K);
      const m = agent.metrics();
      assert.equal(counter(m, cga.rel, 'container_http_requests_total', { destination: `127.0.0.1:${portB}`, status: '2xx' }), K, 'A\'s outbound calls, from A\'s cgroup');
      assert.equal(counter(m, cga.rel, 'container_http_inbound_requests_total', { status: '2xx' }), K, 'A\'s inbound requests');
    } finally {
      await stop(A);
      await stop(B);
      cga.destroy();
    }
  });

  test('segments lost on the wire and retransmitted (a netns client dropping 10% of incoming response segments): exact body sizes, every exchange once', async () => {
    agent.spans.length = 0;
    const k0 = agent.kernelStats();
    const ns = new TestNetns('l7', 200 + (process.pid % 50));
    const BODY = 100_000;
    const K = 20;
    const srv = nodeChild(`
import http from 'node:http';
const body = Buffer.alloc(${BODY}, 0x62);
const s = http.createServer((q, r) => { r.setHeader('content-length', body.length); r.end(body); }).listen(0, '${ns.hostAddr}', () => console.log(s.address().port));
process.stdin.on('data', () => process.exit(0));`);
    try {
      const port = Number(await srv.line());
      // the client's side drops response segments without a head (every exchange stays recognisable):
      // the server retransmits them, the client's ingress sees holes first and the retransmissions late
      ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--sport', String(port), '-m', 'string', '!', '--string', 'HTTP/1.1', '--algo', 'bm',
        '-m', 'statistic', '--mode', 'random', '--probability', '0.1', '-j', 'DROP']);
      const cli = nodeChild(`
import http from 'node:http';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let n = 0, bytes = 0;
const one = () => http.get({ host: '${ns.hostAddr}', port: ${port}, path: '/file/' + n, agent }, (r) => {
  r.on('data', (d) => { bytes += d.length; });
  r.on('end', () => { if (++n < ${K}) one(); else { console.log(bytes); agent.destroy(); } });
});
one();`, ns.prefix);
      assert.equal(Number(await cli.line()), K * BODY);
      const dropped = Number(/^\s*(\d+)\s+\d+\s+DROP/m.exec(ns.exec('iptables', ['-L', 'INPUT', '-v', '-x', '-n']))?.[1] ?? 0);
      // ip netns exec runs node as a child of `ip`: the client is the one whose spans are CLIENT toward the port
      const clients = (): SpanRecord[] => agent.spans.filter((x) => x.kind === SpanKind.CLIENT && x.attributes['server.port'] === port);
      const servers = (): SpanRecord[] => agent.spans.filter((x) => x.kind === SpanKind.SERVER && pidOf(x) === srv.pid);
      assert.ok(await agent.waitFor(() => clients().length >= K && servers().length >= K), `client ${clients().length}, server ${servers().length}`);
      await agent.settle(300);
      assert.equal(clients().length, K, 'every exchange once on the client');
      assert.equal(servers().length, K, 'and once on the server');
      assert.ok(clients().every((x) => x.attributes['http.response.body.size'] === BODY), JSON.stringify(clients().map((x) => x.attributes['http.response.body.size'])));
      assert.ok(servers().every((x) => x.attributes['http.response.body.size'] === BODY));
      const byId = new Map(clients().map((c) => [c.spanId, c]));
      assert.ok(servers().every((x) => byId.has(x.parentSpanId)), 'linked across the veth (same node)');
      const k1 = agent.kernelStats();
      assert.ok(dropped > 0, 'the rule dropped segments');
      assert.ok(k1.gap > k0.gap, `holes reported (${dropped} segments dropped)`);
      assert.ok(k1.duplicate > k0.duplicate, 'retransmitted bytes already seen (server egress) or already declared lost (client ingress) were skipped in the kernel');
    } finally {
      await stop(srv);
      ns.destroy();
    }
  });

  test('kernel counters are readable: no ring-buffer loss, detections and the agent\'s own connection counted', () => {
    const st = agent.kernelStats();
    assert.equal(st.lost.ringbufFull, 0);
    assert.equal(st.lost.tableFull, 0);
    assert.ok(st.detected > 0);
    assert.ok(st.self > 0);
    assert.equal(agent.adapter.stats.malformed, 0);
  });
});

async function stop(c: Child): Promise<void> {
  c.proc.stdin?.write('x');
  await Promise.race([c.exited, waitFor(() => false, 2000)]);
  c.proc.kill('SIGKILL');
}

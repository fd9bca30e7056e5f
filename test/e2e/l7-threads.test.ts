// e2e (root): thread-based parent/child linking (src/receivers/ebpf/l7/README.md, "Linking", rule 2) with
// a real multi-threaded server on the real kernel. A is Python's ThreadingHTTPServer (one OS thread per
// connection); for GET /items/<n> it calls B (GET /users/<n>, another ThreadingHTTPServer) with
// http.client, then answers. A driver sends N requests (n = 0 … N-1) over C concurrent connections, so
// several of A's requests are in flight on different threads at once: the in-flight count is > 1 and only
// the thread can tell the requests apart. Every assertion is filtered by this test's own pids.
import { after, before, describe, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SpanKind } from '@opentelemetry/api';
import { loadNative } from '../../src/native/load.js';
import type { SpanRecord } from '../../src/pdata/traces.js';
import { cgroup2Root } from '../../src/receivers/ebpf/probes/l7/capture.js';
import { bpfObjectPath } from '../helpers/paths.js';
import { e2eSkipReason, startChild, waitFor, type Child } from '../helpers/e2e.js';
import { L7TestAgent } from '../helpers/l7-agent.js';

const skip = e2eSkipReason()
  ?? (existsSync(bpfObjectPath('l7')) ? undefined : `missing ${bpfObjectPath('l7')}: run npm run build:bpf`)
  ?? (cgroup2Root() === undefined ? 'no cgroup v2 hierarchy to attach cgroup_skb programs to' : undefined)
  ?? (spawnSync('python3', ['--version']).error ? 'python3 not installed' : undefined);
if (skip) console.log(`# SKIP l7 threads e2e: ${skip}`);

const pidOf = (s: SpanRecord): number => s.resource.attributes['process.pid'] as number;
/** The <n> of /items/<n> or /users/<n>. */
const nOf = (s: SpanRecord): number => Number(String(s.attributes['url.path']).split('/').pop());

/** Requests in all (n = 0 … N-1), and the driver's concurrent connections (C divides N). */
const N = 200;
const C = 8;

/**
 * Both servers: a ThreadingHTTPServer on a kernel-picked port (printed first), HTTP/1.1 keep-alive, each
 * answer in one write with its Content-Length; `handle(n)` (defined after this prelude) makes the body,
 * `answer(handler, n)` writes it (the reading thread; a server may redefine it).
 * It counts the requests in its handlers at once (peak) and the threads that read requests and that
 * called B. A byte on stdin prints those as JSON and exits.
 */
const SERVER_PRELUDE = `
import http.client, json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
inflight = 0
peak = 0
readers = set()
callers = set()

def write_answer(handler, body):
    head = 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body)
    handler.wfile.write(head.encode() + body)

def answer(handler, n):
    write_answer(handler, handle(n))

class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *args):
        pass
    def do_GET(self):
        global inflight, peak
        with lock:
            inflight += 1
            peak = max(peak, inflight)
            readers.add(threading.get_native_id())
        try:
            answer(self, self.path.rsplit('/', 1)[-1])
        finally:
            with lock:
                inflight -= 1

def serve():
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog (5) drops concurrent connects: 1 s SYN retries
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    def stop():
        sys.stdin.read(1)
        print(json.dumps({'peak': peak, 'readers': len(readers), 'callers': len(callers)}), flush=True)
        os._exit(0)
    threading.Thread(target=stop, daemon=True).start()
    server.serve_forever()
`;

/** B: answers /users/<n> after 2–8 ms (requests of different cost, and A's handlers overlap). */
const B_CODE = `${SERVER_PRELUDE}
def handle(n):
    time.sleep(0.002 * (1 + int(n) % 4))
    return ('{"user": %s}' % n).encode()

serve()
`;

/** A's call to B, on a keep-alive connection of the calling thread. */
const CALL_B = (portB: number): string => `
local = threading.local()
def call_b(n):
    with lock:
        callers.add(threading.get_native_id())
    conn = getattr(local, 'conn', None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection('127.0.0.1', ${portB})
    conn.request('GET', '/users/' + n)
    return conn.getresponse().read()
`;

/**
 * A, thread per connection: the thread that read the request calls B `calls` times, one after the other,
 * and writes the response.
 */
const A_THREAD_CODE = (calls: number) => (portB: number): string => `${SERVER_PRELUDE}${CALL_B(portB)}
def handle(n):
    for i in range(${calls}):
        body = call_b(n)
    return b'A got ' + body

serve()
`;

/**
 * A, worker pool: the connection's thread hands the request to one of 4 pool threads, which calls B. The
 * connection's thread waits for the result and writes the response, or (`workerWrites`) the pool thread
 * writes it and the connection's thread waits for that.
 */
const A_POOL_CODE = (workerWrites: boolean) => (portB: number): string => `${SERVER_PRELUDE}${CALL_B(portB)}
pool = ThreadPoolExecutor(max_workers=4)
def handle(n):
    return b'A got ' + pool.submit(call_b, n).result()

if ${workerWrites ? 'True' : 'False'}:
    def answer(handler, n):
        pool.submit(lambda: write_answer(handler, b'A got ' + call_b(n))).result()

serve()
`;

/**
 * The driver: `conns` threads released together, N requests in all (thread k sends n = k·N/conns …), each
 * thread on its own keep-alive connection to A, or (`fresh`) on a new connection per request. Prints
 * `bad <count of responses that did not carry B's answer for their own n>`.
 */
const DRIVER_CODE = (portA: number, conns: number, fresh: boolean): string => `
import http.client, threading
start = threading.Barrier(${conns})
bad = []
def run(k):
    conn = http.client.HTTPConnection('127.0.0.1', ${portA}, timeout=20)
    start.wait()
    for i in range(${N / conns}):
        n = k * ${N / conns} + i
        conn.request('GET', '/items/%d' % n)
        body = conn.getresponse().read()
        if body != b'A got {"user": %d}' % n:
            bad.append(body)
        if ${fresh ? 'True' : 'False'}:
            conn.close()
    conn.close()
threads = [threading.Thread(target=run, args=(k,)) for k in range(${conns})]
for t in threads:
    t.start()
for t in threads:
    t.join()
print('bad', len(bad), flush=True)
`;

interface ServerStats {
  /** Most requests in A's handlers at once. */
  peak: number;
  /** Threads that read requests (and wrote the responses). */
  readers: number;
  /** Threads that wrote the calls to B. */
  callers: number;
}

async function startPython(code: string): Promise<{ child: Child; port: number }> {
  const child = startChild('python3', ['-c', code]);
  return { child, port: Number(await child.line()) };
}

/** Stops a server this test started (its own child only) and returns the stats it printed. */
async function stopServer(c: Child): Promise<ServerStats | undefined> {
  c.proc.stdin?.write('x');
  const line = await Promise.race([c.line(), waitFor(() => false, 2000).then(() => undefined)]).catch(() => undefined);
  await Promise.race([c.exited, waitFor(() => false, 2000)]);
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  return line === undefined ? undefined : JSON.parse(line) as ServerStats;
}

/** One run's spans by role, and what A counted. */
interface Run {
  /** Calls A made to B per request. */
  calls: number;
  driver: SpanRecord[];
  aServer: SpanRecord[];
  aClient: SpanRecord[];
  bServer: SpanRecord[];
  a: ServerStats;
}

interface DriveOptions {
  /** Calls A makes to B per request (what `aCode` does). */
  calls?: number;
  /** The driver's concurrent connections. */
  conns?: number;
  /** A new connection per request. */
  fresh?: boolean;
}

describe('l7 probe: thread-based linking in a multi-threaded server (Python ThreadingHTTPServer A → B)', { skip, concurrency: false, timeout: 120_000 }, () => {
  let agent: L7TestAgent;

  before(() => {
    agent = L7TestAgent.start(loadNative());
  });

  after(() => {
    agent?.stop();
  });

  /** Starts B, then A with `aCode(B's port)`, sends the N requests to A, and collects the spans of the three processes. */
  async function drive(aCode: (portB: number) => string, o: DriveOptions = {}): Promise<Run> {
    const calls = o.calls ?? 1;
    agent.spans.length = 0;
    const B = await startPython(B_CODE);
    let A: { child: Child; port: number } | undefined;
    let d: Child | undefined;
    try {
      A = await startPython(aCode(B.port));
      const a = A.child;
      d = startChild('python3', ['-c', DRIVER_CODE(A.port, o.conns ?? C, o.fresh ?? false)]);
      const out = await d.exited;
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), 'bad 0', 'every response carries B\'s answer for its own n');
      const driver = d.pid;
      const pids = [driver, a.pid, B.child.pid];
      const mine = (): SpanRecord[] => agent.spans.filter((s) => pids.includes(pidOf(s)));
      const total = 2 * N + 2 * N * calls;
      assert.ok(await agent.waitFor(() => mine().length >= total, 30_000), `spans: ${mine().length} of ${total}`);
      await agent.settle(400);
      const spans = mine();
      A = undefined;
      const stats = await stopServer(a);
      assert.ok(stats, 'A printed its stats');
      return {
        calls,
        driver: spans.filter((s) => pidOf(s) === driver),
        aServer: spans.filter((s) => pidOf(s) === a.pid && s.kind === SpanKind.SERVER),
        aClient: spans.filter((s) => pidOf(s) === a.pid && s.kind === SpanKind.CLIENT),
        bServer: spans.filter((s) => pidOf(s) === B.child.pid),
        a: stats,
      };
    } finally {
      if (d !== undefined && d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
      if (A !== undefined) await stopServer(A.child);
      await stopServer(B.child);
    }
  }

  /** Exact span counts: each n once from the driver and at A, `calls` times from A and at B. */
  function assertCounts(r: Run): void {
    assert.equal(r.driver.length, N, 'one CLIENT span per driver request');
    assert.ok(r.driver.every((s) => s.kind === SpanKind.CLIENT));
    assert.equal(r.aServer.length, N, 'one SERVER span at A per request');
    assert.equal(r.aClient.length, N * r.calls, 'one CLIENT span at A per call to B');
    assert.equal(r.bServer.length, N * r.calls, 'one SERVER span at B per call');
    assert.ok(r.bServer.every((s) => s.kind === SpanKind.SERVER));
    const ns = (l: SpanRecord[]): number[] => l.map(nOf).sort((x, y) => x - y);
    const each = (k: number): number[] => Array.from({ length: N * k }, (_, i) => Math.floor(i / k));
    assert.deepEqual(ns(r.driver), each(1));
    assert.deepEqual(ns(r.aServer), each(1), 'A served /items/0 … /items/N-1, once each');
    assert.deepEqual(ns(r.aClient), each(r.calls), 'A called /users/<n> `calls` times per request');
    assert.deepEqual(ns(r.bServer), each(r.calls));
  }

  /**
   * What holds whichever thread made the calls (the peer rule: the reverse connection, on this node): each
   * A SERVER span is the child of the driver's CLIENT span for its n, each B SERVER span the child of one
   * A → B CLIENT span for its n, in their traces.
   */
  function assertPeerLinks(r: Run): void {
    const driverById = new Map(r.driver.map((s) => [s.spanId, s]));
    for (const s of r.aServer) {
      const c = driverById.get(s.parentSpanId);
      assert.ok(c !== undefined && c.traceId === s.traceId && nOf(c) === nOf(s),
        `A SERVER /items/${nOf(s)} is the child of the driver's CLIENT span for the same n, in its trace (parent ${s.parentSpanId || 'none'}: ${c === undefined ? 'not a driver span' : `/items/${nOf(c)}, trace ${c.traceId === s.traceId ? 'same' : 'other'}`})`);
    }
    const clientById = new Map(r.aClient.map((s) => [s.spanId, s]));
    for (const s of r.bServer) {
      const c = clientById.get(s.parentSpanId);
      assert.ok(c !== undefined && c.traceId === s.traceId && nOf(c) === nOf(s),
        `B SERVER /users/${nOf(s)} is the child of an A CLIENT span for the same n, in its trace (parent ${s.parentSpanId || 'none'}: ${c === undefined ? 'not an A CLIENT span' : `/users/${nOf(c)}, trace ${c.traceId === s.traceId ? 'same' : 'other'}`})`);
    }
    assert.equal(new Set(r.bServer.map((s) => s.parentSpanId)).size, N * r.calls, 'one B SERVER span per A CLIENT span');
  }

  /** Every A → B CLIENT span is the child of the A SERVER span with the same n, in its trace: one trace per request. */
  function assertThreadLinks(r: Run): void {
    const serverByN = new Map(r.aServer.map((s) => [nOf(s), s]));
    const serverById = new Map(r.aServer.map((s) => [s.spanId, s]));
    const unlinked = r.aClient.filter((c) => c.parentSpanId === '').length;
    for (const c of r.aClient) {
      const p = serverByN.get(nOf(c));
      const got = serverById.get(c.parentSpanId);
      assert.ok(p !== undefined && c.parentSpanId === p.spanId && c.traceId === p.traceId,
        `A CLIENT /users/${nOf(c)}: parent is A SERVER /items/${nOf(c)} (got ${got !== undefined ? `/items/${nOf(got)}` : c.parentSpanId || 'none'}; ${unlinked} of ${r.aClient.length} calls unlinked)`);
    }
    assert.equal(new Set([...r.driver, ...r.aServer, ...r.aClient, ...r.bServer].map((s) => s.traceId)).size, N, 'one trace per request');
  }

  test('thread per connection, 8 keep-alive connections, one call per request: every call is the child of the request it was made for', async () => {
    const r = await drive(A_THREAD_CODE(1));
    assert.ok(r.a.peak > 1, `several requests in A's handlers at once (peak ${r.a.peak})`);
    assert.equal(r.a.readers, C, 'one thread per connection');
    assert.equal(r.a.callers, C, 'and each made its own calls');
    assertCounts(r);
    assertPeerLinks(r);
    assertThreadLinks(r);
  });

  test('thread per connection, ten calls per request: all ten are children of their request (~80 calls of other threads in between)', async () => {
    // with more than one request in flight a call waits for its whole window, so when a request's SERVER
    // exchange arrives, its first calls lie behind those the other threads made since (8 × 10): a request
    // looks for its calls back to its own start (it looked at the last 64 calls only, and lost 6–17 % of them)
    const r = await drive(A_THREAD_CODE(10), { calls: 10 });
    assert.ok(r.a.peak > 1, `several requests in A's handlers at once (peak ${r.a.peak})`);
    assert.equal(r.a.callers, C);
    assertCounts(r);
    assertPeerLinks(r);
    assertThreadLinks(r);
  });

  test('thread per connection, a new connection per request, 2 at a time: a request not read yet is never a call\'s parent', async () => {
    // each request arrives on a new connection, whose first request counts in flight only once A's new
    // thread has read it (the kernel's OWNER record): a call is sometimes written with one request counted
    // while the other one has already arrived; that one must not take the call (ConnInfo.ownedSinceNs:
    // without it, about one call per run went to the other request)
    const r = await drive(A_THREAD_CODE(3), { calls: 3, conns: 2, fresh: true });
    assert.ok(r.a.peak > 1, `several requests in A's handlers at once (peak ${r.a.peak})`);
    assertCounts(r);
    assertPeerLinks(r);
    assertThreadLinks(r);
  });

  /**
   * A worker pool: a call must never be linked to another request. How many are linked depends on timing,
   * which is not asserted (logged).
   */
  async function poolRun(workerWrites: boolean): Promise<void> {
    const r = await drive(A_POOL_CODE(workerWrites));
    assert.ok(r.a.peak > 1, `several requests in A's handlers at once (peak ${r.a.peak})`);
    assert.equal(r.a.readers, C);
    assert.ok(r.a.callers > 0 && r.a.callers <= 4, 'the calls were written by the pool\'s threads');
    assertCounts(r);
    assertPeerLinks(r);
    const serverByN = new Map(r.aServer.map((s) => [nOf(s), s]));
    const serverById = new Map(r.aServer.map((s) => [s.spanId, s]));
    let linked = 0;
    for (const c of r.aClient) {
      if (c.parentSpanId === '') {
        assert.ok(!r.aServer.some((s) => s.traceId === c.traceId), `an unlinked call (/users/${nOf(c)}) starts its own trace`);
        continue;
      }
      const p = serverByN.get(nOf(c));
      const got = serverById.get(c.parentSpanId);
      assert.ok(p !== undefined && c.parentSpanId === p.spanId && c.traceId === p.traceId,
        `A CLIENT /users/${nOf(c)}: linked only to /items/${nOf(c)} (got ${got !== undefined ? `/items/${nOf(got)}` : c.parentSpanId})`);
      linked++;
    }
    console.log(`# worker pool (${workerWrites ? 'pool thread' : 'connection thread'} writes the response): ${linked} of ${N} calls linked (peak ${r.a.peak} requests in A's handlers, ${r.a.callers} calling threads)`);
  }

  test('worker pool, the connection\'s thread writes the response: a call is never linked to another request', async () => {
    // the kernel knows which thread wrote each segment, not which read it: A's SERVER exchange has the thread
    // that wrote its response (the connection's), its call the pool thread's. With several requests in
    // flight nothing ties them (the call is a root: README, "Where the heuristics can be wrong"); with one
    // in flight the in-flight count links it
    await poolRun(false);
  });

  test('worker pool, the pool thread writes the response: a call is never linked to another request', async () => {
    // the pool thread wrote the call and its request's response, so that request is a candidate; so is a
    // request that was queued while the call ran and that the same pool thread answered next (it arrived
    // before the call and ended after it): two candidates, and thread_ambiguity "skip" leaves the call a root
    await poolRun(true);
  });
});

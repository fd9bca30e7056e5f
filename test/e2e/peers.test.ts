// Smoke tests for test/peers: each peer starts, does one real protocol round-trip with a real
// client, binds loopback only, and stops without leaving a process, a port or a temp dir behind.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFile as execFileCb, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { TestContext } from 'node:test';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  LOOPBACK, amqpLogin, buildOtelcol, listeningSockets, mariadbCli, pidAlive, psql, startClickhouse, startDnsmasq,
  startMariadb, startMemcached, startNats, startNginx, startOtelcol, startPostgres, startPrometheus, startRabbitmq,
  startRedis, startUnbound, startZookeeper, tcpExchange, tcpPortFree, zkFourLetter, pollUntil, NGINX_CHUNKED_BODY,
} from '../peers/index.js';
import type { PeerBase } from '../peers/index.js';

const execFile = promisify(execFileCb);

/** Start a peer and report how long it took (spawn to protocol-level ready). */
async function timed<T>(t: TestContext, what: string, start: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const peer = await start();
  t.diagnostic(`${what} ready in ${Math.round(performance.now() - t0)} ms`);
  return peer;
}

/**
 * The shape of every smoke test: start the peer (timed), check that it binds loopback only, run
 * `body`, then stop it and check that it left no process, port or dir behind.
 */
async function smoke<P extends PeerBase>(t: TestContext, what: string, start: () => Promise<P>,
  ports: (peer: P) => number[], body: (peer: P) => Promise<void>): Promise<void> {
  const peer = await timed(t, what, start);
  const toCheck = ports(peer);
  try {
    assertLoopbackOnly(peer);
    await body(peer);
  } finally {
    await assertStopsCleanly(peer, toCheck);
  }
}

/** Every socket the peer's process group listens on is on loopback. */
function assertLoopbackOnly(peer: PeerBase): void {
  const socks = listeningSockets(peer.pid);
  assert.ok(socks.length > 0, 'the peer listens on something');
  for (const s of socks) {
    assert.ok(/^(::ffff:)?127\./.test(s.address) || s.address === '::1', `${s.proto} ${s.address}:${s.port} (pid ${s.pid}) is not loopback`);
  }
}

/** stop() twice (idempotent), then: the PID is gone, every port is free, the dir is removed. */
async function assertStopsCleanly(peer: PeerBase, ports: number[]): Promise<void> {
  const pid = peer.pid;
  await Promise.all([peer.stop(), peer.stop()]);
  await peer.stop();
  assert.equal(pidAlive(pid), false, `pid ${pid} still alive`);
  assert.equal(listeningSockets(pid).length, 0, 'no process of the group still listens');
  for (const p of ports) assert.ok(await tcpPortFree(p), `port ${p} still in use`);
  assert.equal(existsSync(peer.dir), false, `${peer.dir} not removed`);
}

async function curl(args: string[]): Promise<string> {
  return (await execFile('curl', ['-sS', '--max-time', '5', ...args])).stdout;
}

void test('nginx: HTTP/1.1, h2c, TLS h2 + TLSv1.3, status codes, chunked, proxy_pass', async (t) => {
  const upstream = createServer((_req, res) => { res.end('from-upstream\n'); });
  await new Promise<void>((r) => upstream.listen(0, LOOPBACK, r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  try {
    await smoke(t, 'nginx', () => startNginx({
      tls: true, proxyPassPort: upstreamPort, files: { 'hello.txt': 'hello\n' },
      locations: 'location = /custom { return 201 "custom\\n"; }',
    }), (p) => [p.port, p.h2cPort, p.tlsPort ?? 0].filter((port) => port > 0), async (nginx) => {
      const fmt = ['-o', '/dev/null', '-w', '%{http_code} %{http_version}'];
      assert.equal(await curl([...fmt, `${nginx.url}/ok`]), '200 1.1');
      assert.equal(await curl([...fmt, `${nginx.url}/notfound`]), '404 1.1');
      assert.equal(await curl([...fmt, `${nginx.url}/error`]), '500 1.1');
      assert.equal(await curl([...fmt, `${nginx.url}/custom`]), '201 1.1');
      assert.equal(await curl([`${nginx.url}/static/hello.txt`]), 'hello\n');
      assert.equal(await curl([`${nginx.url}/proxy/x`]), 'from-upstream\n');
      assert.equal(await curl([...fmt, '--http2-prior-knowledge', `${nginx.h2cUrl}/ok`]), '200 2');
      const tlsV = await execFile('curl', ['-sS', '-v', '--http2', '--cacert', nginx.certFile ?? '', '-o', '/dev/null', '-w', '%{http_version}', `${nginx.tlsUrl ?? ''}/ok`]);
      assert.equal(tlsV.stdout, '2');
      assert.match(tlsV.stderr, /SSL connection using TLSv1\.3/);
      const chunked = await fetch(`${nginx.url}/chunked`);
      assert.equal(chunked.headers.get('transfer-encoding'), 'chunked');
      assert.equal(chunked.headers.get('content-length'), null);
      assert.equal(await chunked.text(), NGINX_CHUNKED_BODY);
    });
  } finally {
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

void test('postgres: psql round-trip over TCP, pgbench present', (t) => smoke(t, 'postgres (initdb + start)', () => startPostgres(), (p) => [p.port], async (pg) => {
  assert.equal((await psql(pg, 'CREATE TABLE t (v int); INSERT INTO t VALUES (41); SELECT v + 1 FROM t;')).trim(), '42');
  assert.equal((await psql(pg, 'SELECT current_database()')).trim(), 'sonde');
  const { stdout } = await execFile(pg.pgbench, ['--version']);
  assert.match(stdout, /pgbench \(PostgreSQL\) 15/);
}));

void test('mariadb: mariadb client round-trip as root@127.0.0.1', (t) => smoke(t, 'mariadb (install-db + start)', () => startMariadb(), (p) => [p.port], async (db) => {
  await mariadbCli(db, 'CREATE TABLE t (v INT); INSERT INTO t VALUES (41);', db.database);
  assert.equal((await mariadbCli(db, 'SELECT v + 1 FROM t', db.database)).trim(), '42');
}));

void test('redis: redis-cli SET/GET', (t) => smoke(t, 'redis', () => startRedis(), (p) => [p.port], async (redis) => {
  const cli = (...a: string[]): Promise<string> => execFile('redis-cli', ['-h', LOOPBACK, '-p', String(redis.port), ...a]).then((r) => r.stdout.trim());
  assert.equal(await cli('SET', 'k', 'v'), 'OK');
  assert.equal(await cli('GET', 'k'), 'v');
}));

void test('memcached: text protocol set/get over a raw socket', (t) => smoke(t, 'memcached', () => startMemcached(), (p) => [p.port], async (mc) => {
  const reply = await tcpExchange(mc.port, 'set k 0 0 5\r\nhello\r\nget k\r\n', (b) => b.includes('END\r\n'));
  assert.equal(reply.toString(), 'STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n');
}));

void test('nats: SUB + PUB round-trip over a raw socket', (t) => smoke(t, 'nats', () => startNats(), (p) => [p.port, p.monitorPort], async (nats) => {
  const reply = await tcpExchange(nats.port, 'CONNECT {"verbose":false}\r\nSUB smoke 1\r\nPUB smoke 5\r\nhello\r\nPING\r\n',
    (b) => b.includes('PONG\r\n'));
  assert.match(reply.toString(), /MSG smoke 1 5\r\nhello\r\n/);
}));

void test('rabbitmq: AMQP 0-9-1 login (guest/guest), dist port and epmd on loopback, epmd gone after stop', { timeout: 180_000 }, (t) => smoke(t, 'rabbitmq', () => startRabbitmq(), (p) => [p.port, p.distPort, p.epmdPort], async (rmq) => {
  assert.ok(listeningSockets(rmq.pid).some((s) => s.port === rmq.distPort), 'Erlang dist port bound (on loopback)');
  await amqpLogin(rmq.port, rmq.user, rmq.password);
  await assert.rejects(amqpLogin(rmq.port, 'guest', 'wrong'), /403 ACCESS_REFUSED/);
}));

void test('dnsmasq: A record and subdomain answered, unknown names not forwarded', (t) => smoke(t, 'dnsmasq', () => startDnsmasq({ records: { 'test.local': '10.1.2.3' } }), (p) => [p.port], async (dns) => {
  const r = dns.resolver();
  assert.deepEqual(await r.resolve4('test.local'), ['10.1.2.3']);
  assert.deepEqual(await r.resolve4('api.test.local'), ['10.1.2.3']);
  await assert.rejects(r.resolve4('example.com'), { code: 'EREFUSED' }); // no upstream: refused, never forwarded
}));

void test('unbound: local-data answered, everything else NXDOMAIN (no recursion)', (t) => smoke(t, 'unbound', () => startUnbound({ records: { 'web.test.local': '10.1.2.4' } }), (p) => [p.port], async (dns) => {
  const r = dns.resolver();
  assert.deepEqual(await r.resolve4('web.test.local'), ['10.1.2.4']);
  await assert.rejects(r.resolve4('example.com'), { code: 'ENOTFOUND' }); // NXDOMAIN from "." static
}));

void test('zookeeper: zkCli create/get, 4lw stat', { timeout: 120_000 }, (t) => smoke(t, 'zookeeper', () => startZookeeper(), (p) => [p.port], async (zk) => {
  const cli = (...a: string[]): Promise<string> =>
    execFile('/usr/share/zookeeper/bin/zkCli.sh', ['-server', zk.connectString, ...a], { timeout: 60_000 }).then((r) => r.stdout);
  await cli('create', '/sonde', 'hello');
  assert.match(await cli('get', '/sonde'), /^hello$/m);
  assert.match(await zkFourLetter(zk.port, 'stat'), /Mode: standalone/);
}));

// ---- Prometheus: remote write (hand-encoded protobuf + literal-only snappy), query, restart ----

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}
const pbBytes = (field: number, b: Buffer): Buffer => Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
function writeRequest(labels: Record<string, string>, value: number, tsMs: number): Buffer {
  const lbls = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => pbBytes(1, Buffer.concat([pbBytes(1, Buffer.from(k)), pbBytes(2, Buffer.from(v))])));
  const dbl = Buffer.alloc(8);
  dbl.writeDoubleLE(value);
  const sample = Buffer.concat([Buffer.from([(1 << 3) | 1]), dbl, varint((2 << 3) | 0), varint(tsMs)]);
  return pbBytes(1, Buffer.concat([...lbls, pbBytes(2, sample)]));
}
/** Snappy block format with literals only: valid input for any snappy decoder. */
function snappyLiteral(data: Buffer): Buffer {
  const parts = [varint(data.length)];
  for (let i = 0; i < data.length; i += 65536) {
    const chunk = data.subarray(i, i + 65536);
    const n = chunk.length - 1;
    parts.push(n < 60 ? Buffer.from([n << 2]) : n < 256 ? Buffer.from([60 << 2, n]) : Buffer.from([61 << 2, n & 0xff, n >> 8]), chunk);
  }
  return Buffer.concat(parts);
}
async function remoteWrite(url: string, labels: Record<string, string>, value: number, tsMs: number): Promise<number> {
  const res = await fetch(url, {
    method: 'POST', body: snappyLiteral(writeRequest(labels, value, tsMs)),
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
  });
  await res.arrayBuffer();
  return res.status;
}

void test('prometheus: remote write, instant + range query, restart on the same port keeps the data', (t) => smoke(t, 'prometheus', () => startPrometheus(), (p) => [p.port], async (prom) => {
  const now = Date.now();
  assert.equal(await remoteWrite(prom.remoteWriteUrl, { __name__: 'sonde_smoke', job: 'peers' }, 42, now - 1000), 204);
  const [s] = await prom.query('sonde_smoke', now);
  assert.deepEqual(s?.metric, { __name__: 'sonde_smoke', job: 'peers' });
  assert.equal(s?.value, 42);
  const [series] = await prom.queryRange('sonde_smoke', now - 5000, now, 1);
  assert.ok((series?.values.length ?? 0) > 0 && series?.values.every((v) => v.value === 42));
  assert.equal((await prom.query('1 + 1'))[0]?.value, 2);

  const port = prom.port;
  await prom.halt();
  assert.equal(prom.running, false);
  await assert.rejects(remoteWrite(prom.remoteWriteUrl, { __name__: 'sonde_smoke', job: 'peers' }, 43, Date.now()));
  await timed(t, 'prometheus restart', () => prom.restart());
  assert.equal(prom.port, port);
  assert.equal((await prom.query('sonde_smoke', now))[0]?.value, 42, 'TSDB survived the restart');
  assert.equal(await remoteWrite(prom.remoteWriteUrl, { __name__: 'sonde_smoke', job: 'peers' }, 43, Date.now()), 204);
}));

// ---- OpenTelemetry Collector ----

void test('otelcol: OTLP/gRPC trace export via the OTel JS exporter, OTLP/HTTP logs, restart keeps the files', { timeout: 20 * 60_000 }, async (t) => {
  const build = await buildOtelcol();
  t.diagnostic(`otelcol binary ${build.built ? 'built' : 'cached'} in ${build.ms} ms: ${build.binary}`);
  assert.equal((await buildOtelcol()).built, false, 'second call hits the cache');
  await smoke(t, 'otelcol', () => startOtelcol(), (p) => [p.grpcPort, p.httpPort], async (otel) => {
    const exportSpan = async (name: string): Promise<void> => {
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'peers-smoke' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: otel.grpcUrl }))],
      });
      provider.getTracer('smoke').startSpan(name, { attributes: { 'http.response.status_code': 200 } }).end();
      await provider.forceFlush();
      await provider.shutdown();
    };
    await exportSpan('smoke-1');
    const s = await otel.waitFor('span smoke-1', (c) => c.spans().find((x) => x.span.name === 'smoke-1'));
    assert.equal(s.resource['service.name'], 'peers-smoke');
    assert.equal(s.attributes['http.response.status_code'], '200'); // int64 -> string in OTLP/JSON
    assert.equal(s.scope.name, 'smoke');

    const res = await fetch(`${otel.httpUrl}/v1/logs`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'peers-smoke' } }] },
        scopeLogs: [{ logRecords: [{ timeUnixNano: String(Date.now() * 1e6), severityText: 'INFO', body: { stringValue: 'hello log' } }] }] }] }),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await otel.waitFor('log record', (c) => c.logRecords().find((l) => l.record.body?.stringValue === 'hello log'));

    await otel.halt();
    for (const p of [otel.grpcPort, otel.httpPort]) assert.ok(await tcpPortFree(p), `port ${p} free while halted`);
    await timed(t, 'otelcol restart', () => otel.restart());
    await exportSpan('smoke-2');
    await otel.waitFor('span smoke-2', (c) => c.spans().find((x) => x.span.name === 'smoke-2'));
    assert.ok(otel.spans().some((x) => x.span.name === 'smoke-1'), 'spans from before the restart are kept (append: true)');
  });
});

// ---- ClickHouse (chdb behind the HTTP shim) ----

// The clickhouseexporter's otel_traces table, written from the upstream DDL (docs: compat.md §7).
const OTEL_TRACES_DDL = `
CREATE TABLE IF NOT EXISTS otel_traces (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  ParentSpanId String CODEC(ZSTD(1)),
  TraceState String CODEC(ZSTD(1)),
  SpanName LowCardinality(String) CODEC(ZSTD(1)),
  SpanKind LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  ScopeName String CODEC(ZSTD(1)),
  ScopeVersion String CODEC(ZSTD(1)),
  SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  Duration UInt64 CODEC(T64, ZSTD(1)),
  StatusCode LowCardinality(String) CODEC(ZSTD(1)),
  StatusMessage String CODEC(ZSTD(1)),
  Events Nested (
    Timestamp DateTime64(9),
    Name LowCardinality(String),
    Attributes Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  Links Nested (
    TraceId String,
    SpanId String,
    TraceState String,
    Attributes Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
TTL toDateTime(Timestamp) + toIntervalDay(3)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`;

void test('clickhouse: @clickhouse/client ping, otel_traces DDL, JSONEachRow insert/select, query_params, settings, gzip, errors, restart', { timeout: 120_000 }, (t) => smoke(t, 'clickhouse (chdb shim)', () => startClickhouse(), (p) => [p.port], async (ch) => {
  t.diagnostic(`chdb engine ${ch.version}`);
  // log OFF: the client would log the errors this test provokes on purpose.
  const client = createClient({ url: ch.url, compression: { request: true, response: true }, log: { level: ClickHouseLogLevel.OFF } });
  try {
    assert.equal((await client.ping()).success, true);
    await client.command({ query: OTEL_TRACES_DDL });
    await client.insert({
      table: 'otel_traces', format: 'JSONEachRow',
      values: [{
        Timestamp: '2026-11-24 12:00:00.123456789', TraceId: '5b8efff798038103d269b633813fc60c', SpanId: 'eee19b7ec3c1b174',
        ParentSpanId: '', TraceState: '', SpanName: 'GET /users', SpanKind: 'SPAN_KIND_SERVER', ServiceName: 'peers-smoke',
        ResourceAttributes: { 'service.name': 'peers-smoke' }, ScopeName: 'sonde', ScopeVersion: '0.1.0',
        SpanAttributes: { 'http.response.status_code': '200', 'http.request.method': 'GET' }, Duration: 1500000,
        StatusCode: 'STATUS_CODE_UNSET', StatusMessage: '',
        'Events.Timestamp': ['2026-11-24 12:00:00.200000000'], 'Events.Name': ['retry'], 'Events.Attributes': [{ attempt: '1' }],
        'Links.TraceId': [], 'Links.SpanId': [], 'Links.TraceState': [], 'Links.Attributes': [],
      }],
    });
    const rs = await client.query({
      query: 'SELECT SpanName, SpanAttributes[{key:String}] AS status, Duration, Events.Name AS events, toString(Timestamp) AS ts FROM otel_traces WHERE ServiceName = {svc:String}',
      query_params: { key: 'http.response.status_code', svc: 'peers-smoke' },
      format: 'JSONEachRow',
    });
    // ClickHouse 26.x no longer quotes 64-bit integers in JSON by default (older servers did).
    assert.deepEqual(await rs.json(), [{ SpanName: 'GET /users', status: '200', Duration: 1500000, events: ['retry'], ts: '2026-11-24 12:00:00.123456789' }]);
    const quoted = await client.query({
      query: 'SELECT Duration FROM otel_traces', format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
    });
    assert.deepEqual(await quoted.json(), [{ Duration: '1500000' }], 'clickhouse_settings reach the engine');
    const unquoted = await client.query({ query: 'SELECT Duration FROM otel_traces', format: 'JSONEachRow' });
    assert.deepEqual(await unquoted.json(), [{ Duration: 1500000 }], 'settings do not leak into the next request');

    const multipart = await client.query({
      query: 'SELECT {x:UInt32} + 1 AS y, {s:String} AS s', query_params: { x: 41, s: "it's" }, format: 'JSONEachRow', use_multipart_params: true,
    });
    assert.deepEqual(await multipart.json(), [{ y: 42, s: "it's" }], 'multipart/form-data query + params');
    const escaped = await client.query({
      query: 'SELECT {s:String} AS s, {a:Array(String)} AS a, {n:Nullable(String)} AS n', format: 'JSONEachRow',
      query_params: { s: 'tab\there \\ it\'s', a: ["it's", 'b\\c'], n: null },
    });
    assert.deepEqual(await escaped.json(), [{ s: 'tab\there \\ it\'s', a: ["it's", 'b\\c'], n: null }], 'param values arrive unescaped once');
    await assert.rejects(client.query({ query: 'SELECT {s:String}' }), (e: Error & { code?: string }) => e.code === '456',
      'a parameter from an earlier request does not leak into this one');
    const gz = await fetch(`${ch.url}/?query=${encodeURIComponent('SELECT sum(number) FROM numbers(')}`, {
      method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: gzipSync('10)'),
    });
    assert.equal(await gz.text(), '45\n', 'gzip request body, continuing the ?query= text');

    await assert.rejects(client.query({ query: 'SELEC 1' }), (e: Error & { code?: string; type?: string }) => {
      assert.equal(e.code, '62');
      assert.equal(e.type, 'SYNTAX_ERROR');
      return true;
    });
    const raw = await fetch(`${ch.url}/?query=${encodeURIComponent('SELECT * FROM nope')}`);
    assert.equal(raw.status, 404);
    assert.equal(raw.headers.get('x-clickhouse-exception-code'), '60');
    assert.match(await raw.text(), /^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version /);
    assert.equal(await ch.sql('SELECT count() FROM otel_traces'), '1\n');

    const port = ch.port;
    await ch.halt();
    assert.equal((await client.ping()).success, false);
    await timed(t, 'clickhouse restart', () => ch.restart());
    assert.equal(ch.port, port);
    const after = await client.query({ query: 'SELECT count() AS n FROM otel_traces', format: 'JSONEachRow' });
    assert.deepEqual(await after.json(), [{ n: 1 }], 'data survived the restart');
  } finally {
    await client.close();
  }
}));

// ---- The exit hook ----

void test('exit hook: a test process that crashes or is killed leaves no server behind', async () => {
  const index = new URL('../peers/index.js', import.meta.url).href;
  for (const how of ['uncaught exception', 'SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const m = await import(${JSON.stringify(index)});
      const r = await m.startRedis();
      console.log(JSON.stringify({ pid: r.pid, dir: r.dir, port: r.port }));
      ${how === 'uncaught exception' ? "setTimeout(() => { throw new Error('simulated crash'); }, 20);" : 'setInterval(() => {}, 1000);'}
    `], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = once(child, 'exit');
    const [line] = await once(createInterface({ input: child.stdout }), 'line') as [string];
    const info = JSON.parse(line) as { pid: number; dir: string; port: number };
    if (how !== 'uncaught exception') child.kill(how);
    await exited;
    await pollUntil(`redis pid ${info.pid} gone after ${how}`, () => !pidAlive(info.pid), 5000);
    assert.equal(existsSync(info.dir), false, `${how}: temp dir removed`);
    // the listener goes with the server's last descriptor; polled like the pid (once, a single check
    // right after the pid was gone found the port still bound)
    await pollUntil(`${how}: port ${info.port} free`, () => tcpPortFree(info.port), 5000);
  }
});

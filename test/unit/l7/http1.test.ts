// HTTP/1.x parser on recorded conversations (test/fixtures/l7/http1) and on hand-made edge cases:
// exact attributes, pipelining, split heads, chunked bodies, truncated captures, resync, bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Session, http1Parser } from '../../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import type { L7Record, ParserOptions } from '../../../src/receivers/ebpf/l7/types.js';
import { DEFAULT_PARSER_OPTIONS, Direction } from '../../../src/receivers/ebpf/l7/types.js';
import type { FixtureChunk } from './fixtures.js';
import { loadFixture } from './fixtures.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Feeds a conversation, each chunk's capture cut to `capture` bytes (the kernel's copy limit). */
function run(chunks: readonly FixtureChunk[], opts: Partial<ParserOptions> = {}, capture = Infinity, closeAt?: number): { records: L7Record[]; session: Http1Session } {
  const session = new Http1Session({ ...DEFAULT_PARSER_OPTIONS, ...opts });
  const records: L7Record[] = [];
  for (const c of chunks) session.feed(c.dir, c.bytes.subarray(0, Math.min(capture, c.bytes.length)), c.bytes.length, c.tsNs, records);
  if (closeAt !== undefined) session.close(closeAt, records);
  return { records, session };
}

function summary(r: L7Record): string {
  return `${r.attributes['http.request.method']} ${r.attributes['url.path']} ${r.statusLabel}`;
}

test('curl → nginx keep-alive: five exchanges with exact attributes, sizes and kernel timestamps', () => {
  const f = loadFixture('http1', 'curl-nginx-keepalive');
  const { records } = run(f);
  assert.deepEqual(records.map(summary), ['GET /ok 200', 'GET /notfound 404', 'GET /chunked 200', 'GET /users/42 200', 'GET /error 500']);
  const [ok, nf, ch, users, err] = records;
  const port = ok.attributes['server.port'];
  assert.ok(typeof port === 'number' && port > 1024);
  assert.deepEqual(ok.attributes, {
    'http.request.method': 'GET', 'url.path': '/ok', 'url.scheme': 'http', 'http.response.status_code': 200,
    'server.address': '127.0.0.1', 'server.port': port, 'network.protocol.version': '1.1',
    'http.response.body.size': 3, 'user_agent.original': 'curl/7.88.1',
  });
  assert.equal(ok.name, 'GET');
  assert.equal(ok.protocol, 'http');
  assert.equal(ok.status, 'ok');
  assert.equal(ok.errorType, undefined);
  assert.equal(ok.startNs, f[0].tsNs);
  assert.equal(ok.endNs, f[1].tsNs);
  // each chunk of this recording is exactly one message
  assert.deepEqual(records.map((r) => r.requestSize), [0, 2, 4, 6, 8].map((i) => f[i].bytes.length));
  assert.deepEqual(records.map((r) => r.responseSize), [1, 3, 5, 7, 9].map((i) => f[i].bytes.length));
  assert.equal(nf.attributes['http.response.body.size'], 153);
  assert.equal(nf.status, 'error');
  assert.equal(nf.errorType, '404');
  assert.equal(nf.clientFault, true);
  assert.equal(ch.attributes['http.response.body.size'], 5 + 644 + 2 + 5); // chunked: the body on the wire, framing included
  assert.equal(users.attributes['url.query'], undefined, 'query strings are dropped by default');
  assert.equal(err.status, 'error');
  assert.equal(err.errorType, '500');
  assert.equal(err.clientFault, undefined);
  for (const r of records) assert.equal(r.incomplete, undefined);
});

test('keepQueryString keeps url.query (fragment never)', () => {
  const { records } = run(loadFixture('http1', 'curl-nginx-keepalive'), { keepQueryString: true });
  assert.equal(records[3].attributes['url.query'], 'token=secret&page=2');
  assert.equal(records[0].attributes['url.query'], undefined);
});

test('HEAD: Content-Length without a body; HTTP/1.0; POST body size', () => {
  const head = run(loadFixture('http1', 'curl-nginx-head')).records;
  assert.deepEqual(head.map(summary), ['HEAD /ok 200']);
  assert.equal(head[0].attributes['http.response.body.size'], undefined);
  const h10 = run(loadFixture('http1', 'curl-nginx-http10')).records;
  assert.deepEqual(h10.map(summary), ['GET /ok 200']);
  assert.equal(h10[0].attributes['network.protocol.version'], '1.0');
  const post = run(loadFixture('http1', 'curl-nginx-post')).records;
  assert.deepEqual(post.map(summary), ['POST /ok 200']);
  assert.equal(post[0].attributes['http.request.body.size'], 3000);
});

test('wrk pipelining: three requests per write, three responses per read, matched FIFO', () => {
  const f = loadFixture('http1', 'wrk-nginx-pipelined');
  const { records, session } = run(f);
  assert.deepEqual(records.map(summary), Array.from({ length: 3 }, () => ['GET /ok 200', 'GET /notfound 404', 'GET /chunked 200']).flat());
  assert.equal(session.pendingRequests(), 0);
  for (let b = 0; b < 3; b++) {
    for (let k = 0; k < 3; k++) {
      assert.equal(records[b * 3 + k].startNs, f[b * 2].tsNs);
      assert.equal(records[b * 3 + k].endNs, f[b * 2 + 1].tsNs);
    }
  }
});

test('Node client → Node server: traceparent, chunked request, 201 chunked, 204, 304, 100-continue, 500, 20 kB', () => {
  const f = loadFixture('http1', 'node-keepalive');
  const { records } = run(f);
  assert.deepEqual(records.map(summary), ['GET /users/123 200', 'POST /upload 201', 'GET /empty 204', 'GET /cached 304', 'PUT /expect 200', 'GET /fail 500', 'GET /big 200']);
  const [users, upload, empty, cached, expect, fail, big] = records;
  assert.equal(users.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
  assert.equal(users.tracestate, 'congo=t61rcWkgMzE');
  assert.equal(users.attributes['http.response.body.size'], 10);
  assert.equal(upload.traceparent, undefined);
  // 1500 + 700 bytes of data in two chunks: "5dc\r\n…\r\n" + "2bc\r\n…\r\n0\r\n\r\n"
  assert.equal(upload.attributes['http.request.body.size'], 5 + 1500 + 2 + 5 + 700 + 2 + 5);
  assert.ok((upload.attributes['http.response.body.size'] as number) > 0);
  assert.equal(upload.endNs, f[4].tsNs);
  assert.equal(empty.attributes['http.response.body.size'], undefined);
  assert.equal(cached.attributes['http.response.body.size'], undefined);
  assert.equal(expect.attributes['http.request.body.size'], 64);
  assert.equal(fail.status, 'error');
  assert.equal(big.attributes['http.response.body.size'], 20000);
  assert.equal(big.endNs, f[f.length - 1].tsNs);
});

test('HTTP/1.0 response without length ends when the connection closes', () => {
  const f = loadFixture('http1', 'node-http10-eof');
  const { records: before } = run(f);
  assert.equal(before.length, 0, 'not complete until EOF');
  const { records } = run(f, {}, Infinity, f[2].tsNs + 5000);
  assert.deepEqual(records.map(summary), ['GET /stream 200']);
  assert.equal(records[0].endNs, f[2].tsNs, 'ends at the last byte seen, not at the close');
  assert.equal(records[0].attributes['http.response.body.size'], 18);
  assert.equal(records[0].attributes['user_agent.original'], 'raw-socket/1.0');
  assert.equal(records[0].incomplete, undefined);
});

const ALL = ['curl-nginx-keepalive', 'curl-nginx-head', 'curl-nginx-post', 'curl-nginx-http10', 'wrk-nginx-pipelined', 'node-keepalive', 'node-http10-eof', 'node-chain-front', 'node-chain-backend'];

function strip(r: L7Record): unknown {
  return { ...r, startNs: 0, endNs: 0 };
}

test('every fixture split at every byte position gives the same records (split heads, split chunk framing)', () => {
  for (const name of ALL) {
    const f = loadFixture('http1', name);
    const want = run(f, {}, Infinity, 1e12).records.map(strip);
    for (let ci = 0; ci < f.length; ci++) {
      const c = f[ci];
      const step = c.bytes.length > 2000 ? 97 : 1;
      for (let at = 1; at < c.bytes.length; at += step) {
        const split = [...f.slice(0, ci), { ...c, bytes: c.bytes.subarray(0, at) }, { ...c, bytes: c.bytes.subarray(at) }, ...f.slice(ci + 1)];
        assert.deepEqual(run(split, {}, Infinity, 1e12).records.map(strip), want, `${name} chunk ${ci} split at ${at}`);
      }
    }
    // and byte by byte
    const bytes = f.flatMap((c) => Array.from(c.bytes, (b) => ({ dir: c.dir, tsNs: c.tsNs, bytes: Uint8Array.of(b) })));
    assert.deepEqual(run(bytes, {}, Infinity, 1e12).records.map(strip), want, `${name} byte by byte`);
  }
});

test('1 KiB captures (the kernel default): bodies are skipped across the gaps, every record survives', () => {
  for (const name of ALL) {
    const f = loadFixture('http1', name);
    const full = run(f, {}, Infinity, 1e12).records;
    const cut = run(f, {}, 1024, 1e12).records;
    assert.deepEqual(cut, full, name);
  }
});

test('tiny captures cut every head: method, path and status still come out, framing resyncs', () => {
  const f = loadFixture('http1', 'curl-nginx-keepalive');
  const { records, session } = run(f, {}, 40, f[9].tsNs + 1);
  assert.deepEqual(records.map(summary), ['GET /ok 200', 'GET /notfound 404', 'GET /chunked 200', 'GET /users/42 200', 'GET /error 500']);
  assert.equal(records[0].endNs, f[1].tsNs);
  assert.equal(records[4].endNs, f[9].tsNs);
  assert.ok(session.stats.truncatedHeads >= 10);
  const piped = run(loadFixture('http1', 'wrk-nginx-pipelined'), {}, 60, 1e12).records;
  // of each pipelined write only /ok and the start of /notfound are visible; of each read only the start of
  // the /ok response: /notfound was answered inside the gap and comes out incomplete (never mismatched)
  assert.deepEqual(piped.map(summary), Array.from({ length: 3 }, () => ['GET /ok 200', 'GET /notfound unknown']).flat());
});

test('a gap inside chunked framing loses sync; the next response resynchronises', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('GET /a HTTP/1.1\r\n\r\n'), 19, 1, out);
  const head = enc('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  s.feed(Direction.Response, head, head.length + 50, 2, out); // "\r\n" + next size line in the gap
  s.feed(Direction.Response, enc('more body bytes'), 15, 3, out);
  assert.equal(out.length, 0);
  s.feed(Direction.Request, enc('GET /b HTTP/1.1\r\n\r\n'), 19, 4, out);
  assert.deepEqual(out.map(summary), ['GET /a 200']);
  assert.equal(out[0].endNs, 3, 'ends at the last response bytes seen');
  s.feed(Direction.Response, enc('HTTP/1.1 204 No Content\r\n\r\n'), 27, 5, out);
  assert.deepEqual(out.map(summary), ['GET /a 200', 'GET /b 204']);
});

test('chunk extensions and trailers', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('POST /t HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nGET /u HTTP/1.1\r\n\r\n'), 1000, 1, out);
  s.feed(Direction.Response, enc('HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 1000, 2, out);
  assert.deepEqual(out.map(summary), ['POST /t 200', 'GET /u 200']);
  assert.equal(out[0].attributes['http.request.body.size'], 29);
});

test('garbage and mid-stream starts: skipped until a chunk starts like a message', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('tail of some body\r\n\r\n'), 21, 1, out);
  s.feed(Direction.Response, enc('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 40, 2, out); // answers a request we never saw
  s.feed(Direction.Request, enc('\x00\x01\x02GET / HTTP/1.1\r\n\r\n'), 21, 3, out);
  s.feed(Direction.Request, enc('GET /real HTTP/1.1\r\nHost: h\r\n\r\n'), 31, 4, out);
  s.feed(Direction.Response, enc('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 38, 5, out);
  assert.deepEqual(out.map(summary), ['GET /real 200']);
  assert.equal(s.stats.unmatchedResponses, 1);
});

test('unknown methods become _OTHER (span name HTTP); absolute-form targets; IPv6 Host', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('PURGE /cache HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n'), 42, 1, out);
  s.feed(Direction.Response, enc('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 38, 2, out);
  s.feed(Direction.Request, enc('GET http://example.com:81/p/q?x=1 HTTP/1.1\r\n\r\n'), 47, 3, out);
  s.feed(Direction.Response, enc('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'), 38, 4, out);
  assert.equal(out[0].name, 'HTTP');
  assert.equal(out[0].attributes['http.request.method'], '_OTHER');
  assert.equal(out[0].attributes['http.request.method_original'], 'PURGE');
  assert.equal(out[0].attributes['server.address'], '::1');
  assert.equal(out[0].attributes['server.port'], 8080);
  assert.equal(out[1].attributes['url.path'], '/p/q');
  assert.equal(out[1].attributes['server.address'], 'example.com');
  assert.equal(out[1].attributes['server.port'], 81);
});

test('101 Switching Protocols: the rest of the connection is not parsed', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'), 61, 1, out);
  s.feed(Direction.Response, enc('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'), 63, 2, out);
  s.feed(Direction.Request, enc('GET /not-http-any-more HTTP/1.1\r\n\r\n'), 35, 3, out);
  s.close(4, out);
  assert.deepEqual(out.map(summary), ['GET /ws 101']);
});

test('requests without responses: expire after the timeout, close emits the rest (incomplete)', () => {
  const s = new Http1Session({ ...DEFAULT_PARSER_OPTIONS, requestTimeoutNs: 1000 });
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('GET /slow HTTP/1.1\r\n\r\n'), 22, 100, out);
  s.feed(Direction.Request, enc('GET /later HTTP/1.1\r\n\r\n'), 23, 5000, out);
  s.expire(1000, out);
  assert.equal(out.length, 0);
  s.expire(1200, out);
  assert.deepEqual(out.map(summary), ['GET /slow unknown']);
  assert.equal(out[0].incomplete, true);
  assert.equal(out[0].status, 'unknown');
  assert.equal(out[0].responseSize, -1);
  s.close(5500, out);
  assert.deepEqual(out.map(summary), ['GET /slow unknown', 'GET /later unknown']);
  assert.equal(out[1].endNs, 5500);
});

test('a head longer than maxBufferedBytes is cut at the cap and parsed partially; the buffer stays bounded', () => {
  const s = new Http1Session({ ...DEFAULT_PARSER_OPTIONS, maxBufferedBytes: 256 });
  const out: L7Record[] = [];
  s.feed(Direction.Request, enc('GET /big-cookie HTTP/1.1\r\nCookie: '), 35, 1, out);
  for (let i = 0; i < 20; i++) {
    s.feed(Direction.Request, enc('x'.repeat(100)), 100, 2 + i, out);
    assert.ok(s.bufferedBytes() <= 256);
  }
  s.feed(Direction.Request, enc('\r\n\r\n'), 4, 30, out);
  s.feed(Direction.Response, enc('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 38, 31, out);
  assert.deepEqual(out.map(summary), ['GET /big-cookie 200']);
  assert.equal(s.bufferedBytes(), 0);
});

test('more pipelined requests than the cap: the oldest are emitted as incomplete', () => {
  const s = new Http1Session(DEFAULT_PARSER_OPTIONS);
  const out: L7Record[] = [];
  for (let i = 0; i < 70; i++) s.feed(Direction.Request, enc(`GET /${i} HTTP/1.1\r\n\r\n`), 100, i, out);
  assert.equal(out.length, 6);
  assert.ok(out.every((r) => r.incomplete === true));
  assert.equal(s.pendingRequests(), 64);
});

test('detect: request methods client→server, status lines server→client', () => {
  assert.equal(http1Parser.detect(enc('GET / HTTP/1.1\r\n'), Direction.Request), true);
  assert.equal(http1Parser.detect(enc('OPTIONS * HTTP/1.1\r\n'), Direction.Request), true);
  assert.equal(http1Parser.detect(enc('HTTP/1.1 200 OK\r\n'), Direction.Response), true);
  assert.equal(http1Parser.detect(enc('HTTP/1.1 200 OK\r\n'), Direction.Request), false);
  assert.equal(http1Parser.detect(enc('GETX / HTTP/1.1'), Direction.Request), false);
  assert.equal(http1Parser.detect(enc('PRI * HTTP/2.0\r\n'), Direction.Request), false);
  assert.equal(http1Parser.detect(new Uint8Array(0), Direction.Request), false);
});

test('feedRange (views into a larger buffer, as the receiver passes its ring batch) gives what feed gives', () => {
  for (const name of ALL) {
    const f = loadFixture('http1', name);
    for (const capture of [Infinity, 1024, 40]) {
      const want = run(f, {}, capture, 1e12).records;
      const session = new Http1Session(DEFAULT_PARSER_OPTIONS);
      const got: L7Record[] = [];
      let k = 0;
      for (const c of f) {
        const cap = c.bytes.subarray(0, Math.min(capture, c.bytes.length));
        // the capture at an offset in a batch of other bytes (HTTP-looking ones, to catch a read outside the range)
        const pad = (k++ * 37) % 200;
        const batch = new Uint8Array(pad + cap.length + 64).fill(0x47);
        batch.set(enc('HTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1\r\n\r\n').subarray(0, Math.min(pad, 34)), 0);
        batch.set(cap, pad);
        batch.set(enc('GET /outside HTTP/1.1\r\n\r\n'), pad + cap.length);
        session.feedRange(c.dir, batch, pad, pad + cap.length, c.bytes.length, c.tsNs, got);
      }
      session.close(1e12, got);
      assert.deepEqual(got, want, `${name} capture ${capture}`);
    }
  }
});

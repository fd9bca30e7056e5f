// HTTP/1 spans carry their attributes as shared immutable parts (the parser's per-request-shape part and the
// span factory's per-connection part): what they export and what `attributes` reads must be exactly what a
// plain attributes object gives, in the same order; reading `attributes` makes the object, which is then the
// truth (a processor may change it) without touching the parts other spans share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OtlpTraceEncoder } from '../../../src/internal/otlp/traces-encoder.js';
import type { SpanRecord } from '../../../src/pdata/traces.js';
import { SpanKind } from '../../../src/pdata/traces.js';
import { L7Pipeline } from '../../../src/receivers/ebpf/l7/pipeline.js';
import { http1Parser } from '../../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import { ParserRegistry } from '../../../src/receivers/ebpf/l7/registry.js';
import type { L7Record, ParserSession, ProtocolParser } from '../../../src/receivers/ebpf/l7/types.js';
import { Direction } from '../../../src/receivers/ebpf/l7/types.js';
import { FAKE_CLOCK, HOST, conn } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The HTTP/1 parser with its records' attributes as a fresh plain object each (what it made before parts). */
const plainHttp: ProtocolParser = {
  name: 'http',
  detect: (first, dir) => http1Parser.detect(first, dir),
  newSession(opts): ParserSession {
    const s = http1Parser.newSession(opts);
    const strip = (out: L7Record[], from: number): void => {
      for (let i = from; i < out.length; i++) {
        const r = out[i];
        if (r.attributePart !== undefined) out[i] = { ...r, attributes: { ...r.attributes }, attributePart: undefined };
      }
    };
    return {
      feed(dir, captured, length, tsNs, out) { const n = out.length; s.feed(dir, captured, length, tsNs, out); strip(out, n); },
      expire(nowNs, out) { const n = out.length; s.expire(nowNs, out); strip(out, n); },
      close(tsNs, out) { const n = out.length; s.close(tsNs, out); strip(out, n); },
    };
  },
};

/** Keep-alive client and server ends of varied requests (repeats, errors, Host with and without port, no Host, query, bodies). */
function drive(p: L7Pipeline): void {
  const c = conn('client', 100, '10.0.0.1:45000', '10.0.0.2:8080');
  const s = conn('server', 200, '10.0.0.2:8080', '10.0.0.1:45000');
  const c2 = conn('client', 100, '10.0.0.1:45002', '10.0.0.3:80', { actualRemoteIp: '10.9.9.9', actualRemotePort: 8081 });
  p.open(c);
  p.open(s);
  p.open(c2);
  const users1: [string, string] = ['GET /users/1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: wrk\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'];
  const exchanges: Array<[string, string]> = [
    users1, users1, users1, users1,
    ['GET /users/2?x=1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: wrk\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['POST /users HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\r\nabc', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ['POST /users HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\r\nabc', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'],
    ['POST /users HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\r\nabc', 'HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n'],
    ['GET /users/1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: wrk\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['GET /nohost HTTP/1.0\r\n\r\n', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
    ['GET /nohost HTTP/1.0\r\n\r\n', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
    ['GET /nohost HTTP/1.0\r\n\r\n', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
    ['GET /nohost HTTP/1.0\r\n\r\n', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
    ['FOO /odd HTTP/1.1\r\nHost: api:8080\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ];
  let t = 5_000_000_000;
  for (const [req, resp] of exchanges) {
    for (const [cc, sc] of [[c, s], [c2, undefined]] as const) {
      p.chunk(cc.id, true, t, 101, enc(req), req.length);
      if (sc) p.chunk(sc.id, false, t + 10_000, 0, enc(req), req.length);
      if (sc) p.chunk(sc.id, true, t + 50_000, 201, enc(resp), resp.length);
      p.chunk(cc.id, false, t + 60_000, 0, enc(resp), resp.length);
      t += 1_000_000;
    }
  }
  // a request that is never answered (incomplete), twice
  p.chunk(c.id, true, t, 101, enc('GET /slow HTTP/1.1\r\nHost: api:8080\r\n\r\n'), 38);
  p.close(c.id, t + 1_000);
  p.close(s.id, t + 1_000);
  p.close(c2.id, t + 1_000);
}

function spansOf(registry?: ParserRegistry): SpanRecord[] {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK, registry, parser: { keepQueryString: true } });
  drive(p);
  const spans = p.tick(1e12, true) as SpanRecord[];
  // ids of roots are random: make them equal on both sides
  spans.forEach((s, i) => {
    s.traceId = (i + 1).toString(16).padStart(32, '0');
    s.spanId = (i + 1).toString(16).padStart(16, '0');
    if (s.parentSpanId) s.parentSpanId = 'ff'.padStart(16, '0');
  });
  return spans;
}

test('HTTP/1 spans with shared parts export the same bytes and read the same attributes, in the same order, as with plain objects', () => {
  const shared = spansOf();
  const plain = spansOf(new ParserRegistry().register(plainHttp));
  assert.equal(shared.length, 43); // 14 exchanges × 3 ends + the unanswered request
  assert.equal(plain.length, shared.length);
  const n = shared.filter((s) => s.attributesIfPlain === null && s.part0 !== null && s.part1 !== null).length;
  assert.ok(n > 10 && n < shared.length, `${n} spans hold parts (the others: first of their shape, or the parser backed off)`);
  assert.ok(plain.every((s) => s.attributesIfPlain !== null));
  // repeated requests share their parts
  assert.ok(new Set(shared.map((s) => s.part0)).size < shared.length);
  assert.ok(new Set(shared.map((s) => s.part1)).size < shared.length);
  const e1 = new OtlpTraceEncoder();
  const e2 = new OtlpTraceEncoder();
  const want = Buffer.from(e2.encode(plain));
  // first, second (the parts cache their bytes) and third encoding
  for (let i = 0; i < 3; i++) assert.deepEqual(Buffer.from(e1.encode(shared)), want, `encoding ${i + 1}`);
  shared.forEach((s, i) => assert.deepEqual(Object.entries(s.attributes), Object.entries(plain[i].attributes), `span ${i} (${s.name})`));
  // after materialisation the plain path gives the same bytes
  assert.deepEqual(Buffer.from(e1.encode(shared)), want);
  // what the comparison covered
  const all = shared.map((s) => s.attributes);
  assert.ok(all.some((a) => a['error.type'] === '503') && all.some((a) => a['sonde.l7.incomplete'] === true));
  assert.ok(all.some((a) => a['url.full'] === 'http://api/users' && a['server.port'] === 80));
  assert.ok(all.some((a) => a['url.full'] === 'http://10.9.9.9:8081/nohost'));
  assert.ok(all.some((a) => a['url.query'] === 'x=1'));
});

test('reading attributes makes one plain object that is then the truth; the shared parts stay as they were', () => {
  const spans = spansOf().filter((s) => s.kind === SpanKind.SERVER && s.part0?.values['url.path'] === '/users/1');
  const [a, b] = spans;
  assert.equal(a.part0, b.part0, 'two identical requests share the parser part');
  const part0 = a.part0 as NonNullable<typeof a.part0>;
  const before = Object.entries(part0.values);
  const enc = new OtlpTraceEncoder();
  const bBytes = Buffer.from(enc.encode([b]));
  const attrs = a.attributes;
  assert.equal(a.attributes, attrs, 'one object, made once');
  assert.ok(!Object.isFrozen(attrs));
  assert.equal(a.attributesIfPlain, attrs);
  attrs['http.response.status_code'] = 299;
  attrs['k8s.pod.name'] = 'p';
  delete attrs['user_agent.original'];
  const d = enc.encode([a]).toString('latin1');
  assert.ok(d.includes('k8s.pod.name') && !d.includes('user_agent.original'), 'the export follows the changed object');
  assert.deepEqual(Object.entries(part0.values), before, 'the part is unchanged');
  assert.ok(Object.isFrozen(part0.values));
  assert.deepEqual(Buffer.from(enc.encode([b])), bBytes, 'the other span exports as before');
  assert.equal(b.attributes['user_agent.original'], 'wrk');
  // assigning attributes replaces the parts
  b.attributes = { only: 'this' };
  assert.equal(b.part0, null);
  assert.deepEqual(b.attributes, { only: 'this' });
});

test('clone() shares the parts of a span that has not made its object; each copy then makes its own', () => {
  const s = spansOf()[0];
  const c = s.clone();
  assert.equal(c.part0, s.part0);
  assert.equal(c.part1, s.part1);
  c.attributes['added'] = 1;
  assert.equal(s.attributes['added'], undefined);
  assert.deepEqual(Object.entries(s.attributes), Object.entries(c.attributes).filter(([k]) => k !== 'added'));
  const c2 = s.clone(); // from the plain object now
  assert.notEqual(c2.attributes, s.attributes);
  assert.deepEqual(c2.attributes, s.attributes);
});

test('the HTTP/1 parser reuses its attribute part while the request shape repeats', () => {
  const sess = http1Parser.newSession({ keepQueryString: false, keepSqlLiterals: false, recordKeys: false, maxBufferedBytes: 16384, requestTimeoutNs: 60e9 });
  const out: L7Record[] = [];
  const ex = (req: string, resp: string): void => {
    sess.feed(Direction.Request, enc(req), req.length, 1, out);
    sess.feed(Direction.Response, enc(resp), resp.length, 2, out);
  };
  const a = ['GET /a HTTP/1.1\r\nHost: h\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'] as const;
  const b = ['GET /a HTTP/1.1\r\nHost: h\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy'] as const;
  for (const [req, resp] of [a, a, a, a, b, b, ['GET /a?q=1 HTTP/1.1\r\nHost: h\r\n\r\n', b[1]]]) ex(req, resp);
  assert.equal(out.length, 7);
  assert.equal(out[0].attributePart, undefined, 'the first exchange of a session: a plain object');
  assert.equal(out[1].attributePart, undefined, 'values seen once: a plain object');
  assert.ok(out[2].attributePart !== undefined, 'seen twice: a part');
  assert.equal(out[3].attributePart, out[2].attributePart);
  assert.equal(out[4].attributePart, undefined, 'another body size');
  assert.ok(out[5].attributePart !== undefined && out[5].attributePart !== out[2].attributePart);
  assert.equal(out[6].attributePart, out[5].attributePart, 'the query is not kept: same attributes');
  assert.equal(out[2].attributes, out[2].attributePart?.values);
  assert.ok(Object.isFrozen(out[2].attributes) && !Object.isFrozen(out[1].attributes));
  assert.deepEqual(out[1].attributes, out[2].attributes);
  assert.deepEqual(out[5].attributes, { 'http.request.method': 'GET', 'url.path': '/a', 'url.scheme': 'http', 'http.response.status_code': 200, 'server.address': 'h', 'network.protocol.version': '1.1', 'http.response.body.size': 2 });
});

test('the HTTP/1 parser backs off from parts while the attributes keep changing, then tries again', () => {
  const sess = http1Parser.newSession({ keepQueryString: false, keepSqlLiterals: false, recordKeys: false, maxBufferedBytes: 16384, requestTimeoutNs: 60e9 });
  const out: L7Record[] = [];
  for (let i = 0; i < 80; i++) {
    const req = `GET /items/${i} HTTP/1.1\r\nHost: h\r\n\r\n`;
    const resp = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    sess.feed(Direction.Request, enc(req), req.length, 1, out);
    sess.feed(Direction.Response, enc(resp), resp.length, 2, out);
  }
  assert.equal(out.length, 80);
  assert.ok(out.every((r) => r.attributePart === undefined), 'no shape repeats: no part');
  out.forEach((r, i) => {
    assert.deepEqual(r.attributes, { 'http.request.method': 'GET', 'url.path': `/items/${i}`, 'url.scheme': 'http', 'http.response.status_code': 200, 'server.address': 'h', 'network.protocol.version': '1.1' });
    assert.equal(Object.isFrozen(r.attributes), r.attributePart !== undefined);
  });
  // a repeating shape after that gets parts again
  for (let i = 0; i < 40; i++) {
    const req = 'GET /same HTTP/1.1\r\nHost: h\r\n\r\n';
    const resp = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    sess.feed(Direction.Request, enc(req), req.length, 1, out);
    sess.feed(Direction.Response, enc(resp), resp.length, 2, out);
  }
  const last = out.slice(-5);
  assert.ok(last.every((r) => r.attributePart !== undefined && r.attributePart === last[0].attributePart));
});

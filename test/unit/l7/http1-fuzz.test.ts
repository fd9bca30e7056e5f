// Fuzzes the HTTP/1 parser with ≥ 100k mutated conversations (SONDE_FUZZ_ITERATIONS for more): seeds are the
// recorded fixtures plus hand-made edge cases. No throw, no hang, and bounded memory: after every feed a
// session holds at most maxBufferedBytes per direction and at most 64 pending requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Http1Session } from '../../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import { http1Parser } from '../../../src/receivers/ebpf/l7/protocols/http1/parser.js';
import type { L7Record, ParserOptions, ParserSession, ProtocolParser } from '../../../src/receivers/ebpf/l7/types.js';
import { DEFAULT_PARSER_OPTIONS, Direction } from '../../../src/receivers/ebpf/l7/types.js';
import type { Chunk } from '../../helpers/fuzz.js';
import { fuzzIterations, fuzzParser } from '../../helpers/fuzz.js';
import { loadFixture } from './fixtures.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const FIXTURES = ['curl-nginx-keepalive', 'curl-nginx-head', 'curl-nginx-post', 'curl-nginx-http10', 'wrk-nginx-pipelined', 'node-keepalive', 'node-http10-eof', 'node-chain-front', 'node-chain-backend'];

function seeds(): Chunk[][] {
  const out: Chunk[][] = FIXTURES.map((n) => loadFixture('http1', n).map((c) => ({ dir: c.dir, bytes: c.bytes })));
  const req = (s: string): Chunk => ({ dir: Direction.Request, bytes: enc(s) });
  const res = (s: string, length?: number): Chunk => ({ dir: Direction.Response, bytes: enc(s), length });
  out.push([req('POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n'), res('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n')]);
  out.push([req('GET /a HTTP/1.1\r\nHost: [::1]:80\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n'), res('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nxx', 5040), res('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n')]);
  out.push([req('CONNECT example.com:443 HTTP/1.1\r\n\r\n'), res('HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01')]);
  out.push([req('GET / HTTP/1.0\r\n\r\n'), res('HTTP/1.0 200 OK\r\n\r\nbody until close')]);
  out.push([req('GET /c HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc'), res('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')]);
  return out;
}

/** Wraps the parser so every session is checked after every call. */
function checked(opts: ParserOptions, stats: { feeds: number; maxBuffered: number }): ProtocolParser {
  return {
    name: http1Parser.name,
    detect: http1Parser.detect,
    newSession(o: ParserOptions): ParserSession {
      const s = http1Parser.newSession(o) as Http1Session;
      const check = (): void => {
        const b = s.bufferedBytes();
        if (b > 2 * opts.maxBufferedBytes) throw new Error(`buffered ${b} bytes > 2 × ${opts.maxBufferedBytes}`);
        if (s.pendingRequests() > 64) throw new Error(`${s.pendingRequests()} pending requests`);
        if (b > stats.maxBuffered) stats.maxBuffered = b;
      };
      return {
        feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void {
          stats.feeds++;
          s.feed(dir, captured, length, tsNs, out);
          check();
        },
        expire(nowNs: number, out: L7Record[]): void {
          s.expire(nowNs, out);
          check();
        },
        close(tsNs: number, out: L7Record[]): void {
          s.close(tsNs, out);
          check();
        },
      };
    },
  };
}

test('HTTP/1 fuzz: no throw, no hang, bounded buffers', () => {
  const iterations = fuzzIterations();
  const opts = { ...DEFAULT_PARSER_OPTIONS, maxBufferedBytes: 512 };
  const stats = { feeds: 0, maxBuffered: 0 };
  const heapBefore = process.memoryUsage().heapUsed;
  const r1 = fuzzParser(checked(opts, stats), seeds(), Math.ceil(iterations / 2), 1, opts);
  const r2 = fuzzParser(checked(DEFAULT_PARSER_OPTIONS, stats), seeds(), Math.floor(iterations / 2), 7_000_001, { ...DEFAULT_PARSER_OPTIONS, keepQueryString: true });
  const heapAfter = process.memoryUsage().heapUsed;
  assert.equal(r1.inputs + r2.inputs, iterations);
  assert.ok(r1.records + r2.records > iterations, 'mutations still parse most of the time');
  console.log(`http1 fuzz: ${iterations} inputs, ${stats.feeds} feeds, ${r1.records + r2.records} records, max buffered ${stats.maxBuffered} B, heap ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB`);
});

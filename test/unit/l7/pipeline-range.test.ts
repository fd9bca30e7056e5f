// L7Pipeline.chunkRange — what the receiver calls with views into its ring batch — gives the same spans as
// chunk() with the bytes on their own, for every shipped parser: HTTP reads the range in place
// (feedRange), the database parsers get a copy of it in a reused array.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnInfo } from '../../../src/receivers/ebpf/l7/conn.js';
import { L7Pipeline } from '../../../src/receivers/ebpf/l7/pipeline.js';
import { Direction } from '../../../src/receivers/ebpf/l7/types.js';
import { readdirSync } from 'node:fs';
import type { Conversation } from '../../helpers/l7-fixtures.js';
import { listFixtures, loadFixture } from '../../helpers/l7-fixtures.js';
import { loadFixture as loadHttpFixture } from './fixtures.js';
import { FAKE_CLOCK, HOST } from './helpers.js';

const PROTOS: [string, number][] = [['http', 80], ['postgresql', 5432], ['mysql', 3306], ['redis', 6379], ['memcached', 11211]];

function conversations(proto: string): Conversation[] {
  if (proto !== 'http') return listFixtures(proto).flatMap((s) => loadFixture(proto, s).connections);
  const dir = new URL('../../../../test/fixtures/l7/http1/', import.meta.url);
  return readdirSync(dir).filter((n) => n.endsWith('.bin')).map((n) => ({
    chunks: loadHttpFixture('http1', n.slice(0, -4)).map((c) => ({ dir: c.dir, tsNs: c.tsNs, bytes: c.bytes, length: c.bytes.length })),
  }));
}

function spans(proto: string, port: number, range: boolean): unknown[] {
  const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK });
  let id = 1;
  let k = 0;
  for (const conv of conversations(proto)) {
    const cport = 40000 + id;
    const client: ConnInfo = { id: id++, pid: 10, role: 'client', localIp: '10.0.0.1', localPort: cport, remoteIp: '10.0.0.5', remotePort: port, cgroupPath: '/app', fromStart: true };
    const server: ConnInfo = { id: id++, pid: 20, role: 'server', localIp: '10.0.0.5', localPort: port, remoteIp: '10.0.0.1', remotePort: cport, cgroupPath: '/db', fromStart: true };
    p.open(client);
    p.open(server);
    for (const c of conv.chunks) {
      for (const [cid, egress] of [[client.id, c.dir === Direction.Request], [server.id, c.dir !== Direction.Request]] as const) {
        if (!range) {
          p.chunk(cid, egress, 1e9 + c.tsNs, 0, c.bytes, c.length);
          continue;
        }
        // the bytes at an offset in a batch full of other records' bytes
        const pad = (k++ * 29) % 300;
        const batch = new Uint8Array(pad + c.bytes.length + 32).fill(0x2a);
        batch.set(c.bytes, pad);
        p.chunkRange(cid, egress, 1e9 + c.tsNs, 0, batch, pad, pad + c.bytes.length, c.length);
        batch.fill(0x2b); // nothing of the batch may be kept past the call
      }
    }
    p.close(client.id, 1e12);
    p.close(server.id, 1e12);
  }
  return p.tick(2e12, true).map((s) => ({ name: s.name, kind: s.kind, attributes: s.attributes, start: s.startTime, end: s.endTime, parent: s.parentSpanId !== '' }));
}

for (const [proto, port] of PROTOS) {
  test(`${proto}: chunkRange over a batch gives the spans chunk gives`, () => {
    const want = spans(proto, port, false);
    assert.ok(want.length > 0);
    assert.deepEqual(spans(proto, port, true), want);
  });
}

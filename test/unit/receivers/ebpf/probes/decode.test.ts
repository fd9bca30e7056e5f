// Probe decoders against ring-buffer batches recorded on a real kernel
// (scripts/record-ringbuf-fixtures.mjs) and against synthetic records.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { decodeProcessBatch, ProcessEventType, type ProcessEvent } from '../../../../../src/receivers/ebpf/probes/process/decode.js';
import { connectFailureReason, ConnRole, decodeTcpBatch, TcpEventType, type TcpEvent } from '../../../../../src/receivers/ebpf/probes/tcp/decode.js';
import { formatAddress } from '../../../../../src/receivers/ebpf/probes/common/decode-util.js';
import { encodeRecords } from '../../../../../src/native/ring-records.js';
import { STRUCTS } from '../../../../../src/native/layouts.generated.js';
import { fixturesDir } from '../../../../helpers/paths.js';

const batches = (probe: string) => ['001-workload.bin', '002-workload.bin'].map((f) => readFileSync(fixturesDir('ringbuf', probe, f)));
const manifest = (probe: string) => JSON.parse(readFileSync(fixturesDir('ringbuf', probe, 'manifest.json'), 'utf8')) as Record<string, number>;

void test('process fixtures: exec/exit of the recorded workload', () => {
  const m = manifest('process');
  const evs: ProcessEvent[] = [];
  for (const b of batches('process')) decodeProcessBatch(b, b.length, (e) => { evs.push(e.toJSON()); });
  assert.equal(evs.length, m.records);
  const exit3 = evs.find((e) => e.type === ProcessEventType.EXIT && e.exitCode === 3 && e.comm === 'sh');
  assert.ok(exit3, 'sh exited 3');
  assert.ok(evs.some((e) => e.type === ProcessEventType.EXEC && e.pid === exit3.pid && e.comm === 'sh' && e.ppid === m.pid));
  const sleep = evs.find((e) => e.type === ProcessEventType.EXIT && e.pid === m.sleep)!;
  assert.equal(sleep.signal, 15);
  assert.equal(sleep.exitCode, null);
  assert.equal(sleep.comm, 'sleep');
  assert.ok(evs.every((e) => e.tsNs > 0 && !e.oomKilled));
});

void test('tcp fixtures: connects, refusal, accepts, closes with bytes', () => {
  const m = manifest('tcp');
  const evs: TcpEvent[] = [];
  for (const b of batches('tcp')) decodeTcpBatch(b, b.length, (e) => { evs.push(e.toJSON()); });
  assert.equal(evs.length, m.records);
  const by = (t: number) => evs.filter((e) => e.type === t);
  assert.equal(by(TcpEventType.CONNECT).length, m.connections);
  assert.ok(by(TcpEventType.CONNECT).every((e) => e.daddr === '127.0.0.1' && e.dport === m.port && e.pid === m.pid && e.role === ConnRole.CLIENT));
  const failed = by(TcpEventType.CONNECT_FAILED);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].dport, m.closed_port);
  assert.equal(connectFailureReason(failed[0].error), 'refused');
  assert.equal(by(TcpEventType.ACCEPT).length, m.connections);
  const closes = by(TcpEventType.CLOSE);
  assert.equal(closes.length, 2 * m.connections);
  for (const c of closes.filter((e) => e.role === ConnRole.CLIENT)) assert.deepEqual([c.bytesSent, c.bytesReceived], [m.sent, m.reply]);
  for (const c of closes.filter((e) => e.role === ConnRole.SERVER)) assert.deepEqual([c.bytesSent, c.bytesReceived], [m.reply, m.sent]);
  assert.equal(by(TcpEventType.LISTEN_OPEN)[0].sport, m.port);
  assert.equal(by(TcpEventType.LISTEN_CLOSE)[0].sport, m.port);
});

void test('synthetic tcp record: every field at its header offset', () => {
  const F = STRUCTS.tcp_event.fields;
  const rec = Buffer.alloc(STRUCTS.tcp_event.size);
  rec.writeBigUInt64LE(123456789012345n, F.ts_ns.offset);
  rec.writeBigUInt64LE(0xfeedfacecafebeefn, F.cookie.offset);
  rec.writeBigUInt64LE(4242n, F.cgroup_id.offset);
  rec.writeBigUInt64LE(1500n, F.duration_ns.offset);
  rec.writeBigUInt64LE(2n ** 40n, F.bytes_sent.offset);
  rec.writeBigUInt64LE(77n, F.bytes_received.offset);
  Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).copy(rec, F['tuple.saddr'].offset);
  Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7]).copy(rec, F['tuple.daddr'].offset);
  rec.writeUInt16LE(10, F['tuple.family'].offset);
  rec.writeUInt16LE(40000, F['tuple.sport'].offset);
  rec.writeUInt16LE(443, F['tuple.dport'].offset);
  rec.writeUInt32LE(TcpEventType.CONNECT_FAILED, F.type.offset);
  rec.writeUInt32LE(999, F.pid.offset);
  rec.writeUInt32LE(4026531840, F.netns.offset);
  rec.writeUInt32LE(constants.errno.ETIMEDOUT, F.error.offset);
  rec.writeUInt32LE(3, F.retransmits.offset);
  rec.writeUInt8(ConnRole.CLIENT, F.role.offset);
  rec.writeUInt8(7, F.state.offset);
  const batch = encodeRecords([rec, Buffer.alloc(5) /* malformed size */]);
  let got: TcpEvent | undefined;
  const r = decodeTcpBatch(batch, batch.length, (e) => { got = e.toJSON(); });
  assert.deepEqual(r, { records: 1, malformed: 1 });
  assert.deepEqual(got, {
    type: TcpEventType.CONNECT_FAILED, tsNs: 123456789012345, cookie: 0xfeedfacecafebeefn, pid: 999, cgroupId: 4242,
    durationNs: 1500, bytesSent: 2 ** 40, bytesReceived: 77, family: 10, saddr: '2001:db8::1', sport: 40000,
    daddr: '::ffff:10.0.0.7', dport: 443, netns: 4026531840, error: constants.errno.ETIMEDOUT, retransmits: 3, role: ConnRole.CLIENT, state: 7,
  });
});

void test('connect failure reasons from errno', () => {
  const E = constants.errno;
  assert.equal(connectFailureReason(E.ECONNREFUSED), 'refused');
  assert.equal(connectFailureReason(E.ETIMEDOUT), 'timeout');
  assert.equal(connectFailureReason(E.ECONNRESET), 'reset');
  assert.equal(connectFailureReason(E.EHOSTUNREACH), 'unreachable');
  assert.equal(connectFailureReason(0), 'aborted');
  assert.equal(connectFailureReason(E.EPERM), 'other');
});

void test('address formatting (RFC 5952)', () => {
  const v = (bytes: number[]) => new DataView(Uint8Array.from([...bytes, ...Array(16 - bytes.length).fill(0)]).buffer);
  assert.equal(formatAddress(v([127, 0, 0, 1]), 0, 2), '127.0.0.1');
  assert.equal(formatAddress(v([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), 0, 10), '::1');
  assert.equal(formatAddress(v([]), 0, 10), '::');
  assert.equal(formatAddress(v([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]), 0, 10), 'fe80::1:0:0:2');
  assert.equal(formatAddress(v([0, 1, 0, 0, 0, 2]), 0, 10), '1:0:2::');
  assert.equal(formatAddress(v([]), 0, 99), '');
});

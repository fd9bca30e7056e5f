// taskstats over generic netlink, on bytes: the requests Sonde sends (exact encodings), and replies
// recorded from this machine's 6.18 kernel (test/fixtures/taskstats, see its README) plus constructed
// ones (alignment padding, errors, strays). No kernel needed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { test } from 'node:test';
import { getFamilyRequest, parseFamilyReply } from '../../../src/native/genetlink.js';
import { ENUMS, STRUCTS } from '../../../src/native/layouts.generated.js';
import { parseMessages } from '../../../src/native/netlink.js';
import { parseBatchReply, parseTgidReply, tgidBatchRequest, tgidRequest } from '../../../src/receivers/cgroups/taskstats.js';
import { fixturesDir } from '../../helpers/paths.js';

const fixture = (name: string): Buffer => readFileSync(fixturesDir('taskstats', name));
const recorded = JSON.parse(readFileSync(fixturesDir('taskstats', 'tgid-batch.json'), 'utf8')) as { family: number; firstSeq: number; pids: number[] };

void test('TASKSTATS_CMD_GET for a thread group: nlmsghdr + genlmsghdr + TASKSTATS_CMD_ATTR_TGID', () => {
  const hex = [
    '1c000000', '1f00', '0100', '07000000', '00000000', // nlmsghdr: len 28, type 31 (the family id), NLM_F_REQUEST, seq 7, port 0
    '01', '01', '0000', // genlmsghdr: TASKSTATS_CMD_GET, TASKSTATS_GENL_VERSION
    '0800', '0200', 'd2040000', // nlattr: len 8, TASKSTATS_CMD_ATTR_TGID, 1234
  ].join('');
  assert.equal(tgidRequest(31, 1234, 7).toString('hex'), hex);
  assert.equal(STRUCTS.nlmsghdr.size + STRUCTS.genlmsghdr.size + 8, 28);
});

void test('a batch is the single requests back to back with consecutive sequence numbers', () => {
  const b = tgidBatchRequest(31, [10, 20, 4194303], 0xfffffffe);
  assert.deepEqual(b, Buffer.concat([tgidRequest(31, 10, 0xfffffffe), tgidRequest(31, 20, 0xffffffff), tgidRequest(31, 4194303, 0)]));
  assert.deepEqual(parseMessages(b).map((m) => m.seq), [0xfffffffe, 0xffffffff, 0]);
});

void test('CTRL_CMD_GETFAMILY "TASKSTATS" and the controller\'s answers (recorded)', () => {
  const hex = [
    '24000000', '1000', '0100', '09000000', '00000000', // len 36, GENL_ID_CTRL, NLM_F_REQUEST, seq 9
    '03', '01', '0000', // CTRL_CMD_GETFAMILY, version 1
    '0e00', '0200', Buffer.from('TASKSTATS\0').toString('hex'), '0000', // CTRL_ATTR_FAMILY_NAME, NUL-terminated, padded
  ].join('');
  assert.equal(getFamilyRequest('TASKSTATS', 9).toString('hex'), hex);
  assert.deepEqual(parseFamilyReply(parseMessages(fixture('getfamily-taskstats.bin'))), { id: recorded.family });
  assert.deepEqual(parseFamilyReply(parseMessages(fixture('getfamily-missing.bin'))), { errno: constants.errno.ENOENT });
  assert.deepEqual(parseFamilyReply([]), { errno: constants.errno.EPROTO });
});

void test('a recorded batch reply: two processes and an ESRCH for a pid that does not exist', () => {
  const raw = fixture('tgid-batch.bin');
  const msgs = parseMessages(raw);
  assert.equal(msgs.length, 3);
  const r = parseBatchReply(msgs, recorded.pids, recorded.firstSeq);
  assert.equal(r.get(recorded.pids[1]), constants.errno.ESRCH);
  for (const [i, pid] of [[0, recorded.pids[0]], [2, recorded.pids[2]]] as const) {
    const d = r.get(pid);
    assert.ok(typeof d === 'object', `pid ${pid}: ${String(d)}`);
    assert.equal(d.tgid, pid);
    assert.ok(d.version >= 1 && d.version < 100, `version ${d.version}`);
    assert.ok(d.cpuCount > 0, 'a process that ran was on a CPU');
    assert.equal(d.blkioDelayNs, 0, 'recorded with kernel.task_delayacct=0');
    // The same numbers read straight from the bytes: 16 (nlmsghdr) + 4 (genlmsghdr) + 4 (AGGR_TGID) + 8
    // (TGID) + 4 (STATS header) = struct taskstats at 36 in the message; cpu_count at 16, cpu_delay_total at
    // 24 in the struct (include/uapi/linux/taskstats.h, version 1 fields).
    const payloadAt = msgs[i].payload.byteOffset - raw.byteOffset;
    const at = payloadAt - STRUCTS.nlmsghdr.size + 36;
    assert.equal(raw.readUInt16LE(payloadAt + 4 + 2), ENUMS.TASKSTATS_TYPE_AGGR_TGID);
    assert.equal(d.cpuCount, Number(raw.readBigUInt64LE(at + 16)));
    assert.equal(d.cpuDelayNs, Number(raw.readBigUInt64LE(at + 24)));
  }
});

/** A TASKSTATS_CMD_NEW reply built by hand, optionally with the TASKSTATS_TYPE_NULL padding some arches add. */
function reply(tgid: number, seq: number, vals: { cpu: bigint; cpuCount: bigint; blkio: bigint; blkioCount: bigint }, pad = false, statsLen = ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET + 8 + 100 /* a later, longer version */): Buffer {
  const stats = Buffer.alloc(Math.max(statsLen, ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET + 8));
  stats.writeUInt16LE(99, ENUMS.TASKSTATS_VERSION_OFFSET);
  stats.writeBigUInt64LE(vals.cpuCount, ENUMS.TASKSTATS_CPU_COUNT_OFFSET);
  stats.writeBigUInt64LE(vals.cpu, ENUMS.TASKSTATS_CPU_DELAY_TOTAL_OFFSET);
  stats.writeBigUInt64LE(vals.blkioCount, ENUMS.TASKSTATS_BLKIO_COUNT_OFFSET);
  stats.writeBigUInt64LE(vals.blkio, ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET);
  const attr = (type: number, data: Buffer): Buffer => {
    const b = Buffer.alloc((4 + data.length + 3) & ~3);
    b.writeUInt16LE(4 + data.length, 0);
    b.writeUInt16LE(type, 2);
    data.copy(b, 4);
    return b;
  };
  const tg = Buffer.alloc(4);
  tg.writeUInt32LE(tgid);
  const aggr = attr(ENUMS.TASKSTATS_TYPE_AGGR_TGID | ENUMS.NLA_F_NESTED, Buffer.concat([attr(ENUMS.TASKSTATS_TYPE_TGID, tg), attr(ENUMS.TASKSTATS_TYPE_STATS, stats.subarray(0, statsLen))]));
  const body = Buffer.concat([Buffer.from([ENUMS.TASKSTATS_CMD_NEW, 1, 0, 0]), ...(pad ? [attr(6 /* TASKSTATS_TYPE_NULL */, Buffer.alloc(0))] : []), aggr]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + body.length, 0);
  h.writeUInt16LE(31, 4);
  h.writeUInt32LE(seq, 8);
  return Buffer.concat([h, body]);
}

function errorMessage(seq: number, errno: number): Buffer {
  const b = Buffer.alloc(16 + 4 + 16);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(ENUMS.NLMSG_ERROR, 4);
  b.writeUInt32LE(seq, 8);
  b.writeInt32LE(-errno, 16);
  return b;
}

void test('constructed replies: 64-bit values, alignment padding, a longer struct, errors, strays and silence', () => {
  const big = { cpu: 2n ** 40n + 5n, cpuCount: 7n, blkio: 123_456_789n, blkioCount: 3n };
  const d = parseTgidReply(parseMessages(reply(42, 1, big, true))[0]);
  assert.deepEqual(d, { tgid: 42, version: 99, cpuDelayNs: 2 ** 40 + 5, cpuCount: 7, blkioDelayNs: 123_456_789, blkioCount: 3 });

  const msgs = parseMessages(Buffer.concat([
    reply(10, 100, big),
    errorMessage(101, constants.errno.EPERM),
    reply(99, 50, big), // a stray from an earlier request: ignored
    errorMessage(103, 0), // an ACK: not an answer
    reply(13, 103, { ...big, cpu: 9n }),
  ]));
  const r = parseBatchReply(msgs, [10, 11, 12, 13], 100);
  assert.equal((r.get(10) as { cpuDelayNs: number }).cpuDelayNs, 2 ** 40 + 5);
  assert.equal(r.get(11), constants.errno.EPERM);
  assert.equal(r.get(12), constants.errno.EPROTO, 'no answer at all');
  assert.equal((r.get(13) as { cpuDelayNs: number }).cpuDelayNs, 9);
  assert.equal(r.has(99), false);
  // a reply naming another thread group than the one asked with that seq is not taken
  assert.equal(parseBatchReply(parseMessages(reply(77, 5, big)), [78], 5).get(78), constants.errno.EPROTO);
  // a struct too short to hold blkio_delay_total is no answer
  assert.equal(parseTgidReply(parseMessages(reply(5, 1, big, false, ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET + 4))[0]), undefined);
  assert.notEqual(parseTgidReply(parseMessages(reply(5, 1, big, false, ENUMS.TASKSTATS_BLKIO_DELAY_TOTAL_OFFSET + 8))[0]), undefined);
});

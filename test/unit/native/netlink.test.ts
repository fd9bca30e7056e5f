// The addon's raw netlink sockets: argument checks (no root); as root, a real sock_diag dump that finds
// this process's own listening socket by inode and gives its cookie; batches of generic netlink gets
// (controller lookups without root, taskstats as root) answered in one round trip.
import { strict as assert } from 'node:assert';
import { readdirSync, readlinkSync } from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { loadNative } from '../../../src/native/load.js';
import { ENUMS } from '../../../src/native/layouts.generated.js';
import { getFamilyRequest, parseFamilyReply } from '../../../src/native/genetlink.js';
import { NetlinkSocket } from '../../../src/native/netlink.js';
import { parseBatchReply, tgidBatchRequest } from '../../../src/receivers/cgroups/taskstats.js';
import { cookiesFromDiag, sockDiagRequest, TCP_LISTEN } from '../../../src/receivers/ebpf/net/discovery.js';

const native = loadNative();

void test('netlink: arguments are type-checked', () => {
  assert.throws(() => native.netlinkOpen('x' as unknown as number), TypeError);
  assert.throws(() => native.netlinkRequest({} as never, Buffer.alloc(16), 10), TypeError);
  assert.throws(() => native.netlinkClose({} as never), TypeError);
});

void test('netlink: a sock_diag dump finds our listener by inode (root)', { skip: process.getuid?.() !== 0 && 'needs root for sock_diag cookies' }, async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const before = new Set(readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } }));
    const inodes = [...before].filter((l) => l.startsWith('socket:[')).map((l) => Number(l.slice(8, -1)));
    const s = new NetlinkSocket(native, ENUMS.NETLINK_SOCK_DIAG);
    try {
      const msgs = s.request(sockDiagRequest(2, 1 << TCP_LISTEN, s.nextSeq()), 2000);
      assert.equal(msgs.at(-1)?.type, ENUMS.NLMSG_DONE);
      const cookies = cookiesFromDiag(msgs.filter((m) => m.type === ENUMS.SOCK_DIAG_BY_FAMILY).map((m) => m.payload));
      assert.ok(inodes.some((i) => cookies.has(i)), 'one of our sockets is a listener with a cookie');
    } finally {
      s.close();
      s.close();
    }
  } finally {
    srv.close();
  }
});

void test('netlink: a batch of gets is one round trip and every answer comes back, errors included (no root)', () => {
  const s = new NetlinkSocket(native, ENUMS.NETLINK_GENERIC);
  try {
    // seqs wrap inside the batch: the reply window is taken modulo 2^32
    const seqs = [0xfffffffe, 0xffffffff, 0];
    const names = ['nlctrl', 'sonde-nosuch', 'nlctrl'];
    const msgs = s.request(Buffer.concat(names.map((n, i) => getFamilyRequest(n, seqs[i]))), 2000);
    assert.deepEqual(msgs.map((m) => m.seq), seqs);
    assert.deepEqual(parseFamilyReply([msgs[0]]), { id: ENUMS.GENL_ID_CTRL });
    assert.deepEqual(parseFamilyReply([msgs[1]]), { errno: 2 /* ENOENT */ });
    assert.deepEqual(parseFamilyReply([msgs[2]]), { id: ENUMS.GENL_ID_CTRL });
    // a single request afterwards: nothing of the batch is left over
    const one = s.request(getFamilyRequest('nlctrl', s.nextSeq()), 2000);
    assert.equal(one.length, 1);
  } finally {
    s.close();
  }
});

void test('netlink: taskstats for this process and a missing pid in one batch (root: CAP_NET_ADMIN)', { skip: process.getuid?.() !== 0 && 'taskstats needs CAP_NET_ADMIN' }, () => {
  const s = new NetlinkSocket(native, ENUMS.NETLINK_GENERIC);
  try {
    const fam = parseFamilyReply(s.request(getFamilyRequest('TASKSTATS', s.nextSeq()), 2000));
    assert.ok('id' in fam, 'the TASKSTATS family is registered');
    const pids = [process.pid, 0x3ffffe, process.pid];
    const first = s.nextSeq();
    s.nextSeq();
    s.nextSeq();
    const r = parseBatchReply(s.request(tgidBatchRequest(fam.id, pids, first), 2000), pids, first);
    const self = r.get(process.pid);
    assert.ok(typeof self === 'object' && self.tgid === process.pid && self.cpuCount > 0, JSON.stringify(self));
    assert.equal(r.get(0x3ffffe), 3 /* ESRCH */);
  } finally {
    s.close();
  }
});

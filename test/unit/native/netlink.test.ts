// The addon's raw netlink sockets: argument checks (no root) and, as root, a real sock_diag dump that
// finds this process's own listening socket by inode and gives its cookie.
import { strict as assert } from 'node:assert';
import { readdirSync, readlinkSync } from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { loadNative } from '../../../src/native/load.js';
import { ENUMS } from '../../../src/native/layouts.generated.js';
import { NetlinkSocket } from '../../../src/native/netlink.js';
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

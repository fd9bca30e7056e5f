// Pure pieces of the ebpf receiver's network side: netlink framing, the conntrack request/reply, sock_diag
// cookies, /proc/net/tcp parsing, interned address labels, and the Conntrack cache on a fake netlink.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { FakeNative } from '../../../../src/native/fake.js';
import { ENUMS, STRUCTS } from '../../../../src/native/layouts.generated.js';
import { buildMessage, parseAttrs, parseMessages } from '../../../../src/native/netlink.js';
import { Conntrack, conntrackGetRequest, parseConntrackReply } from '../../../../src/receivers/ebpf/net/conntrack.js';
import { cookiesFromDiag, parseProcNetTcp, sockDiagRequest, TCP_ESTABLISHED, TCP_LISTEN } from '../../../../src/receivers/ebpf/net/discovery.js';
import { AddrLabels } from '../../../../src/receivers/ebpf/probes/tcp/labels.js';
import { nopLogger } from '../../../../src/service/logger.js';

const v4 = (s: string) => new Uint8Array(s.split('.').map(Number));
const nested = (type: number, children: Buffer[]) => attr(type | ENUMS.NLA_F_NESTED, Buffer.concat(children));
function attr(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}
const be16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };

/** What the kernel answers for a DNATed flow: reply tuple src = the backend. */
function ctReply(seq: number, backend: string, port: number): Buffer {
  const tuple = (src: string, sport: number) => Buffer.concat([
    nested(ENUMS.CTA_TUPLE_IP, [attr(ENUMS.CTA_IP_V4_SRC, Buffer.from(v4(src))), attr(ENUMS.CTA_IP_V4_DST, Buffer.from(v4('10.0.0.5')))]),
    nested(ENUMS.CTA_TUPLE_PROTO, [attr(ENUMS.CTA_PROTO_NUM, Buffer.from([6])), attr(ENUMS.CTA_PROTO_SRC_PORT, be16(sport)), attr(ENUMS.CTA_PROTO_DST_PORT, be16(40000))]),
  ]);
  const body = Buffer.concat([Buffer.from([2, 0, 0, 0]), nested(ENUMS.CTA_TUPLE_ORIG, [tuple('10.0.0.5', 40000)]), nested(ENUMS.CTA_TUPLE_REPLY, [tuple(backend, port)])]);
  return buildMessage(ENUMS.NFNL_SUBSYS_CTNETLINK << 8, 0, seq, body);
}

void test('conntrack GET request: nfgenmsg + nested original tuple (IPv4, IPv4-mapped IPv6 unmapped)', () => {
  const mapped = new Uint8Array(16);
  mapped.set([0xff, 0xff], 10);
  mapped.set(v4('10.96.0.10'), 12);
  const src = new Uint8Array(16);
  src.set([0xff, 0xff], 10);
  src.set(v4('10.0.0.5'), 12);
  const req = conntrackGetRequest({ family: 10, saddr: src, sport: 40000, daddr: mapped, dport: 80 }, 7);
  const [m] = parseMessages(req);
  assert.equal(m.type, (ENUMS.NFNL_SUBSYS_CTNETLINK << 8) | ENUMS.IPCTNL_MSG_CT_GET);
  assert.equal(m.seq, 7);
  assert.equal(m.payload[0], 2, 'AF_INET: conntrack tracks the IPv4 flow');
  const orig = parseAttrs(parseAttrs(m.payload.subarray(STRUCTS.nfgenmsg.size)).get(ENUMS.CTA_TUPLE_ORIG)!);
  const ip = parseAttrs(orig.get(ENUMS.CTA_TUPLE_IP)!);
  assert.deepEqual([...ip.get(ENUMS.CTA_IP_V4_DST)!], [10, 96, 0, 10]);
  const proto = parseAttrs(orig.get(ENUMS.CTA_TUPLE_PROTO)!);
  assert.equal(proto.get(ENUMS.CTA_PROTO_DST_PORT)!.readUInt16BE(0), 80);
  assert.equal(proto.get(ENUMS.CTA_PROTO_SRC_PORT)!.readUInt16BE(0), 40000);
  assert.equal(proto.get(ENUMS.CTA_PROTO_NUM)![0], 6);
});

void test('conntrack reply: the reply tuple source is the actual destination', () => {
  const [m] = parseMessages(ctReply(1, '10.244.1.7', 8080));
  const r = parseConntrackReply(m.payload)!;
  assert.deepEqual([...r.addr], [10, 244, 1, 7]);
  assert.equal(r.port, 8080);
});

void test('Conntrack: NAT per connection, non-NATed destinations cached, missing entries cached, errors fall back', () => {
  let asked = 0;
  let answer: 'nat' | 'plain' | 'enoent' = 'nat';
  const fake = new FakeNative({
    netlink: (proto, _ns, req) => {
      assert.equal(proto, ENUMS.NETLINK_NETFILTER);
      asked++;
      const [m] = parseMessages(req);
      if (answer === 'enoent') {
        const b = Buffer.alloc(4);
        b.writeInt32LE(-2);
        return buildMessage(ENUMS.NLMSG_ERROR, 0, m.seq, b);
      }
      return ctReply(m.seq, answer === 'nat' ? '10.244.1.7' : '10.96.0.10', answer === 'nat' ? 8080 : 80);
    },
  });
  let now = 0;
  const ct = new Conntrack(fake, { enabled: true, cacheTtlMs: 1000, procRoot: '/proc', logger: nopLogger(), now: () => now });
  const t = { family: 2, saddr: v4('10.0.0.5'), sport: 40000, daddr: v4('10.96.0.10'), dport: 80 };
  const self = ct.selfNetns!;
  assert.equal(ct.lookup(self, 0, t, '10.96.0.10:80')?.port, 8080);
  assert.equal(ct.lookup(self, 0, t, '10.96.0.10:80')?.port, 8080);
  assert.equal(asked, 2, 'NATed destinations are asked per connection');
  answer = 'plain';
  assert.equal(ct.lookup(self, 0, t, '10.0.0.9:80'), undefined);
  assert.equal(ct.lookup(self, 0, t, '10.0.0.9:80'), undefined);
  assert.equal(asked, 3, 'a plain destination is cached');
  now = 2000;
  ct.lookup(self, 0, t, '10.0.0.9:80');
  assert.equal(asked, 4, '… until the TTL passes');
  answer = 'enoent';
  assert.equal(ct.lookup(self, 0, t, '10.96.0.10:80')?.port, 8080, 'entry gone: the last answer for that destination');
  assert.equal(ct.lookup(self, 0, t, '10.0.0.77:80'), undefined);
  assert.equal(ct.stats.nat, 2);
  ct.close();
  const off = new Conntrack(new FakeNative(), { enabled: true, cacheTtlMs: 1000, procRoot: '/proc', logger: nopLogger() });
  assert.equal(off.lookup(self, 0, t, 'x'), undefined);
  assert.equal(off.enabled, false, 'no netlink: disabled after the first failure');
});

void test('/proc/net/tcp and tcp6 parsing: states, addresses in network order, ports, inodes', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 20 4 30 10 -1
`;
  const s = parseProcNetTcp(tcp, 2);
  assert.equal(s.length, 2);
  assert.equal(s[0].state, TCP_LISTEN);
  assert.deepEqual([...s[0].saddr.subarray(0, 4)], [127, 0, 0, 1]);
  assert.equal(s[0].sport, 8080);
  assert.equal(s[0].inode, 12345);
  assert.equal(s[1].state, TCP_ESTABLISHED);
  assert.equal(s[1].dport, 8080);
  assert.equal(s[1].sport, 40000);
  const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
`;
  const s6 = parseProcNetTcp(tcp6, 10);
  assert.deepEqual([...s6[0].saddr], [...new Array(15).fill(0), 1], '::1');
  assert.equal(s6[0].sport, 80);
});

void test('sock_diag: request shape and inode → cookie from inet_diag_msg', () => {
  const [m] = parseMessages(sockDiagRequest(2, (1 << TCP_ESTABLISHED) | (1 << TCP_LISTEN), 9));
  assert.equal(m.type, ENUMS.SOCK_DIAG_BY_FAMILY);
  assert.equal(m.flags & ENUMS.NLM_F_DUMP, ENUMS.NLM_F_DUMP);
  assert.equal(m.payload.readUInt32LE(STRUCTS.inet_diag_req_v2.fields.idiag_states.offset), (1 << 1) | (1 << 10));
  const msg = Buffer.alloc(STRUCTS.inet_diag_msg.size);
  msg.writeUInt32LE(4242, STRUCTS.inet_diag_msg.fields.idiag_inode.offset);
  msg.writeBigUInt64LE(0x1_0000_0005n, STRUCTS.inet_diag_msg.fields['id.idiag_cookie'].offset);
  assert.deepEqual(cookiesFromDiag([msg]), new Map([[4242, 0x1_0000_0005n]]));
});

void test('address labels: interned by bytes, IPv4-mapped shown as IPv4, IPv6 bracketed', () => {
  const l = new AddrLabels();
  const b = new Uint8Array(16);
  const view = new DataView(b.buffer);
  b.set(v4('10.1.2.3'));
  const a = l.of(view, 0, 2, 443);
  assert.equal(a, '10.1.2.3:443');
  assert.equal(l.of(view, 0, 2, 443), a);
  b.fill(0);
  b.set([0xff, 0xff], 10);
  b.set(v4('10.1.2.3'), 12);
  assert.equal(l.of(view, 0, 10, 443), a, 'the same interned string');
  b.fill(0);
  b[15] = 1;
  assert.equal(l.of(view, 0, 10, 8080), '[::1]:8080');
  assert.equal(l.ofBytes(v4('192.168.0.1'), 2, 53), '192.168.0.1:53');
});

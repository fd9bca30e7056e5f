// Netlink framing in TypeScript over the addon's raw socket (native/src/netlink.c): building
// requests (nlmsghdr + family header + attributes) and walking replies. Constants and struct
// sizes come from the kernel headers through the generated layouts, never copied by hand.
import type { NativeBinding, NetlinkHandle } from './binding.js';
import { mapErrors } from './errors.js';
import { ENUMS, STRUCTS } from './layouts.generated.js';

const NLMSG_HDRLEN = STRUCTS.nlmsghdr.size;
const NLA_HDRLEN = 4;
const align4 = (n: number): number => (n + 3) & ~3;
const NLA_TYPE_MASK = ~(ENUMS.NLA_F_NESTED | ENUMS.NLA_F_NET_BYTEORDER) & 0xffff;

/** An attribute to encode: a payload, or nested attributes. */
export type NlAttr = { type: number; data: Buffer } | { type: number; nested: NlAttr[] };

function attrLength(a: NlAttr): number {
  const payload = 'data' in a ? a.data.length : a.nested.reduce((n, x) => n + align4(attrLength(x)), 0);
  return NLA_HDRLEN + payload;
}

function writeAttr(buf: Buffer, off: number, a: NlAttr): number {
  const len = attrLength(a);
  buf.writeUInt16LE(len, off);
  buf.writeUInt16LE('data' in a ? a.type : a.type | ENUMS.NLA_F_NESTED, off + 2);
  let p = off + NLA_HDRLEN;
  if ('data' in a) {
    a.data.copy(buf, p);
    p += a.data.length;
  } else {
    for (const x of a.nested) p = writeAttr(buf, p, x);
  }
  return off + align4(len);
}

/** One netlink message: header, a fixed family header (`body`), then attributes. */
export function buildMessage(type: number, flags: number, seq: number, body: Buffer, attrs: NlAttr[] = []): Buffer {
  const len = NLMSG_HDRLEN + align4(body.length) + attrs.reduce((n, a) => n + align4(attrLength(a)), 0);
  const buf = Buffer.alloc(len);
  const H = STRUCTS.nlmsghdr.fields;
  buf.writeUInt32LE(len, H.nlmsg_len.offset);
  buf.writeUInt16LE(type, H.nlmsg_type.offset);
  buf.writeUInt16LE(flags, H.nlmsg_flags.offset);
  buf.writeUInt32LE(seq >>> 0, H.nlmsg_seq.offset);
  body.copy(buf, NLMSG_HDRLEN);
  let off = NLMSG_HDRLEN + align4(body.length);
  for (const a of attrs) off = writeAttr(buf, off, a);
  return buf;
}

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  /** the message's payload (after nlmsghdr), a view into the reply */
  payload: Buffer;
}

/** Splits a reply into messages. */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  const H = STRUCTS.nlmsghdr.fields;
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off + H.nlmsg_len.offset);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + H.nlmsg_type.offset),
      flags: buf.readUInt16LE(off + H.nlmsg_flags.offset),
      seq: buf.readUInt32LE(off + H.nlmsg_seq.offset),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** The errno of an NLMSG_ERROR message (0 = an ACK). */
export function errorOf(m: NlMessage): number {
  return m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 0;
}

/** Attributes of a payload region, by type (nested and byte-order flags masked off). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/** A netlink socket of one protocol, optionally in another network namespace. */
export class NetlinkSocket {
  readonly protocol: number;
  readonly netnsPath?: string;
  private readonly native: NativeBinding;
  private readonly handle: NetlinkHandle;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  constructor(native: NativeBinding, protocol: number, netnsPath?: string) {
    this.native = native;
    this.protocol = protocol;
    this.netnsPath = netnsPath;
    this.handle = mapErrors(() => native.netlinkOpen(protocol, netnsPath));
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  /**
   * Sends one request — or a batch of messages with consecutive sequence numbers (`nextSeq()` each) — and
   * returns the reply's messages (NLMSG_DONE, errors and ACKs included).
   */
  request(msg: Buffer, timeoutMs = 1000): NlMessage[] {
    if (this.closed) throw new Error('netlink socket is closed');
    return parseMessages(mapErrors(() => this.native.netlinkRequest(this.handle, msg, timeoutMs)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.netlinkClose(this.handle);
  }
}

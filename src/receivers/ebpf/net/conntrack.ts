// The actual destination of a connection after NAT, from the kernel's conntrack table: one
// nfnetlink IPCTNL_MSG_CT_GET for the connection's original tuple, whose reply tuple's source is
// the address the packets really went to (a Service VIP DNATed to a pod, a DNAT rule to a
// backend). No kprobes needed (coroot hooks nf_ct_deliver_cached_events; locked-down kernels
// have no kprobes): the lookup runs in user space when the CONNECT event is handled.
//
// Which table: conntrack is per network namespace. The connection's own namespace is asked
// first (DNAT in a pod/namespace's OUTPUT chain), then the agent's (kube-proxy DNATs pod traffic
// in the host namespace's PREROUTING, where the tuple is the same as the pod's socket's).
//
// Cost control: a destination (netns, address, port) found NOT to be NATed is remembered for
// `cacheTtlMs`, so only connections to NATed destinations cost a lookup (~5-10 µs, one syscall
// round trip on the JS thread). Destinations that are NATed are asked per connection (load
// balancing picks a backend per connection); their last answer is the fallback when the entry
// is already gone.
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding } from '../../../native/binding.js';
import { ENUMS, STRUCTS } from '../../../native/layouts.generated.js';
import type { NlAttr } from '../../../native/netlink.js';
import { buildMessage, errorOf, NetlinkSocket, parseAttrs } from '../../../native/netlink.js';
import type { Logger } from '../../../service/logger.js';

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;

export interface ConntrackOptions {
  enabled: boolean;
  /** how long a non-NATed destination is remembered */
  cacheTtlMs: number;
  /** max remembered destinations */
  maxEntries?: number;
  procRoot: string;
  timeoutMs?: number;
  logger: Logger;
  now?: () => number;
}

/** An original tuple (addresses as 4 or 16 bytes, network order; ports host order). */
export interface Tuple {
  family: number;
  saddr: Uint8Array;
  sport: number;
  daddr: Uint8Array;
  dport: number;
}

export interface NatResult {
  /** reply source: where the connection really goes */
  addr: Uint8Array;
  family: number;
  port: number;
}

export interface ConntrackStats {
  lookups: number;
  /** lookups answered from the negative (not NATed) cache without asking the kernel */
  cached: number;
  nat: number;
  notNat: number;
  notFound: number;
  errors: number;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) → IPv4, as conntrack tracks such flows. */
function unmap(family: number, a: Uint8Array): { family: number; addr: Uint8Array } {
  if (family !== AF_INET6 || a.length < 16) return { family, addr: family === AF_INET ? a.subarray(0, 4) : a };
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return { family, addr: a };
  if (a[10] !== 0xff || a[11] !== 0xff) return { family, addr: a };
  return { family: AF_INET, addr: a.subarray(12, 16) };
}

function port(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** The IPCTNL_MSG_CT_GET request for an original tuple. */
export function conntrackGetRequest(t: Tuple, seq: number): Buffer {
  const { family, addr: src } = unmap(t.family, t.saddr);
  const dst = unmap(t.family, t.daddr).addr;
  const v4 = family === AF_INET;
  const body = Buffer.alloc(STRUCTS.nfgenmsg.size);
  body.writeUInt8(family, STRUCTS.nfgenmsg.fields.nfgen_family.offset);
  body.writeUInt8(ENUMS.NFNETLINK_V0, STRUCTS.nfgenmsg.fields.version.offset);
  const attrs: NlAttr[] = [{
    type: ENUMS.CTA_TUPLE_ORIG,
    nested: [
      {
        type: ENUMS.CTA_TUPLE_IP,
        nested: [
          { type: v4 ? ENUMS.CTA_IP_V4_SRC : ENUMS.CTA_IP_V6_SRC, data: Buffer.from(src) },
          { type: v4 ? ENUMS.CTA_IP_V4_DST : ENUMS.CTA_IP_V6_DST, data: Buffer.from(dst) },
        ],
      },
      {
        type: ENUMS.CTA_TUPLE_PROTO,
        nested: [
          { type: ENUMS.CTA_PROTO_NUM, data: Buffer.from([IPPROTO_TCP]) },
          { type: ENUMS.CTA_PROTO_SRC_PORT, data: port(t.sport) },
          { type: ENUMS.CTA_PROTO_DST_PORT, data: port(t.dport) },
        ],
      },
    ],
  }];
  return buildMessage((ENUMS.NFNL_SUBSYS_CTNETLINK << 8) | ENUMS.IPCTNL_MSG_CT_GET, ENUMS.NLM_F_REQUEST, seq, body, attrs);
}

/** The reply tuple's source (address, port) of a conntrack entry message payload. */
export function parseConntrackReply(payload: Buffer): NatResult | undefined {
  const attrs = parseAttrs(payload.subarray(STRUCTS.nfgenmsg.size));
  const reply = attrs.get(ENUMS.CTA_TUPLE_REPLY);
  if (!reply) return undefined;
  const t = parseAttrs(reply);
  const ip = t.get(ENUMS.CTA_TUPLE_IP);
  const proto = t.get(ENUMS.CTA_TUPLE_PROTO);
  if (!ip || !proto) return undefined;
  const ipa = parseAttrs(ip);
  const v4 = ipa.get(ENUMS.CTA_IP_V4_SRC);
  const v6 = ipa.get(ENUMS.CTA_IP_V6_SRC);
  const sport = parseAttrs(proto).get(ENUMS.CTA_PROTO_SRC_PORT);
  if ((!v4 && !v6) || !sport || sport.length < 2) return undefined;
  return { addr: new Uint8Array(v4 ?? v6!), family: v4 ? AF_INET : AF_INET6, port: sport.readUInt16BE(0) };
}

function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function netnsInode(path: string): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(path));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

interface DestState {
  /** Date.now() until which the destination is known not to be NATed */
  plainUntil: number;
  last?: NatResult;
}

export class Conntrack {
  readonly stats: ConntrackStats = { lookups: 0, cached: 0, nat: 0, notNat: 0, notFound: 0, errors: 0 };
  readonly #opts: ConntrackOptions;
  readonly #native?: NativeBinding;
  readonly #now: () => number;
  readonly #sockets = new Map<number, NetlinkSocket | null>();
  readonly #dests = new Map<number, Map<string, DestState>>();
  #destCount = 0;
  readonly #selfNetns?: number;
  /** netns inode → a pid last seen in it (to enter a namespace after the connecting process exited) */
  readonly #nsPids = new Map<number, number>();
  #unavailable = false;
  /** How long a destination found not to be NATed is remembered (the tcp probe sets its config). */
  cacheTtlMs: number;

  constructor(native: NativeBinding | undefined, opts: ConntrackOptions) {
    this.#native = native;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.cacheTtlMs = opts.cacheTtlMs;
    this.#selfNetns = netnsInode('/proc/self/ns/net');
  }

  get enabled(): boolean {
    return this.#opts.enabled && !this.#unavailable && this.#native !== undefined;
  }

  /** The agent's own network namespace inode. */
  get selfNetns(): number | undefined {
    return this.#selfNetns;
  }

  /** Remembers a process of a network namespace (listeners, discovery): a way into it later. */
  notePid(netns: number, pid: number): void {
    if (pid > 0 && netns !== this.#selfNetns) this.#nsPids.set(netns, pid);
  }

  #socket(netns: number, pid: number): NetlinkSocket | undefined {
    const have = this.#sockets.get(netns);
    if (have !== undefined) return have ?? undefined;
    let path: string | undefined;
    if (netns !== this.#selfNetns) {
      path = [pid, this.#nsPids.get(netns) ?? 0]
        .filter((p) => p > 0)
        .map((p) => join(this.#opts.procRoot, String(p), 'ns', 'net'))
        .find((p) => netnsInode(p) === netns);
      if (path === undefined) return undefined; // no live process known in it: ask later
    }
    try {
      const s = new NetlinkSocket(this.#native!, ENUMS.NETLINK_NETFILTER, path);
      this.#sockets.set(netns, s);
      return s;
    } catch (e) {
      this.stats.errors++;
      if (path === undefined) {
        this.#unavailable = true;
        this.#opts.logger.warnOnce('conntrack-open', 'conntrack lookups disabled: cannot open a netfilter netlink socket', { error: (e as Error).message });
      }
      this.#sockets.set(netns, null);
      return undefined;
    }
  }

  #ask(netns: number, pid: number, t: Tuple): NatResult | null | undefined {
    const s = this.#socket(netns, pid);
    if (!s) return undefined;
    let msgs;
    try {
      msgs = s.request(conntrackGetRequest(t, s.nextSeq()), this.#opts.timeoutMs ?? 200);
    } catch (e) {
      this.stats.errors++;
      this.#opts.logger.warnOnce('conntrack-request', 'conntrack lookup failed', { error: (e as Error).message });
      return undefined;
    }
    for (const m of msgs) {
      if (m.type === ENUMS.NLMSG_ERROR) {
        if (errorOf(m) !== 0) return null; // ENOENT: not tracked in this namespace
        continue;
      }
      return parseConntrackReply(m.payload) ?? null;
    }
    return null;
  }

  /**
   * The NATed destination of an outbound connection, or undefined when it is not NATed (or unknown).
   * `netns`: the socket's network namespace inode; `pid`: a process in it (to enter the namespace);
   * `dest`: the destination's label (`addr:port`, an interned string: the cache key, so that the common
   * case — a destination already known not to be NATed — allocates nothing).
   */
  lookup(netns: number, pid: number, t: Tuple, dest: string): NatResult | undefined {
    if (!this.enabled) return undefined;
    this.stats.lookups++;
    const now = this.#now();
    let byDest = this.#dests.get(netns);
    if (!byDest) this.#dests.set(netns, (byDest = new Map()));
    let d = byDest.get(dest);
    if (d && d.plainUntil > now) {
      this.stats.cached++;
      return undefined;
    }
    const dst = unmap(t.family, t.daddr);
    let r = this.#ask(netns, pid, t);
    const plain = (x: NatResult | null | undefined): boolean =>
      x === null || x === undefined || (x.port === t.dport && sameAddr(x.addr, dst.addr));
    if (plain(r) && this.#selfNetns !== undefined && netns !== this.#selfNetns) {
      const h = this.#ask(this.#selfNetns, 0, t);
      if (h !== undefined && (r === undefined || !plain(h))) r = h;
    }
    if (!d) {
      if (this.#destCount >= (this.#opts.maxEntries ?? 65_536)) {
        this.#dests.clear(); // crude bound: start over (lookups refill what is in use)
        this.#destCount = 0;
        this.#dests.set(netns, (byDest = new Map()));
      }
      d = { plainUntil: 0 };
      byDest.set(dest, d);
      this.#destCount++;
    }
    if (r === undefined) {
      this.stats.errors++;
      return d.last;
    }
    if (r === null) {
      this.stats.notFound++;
      if (d.last) return d.last;
      d.plainUntil = now + this.cacheTtlMs;
      return undefined;
    }
    if (plain(r)) {
      this.stats.notNat++;
      d.plainUntil = now + this.cacheTtlMs;
      return undefined;
    }
    this.stats.nat++;
    d.last = r;
    return r;
  }

  /** Closes every socket and forgets the cache. */
  close(): void {
    for (const s of this.#sockets.values()) s?.close();
    this.#sockets.clear();
    this.#dests.clear();
    this.#destCount = 0;
  }
}

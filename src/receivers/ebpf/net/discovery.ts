// What exists before the probes were attached: TCP listeners and established connections, per
// network namespace, with their owning processes, so metrics are complete from the first scrape
// and the kernel tables can be seeded (accepts on old listeners get their owner; closes of old
// connections are reported).
//
//   /proc/<pid>/net/tcp{,6}      sockets of that pid's network namespace (tuple, state, inode)
//   /proc/<pid>/fd/*             socket:[inode] → the owning pid
//   sock_diag (netlink)          inode → socket cookie, the kernel tables' key (optional: without
//                                it, listeners are still seeded by (netns, port))
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding } from '../../../native/binding.js';
import { ENUMS, STRUCTS } from '../../../native/layouts.generated.js';
import { buildMessage, NetlinkSocket } from '../../../native/netlink.js';

export const TCP_ESTABLISHED = 1;
export const TCP_LISTEN = 10;
const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;

export interface ProcSocket {
  family: number;
  state: number;
  /** 16 bytes, network order (IPv4 in the first 4) */
  saddr: Uint8Array;
  sport: number;
  daddr: Uint8Array;
  dport: number;
  inode: number;
}

/** An address of /proc/net/tcp{,6}: 32-bit words in host (little-endian) order, hex. */
function parseHexAddr(hex: string): Uint8Array {
  const out = new Uint8Array(16);
  const words = hex.length / 8;
  for (let w = 0; w < words; w++) {
    const v = parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    out[w * 4] = v & 0xff;
    out[w * 4 + 1] = (v >>> 8) & 0xff;
    out[w * 4 + 2] = (v >>> 16) & 0xff;
    out[w * 4 + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

/** Parses /proc/net/tcp (family AF_INET) or /proc/net/tcp6 (AF_INET6). */
export function parseProcNetTcp(text: string, family: number): ProcSocket[] {
  const out: ProcSocket[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const [la, lp] = f[1].split(':');
    const [ra, rp] = f[2].split(':');
    if (!la || !lp || !ra || !rp) continue;
    out.push({
      family, state: parseInt(f[3], 16),
      saddr: parseHexAddr(la), sport: parseInt(lp, 16),
      daddr: parseHexAddr(ra), dport: parseInt(rp, 16),
      inode: Number(f[9]),
    });
  }
  return out;
}

export function netnsInodeOf(procRoot: string, pid: number | 'self'): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(join(procRoot, String(pid), 'ns', 'net')));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Socket inodes a process holds open. */
export function socketInodes(procRoot: string, pid: number): number[] {
  const dir = join(procRoot, String(pid), 'fd');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const fd of fds) {
    try {
      const l = readlinkSync(join(dir, fd));
      if (l.startsWith('socket:[')) out.push(Number(l.slice(8, -1)));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * SOCK_DIAG_BY_FAMILY dump request for TCP sockets in `states` (a bit mask of TCP states); `ext` asks for
 * extensions (bit `INET_DIAG_INFO - 1`: struct tcp_info).
 */
export function sockDiagRequest(family: number, states: number, seq: number, ext = 0): Buffer {
  const R = STRUCTS.inet_diag_req_v2;
  const body = Buffer.alloc(R.size);
  body.writeUInt8(family, R.fields.sdiag_family.offset);
  body.writeUInt8(IPPROTO_TCP, R.fields.sdiag_protocol.offset);
  body.writeUInt8(ext, R.fields.idiag_ext.offset);
  body.writeUInt32LE(states >>> 0, R.fields.idiag_states.offset);
  return buildMessage(ENUMS.SOCK_DIAG_BY_FAMILY, ENUMS.NLM_F_REQUEST | ENUMS.NLM_F_DUMP, seq, body);
}

/**
 * Dumps the TCP sockets (IPv4 and IPv6) in `states` of one network namespace (`netnsPath`, or the agent's
 * own): one inet_diag_msg payload (plus extension attributes) per socket. Throws when netlink fails.
 */
export function sockDiagDump(native: NativeBinding, netnsPath: string | undefined, states: number, ext = 0): Buffer[] {
  const sock = new NetlinkSocket(native, ENUMS.NETLINK_SOCK_DIAG, netnsPath);
  try {
    const payloads: Buffer[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const m of sock.request(sockDiagRequest(family, states, sock.nextSeq(), ext), 2000)) {
        if (m.type === ENUMS.SOCK_DIAG_BY_FAMILY) payloads.push(m.payload);
      }
    }
    return payloads;
  } finally {
    sock.close();
  }
}

/** inode → socket cookie from a sock_diag reply's inet_diag_msg payloads. */
export function cookiesFromDiag(payloads: Buffer[]): Map<number, bigint> {
  const M = STRUCTS.inet_diag_msg.fields;
  const out = new Map<number, bigint>();
  for (const p of payloads) {
    if (p.length < STRUCTS.inet_diag_msg.size) continue;
    const inode = p.readUInt32LE(M.idiag_inode.offset);
    const cookie = p.readBigUInt64LE(M['id.idiag_cookie'].offset); // u32[2], low word first
    if (inode) out.set(inode, cookie);
  }
  return out;
}

export interface DiscoveredSocket extends ProcSocket {
  netns: number;
  /** owning process, 0 when no process holds it (e.g. not accepted yet) */
  pid: number;
  /** socket cookie, when sock_diag answered */
  cookie?: bigint;
}

export interface Discovery {
  listeners: DiscoveredSocket[];
  /** established connections */
  connections: DiscoveredSocket[];
  /** netns inode → a pid in it */
  namespaces: Map<number, number>;
  pids: number[];
  /** sock_diag failed or was unavailable in some namespaces */
  cookieErrors: number;
}

export interface DiscoverOptions {
  procRoot: string;
  /** for sock_diag cookies; undefined: no cookies */
  native?: NativeBinding;
}

/** Scans /proc (and sock_diag) once. Synchronous; bounded by the number of processes and sockets. */
export function discover(opts: DiscoverOptions): Discovery {
  const { procRoot } = opts;
  let entries: string[] = [];
  try {
    entries = readdirSync(procRoot);
  } catch {
    // no /proc: nothing to discover
  }
  const pids = entries.filter((n) => /^\d+$/.test(n)).map(Number);
  const namespaces = new Map<number, number>();
  const owner = new Map<string, number>(); // `${netns}:${inode}` → pid
  const selfNs = netnsInodeOf('/proc', 'self');
  for (const pid of pids) {
    const ns = netnsInodeOf(procRoot, pid);
    if (ns === undefined) continue;
    if (!namespaces.has(ns)) namespaces.set(ns, pid);
    for (const ino of socketInodes(procRoot, pid)) {
      const k = `${ns}:${ino}`;
      if (!owner.has(k)) owner.set(k, pid);
    }
  }
  const listeners: DiscoveredSocket[] = [];
  const connections: DiscoveredSocket[] = [];
  let cookieErrors = 0;
  const wanted = (1 << TCP_ESTABLISHED) | (1 << TCP_LISTEN);
  for (const [ns, rep] of namespaces) {
    const socks: ProcSocket[] = [];
    for (const [file, family] of [['tcp', AF_INET], ['tcp6', AF_INET6]] as const) {
      try {
        socks.push(...parseProcNetTcp(readFileSync(join(procRoot, String(rep), 'net', file), 'utf8'), family));
      } catch {
        // no IPv6, or the process is gone
      }
    }
    let cookies = new Map<number, bigint>();
    if (opts.native && socks.some((s) => s.state === TCP_ESTABLISHED || s.state === TCP_LISTEN)) {
      try {
        cookies = cookiesFromDiag(sockDiagDump(opts.native, ns === selfNs ? undefined : join(procRoot, String(rep), 'ns', 'net'), wanted));
      } catch {
        cookieErrors++;
      }
    }
    for (const s of socks) {
      if (s.state !== TCP_ESTABLISHED && s.state !== TCP_LISTEN) continue;
      const pid = owner.get(`${ns}:${s.inode}`) ?? 0;
      const d: DiscoveredSocket = { ...s, netns: ns, pid, cookie: cookies.get(s.inode) };
      (s.state === TCP_LISTEN ? listeners : connections).push(d);
    }
  }
  return { listeners, connections, namespaces, pids, cookieErrors };
}

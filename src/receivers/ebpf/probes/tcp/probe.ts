// The tcp probe (bpf/probes/tcp.bpf.c): outbound connections per container and destination with
// coroot-node-agent's metric names and labels, listeners, and the kernel connection table that the
// L7 probe shares. Aggregation happens on the event path into per-cgroup, per-destination counters
// (interned labels, Map lookups, no allocation once a destination is known); collect() turns them
// into cumulative points every interval.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { s } from '../../../../config/schema.js';
import type { Infer } from '../../../../config/schema.js';
import type { BpfObject } from '../../../../native/bpf-object.js';
import { ENUMS, STRUCTS } from '../../../../native/layouts.generated.js';
import type { CgroupEntry } from '../../cgroups.js';
import type { Tuple } from '../../net/conntrack.js';
import type { DiscoveredSocket } from '../../net/discovery.js';
import { sockDiagDump, TCP_ESTABLISHED } from '../../net/discovery.js';
import { parseAttrs } from '../../../../native/netlink.js';
import type { EventHandler, MetricsWriter, Probe, ProbeContext, ProbeFactory } from '../../probe.js';
import { u64 } from '../common/decode-util.js';
import { ConnRole, TCP_EVENT_OFFSETS, TcpEventType } from './decode.js';
import { AddrLabels } from './labels.js';

export const tcpProbeConfigSchema = s.object({
  enabled: s.bool().describe('Load the tcp probe.'),
  max_connections: s.int({ min: 1024, max: 16_777_216 }).describe('Capacity of the kernel connection table (`sonde_conns`, LRU, shared with the L7 probe).'),
  conntrack: s.object({
    enabled: s.bool().describe('Look up `actual_destination` (the address after DNAT, e.g. a Service IP → the pod) in conntrack over netlink for each new outbound connection.'),
    cache_ttl: s.duration(0).describe('A destination found not to be NATed is not asked again for this long.'),
  }).describe('NAT resolution for `actual_destination`.'),
  live_bytes: s.bool().describe('At each collection, read the byte counters of open outbound connections (sock_diag, per network namespace) so long-lived connections\' bytes are current; off: bytes are counted when a connection closes.'),
  proxy_commands: s.array(s.string({ nonEmpty: true })).describe('Processes whose listeners are reported with `proxy="<command>"` in container_net_tcp_listen_info (coroot: proxies forward to the real listener).'),
});
export type TcpProbeConfig = Infer<typeof tcpProbeConfigSchema>;

const O = TCP_EVENT_OFFSETS;
const AF_INET = 2;

/** One (destination, actual_destination) of one cgroup. */
class DestStats {
  readonly destination: string;
  readonly actual: string;
  successful = 0;
  connectTimeS = 0;
  active = 0;
  retransmits = 0;
  bytesSent = 0;
  bytesReceived = 0;
  constructor(destination: string, actual: string) {
    this.destination = destination;
    this.actual = actual;
  }
}

/** An outbound connection being followed: where its counts go and the bytes already counted for it. */
class Conn {
  d!: DestStats;
  sent = 0;
  received = 0;
  netns = 0;
  pid = 0;
}

class CgroupTcp {
  readonly cg: CgroupEntry;
  /** destination → actual_destination → stats */
  readonly dests = new Map<string, Map<string, DestStats>>();
  readonly failed = new Map<string, number>();
  /** listen_addr → proxy → open listening sockets */
  readonly listeners = new Map<string, Map<string, number>>();
  lastSeen: number;
  constructor(cg: CgroupEntry, now: number) {
    this.lastSeen = now;
    this.cg = cg;
  }
  dest(destination: string, actual: string): DestStats {
    let m = this.dests.get(destination);
    if (!m) this.dests.set(destination, (m = new Map()));
    let d = m.get(actual);
    if (!d) m.set(actual, (d = new DestStats(destination, actual)));
    return d;
  }
  live(): boolean {
    if (this.listeners.size > 0) return true;
    for (const m of this.dests.values()) for (const d of m.values()) if (d.active > 0) return true;
    return false;
  }
}

interface ListenerRef {
  tcp: CgroupTcp;
  addr: string;
  proxy: string;
}

class TcpProbe implements Probe {
  readonly eventTypeOffset = O.type;
  readonly eventTypeNames = new Map<number, string>([
    [TcpEventType.CONNECT, 'connect'], [TcpEventType.CONNECT_FAILED, 'connect_failed'], [TcpEventType.ACCEPT, 'accept'],
    [TcpEventType.CLOSE, 'close'], [TcpEventType.LISTEN_OPEN, 'listen_open'], [TcpEventType.LISTEN_CLOSE, 'listen_close'],
    [TcpEventType.RETRANSMIT, 'retransmit'],
  ]);
  readonly handlers: ReadonlyMap<number, EventHandler>;
  readonly #ctx: ProbeContext;
  readonly #cfg: TcpProbeConfig;
  readonly #labels = new AddrLabels();
  readonly #byCgroup = new Map<CgroupEntry, CgroupTcp>();
  /** socket cookie → the outbound connection its later events (retransmit, close) belong to */
  readonly #conns = new Map<number, Conn>();
  readonly #pool: Conn[] = [];
  #liveOk = true;
  /** listening socket cookie → where it is counted */
  readonly #listeners = new Map<number, ListenerRef>();
  readonly #tuple: Tuple = { family: 0, saddr: new Uint8Array(16), sport: 0, daddr: new Uint8Array(16), dport: 0 };
  readonly #proxies: Set<string>;
  #now = Date.now();
  #uncookied = 0;
  #obj?: BpfObject;

  constructor(ctx: ProbeContext, cfg: TcpProbeConfig) {
    this.#ctx = ctx;
    this.#cfg = cfg;
    this.#proxies = new Set(cfg.proxy_commands);
    ctx.conntrack.cacheTtlMs = cfg.conntrack.cache_ttl;
    this.handlers = new Map<number, EventHandler>([
      [TcpEventType.CONNECT, (v, o) => this.#connect(v, o)],
      [TcpEventType.CONNECT_FAILED, (v, o) => this.#failed(v, o)],
      [TcpEventType.ACCEPT, () => undefined], // inbound: no coroot metric; the kernel table keeps it for L7
      [TcpEventType.CLOSE, (v, o) => this.#close(v, o)],
      [TcpEventType.LISTEN_OPEN, (v, o) => this.#listenOpen(v, o)],
      [TcpEventType.LISTEN_CLOSE, (v, o) => this.#listenClose(v, o)],
      [TcpEventType.RETRANSMIT, (v, o) => this.#retransmit(v, o)],
    ]);
  }

  configure(obj: BpfObject): void {
    this.#obj = obj;
    obj.setMaxEntries('sonde_conns', this.#cfg.max_connections);
  }

  /**
   * The kernel table is an LRU: an entry it evicted (more live sockets than max_connections) never gets its
   * CLOSE, so its user-space twin would stay "active" forever. When there are more twins than the kernel
   * can hold, keep only those whose cookie is still in the kernel table.
   */
  #reconcile(): void {
    if (this.#conns.size <= this.#cfg.max_connections || !this.#obj) return;
    let live: Set<number>;
    try {
      const e = this.#obj.map('sonde_conns').entries();
      live = new Set<number>();
      for (let i = 0; i < e.count; i++) live.add(u64(new DataView(e.keys.buffer, e.keys.byteOffset), i * 8));
    } catch {
      return;
    }
    let dropped = 0;
    for (const [cookie, c] of this.#conns) {
      if (live.has(cookie)) continue;
      this.#conns.delete(cookie);
      c.d.active--;
      this.#release(c);
      dropped++;
    }
    this.#ctx.logger.warnOnce('conns-evicted', 'the kernel connection table overflowed: raise probes.tcp.max_connections', { dropped });
  }

  #tcpOf(cg: CgroupEntry): CgroupTcp {
    let t = this.#byCgroup.get(cg);
    if (!t) this.#byCgroup.set(cg, (t = new CgroupTcp(cg, this.#now)));
    return t;
  }

  #owner(v: DataView, o: number): CgroupTcp {
    const t = this.#tcpOf(this.#ctx.cgroups.of(v.getUint32(o + O.pid, true), u64(v, o + O.cgroup_id)));
    t.lastSeen = this.#now; // a coarse clock, advanced at each collection: no clock read per event
    return t;
  }

  #dest(v: DataView, o: number): string {
    return this.#labels.of(v, o + O['tuple.daddr'], v.getUint16(o + O['tuple.family'], true), v.getUint16(o + O['tuple.dport'], true));
  }

  /** actual_destination of a new outbound connection (conntrack), or its destination when not NATed. */
  #actual(v: DataView, o: number, dest: string, pid: number): string {
    if (!this.#cfg.conntrack.enabled || !this.#ctx.conntrack.enabled) return dest;
    const t = this.#tuple;
    t.family = v.getUint16(o + O['tuple.family'], true);
    for (let i = 0; i < 16; i++) {
      t.saddr[i] = v.getUint8(o + O['tuple.saddr'] + i);
      t.daddr[i] = v.getUint8(o + O['tuple.daddr'] + i);
    }
    t.sport = v.getUint16(o + O['tuple.sport'], true);
    t.dport = v.getUint16(o + O['tuple.dport'], true);
    const nat = this.#ctx.conntrack.lookup(v.getUint32(o + O.netns, true), pid, t, dest);
    return nat ? this.#labels.ofBytes(nat.addr, nat.family, nat.port) : dest;
  }

  /** A Conn from the pool (connections come and go: no allocation per connection once warm). */
  #take(d: DestStats, netns: number, pid: number): Conn {
    const c = this.#pool.pop() ?? new Conn();
    c.d = d;
    c.sent = 0;
    c.received = 0;
    c.netns = netns;
    c.pid = pid;
    return c;
  }

  #release(c: Conn): void {
    if (this.#pool.length < 4096) this.#pool.push(c);
  }

  #connect(v: DataView, o: number): void {
    if (v.getUint8(o + O.role) !== ConnRole.CLIENT) return;
    const tcp = this.#owner(v, o);
    const dest = this.#dest(v, o);
    const pid = v.getUint32(o + O.pid, true);
    const d = tcp.dest(dest, this.#actual(v, o, dest, pid));
    d.successful++;
    d.connectTimeS += u64(v, o + O.duration_ns) / 1e9;
    d.active++;
    this.#conns.set(u64(v, o + O.cookie), this.#take(d, v.getUint32(o + O.netns, true), pid));
  }

  #failed(v: DataView, o: number): void {
    const tcp = this.#owner(v, o);
    const dest = this.#dest(v, o);
    tcp.failed.set(dest, (tcp.failed.get(dest) ?? 0) + 1);
  }

  #close(v: DataView, o: number): void {
    if (v.getUint8(o + O.role) !== ConnRole.CLIENT) return;
    const cookie = u64(v, o + O.cookie);
    const sent = u64(v, o + O.bytes_sent);
    const received = u64(v, o + O.bytes_received);
    const c = this.#conns.get(cookie);
    if (c) {
      this.#conns.delete(cookie);
      const d = c.d;
      d.active--;
      // the kernel's totals at close, less what live reads already counted
      if (sent > c.sent) d.bytesSent += sent - c.sent;
      if (received > c.received) d.bytesReceived += received - c.received;
      this.#release(c);
      return;
    }
    // its CONNECT was not seen (lost): count the bytes under the plain destination
    const dest = this.#dest(v, o);
    const d = this.#owner(v, o).dest(dest, dest);
    d.bytesSent += sent;
    d.bytesReceived += received;
  }

  #retransmit(v: DataView, o: number): void {
    const c = this.#conns.get(u64(v, o + O.cookie));
    if (c) {
      c.d.retransmits += v.getUint32(o + O.retransmits, true);
      return;
    }
    if (v.getUint8(o + O.role) !== ConnRole.CLIENT) return;
    const dest = this.#dest(v, o);
    this.#owner(v, o).dest(dest, dest).retransmits += v.getUint32(o + O.retransmits, true);
  }

  #proxyOf(pid: number): string {
    if (this.#proxies.size === 0 || pid <= 0) return '';
    try {
      const comm = readFileSync(join(this.#ctx.procRoot, String(pid), 'comm'), 'utf8').trim();
      return this.#proxies.has(comm) ? comm : '';
    } catch {
      return '';
    }
  }

  #addListener(cookie: number, tcp: CgroupTcp, addr: string, proxy: string): void {
    let m = tcp.listeners.get(addr);
    if (!m) tcp.listeners.set(addr, (m = new Map()));
    m.set(proxy, (m.get(proxy) ?? 0) + 1);
    this.#listeners.set(cookie, { tcp, addr, proxy });
  }

  #listenOpen(v: DataView, o: number): void {
    this.#ctx.conntrack.notePid(v.getUint32(o + O.netns, true), v.getUint32(o + O.pid, true));
    const tcp = this.#owner(v, o);
    const addr = this.#labels.of(v, o + O['tuple.saddr'], v.getUint16(o + O['tuple.family'], true), v.getUint16(o + O['tuple.sport'], true));
    this.#addListener(u64(v, o + O.cookie), tcp, addr, this.#proxyOf(v.getUint32(o + O.pid, true)));
  }

  #listenClose(v: DataView, o: number): void {
    const cookie = u64(v, o + O.cookie);
    const ref = this.#listeners.get(cookie);
    if (!ref) return;
    this.#listeners.delete(cookie);
    const m = ref.tcp.listeners.get(ref.addr);
    const n = (m?.get(ref.proxy) ?? 1) - 1;
    if (m && n > 0) m.set(ref.proxy, n);
    else {
      m?.delete(ref.proxy);
      if (m?.size === 0) ref.tcp.listeners.delete(ref.addr);
    }
    ref.tcp.lastSeen = this.#now;
  }

  /** Seeds user-space state and the kernel tables with what existed before attach. */
  started(obj: BpfObject): void {
    const d = this.#ctx.discovery();
    if (!d) return;
    for (const [ns, pid] of d.namespaces) this.#ctx.conntrack.notePid(ns, pid);
    const self = this.#ctx.selfPid;
    const listenKeys = new Map<string, { netns: number; port: number; pid: number; count: number }>();
    const listening = new Set<string>();
    for (const l of d.listeners) {
      const k = `${l.netns}:${l.sport}`;
      listening.add(k);
      const e = listenKeys.get(k);
      if (e) e.count++;
      else listenKeys.set(k, { netns: l.netns, port: l.sport, pid: l.pid, count: 1 });
      if (l.pid === self || l.pid === 0) continue;
      const tcp = this.#tcpOf(this.#ctx.cgroups.of(l.pid, 0));
      const addr = this.#labels.ofBytes(l.saddr, l.family, l.sport);
      const cookie = l.cookie !== undefined ? Number(l.cookie) : -++this.#uncookied; // no cookie: never closed by an event
      this.#addListener(cookie, tcp, addr, this.#proxyOf(l.pid));
    }
    const seed = new KernelSeed(obj);
    for (const e of listenKeys.values()) if (e.pid > 0) seed.listener(e.netns, e.port, e.pid, e.count);
    for (const l of d.listeners) if (l.cookie !== undefined && l.pid > 0) seed.listenSock(l.cookie, l.netns, l.sport);
    for (const c of d.connections) {
      const server = listening.has(`${c.netns}:${c.sport}`);
      if (c.cookie !== undefined && c.pid > 0) seed.connection(c, server ? ConnRole.SERVER : ConnRole.CLIENT);
      if (server || c.pid === self || c.pid === 0 || c.cookie === undefined) continue;
      // an outbound connection we can follow to its close: active from the first scrape
      const tcp = this.#tcpOf(this.#ctx.cgroups.of(c.pid, 0));
      const dest = this.#labels.ofBytes(c.daddr, c.family, c.dport);
      let actual = dest;
      if (this.#cfg.conntrack.enabled && this.#ctx.conntrack.enabled) {
        const nat = this.#ctx.conntrack.lookup(c.netns, c.pid, { family: c.family, saddr: c.saddr, sport: c.sport, daddr: c.daddr, dport: c.dport }, dest);
        if (nat) actual = this.#labels.ofBytes(nat.addr, nat.family, nat.port);
      }
      const ds = tcp.dest(dest, actual);
      ds.active++;
      this.#conns.set(Number(c.cookie), this.#take(ds, c.netns, c.pid));
    }
    if (seed.failed > 0) this.#ctx.logger.warn('seeding the kernel tables from /proc partly failed', { failed: seed.failed });
    this.#ctx.logger.info('discovered existing TCP sockets', {
      listeners: d.listeners.length, connections: d.connections.length, seededConnections: seed.conns, namespaces: d.namespaces.size,
    });
  }

  /**
   * Live byte counts: one sock_diag dump (ESTABLISHED sockets with struct tcp_info) per network namespace
   * that has followed connections; each followed socket's bytes beyond what was counted are added now.
   * Only ESTABLISHED sockets: neither side's FIN is in the counters yet, so data bytes are exact
   * (bytes_acked less the SYN); the close adds the rest from the kernel's own accounting.
   */
  #refreshLiveBytes(): void {
    if (!this.#cfg.live_bytes || !this.#liveOk || this.#conns.size === 0) return;
    const namespaces = new Map<number, number>();
    for (const c of this.#conns.values()) if (!namespaces.has(c.netns)) namespaces.set(c.netns, c.pid);
    const self = this.#ctx.conntrack.selfNetns;
    const M = STRUCTS.inet_diag_msg;
    for (const [netns, pid] of namespaces) {
      let payloads: Buffer[];
      try {
        // cookies are unique across namespaces: a pid that now lives elsewhere matches nothing
        payloads = sockDiagDump(this.#ctx.native, netns === self ? undefined : join(this.#ctx.procRoot, String(pid), 'ns', 'net'),
          1 << TCP_ESTABLISHED, 1 << (ENUMS.INET_DIAG_INFO - 1));
      } catch (e) {
        if (netns === self) {
          this.#liveOk = false;
          this.#ctx.logger.warnOnce('live-bytes', 'live byte counts disabled: sock_diag unavailable (bytes are counted at close)', { error: (e as Error).message });
          return;
        }
        continue;
      }
      for (const p of payloads) {
        if (p.length < M.size) continue;
        const c = this.#conns.get(Number(p.readBigUInt64LE(M.fields['id.idiag_cookie'].offset)));
        if (!c) continue;
        const info = parseAttrs(p.subarray(M.size)).get(ENUMS.INET_DIAG_INFO);
        if (!info || info.length < ENUMS.TCP_INFO_BYTES_RECEIVED_OFFSET + 8) continue;
        const acked = Number(info.readBigUInt64LE(ENUMS.TCP_INFO_BYTES_ACKED_OFFSET));
        const sent = acked > 0 ? acked - 1 : 0; // a client's SYN is acked sequence space
        const received = Number(info.readBigUInt64LE(ENUMS.TCP_INFO_BYTES_RECEIVED_OFFSET));
        if (sent > c.sent) {
          c.d.bytesSent += sent - c.sent;
          c.sent = sent;
        }
        if (received > c.received) {
          c.d.bytesReceived += received - c.received;
          c.received = received;
        }
      }
    }
  }

  collect(out: MetricsWriter): void {
    const now = (this.#now = Date.now());
    this.#reconcile();
    this.#refreshLiveBytes();
    for (const [cg, t] of this.#byCgroup) {
      if (now - t.lastSeen > this.#ctx.idleTimeoutMs && !t.live()) {
        this.#byCgroup.delete(cg);
        continue;
      }
      for (const m of t.dests.values()) {
        for (const d of m.values()) {
          const a = { destination: d.destination, actual_destination: d.actual };
          out.sum(cg, 'container_net_tcp_successful_connects_total', 'Successful TCP connects', '', a, d.successful);
          out.sum(cg, 'container_net_tcp_connection_time_seconds_total', 'Time spent on TCP connects', '', a, d.connectTimeS);
          out.gauge(cg, 'container_net_tcp_active_connections', 'Active TCP connections', '', a, d.active);
          out.sum(cg, 'container_net_tcp_retransmits_total', 'Retransmitted TCP segments', '', a, d.retransmits);
          out.sum(cg, 'container_net_tcp_bytes_sent_total', 'Data bytes sent on outbound TCP connections (acked by the peer)', '', a, d.bytesSent);
          out.sum(cg, 'container_net_tcp_bytes_received_total', 'Data bytes received on outbound TCP connections', '', a, d.bytesReceived);
        }
      }
      for (const [dest, n] of t.failed) out.sum(cg, 'container_net_tcp_failed_connects_total', 'Failed TCP connects', '', { destination: dest }, n);
      for (const [addr, m] of t.listeners) {
        for (const proxy of m.keys()) out.gauge(cg, 'container_net_tcp_listen_info', 'Listening TCP sockets', '', { listen_addr: addr, proxy }, 1);
      }
    }
  }

  shutdown(): void {
    this.#conns.clear();
    this.#listeners.clear();
  }
}

/** Writes discovered sockets into the kernel tables without replacing what the probes already recorded. */
class KernelSeed {
  failed = 0;
  conns = 0;
  readonly #obj: BpfObject;
  constructor(obj: BpfObject) {
    this.#obj = obj;
  }
  #put(map: string, key: Buffer, value: Buffer): boolean {
    try {
      this.#obj.map(map).update(key, value, ENUMS.BPF_NOEXIST);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') this.failed++;
      return false;
    }
  }
  #listenKey(netns: number, port: number): Buffer {
    const K = STRUCTS.sonde_listen_key;
    const k = Buffer.alloc(K.size);
    k.writeUInt32LE(netns, K.fields.netns.offset);
    k.writeUInt16LE(port, K.fields.port.offset);
    return k;
  }
  listener(netns: number, port: number, pid: number, count: number): void {
    const V = STRUCTS.sonde_listener;
    const v = Buffer.alloc(V.size);
    v.writeUInt32LE(pid, V.fields.pid.offset);
    v.writeUInt32LE(count, V.fields.count.offset);
    this.#put('sonde_listen', this.#listenKey(netns, port), v);
  }
  listenSock(cookie: bigint, netns: number, port: number): void {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(cookie);
    this.#put('sonde_listen_socks', k, this.#listenKey(netns, port));
  }
  connection(c: DiscoveredSocket, role: number): void {
    const C = STRUCTS.sonde_conn;
    const T = STRUCTS.sonde_tuple.fields;
    const v = Buffer.alloc(C.size);
    v.writeBigUInt64LE(process.hrtime.bigint(), C.fields.start_ns.offset); // CLOCK_MONOTONIC, as bpf_ktime_get_ns
    v.writeBigUInt64LE(BigInt(c.inode), C.fields.sock_ino.offset);
    const t = C.fields.tuple.offset;
    v.set(c.saddr.subarray(0, c.family === AF_INET ? 4 : 16), t + T.saddr.offset);
    v.set(c.daddr.subarray(0, c.family === AF_INET ? 4 : 16), t + T.daddr.offset);
    v.writeUInt16LE(c.family, t + T.family.offset);
    v.writeUInt16LE(c.sport, t + T.sport.offset);
    v.writeUInt16LE(c.dport, t + T.dport.offset);
    v.writeUInt32LE(c.pid, C.fields.pid.offset);
    v.writeUInt32LE(c.netns, C.fields.netns.offset);
    v.writeUInt8(role, C.fields.role.offset);
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(c.cookie!);
    if (this.#put('sonde_conns', k, v)) this.conns++;
  }
}

export const tcpProbeFactory: ProbeFactory<TcpProbeConfig> = {
  name: 'tcp',
  description: 'TCP connections (tp_btf inet_sock_set_state, tcp_retransmit_skb): coroot container_net_tcp_* metrics per container and destination; the connection table shared with L7.',
  object: 'tcp',
  configSchema: tcpProbeConfigSchema,
  createDefaultConfig: () => ({
    enabled: true,
    max_connections: 65_536,
    conntrack: { enabled: true, cache_ttl: 60_000 },
    live_bytes: true,
    proxy_commands: ['docker-proxy', 'kube-proxy'],
  }),
  create: (ctx, cfg) => new TcpProbe(ctx, cfg),
};

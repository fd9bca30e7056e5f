// Process plumbing shared by every test peer: temp dirs, free loopback ports, a foreground child
// in its own process group, protocol-level readiness polling, idempotent stop, and an exit hook
// that kills whatever a crashed test left running.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, Socket } from 'node:net';
import { request } from 'node:http';
import { Resolver } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

/** The fields every peer handle has. */
export interface PeerBase {
  readonly host: string;
  /** PID of the server process we spawned (the leader of its own process group). Changes on restart(). */
  readonly pid: number;
  /** Per-peer temp dir: config, data, logs. Removed by stop(). */
  readonly dir: string;
  /** Combined stdout/stderr of the server. */
  readonly logFile: string;
  /** Kill the server (its process group), wait for it to exit, remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** Peers that exporter-outage tests can take down and bring back on the same ports. */
export interface RestartablePeer extends PeerBase {
  /** Stop the server process but keep `dir` and the ports: the backend is "down". Idempotent. */
  halt(): Promise<void>;
  /** Start it again on the same ports with the same data dir (halts first if running); waits for readiness. */
  restart(): Promise<void>;
  readonly running: boolean;
}

// ---------------------------------------------------------------------------------------------
// Exit hook: registered once, kills every live process group and removes every temp dir.

const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
let hookInstalled = false;

function cleanupSync(): void {
  for (const pgid of liveGroups) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
  }
  liveGroups.clear();
  for (const dir of liveDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  liveDirs.clear();
}

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  sweepStalePeers();
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Clean up; if no one else handles the signal (the test runner may), re-raise it for the default action.
    process.once(sig, () => {
      cleanupSync();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Owner records: SIGKILL (OOM killer, a runner's hard timeout) gives no hook a chance to run, so
// every temp dir records its owner and its server processes; the next process that starts a peer
// sweeps dirs whose owner is dead. Start times (field 22 of /proc/PID/stat) guard against PID reuse.

const OWNER_FILE = '.sonde-peer.json';
interface ProcId { pid: number; start: string }
interface OwnerRecord { owner: ProcId; servers: ProcId[] }

function procStart(pid: number): string | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const isSameProcess = (p: ProcId): boolean => procStart(p.pid) === p.start;

function recordServer(dir: string, pid: number): void {
  const file = join(dir, OWNER_FILE);
  try {
    const rec = JSON.parse(readFileSync(file, 'utf8')) as OwnerRecord;
    rec.servers.push({ pid, start: procStart(pid) ?? '' });
    writeFileSync(file, JSON.stringify(rec));
  } catch { /* not a peer dir */ }
}

/** Kill the servers of, and remove, every sonde-* temp dir whose owning process is gone. Returns how many. */
export function sweepStalePeers(): number {
  let swept = 0;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('sonde-')) continue;
    const dir = join(tmpdir(), name);
    let rec: OwnerRecord;
    try { rec = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as OwnerRecord; } catch { continue; }
    if (isSameProcess(rec.owner)) continue;
    for (const s of rec.servers) {
      if (isSameProcess(s)) try { process.kill(-s.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
    swept++;
  }
  return swept;
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

export function makeTempDir(name: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), `sonde-${name}-`));
  liveDirs.add(dir);
  const rec: OwnerRecord = { owner: { pid: process.pid, start: procStart(process.pid) ?? '' }, servers: [] };
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(rec));
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// Ports

const handedOut = new Set<number>();

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port, host: LOOPBACK, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, LOOPBACK, () => s.close(() => resolve(true)));
  });
}

/**
 * A loopback port that is free right now (the kernel picks it: we bind port 0, read it, close).
 * `udp: true` also checks UDP on the same number (DNS servers bind both). Never returns the same
 * port twice in one process. There is a small window before the server binds it: starters retry
 * on "address in use" (see PortClashError).
 */
export async function freePort(opts: { udp?: boolean } = {}): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await listenOnce(0);
    if (handedOut.has(port)) continue;
    if (opts.udp === true && !(await udpFree(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('freePort: could not find a free loopback port');
}

/** True if nothing accepts TCP connections on host:port and we can bind it ourselves. */
export async function tcpPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  if (await tcpConnects(port, host)) return false;
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}

export function tcpConnects(port: number, host = LOOPBACK, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

export interface ListeningSocket { proto: 'tcp' | 'udp'; address: string; port: number; pid: number }

function decodeProcAddr(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  if (hex === '00000000000000000000000000000000') return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  if (hex.startsWith('0000000000000000FFFF0000')) return `::ffff:${decodeProcAddr(hex.slice(24))}`;
  return hex;
}

/**
 * Listening TCP sockets and bound UDP sockets of the processes `select(pid, pgid)` picks, read from
 * /proc/net/{tcp,udp}[6] and /proc/PID/fd.
 */
function scanListeningSockets(select: (pid: number, pgid: number) => boolean): ListeningSocket[] {
  const byInode = new Map<string, { proto: 'tcp' | 'udp'; address: string; port: number }>();
  for (const [file, proto, state] of [['/proc/net/tcp', 'tcp', '0A'], ['/proc/net/tcp6', 'tcp', '0A'],
    ['/proc/net/udp', 'udp', '07'], ['/proc/net/udp6', 'udp', '07']] as const) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== state) continue;
      const [addr = '', port = '0'] = (cols[1] ?? '').split(':');
      byInode.set(cols[9] ?? '', { proto, address: decodeProcAddr(addr), port: parseInt(port, 16) });
    }
  }
  const out: ListeningSocket[] = [];
  if (byInode.size === 0) return out;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try { stat = readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]); // field 5: process group
    if (!select(Number(d), pgid)) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${d}/fd`); } catch { continue; }
    for (const fd of fds) {
      let target: string;
      try { target = readlinkSync(`/proc/${d}/fd/${fd}`); } catch { continue; }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      const sock = m !== null ? byInode.get(m[1] ?? '') : undefined;
      if (sock !== undefined && !out.some((o) => o.proto === sock.proto && o.port === sock.port && o.address === sock.address)) {
        out.push({ ...sock, pid: Number(d) });
      }
    }
  }
  return out;
}

/** Sockets of every process in process group `pgid` (a peer's pid is its group id): assert loopback-only binds. */
export function listeningSockets(pgid: number): ListeningSocket[] {
  return scanListeningSockets((_pid, g) => g === pgid);
}

/** PIDs with a TCP listener on `port` (any address, any process). */
export function pidsListeningOn(port: number): number[] {
  const hits = scanListeningSockets(() => true).filter((s) => s.proto === 'tcp' && s.port === port);
  return [...new Set(hits.map((s) => s.pid))];
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still "exists" for kill(0); treat it as dead.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/** The server exited before it became ready and its log says its port was taken: pick new ports and retry. */
export class PortClashError extends Error {}

export interface SpawnSpec {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Signal for a clean shutdown (default SIGTERM); SIGKILL follows after `stopTimeoutMs`. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
}

/** One running server process: its own process group, output appended to `logFile`. */
export class PeerProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private spawnError: Error | undefined;
  private readonly child: ChildProcess;
  private readonly spec: SpawnSpec;

  constructor(spec: SpawnSpec, logFile: string) {
    installExitHook();
    this.spec = spec;
    this.logFile = logFile;
    const fd = openSync(logFile, 'a');
    try {
      this.child = spawn(spec.cmd, spec.args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        uid: spec.uid,
        gid: spec.gid,
        detached: true, // own process group: stop() kills -pid and gets every worker
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise<number | null>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal !== null ? -1 : null);
        if (this.child.pid !== undefined) liveGroups.delete(this.child.pid);
        resolve(this.exitCode);
      });
      this.child.once('error', (e) => { // spawn failed (ENOENT: the package is not installed)
        this.spawnError = e;
        this.exitCode = -1;
        resolve(-1);
      });
    });
    this.pid = this.child.pid ?? -1;
    if (this.pid > 0) {
      liveGroups.add(this.pid);
      recordServer(dirname(logFile), this.pid); // the log file lives in the peer's temp dir
    }
  }

  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  logTail(lines = 30): string {
    const spawnErr = this.spawnError !== undefined
      ? `${this.spawnError.message} (is its Debian package installed? see scripts/apt-packages-peers.txt)\n` : '';
    try {
      return spawnErr + readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return spawnErr;
    }
  }

  /** Signal the process group, wait for the leader to exit (SIGKILL after the timeout), then reap stragglers. */
  async stop(): Promise<void> {
    if (this.pid > 0 && !this.hasExited) {
      try { process.kill(-this.pid, this.spec.stopSignal ?? 'SIGTERM'); } catch { /* gone */ }
      const timeout = this.spec.stopTimeoutMs ?? 15_000;
      const ac = new AbortController();
      const t = sleep(timeout, 'timeout' as const, { signal: ac.signal }).catch(() => 'aborted' as const);
      const r = await Promise.race([this.exited.then(() => 'exited' as const), t]);
      ac.abort();
      if (r !== 'exited') {
        try { process.kill(-this.pid, 'SIGKILL'); } catch { /* gone */ }
        await this.exited;
      }
    }
    await this.exited;
    // Workers that outlived their leader (same process group) are killed too.
    if (this.pid > 0) {
      try { process.kill(-this.pid, 'SIGKILL'); } catch { /* none left */ }
    }
  }
}

const PORT_CLASH = /address already in use|EADDRINUSE|bind\(\) to .* failed|could not bind|port .* in use|eaddrinuse/i;

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Poll `check` until it returns true. Fails fast (with the log tail) if `proc` exits first;
 * throws PortClashError if that exit looks like a port clash.
 */
export async function waitReady(name: string, proc: PeerProcess, check: () => Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    if (proc.hasExited) {
      const tail = proc.logTail();
      const msg = `${name} exited before it was ready (pid ${proc.pid}); log ${proc.logFile}:\n${tail}`;
      throw PORT_CLASH.test(tail) ? new PortClashError(msg) : new Error(msg);
    }
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const why = lastErr instanceof Error ? ` (last error: ${lastErr.message})` : '';
      throw new Error(`${name} not ready after ${timeoutMs} ms${why}; log ${proc.logFile}:\n${proc.logTail()}`);
    }
    await sleep(intervalMs);
  }
}

/** Run a starter up to `attempts` times while it fails with PortClashError. */
export async function retryOnPortClash<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof PortClashError) || i >= attempts) throw e;
    }
  }
}

/** Send `payload` to a TCP port, resolve with what arrived once `done(buffer)` says so (or the socket closes). */
export function tcpExchange(port: number, payload: Buffer | string, done: (b: Buffer) => boolean, timeoutMs = 2000, host = LOOPBACK): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      s.destroy();
      if (err !== undefined) reject(err); else resolve(buf);
    };
    s.setTimeout(timeoutMs, () => finish(new Error(`tcp ${host}:${port}: timeout`)));
    s.once('error', (e) => finish(e));
    s.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); if (done(buf)) finish(); });
    s.once('end', () => finish());
    s.connect(port, host, () => { if (payload.length > 0) s.write(payload); });
  });
}

/** Look up a system user's uid/gid in /etc/passwd. */
export function systemUser(name: string): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`user ${name} not found in /etc/passwd (is its package installed?)`);
}

/** One HTTP/1.1 GET without connection reuse (readiness probes must not leave pooled sockets behind). */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.once('error', reject);
    req.end();
  });
}

/** What the DNS peers (dnsmasq, unbound) return besides the common fields. */
export interface DnsPeer extends RestartablePeer {
  /** UDP and TCP port. */
  readonly port: number;
  /** name -> IPv4 the server answers. */
  readonly records: Record<string, string>;
  /** A node:dns Resolver pointed at this server only. */
  resolver(): Resolver;
}

/** The name a DNS peer's readiness check resolves: its first record. */
export function readinessName(server: string, records: Record<string, string>): string {
  const first = Object.keys(records)[0];
  if (first === undefined) throw new Error(`${server}: need at least one record (used for the readiness query)`);
  return first;
}

/** A node:dns Resolver that asks only 127.0.0.1:port (UDP, TCP fallback), 500 ms per try. */
export function dnsResolver(port: number): Resolver {
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([`${LOOPBACK}:${port}`]);
  return r;
}

/** Poll `fn` until it returns something other than undefined/false; throws after `timeoutMs`. */
export async function pollUntil<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

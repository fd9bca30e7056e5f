// FakeNative: a NativeBinding without a kernel. Objects open by name; their `events` ring
// replays recorded ring-buffer batches (test/fixtures/ringbuf/<probe>/*.bin, the batch
// format of native/src/ring.c), so components can be tested without root.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type {
  LibbpfLogLevel, LinkHandle, LinkInfo, MapEntries, MapInfo, MemlockLimit, NativeBinding, NativeLogFn, NetlinkHandle, ObjectHandle,
  OpenOptions, ProgramInfo, RingHandle, RingStartOptions, RingStats, RodataVar, Layouts,
} from './binding.js';
import { ENUMS, STRUCTS } from './layouts.generated.js';
import { forEachRecord } from './ring-records.js';

export interface FakeObjectSpec {
  programs?: string[];
  maps?: MapInfo[];
  rodata?: RodataVar[];
}

export interface FakeNativeOptions {
  /** batches per object name (e.g. 'tcp'), delivered in order */
  batches?: Record<string, Buffer[]>;
  objects?: Record<string, FakeObjectSpec>;
  possibleCpus?: number;
  /**
   * Answers netlink requests (conntrack lookups, sock_diag dumps): gets the protocol, the network namespace
   * path it was opened in and the request bytes, returns the reply bytes. Default: netlink is unavailable
   * (netlinkOpen throws EPROTONOSUPPORT), as in a sandbox without it.
   */
  netlink?: (protocol: number, netnsPath: string | undefined, request: Buffer) => Buffer;
}

interface FakeObject {
  name: string;
  spec: FakeObjectSpec;
  loaded: boolean;
  destroyed: boolean;
  autoload: Map<string, boolean>;
  rodata: Map<string, Buffer>;
  maps: Map<string, Map<string, Buffer>>;
}

interface FakeRing {
  obj: FakeObject;
  buf: Buffer;
  queue: Buffer[];
  timer?: NodeJS.Timeout;
  closed: boolean;
  stats: RingStats;
}

const DEFAULT_MAPS: MapInfo[] = [
  { name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 8 << 20, fd: -1, id: 0 },
  { name: 'lost', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: ENUMS.SONDE_LOST__MAX, fd: -1, id: 0 },
];

export class FakeNative implements NativeBinding {
  private readonly opts: FakeNativeOptions;
  private readonly objects = new Map<object, FakeObject>();
  private readonly links = new Map<object, LinkInfo>();
  private readonly rings = new Map<object, FakeRing>();
  private errorClass: new (message: string) => Error = Error;
  logLevel: LibbpfLogLevel = 0;
  private nextId = 1;

  constructor(opts: FakeNativeOptions = {}) {
    this.opts = opts;
  }

  /**
   * Loads test/fixtures/ringbuf/<probe>/*.bin (sorted by name) as batches per probe, and
   * <probe>/object.json (programs, maps, rodata of the real object, written by the recorder) as its spec.
   */
  static fromFixtures(dir: string, opts: Omit<FakeNativeOptions, 'batches'> = {}): FakeNative {
    const batches: Record<string, Buffer[]> = {};
    const objects: Record<string, FakeObjectSpec> = { ...opts.objects };
    for (const probe of readdirSync(dir)) {
      let files: string[];
      try { files = readdirSync(join(dir, probe)).sort(); } catch { continue; }
      batches[probe] = files.filter((f) => f.endsWith('.bin')).map((f) => readFileSync(join(dir, probe, f)));
      if (files.includes('object.json') && objects[probe] === undefined) {
        objects[probe] = JSON.parse(readFileSync(join(dir, probe, 'object.json'), 'utf8')) as FakeObjectSpec;
      }
    }
    return new FakeNative({ ...opts, batches, objects });
  }

  private obj(h: ObjectHandle): FakeObject {
    const o = this.objects.get(h as unknown as object);
    if (!o) throw new TypeError('expected a BPF object handle');
    if (o.destroyed) throw this.native('EBADF', 'sonde_object', o.name);
    return o;
  }

  private native(code: string, op: string, object?: string): Error {
    const e = new this.errorClass(`${op} failed${object ? ` for ${object}` : ''} (${code})`) as Error & Record<string, unknown>;
    Object.assign(e, { code, op, errno: 0, object });
    return e;
  }

  init(errorClass: new (message: string) => Error, _logger: NativeLogFn): void { this.errorClass = errorClass; }
  setLogLevel(level: LibbpfLogLevel): void { this.logLevel = level; }
  libbpfVersion(): string { return 'fake'; }
  numPossibleCpus(): number { return this.opts.possibleCpus ?? 2; }
  probeProgType(_name: string): boolean { return true; }
  probeMapType(_name: string): boolean { return true; }
  getMemlockLimit(): MemlockLimit { return { soft: Infinity, hard: Infinity }; }
  setMemlockLimit(_bytes: number): void {}
  readonly schedPolicies = new Map<number, number>();
  getSchedPolicy(tid: number): number { return this.schedPolicies.get(tid) ?? 0; }
  setSchedPolicy(tid: number, policy: number): void { this.schedPolicies.set(tid, policy); }

  objectOpen(source: string | Buffer, opts: OpenOptions = {}): ObjectHandle {
    if (typeof source !== 'string' && !Buffer.isBuffer(source)) throw new TypeError('source must be a path string or a Buffer');
    const name = opts.name ?? (typeof source === 'string' ? basename(source).replace(/\.bpf\.o$|\.o$/, '') : 'object');
    const spec = this.opts.objects?.[name] ?? {};
    const h = {};
    this.objects.set(h, {
      name, spec, loaded: false, destroyed: false, autoload: new Map((spec.programs ?? []).map((p) => [p, true])),
      rodata: new Map(), maps: new Map(),
    });
    return h as unknown as ObjectHandle;
  }
  objectName(h: ObjectHandle): string { return this.obj(h).name; }
  objectPrograms(h: ObjectHandle): ProgramInfo[] {
    const o = this.obj(h);
    return [...o.autoload].map(([name, autoload]) => ({ name, section: `fake/${name}`, type: 'tracing', autoload, fd: -1, id: 0 }));
  }
  objectMaps(h: ObjectHandle): MapInfo[] { return this.obj(h).spec.maps ?? DEFAULT_MAPS; }
  objectRodataVars(h: ObjectHandle): RodataVar[] {
    return this.obj(h).spec.rodata ?? [{ name: 'targ_wakeup_bytes', offset: 0, size: 8 }, { name: 'targ_self_tgid', offset: 8, size: 4 }];
  }
  objectSetRodata(h: ObjectHandle, name: string, value: Buffer): void {
    const o = this.obj(h);
    if (o.loaded) throw this.native('EBUSY', 'bpf_map__initial_value', o.name);
    o.rodata.set(name, Buffer.from(value));
  }
  /** Test helper: the bytes set for a rodata variable. */
  rodataOf(h: ObjectHandle, name: string): Buffer | undefined { return this.obj(h).rodata.get(name); }
  objectSetAutoload(h: ObjectHandle, program: string, autoload: boolean): void {
    const o = this.obj(h);
    if (!o.autoload.has(program)) throw this.native('ENOENT', 'bpf_object__find_program_by_name', o.name);
    o.autoload.set(program, autoload);
  }
  objectSetMaxEntries(h: ObjectHandle, _map: string, _n: number): void { this.obj(h); }
  objectReuseMap(h: ObjectHandle, _map: string, from: ObjectHandle, _fromMap: string): void { this.obj(h); this.obj(from); }
  objectLoad(h: ObjectHandle): void {
    const o = this.obj(h);
    if (o.loaded) throw this.native('EALREADY', 'bpf_object__load', o.name);
    o.loaded = true;
  }
  objectAttach(h: ObjectHandle, program: string): LinkHandle {
    const o = this.obj(h);
    if (!o.loaded) throw this.native('EBADF', 'bpf_program__attach', o.name);
    const l = {};
    this.links.set(l, { program, id: this.nextId++, destroyed: false });
    return l as unknown as LinkHandle;
  }
  objectAttachCgroup(h: ObjectHandle, program: string, _path: string): LinkHandle { return this.objectAttach(h, program); }
  objectDestroy(h: ObjectHandle): void {
    const o = this.objects.get(h as unknown as object);
    if (!o) throw new TypeError('expected a BPF object handle');
    o.destroyed = true;
    for (const r of this.rings.values()) if (r.obj === o) this.closeRing(r);
  }
  linkDestroy(l: LinkHandle): void {
    const info = this.links.get(l as unknown as object);
    if (!info) throw new TypeError('expected a BPF link handle');
    info.destroyed = true;
    info.id = 0;
  }
  linkInfo(l: LinkHandle): LinkInfo {
    const info = this.links.get(l as unknown as object);
    if (!info) throw new TypeError('expected a BPF link handle');
    return { ...info };
  }

  private mapOf(o: FakeObject, name: string): Map<string, Buffer> {
    let m = o.maps.get(name);
    if (!m) o.maps.set(name, (m = new Map()));
    return m;
  }
  private mapInfo(o: FakeObject, name: string): MapInfo {
    const info = (o.spec.maps ?? DEFAULT_MAPS).find((m) => m.name === name);
    if (!info) throw this.native('ENOENT', 'bpf_object__find_map_by_name', o.name);
    return info;
  }
  mapLookup(h: ObjectHandle, map: string, key: Buffer): Buffer | null {
    const o = this.obj(h);
    const info = this.mapInfo(o, map);
    const v = this.mapOf(o, map).get(key.toString('hex'));
    if (v) return Buffer.from(v);
    if (info.type.includes('array')) {
      const slots = info.type.startsWith('percpu') ? this.numPossibleCpus() : 1;
      return Buffer.alloc(((info.valueSize + 7) & ~7) * slots);
    }
    return null;
  }
  mapUpdate(h: ObjectHandle, map: string, key: Buffer, value: Buffer): void {
    const o = this.obj(h);
    this.mapInfo(o, map);
    this.mapOf(o, map).set(key.toString('hex'), Buffer.from(value));
  }
  mapDelete(h: ObjectHandle, map: string, key: Buffer): boolean {
    const o = this.obj(h);
    return this.mapOf(o, map).delete(key.toString('hex'));
  }
  mapEntries(h: ObjectHandle, map: string, limit?: number): MapEntries {
    const o = this.obj(h);
    const entries = [...this.mapOf(o, map)].slice(0, limit ?? Infinity);
    return {
      count: entries.length,
      keys: Buffer.concat(entries.map(([k]) => Buffer.from(k, 'hex'))),
      values: Buffer.concat(entries.map(([, v]) => v)),
    };
  }

  ringOpen(h: ObjectHandle, map: string, bufferBytes: number): RingHandle {
    const o = this.obj(h);
    const info = this.mapInfo(o, map);
    if (info.type !== 'ringbuf') throw this.native('EINVAL', 'ring_open', o.name);
    const queue = [...(this.opts.batches?.[o.name] ?? [])];
    const r: FakeRing = {
      obj: o, buf: Buffer.alloc(Math.max(...queue.map((b) => b.length), bufferBytes)), queue, closed: false,
      stats: { drains: 0, records: 0, bytes: 0, oversize: 0, pending: 0, lastRecords: 0, size: info.maxEntries },
    };
    const handle = {};
    this.rings.set(handle, r);
    return handle as unknown as RingHandle;
  }
  private ring(r: RingHandle): FakeRing {
    const ring = this.rings.get(r as unknown as object);
    if (!ring) throw new TypeError('expected a ring reader handle');
    if (ring.closed) throw this.native('EBADF', 'sonde_ring', ring.obj.name);
    return ring;
  }
  ringBuffer(r: RingHandle): Buffer { return this.ring(r).buf; }
  ringDrain(r: RingHandle): number {
    const ring = this.ring(r);
    const next = ring.queue.shift();
    if (!next) return 0;
    next.copy(ring.buf);
    ring.stats.drains++;
    ring.stats.lastRecords = forEachRecord(ring.buf, next.length, () => {});
    ring.stats.records += ring.stats.lastRecords;
    ring.stats.bytes += next.length;
    return next.length;
  }
  /** Test helper: queue another batch for an object's ring readers opened later. */
  pushBatch(objectName: string, batch: Buffer): void {
    (this.opts.batches ??= {})[objectName] ??= [];
    this.opts.batches[objectName].push(batch);
    for (const ring of this.rings.values()) if (ring.obj.name === objectName && !ring.closed) ring.queue.push(batch);
  }
  ringStart(r: RingHandle, onBatch: (bytes: number, records: number) => void, intervalMs: number, opts: RingStartOptions = {}): void {
    const ring = this.ring(r);
    if (ring.timer) throw this.native('EALREADY', 'ring_start', ring.obj.name);
    ring.timer = setInterval(() => {
      for (let i = 0; i < (opts.maxBatches ?? 16); i++) {
        const bytes = this.ringDrain(r);
        if (!bytes) break;
        onBatch(bytes, forEachRecord(ring.buf, bytes, () => {}));
      }
    }, Math.max(1, intervalMs));
    if (!opts.keepAlive) ring.timer.unref();
  }
  ringStop(r: RingHandle): void {
    const ring = this.ring(r);
    clearInterval(ring.timer);
    ring.timer = undefined;
  }
  private closeRing(ring: FakeRing): void {
    clearInterval(ring.timer);
    ring.timer = undefined;
    ring.closed = true;
  }
  ringClose(r: RingHandle): void {
    const ring = this.rings.get(r as unknown as object);
    if (ring) this.closeRing(ring);
  }
  ringStats(r: RingHandle): RingStats { return { ...this.ring(r).stats }; }

  private readonly netlinks = new Map<object, { protocol: number; netns?: string; closed: boolean }>();
  netlinkOpen(protocol: number, netnsPath?: string): NetlinkHandle {
    if (!this.opts.netlink) throw this.native('EPROTONOSUPPORT', 'socket(AF_NETLINK)');
    const h = {};
    this.netlinks.set(h, { protocol, netns: netnsPath, closed: false });
    return h as unknown as NetlinkHandle;
  }
  netlinkRequest(h: NetlinkHandle, request: Buffer, _timeoutMs: number): Buffer {
    const s = this.netlinks.get(h as unknown as object);
    if (!s) throw new TypeError('expected a netlink socket handle');
    if (s.closed) throw this.native('EBADF', 'netlink');
    return this.opts.netlink!(s.protocol, s.netns, request);
  }
  netlinkClose(h: NetlinkHandle): void {
    const s = this.netlinks.get(h as unknown as object);
    if (!s) throw new TypeError('expected a netlink socket handle');
    s.closed = true;
  }

  layouts(): Layouts {
    return { structs: STRUCTS as unknown as Layouts['structs'], enums: { ...ENUMS } };
  }
}


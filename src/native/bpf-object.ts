// Small wrappers over the raw binding: validate arguments first (TypeError), then call
// native and map failures to typed errors (errors.ts). Lifecycle:
//   open -> setRodata / setAutoload / setMaxEntries / reuseMap -> load -> attach -> destroy
import type {
  LinkHandle, MapEntries, MapInfo, NativeBinding, ObjectHandle, OpenOptions, ProgramInfo, RodataVar,
} from './binding.js';
import { mapErrors, type ErrorContext } from './errors.js';
import { RingReader } from './ring-reader.js';

function need(cond: boolean, msg: string): void {
  if (!cond) throw new TypeError(msg);
}
const isName = (s: unknown): s is string => typeof s === 'string' && s.length > 0;

export class BpfLink {
  readonly program: string;
  private readonly native: NativeBinding;
  private readonly handle: LinkHandle;
  constructor(native: NativeBinding, handle: LinkHandle, program: string) {
    this.native = native;
    this.handle = handle;
    this.program = program;
  }
  /** Kernel link id (bpftool link show id N); 0 once destroyed. */
  get id(): number {
    return this.native.linkInfo(this.handle).id;
  }
  /** Detaches. Idempotent. */
  destroy(): void {
    this.native.linkDestroy(this.handle);
  }
}

export class BpfMap {
  readonly name: string;
  readonly info: MapInfo;
  private readonly native: NativeBinding;
  private readonly handle: ObjectHandle;
  private readonly ctx: ErrorContext;
  constructor(native: NativeBinding, handle: ObjectHandle, info: MapInfo, ctx: ErrorContext) {
    this.native = native;
    this.handle = handle;
    this.name = info.name;
    this.info = info;
    this.ctx = ctx;
  }
  get perCpu(): boolean {
    return this.info.type.startsWith('percpu') || this.info.type === 'lru_percpu_hash';
  }
  /** Bytes of a value as returned by lookup(): per-CPU maps hold one 8-aligned slot per possible CPU. */
  get valueBytes(): number {
    return this.perCpu ? ((this.info.valueSize + 7) & ~7) * this.native.numPossibleCpus() : this.info.valueSize;
  }
  private checkKey(key: Buffer): void {
    need(Buffer.isBuffer(key), 'key must be a Buffer');
    need(key.length === this.info.keySize, `key must be ${this.info.keySize} bytes for map ${this.name}`);
  }
  lookup(key: Buffer): Buffer | null {
    this.checkKey(key);
    return mapErrors(() => this.native.mapLookup(this.handle, this.name, key), this.ctx);
  }
  update(key: Buffer, value: Buffer, flags = 0): void {
    this.checkKey(key);
    need(Buffer.isBuffer(value), 'value must be a Buffer');
    need(value.length === this.valueBytes, `value must be ${this.valueBytes} bytes for map ${this.name}`);
    need(Number.isInteger(flags) && flags >= 0, 'flags must be a non-negative integer');
    mapErrors(() => this.native.mapUpdate(this.handle, this.name, key, value, flags), this.ctx);
  }
  delete(key: Buffer): boolean {
    this.checkKey(key);
    return mapErrors(() => this.native.mapDelete(this.handle, this.name, key), this.ctx);
  }
  /** All entries, packed: keys[i*keySize], values[i*valueBytes]. */
  entries(limit?: number): MapEntries {
    need(limit === undefined || (Number.isInteger(limit) && limit >= 0), 'limit must be a non-negative integer');
    return mapErrors(() => this.native.mapEntries(this.handle, this.name, limit), this.ctx);
  }
  /** For per-CPU arrays of u64 counters: the sum over CPUs of each index. */
  sumPerCpuU64(): bigint[] {
    need(this.perCpu && this.info.valueSize === 8, `map ${this.name} is not a per-CPU u64 map`);
    const out: bigint[] = [];
    const key = Buffer.alloc(4);
    for (let i = 0; i < this.info.maxEntries; i++) {
      key.writeUInt32LE(i);
      const v = this.lookup(key);
      let sum = 0n;
      if (v) for (let off = 0; off < v.length; off += 8) sum += v.readBigUInt64LE(off);
      out.push(sum);
    }
    return out;
  }
}

export interface RingReaderOptions {
  /** bytes of the reused batch Buffer (capped at the ring's size); default 1 MiB */
  bufferBytes?: number;
}

export class BpfObject {
  readonly name: string;
  private readonly native: NativeBinding;
  private readonly handle: ObjectHandle;
  private readonly ctx: ErrorContext;
  private loaded = false;
  private destroyed = false;
  private readonly links: BpfLink[] = [];
  private readonly readers: RingReader[] = [];
  private rodataVars?: RodataVar[];

  private constructor(native: NativeBinding, handle: ObjectHandle, ctx: ErrorContext) {
    this.native = native;
    this.handle = handle;
    this.ctx = ctx;
    this.name = native.objectName(handle);
  }

  /** Opens an object file (path) or its bytes (Buffer). Nothing touches the kernel yet. */
  static open(native: NativeBinding, source: string | Buffer, opts: OpenOptions = {}): BpfObject {
    need(typeof source === 'string' ? source.length > 0 : Buffer.isBuffer(source) && source.length > 0,
      'source must be a non-empty path string or Buffer');
    need(typeof opts === 'object' && opts !== null, 'opts must be an object');
    need(opts.name === undefined || isName(opts.name), 'opts.name must be a non-empty string');
    need(opts.btfCustomPath === undefined || isName(opts.btfCustomPath), 'opts.btfCustomPath must be a non-empty string');
    const ctx: ErrorContext = { btfCustomPath: opts.btfCustomPath };
    const clean: OpenOptions = {};
    if (opts.name !== undefined) clean.name = opts.name;
    if (opts.btfCustomPath !== undefined) clean.btfCustomPath = opts.btfCustomPath;
    const handle = mapErrors(() => native.objectOpen(source, clean), ctx);
    return new BpfObject(native, handle, ctx);
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  programs(): ProgramInfo[] {
    return mapErrors(() => this.native.objectPrograms(this.handle));
  }

  maps(): MapInfo[] {
    return mapErrors(() => this.native.objectMaps(this.handle));
  }

  /** Names of the object's `const volatile` variables (settable with setRodata before load). */
  /** The `const volatile` variables with their offsets and sizes (e.g. to describe the object to FakeNative). */
  rodataVariables(): RodataVar[] {
    this.rodataVars ??= mapErrors(() => this.native.objectRodataVars(this.handle));
    return this.rodataVars.map((v) => ({ ...v }));
  }

  rodataNames(): string[] {
    this.rodataVars ??= mapErrors(() => this.native.objectRodataVars(this.handle));
    return this.rodataVars.map((v) => v.name);
  }

  /** Sets a `const volatile` variable (before load). Numbers/bigints are little-endian integers of the variable's size. */
  setRodata(name: string, value: number | bigint | boolean | Buffer): void {
    need(isName(name), 'name must be a non-empty string');
    this.rodataVars ??= mapErrors(() => this.native.objectRodataVars(this.handle));
    const v = this.rodataVars.find((x) => x.name === name);
    if (!v) throw new TypeError(`${this.name} has no const volatile variable ${name} (has: ${this.rodataVars.map((x) => x.name).join(', ')})`);
    let bytes: Buffer;
    if (Buffer.isBuffer(value)) {
      need(value.length === v.size, `${name} is ${v.size} bytes, got ${value.length}`);
      bytes = value;
    } else {
      let n: bigint;
      if (typeof value === 'boolean') n = value ? 1n : 0n;
      else if (typeof value === 'number') {
        need(Number.isSafeInteger(value), `${name} must be an integer`);
        n = BigInt(value);
      } else if (typeof value === 'bigint') n = value;
      else throw new TypeError(`${name} must be a number, bigint, boolean or Buffer`);
      need(v.size <= 8, `${name} is ${v.size} bytes: pass a Buffer`);
      const bits = BigInt(v.size * 8);
      need(n >= -(1n << (bits - 1n)) && n < (1n << bits), `${name} does not fit in ${v.size} bytes`);
      bytes = Buffer.alloc(v.size);
      const u = BigInt.asUintN(v.size * 8, n);
      for (let i = 0; i < v.size; i++) bytes[i] = Number((u >> BigInt(8 * i)) & 0xffn);
    }
    mapErrors(() => this.native.objectSetRodata(this.handle, name, bytes));
  }

  setAutoload(program: string, autoload: boolean): void {
    need(isName(program), 'program must be a non-empty string');
    need(typeof autoload === 'boolean', 'autoload must be a boolean');
    mapErrors(() => this.native.objectSetAutoload(this.handle, program, autoload));
  }

  setMaxEntries(map: string, maxEntries: number): void {
    need(isName(map), 'map must be a non-empty string');
    need(Number.isInteger(maxEntries) && maxEntries > 0 && maxEntries <= 0xffffffff, 'maxEntries must be a positive 32-bit integer');
    mapErrors(() => this.native.objectSetMaxEntries(this.handle, map, maxEntries));
  }

  /** Before load: make `map` the same kernel map as `fromMap` of the loaded object `from` (bpf_map__reuse_fd). */
  reuseMap(map: string, from: BpfObject, fromMap: string = map): void {
    need(isName(map), 'map must be a non-empty string');
    need(from instanceof BpfObject, 'from must be a BpfObject');
    need(isName(fromMap), 'fromMap must be a non-empty string');
    mapErrors(() => this.native.objectReuseMap(this.handle, map, from.handle, fromMap));
  }

  /** Loads into the kernel; a rejected program throws VerifierError with the verifier log. */
  load(): void {
    mapErrors(() => this.native.objectLoad(this.handle), this.ctx);
    this.loaded = true;
  }

  attach(program: string): BpfLink {
    need(isName(program), 'program must be a non-empty string');
    const h = mapErrors(() => this.native.objectAttach(this.handle, program), this.ctx);
    const link = new BpfLink(this.native, h, program);
    this.links.push(link);
    return link;
  }

  /** Attaches every loaded program whose section libbpf can auto-attach (not cgroup ones). */
  attachAll(): BpfLink[] {
    return this.programs()
      .filter((p) => p.autoload && !p.type.startsWith('cgroup') && p.type !== 'sock_ops')
      .map((p) => this.attach(p.name));
  }

  attachCgroup(program: string, cgroupPath: string): BpfLink {
    need(isName(program), 'program must be a non-empty string');
    need(isName(cgroupPath), 'cgroupPath must be a non-empty string');
    const h = mapErrors(() => this.native.objectAttachCgroup(this.handle, program, cgroupPath), this.ctx);
    const link = new BpfLink(this.native, h, program);
    this.links.push(link);
    return link;
  }

  map(name: string): BpfMap {
    need(isName(name), 'map name must be a non-empty string');
    const info = this.maps().find((m) => m.name === name);
    if (!info) throw new TypeError(`${this.name} has no map ${name}`);
    return new BpfMap(this.native, this.handle, info, this.ctx);
  }

  ringReader(map = 'events', opts: RingReaderOptions = {}): RingReader {
    need(isName(map), 'map must be a non-empty string');
    const bytes = opts.bufferBytes ?? 1 << 20;
    need(Number.isInteger(bytes) && bytes >= 4096 && bytes <= 0xffffffff, 'bufferBytes must be an integer >= 4096');
    const h = mapErrors(() => this.native.ringOpen(this.handle, map, bytes), this.ctx);
    const r = new RingReader(this.native, h, map);
    this.readers.push(r);
    return r;
  }

  /** Lost-event counters (enum sonde_lost_reason order), summed over CPUs. */
  lostCounters(map = 'lost'): bigint[] {
    return this.map(map).sumPerCpuU64();
  }

  /** Closes readers, detaches every link and frees the object. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const r of this.readers) r.close();
    this.native.objectDestroy(this.handle);
  }
}

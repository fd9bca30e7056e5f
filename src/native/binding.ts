// The raw surface of the native addon (native/src/*.c), typed in one place.
// Mechanism only: every function maps onto libbpf or a syscall; policy lives in TS wrappers.
// Handles are opaque (type-tagged N-API externals); wrong handles throw TypeError.

declare const handleBrand: unique symbol;
export interface ObjectHandle { readonly [handleBrand]: 'object' }
export interface LinkHandle { readonly [handleBrand]: 'link' }
export interface RingHandle { readonly [handleBrand]: 'ring' }
export interface NetlinkHandle { readonly [handleBrand]: 'netlink' }

/** libbpf_print_level: 0 warn, 1 info, 2 debug. */
export type LibbpfLogLevel = 0 | 1 | 2;
export type NativeLogFn = (level: LibbpfLogLevel, message: string) => void;

export interface OpenOptions {
  /** bpf_object_open_opts.object_name */
  name?: string;
  /** bpf_object_open_opts.btf_custom_path: kernel BTF to use instead of /sys/kernel/btf/vmlinux */
  btfCustomPath?: string;
}

export interface ProgramInfo {
  name: string;
  section: string;
  /** libbpf_bpf_prog_type_str(), e.g. 'tracing', 'cgroup_skb' */
  type: string;
  autoload: boolean;
  /** -1 before load or when not loaded */
  fd: number;
  /** kernel program id (bpftool prog show id N), 0 before load */
  id: number;
}

export interface MapInfo {
  name: string;
  /** libbpf_bpf_map_type_str(), e.g. 'ringbuf', 'percpu_array' */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  fd: number;
  id: number;
}

export interface RodataVar { name: string; offset: number; size: number }
export interface LinkInfo { program: string; id: number; destroyed: boolean }
export interface MapEntries { count: number; keys: Buffer; values: Buffer }
export interface MemlockLimit { soft: number; hard: number }

export interface RingStats {
  drains: number;
  records: number;
  bytes: number;
  /** records dropped because they were larger than the reader's Buffer */
  oversize: number;
  /** bytes committed or reserved in the ring and not yet consumed */
  pending: number;
  lastRecords: number;
  /** ring data size (max_entries) */
  size: number;
}

export interface RingStartOptions {
  /** watch the ring map fd with uv_poll (kernel forced wakeups); default true */
  watchFd?: boolean;
  /** drains per wakeup or tick before yielding to the loop; default 16 */
  maxBatches?: number;
  /** keep the event loop alive while started; default false */
  keepAlive?: boolean;
}

export interface FieldLayout { offset: number; size: number }
export interface StructLayout { size: number; fields: Record<string, FieldLayout> }
export interface Layouts { structs: Record<string, StructLayout>; enums: Record<string, number> }

/** The properties native errors carry (set on an instance of the class given to init()). */
export interface NativeErrorFields {
  code: string;
  errno: number;
  op: string;
  object?: string;
  program?: string;
  verifierLog?: string;
}

export interface NativeBinding {
  init(errorClass: new (message: string) => Error, logger: NativeLogFn): void;
  setLogLevel(level: LibbpfLogLevel): void;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  probeProgType(name: string): boolean;
  probeMapType(name: string): boolean;
  getMemlockLimit(): MemlockLimit;
  setMemlockLimit(bytes: number): void;
  /** sched_getscheduler(tid): 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE (real-time policies as the kernel numbers them) */
  getSchedPolicy(tid: number): number;
  /** sched_setscheduler(tid, policy, priority 0) for SCHED_OTHER, SCHED_BATCH or SCHED_IDLE; the nice value is kept */
  setSchedPolicy(tid: number, policy: number): void;

  objectOpen(source: string | Buffer, opts?: OpenOptions): ObjectHandle;
  objectName(h: ObjectHandle): string;
  objectPrograms(h: ObjectHandle): ProgramInfo[];
  objectMaps(h: ObjectHandle): MapInfo[];
  objectRodataVars(h: ObjectHandle): RodataVar[];
  objectSetRodata(h: ObjectHandle, name: string, value: Buffer): void;
  objectSetAutoload(h: ObjectHandle, program: string, autoload: boolean): void;
  objectSetMaxEntries(h: ObjectHandle, map: string, maxEntries: number): void;
  objectReuseMap(h: ObjectHandle, map: string, from: ObjectHandle, fromMap: string): void;
  objectLoad(h: ObjectHandle): void;
  objectAttach(h: ObjectHandle, program: string): LinkHandle;
  objectAttachCgroup(h: ObjectHandle, program: string, cgroupPath: string): LinkHandle;
  objectDestroy(h: ObjectHandle): void;
  linkDestroy(l: LinkHandle): void;
  linkInfo(l: LinkHandle): LinkInfo;

  mapLookup(h: ObjectHandle, map: string, key: Buffer): Buffer | null;
  mapUpdate(h: ObjectHandle, map: string, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(h: ObjectHandle, map: string, key: Buffer): boolean;
  mapEntries(h: ObjectHandle, map: string, limit?: number): MapEntries;

  ringOpen(h: ObjectHandle, map: string, bufferBytes: number): RingHandle;
  ringBuffer(r: RingHandle): Buffer;
  ringDrain(r: RingHandle, maxBytes?: number): number;
  ringStart(r: RingHandle, onBatch: (bytes: number, records: number) => void, intervalMs: number, opts?: RingStartOptions): void;
  ringStop(r: RingHandle): void;
  ringClose(r: RingHandle): void;
  ringStats(r: RingHandle): RingStats;

  /** socket(AF_NETLINK, SOCK_RAW, protocol), created inside the network namespace at `netnsPath` when given. */
  netlinkOpen(protocol: number, netnsPath?: string): NetlinkHandle;
  /**
   * Sends `request` (one or more nlmsghdr, in one sendto) and returns the reply datagrams whose sequence
   * number lies between the first and the last message's, concatenated; the reply ends with the last
   * message's NLMSG_DONE/NLMSG_ERROR for dumps, its first reply otherwise. A batch of gets with
   * consecutive sequence numbers is thus one round trip (keep a batch's replies within the socket's
   * receive buffer). Throws ETIMEDOUT after `timeoutMs`.
   */
  netlinkRequest(h: NetlinkHandle, request: Buffer, timeoutMs: number): Buffer;
  /** Idempotent. */
  netlinkClose(h: NetlinkHandle): void;

  layouts(): Layouts;
}

// RingReader: drains a BPF ring buffer into one reused Buffer and hands JS a whole batch
// per call (never one call per event). Drains are driven natively by a libuv timer (the
// probes submit with BPF_RB_NO_WAKEUP) and by uv_poll on the ring's fd (the kernel's forced
// wakeup once a backlog passes targ_wakeup_bytes).
import type { NativeBinding, RingHandle, RingStats } from './binding.js';
import { mapErrors } from './errors.js';
import { forEachRecord } from './ring-records.js';

/**
 * Receives a batch: `buf` holds `bytes` bytes of ring records (iterate with forEachRecord).
 * The Buffer is reused by the next drain: consume it synchronously, copy what must outlive the call.
 */
export type BatchFn = (buf: Buffer, records: number, bytes: number) => void;

export interface RingReaderStartOptions {
  /** timer drain period; default 10 ms */
  intervalMs?: number;
  /** also drain on the kernel's wakeups (uv_poll on the ring fd); default true */
  watchFd?: boolean;
  /** drains per wakeup/tick before yielding to the event loop; default 16 */
  maxBatches?: number;
  /** keep the event loop alive while started; default false */
  keepAlive?: boolean;
}

export class RingReader {
  readonly map: string;
  private readonly native: NativeBinding;
  private readonly handle: RingHandle;
  private readonly buf: Buffer;
  private started = false;
  private closed = false;

  /** Use BpfObject.ringReader(). */
  constructor(native: NativeBinding, handle: RingHandle, map: string) {
    this.native = native;
    this.handle = handle;
    this.map = map;
    this.buf = native.ringBuffer(handle);
  }

  /** Capacity of the reused batch Buffer. */
  get bufferBytes(): number {
    return this.buf.length;
  }

  get running(): boolean {
    return this.started;
  }

  start(onBatch: BatchFn, opts: RingReaderStartOptions = {}): void {
    if (typeof onBatch !== 'function') throw new TypeError('onBatch must be a function');
    const intervalMs = opts.intervalMs ?? 10;
    if (!Number.isInteger(intervalMs) || intervalMs < 0) throw new TypeError('intervalMs must be a non-negative integer');
    if (opts.maxBatches !== undefined && (!Number.isInteger(opts.maxBatches) || opts.maxBatches < 1)) {
      throw new TypeError('maxBatches must be a positive integer');
    }
    if (this.closed) throw new Error(`ring reader for ${this.map} is closed`);
    if (this.started) throw new Error(`ring reader for ${this.map} is already started`);
    const buf = this.buf;
    mapErrors(() => this.native.ringStart(this.handle, (bytes, records) => onBatch(buf, records, bytes), intervalMs, {
      watchFd: opts.watchFd ?? true,
      maxBatches: opts.maxBatches ?? 16,
      keepAlive: opts.keepAlive ?? false,
    }));
    this.started = true;
  }

  /** Stops delivery; unread records stay in the ring. Idempotent. */
  stop(): void {
    if (!this.started || this.closed) return;
    this.native.ringStop(this.handle);
    this.started = false;
  }

  /** One synchronous drain; calls onBatch if anything was read; returns the record count. */
  drain(onBatch: BatchFn, maxBytes?: number): number {
    if (typeof onBatch !== 'function') throw new TypeError('onBatch must be a function');
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes <= 0)) throw new TypeError('maxBytes must be a positive integer');
    const bytes = mapErrors(() => this.native.ringDrain(this.handle, maxBytes));
    if (bytes === 0) return 0;
    const n = forEachRecord(this.buf, bytes, noop);
    onBatch(this.buf, n, bytes);
    return n;
  }

  stats(): RingStats {
    return mapErrors(() => this.native.ringStats(this.handle));
  }

  /** Stops and unmaps. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.started = false;
    this.native.ringClose(this.handle);
  }
}

function noop(): void {}

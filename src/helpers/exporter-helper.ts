/**
 * The exporter helper shared by the network exporters (the Collector's exporterhelper): a bounded sending
 * queue (items and bytes), optional persistence on disk, N consumers, opportunistic batching, a timeout per
 * attempt and retries with exponential backoff + jitter that honour a server's retry-after and the
 * shutdown deadline. The error class of a failed attempt decides: PermanentError → drop and count;
 * anything else (RetryableError, ThrottleError, unknown errors) → retry. Every drop is counted with its
 * reason in `sonde_exporter_dropped_items_total`.
 *
 * What is queued is the exporter's ENCODED payload, one request per consume call (or per shard/table):
 * the cost of encoding is paid once on the caller's path, the queue's byte bound is exact, and a
 * persistent queue stores the bytes as they are. Requests with the same `key` are merged by
 * concatenating their payloads, which is valid for every format used here (protobuf messages whose
 * top-level fields are repeated merge by concatenation; JSONEachRow/RowBinary rows concatenate).
 *
 * Ordering: with `ordered: true` there is one lane per consumer and a request's `partition` picks the
 * lane, so requests of one partition (e.g. one remote-write series shard) are sent one at a time, in
 * order, and a retry holds back the rest of its lane. Otherwise all consumers share one lane.
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import type { Signal } from '../component/component.js';
import type { Settings } from '../component/factory.js';
import { PermanentError, QueueFullError, ThrottleError } from '../consumer/errors.js';
import type { Counter, SelfTelemetry } from '../service/telemetry.js';
import type { QueueConfig, RetryConfig } from './exporter-config.js';
import type { DropReason } from './exporter-telemetry.js';
import { ExporterTelemetry } from './exporter-telemetry.js';
import type { StoredRecord } from './persistent-queue.js';
import { DiskStore, RECORD_OVERHEAD } from './persistent-queue.js';

/** One encoded request as the exporter produced it. */
export interface Request {
  /** Items it carries (spans, data points, log records): the unit of every counter and of `queue_size`. */
  readonly items: number;
  /** Wire-ready payload; concatenable with other payloads of the same key. */
  readonly data: Buffer;
  /** Merge key (e.g. the ClickHouse table); '' when everything merges. At most 65535 bytes. */
  readonly key: string;
  /** Ordered lane (shard) when the helper is `ordered`; ignored otherwise. */
  readonly partition: number;
}

/** What a successful push may report back. */
export interface PushResult {
  /** Items the backend rejected although the request succeeded (OTLP partial success). */
  readonly rejected?: number;
  readonly message?: string;
}

/**
 * Sends one (possibly merged) request. Throw PermanentError for data the backend will never accept,
 * ThrottleError when it asked to wait, anything else for transient failures. Must honour `signal`
 * (the attempt timeout or the shutdown deadline).
 */
export type PushFn = (req: Request, signal: AbortSignal) => Promise<PushResult | void>;

export interface ExporterHelperOptions {
  readonly signal: Signal;
  readonly timeoutMs: number;
  readonly queue: QueueConfig;
  readonly retry: RetryConfig;
  readonly push: PushFn;
  /** One lane per consumer, selected by Request.partition: per-partition order (remote-write shards). */
  readonly ordered?: boolean;
  /** Joins payloads of the same key (default Buffer.concat). */
  readonly merge?: (parts: Buffer[], key: string) => Buffer;
  /** Subdirectory of `queue.storage` for this exporter+signal (default: derived from the component id). */
  readonly storageName?: string;
}

/** The drain deadline when shutdown() gets no AbortSignal (the Service always passes one). */
export const DEFAULT_SHUTDOWN_DRAIN_MS = 10_000;

interface Entry {
  readonly items: number;
  /** In-memory bytes (0 for a persistent entry: its data stays on disk). */
  readonly bytes: number;
  readonly key: string;
  readonly partition: number;
  readonly enqueuedAt: number;
  readonly data?: Buffer;
  readonly rec?: StoredRecord;
}

/** A growable ring buffer: O(1) push/shift without Array#shift's copying. */
class Deque<T> {
  #buf: Array<T | undefined> = new Array<T | undefined>(16);
  #head = 0;
  #len = 0;
  get length(): number {
    return this.#len;
  }
  push(v: T): void {
    if (this.#len === this.#buf.length) {
      const nb = new Array<T | undefined>(this.#buf.length * 2);
      for (let i = 0; i < this.#len; i++) nb[i] = this.#buf[(this.#head + i) % this.#buf.length];
      this.#buf = nb;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#len) % this.#buf.length] = v;
    this.#len++;
  }
  peek(): T | undefined {
    return this.#len ? this.#buf[this.#head] : undefined;
  }
  shift(): T | undefined {
    if (!this.#len) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#len--;
    return v;
  }
  *drain(): Generator<T> {
    while (this.#len) yield this.shift()!;
  }
}

/** Exponential backoff with jitter (cenkalti/backoff as used by the Collector). */
export class Backoff {
  readonly #cfg: RetryConfig;
  readonly #random: () => number;
  #interval: number;
  constructor(cfg: RetryConfig, random: () => number = Math.random) {
    this.#cfg = cfg;
    this.#random = random;
    this.#interval = cfg.initial_interval;
  }
  /** The next wait: the current interval randomized by ±randomization_factor; then the interval grows. */
  next(): number {
    const f = this.#cfg.randomization_factor;
    const wait = this.#interval * (1 - f + 2 * f * this.#random());
    this.#interval = Math.min(this.#interval * this.#cfg.multiplier, this.#cfg.max_interval);
    return Math.round(wait);
  }
}

type Outcome = 'sent' | 'dropped' | 'kept';

/** Sleeps `ms`, or less when `signal` aborts. Never rejects. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

// Queue gauges: one collector per registry over every live helper (gaugeFn keeps one collector per name).
const LIVE = new WeakMap<SelfTelemetry, Set<ExporterHelper>>();
function registerGauges(t: SelfTelemetry, h: ExporterHelper): void {
  let set = LIVE.get(t);
  if (!set) {
    const s = new Set<ExporterHelper>();
    set = s;
    LIVE.set(t, s);
    const rows = (f: (h: ExporterHelper) => number) => () => [...s].map((x) => [[x.id, x.signal], f(x)] as const);
    t.gaugeFn('sonde_exporter_queue_size', 'Items in an exporter\'s sending queue (waiting or in flight).', ['exporter', 'otel_signal'], rows((x) => x.queuedItems));
    t.gaugeFn('sonde_exporter_queue_capacity', 'Capacity of an exporter\'s sending queue, in items.', ['exporter', 'otel_signal'], rows((x) => x.capacity));
    t.gaugeFn('sonde_exporter_queue_bytes', 'Encoded bytes held in memory by an exporter\'s sending queue.', ['exporter', 'otel_signal'], rows((x) => x.queuedBytes));
    t.gaugeFn('sonde_exporter_queue_storage_bytes', 'Bytes of an exporter\'s persistent queue on disk.', ['exporter', 'otel_signal'], rows((x) => x.storageBytes));
  }
  set.add(h);
}

export class ExporterHelper {
  readonly id: string;
  readonly signal: Signal;
  readonly tel: ExporterTelemetry;
  readonly #set: Settings;
  readonly #opts: ExporterHelperOptions;
  readonly #q: QueueConfig;
  readonly #lanes: Array<Deque<Entry>>;
  readonly #laneItems: number[];
  readonly #laneWaiters: Array<Array<() => void>>;
  #spaceWaiters: Array<() => void> = [];
  readonly #hard = new AbortController();
  readonly #retries: Counter;
  readonly #corrupt: Counter;
  #store?: DiskStore;
  #items = 0;
  #bytes = 0;
  #consumers: Array<Promise<void>> = [];
  #started = false;
  #closed = false;
  #stopping = false;
  #shutdown?: Promise<void>;
  #failing = 0;

  constructor(set: Settings, opts: ExporterHelperOptions) {
    this.#set = set;
    this.#opts = opts;
    this.#q = opts.queue;
    this.id = set.id.toString();
    this.signal = opts.signal;
    this.tel = new ExporterTelemetry(set, opts.signal);
    setMaxListeners(0, this.#hard.signal); // one listener per in-flight attempt and per backoff sleep
    const lanes = opts.ordered ? opts.queue.num_consumers : 1;
    this.#lanes = Array.from({ length: lanes }, () => new Deque<Entry>());
    this.#laneItems = new Array<number>(lanes).fill(0);
    this.#laneWaiters = Array.from({ length: lanes }, () => []);
    this.#retries = set.telemetry.counter('sonde_exporter_retries_total', 'Send attempts that failed and were scheduled for retry.', ['exporter', 'otel_signal']).labels(this.id, this.signal);
    this.#corrupt = set.telemetry.counter('sonde_exporter_queue_corrupt_records_total', 'Damaged persistent-queue records skipped on replay.', ['exporter', 'otel_signal']).labels(this.id, this.signal);
    if (this.#q.enabled) registerGauges(set.telemetry, this);
  }

  get lanes(): number {
    return this.#lanes.length;
  }
  get queuedItems(): number {
    return this.#items;
  }
  get queuedBytes(): number {
    return this.#bytes;
  }
  get capacity(): number {
    return this.#q.queue_size;
  }
  get storageBytes(): number {
    return this.#store?.bytes ?? 0;
  }
  get persistent(): boolean {
    return this.#q.enabled && this.#q.storage !== '';
  }

  /** Opens the persistent queue (replaying what an earlier run left) and starts the consumers. */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (!this.#q.enabled) return;
    this.#openStore();
    for (let i = 0; i < this.#q.num_consumers; i++) this.#consumers.push(this.#consume(this.#opts.ordered ? i : 0));
  }

  #openStore(): void {
    if (!this.persistent || this.#store) return;
    const name = this.#opts.storageName ?? `${this.id.replace(/[^A-Za-z0-9_.-]/g, '_')}-${this.signal}`;
    const store = new DiskStore({ dir: join(this.#q.storage, name), maxBytes: this.#q.storage_size });
    const { replay, corrupt } = store.open();
    this.#store = store;
    if (corrupt > 0) {
      this.#corrupt.inc(corrupt);
      this.#set.logger.warn('persistent queue: damaged records skipped (counted in sonde_exporter_queue_corrupt_records_total)', { records: corrupt, dir: join(this.#q.storage, name) });
    }
    let items = 0;
    const now = Date.now();
    for (const rec of replay) {
      this.#add({ items: rec.items, bytes: 0, key: rec.key, partition: rec.partition, enqueuedAt: now, rec });
      items += rec.items;
    }
    if (replay.length > 0) this.#set.logger.info('persistent queue: resending data left by an earlier run', { items, requests: replay.length });
  }

  #lane(partition: number): number {
    return this.#lanes.length === 1 ? 0 : partition % this.#lanes.length;
  }

  #add(e: Entry): void {
    const l = this.#lane(e.partition);
    this.#lanes[l].push(e);
    this.#laneItems[l] += e.items;
    this.#items += e.items;
    this.#bytes += e.bytes;
    const w = this.#laneWaiters[l];
    if (w.length) w.shift()!();
  }

  #wakeAll(): void {
    for (const w of this.#laneWaiters) for (const f of w.splice(0)) f();
    for (const f of this.#spaceWaiters.splice(0)) f();
  }

  #fits(items: number, bytes: number, keyBytes: number, n: number): 'ok' | 'queue_full' | 'storage_full' {
    if (this.#items > 0 && this.#items + items > this.#q.queue_size) return 'queue_full';
    if (this.persistent) {
      if (this.#store && !this.#store.fits(bytes + keyBytes + RECORD_OVERHEAD * (n - 1), 0)) return 'storage_full';
    } else if (this.#bytes > 0 && this.#bytes + bytes > this.#q.queue_bytes) {
      return 'queue_full';
    }
    return 'ok';
  }

  /**
   * Accepts the requests of one consume call: all of them or none. Resolves once they are queued
   * (persistent: written to disk), or, without a queue, once they are sent. Rejects with QueueFullError
   * when there is no room (already counted), or with the final error when a queue-less send failed.
   */
  async enqueue(reqs: readonly Request[]): Promise<void> {
    let items = 0;
    let bytes = 0;
    let keyBytes = 0;
    for (const r of reqs) {
      items += r.items;
      bytes += r.data.length;
      keyBytes += r.key.length;
    }
    if (items === 0 && bytes === 0) return;
    if (this.#closed) {
      this.tel.dropped('shutdown', items);
      throw new Error(`exporter ${this.id} is shut down: ${items} item(s) dropped`);
    }
    if (!this.#q.enabled) return this.#sendNow(reqs);
    if (this.persistent) this.#openStore();
    for (;;) {
      const fit = this.#fits(items, bytes, keyBytes, reqs.length);
      if (fit === 'ok') break;
      if (this.#q.block_on_overflow && !this.#closed) {
        await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
        if (this.#closed) {
          this.tel.dropped('shutdown', items);
          throw new Error(`exporter ${this.id} is shut down: ${items} item(s) dropped`);
        }
        continue;
      }
      this.tel.dropped(fit, items);
      this.#set.logger.warnOnce(`drop-${fit}`, `sending queue full: data dropped (counted in sonde_exporter_dropped_items_total{reason="${fit}"})`, {
        queue_size: this.#q.queue_size, ...(this.persistent ? { storage_size: this.#q.storage_size } : { queue_bytes: this.#q.queue_bytes }),
      });
      throw new QueueFullError(`sending queue of ${this.id} is full: ${items} item(s) dropped (${fit})`);
    }
    const now = Date.now();
    for (const r of reqs) {
      if (this.#store) {
        const rec = this.#store.append(r.data, r.items, r.partition, r.key);
        if (!rec) { // cannot happen after the fits() check above, but never lose count
          this.tel.dropped('storage_full', r.items);
          continue;
        }
        this.#add({ items: r.items, bytes: 0, key: r.key, partition: r.partition, enqueuedAt: now, rec });
      } else {
        this.#add({ items: r.items, bytes: r.data.length, key: r.key, partition: r.partition, enqueuedAt: now, data: r.data });
      }
    }
  }

  async #sendNow(reqs: readonly Request[]): Promise<void> {
    let firstError: unknown;
    for (const r of reqs) {
      const { outcome, error } = await this.#sendWithRetry(r);
      if (outcome !== 'sent') firstError ??= error ?? new Error('send failed');
    }
    if (firstError !== undefined) throw firstError;
  }

  /** Waits for the next batch of lane `l`; undefined when the consumer should stop. */
  async #take(l: number): Promise<Entry[] | undefined> {
    const lane = this.#lanes[l];
    for (;;) {
      if (this.#hard.signal.aborted) return undefined;
      if (lane.length === 0) {
        if (this.#stopping) return undefined;
        await new Promise<void>((resolve) => this.#laneWaiters[l].push(resolve));
        continue;
      }
      const b = this.#q.batch;
      if (b.min_size > 0 && !this.#stopping && this.#laneItems[l] < b.min_size) {
        const waitMs = lane.peek()!.enqueuedAt + b.flush_timeout - Date.now();
        if (waitMs > 0) {
          // Woken by a new entry, the flush timeout or shutdown: then check again.
          await new Promise<void>((resolve) => {
            const w = this.#laneWaiters[l];
            const t = setTimeout(done, waitMs);
            function done(): void {
              clearTimeout(t);
              const i = w.indexOf(done);
              if (i >= 0) w.splice(i, 1);
              resolve();
            }
            w.push(done);
          });
          continue;
        }
      }
      const head = lane.shift()!;
      const out = [head];
      let items = head.items;
      let bytes = head.rec ? head.rec.length : head.bytes;
      for (let next = lane.peek(); next && next.key === head.key; next = lane.peek()) {
        const nb = next.rec ? next.rec.length : next.bytes;
        if (items + next.items > b.max_size || bytes + nb > b.max_bytes) break;
        out.push(lane.shift()!);
        items += next.items;
        bytes += nb;
      }
      this.#laneItems[l] -= items;
      return out;
    }
  }

  async #consume(l: number): Promise<void> {
    for (;;) {
      const batch = await this.#take(l);
      if (!batch) return;
      let outcome: Outcome = 'dropped';
      try {
        const parts: Buffer[] = [];
        let items = 0;
        for (const e of batch) {
          items += e.items;
          if (e.data) parts.push(e.data);
          else {
            try {
              parts.push(this.#store!.read(e.rec!));
            } catch (err) {
              this.tel.dropped('storage_error', e.items);
              items -= e.items;
              this.#set.logger.warnOnce('storage-read', 'persistent queue: a record could not be read back; dropped', { error: (err as Error).message });
            }
          }
        }
        if (parts.length === 0) continue;
        const data = parts.length === 1 ? parts[0] : (this.#opts.merge ? this.#opts.merge(parts, batch[0].key) : Buffer.concat(parts));
        ({ outcome } = await this.#sendWithRetry({ items, data, key: batch[0].key, partition: batch[0].partition }));
      } catch (err) {
        // A bug in a push/merge function must not kill the consumer: count and go on.
        this.tel.dropped('permanent_error', batch.reduce((n, e) => n + e.items, 0));
        this.#set.logger.error('exporter consumer failed unexpectedly', { error: (err as Error).message });
      } finally {
        for (const e of batch) {
          this.#items -= e.items;
          this.#bytes -= e.bytes;
          if (e.rec && outcome !== 'kept') this.#store?.ack(e.rec);
        }
        for (const f of this.#spaceWaiters.splice(0)) f();
      }
    }
  }

  async #sendWithRetry(req: Request): Promise<{ outcome: Outcome; error?: unknown }> {
    const retry = this.#opts.retry;
    const backoff = new Backoff(retry);
    const started = Date.now();
    const hard = this.#hard.signal;
    const stopped = (): { outcome: Outcome; error: Error } => {
      const error = new Error(`exporter ${this.id} shut down before the data could be sent`);
      if (this.persistent) return { outcome: 'kept', error }; // stays on disk for the next run
      this.tel.dropped('shutdown', req.items);
      this.tel.failed.inc(req.items);
      return { outcome: 'dropped', error };
    };
    for (;;) {
      if (hard.aborted) return stopped();
      const ac = new AbortController();
      const onHard = () => ac.abort(hard.reason);
      hard.addEventListener('abort', onHard, { once: true });
      const timer = setTimeout(() => ac.abort(new Error(`timed out after ${this.#opts.timeoutMs}ms`)), this.#opts.timeoutMs);
      try {
        const res = await Promise.race([this.#opts.push(req, ac.signal), aborted(ac.signal)]);
        const rejected = Math.min(req.items, Math.max(0, res?.rejected ?? 0));
        this.tel.sent.inc(req.items - rejected);
        if (rejected > 0 || res?.message) {
          this.tel.dropped('rejected', rejected);
          this.#set.logger.warnOnce('partial-success', 'the backend rejected part of a request (partial success; counted in sonde_exporter_dropped_items_total{reason="rejected"})', { rejected, message: res?.message });
        }
        if (this.#failing > 0) this.#set.logger.info('export recovered', { failed_attempts: this.#failing });
        this.#failing = 0;
        return { outcome: 'sent' };
      } catch (err) {
        if (hard.aborted) return stopped();
        const error = err;
        if (err instanceof PermanentError) return this.#drop('permanent_error', req.items, err);
        let delay = backoff.next();
        if (err instanceof ThrottleError) delay = Math.max(delay, err.retryAfterMs);
        if (!retry.enabled) return this.#drop('retries_exhausted', req.items, error);
        if (retry.max_elapsed_time > 0 && Date.now() - started + delay > retry.max_elapsed_time) return this.#drop('retries_exhausted', req.items, error);
        if (this.#stopping && this.persistent) return { outcome: 'kept', error }; // do not wait at shutdown: the data is safe on disk
        this.#retries.inc();
        if (this.#failing++ === 0) {
          this.#set.logger.warn('export failed; retrying', { error: (error as Error)?.message ?? String(error), retry_in_ms: delay });
        }
        await sleep(delay, hard);
      } finally {
        clearTimeout(timer);
        hard.removeEventListener('abort', onHard);
      }
    }
  }

  #drop(reason: DropReason, items: number, error: unknown): { outcome: Outcome; error: unknown } {
    this.tel.dropped(reason, items);
    this.tel.failed.inc(items);
    this.#set.logger.warnOnce(`drop-${reason}`, `export failed; data dropped (counted in sonde_exporter_dropped_items_total{reason="${reason}"})`, {
      error: (error as Error)?.message ?? String(error),
    });
    return { outcome: 'dropped', error };
  }

  /**
   * Stops intake and drains: consumers keep sending (and retrying) until the queue is empty or `signal`
   * (default: DEFAULT_SHUTDOWN_DRAIN_MS) aborts; then in-flight attempts are abandoned. An in-memory
   * queue drops and counts what is left (reason `shutdown`); a persistent queue keeps it on disk and
   * does not wait out retry backoffs. Idempotent, safe without start().
   */
  shutdown(signal?: AbortSignal): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#closed = true;
      this.#stopping = true;
      const deadline = signal ?? AbortSignal.timeout(DEFAULT_SHUTDOWN_DRAIN_MS);
      const onDeadline = () => this.#hard.abort(new Error('shutdown deadline passed'));
      if (deadline.aborted) onDeadline();
      else deadline.addEventListener('abort', onDeadline, { once: true });
      this.#wakeAll();
      try {
        await Promise.race([Promise.all(this.#consumers), new Promise<void>((resolve) => this.#hard.signal.addEventListener('abort', () => resolve(), { once: true }))]);
      } finally {
        deadline.removeEventListener('abort', onDeadline);
        this.#hard.abort(new Error('exporter shut down'));
        this.#wakeAll();
        await Promise.all(this.#consumers);
        // Whatever is still queued was never sent.
        for (const lane of this.#lanes) {
          for (const e of lane.drain()) {
            this.#items -= e.items;
            this.#bytes -= e.bytes;
            if (!e.rec) {
              this.tel.dropped('shutdown', e.items);
              this.tel.failed.inc(e.items);
            }
          }
        }
        this.#store?.close();
        LIVE.get(this.#set.telemetry)?.delete(this);
      }
    })();
    return this.#shutdown;
  }
}

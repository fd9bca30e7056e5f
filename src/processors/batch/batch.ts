import type { Component, Host, Signal } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { AnyConsumer, Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { consumeFn } from '../../helpers/processor-helper.js';
import { countItems } from '../../pdata/count.js';
import { splitMetrics } from '../../pdata/split.js';
import type { Counter } from '../../service/telemetry.js';
import type { BatchConfig } from './config.js';

type Data = Traces | Metrics | Logs;

function split(signal: Signal, d: Data, n: number): [Data, Data] {
  if (signal === 'metrics') return splitMetrics(d as Metrics, n);
  return [d.slice(0, n) as Data, d.slice(n) as Data];
}

/**
 * The batch processor: buffers items until `send_batch_size` is reached or `timeout` passes, splits at
 * `send_batch_max_size`, and keeps at most `max_in_flight` sends downstream at once (intake then waits,
 * so memory stays bounded). Shutdown flushes what is buffered and waits for in-flight sends.
 */
export class BatchProcessor implements Component {
  readonly capabilities = READ_ONLY;
  readonly #signal: Signal;
  readonly #cfg: BatchConfig;
  readonly #send: (d: Data) => Promise<void>;
  readonly #set: Settings;
  #pending: Data[] = [];
  #pendingItems = 0;
  #timer?: NodeJS.Timeout;
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;
  #shutdown?: Promise<void>;
  readonly #batchesBySize: Counter;
  readonly #batchesByTimeout: Counter;
  readonly #failed: Counter;

  constructor(set: Settings, cfg: BatchConfig, signal: Signal, next: AnyConsumer) {
    this.#set = set;
    this.#cfg = cfg;
    this.#signal = signal;
    this.#send = consumeFn(signal, next);
    const id = set.id.toString();
    const trig = set.telemetry.counter('sonde_processor_batch_batches_sent_total', 'Batches sent, by what triggered them.', ['processor', 'otel_signal', 'trigger']);
    this.#batchesBySize = trig.labels(id, signal, 'size');
    this.#batchesByTimeout = trig.labels(id, signal, 'timeout');
    this.#failed = set.telemetry.counter('sonde_processor_batch_send_failed_items_total', 'Items the next component refused after batching.', ['processor', 'otel_signal']).labels(id, signal);
  }

  async start(_host: Host): Promise<void> {
    // nothing to start: the timer is armed by the first item
  }

  consumeTraces = (td: Traces): Promise<void> => this.#consume(td);
  consumeMetrics = (md: Metrics): Promise<void> => this.#consume(md);
  consumeLogs = (ld: Logs): Promise<void> => this.#consume(ld);

  async #consume(d: Data): Promise<void> {
    const n = countItems(this.#signal, d);
    if (n === 0) return;
    if (this.#stopped) {
      // After shutdown began, pass straight through rather than buffer into a processor that is going away.
      await this.#send(d);
      return;
    }
    this.#pending.push(d);
    this.#pendingItems += n;
    if (this.#cfg.send_batch_size > 0 && this.#pendingItems >= this.#cfg.send_batch_size) {
      this.#flush('size');
    } else if (!this.#timer && this.#cfg.timeout > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush('timeout');
      }, this.#cfg.timeout);
    }
    // Back-pressure: wait while too many batches are on their way downstream.
    while (this.#inFlight.size >= this.#cfg.max_in_flight) await Promise.race(this.#inFlight);
  }

  #flush(trigger: 'size' | 'timeout' | 'shutdown'): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pendingItems === 0) return;
    let batch: Data = this.#signal === 'metrics'
      ? (this.#pending as Metrics[]).flat()
      : (this.#pending as Array<Traces | Logs>).flat() as Data;
    this.#pending = [];
    this.#pendingItems = 0;
    const max = this.#cfg.send_batch_max_size;
    const parts: Data[] = [];
    if (max > 0) {
      while (countItems(this.#signal, batch) > max) {
        const [head, tail] = split(this.#signal, batch, max);
        parts.push(head);
        batch = tail;
      }
    }
    parts.push(batch);
    for (const part of parts) {
      (trigger === 'timeout' ? this.#batchesByTimeout : this.#batchesBySize).inc();
      const p: Promise<void> = this.#send(part).catch((e: unknown) => {
        this.#failed.inc(countItems(this.#signal, part));
        this.#set.logger.warnOnce('send-failed', 'the next component refused a batch (counted in sonde_processor_batch_send_failed_items_total)', { error: (e as Error).message });
      }).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  shutdown(signal?: AbortSignal): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#stopped = true;
      this.#flush('shutdown');
      const all = Promise.all([...this.#inFlight]);
      if (!signal) return void (await all);
      await Promise.race([all, new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      })]);
    })();
    return this.#shutdown;
  }
}

import type { Signal } from '../component/component.js';
import type { Settings } from '../component/factory.js';
import { ITEM_NOUN } from '../pdata/count.js';
import type { Counter, CounterFamily } from '../service/telemetry.js';

/** Drop reasons used across exporters (label `reason` of sonde_exporter_dropped_items_total). */
export type DropReason = 'series_limit' | 'queue_full' | 'permanent_error' | 'retries_exhausted' | 'shutdown' | 'expired' | 'storage_full'
  /** The backend accepted the request but rejected these items (OTLP partial success). */
  | 'rejected'
  /** A persistent-queue record could not be read back. */
  | 'storage_error'
  /** Items that cannot be encoded for the backend (e.g. an invalid metric name for remote-write). */
  | 'unsupported';

/**
 * The self-telemetry every exporter reports, named after the Collector's otelcol_exporter_* metrics:
 * items sent, items that failed to send, items dropped (by reason), plus queue size/capacity gauges
 * registered by exporters that queue.
 */
export class ExporterTelemetry {
  readonly sent: Counter;
  readonly failed: Counter;
  readonly #dropped: CounterFamily;
  readonly #id: string;
  readonly #signal: Signal;

  constructor(set: Settings, signal: Signal) {
    const noun = ITEM_NOUN[signal];
    const id = set.id.toString();
    this.#id = id;
    this.#signal = signal;
    this.sent = set.telemetry.counter(`sonde_exporter_sent_${noun}_total`, `${noun} successfully sent.`, ['exporter']).labels(id);
    this.failed = set.telemetry.counter(`sonde_exporter_send_failed_${noun}_total`, `${noun} whose send attempt failed (retried or dropped).`, ['exporter']).labels(id);
    this.#dropped = set.telemetry.counter('sonde_exporter_dropped_items_total', 'Items an exporter dropped, by signal and reason.', ['exporter', 'otel_signal', 'reason']);
  }

  dropped(reason: DropReason, n: number): void {
    if (n > 0) this.#dropped.labels(this.#id, this.#signal, reason).inc(n);
  }
}

import type { Logger } from '../service/logger.js';

/** The three telemetry signals a pipeline can carry. */
export type Signal = 'traces' | 'metrics' | 'logs';
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

export type Kind = 'receiver' | 'processor' | 'exporter' | 'extension';

/** Collector stability levels. */
export type Stability = 'development' | 'alpha' | 'beta' | 'stable' | 'deprecated';

export type Status = 'starting' | 'ok' | 'recoverable_error' | 'permanent_error' | 'fatal_error' | 'stopping' | 'stopped';

export interface StatusEvent {
  readonly status: Status;
  readonly error?: Error;
}

/** What a running component can ask of the service that hosts it. */
export interface Host {
  readonly logger: Logger;
  /**
   * Report a status change. A `fatal_error` makes the service shut down (the Collector's ReportFatalError);
   * `recoverable_error` / `permanent_error` flip /readyz until the component reports `ok` again.
   */
  reportStatus(event: StatusEvent): void;
}

/**
 * Every receiver, processor, exporter and extension.
 *
 * Invariants (the Collector's component.Component contract):
 * - `start` returns quickly; background work gets its own timers/AbortController, owned by the component.
 * - `shutdown` is idempotent and safe to call without `start` (and after a failed start). It stops intake,
 *   flushes buffered data to the next consumer (exporters: to the backend) and releases every fd, timer,
 *   socket and BPF link. The optional `signal` aborts when the service's drain deadline has passed:
 *   from then on, stop waiting and drop (counting what is dropped).
 */
export interface Component {
  start(host: Host): Promise<void>;
  shutdown(signal?: AbortSignal): Promise<void>;
}

import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';

/**
 * Pipeline data uses the official OpenTelemetry JS SDK shapes, so the official exporters plug in unchanged:
 * traces are `ReadableSpan`s (each carries its Resource; spans of one resource share one Resource object),
 * metrics are `ResourceMetrics` (one per resource), logs are `ReadableLogRecord`s.
 */
export type Traces = ReadableSpan[];
export type Metrics = ResourceMetrics[];
export type Logs = ReadableLogRecord[];

export interface Capabilities {
  /** True when the consumer modifies the data it is given; fan-outs then hand it a clone. */
  readonly mutatesData: boolean;
}

/**
 * Ownership of the data passes to the callee (the Collector's rule): a caller must not touch it after the
 * call. A consumer whose capabilities say `mutatesData: false` must never modify it (it may be shared).
 * The promise resolves when the consumer has accepted the data (not necessarily exported it) and rejects
 * when it refuses it; see consumer/errors.ts for how refusals are classified.
 */
export interface TracesConsumer {
  readonly capabilities: Capabilities;
  consumeTraces(td: Traces): Promise<void>;
}
export interface MetricsConsumer {
  readonly capabilities: Capabilities;
  consumeMetrics(md: Metrics): Promise<void>;
}
export interface LogsConsumer {
  readonly capabilities: Capabilities;
  consumeLogs(ld: Logs): Promise<void>;
}

export type AnyConsumer = TracesConsumer | MetricsConsumer | LogsConsumer;

export const READ_ONLY: Capabilities = Object.freeze({ mutatesData: false });
export const MUTATES: Capabilities = Object.freeze({ mutatesData: true });

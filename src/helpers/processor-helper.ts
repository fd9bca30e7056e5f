import type { Component, Host, Signal } from '../component/component.js';
import type { AnyConsumer, Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../consumer/consumer.js';
import { MUTATES, READ_ONLY } from '../consumer/consumer.js';

/** Return this from a processing function to drop the whole batch on purpose (not an error). */
export const SKIP: unique symbol = Symbol('skip');

type DataOf<S extends Signal> = S extends 'traces' ? Traces : S extends 'metrics' ? Metrics : Logs;
type ConsumerOf<S extends Signal> = S extends 'traces' ? TracesConsumer : S extends 'metrics' ? MetricsConsumer : LogsConsumer;

export interface ProcessorHelperOptions {
  /** True when `process` modifies its input in place (fan-outs then hand it a clone). */
  readonly mutatesData: boolean;
  start?(host: Host): Promise<void>;
  shutdown?(signal?: AbortSignal): Promise<void>;
}

/**
 * Turns a function over a batch into a processor (the Collector's processorhelper): the function returns the
 * batch to pass on (possibly the same object), or SKIP. Lifecycle hooks are optional; shutdown is idempotent.
 */
export function newProcessor<S extends Signal>(
  signal: S,
  next: ConsumerOf<S>,
  process: (d: DataOf<S>) => DataOf<S> | typeof SKIP | Promise<DataOf<S> | typeof SKIP>,
  opts: ProcessorHelperOptions,
): Component & ConsumerOf<S> {
  let stopped: Promise<void> | undefined;
  const consume = async (d: DataOf<S>): Promise<void> => {
    const out = await process(d);
    if (out === SKIP || out.length === 0) return;
    if (signal === 'traces') return (next as TracesConsumer).consumeTraces(out as Traces);
    if (signal === 'metrics') return (next as MetricsConsumer).consumeMetrics(out as Metrics);
    return (next as LogsConsumer).consumeLogs(out as Logs);
  };
  const base = {
    capabilities: opts.mutatesData ? MUTATES : READ_ONLY,
    start: (host: Host) => (opts.start ? opts.start(host) : Promise.resolve()),
    shutdown: (sig?: AbortSignal) => {
      stopped ??= opts.shutdown ? opts.shutdown(sig) : Promise.resolve();
      return stopped;
    },
  };
  const key = signal === 'traces' ? 'consumeTraces' : signal === 'metrics' ? 'consumeMetrics' : 'consumeLogs';
  return { ...base, [key]: consume } as unknown as Component & ConsumerOf<S>;
}

export function consumeFn(signal: Signal, c: AnyConsumer): (d: Traces | Metrics | Logs) => Promise<void> {
  if (signal === 'traces') return (d) => (c as TracesConsumer).consumeTraces(d as Traces);
  if (signal === 'metrics') return (d) => (c as MetricsConsumer).consumeMetrics(d as Metrics);
  return (d) => (c as LogsConsumer).consumeLogs(d as Logs);
}

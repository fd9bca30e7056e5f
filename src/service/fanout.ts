import type { Signal } from '../component/component.js';
import type { AnyConsumer, Capabilities, Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../consumer/consumer.js';
import { MUTATES, READ_ONLY } from '../consumer/consumer.js';
import { cloneLogs } from '../pdata/logs.js';
import { cloneMetrics } from '../pdata/metrics.js';
import { cloneTraces } from '../pdata/traces.js';

type Data = Traces | Metrics | Logs;

function consumeOf(signal: Signal, c: AnyConsumer): (d: Data) => Promise<void> {
  if (signal === 'traces') return (d) => (c as TracesConsumer).consumeTraces(d as Traces);
  if (signal === 'metrics') return (d) => (c as MetricsConsumer).consumeMetrics(d as Metrics);
  return (d) => (c as LogsConsumer).consumeLogs(d as Logs);
}

const CLONE: Record<Signal, (d: Data) => Data> = {
  traces: (d) => cloneTraces(d as Traces),
  metrics: (d) => cloneMetrics(d as Metrics),
  logs: (d) => cloneLogs(d as Logs),
};

/**
 * Sends data to several consumers (the Collector's fanoutconsumer). Read-only consumers share the original;
 * each mutating consumer gets its own clone, except that when no read-only consumer exists the last
 * mutating one takes the original. All consumers are called; failures are combined into one AggregateError.
 */
export function fanout(signal: Signal, consumers: readonly AnyConsumer[]): AnyConsumer {
  if (consumers.length === 1) return consumers[0];
  const readonly = consumers.filter((c) => !c.capabilities.mutatesData).map((c) => consumeOf(signal, c));
  const mutating = consumers.filter((c) => c.capabilities.mutatesData).map((c) => consumeOf(signal, c));
  const capabilities: Capabilities = mutating.length > 0 ? MUTATES : READ_ONLY;
  const clone = CLONE[signal];
  const send = async (d: Data): Promise<void> => {
    const calls: Promise<void>[] = [];
    mutating.forEach((fn, i) => {
      const own = readonly.length === 0 && i === mutating.length - 1 ? d : clone(d);
      calls.push(fn(own));
    });
    for (const fn of readonly) calls.push(fn(d));
    const results = await Promise.allSettled(calls);
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} of ${consumers.length} consumers failed`);
  };
  if (signal === 'traces') return { capabilities, consumeTraces: send } satisfies TracesConsumer;
  if (signal === 'metrics') return { capabilities, consumeMetrics: send } satisfies MetricsConsumer;
  return { capabilities, consumeLogs: send } satisfies LogsConsumer;
}

/** Wraps a consumer to observe each call's item count and outcome (self-telemetry). */
export function observe(signal: Signal, c: AnyConsumer, count: (d: Data) => number, onResult: (items: number, err?: unknown) => void): AnyConsumer {
  const inner = consumeOf(signal, c);
  const send = async (d: Data): Promise<void> => {
    const n = count(d);
    try {
      await inner(d);
    } catch (e) {
      onResult(n, e);
      throw e;
    }
    onResult(n);
  };
  if (signal === 'traces') return { capabilities: c.capabilities, consumeTraces: send } satisfies TracesConsumer;
  if (signal === 'metrics') return { capabilities: c.capabilities, consumeMetrics: send } satisfies MetricsConsumer;
  return { capabilities: c.capabilities, consumeLogs: send } satisfies LogsConsumer;
}

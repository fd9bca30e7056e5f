import type { Component } from '../../src/component/component.js';
import type { Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../../src/consumer/consumer.js';
import { READ_ONLY } from '../../src/consumer/consumer.js';
import { countPoints } from '../../src/pdata/metrics.js';

/** Collects everything it is given (the Collector's consumertest.Sink). */
export class Sink implements TracesConsumer, MetricsConsumer, LogsConsumer, Component {
  readonly capabilities = READ_ONLY;
  readonly traces: Traces[] = [];
  readonly metrics: Metrics[] = [];
  readonly logs: Logs[] = [];
  /** When set, every consume call rejects with this error. */
  failWith?: Error;
  #waiters: Array<() => void> = [];

  async consumeTraces(td: Traces): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.traces.push(td);
    this.#wake();
  }
  async consumeMetrics(md: Metrics): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.metrics.push(md);
    this.#wake();
  }
  async consumeLogs(ld: Logs): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.logs.push(ld);
    this.#wake();
  }
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}

  get spanCount(): number {
    return this.traces.reduce((n, t) => n + t.length, 0);
  }
  get pointCount(): number {
    return this.metrics.reduce((n, m) => n + countPoints(m), 0);
  }
  get logCount(): number {
    return this.logs.reduce((n, l) => n + l.length, 0);
  }
  allSpans(): Traces {
    return this.traces.flat();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `cond` holds, re-checked after each consume; rejects after `timeoutMs`. */
  async waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

import type { Component, Host } from '../../src/component/component.js';
import type { ReceiverFactory } from '../../src/component/factory.js';
import type { Infer } from '../../src/config/schema.js';
import { s } from '../../src/config/schema.js';
import type { LogsConsumer, MetricsConsumer, TracesConsumer } from '../../src/consumer/consumer.js';
import { makeLogs, makeMetrics, makeSpans } from './data.js';

const schema = s.object({
  spans: s.int({ min: 0 }).describe('Spans emitted once at start.'),
  metric_batches: s.int({ min: 0 }).describe('Metric batches (4 points each) emitted once at start.'),
  logs: s.int({ min: 0 }).describe('Log records emitted once at start.'),
  shutdown_delay: s.duration().describe('Makes shutdown take this long (to test drain deadlines and second signals).'),
});
type Cfg = Infer<typeof schema>;

/** Instances by id, so in-process tests can push more data on demand. */
export const testReceivers = new Map<string, TestReceiver>();

export class TestReceiver implements Component {
  traces?: TracesConsumer;
  metrics?: MetricsConsumer;
  logs?: LogsConsumer;
  readonly cfg: Cfg;
  started = 0;
  stopped = 0;
  constructor(cfg: Cfg) {
    this.cfg = cfg;
  }
  async start(_host: Host): Promise<void> {
    this.started++;
    if (this.started > 1) return;
    if (this.traces && this.cfg.spans) await this.traces.consumeTraces(makeSpans(this.cfg.spans));
    if (this.metrics) for (let i = 0; i < this.cfg.metric_batches; i++) await this.metrics.consumeMetrics(makeMetrics());
    if (this.logs && this.cfg.logs) await this.logs.consumeLogs(makeLogs(this.cfg.logs));
  }
  async shutdown(): Promise<void> {
    this.stopped++;
    if (this.stopped === 1 && this.cfg.shutdown_delay > 0) await new Promise((r) => setTimeout(r, this.cfg.shutdown_delay));
  }
}

function instance(id: string, cfg: Cfg): TestReceiver {
  let r = testReceivers.get(id);
  if (!r || r.cfg !== cfg) {
    r = new TestReceiver(cfg);
    testReceivers.set(id, r);
  }
  return r;
}

/** A receiver for tests: emits a configured amount of synthetic data when started. */
export const testReceiverFactory: ReceiverFactory<Cfg> = {
  kind: 'receiver',
  type: 'testgen',
  description: 'Test-only synthetic data generator.',
  stability: { traces: 'development', metrics: 'development', logs: 'development' },
  configSchema: schema,
  createDefaultConfig: () => ({ spans: 0, metric_batches: 0, logs: 0, shutdown_delay: 0 }),
  createTraces(set, cfg, next) {
    const r = instance(set.id.toString(), cfg);
    r.traces = next;
    return r;
  },
  createMetrics(set, cfg, next) {
    const r = instance(set.id.toString(), cfg);
    r.metrics = next;
    return r;
  },
  createLogs(set, cfg, next) {
    const r = instance(set.id.toString(), cfg);
    r.logs = next;
    return r;
  },
};

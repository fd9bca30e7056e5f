import type { Component } from '../component/component.js';
import type { Settings } from '../component/factory.js';
import { SharedComponents } from '../component/shared.js';
import type { Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../consumer/consumer.js';
import { READ_ONLY } from '../consumer/consumer.js';

interface AllSignals extends Component {
  consumeTraces(td: Traces): Promise<void>;
  consumeMetrics(md: Metrics): Promise<void>;
  consumeLogs(ld: Logs): Promise<void>;
}

/**
 * create* methods for an exporter whose single instance per id serves every signal (debug summary,
 * one file): each signal gets a read-only consumer whose lifecycle is ref-counted onto the instance.
 */
export function sharedExporterMethods<C extends object, T extends AllSignals>(create: (set: Settings, cfg: C) => T) {
  const shared = new SharedComponents<C, T>();
  const get = (set: Settings, cfg: C) => shared.getOrCreate(cfg, () => create(set, cfg));
  return {
    createTraces(set: Settings, cfg: C): Component & TracesConsumer {
      const s = get(set, cfg);
      return { ...s.handle(), capabilities: READ_ONLY, consumeTraces: (td) => s.instance.consumeTraces(td) };
    },
    createMetrics(set: Settings, cfg: C): Component & MetricsConsumer {
      const s = get(set, cfg);
      return { ...s.handle(), capabilities: READ_ONLY, consumeMetrics: (md) => s.instance.consumeMetrics(md) };
    },
    createLogs(set: Settings, cfg: C): Component & LogsConsumer {
      const s = get(set, cfg);
      return { ...s.handle(), capabilities: READ_ONLY, consumeLogs: (ld) => s.instance.consumeLogs(ld) };
    },
  };
}
